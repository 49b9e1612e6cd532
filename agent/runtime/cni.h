// The node's CNI configuration (DESIGN.md §7): one conflist that containerd's
// CRI plugin uses for every pod sandbox:
//   bridge    cni0, the node's gateway (isGateway), hairpin mode (a pod
//             reaches itself through a Service), with host-local IPAM over
//             the node's podCIDR(s) and a default route; no ipMasq: pods on
//             other nodes must see a pod's own address, and agent/podnet
//             masquerades only traffic that leaves the cluster CIDR;
//   portmap   hostPort mappings (capability portMappings);
//   loopback  the pod's lo.
//
// Thread safety: free functions; one writer per conf dir at a time.
#pragma once

#include <string>
#include <vector>

#include "common/env.h"
#include "common/status.h"

namespace kite::runtime {

struct CniOptions {
  std::string network_name = "kite";
  std::string bridge = "cni0";
  std::string file_name = "10-kite.conflist";
  int mtu = 0;                // 0: the bridge plugin's default
  std::string ipam_data_dir;  // host-local's leases; "" = /var/lib/cni/networks
};

// The conflist for `pod_cidrs` (the Node's spec.podCIDRs: one IPv4 and/or
// one IPv6 network, e.g. "10.42.0.0/24"). InvalidArgument for a CIDR that is
// not a network address with a prefix length, or none at all.
StatusOr<std::string> RenderCniConfig(const std::vector<std::string>& pod_cidrs,
                                      const CniOptions& options = {});

// Writes RenderCniConfig() to <conf_dir>/<file_name> atomically, only when
// the text differs from what is there. Returns whether it wrote. Bad input
// writes nothing.
StatusOr<bool> WriteCniConfig(Env& env, const std::string& conf_dir,
                              const std::vector<std::string>& pod_cidrs,
                              const CniOptions& options = {});

}  // namespace kite::runtime

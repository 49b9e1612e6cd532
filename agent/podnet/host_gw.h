// HostGw: the kernel side of kite's multi-node pod network (DESIGN.md §7,
// docs/network.md). Every node's pods live in its podCIDR on the cni0
// bridge; to reach another node's pods, this node routes that node's
// podCIDR through that node's address ("host-gw": the nodes share a link,
// no encapsulation):
//   10.42.1.0/24 via 10.77.0.3 proto 107
// The routes kite installs carry the route protocol number kRouteProto, so
// a restarted agent finds (and fixes or removes) its own routes and never
// touches anyone else's. Besides the routes, HostGw
//   - turns on IP forwarding (net.ipv4.ip_forward, and
//     net.bridge.bridge-nf-call-iptables where the bridge netfilter module
//     is loaded, so Service rules see bridged pod traffic);
//   - masquerades what pods send out of the cluster (source in the cluster
//     CIDR, destination neither in it nor multicast), so pod-to-pod traffic
//     across nodes keeps its source address (the CNI bridge's own ipMasq is
//     off for that reason, agent/runtime/cni.cpp). nftables (table
//     `ip kite-podnet`), or iptables (chain KITE-PODNET-MASQ) where nft is
//     missing.
// Every command goes through runtime::Host::Run with an optional prefix
// (tests: nsenter --net=...), so unit tests use a FakeHost.
//
// Thread safety: not thread-safe; one owner thread (PodNetwork's worker).
#pragma once

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/runtime/host.h"
#include "common/status.h"

namespace kite::podnet {

// The route protocol number that marks kite's routes ("proto 107").
inline constexpr int kRouteProto = 107;

// One route to another node's pods.
struct PodRoute {
  std::string cidr;  // the other node's podCIDR, "10.42.1.0/24"
  std::string via;   // its InternalIP of the same family, "10.77.0.3"
  bool operator==(const PodRoute&) const = default;
  bool operator<(const PodRoute& o) const {
    return cidr != o.cidr ? cidr < o.cidr : via < o.via;
  }
};

// The routes this node (`self`) needs, from Node objects: for every other
// node, each of spec.podCIDRs (spec.podCIDR when absent) through its first
// InternalIP (ExternalIP when it has none) of the CIDR's family. Nodes
// without either are left out. Sorted by CIDR.
std::vector<PodRoute> RoutesFromNodes(const std::vector<nlohmann::json>& nodes,
                                      const std::string& self);

// The pod networks in `cluster_cidrs` and every node's spec.podCIDRs,
// with the ones contained in another left out (nftables refuses
// overlapping intervals in one set); sorted. Unparsable entries are
// dropped.
std::vector<std::string> PodNetworks(
    const std::vector<std::string>& cluster_cidrs,
    const std::vector<nlohmann::json>& nodes);

struct HostGwOptions {
  // Put before every command (e.g. {"/usr/bin/nsenter", "--net=..."}).
  std::vector<std::string> command_prefix;
  // Where `ip`, `nft` and `iptables` are looked for (first match wins).
  std::vector<std::string> search_path = {"/usr/sbin", "/sbin", "/usr/bin",
                                          "/bin"};
  // /proc/sys of the agent's network namespace (tests: a temp dir).
  std::string proc_sys = "/proc/sys";
  // Where the nft / iptables-restore input is written.
  std::string state_dir;
  std::chrono::milliseconds command_timeout{10000};
};

class HostGw {
 public:
  HostGw(runtime::Host& host, HostGwOptions options);

  // Writes 1 to net.ipv4.ip_forward (and net.ipv6.conf.all.forwarding when
  // `ipv6`), and to net/bridge/bridge-nf-call-iptables (ip6tables) when the
  // file exists. The first failure is returned; the others still run.
  Status EnableForwarding(bool ipv6);

  // Installs the masquerade rules for `cluster_cidrs` (one per family),
  // replacing the previous ones atomically.
  Status EnsureMasquerade(const std::vector<std::string>& cluster_cidrs);

  // Makes the kernel's kite routes (proto kRouteProto, both families)
  // exactly `want`: missing or changed ones replaced, others deleted.
  // Routes of other protocols are never touched. Every route is tried; the
  // first error is returned.
  Status Sync(const std::vector<PodRoute>& want);

  // The kite routes the kernel has now, by CIDR.
  StatusOr<std::map<std::string, std::string>> CurrentRoutes();

  // Commands that changed something (route replace/del, nft, iptables)
  // since construction; for tests and logs.
  int changes() const { return changes_; }

 private:
  // Runs `program` (looked up in search_path) with args; error on non-zero
  // exit (its output in the message). NotFound when the program is missing.
  StatusOr<std::string> Run(const std::string& program,
                            const std::vector<std::string>& args);
  std::string Find(const std::string& program);
  Status MasqueradeNft(const std::vector<std::string>& v4,
                       const std::vector<std::string>& v6);
  Status MasqueradeIptables(const std::string& iptables,
                            const std::vector<std::string>& cidrs,
                            const std::string& multicast);

  runtime::Host& host_;
  HostGwOptions options_;
  std::map<std::string, std::string> found_;  // program -> path ("" = none)
  int changes_ = 0;
};

}  // namespace kite::podnet

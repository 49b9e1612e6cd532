// The nftables proxy backend (issue 7 item 1, docs/proxy.md "nftables"):
// makes one node serve a ProxySnapshot with one nftables table,
// `table ip kite-proxy`, owned entirely by kite and changed only through
// `nft -f -` transactions (atomic: a failed Sync changes nothing).
//
// The table (docs/proxy.md has the whole layout):
//   maps  service-ips        address . protocol . port -> goto svc-/ext-
//         service-nodeports  protocol . port -> goto ext-
//   set   node-ips           the addresses NodePorts are served on
//   base chains  nat-prerouting, nat-output (dstnat): jump services
//                nat-postrouting (srcnat): masquerade what is marked 0x4000
//                filter-input/-forward/-output: reject what is marked 0x8000
//   per service port (name: kind-<hash of the key>-<ns/name/port/proto>):
//     svc-*  ClusterIP traffic: mark for masquerade when the source is
//            outside cluster_cidr, then pick an endpoint (local ones only
//            with internalTrafficPolicy Local)
//     ext-*  NodePort, externalIPs, LoadBalancer ingress IPs: Cluster
//            policy marks for masquerade and picks any endpoint; Local
//            picks a local one (pods and the node itself go to svc-*)
//     ep-*/i one endpoint (numbered in address order): hairpin
//            masquerade, affinity update, dnat
//     aff-*  (a set per endpoint with sessionAffinity ClientIP) client
//            addresses with the affinity timeout
//   No endpoint to pick: the packet is marked 0x8000 and rejected (TCP
//   reset, ICMP port unreachable) by the filter chains.
//
// Incremental sync: RenderNftState turns a snapshot into named chains,
// sets and map elements (a pure function); NftDiffScript changes only the
// chains, sets and elements that differ between two states, so an
// unchanged service keeps its chains, rule handles and counters.
//
// IPv6: when the cluster or service CIDR lists an IPv6 range (and the
// kernel takes an ip6 nat table), `table ip6 kite-proxy` has the same
// layout for the IPv6 addresses of the snapshot, changed in the same
// transactions; otherwise IPv6 addresses are left out.
//
// UDP: when an endpoint leaves a UDP service port, the conntrack entries
// of flows NATed to it are deleted (conntrack.h; IPv4), so clients move
// on.
//
// Thread safety: the free functions are pure. A backend is driven by one
// thread at a time (Backend's contract); the runner is called from it.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/proxy/conntrack.h"
#include "agent/proxy/proxy_model.h"
#include "common/status.h"

namespace kite::proxy {

// The table every kite nftables backend owns.
inline constexpr char kNftTable[] = "ip kite-proxy";
// Its IPv6 twin, same layout, for IPv6 ClusterIPs, endpoints and nodes.
inline constexpr char kNftTable6[] = "ip6 kite-proxy";
// Packet marks: masquerade in postrouting, reject in the filter chains.
inline constexpr unsigned kNftMasqueradeMark = 0x4000;
inline constexpr unsigned kNftRejectMark = 0x8000;

// What the rules depend on besides the snapshot.
struct NftConfig {
  // The ip6 table and the IPv6 addresses of the snapshot, instead of the
  // ip table and the IPv4 ones.
  bool ipv6 = false;
  // Pods' addresses of the family ("" or another family: ClusterIP
  // traffic is never masqueraded for its source).
  std::string cluster_cidr = "10.42.0.0/16";
  // NodePorts are served on these (those of the family); none: on every
  // local address but 127.0.0.0/8 (::1).
  std::vector<std::string> node_ips;
};

// The content of the table that depends on the snapshot, by name.
struct NftState {
  // Regular chains: name -> rules, in order.
  std::map<std::string, std::vector<std::string>> chains;
  // Sets: name -> declaration ("type ipv4_addr; flags ...").
  std::map<std::string, std::string> sets;
  // Map name ("service-ips", "service-nodeports") -> key -> verdict.
  std::map<std::string, std::map<std::string, std::string>> elements;
  bool operator==(const NftState&) const = default;
};

// The state that serves `snapshot`. Invalid addresses and ports are
// skipped; when two service ports claim one address and port, the first
// by key wins.
NftState RenderNftState(const ProxySnapshot& snapshot, const NftConfig& config);

// An nft script (for `nft -f -`) that deletes any previous kite-proxy
// table and creates the table with `state`.
std::string NftFullScript(const NftState& state, const NftConfig& config);

// An nft script that turns a table holding `prev` into one holding
// `next`, touching only what differs. Empty when they are equal.
std::string NftDiffScript(const NftState& prev, const NftState& next,
                          bool ipv6 = false);

// The script that removes the table; succeeds when it is absent too.
std::string NftCleanupScript(bool ipv6 = false);

// Runs a program with some input on its stdin.
struct NftRunResult {
  int exit_code = 0;
  std::string output;  // stdout and stderr
};
class NftRunner {
 public:
  virtual ~NftRunner() = default;
  // Runs argv (argv[0] found on PATH or in /usr/sbin, /sbin) with `input`
  // as its stdin. A missing program is NotFound; a child that has not
  // finished after 30 s is killed and DeadlineExceeded.
  virtual StatusOr<NftRunResult> Run(const std::vector<std::string>& argv,
                                     const std::string& input) = 0;
};
// Forks and execs. Thread-safe.
std::unique_ptr<NftRunner> NewRealNftRunner();

// The backend; runs `options.command_prefix + {"nft", "-f", "-"}`.
// Probe first: FailedPrecondition with the reason when nft is missing or
// the kernel refuses a table with a nat chain; InvalidArgument for a bad
// cluster_cidr or service_cidr (each a CIDR or a comma-separated list).
// `runner` null: the real one. After each Sync the conntrack entries of UDP
// flows to endpoints that left a UDP service port are deleted through
// `conntrack`; null: NewConntrackFor(command_prefix), in the namespace
// the rules are in.
StatusOr<std::unique_ptr<Backend>> NewNftablesBackend(
    const BackendOptions& options, std::unique_ptr<NftRunner> runner,
    std::unique_ptr<Conntrack> conntrack = nullptr);
StatusOr<std::unique_ptr<Backend>> NewNftablesBackend(
    const BackendOptions& options);

}  // namespace kite::proxy

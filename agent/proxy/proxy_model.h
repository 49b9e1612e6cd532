// The service proxy's model (issue 7 item 1, DESIGN.md §7, docs/proxy.md):
// what one node must serve, computed from the Service and EndpointSlice
// caches, and the Backend interface that makes the node serve it.
//
// ServiceProxy (service_proxy.h) watches Services and EndpointSlices,
// builds a ProxySnapshot with BuildSnapshot after each change (debounced)
// and hands it to one Backend:
//   nftables  (nft_backend.*)        the default: one table, `nft -f -`
//   iptables  (iptables_backend.*)   where nftables is missing:
//                                    iptables-restore --noflush
//   userspace (userspace_backend.*)  no netfilter at all: ClusterIPs on the
//                                    loopback device, libuv listeners that
//                                    copy bytes (TCP) and datagrams (UDP)
// Every backend serves the same behaviour (the shared backend conformance
// test holds them to it):
//   - a ClusterIP (every address of spec.clusterIPs) on each port;
//   - a NodePort on every node address (not on 127.0.0.1, as kube-proxy's
//     nftables mode);
//   - externalIPs and status.loadBalancer.ingress IPs on the Service port
//     (servicelb puts the node addresses there);
//   - only the endpoints listed in `endpoints` (ready ones, see below);
//     no endpoint: connections are refused (TCP reset / ICMP unreachable),
//     not left hanging;
//   - sessionAffinity ClientIP: one client address sticks to one endpoint
//     for affinity_timeout_seconds since its last packet/connection;
//   - internalTrafficPolicy Local: ClusterIP traffic only to local
//     endpoints (none local: refused);
//   - externalTrafficPolicy Local: NodePort/LB/externalIP traffic only to
//     local endpoints (none local: refused), the client address preserved;
//     Cluster: any endpoint, source masqueraded when the endpoint is on
//     another node.
// Sync() is incremental: it changes only the services whose ServicePort
// differs from the previous Sync (added, changed, removed), so one
// endpoint change does not rewrite every rule.
//
// Thread safety: BuildSnapshot is a pure function. A Backend is driven by
// one thread (ServiceProxy's); its methods are not called concurrently.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace kite::proxy {

using Json = nlohmann::json;

enum class Protocol { kTcp, kUdp, kSctp };
// "tcp", "udp", "sctp".
const char* ProtocolName(Protocol p);

// One endpoint of one Service port.
struct Endpoint {
  std::string ip;  // IPv4 or IPv6 literal, as in the EndpointSlice
  int port = 0;
  std::string node_name;  // endpoint.nodeName ("" when not given)
  bool local = false;     // node_name is this proxy's node
  bool operator==(const Endpoint&) const = default;
};

// One port of one Service, as the node serves it.
struct ServicePort {
  std::string ns;
  std::string name;       // the Service's name
  std::string port_name;  // spec.ports[].name ("" for one unnamed port)
  Protocol protocol = Protocol::kTcp;
  // spec.clusterIPs (empty for headless and ExternalName Services, which
  // the proxy does not serve and BuildSnapshot leaves out).
  std::vector<std::string> cluster_ips;
  int port = 0;                           // spec.ports[].port
  int node_port = 0;                      // spec.ports[].nodePort; 0: none
  std::vector<std::string> external_ips;  // spec.externalIPs
  std::vector<std::string>
      load_balancer_ips;          // status.loadBalancer.ingress[].ip
  bool session_affinity = false;  // sessionAffinity: ClientIP
  int affinity_timeout_seconds =
      10800;  // sessionAffinityConfig.clientIP.timeoutSeconds
  bool external_policy_local = false;  // externalTrafficPolicy: Local
  bool internal_policy_local = false;  // internalTrafficPolicy: Local
  // Where traffic may go, sorted by (ip, port), no duplicates: the
  // endpoints whose port name and protocol match this port and whose
  // conditions.ready is not false; when none is ready, those that are
  // serving and terminating (kube-proxy's fallback). Endpoints of slices
  // labelled kubernetes.io/service-name=<name> only.
  std::vector<Endpoint> endpoints;

  // "ns/name:port_name/protocol", unique per node.
  std::string Key() const;
  bool operator==(const ServicePort&) const = default;
};

struct ProxySnapshot {
  std::map<std::string, ServicePort> ports;  // by ServicePort::Key()
  bool operator==(const ProxySnapshot&) const = default;
};

struct SnapshotOptions {
  std::string node_name;  // marks Endpoint::local
  // The cluster DNS: the ports 53 (UDP and TCP) of the Service whose
  // clusterIP is `cluster_dns` get the agent's own DNS server
  // (local_dns_address:local_dns_port) as their only, local endpoint, so
  // pods' resolv.conf (nameserver 10.43.0.10) reaches the DNS server built
  // into this node's agent. local_dns_address empty: no redirect.
  std::string cluster_dns = "10.43.0.10";
  std::string local_dns_address;
  int local_dns_port = 53;
};

// The snapshot for these Services and EndpointSlices (objects as the API
// returns them, e.g. from informer caches). Services without a ClusterIP
// (headless, ExternalName) are left out; malformed entries are skipped,
// never fatal.
ProxySnapshot BuildSnapshot(
    const std::vector<std::shared_ptr<const Json>>& services,
    const std::vector<std::shared_ptr<const Json>>& endpoint_slices,
    const SnapshotOptions& options);

// Makes the node serve a snapshot.
class Backend {
 public:
  virtual ~Backend() = default;
  // "nftables", "iptables", "userspace".
  virtual const char* name() const = 0;
  // Makes the node serve exactly `snapshot`, changing only what differs
  // from the previous Sync (the first Sync also removes what an earlier
  // run of this backend left behind). An error leaves the previous state
  // in place as far as possible; the caller retries with the next
  // snapshot.
  virtual Status Sync(const ProxySnapshot& snapshot) = 0;
  // Removes everything this backend installed (rules, addresses,
  // listeners), also what an earlier run left behind. Idempotent.
  virtual Status Cleanup() = 0;
};

enum class ProxyMode { kAuto, kNftables, kIptables, kUserspace };
// "" and "auto" -> kAuto, "nftables", "iptables", "userspace"; anything
// else is InvalidArgument naming the choices.
StatusOr<ProxyMode> ParseProxyMode(std::string_view mode);

struct BackendOptions {
  std::string node_name;
  std::vector<std::string> node_ips;  // NodePorts and LB IPs are served here
  std::string cluster_cidr = "10.42.0.0/16";  // pods' addresses
  std::string service_cidr = "10.43.0.0/16";
  // Programs run by the kernel backends (tests: inside a netns via a
  // prefix such as {"nsenter", "--net=/run/netns/x"}).
  std::vector<std::string> command_prefix;
  // userspace: the device the ClusterIPs are added to (/32, /128).
  std::string userspace_device = "lo";
  // userspace: the network namespace (a path such as /var/run/netns/x)
  // its sockets and addresses live in; empty: the process's own. The
  // userspace backend cannot use command_prefix: its listeners must be in
  // the namespace whose addresses it serves.
  std::string userspace_netns;
};

// The backend for `mode`. kAuto: nftables when `nft` runs and the kernel
// accepts a table, else iptables when iptables-restore works, else
// userspace. A mode that cannot work on this host is FailedPrecondition
// with the reason.
StatusOr<std::unique_ptr<Backend>> NewBackend(ProxyMode mode,
                                              const BackendOptions& options);

// Removes what the modes other than `kept` (a concrete mode, not kAuto)
// left on this host, as a mode switch (--proxy-mode) would otherwise leave
// the old mode's rules or addresses catching traffic. Modes that cannot
// work here have nothing to remove and are skipped. The agent calls it
// once before its proxy's first Sync.
Status CleanupOtherModes(ProxyMode kept, const BackendOptions& options);

}  // namespace kite::proxy

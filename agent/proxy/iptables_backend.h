// The iptables proxy backend (docs/proxy.md "iptables"): serves a
// ProxySnapshot (proxy_model.h) with iptables rules in chains of kite's own,
// for hosts where nftables is missing. Used by NewBackend for
// --proxy-mode iptables, and by kAuto when `nft` does not work.
//
// IPv4 with iptables; IPv6 too, with ip6tables of the same kind, when the
// cluster or service CIDR lists an IPv6 range and ip6tables works (else
// IPv6 addresses are not served, with a warning). The same rules in both:
//   nat  PREROUTING, OUTPUT  -> KITE-SERVICES, and for each node IP
//                               -d <node IP> -> KITE-NODEPORTS
//   nat  POSTROUTING         -> KITE-POSTROUTING (MASQUERADE marked packets)
//   filter INPUT, FORWARD, OUTPUT (new connections) -> KITE-SERVICES
//   KITE-SERVICES (nat)   ClusterIP, externalIP and LB IP lines of every
//                         service port, jumping to its chains
//   KITE-NODEPORTS (nat)  one line per NodePort
//   KITE-SVC-<hash>       spreads over all endpoints (-m statistic, and
//                         -m recent for sessionAffinity ClientIP)
//   KITE-SVL-<hash>       the same over local endpoints (traffic policy Local)
//   KITE-EXT-<hash>       NodePort/externalIP/LB entry: Cluster policy marks
//                         the packet "external" and goes to KITE-SVC (the
//                         source is masqueraded only when the chosen
//                         endpoint is on another node); Local goes to
//                         KITE-SVL, pods and the node itself to KITE-SVC
//   KITE-SEP-<hash>       one endpoint: hairpin masquerade, DNAT
//   KITE-SERVICES (filter) REJECT for service addresses with no (local)
//                         endpoint: TCP reset, ICMP port unreachable
// <hash> is a hash of the ServicePort key (and of the endpoint for SEP).
//
// Sync is incremental: one `iptables-restore --noflush` whose input names
// only the chains of service ports that were added, changed or removed, and
// the dispatch lines (KITE-SERVICES, KITE-NODEPORTS) of those whose lines
// changed. The first Sync, and the one after a failed Sync, rebuilds
// everything in one transaction per table, removing what an earlier run left
// (read with iptables-save). Cleanup removes the jumps and every KITE-* chain.
// After a Sync that removed UDP endpoints, the conntrack entries of flows
// NATed to them are deleted (conntrack.h; in the `--net=PATH` namespace of
// an nsenter command prefix), so clients that keep their socket move on.
//
// Thread safety: the generators are pure functions. A backend is driven by
// one thread at a time (Backend's contract).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/proxy/proxy_model.h"
#include "common/status.h"

namespace kite::proxy {

struct IptablesCommandResult {
  int exit_code = 0;   // 128 + signal when killed by one
  std::string output;  // stdout and stderr
};

// Runs argv (looked up in PATH) with `input` on its stdin and returns its
// exit code and output; an error only when it could not be run at all
// (NotFound: no such program) or did not end in time (DeadlineExceeded).
using IptablesRunner = std::function<StatusOr<IptablesCommandResult>(
    const std::vector<std::string>& argv, const std::string& input)>;

// The real runner: posix_spawnp, 30 s timeout. Thread-safe.
StatusOr<IptablesCommandResult> RunIptablesCommand(
    const std::vector<std::string>& argv, const std::string& input);

// Probes the host (through options.command_prefix) and returns the backend
// (InvalidArgument for a malformed cluster or service CIDR):
// the first of iptables-nft, iptables-legacy, plain iptables whose
// iptables-save reads the nat and filter tables and whose iptables-restore
// accepts a test chain in nat. So iptables-nft when the kernel has
// nf_tables, iptables-legacy when it has not. FailedPrecondition naming each
// tool's failure when none works.
StatusOr<std::unique_ptr<Backend>> NewIptablesBackend(
    const BackendOptions& options);
// The same with another runner (unit tests).
StatusOr<std::unique_ptr<Backend>> NewIptablesBackendWithRunner(
    const BackendOptions& options, IptablesRunner runner);

// The generators below write the rules of one address family: IPv4
// (iptables-restore) or, with `ipv6`, IPv6 (ip6tables-restore); addresses
// of the other family are left out. options.cluster_cidr must be that
// family's CIDR (or empty: no masquerade of traffic from outside it).

// The iptables-restore --noflush input that turns the rules of `prev` into
// those of `next` (both already installed base chains): only the service
// ports whose ServicePort differs. "" when nothing differs.
std::string IptablesIncrementalInput(const ProxySnapshot& prev,
                                     const ProxySnapshot& next,
                                     const BackendOptions& options,
                                     bool ipv6 = false);

// The iptables-restore --noflush input that removes the proxy's chains and
// every jump to one found in `nat_save` and `filter_save` (iptables-save
// output of those tables) and, when `install`, installs the base chains and
// all of `next`. "" when there is nothing to remove and nothing to install.
std::string IptablesFullInput(const ProxySnapshot& next,
                              const BackendOptions& options,
                              std::string_view nat_save,
                              std::string_view filter_save, bool install,
                              bool ipv6 = false);

}  // namespace kite::proxy

// The userspace proxy backend (`--proxy-mode userspace`, docs/proxy.md):
// serves a ProxySnapshot without netfilter, for kernels that lack nftables
// and iptables. It uses no nft or iptables at all.
//
// How it serves a snapshot:
//   - every ClusterIP, and every externalIP or load-balancer IP that is not
//     already a local address, is added to BackendOptions.userspace_device
//     (default "lo") as a /32 or /128 over rtnetlink, tagged with an
//     address protocol of its own (IFA_PROTO) so a later run finds and
//     removes it; ClusterIPs are found again by their /32 (/128) inside
//     service_cidr on kernels older than 5.18 that drop the tag;
//   - one libuv loop on a thread of its own holds, per service port, a TCP
//     listener or a UDP socket on each ClusterIP:port, on each node IP at
//     the NodePort, and on each externalIP and load-balancer IP at the
//     port. A listener exists only while its port has an endpoint to send
//     to, so with none the kernel refuses (TCP reset, ICMP port
//     unreachable) exactly as the kernel backends do;
//   - TCP: accept, pick an endpoint (round robin, or the client address's
//     sticky endpoint with sessionAffinity ClientIP), connect (refused or
//     no answer within tcp_connect_timeout: the next endpoint; none left:
//     reset the client), then copy both
//     ways: each read lands in a pooled 64 KiB block that is written to the
//     other side as is (no copy), reading stops while the other side has
//     more than a high-water mark queued, half-close is passed on
//     (shutdown), a reset is passed on as a reset;
//   - UDP: one session per client address and port, with its own connected
//     socket to the chosen endpoint; replies go back from the service
//     socket (so from the service address); sessions idle for
//     udp_session_timeout expire; nothing is allocated per datagram;
//   - internalTrafficPolicy Local: ClusterIP listeners send only to local
//     endpoints; externalTrafficPolicy Local: NodePort, externalIP and
//     load-balancer listeners send only to local endpoints. The client
//     address is not preserved (the endpoint sees the node's address).
// Sync is incremental: listeners whose address, port and protocol are still
// wanted stay open (connections through them are untouched), an endpoint
// change only replaces the pick list, removed ports close their listeners
// and then their addresses. Established connections to an endpoint that
// went away are left to end by themselves.
//
// Thread safety: Sync() and Cleanup() may be called from any one thread at
// a time (the caller's); they hand the work to the loop thread and wait for
// it. Destroying the backend closes every socket and joins the thread but
// leaves the addresses (Cleanup removes them).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>

#include "agent/proxy/proxy_model.h"
#include "common/status.h"

namespace kite::proxy {

// Knobs of the userspace backend (tests shorten the timeouts).
struct UserspaceTuning {
  // A UDP session with no datagram either way for this long is closed.
  std::chrono::milliseconds udp_session_timeout{60000};
  // Reading from one side of a TCP connection stops while the other side
  // has more than this many bytes queued, and resumes below a quarter.
  size_t tcp_high_water = 1 << 20;
  // UDP sessions in all (at most a quarter of RLIMIT_NOFILE); beyond, the
  // least recently used session is closed for a new one.
  size_t max_udp_sessions = 16384;
  // An endpoint that has not accepted a connection after this long is
  // given up for the next one.
  std::chrono::milliseconds tcp_connect_timeout{3000};
};

// Starts the loop thread (in options.userspace_netns when set). Fails with
// FailedPrecondition when the namespace cannot be entered, the device does
// not exist or rtnetlink cannot be opened.
StatusOr<std::unique_ptr<Backend>> NewUserspaceBackend(
    const BackendOptions& options, const UserspaceTuning& tuning = {});

}  // namespace kite::proxy

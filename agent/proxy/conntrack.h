// Conntrack: removes the kernel's connection-tracking entries of UDP flows
// that a proxy backend NATed to an endpoint that is gone. A TCP connection
// ends, but a UDP "flow" lives as long as its client keeps sending (the
// entry's timeout restarts with every packet), so without this a client
// of a Service would keep reaching a removed or unready endpoint.
//
// The real implementation speaks ctnetlink (NETLINK_NETFILTER) in the
// network namespace of the calling thread: it dumps the IPv4 UDP entries
// and deletes those whose reply comes from one of the endpoints while the
// original destination was another address (that is, NATed flows).
//
// Thread safety: the real implementation may be called from any thread;
// each call uses its own sockets.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "agent/proxy/proxy_model.h"
#include "common/status.h"

namespace kite::proxy {

class Conntrack {
 public:
  virtual ~Conntrack() = default;
  // Deletes the entries of UDP flows NATed to any of `endpoints` (IPv4
  // address, port); IPv6 and malformed addresses are ignored. Returns how
  // many were deleted. An entry that vanished meanwhile is not an error.
  virtual StatusOr<int> DeleteUdpFlowsTo(
      const std::set<std::pair<std::string, int>>& endpoints) = 0;
};

// ctnetlink in the calling thread's network namespace.
std::unique_ptr<Conntrack> NewNetlinkConntrack();

// ctnetlink in the network namespace a backend's command prefix runs its
// programs in: this thread's with no prefix, the `--net=PATH` of an
// nsenter prefix (entered on a thread of its own for each call), null
// when the prefix names no namespace.
std::unique_ptr<Conntrack> NewConntrackFor(
    const std::vector<std::string>& command_prefix);

// The (ip, port) of the UDP endpoints a service port of `prev` had and the
// same port in `next` has not (or `next` lacks the port): the flows whose
// conntrack entries a Sync from `prev` to `next` should delete.
std::set<std::pair<std::string, int>> GoneUdpEndpoints(
    const ProxySnapshot& prev, const ProxySnapshot& next);

}  // namespace kite::proxy

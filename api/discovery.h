// API discovery documents, built from the kinds registry.
//
// kubectl starts every resource command with GET /api and GET /apis asking
// for aggregated discovery (kubectl-api.md §1). The answer must carry the
// Content-Type kAggregatedDiscoveryContentType; the same body labelled
// application/json breaks kubectl. Clients that do not ask for it get the
// legacy documents (APIVersions, APIGroupList, APIGroup, APIResourceList).
//
// REST usage:
//   GET /api   Accept wants aggregated -> AggregatedDiscovery(reg, true)
//              else                    -> ApiVersions(server_address)
//   GET /apis  Accept wants aggregated -> AggregatedDiscovery(reg, false)
//              else                    -> ApiGroupList(reg)
//   GET /apis/<g>                      -> ApiGroupDocument(reg, g)
//   GET /api/v1, /apis/<g>/<v>         -> ApiResourceList(reg, g, v)
//
// Thread safety: pure functions over a Registry snapshot.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "api/kinds.h"
#include "common/status.h"

namespace kite::api {

inline constexpr char kAggregatedDiscoveryContentType[] =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

// True when an Accept header lists apidiscovery.k8s.io/v2
// APIGroupDiscoveryList among its media types.
bool WantsAggregatedDiscovery(std::string_view accept);

// apidiscovery.k8s.io/v2 APIGroupDiscoveryList: the core group only
// (`core`, for /api) or every other group (for /apis).
nlohmann::json AggregatedDiscovery(const Registry& registry, bool core);

// /api:
// {"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[...]}.
// `server_address` is "host:port" as clients reach the server.
nlohmann::json ApiVersions(std::string_view server_address);
// /apis: APIGroupList with every non-core group, preferred version first.
nlohmann::json ApiGroupList(const Registry& registry);
// /apis/<group>: APIGroup; NotFound when the group is not served.
StatusOr<nlohmann::json> ApiGroupDocument(const Registry& registry,
                                          std::string_view group);
// /api/v1 or /apis/<group>/<version>: APIResourceList with subresources as
// "pods/status" entries; NotFound when the group-version is not served.
StatusOr<nlohmann::json> ApiResourceList(const Registry& registry,
                                         std::string_view group,
                                         std::string_view version);

}  // namespace kite::api

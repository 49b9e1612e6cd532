// RequestInfo: what a request URL and method address, as the Kubernetes API
// server's RequestInfoFactory reads them.
//
//   /api/v1/namespaces/default/pods/web/status        group "", version v1,
//                                                      ns default, pods, web,
//                                                      subresource status
//   /apis/apps/v1/deployments                         list across namespaces
//   /api/v1/namespaces/x                              the Namespace "x"
//   /api/v1/namespaces/x/finalize                     its finalize subresource
//   /api/v1/watch/namespaces/default/pods             legacy watch path
//
// Verbs: GET name -> get, GET collection -> list (watch with ?watch=true or
// the /watch/ prefix), POST -> create, PUT -> update, PATCH -> patch,
// DELETE name -> delete, DELETE collection -> deletecollection.
// Anything else (/, /healthz, /openapi/v3 ...) is a non-resource request.
//
// Thread safety: a pure function.
#pragma once

#include <string>
#include <string_view>

#include "server/apiserver/request.h"

namespace kite::apiserver {

struct RequestInfo {
  bool is_resource_request = false;
  std::string path;
  std::string verb;         // get, list, watch, create, update, patch, delete,
                            // deletecollection (resource requests); the
                            // lower-case method otherwise
  std::string api_prefix;   // "api" or "apis"
  std::string group;        // "" for core
  std::string version;      // "v1"
  std::string namespace_;   // "" when none in the URL
  std::string resource;     // "pods"
  std::string name;         // "" for collections
  std::string subresource;  // "status", "scale", ...
  // For /api, /apis, /apis/<g>, /api/v1, /apis/<g>/<v> (discovery): how many
  // path parts follow the prefix (0, 1 or 2); -1 for other paths.
  int discovery_depth = -1;
};

// Parses `req` (method, path, watch parameter). Never fails: paths that do
// not name a resource are non-resource requests.
RequestInfo ParseRequestInfo(const Request& req);

// How Kubernetes reads a boolean query parameter that is present: anything
// but "false" and "0" (case-insensitive) is true, "" included (`?watch`).
bool IsTrue(std::string_view value);

}  // namespace kite::apiserver

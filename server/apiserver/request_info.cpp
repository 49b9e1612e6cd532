#include "server/apiserver/request_info.h"

#include <algorithm>
#include <cctype>
#include <vector>

namespace kite::apiserver {
namespace {

std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    size_t j = i;
    while (j < path.size() && path[j] != '/') ++j;
    if (j > i) parts.emplace_back(path.substr(i, j - i));
    i = j;
  }
  return parts;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return s;
}

}  // namespace

bool IsTrue(std::string_view value) {
  std::string v = Lower(std::string(value));
  return v != "false" && v != "0";
}

RequestInfo ParseRequestInfo(const Request& req) {
  RequestInfo info;
  info.path = req.path;
  info.verb = Lower(req.method);
  std::vector<std::string> parts = SplitPath(req.path);
  if (parts.empty() || (parts[0] != "api" && parts[0] != "apis")) return info;
  info.api_prefix = parts[0];
  size_t rest = 0;
  if (info.api_prefix == "api") {
    info.discovery_depth =
        static_cast<int>(std::min<size_t>(parts.size() - 1, 1));
    if (parts.size() < 2) return info;
    info.version = parts[1];
    rest = 2;
  } else {
    info.discovery_depth =
        static_cast<int>(std::min<size_t>(parts.size() - 1, 2));
    if (parts.size() < 3) {
      if (parts.size() == 2) info.group = parts[1];
      return info;
    }
    info.group = parts[1];
    info.version = parts[2];
    rest = 3;
  }
  if (parts.size() == rest) return info;  // discovery of a group-version
  info.discovery_depth = -1;
  std::vector<std::string> p(parts.begin() + static_cast<long>(rest),
                             parts.end());

  bool watch_prefix = false;
  if (p[0] == "watch") {
    watch_prefix = true;
    p.erase(p.begin());
    if (p.empty()) return info;
  }
  info.is_resource_request = true;
  if (p[0] == "namespaces") {
    if (p.size() > 1) {
      info.namespace_ = p[1];
      // /namespaces/<ns>/<resource>... addresses a resource in <ns>, unless
      // the next part is a subresource of the namespace itself.
      if (p.size() > 2 && p[2] != "status" && p[2] != "finalize") {
        p.erase(p.begin(), p.begin() + 2);
      }
    }
  }
  info.resource = p[0];
  if (p.size() > 1) info.name = p[1];
  if (p.size() > 2) info.subresource = p[2];
  if (p.size() > 3) {
    // Deeper paths (proxy sub-paths) keep their first part as subresource.
    info.subresource = p[2];
  }

  const std::string& m = req.method;
  if (m == "GET" || m == "HEAD") {
    if (watch_prefix || (req.HasParam("watch") && IsTrue(req.Param("watch")))) {
      info.verb = "watch";
    } else {
      info.verb = info.name.empty() ? "list" : "get";
    }
  } else if (m == "POST") {
    info.verb = "create";
  } else if (m == "PUT") {
    info.verb = "update";
  } else if (m == "PATCH") {
    info.verb = "patch";
  } else if (m == "DELETE") {
    info.verb = info.name.empty() ? "deletecollection" : "delete";
  }
  return info;
}

}  // namespace kite::apiserver

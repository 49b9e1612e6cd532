#include "server/controllers/resources.h"

#include <set>
#include <string>
#include <utility>

namespace kite::controllers {

std::vector<client::ResourceRef> NamespacedResourcesOf(
    const api::Registry& registry) {
  std::vector<client::ResourceRef> out;
  std::set<std::pair<std::string, std::string>> seen;  // group, resource
  for (const auto& kind : registry.All()) {
    if (!kind->Namespaced() || !kind->stored) continue;
    if (!kind->HasVerb("list") || !kind->HasVerb("delete")) continue;
    if (!seen.insert({kind->group, kind->resource}).second) continue;
    out.push_back({kind->group, kind->version, kind->resource, ""});
  }
  return out;
}

std::vector<ApiResource> GarbageCollectedResourcesOf(
    const api::Registry& registry) {
  std::vector<ApiResource> out;
  std::set<std::pair<std::string, std::string>> seen;  // group, resource
  for (const auto& kind : registry.All()) {
    if (!kind->stored || kind->resource == "events") continue;
    if (!kind->HasVerb("list") || !kind->HasVerb("delete") ||
        !kind->HasVerb("get") || !kind->HasVerb("update")) {
      continue;
    }
    if (!seen.insert({kind->group, kind->resource}).second) continue;
    out.push_back({{kind->group, kind->version, kind->resource, ""},
                   kind->kind,
                   kind->Namespaced()});
  }
  return out;
}

}  // namespace kite::controllers

#include "api/discovery.h"

#include <algorithm>
#include <cctype>

namespace kite::api {

using Json = nlohmann::json;

namespace {

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

Json Gvk(const GroupVersionKind& g) {
  return {{"group", g.group}, {"version", g.version}, {"kind", g.kind}};
}

Json AggregatedResource(const Kind& k) {
  Json r = {{"resource", k.resource},
            {"responseKind", Gvk(k.Gvk())},
            {"scope", k.Namespaced() ? "Namespaced" : "Cluster"},
            {"singularResource", k.singular},
            {"verbs", k.verbs}};
  if (!k.short_names.empty()) r["shortNames"] = k.short_names;
  if (!k.categories.empty()) r["categories"] = k.categories;
  if (!k.subresources.empty()) {
    Json subs = Json::array();
    std::vector<Subresource> sorted = k.subresources;
    std::sort(sorted.begin(), sorted.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    for (const Subresource& s : sorted) {
      subs.push_back({{"subresource", s.name},
                      {"responseKind", Gvk(s.response_kind)},
                      {"verbs", s.verbs}});
    }
    r["subresources"] = subs;
  }
  return r;
}

Json GroupVersionJson(const std::string& group, const std::string& version) {
  return {{"groupVersion", group.empty() ? version : group + "/" + version},
          {"version", version}};
}

}  // namespace

bool WantsAggregatedDiscovery(std::string_view accept) {
  size_t start = 0;
  while (start <= accept.size()) {
    size_t comma = accept.find(',', start);
    std::string_view item = accept.substr(start, comma == std::string_view::npos
                                                     ? std::string_view::npos
                                                     : comma - start);
    bool g = false, v = false, as = false;
    size_t p = 0;
    while (p <= item.size()) {
      size_t semi = item.find(';', p);
      std::string param = Trim(item.substr(p, semi == std::string_view::npos
                                                  ? std::string_view::npos
                                                  : semi - p));
      if (param == "g=apidiscovery.k8s.io") g = true;
      if (param == "v=v2") v = true;
      if (param == "as=APIGroupDiscoveryList") as = true;
      if (semi == std::string_view::npos) break;
      p = semi + 1;
    }
    if (g && v && as) return true;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return false;
}

Json AggregatedDiscovery(const Registry& registry, bool core) {
  Json items = Json::array();
  for (const ApiGroup& g : registry.Groups()) {
    if (g.name.empty() != core) continue;
    Json versions = Json::array();
    for (const std::string& v : g.versions) {
      Json resources = Json::array();
      for (const auto& k : registry.KindsOf(g.name, v))
        resources.push_back(AggregatedResource(*k));
      versions.push_back(
          {{"version", v}, {"resources", resources}, {"freshness", "Current"}});
    }
    Json md = {{"creationTimestamp", nullptr}};
    if (!core) md["name"] = g.name;
    items.push_back({{"metadata", md}, {"versions", versions}});
  }
  return {{"kind", "APIGroupDiscoveryList"},
          {"apiVersion", "apidiscovery.k8s.io/v2"},
          {"metadata", Json::object()},
          {"items", items}};
}

Json ApiVersions(std::string_view server_address) {
  return {{"kind", "APIVersions"},
          {"versions", Json::array({"v1"})},
          {"serverAddressByClientCIDRs",
           Json::array({{{"clientCIDR", "0.0.0.0/0"},
                         {"serverAddress", std::string(server_address)}}})}};
}

namespace {

Json GroupJson(const ApiGroup& g) {
  Json versions = Json::array();
  for (const std::string& v : g.versions)
    versions.push_back(GroupVersionJson(g.name, v));
  return {{"name", g.name},
          {"versions", versions},
          {"preferredVersion", GroupVersionJson(g.name, g.versions.front())}};
}

}  // namespace

Json ApiGroupList(const Registry& registry) {
  Json groups = Json::array();
  for (const ApiGroup& g : registry.Groups()) {
    if (!g.name.empty()) groups.push_back(GroupJson(g));
  }
  return {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}};
}

StatusOr<Json> ApiGroupDocument(const Registry& registry,
                                std::string_view group) {
  for (const ApiGroup& g : registry.Groups()) {
    if (!g.name.empty() && g.name == group) {
      Json doc = GroupJson(g);
      doc["kind"] = "APIGroup";
      doc["apiVersion"] = "v1";
      return doc;
    }
  }
  return NotFoundError("the server could not find the requested resource");
}

StatusOr<Json> ApiResourceList(const Registry& registry, std::string_view group,
                               std::string_view version) {
  auto kinds = registry.KindsOf(group, version);
  if (kinds.empty())
    return NotFoundError("the server could not find the requested resource");
  Json resources = Json::array();
  for (const auto& k : kinds) {
    Json r = {{"name", k->resource},
              {"singularName", k->singular},
              {"namespaced", k->Namespaced()},
              {"kind", k->kind},
              {"verbs", k->verbs}};
    if (!k->short_names.empty()) r["shortNames"] = k->short_names;
    if (!k->categories.empty()) r["categories"] = k->categories;
    resources.push_back(r);
    std::vector<Subresource> subs = k->subresources;
    std::sort(subs.begin(), subs.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    for (const Subresource& s : subs) {
      Json sr = {{"name", k->resource + "/" + s.name},
                 {"singularName", ""},
                 {"namespaced", k->Namespaced()},
                 {"kind", s.response_kind.kind},
                 {"verbs", s.verbs}};
      if (s.response_kind.group != k->group ||
          s.response_kind.version != k->version) {
        sr["group"] = s.response_kind.group;
        sr["version"] = s.response_kind.version;
      }
      resources.push_back(sr);
    }
  }
  std::string gv = group.empty()
                       ? std::string(version)
                       : std::string(group) + "/" + std::string(version);
  Json doc = {{"kind", "APIResourceList"},
              {"groupVersion", gv},
              {"resources", resources}};
  if (!group.empty()) doc["apiVersion"] = "v1";
  return doc;
}

}  // namespace kite::api

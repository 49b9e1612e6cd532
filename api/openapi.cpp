#include "api/openapi.h"

#include <cstdio>
#include <set>

#include "api/schema.h"
#include "common/version.h"

namespace kite::api {

using Json = nlohmann::json;

namespace {

constexpr std::string_view kRefPrefix = "#/components/schemas/";

Json QueryParam(const char* name, const char* description) {
  return {{"name", name},
          {"in", "query"},
          {"description", description},
          {"schema", {{"type", "string"}, {"uniqueItems", true}}}};
}

Json PathParam(const char* name, const std::string& description) {
  return {{"name", name},
          {"in", "path"},
          {"description", description},
          {"required", true},
          {"schema", {{"type", "string"}, {"uniqueItems", true}}}};
}

Json WriteParams(bool patch) {
  Json p =
      Json::array({QueryParam("dryRun",
                              "When present, indicates that modifications "
                              "should not be persisted. Valid values are: "
                              "- All: all dry run stages will be processed"),
                   QueryParam("fieldManager",
                              "fieldManager is a name associated with the "
                              "actor or entity that is making these "
                              "changes."),
                   QueryParam("fieldValidation",
                              "fieldValidation instructs the server on how to "
                              "handle objects in the request (POST/PUT/PATCH) "
                              "containing unknown or duplicate fields. Valid "
                              "values are: - Ignore - Warn - Strict")});
  if (patch) {
    p.push_back({{"name", "force"},
                 {"in", "query"},
                 {"description", "Force is going to \"force\" Apply requests."},
                 {"schema", {{"type", "boolean"}, {"uniqueItems", true}}}});
  }
  return p;
}

Json Responses(const std::string& schema_name, bool created) {
  Json ok = {{"description", "OK"}};
  if (!schema_name.empty()) {
    ok["content"] = {
        {"application/json",
         {{"schema", {{"$ref", std::string(kRefPrefix) + schema_name}}}}}};
  }
  Json r = {{"200", ok}, {"401", {{"description", "Unauthorized"}}}};
  if (created) {
    Json c = ok;
    c["description"] = "Created";
    r["201"] = c;
  }
  return r;
}

std::string UpperFirst(std::string s) {
  if (!s.empty())
    s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  return s;
}

Json Operation(const std::string& action, const std::string& id, const Kind& k,
               const GroupVersionKind& gvk, const std::string& schema_name,
               const std::string& description) {
  Json op = {
      {"description", description},
      {"operationId", id},
      {"tags",
       Json::array({k.group.empty() ? "core_" + k.version
                                    : k.group.substr(0, k.group.find('.')) +
                                          "_" + k.version})},
      {"x-kubernetes-action", action},
      {"x-kubernetes-group-version-kind",
       {{"group", gvk.group}, {"version", gvk.version}, {"kind", gvk.kind}}},
      {"responses", Responses(schema_name, action == "post")}};
  if (action == "patch") op["parameters"] = WriteParams(true);
  if (action == "post" || action == "put")
    op["parameters"] = WriteParams(false);
  return op;
}

void AddKindPaths(const Kind& k, Json& paths) {
  const std::string prefix = k.group.empty()
                                 ? "/api/" + k.version
                                 : "/apis/" + k.group + "/" + k.version;
  const std::string collection =
      k.Namespaced() ? prefix + "/namespaces/{namespace}/" + k.resource
                     : prefix + "/" + k.resource;
  const std::string item = collection + "/{name}";
  const std::string schema = KindSchema(k).is_null() ? "" : SchemaName(k);
  const std::string id_kind =
      UpperFirst(k.group.empty() ? "core"
                                 : k.group.substr(0, k.group.find('.'))) +
      UpperFirst(k.version) + (k.Namespaced() ? "Namespaced" : "") + k.kind;
  const GroupVersionKind gvk = k.Gvk();
  Json ns_param = Json::array();
  if (k.Namespaced())
    ns_param.push_back(PathParam(
        "namespace",
        "object name and auth scope, such as for teams and projects"));

  Json coll = {{"parameters", ns_param}};
  if (k.HasVerb("list"))
    coll["get"] =
        Operation("list", "list" + id_kind, k, gvk, schema.empty() ? "" : "",
                  "list or watch objects of kind " + k.kind);
  if (k.HasVerb("create"))
    coll["post"] = Operation("post", "create" + id_kind, k, gvk, schema,
                             "create " + k.singular);
  if (k.HasVerb("deletecollection")) {
    coll["delete"] = Operation("deletecollection", "deleteCollection" + id_kind,
                               k, gvk, "", "delete collection of " + k.kind);
  }
  paths[collection] = coll;
  if (k.Namespaced() && k.HasVerb("list")) {
    paths[prefix + "/" + k.resource] = {
        {"get", Operation("list", "list" + id_kind + "ForAllNamespaces", k, gvk,
                          "", "list or watch objects of kind " + k.kind)}};
  }
  if (!k.stored) return;
  Json item_params = ns_param;
  item_params.insert(item_params.begin(),
                     PathParam("name", "name of the " + std::string(k.kind)));
  Json it = {{"parameters", item_params}};
  if (k.HasVerb("get"))
    it["get"] = Operation("get", "read" + id_kind, k, gvk, schema,
                          "read the specified " + k.kind);
  if (k.HasVerb("update"))
    it["put"] = Operation("put", "replace" + id_kind, k, gvk, schema,
                          "replace the specified " + k.kind);
  if (k.HasVerb("patch"))
    it["patch"] = Operation("patch", "patch" + id_kind, k, gvk, schema,
                            "partially update the specified " + k.kind);
  if (k.HasVerb("delete"))
    it["delete"] = Operation("delete", "delete" + id_kind, k, gvk, "",
                             "delete a " + k.kind);
  paths[item] = it;
  for (const Subresource& s : k.subresources) {
    if (s.name != "status" && s.name != "scale") continue;
    const std::string sub_schema = s.name == "status" ? schema : "";
    Json sp = {{"parameters", item_params}};
    std::string id = id_kind + UpperFirst(s.name);
    sp["get"] = Operation("get", "read" + id, k, s.response_kind, sub_schema,
                          "read " + s.name + " of the specified " + k.kind);
    sp["put"] = Operation("put", "replace" + id, k, s.response_kind, sub_schema,
                          "replace " + s.name + " of the specified " + k.kind);
    sp["patch"] =
        Operation("patch", "patch" + id, k, s.response_kind, sub_schema,
                  "partially update " + s.name + " of the specified " + k.kind);
    paths[item + "/" + s.name] = sp;
  }
}

// Collects the names of the component schemas `s` refers to, transitively.
void CollectRefs(const Json& s, std::set<std::string>* names) {
  if (s.is_object()) {
    if (const Json* r = Field(s, "$ref"); r && r->is_string()) {
      std::string ref = r->get<std::string>();
      if (ref.rfind(kRefPrefix, 0) == 0) {
        std::string name = ref.substr(kRefPrefix.size());
        if (names->insert(name).second) {
          const auto& table = BuiltinSchemas();
          if (auto it = table.find(name); it != table.end())
            CollectRefs(it->second, names);
        }
      }
    }
    for (auto it = s.begin(); it != s.end(); ++it)
      CollectRefs(it.value(), names);
  } else if (s.is_array()) {
    for (const Json& e : s) CollectRefs(e, names);
  }
}

std::string Fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llX", static_cast<unsigned long long>(h));
  return buf;
}

std::string GvPath(const std::string& group, const std::string& version) {
  return group.empty() ? "api/" + version : "apis/" + group + "/" + version;
}

}  // namespace

StatusOr<Json> BuildOpenApiDocument(const Registry& registry,
                                    std::string_view group,
                                    std::string_view version) {
  auto kinds = registry.KindsOf(group, version);
  if (kinds.empty())
    return NotFoundError("the server could not find the requested resource");
  Json paths = Json::object();
  Json schemas = Json::object();
  std::set<std::string> refs;
  for (const auto& k : kinds) {
    AddKindPaths(*k, paths);
    Json s = KindSchema(*k);
    if (s.is_null()) continue;
    CollectRefs(s, &refs);
    schemas[SchemaName(*k)] = std::move(s);
  }
  const auto& table = BuiltinSchemas();
  for (const std::string& name : refs) {
    if (schemas.contains(name)) continue;
    if (auto it = table.find(name); it != table.end())
      schemas[name] = it->second;
  }
  return Json{
      {"openapi", "3.0.0"},
      {"info", {{"title", "Kubernetes"}, {"version", KubeGitVersion()}}},
      {"paths", paths},
      {"components", {{"schemas", schemas}}}};
}

void OpenApiV3::RefreshLocked() {
  uint64_t gen = registry_.Generation();
  if (gen == generation_) return;
  docs_.clear();
  for (const ApiGroup& g : registry_.Groups()) {
    for (const std::string& v : g.versions) {
      auto doc = BuildOpenApiDocument(registry_, g.name, v);
      if (!doc.ok()) continue;
      auto body = std::make_shared<const std::string>(doc->dump());
      std::string hash = Fnv1a(*body);
      docs_[GvPath(g.name, v)] = {std::move(body), std::move(hash)};
    }
  }
  generation_ = gen;
}

Json OpenApiV3::Index() {
  std::lock_guard lock(mu_);
  RefreshLocked();
  Json paths = Json::object();
  for (const auto& [path, doc] : docs_) {
    paths[path] = {
        {"serverRelativeURL", "/openapi/v3/" + path + "?hash=" + doc.hash}};
  }
  return {{"paths", paths}};
}

StatusOr<OpenApiV3::Document> OpenApiV3::Get(std::string_view path) {
  std::lock_guard lock(mu_);
  RefreshLocked();
  auto it = docs_.find(path);
  if (it == docs_.end())
    return NotFoundError("the server could not find the requested resource");
  return it->second;
}

}  // namespace kite::api

#include "api/kinds.h"

#include <algorithm>
#include <cctype>
#include <mutex>
#include <set>

#include "api/jsonpath.h"

namespace kite::api {

using Json = nlohmann::json;

const std::vector<std::string> kAllVerbs = {
    "create", "delete", "deletecollection", "get",
    "list",   "patch",  "update",           "watch"};
const std::vector<std::string> kCreateOnlyVerbs = {"create"};

bool Kind::HasVerb(std::string_view verb) const {
  return std::find(verbs.begin(), verbs.end(), verb) != verbs.end();
}

const Subresource* Kind::FindSubresource(std::string_view name) const {
  for (const Subresource& s : subresources) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

bool Kind::SupportsField(std::string_view field) const {
  if (field == "metadata.name" || field == "metadata.namespace") return true;
  return std::any_of(
      selectable_fields.begin(), selectable_fields.end(),
      [&](const SelectableField& f) { return f.label == field; });
}

// ---- version priority ----

namespace {

struct VersionKey {
  bool kube_like = false;
  int major = 0;
  int stability = 0;  // 2 GA, 1 beta, 0 alpha
  int minor = 0;
};

VersionKey ParseVersion(std::string_view v) {
  VersionKey k;
  if (v.size() < 2 || v[0] != 'v' ||
      !std::isdigit(static_cast<unsigned char>(v[1])))
    return k;
  size_t i = 1;
  int major = 0;
  while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i])))
    major = major * 10 + (v[i++] - '0');
  if (major == 0) return k;  // "v0" is not kube-like
  if (i == v.size()) return {true, major, 2, 0};
  std::string_view rest = v.substr(i);
  int stability;
  if (rest.substr(0, 5) == "alpha") {
    stability = 0;
    rest = rest.substr(5);
  } else if (rest.substr(0, 4) == "beta") {
    stability = 1;
    rest = rest.substr(4);
  } else {
    return k;
  }
  if (rest.empty() || !std::all_of(rest.begin(), rest.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c));
      })) {
    return k;
  }
  int minor = 0;
  for (char c : rest) minor = minor * 10 + (c - '0');
  return {true, major, stability, minor};
}

}  // namespace

bool VersionSortsBefore(std::string_view a, std::string_view b) {
  VersionKey ka = ParseVersion(a), kb = ParseVersion(b);
  if (ka.kube_like != kb.kube_like) return ka.kube_like;
  if (!ka.kube_like) return a < b;
  if (ka.stability != kb.stability) return ka.stability > kb.stability;
  if (ka.major != kb.major) return ka.major > kb.major;
  if (ka.minor != kb.minor) return ka.minor > kb.minor;
  return false;
}

// ---- CRDs ----

namespace {

std::vector<std::string> StringList(const Json* j) {
  std::vector<std::string> out;
  if (j == nullptr || !j->is_array()) return out;
  for (const Json& e : *j) {
    if (e.is_string()) out.push_back(e.get<std::string>());
  }
  return out;
}

}  // namespace

StatusOr<std::vector<Kind>> KindsFromCustomResourceDefinition(const Json& crd) {
  if (!crd.is_object())
    return InvalidArgumentError("a CustomResourceDefinition must be an object");
  std::string crd_name = GetString(crd, {"metadata", "name"});
  std::string group = GetString(crd, {"spec", "group"});
  std::string plural = GetString(crd, {"spec", "names", "plural"});
  std::string kind_name = GetString(crd, {"spec", "names", "kind"});
  if (group.empty() || plural.empty() || kind_name.empty()) {
    return InvalidArgumentError(
        "spec.group, spec.names.plural and spec.names.kind are required");
  }
  if (crd_name.empty()) crd_name = plural + "." + group;
  std::string singular = GetString(crd, {"spec", "names", "singular"});
  if (singular.empty()) {
    singular = kind_name;
    std::transform(singular.begin(), singular.end(), singular.begin(),
                   [](unsigned char c) { return std::tolower(c); });
  }
  std::string list_kind =
      GetString(crd, {"spec", "names", "listKind"}, kind_name + "List");
  std::string scope = GetString(crd, {"spec", "scope"});
  if (scope != "Namespaced" && scope != "Cluster") {
    return InvalidArgumentError("spec.scope must be Namespaced or Cluster");
  }
  const Json* versions = FieldPath(crd, {"spec", "versions"});
  if (versions == nullptr || !versions->is_array() || versions->empty()) {
    return InvalidArgumentError("spec.versions must list at least one version");
  }
  std::vector<Kind> out;
  for (const Json& v : *versions) {
    std::string version = GetString(v, {"name"});
    if (version.empty())
      return InvalidArgumentError("spec.versions[].name is required");
    if (!GetBool(v, {"served"})) continue;
    Kind k;
    k.group = group;
    k.version = version;
    k.kind = kind_name;
    k.list_kind = list_kind;
    k.resource = plural;
    k.singular = singular;
    k.scope = scope == "Namespaced" ? Scope::kNamespaced : Scope::kCluster;
    k.short_names = StringList(FieldPath(crd, {"spec", "names", "shortNames"}));
    k.categories = StringList(FieldPath(crd, {"spec", "names", "categories"}));
    k.verbs = kAllVerbs;
    k.storage_resource = group + "/" + plural;
    k.crd_name = crd_name;
    k.storage_version = GetBool(v, {"storage"});
    k.tracks_generation = true;
    if (const Json* s = FieldPath(v, {"schema", "openAPIV3Schema"});
        s && s->is_object())
      k.schema = *s;
    if (Has(v, {"subresources", "status"})) {
      k.subresources.push_back(
          {"status", {group, version, kind_name}, {"get", "patch", "update"}});
    }
    if (const Json* sc = FieldPath(v, {"subresources", "scale"});
        sc && sc->is_object()) {
      k.scale.spec_replicas = GetString(*sc, {"specReplicasPath"});
      k.scale.status_replicas = GetString(*sc, {"statusReplicasPath"});
      k.scale.label_selector = GetString(*sc, {"labelSelectorPath"});
      if (k.scale.spec_replicas.empty() || k.scale.status_replicas.empty()) {
        return InvalidArgumentError(
            "subresources.scale needs specReplicasPath and statusReplicasPath");
      }
      k.subresources.push_back({"scale",
                                {"autoscaling", "v1", "Scale"},
                                {"get", "patch", "update"}});
    }
    k.columns.push_back({"Name", "string", "name",
                         "Name must be unique within a namespace. Is required "
                         "when creating resources, although "
                         "some resources may allow a client to request the "
                         "generation of an appropriate name "
                         "automatically. Name is primarily intended for "
                         "creation idempotence and configuration "
                         "definition. Cannot be updated.",
                         0});
    const Json* cols = Field(v, "additionalPrinterColumns");
    if (cols != nullptr && cols->is_array() && !cols->empty()) {
      for (const Json& c : *cols) {
        std::string path = GetString(c, {"jsonPath"});
        KITE_RETURN_IF_ERROR(JsonPath::Parse(path).status());
        k.columns.push_back(
            {GetString(c, {"name"}), GetString(c, {"type"}, "string"),
             GetString(c, {"format"}), GetString(c, {"description"}),
             static_cast<int>(GetInt(c, {"priority"}))});
        k.column_paths.push_back(path);
      }
    } else {
      k.columns.push_back({"Age", "date", "",
                           "CreationTimestamp is a timestamp representing the "
                           "server time when this object was "
                           "created.",
                           0});
      k.column_paths.push_back(".metadata.creationTimestamp");
    }
    if (const Json* sf = Field(v, "selectableFields"); sf && sf->is_array()) {
      for (const Json& f : *sf) {
        std::string p = GetString(f, {"jsonPath"});
        if (p.size() < 2 || p[0] != '.')
          return InvalidArgumentError(
              "selectableFields jsonPath must start with .");
        k.selectable_fields.push_back({p.substr(1), {p.substr(1)}, ""});
      }
    }
    out.push_back(std::move(k));
  }
  std::stable_sort(out.begin(), out.end(), [](const Kind& a, const Kind& b) {
    return VersionSortsBefore(a.version, b.version);
  });
  return out;
}

// ---- the registry ----

namespace {

const std::vector<std::string>& BuiltinGroupOrder() {
  static const std::vector<std::string> kOrder = {"",
                                                  "apps",
                                                  "events.k8s.io",
                                                  "authentication.k8s.io",
                                                  "authorization.k8s.io",
                                                  "autoscaling",
                                                  "batch",
                                                  "certificates.k8s.io",
                                                  "networking.k8s.io",
                                                  "policy",
                                                  "rbac.authorization.k8s.io",
                                                  "storage.k8s.io",
                                                  "apiextensions.k8s.io",
                                                  "scheduling.k8s.io",
                                                  "coordination.k8s.io",
                                                  "discovery.k8s.io"};
  return kOrder;
}

std::string ResourceKey(std::string_view g, std::string_view v,
                        std::string_view r) {
  std::string k(g);
  k += '/';
  k += v;
  k += '/';
  k += r;
  return k;
}

}  // namespace

Registry::Registry() {
  std::unique_lock lock(mu_);
  group_order_ = BuiltinGroupOrder();
  for (Kind& k : BuiltinKinds())
    kinds_.push_back(std::make_shared<const Kind>(std::move(k)));
  RebuildIndexLocked();
}

void Registry::RebuildIndexLocked() {
  by_resource_.clear();
  by_kind_.clear();
  // Discovery order: groups in group_order_, then versions by priority, then
  // resources by name.
  std::map<std::string, size_t> group_rank;
  for (size_t i = 0; i < group_order_.size(); ++i)
    group_rank[group_order_[i]] = i;
  std::stable_sort(
      kinds_.begin(), kinds_.end(), [&](const auto& a, const auto& b) {
        size_t ra =
            group_rank.count(a->group) ? group_rank[a->group] : SIZE_MAX;
        size_t rb =
            group_rank.count(b->group) ? group_rank[b->group] : SIZE_MAX;
        if (ra != rb) return ra < rb;
        if (a->group != b->group) return a->group < b->group;
        if (a->version != b->version)
          return VersionSortsBefore(a->version, b->version);
        return a->resource < b->resource;
      });
  for (const auto& k : kinds_) {
    by_resource_[ResourceKey(k->group, k->version, k->resource)] = k;
    by_kind_[ResourceKey(k->group, k->version, k->kind)] = k;
  }
}

std::shared_ptr<const Kind> Registry::Lookup(std::string_view group,
                                             std::string_view version,
                                             std::string_view resource) const {
  std::shared_lock lock(mu_);
  auto it = by_resource_.find(ResourceKey(group, version, resource));
  return it == by_resource_.end() ? nullptr : it->second;
}

std::shared_ptr<const Kind> Registry::LookupKind(std::string_view group,
                                                 std::string_view version,
                                                 std::string_view kind) const {
  std::shared_lock lock(mu_);
  auto it = by_kind_.find(ResourceKey(group, version, kind));
  return it == by_kind_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<const Kind>> Registry::All() const {
  std::shared_lock lock(mu_);
  return kinds_;
}

std::vector<ApiGroup> Registry::Groups() const {
  std::shared_lock lock(mu_);
  std::vector<ApiGroup> out;
  for (const auto& k : kinds_) {
    if (out.empty() || out.back().name != k->group)
      out.push_back({k->group, {}});
    std::vector<std::string>& vs = out.back().versions;
    if (std::find(vs.begin(), vs.end(), k->version) == vs.end())
      vs.push_back(k->version);
  }
  return out;
}

std::vector<std::shared_ptr<const Kind>> Registry::KindsOf(
    std::string_view group, std::string_view version) const {
  std::shared_lock lock(mu_);
  std::vector<std::shared_ptr<const Kind>> out;
  for (const auto& k : kinds_) {
    if (k->group == group && k->version == version) out.push_back(k);
  }
  return out;
}

Status Registry::ApplyCustomResourceDefinition(const Json& crd) {
  KITE_ASSIGN_OR_RETURN(std::vector<Kind> kinds,
                        KindsFromCustomResourceDefinition(crd));
  std::unique_lock lock(mu_);
  const std::string crd_name =
      kinds.empty() ? GetString(crd, {"metadata", "name"}) : kinds[0].crd_name;
  // Collisions with kinds that are not this CRD's.
  for (const Kind& k : kinds) {
    for (const auto& other : kinds_) {
      if (other->group != k.group || other->crd_name == crd_name) continue;
      if (other->resource == k.resource) {
        return AlreadyExistsError("resource " + k.resource + "." + k.group +
                                  " is already served");
      }
      if (other->kind == k.kind) {
        return AlreadyExistsError("kind " + k.kind + "." + k.group +
                                  " is already served by " +
                                  other->GroupResource());
      }
      for (const std::string& s : k.short_names) {
        if (std::find(other->short_names.begin(), other->short_names.end(),
                      s) != other->short_names.end()) {
          return AlreadyExistsError("short name " + s + " is already used by " +
                                    other->GroupResource());
        }
      }
    }
  }
  kinds_.erase(
      std::remove_if(kinds_.begin(), kinds_.end(),
                     [&](const auto& k) { return k->crd_name == crd_name; }),
      kinds_.end());
  for (Kind& k : kinds) {
    if (std::find(group_order_.begin(), group_order_.end(), k.group) ==
        group_order_.end()) {
      // Custom groups follow the built-in ones, by name.
      auto first_custom =
          group_order_.begin() + static_cast<long>(BuiltinGroupOrder().size());
      auto pos = std::lower_bound(first_custom, group_order_.end(), k.group);
      group_order_.insert(pos, k.group);
    }
    kinds_.push_back(std::make_shared<const Kind>(std::move(k)));
  }
  RebuildIndexLocked();
  ++generation_;
  return Status::Ok();
}

bool Registry::RemoveCustomResourceDefinition(std::string_view crd_name) {
  std::unique_lock lock(mu_);
  size_t before = kinds_.size();
  kinds_.erase(std::remove_if(kinds_.begin(), kinds_.end(),
                              [&](const auto& k) {
                                return !k->crd_name.empty() &&
                                       k->crd_name == crd_name;
                              }),
               kinds_.end());
  if (kinds_.size() == before) return false;
  // Drop custom groups no kind uses any more.
  std::set<std::string> used;
  for (const auto& k : kinds_) used.insert(k->group);
  size_t builtin = BuiltinGroupOrder().size();
  group_order_.erase(
      std::remove_if(group_order_.begin() + static_cast<long>(builtin),
                     group_order_.end(),
                     [&](const std::string& g) { return !used.count(g); }),
      group_order_.end());
  RebuildIndexLocked();
  ++generation_;
  return true;
}

uint64_t Registry::Generation() const {
  std::shared_lock lock(mu_);
  return generation_;
}

}  // namespace kite::api

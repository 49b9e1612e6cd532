#include "server/apiserver/rbac.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "api/object.h"
#include "api/selectors.h"
#include "client/yaml_json.h"
#include "common/log.h"
#include "server/apiserver/handler.h"

namespace kite::apiserver {

using nlohmann::json;

namespace {

constexpr std::string_view kRbacGroup = "rbac.authorization.k8s.io";
constexpr std::string_view kAutoupdate =
    "rbac.authorization.kubernetes.io/autoupdate";

std::vector<std::string> Strings(const json& obj, const char* field) {
  std::vector<std::string> out;
  if (const json* a = api::Field(obj, field); a && a->is_array()) {
    for (const json& s : *a) {
      if (s.is_string()) out.push_back(s.get<std::string>());
    }
  }
  return out;
}

bool Has(const std::vector<std::string>& list, std::string_view want) {
  for (const std::string& s : list) {
    if (s == "*" || s == want) return true;
  }
  return false;
}

// The keys an identity is indexed under.
std::string UserKey(std::string_view name) { return "u:" + std::string(name); }
std::string GroupKey(std::string_view name) { return "g:" + std::string(name); }

// The index key of a binding subject; "" for subjects no request can be.
std::string SubjectKey(const json& subject, const std::string& binding_ns) {
  std::string kind = api::GetString(subject, {"kind"});
  std::string name = api::GetString(subject, {"name"});
  if (name.empty()) return "";
  if (kind == "User") return UserKey(name);
  if (kind == "Group") return GroupKey(name);
  if (kind == "ServiceAccount") {
    std::string ns = api::GetString(subject, {"namespace"});
    if (ns.empty()) ns = binding_ns;
    if (ns.empty()) return "";
    return UserKey("system:serviceaccount:" + ns + ":" + name);
  }
  return "";
}

}  // namespace

PolicyRule PolicyRule::FromJson(const json& rule) {
  PolicyRule r;
  r.verbs = Strings(rule, "verbs");
  r.api_groups = Strings(rule, "apiGroups");
  r.resources = Strings(rule, "resources");
  r.resource_names = Strings(rule, "resourceNames");
  r.non_resource_urls = Strings(rule, "nonResourceURLs");
  return r;
}

json PolicyRule::ToJson() const {
  json r = {{"verbs", verbs}};
  if (!non_resource_urls.empty()) r["nonResourceURLs"] = non_resource_urls;
  if (!api_groups.empty()) r["apiGroups"] = api_groups;
  if (!resources.empty()) r["resources"] = resources;
  if (!resource_names.empty()) r["resourceNames"] = resource_names;
  return r;
}

bool PolicyRule::Allows(const Attributes& a) const {
  if (!Has(verbs, a.verb)) return false;
  if (!a.resource_request) {
    for (const std::string& url : non_resource_urls) {
      if (url == "*" || url == a.path) return true;
      if (!url.empty() && url.back() == '*' &&
          a.path.compare(0, url.size() - 1, url, 0, url.size() - 1) == 0) {
        return true;
      }
    }
    return false;
  }
  if (!Has(api_groups, a.group)) return false;
  bool resource_ok = false;
  std::string combined =
      a.subresource.empty() ? a.resource : a.resource + "/" + a.subresource;
  for (const std::string& res : resources) {
    if (res == "*" || res == combined ||
        (!a.subresource.empty() && res.size() == a.subresource.size() + 2 &&
         res.compare(0, 2, "*/") == 0 &&
         res.compare(2, std::string::npos, a.subresource) == 0)) {
      resource_ok = true;
      break;
    }
  }
  if (!resource_ok) return false;
  if (resource_names.empty()) return true;
  return std::find(resource_names.begin(), resource_names.end(), a.name) !=
         resource_names.end();
}

// ---- the index ----

struct RbacAuthorizer::Index {
  using RuleSets = std::vector<const std::vector<PolicyRule>*>;
  std::unordered_map<std::string, std::vector<PolicyRule>> cluster_roles;
  std::unordered_map<std::string, std::vector<PolicyRule>> roles;  // ns/name
  std::unordered_map<std::string, RuleSets> cluster;  // subject key -> rules
  std::unordered_map<std::string, std::unordered_map<std::string, RuleSets>>
      namespaced;  // namespace -> subject key -> rules
};

// The RBAC objects as stored, and the index built from them.
class RbacAuthorizer::Objects : public StoreCache::Sink {
 public:
  void Reset(const std::string& prefix) override {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = objects_.begin(); it != objects_.end();) {
      if (it->first.rfind(prefix, 0) == 0) {
        it = objects_.erase(it);
      } else {
        ++it;
      }
    }
  }
  void Put(const std::string& key, json object) override {
    std::lock_guard<std::mutex> lock(mu_);
    objects_[key] = std::move(object);
  }
  void Delete(const std::string& key) override {
    std::lock_guard<std::mutex> lock(mu_);
    objects_.erase(key);
  }
  void Synced(const std::string&) override {
    // Built and published under mu_: two prefixes' threads finishing
    // batches at once must not publish an older index after a newer one.
    std::lock_guard<std::mutex> lock(mu_);
    std::shared_ptr<const Index> next = Build();
    std::lock_guard<std::mutex> index_lock(index_mu_);
    index_ = std::move(next);
  }
  std::shared_ptr<const Index> index() const {
    std::lock_guard<std::mutex> lock(index_mu_);
    return index_;
  }

 private:
  // Called with mu_ held.
  std::shared_ptr<const Index> Build() const {
    auto index = std::make_shared<Index>();
    std::map<std::string, const json*> cluster_roles;
    std::vector<const json*> bindings;
    for (const auto& [key, obj] : objects_) {
      std::string kind = api::GetString(obj, {"kind"});
      if (kind == "ClusterRole") {
        cluster_roles[api::Name(obj)] = &obj;
      } else if (kind == "Role") {
        std::vector<PolicyRule> rules;
        if (const json* r = api::Field(obj, "rules"); r && r->is_array()) {
          for (const json& rule : *r)
            rules.push_back(PolicyRule::FromJson(rule));
        }
        index->roles[api::Namespace(obj) + "/" + api::Name(obj)] =
            std::move(rules);
      } else if (kind == "RoleBinding" || kind == "ClusterRoleBinding") {
        bindings.push_back(&obj);
      }
    }
    // ClusterRoles, aggregated ones resolved recursively (cycles cut).
    std::map<std::string, int> state;  // 1 resolving, 2 done
    std::function<const std::vector<PolicyRule>&(const std::string&)> resolve =
        [&](const std::string& name) -> const std::vector<PolicyRule>& {
      std::vector<PolicyRule>& out = index->cluster_roles[name];
      if (state[name] != 0) return out;
      state[name] = 1;
      const json& role = *cluster_roles.at(name);
      const json* agg = api::Field(role, "aggregationRule");
      const json* selectors =
          agg ? api::Field(*agg, "clusterRoleSelectors") : nullptr;
      if (selectors && selectors->is_array()) {
        std::set<std::string> seen;
        for (const auto& [other, obj] : cluster_roles) {
          if (other == name) continue;
          bool match = false;
          for (const json& sel : *selectors) {
            auto s = api::LabelSelector::FromJson(sel);
            if (s.ok() && s->MatchesObject(*obj)) {
              match = true;
              break;
            }
          }
          if (!match) continue;
          std::vector<PolicyRule> rules = resolve(other);
          for (PolicyRule& r : rules) {
            if (seen.insert(r.ToJson().dump()).second)
              out.push_back(std::move(r));
          }
        }
      } else if (const json* r = api::Field(role, "rules");
                 r && r->is_array()) {
        for (const json& rule : *r) out.push_back(PolicyRule::FromJson(rule));
      }
      state[name] = 2;
      return out;
    };
    for (const auto& [name, obj] : cluster_roles) resolve(name);

    for (const json* b : bindings) {
      std::string ns = api::Namespace(*b);
      std::string ref_kind = api::GetString(*b, {"roleRef", "kind"});
      std::string ref_name = api::GetString(*b, {"roleRef", "name"});
      const std::vector<PolicyRule>* rules = nullptr;
      if (ref_kind == "ClusterRole") {
        auto it = index->cluster_roles.find(ref_name);
        if (it != index->cluster_roles.end()) rules = &it->second;
      } else if (ref_kind == "Role" && !ns.empty()) {
        auto it = index->roles.find(ns + "/" + ref_name);
        if (it != index->roles.end()) rules = &it->second;
      }
      if (rules == nullptr || rules->empty()) continue;
      const json* subjects = api::Field(*b, "subjects");
      if (subjects == nullptr || !subjects->is_array()) continue;
      for (const json& s : *subjects) {
        std::string key = SubjectKey(s, ns);
        if (key.empty()) continue;
        if (ns.empty()) {
          index->cluster[key].push_back(rules);
        } else {
          index->namespaced[ns][key].push_back(rules);
        }
      }
    }
    return index;
  }

  std::mutex mu_;
  std::map<std::string, json> objects_;  // guarded by mu_
  mutable std::mutex index_mu_;
  std::shared_ptr<const Index> index_ =
      std::make_shared<Index>();  // guarded by index_mu_
};

RbacAuthorizer::RbacAuthorizer(datastore::Backend& backend)
    : objects_(std::make_unique<Objects>()) {
  cache_ = std::make_unique<StoreCache>(
      backend,
      std::vector<std::string>{"/registry/clusterroles/",
                               "/registry/clusterrolebindings/",
                               "/registry/roles/", "/registry/rolebindings/"},
      *objects_);
}

StatusOr<std::unique_ptr<RbacAuthorizer>> RbacAuthorizer::Create(
    datastore::Backend& backend) {
  std::unique_ptr<RbacAuthorizer> a(new RbacAuthorizer(backend));
  KITE_RETURN_IF_ERROR(a->cache_->Start());
  return a;
}

RbacAuthorizer::~RbacAuthorizer() { Stop(); }

void RbacAuthorizer::Stop() { cache_->Stop(); }

bool RbacAuthorizer::WaitForRevision(int64_t revision,
                                     std::chrono::milliseconds timeout) {
  return cache_->WaitForRevision(revision, timeout);
}

std::shared_ptr<const RbacAuthorizer::Index> RbacAuthorizer::index() const {
  return objects_->index();
}

std::vector<const std::vector<PolicyRule>*> RbacAuthorizer::RuleSets(
    const Index& index, const UserInfo& user,
    std::string_view namespace_) const {
  std::vector<const std::vector<PolicyRule>*> out;
  std::vector<std::string> keys;
  keys.push_back(UserKey(user.name));
  for (const std::string& g : user.groups) keys.push_back(GroupKey(g));
  const std::unordered_map<std::string, Index::RuleSets>* ns_index = nullptr;
  if (!namespace_.empty()) {
    auto it = index.namespaced.find(std::string(namespace_));
    if (it != index.namespaced.end()) ns_index = &it->second;
  }
  for (const std::string& key : keys) {
    if (auto it = index.cluster.find(key); it != index.cluster.end())
      out.insert(out.end(), it->second.begin(), it->second.end());
    if (ns_index) {
      if (auto it = ns_index->find(key); it != ns_index->end())
        out.insert(out.end(), it->second.begin(), it->second.end());
    }
  }
  return out;
}

Status RbacAuthorizer::Authorize(const Attributes& a) const {
  if (a.user == nullptr) return Status(Code::kPermissionDenied, "no user");
  std::shared_ptr<const Index> idx = index();
  for (const std::vector<PolicyRule>* rules :
       RuleSets(*idx, *a.user, a.namespace_)) {
    for (const PolicyRule& r : *rules) {
      if (r.Allows(a)) return Status::Ok();
    }
  }
  return Status(Code::kPermissionDenied, "");
}

json RbacAuthorizer::RulesFor(const UserInfo& user,
                              std::string_view namespace_) const {
  std::shared_ptr<const Index> idx = index();
  json resource = json::array(), non_resource = json::array();
  std::set<std::string> seen;
  for (const std::vector<PolicyRule>* rules :
       RuleSets(*idx, user, namespace_)) {
    for (const PolicyRule& r : *rules) {
      json j = r.ToJson();
      if (!seen.insert(j.dump()).second) continue;
      if (!r.non_resource_urls.empty()) {
        non_resource.push_back(
            {{"verbs", r.verbs}, {"nonResourceURLs", r.non_resource_urls}});
      } else {
        if (!j.contains("apiGroups")) j["apiGroups"] = json::array();
        if (!j.contains("resources")) j["resources"] = json::array();
        resource.push_back(std::move(j));
      }
    }
  }
  return {{"resourceRules", resource}, {"nonResourceRules", non_resource}};
}

// ---- bootstrap policy ----

namespace {

Response Call(Handler& h, const UserInfo& user, const std::string& method,
              const std::string& path, json body) {
  Request req;
  req.method = method;
  req.path = path;
  req.content_type = "application/json";
  req.user_agent = "kite-apiserver";
  req.user = user;
  req.query.emplace("fieldManager", "kite-rbac-bootstrap");
  if (!body.is_null()) req.object = std::move(body);
  return h.Serve(req);
}

Status Failed(const Response& r, const std::string& what) {
  return InternalError(
      "bootstrap RBAC policy " + what + ": " +
      r.json.value("message", "HTTP " + std::to_string(r.status)));
}

// Appends to `into[field]` each element of `from[field]` it lacks; true when
// something was added.
bool AddMissing(json& into, const json& from, const char* field) {
  const json* want = api::Field(from, field);
  if (want == nullptr || !want->is_array()) return false;
  json& have = into[field];
  if (!have.is_array()) have = json::array();
  bool changed = false;
  for (const json& w : *want) {
    if (std::find(have.begin(), have.end(), w) == have.end()) {
      have.push_back(w);
      changed = true;
    }
  }
  return changed;
}

std::vector<std::string_view> SplitDocuments(std::string_view text) {
  std::vector<std::string_view> docs;
  size_t start = 0, pos = 0;
  while (pos <= text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    if (line == "---" || line.rfind("--- ", 0) == 0) {
      docs.push_back(text.substr(start, pos - start));
      start = eol + 1;
    }
    pos = eol + 1;
  }
  if (start < text.size()) docs.push_back(text.substr(start));
  return docs;
}

struct Tally {
  int created = 0, updated = 0, unchanged = 0;
};

Status ReconcileOne(Handler& h, const UserInfo& user, json want,
                    std::set<std::string>& namespaces, Tally& tally) {
  std::string kind = api::GetString(want, {"kind"});
  std::string resource;
  if (kind == "ClusterRole") resource = "clusterroles";
  if (kind == "ClusterRoleBinding") resource = "clusterrolebindings";
  if (kind == "Role") resource = "roles";
  if (kind == "RoleBinding") resource = "rolebindings";
  if (resource.empty())
    return InvalidArgumentError("bootstrap RBAC policy: unexpected kind " +
                                kind);
  std::string ns = api::Namespace(want);
  std::string name = api::Name(want);
  std::string collection = "/apis/" + std::string(kRbacGroup) + "/v1/" +
                           (ns.empty() ? "" : "namespaces/" + ns + "/") +
                           resource;
  std::string what = kind + " " + (ns.empty() ? "" : ns + "/") + name;
  Response got = Call(h, user, "GET", collection + "/" + name, nullptr);
  if (got.status == 404) {
    if (!ns.empty() && namespaces.insert(ns).second) {
      json obj = {{"apiVersion", "v1"},
                  {"kind", "Namespace"},
                  {"metadata", {{"name", ns}}}};
      Response made = Call(h, user, "POST", "/api/v1/namespaces", obj);
      if (made.status >= 300 && made.status != 409)
        return Failed(made, "namespace " + ns);
    }
    Response made = Call(h, user, "POST", collection, want);
    if (made.status >= 300) return Failed(made, what);
    ++tally.created;
    return Status::Ok();
  }
  if (got.status != 200) return Failed(got, what);
  json have = got.json;
  if (api::GetString(have, {"metadata", "annotations",
                            std::string(kAutoupdate)}) == "false") {
    ++tally.unchanged;
    return Status::Ok();
  }
  bool changed = false;
  for (const char* meta : {"labels", "annotations"}) {
    const json* w = api::Field(want["metadata"], meta);
    if (w == nullptr || !w->is_object()) continue;
    json& m = have["metadata"][meta];
    if (!m.is_object()) m = json::object();
    for (const auto& [k, v] : w->items()) {
      if (!m.contains(k) || m[k] != v) {
        m[k] = v;
        changed = true;
      }
    }
  }
  if (kind == "ClusterRole" || kind == "Role") {
    changed |= AddMissing(have, want, "rules");
    if (want.contains("aggregationRule") &&
        have.value("aggregationRule", json()) != want["aggregationRule"]) {
      have["aggregationRule"] = want["aggregationRule"];
      changed = true;
    }
  } else {
    changed |= AddMissing(have, want, "subjects");
    if (have.value("roleRef", json()) != want["roleRef"]) {
      log::Warn("apiserver",
                "bootstrap binding refers to another role; left alone")(
          "object", what);
    }
  }
  if (!changed) {
    ++tally.unchanged;
    return Status::Ok();
  }
  Response put = Call(h, user, "PUT", collection + "/" + name, have);
  if (put.status >= 300) return Failed(put, what);
  log::Info("apiserver", "bootstrap RBAC object updated")("object", what);
  ++tally.updated;
  return Status::Ok();
}

}  // namespace

Status ReconcileRbacPolicy(Handler& handler, const UserInfo& user,
                           std::span<const std::string_view> yaml_files) {
  std::set<std::string> namespaces;
  Tally tally;
  for (std::string_view file : yaml_files) {
    for (std::string_view doc : SplitDocuments(file)) {
      auto obj = client::YamlToJson(doc);
      if (!obj.ok())
        return InvalidArgumentError("bootstrap RBAC policy: " +
                                    obj.status().message());
      if (!obj->is_object()) continue;  // comments only
      KITE_RETURN_IF_ERROR(ReconcileOne(handler, user, std::move(obj).value(),
                                        namespaces, tally));
    }
  }
  log::Info("apiserver", "bootstrap RBAC policy applied")(
      "created", tally.created)("updated", tally.updated)("unchanged",
                                                          tally.unchanged);
  return Status::Ok();
}

}  // namespace kite::apiserver

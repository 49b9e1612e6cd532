#include "server/apiserver/node_authorizer.h"

#include <algorithm>

#include "api/object.h"

namespace kite::apiserver {

using nlohmann::json;

namespace {

constexpr std::string_view kNodePrefix = "system:node:";
constexpr char kPodsPrefix[] = "/registry/pods/";
constexpr char kPvsPrefix[] = "/registry/persistentvolumes/";

bool OneOf(const std::string& s, std::initializer_list<const char*> list) {
  for (const char* x : list) {
    if (s == x) return true;
  }
  return false;
}

// What a pod refers to that its node may read: "secret/NS/NAME",
// "configmap/...", "pvc/...", "serviceaccount/...".
std::vector<std::string> RefsOf(const json& pod) {
  std::string ns = api::Namespace(pod);
  std::set<std::string> out;
  auto add = [&](const char* kind, const std::string& name) {
    if (!name.empty()) out.insert(std::string(kind) + "/" + ns + "/" + name);
  };
  const json spec = pod.value("spec", json::object());
  std::string sa = api::GetString(spec, {"serviceAccountName"});
  add("serviceaccount", sa.empty() ? "default" : sa);
  if (const json* ips = api::Field(spec, "imagePullSecrets");
      ips && ips->is_array()) {
    for (const json& s : *ips) add("secret", api::GetString(s, {"name"}));
  }
  if (const json* vols = api::Field(spec, "volumes");
      vols && vols->is_array()) {
    for (const json& v : *vols) {
      add("secret", api::GetString(v, {"secret", "secretName"}));
      add("configmap", api::GetString(v, {"configMap", "name"}));
      add("pvc", api::GetString(v, {"persistentVolumeClaim", "claimName"}));
      // A generic ephemeral volume's claim is named <pod>-<volume>.
      if (v.contains("ephemeral") && !api::GetString(v, {"name"}).empty())
        add("pvc", api::Name(pod) + "-" + api::GetString(v, {"name"}));
      if (const json* src =
              api::Field(v.value("projected", json::object()), "sources");
          src && src->is_array()) {
        for (const json& s : *src) {
          add("secret", api::GetString(s, {"secret", "name"}));
          add("configmap", api::GetString(s, {"configMap", "name"}));
        }
      }
    }
  }
  for (const char* field :
       {"containers", "initContainers", "ephemeralContainers"}) {
    const json* cs = api::Field(spec, field);
    if (cs == nullptr || !cs->is_array()) continue;
    for (const json& c : *cs) {
      if (const json* env = api::Field(c, "env"); env && env->is_array()) {
        for (const json& e : *env) {
          add("secret",
              api::GetString(e, {"valueFrom", "secretKeyRef", "name"}));
          add("configmap",
              api::GetString(e, {"valueFrom", "configMapKeyRef", "name"}));
        }
      }
      if (const json* ef = api::Field(c, "envFrom"); ef && ef->is_array()) {
        for (const json& e : *ef) {
          add("secret", api::GetString(e, {"secretRef", "name"}));
          add("configmap", api::GetString(e, {"configMapRef", "name"}));
        }
      }
    }
  }
  return {out.begin(), out.end()};
}

}  // namespace

std::string NodeNameOf(const UserInfo& user) {
  if (user.name.rfind(kNodePrefix, 0) != 0) return "";
  if (std::find(user.groups.begin(), user.groups.end(), "system:nodes") ==
      user.groups.end())
    return "";
  return user.name.substr(kNodePrefix.size());
}

// Pods by node, what each node's pods refer to, and the claim each
// PersistentVolume is bound to.
class NodeAuthorizer::Graph : public StoreCache::Sink {
 public:
  void Reset(const std::string& prefix) override {
    std::unique_lock lock(mu_);
    if (prefix == kPvsPrefix) {
      pv_claims_.clear();
      return;
    }
    pods_.clear();
    refs_.clear();
  }
  void Put(const std::string& key, json obj) override {
    std::unique_lock lock(mu_);
    if (key.rfind(kPvsPrefix, 0) == 0) {
      // Bound by the volume's claimRef, which only whoever may write
      // PersistentVolumes sets (a claim's spec.volumeName is the claim
      // owner's to write, so it proves nothing).
      std::string ns = api::GetString(obj, {"spec", "claimRef", "namespace"});
      std::string name = api::GetString(obj, {"spec", "claimRef", "name"});
      if (ns.empty() || name.empty()) {
        pv_claims_.erase(api::Name(obj));
      } else {
        pv_claims_[api::Name(obj)] = "pvc/" + ns + "/" + name;
      }
      return;
    }
    const json& pod = obj;
    RemoveLocked(key);
    Pod p;
    p.node = api::GetString(pod, {"spec", "nodeName"});
    p.id = "pod/" + api::Namespace(pod) + "/" + api::Name(pod);
    if (!p.node.empty()) {
      p.refs = RefsOf(pod);
      p.refs.push_back(p.id);
      for (const std::string& r : p.refs) ++refs_[p.node][r];
    }
    pods_[key] = std::move(p);
  }
  void Delete(const std::string& key) override {
    std::unique_lock lock(mu_);
    if (key.rfind(kPvsPrefix, 0) == 0) {
      pv_claims_.erase(key.substr(sizeof(kPvsPrefix) - 1));
      return;
    }
    RemoveLocked(key);
  }
  void Synced(const std::string&) override {}

  // Whether a pod bound to `node` refers to `ref` (or is `ref`, "pod/...").
  bool Has(const std::string& node, const std::string& ref) const {
    std::shared_lock lock(mu_);
    auto it = refs_.find(node);
    return it != refs_.end() && it->second.count(ref) > 0;
  }
  // Whether PersistentVolume `pv` is bound to a claim a pod of `node` uses.
  bool HasVolume(const std::string& node, const std::string& pv) const {
    std::shared_lock lock(mu_);
    auto claim = pv_claims_.find(pv);
    if (claim == pv_claims_.end()) return false;
    auto it = refs_.find(node);
    return it != refs_.end() && it->second.count(claim->second) > 0;
  }

 private:
  struct Pod {
    std::string node, id;
    std::vector<std::string> refs;
  };
  void RemoveLocked(const std::string& key) {
    auto it = pods_.find(key);
    if (it == pods_.end()) return;
    auto& node_refs = refs_[it->second.node];
    for (const std::string& r : it->second.refs) {
      if (--node_refs[r] <= 0) node_refs.erase(r);
    }
    if (node_refs.empty()) refs_.erase(it->second.node);
    pods_.erase(it);
  }

  mutable std::shared_mutex mu_;
  std::map<std::string, Pod> pods_;  // by storage key; guarded by mu_
  // node -> reference -> how many of its pods make it; guarded by mu_
  std::map<std::string, std::map<std::string, int>> refs_;
  // PersistentVolume name -> "pvc/NS/NAME" of its claimRef; guarded by mu_
  std::map<std::string, std::string> pv_claims_;
};

NodeAuthorizer::NodeAuthorizer() : graph_(std::make_unique<Graph>()) {}

NodeAuthorizer::~NodeAuthorizer() { Stop(); }

void NodeAuthorizer::Stop() {
  if (cache_) cache_->Stop();
}

StatusOr<std::unique_ptr<NodeAuthorizer>> NodeAuthorizer::Create(
    datastore::Backend& backend) {
  std::unique_ptr<NodeAuthorizer> a(new NodeAuthorizer());
  a->cache_ = std::make_unique<StoreCache>(
      backend, std::vector<std::string>{kPodsPrefix, kPvsPrefix}, *a->graph_);
  KITE_RETURN_IF_ERROR(a->cache_->Start());
  return a;
}

bool NodeAuthorizer::WaitForRevision(int64_t revision,
                                     std::chrono::milliseconds timeout) {
  return cache_->WaitForRevision(revision, timeout);
}

Status NodeAuthorizer::Authorize(const Attributes& a) const {
  if (a.user == nullptr) return Status(Code::kPermissionDenied, "");
  std::string node = NodeNameOf(*a.user);
  if (node.empty()) return Status(Code::kPermissionDenied, "");  // no opinion
  auto deny = [&](const std::string& why) {
    return Status(Code::kPermissionDenied, "node \"" + node + "\" " + why);
  };
  if (!a.resource_request) return deny("may not reach this path");
  const std::string& v = a.verb;
  const std::string& r = a.resource;
  const std::string& sub = a.subresource;
  const std::string& g = a.group;
  bool read = OneOf(v, {"get", "list", "watch"});
  std::string ref = a.namespace_ + "/" + a.name;

  if (g.empty() && r == "nodes") {
    if (sub.empty() && read) return Status::Ok();
    if (sub.empty() && v == "create") return Status::Ok();  // AdmitNodeWrite
    if ((sub.empty() || sub == "status") &&
        OneOf(v, {"get", "update", "patch", "delete"})) {
      if (a.name == node) return Status::Ok();
      return deny("may only change its own Node");
    }
    return deny("may not " + v + " nodes/" + sub);
  }
  if (g == "coordination.k8s.io" && r == "leases") {
    if (a.namespace_ != "kube-node-lease")
      return deny("may only use leases in kube-node-lease");
    if (v == "create") return Status::Ok();  // AdmitNodeWrite checks the name
    if (OneOf(v, {"get", "update", "patch", "delete"}) && a.name == node)
      return Status::Ok();
    return deny("may only use its own Lease");
  }
  // The local-path volumes provisioned on it, so its agent can remove the
  // directories of those that are gone (agent/kubelet/local_storage.h).
  if (g.empty() && r == "persistentvolumes" && sub.empty() && v == "list" &&
      a.label_selector == "kite.io/local-path-node=" + node)
    return Status::Ok();
  if (g.empty() && r == "pods") {
    bool bound = !a.name.empty() && graph_->Has(node, "pod/" + ref);
    if (sub.empty()) {
      if (v == "get")
        return bound ? Status::Ok() : deny("may only get pods bound to it");
      if (v == "list" || v == "watch") {
        if (a.field_selector.find("spec.nodeName=" + node) !=
                std::string::npos &&
            a.field_selector.find("spec.nodeName!=") == std::string::npos) {
          return Status::Ok();
        }
        return deny("may only " + v +
                    " pods with fieldSelector spec.nodeName=" + node);
      }
      if (v == "create") return Status::Ok();  // AdmitNodeWrite: bound to it
      if (v == "delete")
        return bound ? Status::Ok() : deny("may only delete its own pods");
      return deny("may not " + v + " pods");
    }
    if (sub == "status" && OneOf(v, {"get", "update", "patch"}))
      return bound ? Status::Ok() : deny("may only update pods bound to it");
    if (sub == "eviction" && v == "create")
      return bound ? Status::Ok() : deny("may only evict pods bound to it");
    return deny("may not " + v + " pods/" + sub);
  }
  if (g.empty() && sub.empty() &&
      OneOf(r, {"secrets", "configmaps", "persistentvolumeclaims"})) {
    std::string kind = r == "secrets"      ? "secret"
                       : r == "configmaps" ? "configmap"
                                           : "pvc";
    if (v == "get" && !a.name.empty() && graph_->Has(node, kind + "/" + ref))
      return Status::Ok();
    return deny("may only get " + r + " that pods bound to it use");
  }
  if (g.empty() && r == "persistentvolumes") {
    if (v == "get" && sub.empty() && !a.name.empty() &&
        graph_->HasVolume(node, a.name))
      return Status::Ok();
    return deny(
        "may only get persistentvolumes bound to claims that pods bound to "
        "it use");
  }
  if (g.empty() && r == "serviceaccounts" && sub == "token" && v == "create") {
    if (graph_->Has(node, "serviceaccount/" + ref)) return Status::Ok();
    return deny("may only get tokens for the ServiceAccounts of its pods");
  }
  if (r == "events" && (g.empty() || g == "events.k8s.io") &&
      OneOf(v, {"create", "update", "patch"}))
    return Status::Ok();
  if (read && sub.empty() &&
      ((g.empty() && OneOf(r, {"services", "endpoints"})) ||
       (g == "discovery.k8s.io" && r == "endpointslices") ||
       (g == "node.k8s.io" && r == "runtimeclasses") ||
       (g == "storage.k8s.io" && OneOf(r, {"csidrivers", "csinodes"})))) {
    return Status::Ok();
  }
  if (g == "certificates.k8s.io" && r == "certificatesigningrequests" &&
      sub.empty() && OneOf(v, {"create", "get", "list", "watch"}))
    return Status::Ok();
  if ((g == "authentication.k8s.io" && r == "tokenreviews" && v == "create") ||
      (g == "authorization.k8s.io" && r == "subjectaccessreviews" &&
       v == "create"))
    return Status::Ok();
  return deny("may not " + v + " " + r + (sub.empty() ? "" : "/" + sub) +
              (g.empty() ? "" : "." + g));
}

json NodeAuthorizer::RulesFor(const UserInfo& user, std::string_view) const {
  json out = {{"resourceRules", json::array()},
              {"nonResourceRules", json::array()}};
  std::string node = NodeNameOf(user);
  if (node.empty()) return out;
  auto rule = [&](std::vector<std::string> verbs,
                  std::vector<std::string> groups,
                  std::vector<std::string> resources,
                  std::vector<std::string> names = {}) {
    json r = {
        {"verbs", verbs}, {"apiGroups", groups}, {"resources", resources}};
    if (!names.empty()) r["resourceNames"] = names;
    out["resourceRules"].push_back(std::move(r));
  };
  rule({"get", "list", "watch", "create"}, {""}, {"nodes"});
  rule({"get", "update", "patch", "delete"}, {""}, {"nodes", "nodes/status"},
       {node});
  rule({"get", "update", "patch", "delete"}, {"coordination.k8s.io"},
       {"leases"}, {node});
  rule({"create"}, {"coordination.k8s.io"}, {"leases"});
  rule({"create", "update", "patch"}, {"", "events.k8s.io"}, {"events"});
  rule({"get", "list", "watch"}, {""}, {"services", "endpoints"});
  return out;
}

Status AdmitNodeWrite(const UserInfo& user, const std::string& resource,
                      const std::string& verb, const json& body) {
  if (verb != "create") return Status::Ok();
  std::string node = NodeNameOf(user);
  if (node.empty()) return Status::Ok();
  if (resource == "nodes" && api::Name(body) != node)
    return Status(Code::kPermissionDenied,
                  "node \"" + node + "\" may only create its own Node");
  if (resource == "leases" && api::Name(body) != node)
    return Status(Code::kPermissionDenied,
                  "node \"" + node + "\" may only create its own Lease");
  if (resource == "pods" && api::GetString(body, {"spec", "nodeName"}) != node)
    return Status(Code::kPermissionDenied,
                  "node \"" + node + "\" may only create pods bound to it");
  return Status::Ok();
}

}  // namespace kite::apiserver

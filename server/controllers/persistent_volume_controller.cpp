#include "server/controllers/persistent_volume_controller.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "api/object.h"
#include "api/quantity.h"
#include "api/selectors.h"
#include "common/log.h"
#include "server/controllers/workload.h"

namespace kite::controllers {
namespace {

using client::Json;

const client::ResourceRef kClaims{"", "v1", "persistentvolumeclaims", ""};
const client::ResourceRef kVolumes{"", "v1", "persistentvolumes", ""};
const client::ResourceRef kClasses{"storage.k8s.io", "v1", "storageclasses",
                                   ""};
const client::ResourceRef kNodes{"", "v1", "nodes", ""};
const client::ResourceRef kPods{"", "v1", "pods", ""};

constexpr char kComponent[] = "persistentvolume-controller";
constexpr char kPvcProtection[] = "kubernetes.io/pvc-protection";
constexpr char kBindCompleted[] = "pv.kubernetes.io/bind-completed";
constexpr char kBoundByController[] = "pv.kubernetes.io/bound-by-controller";
constexpr char kProvisionedBy[] = "pv.kubernetes.io/provisioned-by";
constexpr char kStorageProvisioner[] =
    "volume.kubernetes.io/storage-provisioner";
constexpr char kBetaStorageProvisioner[] =
    "volume.beta.kubernetes.io/storage-provisioner";
constexpr char kBetaClass[] = "volume.beta.kubernetes.io/storage-class";
constexpr char kDefaultClass[] = "storageclass.kubernetes.io/is-default-class";
constexpr char kBetaDefaultClass[] =
    "storageclass.beta.kubernetes.io/is-default-class";

// The claim's class; nullopt when it names none (nil, not "").
std::optional<std::string> ClaimClass(const Json& claim) {
  const Json* c = api::FieldPath(claim, {"spec", "storageClassName"});
  if (c != nullptr && c->is_string()) return c->get<std::string>();
  const Json* a =
      api::FieldPath(claim, {"metadata", "annotations", kBetaClass});
  if (a != nullptr && a->is_string()) return a->get<std::string>();
  return std::nullopt;
}

std::string VolumeClass(const Json& pv) {
  const Json* c = api::FieldPath(pv, {"spec", "storageClassName"});
  if (c != nullptr && c->is_string()) return c->get<std::string>();
  return api::GetString(pv, {"metadata", "annotations", kBetaClass});
}

std::string Annotation(const Json& obj, const char* key) {
  return api::GetString(obj, {"metadata", "annotations", key});
}

std::string VolumeMode(const Json& obj) {
  return api::GetString(obj, {"spec", "volumeMode"}, "Filesystem");
}

std::optional<api::Quantity> QuantityAt(
    const Json& obj, std::initializer_list<std::string_view> path) {
  const Json* q = api::FieldPath(obj, path);
  if (q == nullptr || !q->is_string()) return std::nullopt;
  auto parsed = api::Quantity::Parse(q->get<std::string>());
  if (!parsed.ok()) return std::nullopt;
  return *parsed;
}

std::vector<std::string> Strings(const Json* j) {
  std::vector<std::string> out;
  if (j == nullptr || !j->is_array()) return out;
  for (const Json& s : *j)
    if (s.is_string()) out.push_back(s.get<std::string>());
  return out;
}

bool IsDeleting(const Json& obj) {
  return api::Has(obj, {"metadata", "deletionTimestamp"});
}

bool HasFinalizer(const Json& obj, const char* f) {
  for (const std::string& s :
       Strings(api::FieldPath(obj, {"metadata", "finalizers"})))
    if (s == f) return true;
  return false;
}

// The claims a pod's volumes name.
std::vector<std::string> ClaimsOf(const Json& pod) {
  std::vector<std::string> out;
  const Json* vols = api::FieldPath(pod, {"spec", "volumes"});
  if (vols == nullptr || !vols->is_array()) return out;
  for (const Json& v : *vols) {
    std::string c = api::GetString(v, {"persistentVolumeClaim", "claimName"});
    if (!c.empty()) out.push_back(c);
  }
  return out;
}

bool PodFinished(const Json& pod) {
  std::string phase = api::GetString(pod, {"status", "phase"});
  return phase == "Succeeded" || phase == "Failed";
}

// claimRef points at `claim` (namespace and name, and uid when it has one).
bool RefersTo(const Json& pv, const Json& claim) {
  const Json* ref = api::FieldPath(pv, {"spec", "claimRef"});
  if (ref == nullptr || !ref->is_object()) return false;
  if (api::GetString(*ref, {"namespace"}) != api::Namespace(claim) ||
      api::GetString(*ref, {"name"}) != api::Name(claim))
    return false;
  std::string uid = api::GetString(*ref, {"uid"});
  return uid.empty() || uid == api::GetString(claim, {"metadata", "uid"});
}

bool HasClaimRef(const Json& pv) {
  const Json* ref = api::FieldPath(pv, {"spec", "claimRef"});
  return ref != nullptr && ref->is_object() &&
         !api::GetString(*ref, {"name"}).empty();
}

bool MatchRequirement(const Json& req, const std::string* value) {
  std::string op = api::GetString(req, {"operator"});
  std::vector<std::string> values = Strings(api::Field(req, "values"));
  auto in = [&] {
    return value != nullptr &&
           std::find(values.begin(), values.end(), *value) != values.end();
  };
  auto number = [](const std::string& s) -> std::optional<long long> {
    try {
      size_t used = 0;
      long long v = std::stoll(s, &used);
      if (used == s.size()) return v;
    } catch (...) {
    }
    return std::nullopt;
  };
  if (op == "In") return in();
  if (op == "NotIn") return !in();
  if (op == "Exists") return value != nullptr;
  if (op == "DoesNotExist") return value == nullptr;
  if ((op == "Gt" || op == "Lt") && value != nullptr && values.size() == 1) {
    auto a = number(*value), b = number(values[0]);
    if (!a || !b) return false;
    return op == "Gt" ? *a > *b : *a < *b;
  }
  return false;
}

}  // namespace

bool NodeSelectorAdmits(const Json* selector, const Json& node) {
  if (selector == nullptr || !selector->is_object()) return true;
  const Json* terms = api::Field(*selector, "nodeSelectorTerms");
  if (terms == nullptr || !terms->is_array()) return true;
  std::map<std::string, std::string> labels = api::Labels(node);
  std::string name = api::Name(node);
  for (const Json& term : *terms) {
    bool any = false, ok = true;
    if (const Json* e = api::Field(term, "matchExpressions");
        e != nullptr && e->is_array()) {
      for (const Json& req : *e) {
        any = true;
        auto it = labels.find(api::GetString(req, {"key"}));
        ok = ok &&
             MatchRequirement(req, it == labels.end() ? nullptr : &it->second);
      }
    }
    if (const Json* f = api::Field(term, "matchFields");
        f != nullptr && f->is_array()) {
      for (const Json& req : *f) {
        any = true;
        ok = ok && api::GetString(req, {"key"}) == "metadata.name" &&
             MatchRequirement(req, &name);
      }
    }
    if (any && ok) return true;  // an empty term matches nothing
  }
  return false;
}

PersistentVolumeController::PersistentVolumeController(
    client::Interface& client, client::SharedInformerFactory& informers,
    PersistentVolumeControllerOptions options)
    : client_(client),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : RealClock()),
      claims_(informers.For(kClaims)),
      volumes_(informers.For(kVolumes)),
      classes_(informers.For(kClasses)),
      nodes_(informers.For(kNodes)),
      pods_(informers.For(kPods)),
      queue_(std::make_unique<client::WorkQueue>("persistentvolume", clock_)) {
  client::EventHandlers claims;
  claims.on_add = [this](const Json& c) {
    queue_->Add("claim:" + client::KeyOf(c));
  };
  claims.on_update = [this](const Json&, const Json& c) {
    queue_->Add("claim:" + client::KeyOf(c));
  };
  claims.on_delete = [this](const Json& c) {
    std::string pv = api::GetString(c, {"spec", "volumeName"});
    if (!pv.empty()) queue_->Add("volume:" + pv);
  };
  claims_.AddEventHandler(std::move(claims));
  client::EventHandlers volumes;
  auto on_volume = [this](const Json& pv) {
    queue_->Add("volume:" + api::Name(pv));
    if (HasClaimRef(pv)) {
      queue_->Add(
          "claim:" + api::GetString(pv, {"spec", "claimRef", "namespace"}) +
          "/" + api::GetString(pv, {"spec", "claimRef", "name"}));
    } else {
      EnqueuePendingClaims();  // it may suit one of them
    }
  };
  volumes.on_add = on_volume;
  volumes.on_update = [on_volume](const Json&, const Json& pv) {
    on_volume(pv);
  };
  volumes.on_delete = [this](const Json& pv) {
    if (HasClaimRef(pv))
      queue_->Add(
          "claim:" + api::GetString(pv, {"spec", "claimRef", "namespace"}) +
          "/" + api::GetString(pv, {"spec", "claimRef", "name"}));
  };
  volumes_.AddEventHandler(std::move(volumes));
  client::EventHandlers classes;
  classes.on_add = [this](const Json&) { EnqueuePendingClaims(); };
  classes.on_update = [this](const Json&, const Json&) {
    EnqueuePendingClaims();
  };
  classes_.AddEventHandler(std::move(classes));
  // A pod that goes or finishes may free a claim being deleted.
  client::EventHandlers pods;
  auto on_pod = [this](const Json& pod) {
    for (const std::string& c : ClaimsOf(pod))
      queue_->Add("claim:" + api::Namespace(pod) + "/" + c);
  };
  pods.on_update = [on_pod](const Json& old, const Json& pod) {
    if (PodFinished(pod) && !PodFinished(old)) on_pod(pod);
  };
  pods.on_delete = on_pod;
  pods_.AddEventHandler(std::move(pods));
}

StatusOr<bool> PersistentVolumeController::ClaimInUse(const std::string& ns,
                                                      const std::string& name) {
  auto uses = [&](const Json& pod) {
    if (PodFinished(pod)) return false;
    for (const std::string& c : ClaimsOf(pod))
      if (c == name) return true;
    return false;
  };
  for (const auto& pod : pods_.ListNamespace(ns))
    if (uses(*pod)) return true;
  // The cache may not have a pod just made: ask the server.
  auto live = client_.List(kPods.In(ns), {});
  if (!live.ok()) return live.status();
  for (const Json& pod : (*live)["items"])
    if (uses(pod)) return true;
  return false;
}

PersistentVolumeController::~PersistentVolumeController() { Stop(); }

Status PersistentVolumeController::Start() {
  if (started_) return FailedPreconditionError("PV controller started");
  started_ = true;
  worker_ = std::thread([this] { Worker(); });
  return Status::Ok();
}

void PersistentVolumeController::Stop() {
  queue_->ShutDown();
  if (worker_.joinable()) worker_.join();
}

void PersistentVolumeController::EnqueuePendingClaims() {
  for (const auto& c : claims_.List()) {
    if (api::GetString(*c, {"spec", "volumeName"}).empty())
      queue_->Add("claim:" + client::KeyOf(*c));
  }
}

void PersistentVolumeController::Worker() {
  while (!queue_->ShuttingDown()) {
    if (claims_.WaitForSync(std::chrono::milliseconds(100)) &&
        volumes_.WaitForSync(std::chrono::milliseconds(100)) &&
        classes_.WaitForSync(std::chrono::milliseconds(100)) &&
        nodes_.WaitForSync(std::chrono::milliseconds(100)) &&
        pods_.WaitForSync(std::chrono::milliseconds(100)))
      break;
  }
  while (std::optional<std::string> key = queue_->Get()) {
    Status s = Sync(*key);
    if (s.ok()) {
      queue_->Forget(*key);
    } else {
      if (s.code() == Code::kConflict) {
        log::Debug(kComponent, "conflict, retrying")("key", *key);
      } else {
        log::Warn(kComponent, "sync failed")("key", *key)("error",
                                                          s.ToString());
      }
      queue_->AddRateLimited(*key);
    }
    queue_->Done(*key);
  }
}

Status PersistentVolumeController::Sync(const std::string& key) {
  if (key.rfind("claim:", 0) == 0) return SyncClaim(key.substr(6));
  if (key.rfind("volume:", 0) == 0) return SyncVolume(key.substr(7));
  return Status::Ok();
}

std::shared_ptr<const Json> PersistentVolumeController::DefaultClass() {
  std::shared_ptr<const Json> best;
  for (const auto& sc : classes_.List()) {
    if (Annotation(*sc, kDefaultClass) != "true" &&
        Annotation(*sc, kBetaDefaultClass) != "true")
      continue;
    // Several defaults: the newest wins, as in Kubernetes.
    if (best == nullptr ||
        api::GetString(*sc, {"metadata", "creationTimestamp"}) >
            api::GetString(*best, {"metadata", "creationTimestamp"}))
      best = sc;
  }
  return best;
}

void PersistentVolumeController::EventOnce(const Json& obj,
                                           const std::string& type,
                                           const std::string& reason,
                                           const std::string& message) {
  {
    std::lock_guard<std::mutex> lock(events_mu_);
    std::string k = api::GetString(obj, {"metadata", "uid"}) + "\n" + reason +
                    "\n" + message;
    if (!events_sent_.insert(k).second) return;
  }
  RecordEvent(client_, clock_, obj, kComponent, type, reason, message);
}

std::shared_ptr<const Json> PersistentVolumeController::FindVolume(
    const Json& claim, const std::string& node) {
  std::string cls = ClaimClass(claim).value_or("");
  std::vector<std::string> modes =
      Strings(api::FieldPath(claim, {"spec", "accessModes"}));
  std::optional<api::Quantity> want =
      QuantityAt(claim, {"spec", "resources", "requests", "storage"});
  std::optional<api::LabelSelector> selector;
  if (const Json* s = api::FieldPath(claim, {"spec", "selector"});
      s != nullptr && s->is_object()) {
    auto parsed = api::LabelSelector::FromJson(*s);
    if (!parsed.ok()) return nullptr;
    selector = *parsed;
  }
  std::shared_ptr<const Json> node_obj;
  if (!node.empty()) {
    node_obj = nodes_.Get(node);
    if (node_obj == nullptr)
      node_obj =
          std::make_shared<const Json>(Json{{"metadata", {{"name", node}}}});
  }
  std::shared_ptr<const Json> best;
  std::optional<api::Quantity> best_size;
  for (const auto& pv : volumes_.List()) {
    if (IsDeleting(*pv)) continue;
    bool prebound = RefersTo(*pv, claim);
    if (HasClaimRef(*pv) && !prebound) continue;
    std::string phase = api::GetString(*pv, {"status", "phase"});
    if (phase == "Released" || phase == "Failed") continue;
    if (VolumeClass(*pv) != cls || VolumeMode(*pv) != VolumeMode(claim))
      continue;
    std::vector<std::string> has =
        Strings(api::FieldPath(*pv, {"spec", "accessModes"}));
    bool modes_ok = true;
    for (const std::string& m : modes)
      modes_ok = modes_ok && std::find(has.begin(), has.end(), m) != has.end();
    if (!modes_ok) continue;
    std::optional<api::Quantity> size =
        QuantityAt(*pv, {"spec", "capacity", "storage"});
    if (!size || (want && size->Compare(*want) < 0)) continue;
    if (selector && !selector->MatchesObject(*pv)) continue;
    if (node_obj != nullptr &&
        !NodeSelectorAdmits(
            api::FieldPath(*pv, {"spec", "nodeAffinity", "required"}),
            *node_obj))
      continue;
    if (prebound) return pv;
    if (best == nullptr || size->Compare(*best_size) < 0 ||
        (size->Compare(*best_size) == 0 && api::Name(*pv) < api::Name(*best))) {
      best = pv;
      best_size = size;
    }
  }
  return best;
}

StatusOr<Json> PersistentVolumeController::Provision(const Json& claim,
                                                     const Json& sc,
                                                     const std::string& node) {
  std::string uid = api::GetString(claim, {"metadata", "uid"});
  std::string ns = api::Namespace(claim);
  std::string name = api::Name(claim);
  std::string pv_name = "pvc-" + uid;
  std::shared_ptr<const Json> n = nodes_.Get(node);
  std::string hostname = node;
  if (n != nullptr) {
    std::string h =
        api::GetString(*n, {"metadata", "labels", "kubernetes.io/hostname"});
    if (!h.empty()) hostname = h;
  }
  Json pv = {
      {"apiVersion", "v1"},
      {"kind", "PersistentVolume"},
      {"metadata",
       {{"name", pv_name},
        {"labels", {{kLocalPathNodeLabel, node}}},
        {"annotations", {{kProvisionedBy, kLocalPathProvisioner}}}}},
      {"spec",
       {{"capacity",
         {{"storage", api::GetString(claim, {"spec", "resources", "requests",
                                             "storage"})}}},
        {"accessModes", api::FieldPath(claim, {"spec", "accessModes"})
                            ? *api::FieldPath(claim, {"spec", "accessModes"})
                            : Json::array({"ReadWriteOnce"})},
        {"persistentVolumeReclaimPolicy",
         api::GetString(sc, {"reclaimPolicy"}, "Delete")},
        {"storageClassName", api::Name(sc)},
        {"volumeMode", VolumeMode(claim)},
        {"hostPath",
         {{"path",
           options_.storage_dir + "/" + pv_name + "_" + ns + "_" + name},
          {"type", "DirectoryOrCreate"}}},
        {"nodeAffinity",
         {{"required",
           {{"nodeSelectorTerms",
             Json::array({{{"matchExpressions",
                            Json::array({{{"key", "kubernetes.io/hostname"},
                                          {"operator", "In"},
                                          {"values", {hostname}}}})}}})}}}}},
        {"claimRef",
         {{"kind", "PersistentVolumeClaim"},
          {"apiVersion", "v1"},
          {"namespace", ns},
          {"name", name},
          {"uid", uid}}}}}};
  if (const Json* mo = api::Field(sc, "mountOptions");
      mo != nullptr && mo->is_array())
    pv["spec"]["mountOptions"] = *mo;
  auto created = client_.Create(kVolumes, pv, {});
  if (created.ok()) {
    log::Info(kComponent, "provisioned local-path volume")("pv", pv_name)(
        "claim", ns + "/" + name)("node", node);
    EventOnce(claim, "Normal", "ProvisioningSucceeded",
              "Successfully provisioned volume " + pv_name);
    return created;
  }
  if (created.status().code() == Code::kAlreadyExists)
    return client_.Get(kVolumes, pv_name, {});
  EventOnce(claim, "Warning", "ProvisioningFailed",
            "failed to provision volume with StorageClass \"" + api::Name(sc) +
                "\": " + created.status().message());
  return created.status();
}

Status PersistentVolumeController::SetVolumePhase(const Json& pv,
                                                  const std::string& phase,
                                                  const std::string& message) {
  if (api::GetString(pv, {"status", "phase"}) == phase &&
      api::GetString(pv, {"status", "message"}) == message)
    return Status::Ok();
  Json next = pv;
  next["status"]["phase"] = phase;
  if (message.empty())
    next["status"].erase("message");
  else
    next["status"]["message"] = message;
  next["status"]["lastPhaseTransitionTime"] = api::FormatTime(clock_.Now());
  auto r = client_.Update(kVolumes, next, {.subresource = "status"});
  if (r.ok() || r.status().code() == Code::kNotFound) return Status::Ok();
  return r.status();
}

Status PersistentVolumeController::SetClaimPhase(const Json& claim,
                                                 const std::string& phase) {
  if (api::GetString(claim, {"status", "phase"}) == phase) return Status::Ok();
  Json next = claim;
  next["status"]["phase"] = phase;
  auto r = client_.Update(kClaims.In(api::Namespace(claim)), next,
                          {.subresource = "status"});
  if (r.ok() || r.status().code() == Code::kNotFound) return Status::Ok();
  return r.status();
}

Status PersistentVolumeController::Bind(Json pv, Json claim) {
  std::string ns = api::Namespace(claim);
  std::string claim_uid = api::GetString(claim, {"metadata", "uid"});
  // 1. The volume points at the claim (uid included).
  const Json* ref = api::FieldPath(pv, {"spec", "claimRef"});
  if (ref == nullptr || !ref->is_object() ||
      api::GetString(*ref, {"uid"}) != claim_uid ||
      api::GetString(*ref, {"namespace"}) != ns ||
      api::GetString(*ref, {"name"}) != api::Name(claim)) {
    if (!HasClaimRef(pv))
      pv["metadata"]["annotations"][kBoundByController] = "yes";
    pv["spec"]["claimRef"] = {
        {"kind", "PersistentVolumeClaim"},
        {"apiVersion", "v1"},
        {"namespace", ns},
        {"name", api::Name(claim)},
        {"uid", claim_uid},
        {"resourceVersion",
         api::GetString(claim, {"metadata", "resourceVersion"})}};
    auto r = client_.Update(kVolumes, pv, {});
    if (!r.ok()) return r.status();
    pv = *r;
  }
  KITE_RETURN_IF_ERROR(SetVolumePhase(pv, "Bound"));
  // 2. The claim points at the volume.
  std::string pv_name = api::Name(pv);
  if (api::GetString(claim, {"spec", "volumeName"}) != pv_name ||
      Annotation(claim, kBindCompleted) != "yes") {
    bool by_us = api::GetString(claim, {"spec", "volumeName"}).empty();
    claim["spec"]["volumeName"] = pv_name;
    claim["metadata"]["annotations"][kBindCompleted] = "yes";
    if (by_us) claim["metadata"]["annotations"][kBoundByController] = "yes";
    auto r = client_.Update(kClaims.In(ns), claim, {});
    if (!r.ok()) return r.status();
    claim = *r;
  }
  Json status = claim.value("status", Json::object());
  Json want = status;
  want["phase"] = "Bound";
  if (const Json* m = api::FieldPath(pv, {"spec", "accessModes"}))
    want["accessModes"] = *m;
  if (const Json* c = api::FieldPath(pv, {"spec", "capacity"}))
    want["capacity"] = *c;
  if (want != status) {
    claim["status"] = want;
    auto r = client_.Update(kClaims.In(ns), claim, {.subresource = "status"});
    if (!r.ok() && r.status().code() != Code::kNotFound) return r.status();
    log::Info(kComponent, "bound")("claim", ns + "/" + api::Name(claim))(
        "pv", pv_name);
  }
  return Status::Ok();
}

Status PersistentVolumeController::SyncClaim(const std::string& key) {
  std::shared_ptr<const Json> cached = claims_.Get(key);
  if (cached == nullptr) return Status::Ok();
  const Json& claim = *cached;
  auto [ns, name] = client::SplitKey(key);
  if (IsDeleting(claim)) {
    // pvc-protection: let it go once no running pod uses it.
    if (!HasFinalizer(claim, kPvcProtection)) return Status::Ok();
    KITE_ASSIGN_OR_RETURN(bool in_use, ClaimInUse(ns, name));
    if (in_use) return Status::Ok();  // a pod's end enqueues it again
    Json next = claim;
    Json kept = Json::array();
    for (const Json& f : next["metadata"]["finalizers"])
      if (f != kPvcProtection) kept.push_back(f);
    next["metadata"]["finalizers"] = kept;
    auto r = client_.Update(kClaims.In(ns), next, {});
    if (r.ok() || r.status().code() == Code::kNotFound) return Status::Ok();
    return r.status();
  }
  if (!HasFinalizer(claim, kPvcProtection)) {
    Json next = claim;
    if (!next["metadata"].contains("finalizers") ||
        !next["metadata"]["finalizers"].is_array())
      next["metadata"]["finalizers"] = Json::array();
    next["metadata"]["finalizers"].push_back(kPvcProtection);
    auto r = client_.Update(kClaims.In(ns), next, {});
    if (r.ok() || r.status().code() == Code::kNotFound) return Status::Ok();
    return r.status();
  }
  std::optional<std::string> cls = ClaimClass(claim);
  std::string volume_name = api::GetString(claim, {"spec", "volumeName"});
  if (!cls && volume_name.empty()) {
    std::shared_ptr<const Json> def = DefaultClass();
    if (def != nullptr) {
      Json next = claim;
      next["spec"]["storageClassName"] = api::Name(*def);
      auto r = client_.Update(kClaims.In(ns), next, {});
      if (r.ok() || r.status().code() == Code::kNotFound) return Status::Ok();
      return r.status();
    }
  }
  if (!volume_name.empty()) {
    std::shared_ptr<const Json> pv = volumes_.Get(volume_name);
    if (pv == nullptr) {
      // Bound before and its volume is gone: Lost.
      if (Annotation(claim, kBindCompleted) == "yes" ||
          api::GetString(claim, {"status", "phase"}) == "Bound") {
        EventOnce(claim, "Warning", "ClaimLost",
                  "Bound claim has lost its PersistentVolume. Data on the "
                  "volume is lost!");
        return SetClaimPhase(claim, "Lost");
      }
      return SetClaimPhase(claim, "Pending");
    }
    if (HasClaimRef(*pv) && !RefersTo(*pv, claim)) {
      EventOnce(
          claim, "Warning", "FailedBinding",
          "volume \"" + volume_name + "\" already bound to a different claim.");
      return SetClaimPhase(claim, "Pending");
    }
    return Bind(*pv, claim);
  }
  std::shared_ptr<const Json> sc;
  if (cls && !cls->empty()) sc = classes_.Get(*cls);
  bool wait_for_consumer =
      sc != nullptr &&
      api::GetString(*sc, {"volumeBindingMode"}) == "WaitForFirstConsumer";
  std::string node = Annotation(claim, kSelectedNodeAnnotation);
  if (wait_for_consumer && node.empty()) {
    EventOnce(claim, "Normal", "WaitForFirstConsumer",
              "waiting for first consumer to be created before binding");
    return SetClaimPhase(claim, "Pending");
  }
  if (std::shared_ptr<const Json> pv =
          FindVolume(claim, wait_for_consumer ? node : "")) {
    return Bind(*pv, claim);
  }
  if (sc == nullptr) {
    EventOnce(claim, "Normal", "FailedBinding",
              cls && !cls->empty()
                  ? "storageclass.storage.k8s.io \"" + *cls + "\" not found"
                  : "no persistent volumes available for this claim and no "
                    "storage class is set");
    return SetClaimPhase(claim, "Pending");
  }
  std::string provisioner = api::GetString(*sc, {"provisioner"});
  if (provisioner != kLocalPathProvisioner) {
    EventOnce(claim, "Normal", "ExternalProvisioning",
              "Waiting for a volume to be created either by the external "
              "provisioner '" +
                  provisioner +
                  "' or manually by the system administrator. If volume "
                  "creation is delayed, please verify that the provisioner is "
                  "running and correctly registered.");
    return SetClaimPhase(claim, "Pending");
  }
  if (node.empty()) {
    EventOnce(claim, "Warning", "ProvisioningFailed",
              "the local-path provisioner needs a node: use "
              "volumeBindingMode WaitForFirstConsumer");
    return SetClaimPhase(claim, "Pending");
  }
  if (api::Has(claim, {"spec", "selector"})) {
    EventOnce(claim, "Warning", "ProvisioningFailed",
              "claim Selector is not supported");
    return SetClaimPhase(claim, "Pending");
  }
  if (options_.storage_dir.empty()) {
    return FailedPreconditionError("local-path provisioning: no storage_dir");
  }
  if (Annotation(claim, kStorageProvisioner) != provisioner) {
    Json next = claim;
    next["metadata"]["annotations"][kStorageProvisioner] = provisioner;
    next["metadata"]["annotations"][kBetaStorageProvisioner] = provisioner;
    auto r = client_.Update(kClaims.In(ns), next, {});
    if (!r.ok()) return r.status();
    KITE_ASSIGN_OR_RETURN(Json pv, Provision(*r, *sc, node));
    return Bind(std::move(pv), *r);
  }
  KITE_ASSIGN_OR_RETURN(Json pv, Provision(claim, *sc, node));
  return Bind(std::move(pv), claim);
}

Status PersistentVolumeController::SyncVolume(const std::string& name) {
  std::shared_ptr<const Json> cached = volumes_.Get(name);
  if (cached == nullptr || IsDeleting(*cached)) return Status::Ok();
  const Json& pv = *cached;
  if (!HasClaimRef(pv)) return SetVolumePhase(pv, "Available");
  std::string ns = api::GetString(pv, {"spec", "claimRef", "namespace"});
  std::string claim_name = api::GetString(pv, {"spec", "claimRef", "name"});
  std::string uid = api::GetString(pv, {"spec", "claimRef", "uid"});
  std::shared_ptr<const Json> claim = claims_.Get(ns, claim_name);
  if (claim == nullptr && !uid.empty()) {
    // The cache may lag behind a claim just made: ask the server.
    auto live = client_.Get(kClaims.In(ns), claim_name, {});
    if (live.ok()) {
      claim = std::make_shared<const Json>(std::move(*live));
    } else if (live.status().code() != Code::kNotFound) {
      return live.status();
    }
  }
  if (claim != nullptr && !uid.empty() &&
      api::GetString(*claim, {"metadata", "uid"}) != uid)
    claim = nullptr;  // a new claim of the same name
  if (claim == nullptr) {
    if (uid.empty()) return SetVolumePhase(pv, "Available");  // pre-bound
    std::string policy =
        api::GetString(pv, {"spec", "persistentVolumeReclaimPolicy"}, "Retain");
    if (policy == "Retain") return SetVolumePhase(pv, "Released");
    if (policy == "Delete") {
      if (Annotation(pv, kProvisionedBy) != kLocalPathProvisioner) {
        EventOnce(pv, "Warning", "VolumeFailedDelete",
                  "error getting deleter volume plugin for volume \"" + name +
                      "\": no deleter for this volume");
        return SetVolumePhase(pv, "Failed", "no deleter for this volume");
      }
      KITE_RETURN_IF_ERROR(SetVolumePhase(pv, "Released"));
      client::DeleteOptions d;
      d.precondition_uid = api::GetString(pv, {"metadata", "uid"});
      auto r = client_.Delete(kVolumes, name, d);
      if (r.ok() || r.status().code() == Code::kNotFound) {
        log::Info(kComponent, "deleted released volume")("pv", name);
        return Status::Ok();
      }
      return r.status();
    }
    EventOnce(pv, "Warning", "VolumeFailedRecycle",
              "Recycle is not supported by kite");
    return SetVolumePhase(pv, "Failed", "Recycle is not supported");
  }
  std::string claim_volume = api::GetString(*claim, {"spec", "volumeName"});
  if (claim_volume == name) {
    queue_->Add("claim:" + ns + "/" + claim_name);  // finish its side too
    return SetVolumePhase(pv, "Bound");
  }
  if (!claim_volume.empty() && Annotation(pv, kBoundByController) == "yes") {
    // We bound it, but the claim went for another volume: release ours.
    Json next = pv;
    next["spec"].erase("claimRef");
    auto r = client_.Update(kVolumes, next, {});
    if (!r.ok() && r.status().code() != Code::kNotFound) return r.status();
    return Status::Ok();
  }
  // The claim has not taken it yet: its sync binds (the phase stays, so a
  // volume just bound does not flap while the cache catches up).
  queue_->Add("claim:" + ns + "/" + claim_name);
  return Status::Ok();
}

}  // namespace kite::controllers

#include "server/controllers/deployment_controller.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "api/selectors.h"
#include "common/log.h"
#include "server/controllers/replicaset_controller.h"

namespace kite::controllers {
namespace {

constexpr char kComponent[] = "deployment-controller";
constexpr char kRevisionHistory[] = "deployment.kubernetes.io/revision-history";
constexpr char kDesiredReplicas[] = "deployment.kubernetes.io/desired-replicas";
constexpr char kMaxReplicas[] = "deployment.kubernetes.io/max-replicas";

// Deployment annotations that do not pass through to ReplicaSets.
bool SkipAnnotation(const std::string& k) {
  return k == "kubectl.kubernetes.io/last-applied-configuration" ||
         k == DeploymentController::kRevisionAnnotation ||
         k == kRevisionHistory || k == kDesiredReplicas || k == kMaxReplicas ||
         k == "deprecated.deployment.rollback.to";
}

int64_t Revision(const Json& rs) {
  std::string v = api::GetString(
      rs,
      {"metadata", "annotations", DeploymentController::kRevisionAnnotation});
  if (v.empty()) return 0;
  try {
    return std::stoll(v);
  } catch (...) {
    return 0;
  }
}

int64_t SpecReplicas(const Json& o) {
  return api::GetInt(o, {"spec", "replicas"}, 1);
}
int64_t StatusInt(const Json& o, const char* f) {
  return api::GetInt(o, {"status", f});
}

Json TemplateWithoutHash(const Json& tmpl) {
  Json t = tmpl;
  if (t.contains("metadata") && t["metadata"].is_object() &&
      t["metadata"].contains("labels") && t["metadata"]["labels"].is_object()) {
    t["metadata"]["labels"].erase(DeploymentController::kHashLabel);
    if (t["metadata"]["labels"].empty()) t["metadata"].erase("labels");
  }
  return t;
}

bool EqualIgnoreHash(const Json& a, const Json& b) {
  return TemplateWithoutHash(a) == TemplateWithoutHash(b);
}

// intstr: an int, or "N%" of `total` rounded up or down.
int64_t Resolve(const Json* v, int64_t total, bool round_up, int64_t def) {
  if (v == nullptr || v->is_null()) return def;
  if (v->is_number_integer()) return v->get<int64_t>();
  if (!v->is_string()) return def;
  std::string s = v->get<std::string>();
  if (s.empty() || s.back() != '%') {
    try {
      return std::stoll(s);
    } catch (...) {
      return def;
    }
  }
  double pct = 0;
  try {
    pct = std::stod(s.substr(0, s.size() - 1));
  } catch (...) {
    return def;
  }
  double x = pct * static_cast<double>(total) / 100.0;
  return static_cast<int64_t>(round_up ? std::ceil(x) : std::floor(x));
}

bool Rolling(const Json& d) {
  return api::GetString(d, {"spec", "strategy", "type"}, "RollingUpdate") ==
         "RollingUpdate";
}

int64_t MaxSurge(const Json& d) {
  if (!Rolling(d)) return 0;
  int64_t want = SpecReplicas(d);
  return Resolve(
      api::FieldPath(d, {"spec", "strategy", "rollingUpdate", "maxSurge"}),
      want, true, (want + 3) / 4);
}

int64_t MaxUnavailable(const Json& d) {
  int64_t want = SpecReplicas(d);
  if (!Rolling(d) || want == 0) return 0;
  int64_t mu = Resolve(api::FieldPath(d, {"spec", "strategy", "rollingUpdate",
                                          "maxUnavailable"}),
                       want, false, want / 4);
  if (mu == 0 && MaxSurge(d) == 0) mu = 1;
  return std::min(mu, want);
}

bool OlderFirst(const Json& a, const Json& b) {
  std::string ca = api::GetString(a, {"metadata", "creationTimestamp"});
  std::string cb = api::GetString(b, {"metadata", "creationTimestamp"});
  if (ca != cb) return ca < cb;
  return api::Name(a) < api::Name(b);
}

}  // namespace

struct DeploymentController::Rollout {
  std::string key;
  Json d;                // the Deployment as cached
  std::vector<Json> rs;  // the ReplicaSets it controls
  int new_idx = -1;      // index of the new one in rs, or -1
  bool created_new = false;

  Json* New() { return new_idx >= 0 ? &rs[new_idx] : nullptr; }
  std::vector<Json*> Old() {
    std::vector<Json*> out;
    for (size_t i = 0; i < rs.size(); ++i) {
      if (static_cast<int>(i) != new_idx) out.push_back(&rs[i]);
    }
    std::sort(out.begin(), out.end(),
              [](const Json* a, const Json* b) { return OlderFirst(*a, *b); });
    return out;
  }
  int64_t SumSpec() const {
    int64_t n = 0;
    for (const Json& r : rs) n += SpecReplicas(r);
    return n;
  }
  int64_t SumStatus(const char* f) const {
    int64_t n = 0;
    for (const Json& r : rs) n += StatusInt(r, f);
    return n;
  }
};

DeploymentController::DeploymentController(
    client::Interface& client, client::SharedInformerFactory& informers,
    DeploymentControllerOptions options)
    : client_(client),
      deployments_(informers.For(kDeploymentsRef)),
      sets_(informers.For(kReplicaSetsRef)),
      pods_(informers.For(kPodsRef)),
      options_(options),
      clock_(options.clock != nullptr ? *options.clock : RealClock()),
      queue_(std::make_unique<client::WorkQueue>("deployment", clock_)) {
  client::EventHandlers d;
  d.on_add = [this](const Json& o) { Enqueue(client::KeyOf(o)); };
  d.on_update = [this](const Json&, const Json& o) {
    Enqueue(client::KeyOf(o));
  };
  d.on_delete = [this](const Json& o) { Enqueue(client::KeyOf(o)); };
  deployments_.AddEventHandler(std::move(d));
  client::EventHandlers rs;
  rs.on_add = [this](const Json& o) { OnReplicaSet(o); };
  rs.on_update = [this](const Json& old, const Json& o) {
    if (ControllerRef(old) != nullptr &&
        (ControllerRef(o) == nullptr ||
         *ControllerRef(old) != *ControllerRef(o))) {
      OnReplicaSet(old);
    }
    OnReplicaSet(o);
  };
  rs.on_delete = [this](const Json& o) { OnReplicaSet(o); };
  sets_.AddEventHandler(std::move(rs));
  client::EventHandlers pods;
  pods.on_delete = [this](const Json& p) { OnPodDelete(p); };
  pods_.AddEventHandler(std::move(pods));
}

DeploymentController::~DeploymentController() { Stop(); }

Status DeploymentController::Start() {
  if (started_) return FailedPreconditionError("deployment controller started");
  started_ = true;
  for (int i = 0; i < std::max(1, options_.workers); ++i) {
    workers_.emplace_back([this] { Worker(); });
  }
  return Status::Ok();
}

void DeploymentController::Stop() {
  queue_->ShutDown();
  for (std::thread& t : workers_) {
    if (t.joinable()) t.join();
  }
  workers_.clear();
}

void DeploymentController::OnReplicaSet(const Json& rs) {
  const Json* ref = ControllerRef(rs);
  std::string ns = api::Namespace(rs);
  if (ref != nullptr) {
    if (api::GetString(*ref, {"kind"}) == "Deployment") {
      Enqueue(ns + "/" + api::GetString(*ref, {"name"}));
    }
    return;
  }
  // An orphan: the deployments that may adopt it.
  for (const auto& d : deployments_.ListNamespace(ns)) {
    const Json* sel = api::FieldPath(*d, {"spec", "selector"});
    if (sel == nullptr) continue;
    auto s = api::LabelSelector::FromJson(*sel);
    if (s.ok() && !s->Empty() && s->MatchesObject(rs)) {
      Enqueue(client::KeyOf(*d));
    }
  }
}

void DeploymentController::OnPodDelete(const Json& pod) {
  // Recreate waits for the old pods to be gone.
  const Json* ref = ControllerRef(pod);
  if (ref == nullptr || api::GetString(*ref, {"kind"}) != "ReplicaSet") return;
  auto rs = sets_.Get(api::Namespace(pod), api::GetString(*ref, {"name"}));
  if (rs == nullptr) return;
  const Json* dref = ControllerRef(*rs);
  if (dref != nullptr && api::GetString(*dref, {"kind"}) == "Deployment") {
    Enqueue(api::Namespace(pod) + "/" + api::GetString(*dref, {"name"}));
  }
}

void DeploymentController::Worker() {
  while (!queue_->ShuttingDown() &&
         !(deployments_.WaitForSync(std::chrono::milliseconds(200)) &&
           sets_.WaitForSync(std::chrono::milliseconds(200)) &&
           pods_.WaitForSync(std::chrono::milliseconds(200)))) {
  }
  while (std::optional<std::string> key = queue_->Get()) {
    Status s = Sync(*key);
    if (s.ok()) {
      queue_->Forget(*key);
    } else {
      log::Debug(kComponent, "sync failed")("deployment", *key)("error",
                                                                s.ToString());
      queue_->AddRateLimited(*key);
    }
    queue_->Done(*key);
  }
}

Status DeploymentController::Sync(const std::string& key) {
  std::shared_ptr<const Json> cached = deployments_.Get(key);
  if (cached == nullptr) return Status::Ok();
  Rollout r;
  r.key = key;
  r.d = *cached;
  const Json& d = r.d;
  const Json* sel = api::FieldPath(d, {"spec", "selector"});
  auto selector =
      sel != nullptr
          ? api::LabelSelector::FromJson(*sel)
          : StatusOr<api::LabelSelector>(api::LabelSelector::Nothing());
  if (!selector.ok() || selector->Empty() || selector->IsNothing()) {
    RecordEvent(client_, clock_, d, kComponent, "Warning", "SelectingAll",
                "This deployment is selecting all pods. A non-empty selector "
                "is required.");
    return Status::Ok();
  }
  r.rs = ClaimObjects(client_, kReplicaSetsRef, d, "apps/v1", "Deployment",
                      sets_.ListNamespace(api::Namespace(d)));
  if (api::Has(d, {"metadata", "deletionTimestamp"})) return SyncStatus(r);
  if (api::GetBool(d, {"spec", "paused"})) {
    KITE_RETURN_IF_ERROR(FindOrCreateNew(r, false));
    KITE_RETURN_IF_ERROR(ScaleOnly(r));
    return SyncStatus(r);
  }
  if (Rolling(d)) return RolloutRolling(r);
  return RolloutRecreate(r);
}

Status DeploymentController::FindOrCreateNew(Rollout& r, bool create) {
  const Json& d = r.d;
  const Json* tmpl = api::FieldPath(d, {"spec", "template"});
  if (tmpl == nullptr) return InvalidArgumentError("no pod template");
  // The new ReplicaSet: same template; the oldest when several match.
  r.new_idx = -1;
  for (size_t i = 0; i < r.rs.size(); ++i) {
    const Json* t = api::FieldPath(r.rs[i], {"spec", "template"});
    if (t == nullptr || !EqualIgnoreHash(*t, *tmpl)) continue;
    if (r.new_idx < 0 || OlderFirst(r.rs[i], r.rs[r.new_idx])) {
      r.new_idx = static_cast<int>(i);
    }
  }
  int64_t max_old = 0;
  for (size_t i = 0; i < r.rs.size(); ++i) {
    if (static_cast<int>(i) != r.new_idx) {
      max_old = std::max(max_old, Revision(r.rs[i]));
    }
  }
  const std::string ns = api::Namespace(d);
  std::map<std::string, std::string> pass;  // annotations passed through
  for (const auto& [k, v] :
       api::StringMap(api::FieldPath(d, {"metadata", "annotations"}))) {
    if (!SkipAnnotation(k)) pass[k] = v;
  }
  std::string revision;
  if (Json* n = r.New(); n != nullptr) {
    int64_t cur = Revision(*n);
    Json ann = Json::object();
    if (cur <= max_old) {
      revision = std::to_string(max_old + 1);
      ann[kRevisionAnnotation] = revision;
      if (cur > 0) {
        std::string hist =
            api::GetString(*n, {"metadata", "annotations", kRevisionHistory});
        ann[kRevisionHistory] = hist.empty() ? std::to_string(cur)
                                             : hist + "," + std::to_string(cur);
      }
    } else {
      revision = std::to_string(cur);
    }
    std::map<std::string, std::string> have =
        api::StringMap(api::FieldPath(*n, {"metadata", "annotations"}));
    for (const auto& [k, v] : pass) {
      auto it = have.find(k);
      if (it == have.end() || it->second != v) ann[k] = v;
    }
    if (!ann.empty()) {
      Json patch = {{"metadata", {{"annotations", ann}}}};
      auto p = client_.Patch(kReplicaSetsRef.In(ns), api::Name(*n),
                             client::PatchType::kMerge, patch.dump(), {});
      if (!p.ok()) return p.status();
      *n = *p;
    }
  } else if (create) {
    int64_t cc = api::GetInt(d, {"status", "collisionCount"});
    std::string hash = ShortHash(tmpl->dump() + "/" + std::to_string(cc));
    Json t = *tmpl;
    api::Ensure(api::Ensure(t, "metadata"), "labels")[kHashLabel] = hash;
    Json selector = *api::FieldPath(d, {"spec", "selector"});
    api::Ensure(selector, "matchLabels")[kHashLabel] = hash;
    int64_t want = SpecReplicas(d);
    int64_t replicas = want;
    if (Rolling(d)) {
      int64_t max_total = want + MaxSurge(d);
      int64_t current = r.SumSpec();
      replicas = std::max<int64_t>(0, std::min(want, max_total - current));
    }
    revision = std::to_string(max_old + 1);
    Json ann = Json::object();
    for (const auto& [k, v] : pass) ann[k] = v;
    ann[kRevisionAnnotation] = revision;
    ann[kDesiredReplicas] = std::to_string(want);
    ann[kMaxReplicas] = std::to_string(want + MaxSurge(d));
    Json labels = t["metadata"]["labels"];
    Json rs = {
        {"apiVersion", "apps/v1"},
        {"kind", "ReplicaSet"},
        {"metadata",
         {{"name", api::Name(d) + "-" + hash},
          {"namespace", ns},
          {"labels", labels},
          {"annotations", ann},
          {"ownerReferences",
           Json::array({MakeControllerRef(d, "apps/v1", "Deployment")})}}},
        {"spec",
         {{"replicas", replicas},
          {"minReadySeconds", api::GetInt(d, {"spec", "minReadySeconds"})},
          {"selector", selector},
          {"template", t}}}};
    auto c = client_.Create(kReplicaSetsRef.In(ns), rs, {});
    if (!c.ok() && c.status().code() == Code::kAlreadyExists) {
      auto existing = client_.Get(kReplicaSetsRef.In(ns), api::Name(rs), {});
      if (existing.ok()) {
        const Json* ref = ControllerRef(*existing);
        const Json* et = api::FieldPath(*existing, {"spec", "template"});
        if (ref != nullptr &&
            api::GetString(*ref, {"uid"}) ==
                api::GetString(d, {"metadata", "uid"}) &&
            et != nullptr && EqualIgnoreHash(*et, *tmpl)) {
          // Ours already; the cache had not seen it yet.
          r.rs.push_back(*existing);
          r.new_idx = static_cast<int>(r.rs.size()) - 1;
          return Status::Ok();
        }
      }
      // A hash collision: bump collisionCount and try another name.
      Json upd = d;
      upd["status"]["collisionCount"] = cc + 1;
      auto u = client_.Update(kDeploymentsRef.In(ns), upd,
                              {.subresource = "status"});
      if (!u.ok()) return u.status();
      return UnavailableError("replica set name collision; retrying");
    }
    if (!c.ok()) return c.status();
    r.rs.push_back(*c);
    r.new_idx = static_cast<int>(r.rs.size()) - 1;
    r.created_new = true;
    if (replicas > 0) {
      RecordEvent(client_, clock_, d, kComponent, "Normal", "ScalingReplicaSet",
                  "Scaled up replica set " + api::Name(*c) + " from 0 to " +
                      std::to_string(replicas));
    }
  } else {
    return Status::Ok();
  }
  if (api::GetString(d, {"metadata", "annotations", kRevisionAnnotation}) !=
      revision) {
    Json patch = {
        {"metadata", {{"annotations", {{kRevisionAnnotation, revision}}}}}};
    auto p = client_.Patch(kDeploymentsRef.In(ns), api::Name(d),
                           client::PatchType::kMerge, patch.dump(), {});
    if (!p.ok()) return p.status();
    // Keep our copy's status and resourceVersion in step with the store.
    r.d["metadata"] = (*p)["metadata"];
  }
  return Status::Ok();
}

StatusOr<bool> DeploymentController::ScaleReplicaSet(Rollout& r, Json& rs,
                                                     int64_t replicas) {
  int64_t cur = SpecReplicas(rs);
  std::string want = std::to_string(SpecReplicas(r.d));
  std::string max = std::to_string(SpecReplicas(r.d) + MaxSurge(r.d));
  if (cur == replicas &&
      api::GetString(rs, {"metadata", "annotations", kDesiredReplicas}) ==
          want &&
      api::GetString(rs, {"metadata", "annotations", kMaxReplicas}) == max) {
    return false;
  }
  Json patch = {
      {"metadata",
       {{"annotations", {{kDesiredReplicas, want}, {kMaxReplicas, max}}}}},
      {"spec", {{"replicas", replicas}}}};
  auto p = client_.Patch(kReplicaSetsRef.In(api::Namespace(rs)), api::Name(rs),
                         client::PatchType::kMerge, patch.dump(), {});
  if (!p.ok()) return p.status();
  rs = *p;
  if (cur != replicas) {
    RecordEvent(client_, clock_, r.d, kComponent, "Normal", "ScalingReplicaSet",
                std::string(replicas > cur ? "Scaled up" : "Scaled down") +
                    " replica set " + api::Name(rs) + " from " +
                    std::to_string(cur) + " to " + std::to_string(replicas));
  }
  return cur != replicas;
}

Status DeploymentController::RolloutRolling(Rollout& r) {
  KITE_RETURN_IF_ERROR(FindOrCreateNew(r, true));
  Json* n = r.New();
  if (n == nullptr) return SyncStatus(r);
  const int64_t want = SpecReplicas(r.d);
  // Grow (or trim) the new ReplicaSet.
  int64_t target = SpecReplicas(*n);
  if (target > want) {
    target = want;
  } else if (target < want) {
    int64_t max_total = want + MaxSurge(r.d);
    int64_t current = r.SumSpec();
    if (current < max_total) {
      target += std::min(max_total - current, want - target);
    }
  }
  KITE_ASSIGN_OR_RETURN(bool scaled_up, ScaleReplicaSet(r, *n, target));
  if (scaled_up) return SyncStatus(r);

  // Shrink the old ones within maxUnavailable.
  std::vector<Json*> old = r.Old();
  int64_t old_pods = 0;
  for (Json* o : old) old_pods += SpecReplicas(*o);
  bool scaled_down = false;
  if (old_pods > 0) {
    int64_t min_available = want - MaxUnavailable(r.d);
    int64_t new_unavailable =
        SpecReplicas(*n) - StatusInt(*n, "availableReplicas");
    int64_t max_down = r.SumSpec() - min_available - new_unavailable;
    if (max_down > 0) {
      // Unhealthy old pods go first: they count for nothing.
      int64_t cleaned = 0;
      for (Json* o : old) {
        if (cleaned >= max_down) break;
        int64_t cur = SpecReplicas(*o);
        int64_t unhealthy = cur - StatusInt(*o, "availableReplicas");
        if (cur == 0 || unhealthy <= 0) continue;
        int64_t down = std::min(max_down - cleaned, unhealthy);
        KITE_ASSIGN_OR_RETURN(bool s, ScaleReplicaSet(r, *o, cur - down));
        scaled_down |= s;
        cleaned += down;
      }
      int64_t available = r.SumStatus("availableReplicas");
      int64_t total_down =
          std::min(available - min_available, max_down - cleaned);
      for (Json* o : old) {
        if (total_down <= 0) break;
        int64_t cur = SpecReplicas(*o);
        if (cur == 0) continue;
        int64_t down = std::min(cur, total_down);
        KITE_ASSIGN_OR_RETURN(bool s, ScaleReplicaSet(r, *o, cur - down));
        scaled_down |= s;
        total_down -= down;
      }
    }
  }
  if (!scaled_down) KITE_RETURN_IF_ERROR(Cleanup(r));
  return SyncStatus(r);
}

Status DeploymentController::RolloutRecreate(Rollout& r) {
  KITE_RETURN_IF_ERROR(FindOrCreateNew(r, false));
  bool scaled = false;
  for (Json* o : r.Old()) {
    KITE_ASSIGN_OR_RETURN(bool s, ScaleReplicaSet(r, *o, 0));
    scaled |= s;
  }
  if (scaled) return SyncStatus(r);
  // Wait until no pod of an old ReplicaSet is left running.
  std::set<std::string> old_uids;
  for (Json* o : r.Old())
    old_uids.insert(api::GetString(*o, {"metadata", "uid"}));
  for (const auto& p : pods_.ListNamespace(api::Namespace(r.d))) {
    const Json* ref = ControllerRef(*p);
    if (ref == nullptr || !old_uids.count(api::GetString(*ref, {"uid"}))) {
      continue;
    }
    std::string phase = api::GetString(*p, {"status", "phase"});
    if (phase != "Succeeded" && phase != "Failed") return SyncStatus(r);
  }
  if (r.New() == nullptr) {
    KITE_RETURN_IF_ERROR(FindOrCreateNew(r, true));
  }
  if (Json* n = r.New(); n != nullptr) {
    KITE_ASSIGN_OR_RETURN(bool s, ScaleReplicaSet(r, *n, SpecReplicas(r.d)));
    if (!s) KITE_RETURN_IF_ERROR(Cleanup(r));
  }
  return SyncStatus(r);
}

Status DeploymentController::ScaleOnly(Rollout& r) {
  const int64_t want = SpecReplicas(r.d);
  std::vector<Json*> active;
  for (Json& rs : r.rs) {
    if (SpecReplicas(rs) > 0) active.push_back(&rs);
  }
  Json* n = r.New();
  if (active.empty()) {
    if (n != nullptr) return ScaleReplicaSet(r, *n, want).status();
    return Status::Ok();
  }
  if (active.size() == 1) {
    Json* only = n != nullptr ? n : active[0];
    if (only != active[0]) {
      KITE_RETURN_IF_ERROR(ScaleReplicaSet(r, *active[0], 0).status());
    }
    return ScaleReplicaSet(r, *only, want).status();
  }
  // Several active (a paused rollout): add to the newest, take from the
  // oldest, within replicas + maxSurge.
  int64_t diff = want + MaxSurge(r.d) - r.SumSpec();
  if (diff > 0) {
    Json* target = n != nullptr ? n : active.back();
    return ScaleReplicaSet(r, *target, SpecReplicas(*target) + diff).status();
  }
  std::vector<Json*> order = r.Old();
  if (n != nullptr) order.push_back(n);
  for (Json* o : order) {
    if (diff >= 0) break;
    int64_t cur = SpecReplicas(*o);
    int64_t down = std::min(cur, -diff);
    if (down == 0) continue;
    KITE_RETURN_IF_ERROR(ScaleReplicaSet(r, *o, cur - down).status());
    diff += down;
  }
  return Status::Ok();
}

Status DeploymentController::Cleanup(Rollout& r) {
  int64_t limit = api::GetInt(r.d, {"spec", "revisionHistoryLimit"}, 10);
  std::vector<Json*> idle;
  for (Json* o : r.Old()) {
    if (SpecReplicas(*o) == 0 && StatusInt(*o, "replicas") == 0 &&
        !api::Has(*o, {"metadata", "deletionTimestamp"})) {
      idle.push_back(o);
    }
  }
  if (static_cast<int64_t>(idle.size()) <= limit) return Status::Ok();
  std::sort(idle.begin(), idle.end(), [](const Json* a, const Json* b) {
    return Revision(*a) < Revision(*b);
  });
  size_t extra = idle.size() - static_cast<size_t>(limit);
  for (size_t i = 0; i < extra; ++i) {
    auto del = client_.Delete(kReplicaSetsRef.In(api::Namespace(*idle[i])),
                              api::Name(*idle[i]), {});
    if (!del.ok() && del.status().code() != Code::kNotFound) {
      return del.status();
    }
  }
  return Status::Ok();
}

Status DeploymentController::SyncStatus(Rollout& r) {
  const Json& d = r.d;
  const int64_t want = SpecReplicas(d);
  Json* n = r.New();
  const Json* old_status_ptr = api::Field(d, "status");
  const Json old_status =
      old_status_ptr != nullptr && old_status_ptr->is_object() ? *old_status_ptr
                                                               : Json::object();
  Json status = old_status;
  int64_t available = r.SumStatus("availableReplicas");
  status["observedGeneration"] = api::GetInt(d, {"metadata", "generation"});
  status["replicas"] = r.SumStatus("replicas");
  status["updatedReplicas"] = n != nullptr ? StatusInt(*n, "replicas") : 0;
  status["readyReplicas"] = r.SumStatus("readyReplicas");
  status["availableReplicas"] = available;
  status["unavailableReplicas"] = std::max<int64_t>(0, r.SumSpec() - available);
  api::Time now = clock_.Now();
  std::string ts = api::FormatTime(now);
  bool min_available = available >= want - MaxUnavailable(d);
  SetCondition(
      status,
      {{"type", "Available"},
       {"status", min_available ? "True" : "False"},
       {"lastUpdateTime", ts},
       {"lastTransitionTime", ts},
       {"reason", min_available ? "MinimumReplicasAvailable"
                                : "MinimumReplicasUnavailable"},
       {"message", min_available ? "Deployment has minimum availability."
                                 : "Deployment does not have minimum "
                                   "availability."}});
  // Progressing.
  std::string rs_name = n != nullptr ? api::Name(*n) : "";
  const Json* prog = FindCondition(d, "Progressing");
  std::string prog_reason = prog ? api::GetString(*prog, {"reason"}) : "";
  bool has_deadline = api::Has(d, {"spec", "progressDeadlineSeconds"});
  int64_t deadline = api::GetInt(d, {"spec", "progressDeadlineSeconds"}, 600);
  bool complete =
      n != nullptr && status["updatedReplicas"].get<int64_t>() == want &&
      status["replicas"].get<int64_t>() == want && available == want;
  auto set_progressing = [&](const char* st, const char* reason,
                             const std::string& message) {
    Json c = {{"type", "Progressing"}, {"status", st},
              {"lastUpdateTime", ts},  {"lastTransitionTime", ts},
              {"reason", reason},      {"message", message}};
    // SetCondition keeps an unchanged condition as is; a change keeps the
    // transition time when the status stays.
    SetCondition(status, std::move(c));
  };
  bool requeue_deadline = false;
  if (api::GetBool(d, {"spec", "paused"})) {
    if (prog_reason != "DeploymentPaused") {
      set_progressing("Unknown", "DeploymentPaused", "Deployment is paused");
    }
  } else if (prog_reason == "DeploymentPaused") {
    set_progressing("Unknown", "DeploymentResumed", "Deployment is resumed");
    requeue_deadline = true;
  } else if (complete) {
    set_progressing(
        "True", "NewReplicaSetAvailable",
        "ReplicaSet \"" + rs_name + "\" has successfully progressed.");
  } else if (has_deadline) {
    int64_t old_updated = api::GetInt(old_status, {"updatedReplicas"});
    int64_t old_old = api::GetInt(old_status, {"replicas"}) - old_updated;
    int64_t new_old = status["replicas"].get<int64_t>() -
                      status["updatedReplicas"].get<int64_t>();
    bool progressing =
        r.created_new || prog == nullptr ||
        status["updatedReplicas"].get<int64_t>() > old_updated ||
        new_old < old_old ||
        status["readyReplicas"].get<int64_t>() >
            api::GetInt(old_status, {"readyReplicas"}) ||
        available > api::GetInt(old_status, {"availableReplicas"}) ||
        prog_reason == "NewReplicaSetAvailable" ||
        prog_reason == "DeploymentResumed";
    if (progressing) {
      std::string msg = r.created_new
                            ? "Created new replica set \"" + rs_name + "\""
                            : "ReplicaSet \"" + rs_name + "\" is progressing.";
      // Progress moves lastUpdateTime even when nothing else changes.
      Json c = {{"type", "Progressing"},
                {"status", "True"},
                {"lastUpdateTime", ts},
                {"lastTransitionTime", ts},
                {"reason",
                 r.created_new ? "NewReplicaSetCreated" : "ReplicaSetUpdated"},
                {"message", msg}};
      if (prog != nullptr && api::GetString(*prog, {"status"}) == "True") {
        c["lastTransitionTime"] = (*prog)["lastTransitionTime"];
      }
      RemoveCondition(status, "Progressing");
      SetCondition(status, std::move(c));
      requeue_deadline = true;
    } else if (prog != nullptr && prog_reason != "ProgressDeadlineExceeded") {
      auto last = api::ParseTime(api::GetString(*prog, {"lastUpdateTime"}));
      if (last && *last + std::chrono::seconds(deadline) <= now) {
        set_progressing(
            "False", "ProgressDeadlineExceeded",
            "ReplicaSet \"" + rs_name + "\" has timed out progressing.");
        RecordEvent(
            client_, clock_, d, kComponent, "Warning",
            "ProgressDeadlineExceeded",
            "Deployment \"" + api::Name(d) + "\" has timed out progressing.");
      } else {
        requeue_deadline = true;
      }
    }
  }
  if (requeue_deadline && has_deadline) {
    queue_->AddAfter(
        r.key, std::chrono::seconds(deadline) + std::chrono::milliseconds(500));
  }
  if (status == old_status) return Status::Ok();
  Json updated = d;
  updated["status"] = std::move(status);
  auto u = client_.Update(kDeploymentsRef.In(api::Namespace(d)), updated,
                          {.subresource = "status"});
  if (u.status().code() == Code::kNotFound) return Status::Ok();
  return u.status();
}

}  // namespace kite::controllers

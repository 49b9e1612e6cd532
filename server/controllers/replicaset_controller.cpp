#include "server/controllers/replicaset_controller.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <utility>

#include "api/selectors.h"
#include "common/log.h"

namespace kite::controllers {
namespace {

constexpr char kComponent[] = "replicaset-controller";

int PhaseRank(const Json& pod) {
  std::string phase = api::GetString(pod, {"status", "phase"});
  if (phase == "Pending" || phase.empty()) return 0;
  if (phase == "Unknown") return 1;
  return 2;  // Running
}

int64_t Restarts(const Json& pod) {
  int64_t n = 0;
  if (const Json* cs = api::FieldPath(pod, {"status", "containerStatuses"});
      cs != nullptr && cs->is_array()) {
    for (const Json& c : *cs) n += api::GetInt(c, {"restartCount"});
  }
  return n;
}

// True when `a` should be deleted before `b`.
bool DeleteFirst(const Json& a, const Json& b) {
  bool a_bound = !api::GetString(a, {"spec", "nodeName"}).empty();
  bool b_bound = !api::GetString(b, {"spec", "nodeName"}).empty();
  if (a_bound != b_bound) return !a_bound;
  int pa = PhaseRank(a), pb = PhaseRank(b);
  if (pa != pb) return pa < pb;
  bool ra = IsPodReady(a), rb = IsPodReady(b);
  if (ra != rb) return !ra;
  if (ra && rb) {
    auto ta = PodReadySince(a), tb = PodReadySince(b);
    if (ta && tb && *ta != *tb) return *ta > *tb;
  }
  int64_t xa = Restarts(a), xb = Restarts(b);
  if (xa != xb) return xa > xb;
  std::string ca = api::GetString(a, {"metadata", "creationTimestamp"});
  std::string cb = api::GetString(b, {"metadata", "creationTimestamp"});
  if (ca != cb) return ca > cb;
  return api::Name(a) > api::Name(b);
}

bool FullyLabeled(const Json& pod, const Json& rs) {
  std::map<std::string, std::string> want = api::StringMap(
      api::FieldPath(rs, {"spec", "template", "metadata", "labels"}));
  std::map<std::string, std::string> have = api::Labels(pod);
  for (const auto& [k, v] : want) {
    auto it = have.find(k);
    if (it == have.end() || it->second != v) return false;
  }
  return true;
}

// Runs fn(i) for i in [0, n) on up to `parallel` threads.
template <typename Fn>
void ParallelFor(int n, int parallel, Fn fn) {
  if (n <= 0) return;
  int threads = std::min(n, parallel);
  if (threads <= 1) {
    for (int i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<int> next{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (int i = next++; i < n; i = next++) fn(i);
    });
  }
  for (std::thread& t : pool) t.join();
}

// Merge patch of metadata.ownerReferences with a resourceVersion
// precondition (a conflict means someone else moved first).
Status PatchOwnerRefs(client::Interface& client, const client::ResourceRef& ref,
                      const Json& pod, const Json& refs) {
  Json patch = {{"metadata",
                 {{"resourceVersion",
                   api::GetString(pod, {"metadata", "resourceVersion"})},
                  {"ownerReferences", refs}}}};
  auto r = client.Patch(ref.In(api::Namespace(pod)), api::Name(pod),
                        client::PatchType::kMerge, patch.dump(), {});
  return r.status();
}

}  // namespace

std::vector<Json> ClaimObjects(
    client::Interface& client, const client::ResourceRef& ref_coll,
    const Json& owner, const std::string& api_version, const std::string& kind,
    const std::vector<std::shared_ptr<const Json>>& candidates) {
  std::vector<Json> out;
  const Json* sel_json = api::FieldPath(owner, {"spec", "selector"});
  auto selector =
      sel_json != nullptr
          ? api::LabelSelector::FromJson(*sel_json)
          : StatusOr<api::LabelSelector>(api::LabelSelector::Nothing());
  if (!selector.ok()) return out;
  std::string uid = api::GetString(owner, {"metadata", "uid"});
  bool owner_deleting = api::Has(owner, {"metadata", "deletionTimestamp"});
  for (const auto& p : candidates) {
    const Json& pod = *p;
    const Json* ref = ControllerRef(pod);
    bool matches = !selector->Empty() && selector->MatchesObject(pod);
    if (ref != nullptr) {
      if (api::GetString(*ref, {"uid"}) != uid) continue;  // someone else's
      if (matches) {
        out.push_back(pod);
        continue;
      }
      if (owner_deleting) continue;
      // Release: drop our ownerReference.
      Json refs = Json::array();
      for (const Json& r :
           *api::FieldPath(pod, {"metadata", "ownerReferences"})) {
        if (api::GetString(r, {"uid"}) != uid) refs.push_back(r);
      }
      Status s = PatchOwnerRefs(client, ref_coll, pod, refs);
      if (!s.ok() && s.code() != Code::kNotFound) {
        log::Debug(kComponent, "release failed")("pod", client::KeyOf(pod))(
            "error", s.ToString());
      }
      continue;
    }
    // An orphan: adopt when it matches and is not going away.
    if (!matches || owner_deleting || IsPodTerminating(pod)) continue;
    Json refs = Json::array();
    if (const Json* old = api::FieldPath(pod, {"metadata", "ownerReferences"});
        old != nullptr && old->is_array()) {
      refs = *old;
    }
    refs.push_back(MakeControllerRef(owner, api_version, kind));
    Status s = PatchOwnerRefs(client, ref_coll, pod, refs);
    if (s.ok()) {
      Json adopted = pod;
      adopted["metadata"]["ownerReferences"] = refs;
      out.push_back(std::move(adopted));
    } else {
      log::Debug(kComponent, "adoption failed")("pod", client::KeyOf(pod))(
          "error", s.ToString());
    }
  }
  return out;
}

ReplicaSetController::ReplicaSetController(
    client::Interface& client, client::SharedInformerFactory& informers,
    ReplicaSetControllerOptions options)
    : client_(client),
      sets_(informers.For(kReplicaSetsRef)),
      pods_(informers.For(kPodsRef)),
      options_(options),
      clock_(options.clock != nullptr ? *options.clock : RealClock()),
      expectations_(clock_),
      queue_(std::make_unique<client::WorkQueue>("replicaset", clock_)) {
  client::EventHandlers rs;
  rs.on_add = [this](const Json& o) { EnqueueObj(o); };
  rs.on_update = [this](const Json&, const Json& o) { EnqueueObj(o); };
  rs.on_delete = [this](const Json& o) {
    expectations_.Forget(client::KeyOf(o));
    EnqueueObj(o);
  };
  sets_.AddEventHandler(std::move(rs));
  client::EventHandlers pods;
  pods.on_add = [this](const Json& p) { OnPodAdd(p); };
  pods.on_update = [this](const Json& o, const Json& p) { OnPodUpdate(o, p); };
  pods.on_delete = [this](const Json& p) { OnPodDelete(p); };
  pods_.AddEventHandler(std::move(pods));
}

ReplicaSetController::~ReplicaSetController() { Stop(); }

Status ReplicaSetController::Start() {
  if (started_) return FailedPreconditionError("replicaset controller started");
  started_ = true;
  for (int i = 0; i < std::max(1, options_.workers); ++i) {
    workers_.emplace_back([this] { Worker(); });
  }
  return Status::Ok();
}

void ReplicaSetController::Stop() {
  queue_->ShutDown();
  for (std::thread& t : workers_) {
    if (t.joinable()) t.join();
  }
  workers_.clear();
}

void ReplicaSetController::EnqueueObj(const Json& rs) {
  queue_->Add(client::KeyOf(rs));
}

std::vector<std::string> ReplicaSetController::MatchingSets(const Json& pod) {
  std::vector<std::string> keys;
  for (const auto& rs : sets_.ListNamespace(api::Namespace(pod))) {
    const Json* sel = api::FieldPath(*rs, {"spec", "selector"});
    if (sel == nullptr) continue;
    auto s = api::LabelSelector::FromJson(*sel);
    if (s.ok() && !s->Empty() && s->MatchesObject(pod)) {
      keys.push_back(client::KeyOf(*rs));
    }
  }
  return keys;
}

namespace {
// "ns/name" of the ReplicaSet controlling `pod`, or "".
std::string OwnerKey(const Json& pod) {
  const Json* ref = ControllerRef(pod);
  if (ref == nullptr || api::GetString(*ref, {"kind"}) != "ReplicaSet") {
    return "";
  }
  return api::Namespace(pod) + "/" + api::GetString(*ref, {"name"});
}
}  // namespace

void ReplicaSetController::OnPodAdd(const Json& pod) {
  if (IsPodTerminating(pod)) {
    OnPodDelete(pod);
    return;
  }
  if (ControllerRef(pod) != nullptr) {
    std::string key = OwnerKey(pod);
    if (key.empty()) return;
    expectations_.CreationObserved(key);
    queue_->Add(key);
    return;
  }
  for (const std::string& k : MatchingSets(pod)) queue_->Add(k);
}

void ReplicaSetController::OnPodUpdate(const Json& old_pod, const Json& pod) {
  if (api::GetString(old_pod, {"metadata", "resourceVersion"}) ==
      api::GetString(pod, {"metadata", "resourceVersion"})) {
    return;  // a resync
  }
  std::string old_key = OwnerKey(old_pod);
  std::string key = OwnerKey(pod);
  if (IsPodTerminating(pod)) {
    // A graceful delete: counts as the deletion we wait for.
    if (!key.empty()) {
      expectations_.DeletionObserved(key, client::KeyOf(pod));
      queue_->Add(key);
    }
    if (!old_key.empty() && old_key != key) queue_->Add(old_key);
    return;
  }
  if (!old_key.empty() && old_key != key) queue_->Add(old_key);
  if (!key.empty()) {
    queue_->Add(key);
    // Availability comes minReadySeconds after readiness.
    if (!IsPodReady(old_pod) && IsPodReady(pod)) {
      if (auto rs = sets_.Get(key); rs != nullptr) {
        int64_t mrs = api::GetInt(*rs, {"spec", "minReadySeconds"});
        if (mrs > 0) {
          queue_->AddAfter(
              key, std::chrono::seconds(mrs) + std::chrono::milliseconds(100));
        }
      }
    }
    return;
  }
  if (ControllerRef(pod) != nullptr) return;
  if (api::Labels(old_pod) != api::Labels(pod) || !old_key.empty()) {
    for (const std::string& k : MatchingSets(pod)) queue_->Add(k);
  }
}

void ReplicaSetController::OnPodDelete(const Json& pod) {
  std::string key = OwnerKey(pod);
  if (key.empty()) return;
  expectations_.DeletionObserved(key, client::KeyOf(pod));
  queue_->Add(key);
}

void ReplicaSetController::Worker() {
  while (!queue_->ShuttingDown() &&
         !(sets_.WaitForSync(std::chrono::milliseconds(200)) &&
           pods_.WaitForSync(std::chrono::milliseconds(200)))) {
  }
  while (std::optional<std::string> key = queue_->Get()) {
    Status s = Sync(*key);
    if (s.ok()) {
      queue_->Forget(*key);
    } else {
      log::Debug(kComponent, "sync failed")("replicaset", *key)("error",
                                                                s.ToString());
      queue_->AddRateLimited(*key);
    }
    queue_->Done(*key);
  }
}

Status ReplicaSetController::Sync(const std::string& key) {
  std::shared_ptr<const Json> cached = sets_.Get(key);
  if (cached == nullptr) {
    expectations_.Forget(key);
    return Status::Ok();
  }
  const Json& rs = *cached;
  bool need_sync = expectations_.Satisfied(key);
  std::vector<std::shared_ptr<const Json>> active;
  for (auto& p : pods_.ListNamespace(api::Namespace(rs))) {
    if (IsPodActive(*p)) active.push_back(std::move(p));
  }
  std::vector<Json> pods =
      ClaimObjects(client_, kPodsRef, rs, "apps/v1", "ReplicaSet", active);
  Status manage = Status::Ok();
  if (need_sync && !api::Has(rs, {"metadata", "deletionTimestamp"})) {
    manage = Manage(rs, key, pods);
  }
  Status st = UpdateStatus(rs, pods, manage);
  if (!manage.ok()) return manage;
  return st;
}

Status ReplicaSetController::Manage(const Json& rs, const std::string& key,
                                    const std::vector<Json>& active) {
  const std::string ns = api::Namespace(rs);
  int64_t want = api::GetInt(rs, {"spec", "replicas"}, 1);
  int64_t diff = static_cast<int64_t>(active.size()) - want;
  if (diff < 0) {
    int n = static_cast<int>(std::min<int64_t>(-diff, options_.burst));
    expectations_.ExpectCreations(key, n);
    Json ref = MakeControllerRef(rs, "apps/v1", "ReplicaSet");
    Json pod = PodFromTemplate(*api::FieldPath(rs, {"spec", "template"}), ns,
                               ref, "", api::Name(rs) + "-");
    int done = 0;
    Status first_error = Status::Ok();
    std::mutex mu;
    for (int batch = 1; done < n; batch *= 2) {
      int size = std::min(batch, n - done);
      std::atomic<int> failed{0};
      ParallelFor(size, 16, [&](int) {
        auto r = client_.Create(kPodsRef.In(ns), pod, {});
        if (r.ok()) {
          RecordEvent(client_, clock_, rs, kComponent, "Normal",
                      "SuccessfulCreate", "Created pod: " + api::Name(*r));
          return;
        }
        ++failed;
        // The informer will never see this one.
        expectations_.CreationObserved(key);
        std::lock_guard<std::mutex> lock(mu);
        if (first_error.ok()) {
          first_error = r.status();
          RecordEvent(client_, clock_, rs, kComponent, "Warning",
                      "FailedCreate",
                      "Error creating: " + r.status().message());
        }
      });
      done += size;
      if (failed > 0) {
        // Slow start: give up the rest of this round.
        expectations_.CreationObserved(key, n - done);
        break;
      }
    }
    return first_error;
  }
  if (diff > 0) {
    std::vector<Json> order = active;
    std::sort(order.begin(), order.end(), DeleteFirst);
    int n = static_cast<int>(std::min<int64_t>(diff, options_.burst));
    for (int i = 0; i < n; ++i) {
      expectations_.ExpectDeletion(key, client::KeyOf(order[i]));
    }
    Status first_error = Status::Ok();
    std::mutex mu;
    ParallelFor(n, 16, [&](int i) {
      const Json& pod = order[i];
      auto r = client_.Delete(kPodsRef.In(ns), api::Name(pod), {});
      if (r.ok()) {
        RecordEvent(client_, clock_, rs, kComponent, "Normal",
                    "SuccessfulDelete", "Deleted pod: " + api::Name(pod));
        return;
      }
      expectations_.DeletionObserved(key, client::KeyOf(pod));
      if (r.status().code() == Code::kNotFound) return;
      std::lock_guard<std::mutex> lock(mu);
      if (first_error.ok()) {
        first_error = r.status();
        RecordEvent(client_, clock_, rs, kComponent, "Warning", "FailedDelete",
                    "Error deleting: " + r.status().message());
      }
    });
    return first_error;
  }
  return Status::Ok();
}

Status ReplicaSetController::UpdateStatus(const Json& rs,
                                          const std::vector<Json>& pods,
                                          const Status& manage_error) {
  int64_t min_ready = api::GetInt(rs, {"spec", "minReadySeconds"});
  api::Time now = clock_.Now();
  int64_t labeled = 0, ready = 0, available = 0;
  for (const Json& p : pods) {
    if (FullyLabeled(p, rs)) ++labeled;
    if (IsPodReady(p)) ++ready;
    if (IsPodAvailable(p, min_ready, now)) ++available;
  }
  const Json* old_status = api::Field(rs, "status");
  Json status = old_status != nullptr && old_status->is_object()
                    ? *old_status
                    : Json::object();
  status["replicas"] = static_cast<int64_t>(pods.size());
  status["fullyLabeledReplicas"] = labeled;
  status["readyReplicas"] = ready;
  status["availableReplicas"] = available;
  status["observedGeneration"] = api::GetInt(rs, {"metadata", "generation"});
  if (!manage_error.ok()) {
    SetCondition(status, {{"type", "ReplicaFailure"},
                          {"status", "True"},
                          {"reason", "FailedCreate"},
                          {"message", manage_error.message()},
                          {"lastTransitionTime", api::FormatTime(now)}});
  } else {
    RemoveCondition(status, "ReplicaFailure");
    if (status.contains("conditions") && status["conditions"].empty()) {
      status.erase("conditions");
    }
  }
  int64_t want = api::GetInt(rs, {"spec", "replicas"}, 1);
  if (manage_error.ok() && min_ready > 0 && ready == want &&
      available != want) {
    queue_->AddAfter(client::KeyOf(rs), std::chrono::seconds(1));
  }
  if (old_status != nullptr && *old_status == status) return Status::Ok();
  Json updated = rs;
  updated["status"] = std::move(status);
  auto r = client_.Update(kReplicaSetsRef.In(api::Namespace(rs)), updated,
                          {.subresource = "status"});
  if (r.status().code() == Code::kNotFound) return Status::Ok();
  return r.status();
}

}  // namespace kite::controllers

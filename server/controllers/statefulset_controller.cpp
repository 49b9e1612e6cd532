#include "server/controllers/statefulset_controller.h"

#include <algorithm>
#include <map>
#include <utility>

#include "common/log.h"
#include "server/controllers/replicaset_controller.h"

namespace kite::controllers {
namespace {

constexpr char kComponent[] = "statefulset-controller";
constexpr char kRevisionLabel[] = "controller-revision-hash";
constexpr char kPodNameLabel[] = "statefulset.kubernetes.io/pod-name";
constexpr char kPodIndexLabel[] = "apps.kubernetes.io/pod-index";

// The ordinal of `pod` in StatefulSet `name`, or -1.
int64_t OrdinalOf(const std::string& sts, const Json& pod) {
  std::string n = api::Name(pod);
  if (n.size() <= sts.size() + 1 || n.compare(0, sts.size(), sts) != 0 ||
      n[sts.size()] != '-') {
    return -1;
  }
  std::string digits = n.substr(sts.size() + 1);
  if (digits.empty() || digits.size() > 9 ||
      !std::all_of(digits.begin(), digits.end(), ::isdigit) ||
      (digits.size() > 1 && digits[0] == '0')) {
    return -1;
  }
  return std::stoll(digits);
}

bool RunningAndReady(const Json& pod) {
  return api::GetString(pod, {"status", "phase"}) == "Running" &&
         IsPodReady(pod) && !IsPodTerminating(pod);
}

std::string Revision(const Json& pod) {
  return api::GetString(pod, {"metadata", "labels", kRevisionLabel});
}

}  // namespace

StatefulSetController::StatefulSetController(
    client::Interface& client, client::SharedInformerFactory& informers,
    StatefulSetControllerOptions options)
    : client_(client),
      sets_(informers.For(kStatefulSetsRef)),
      pods_(informers.For(kPodsRef)),
      revisions_(informers.For(kControllerRevisionsRef)),
      options_(options),
      clock_(options.clock != nullptr ? *options.clock : RealClock()),
      queue_(std::make_unique<client::WorkQueue>("statefulset", clock_)) {
  client::EventHandlers s;
  s.on_add = [this](const Json& o) { queue_->Add(client::KeyOf(o)); };
  s.on_update = [this](const Json&, const Json& o) {
    queue_->Add(client::KeyOf(o));
  };
  sets_.AddEventHandler(std::move(s));
  client::EventHandlers pods;
  pods.on_add = [this](const Json& p) { OnPod(p); };
  pods.on_update = [this](const Json&, const Json& p) { OnPod(p); };
  pods.on_delete = [this](const Json& p) { OnPod(p); };
  pods_.AddEventHandler(std::move(pods));
}

StatefulSetController::~StatefulSetController() { Stop(); }

Status StatefulSetController::Start() {
  if (started_) {
    return FailedPreconditionError("statefulset controller started");
  }
  started_ = true;
  for (int i = 0; i < std::max(1, options_.workers); ++i) {
    workers_.emplace_back([this] { Worker(); });
  }
  return Status::Ok();
}

void StatefulSetController::Stop() {
  queue_->ShutDown();
  for (std::thread& t : workers_) {
    if (t.joinable()) t.join();
  }
  workers_.clear();
}

void StatefulSetController::OnPod(const Json& pod) {
  const Json* ref = ControllerRef(pod);
  if (ref == nullptr || api::GetString(*ref, {"kind"}) != "StatefulSet") return;
  queue_->Add(api::Namespace(pod) + "/" + api::GetString(*ref, {"name"}));
}

void StatefulSetController::Worker() {
  while (!queue_->ShuttingDown() &&
         !(sets_.WaitForSync(std::chrono::milliseconds(200)) &&
           pods_.WaitForSync(std::chrono::milliseconds(200)) &&
           revisions_.WaitForSync(std::chrono::milliseconds(200)))) {
  }
  while (std::optional<std::string> key = queue_->Get()) {
    Status s = Sync(*key);
    if (s.ok()) {
      queue_->Forget(*key);
    } else {
      log::Debug(kComponent, "sync failed")("statefulset", *key)("error",
                                                                 s.ToString());
      queue_->AddRateLimited(*key);
    }
    queue_->Done(*key);
  }
}

std::optional<Json> StatefulSetController::RevisionTemplate(
    const std::string& ns, const std::string& name) {
  std::shared_ptr<const Json> r = revisions_.Get(ns, name);
  Json got;
  if (r != nullptr) {
    got = *r;
  } else {
    auto g = client_.Get(kControllerRevisionsRef.In(ns), name, {});
    if (!g.ok()) return std::nullopt;
    got = *g;
  }
  return TemplateOfRevision(got);
}

Status StatefulSetController::CreatePod(const Json& sts, const Json& tmpl,
                                        const std::string& revision,
                                        int64_t ordinal) {
  const std::string ns = api::Namespace(sts);
  const std::string name = api::Name(sts) + "-" + std::to_string(ordinal);
  Json pod = PodFromTemplate(
      tmpl, ns, MakeControllerRef(sts, "apps/v1", "StatefulSet"), name, "");
  Json& labels = api::Ensure(pod["metadata"], "labels");
  labels[kPodNameLabel] = name;
  labels[kPodIndexLabel] = std::to_string(ordinal);
  labels[kRevisionLabel] = revision;
  Json& spec = pod["spec"];
  spec["hostname"] = name;
  std::string service = api::GetString(sts, {"spec", "serviceName"});
  if (!service.empty()) spec["subdomain"] = service;
  if (const Json* vcts = api::FieldPath(sts, {"spec", "volumeClaimTemplates"});
      vcts != nullptr && vcts->is_array()) {
    Json& volumes = spec["volumes"];
    if (!volumes.is_array()) volumes = Json::array();
    for (const Json& vct : *vcts) {
      std::string tname = api::Name(vct);
      std::string claim = tname + "-" + name;
      Json pvc = {{"apiVersion", "v1"},
                  {"kind", "PersistentVolumeClaim"},
                  {"metadata", {{"name", claim}, {"namespace", ns}}},
                  {"spec", vct.value("spec", Json::object())}};
      Json pvc_labels =
          api::FieldPath(sts, {"spec", "selector", "matchLabels"})
              ? *api::FieldPath(sts, {"spec", "selector", "matchLabels"})
              : Json::object();
      if (const Json* l = api::FieldPath(vct, {"metadata", "labels"});
          l != nullptr && l->is_object()) {
        pvc_labels.update(*l);
      }
      pvc["metadata"]["labels"] = pvc_labels;
      auto c = client_.Create(kPvcsRef.In(ns), pvc, {});
      if (c.ok()) {
        RecordEvent(client_, clock_, sts, kComponent, "Normal",
                    "SuccessfulCreate",
                    "create Claim " + claim + " Pod " + name +
                        " in StatefulSet " + api::Name(sts) + " success");
      } else if (c.status().code() != Code::kAlreadyExists) {
        RecordEvent(client_, clock_, sts, kComponent, "Warning", "FailedCreate",
                    "create Claim " + claim + " for Pod " + name +
                        " in StatefulSet " + api::Name(sts) +
                        " failed error: " + c.status().message());
        return c.status();
      }
      // The template's own volume of that name gives way to the claim.
      Json kept = Json::array();
      for (const Json& v : volumes) {
        if (api::Name(v) != tname && api::GetString(v, {"name"}) != tname) {
          kept.push_back(v);
        }
      }
      kept.push_back(
          {{"name", tname}, {"persistentVolumeClaim", {{"claimName", claim}}}});
      volumes = std::move(kept);
    }
  }
  auto c = client_.Create(kPodsRef.In(ns), pod, {});
  if (c.ok()) {
    RecordEvent(client_, clock_, sts, kComponent, "Normal", "SuccessfulCreate",
                "create Pod " + name + " in StatefulSet " + api::Name(sts) +
                    " successful");
    return Status::Ok();
  }
  if (c.status().code() == Code::kAlreadyExists) return Status::Ok();
  RecordEvent(client_, clock_, sts, kComponent, "Warning", "FailedCreate",
              "create Pod " + name + " in StatefulSet " + api::Name(sts) +
                  " failed error: " + c.status().message());
  return c.status();
}

Status StatefulSetController::DeletePod(const Json& sts, const Json& pod) {
  auto d = client_.Delete(kPodsRef.In(api::Namespace(pod)), api::Name(pod), {});
  if (d.ok()) {
    RecordEvent(client_, clock_, sts, kComponent, "Normal", "SuccessfulDelete",
                "delete Pod " + api::Name(pod) + " in StatefulSet " +
                    api::Name(sts) + " successful");
    return Status::Ok();
  }
  if (d.status().code() == Code::kNotFound) return Status::Ok();
  return d.status();
}

Status StatefulSetController::Sync(const std::string& key) {
  std::shared_ptr<const Json> cached = sets_.Get(key);
  if (cached == nullptr) return Status::Ok();
  const Json& sts = *cached;
  const std::string ns = api::Namespace(sts);
  const std::string name = api::Name(sts);
  const Json* tmpl_ptr = api::FieldPath(sts, {"spec", "template"});
  if (tmpl_ptr == nullptr) return Status::Ok();
  const Json tmpl = *tmpl_ptr;
  const int64_t replicas = api::GetInt(sts, {"spec", "replicas"}, 1);
  const int64_t start = api::GetInt(sts, {"spec", "ordinals", "start"}, 0);
  const bool parallel =
      api::GetString(sts, {"spec", "podManagementPolicy"}) == "Parallel";
  const bool deleting = api::Has(sts, {"metadata", "deletionTimestamp"});

  KITE_ASSIGN_OR_RETURN(
      std::string update_rev,
      EnsureControllerRevision(client_, revisions_, sts, "StatefulSet", tmpl,
                               ShortHash(tmpl.dump())));
  std::string current_rev = api::GetString(sts, {"status", "currentRevision"});
  if (current_rev.empty()) current_rev = update_rev;

  std::vector<Json> owned =
      ClaimObjects(client_, kPodsRef, sts, "apps/v1", "StatefulSet",
                   pods_.ListNamespace(ns));
  std::map<int64_t, Json> in_range;
  std::vector<Json> condemned;
  for (Json& p : owned) {
    int64_t ord = OrdinalOf(name, p);
    if (ord >= start && ord < start + replicas) {
      in_range[ord] = std::move(p);
    } else {
      condemned.push_back(std::move(p));
    }
  }

  // Status first, from what exists now.
  int64_t min_ready = api::GetInt(sts, {"spec", "minReadySeconds"});
  api::Time now = clock_.Now();
  int64_t count = 0, ready = 0, available = 0, current = 0, updated = 0;
  auto tally = [&](const Json& p) {
    if (IsPodTerminating(p)) return;
    ++count;
    if (IsPodReady(p)) ++ready;
    if (IsPodAvailable(p, min_ready, now)) ++available;
    if (Revision(p) == current_rev) ++current;
    if (Revision(p) == update_rev) ++updated;
  };
  for (auto& [o, p] : in_range) tally(p);
  for (Json& p : condemned) tally(p);

  Status result = Status::Ok();
  if (!deleting) {
    // 1. Replace failed pods, create missing ones in ordinal order.
    std::optional<Json> current_tmpl;
    int64_t partition = api::GetString(sts, {"spec", "updateStrategy", "type"},
                                       "RollingUpdate") == "RollingUpdate"
                            ? api::GetInt(sts, {"spec", "updateStrategy",
                                                "rollingUpdate", "partition"})
                            : replicas + start;
    bool blocked = false;
    for (int64_t ord = start; ord < start + replicas && !blocked; ++ord) {
      auto it = in_range.find(ord);
      if (it != in_range.end() &&
          api::GetString(it->second, {"status", "phase"}) == "Failed") {
        result = DeletePod(sts, it->second);
        blocked = !parallel;
        continue;
      }
      if (it == in_range.end()) {
        // Below the partition a pod keeps the current revision.
        const Json* use = &tmpl;
        std::string rev = update_rev;
        if (ord - start < partition && current_rev != update_rev) {
          if (!current_tmpl) current_tmpl = RevisionTemplate(ns, current_rev);
          if (current_tmpl) {
            use = &*current_tmpl;
            rev = current_rev;
          }
        }
        Status s = CreatePod(sts, *use, rev, ord);
        if (!s.ok() && result.ok()) result = s;
        if (!parallel) blocked = true;
        continue;
      }
      if (!parallel && !RunningAndReady(it->second)) blocked = true;
    }
    // 2. Scale down: highest ordinal first; OrderedReady one at a time, and
    //    only while the rest are Running and Ready.
    std::sort(condemned.begin(), condemned.end(),
              [&](const Json& a, const Json& b) {
                return OrdinalOf(name, a) > OrdinalOf(name, b);
              });
    if (!blocked) {
      for (const Json& p : condemned) {
        if (IsPodTerminating(p)) {
          if (!parallel) {
            blocked = true;
            break;
          }
          continue;
        }
        Status s = DeletePod(sts, p);
        if (!s.ok() && result.ok()) result = s;
        if (!parallel) {
          blocked = true;
          break;
        }
      }
    }
    // 3. Rolling update: the highest out-of-date ordinal at or above the
    //    partition, once everything else is settled.
    bool rolling = api::GetString(sts, {"spec", "updateStrategy", "type"},
                                  "RollingUpdate") == "RollingUpdate";
    if (rolling && !blocked && condemned.empty() &&
        static_cast<int64_t>(in_range.size()) == replicas) {
      for (int64_t ord = start + replicas - 1; ord >= start + partition;
           --ord) {
        const Json& p = in_range[ord];
        if (Revision(p) == update_rev) {
          if (!RunningAndReady(p)) break;  // wait for it
          continue;
        }
        if (!IsPodTerminating(p)) {
          Status s = DeletePod(sts, p);
          if (!s.ok() && result.ok()) result = s;
        }
        break;
      }
    }
  }

  // The rollout is done when every pod runs the update revision and is
  // ready.
  if (updated == replicas && ready == replicas && condemned.empty()) {
    current_rev = update_rev;
    current = updated;
  }
  Json status = sts.value("status", Json::object());
  if (!status.is_object()) status = Json::object();
  Json old_status = status;
  status["observedGeneration"] = api::GetInt(sts, {"metadata", "generation"});
  status["replicas"] = count;
  status["readyReplicas"] = ready;
  status["availableReplicas"] = available;
  status["currentReplicas"] = current;
  status["updatedReplicas"] = updated;
  status["currentRevision"] = current_rev;
  status["updateRevision"] = update_rev;
  if (!status.contains("collisionCount")) status["collisionCount"] = 0;
  if (min_ready > 0 && ready > available) {
    queue_->AddAfter(key, std::chrono::seconds(1));
  }
  if (status != old_status) {
    Json upd = sts;
    upd["status"] = status;
    auto u =
        client_.Update(kStatefulSetsRef.In(ns), upd, {.subresource = "status"});
    if (!u.ok() && u.status().code() != Code::kNotFound && result.ok()) {
      result = u.status();
    }
  }
  if (result.ok()) {
    Status c = CleanupControllerRevisions(client_, revisions_, sts,
                                          {current_rev, update_rev});
    if (!c.ok()) result = c;
  }
  return result;
}

}  // namespace kite::controllers

#include "server/controllers/cronjob_controller.h"

#include <algorithm>
#include <utility>

#include "common/log.h"
#include "server/controllers/cron_schedule.h"

namespace kite::controllers {
namespace {

constexpr char kComponent[] = "cronjob-controller";

int64_t IntOr(const Json& obj, std::initializer_list<std::string_view> path,
              int64_t dflt) {
  const Json* v = api::FieldPath(obj, path);
  return v != nullptr && v->is_number_integer() ? v->get<int64_t>() : dflt;
}

bool JobSucceeded(const Json& job) {
  const Json* c = FindCondition(job, "Complete");
  return c != nullptr && api::GetString(*c, {"status"}) == "True";
}

// When a finished Job finished (completionTime, else its condition's time,
// else creation), for ordering.
std::string FinishedAt(const Json& job) {
  std::string t = api::GetString(job, {"status", "completionTime"});
  if (!t.empty()) return t;
  for (const char* type : {"Complete", "Failed"}) {
    if (const Json* c = FindCondition(job, type); c != nullptr) {
      t = api::GetString(*c, {"lastTransitionTime"});
      if (!t.empty()) return t;
    }
  }
  return api::GetString(job, {"metadata", "creationTimestamp"});
}

Json JobRef(const Json& job) {
  return {{"apiVersion", "batch/v1"},
          {"kind", "Job"},
          {"name", api::Name(job)},
          {"namespace", api::Namespace(job)},
          {"uid", api::GetString(job, {"metadata", "uid"})},
          {"resourceVersion",
           api::GetString(job, {"metadata", "resourceVersion"})}};
}

}  // namespace

CronJobController::CronJobController(client::Interface& client,
                                     client::SharedInformerFactory& informers,
                                     CronJobControllerOptions options)
    : client_(client),
      options_(options),
      clock_(options.clock != nullptr ? *options.clock : RealClock()),
      cronjobs_(informers.For(kCronJobsRef)),
      jobs_(informers.For(kJobsRef)),
      queue_(std::make_unique<client::WorkQueue>("cronjob", clock_)) {
  client::EventHandlers ch;
  ch.on_add = [this](const Json& c) { queue_->Add(client::KeyOf(c)); };
  ch.on_update = [this](const Json&, const Json& c) {
    queue_->Add(client::KeyOf(c));
  };
  cronjobs_.AddEventHandler(std::move(ch));
  auto owner = [this](const Json& job) {
    const Json* ref = ControllerRef(job);
    if (ref != nullptr && api::GetString(*ref, {"kind"}) == "CronJob") {
      queue_->Add(api::Namespace(job) + "/" + api::GetString(*ref, {"name"}));
    }
  };
  client::EventHandlers jh;
  jh.on_add = owner;
  jh.on_update = [owner](const Json&, const Json& j) { owner(j); };
  jh.on_delete = owner;
  jobs_.AddEventHandler(std::move(jh));
}

CronJobController::~CronJobController() { Stop(); }

Status CronJobController::Start() {
  if (started_) return FailedPreconditionError("cronjob controller started");
  started_ = true;
  for (int i = 0; i < std::max(1, options_.workers); ++i) {
    workers_.emplace_back([this] { Worker(); });
  }
  return Status::Ok();
}

void CronJobController::Stop() {
  queue_->ShutDown();
  for (std::thread& t : workers_) {
    if (t.joinable()) t.join();
  }
  workers_.clear();
}

void CronJobController::Worker() {
  while (!queue_->ShuttingDown() &&
         !(cronjobs_.WaitForSync(std::chrono::milliseconds(100)) &&
           jobs_.WaitForSync(std::chrono::milliseconds(100)))) {
  }
  while (std::optional<std::string> key = queue_->Get()) {
    Status s = Sync(*key);
    if (s.ok()) {
      queue_->Forget(*key);
    } else {
      log::Warn(kComponent, "sync failed")("cronjob", *key)("error",
                                                            s.ToString());
      queue_->AddRateLimited(*key);
    }
    queue_->Done(*key);
  }
}

Status CronJobController::Sync(const std::string& key) {
  std::shared_ptr<const Json> cached = cronjobs_.Get(key);
  if (cached == nullptr) return Status::Ok();
  Json cj = *cached;
  auto [ns, name] = client::SplitKey(key);
  std::string uid = api::GetString(cj, {"metadata", "uid"});
  api::Time now = clock_.Now();

  Json status = cj.contains("status") && cj["status"].is_object()
                    ? cj["status"]
                    : Json::object();
  const Json old_status = status;
  std::set<std::string> was_active;
  if (const Json* a = api::Field(status, "active"); a && a->is_array()) {
    for (const Json& r : *a) was_active.insert(api::GetString(r, {"uid"}));
  }

  // The Jobs it owns: active ones, finished ones (history).
  std::vector<Json> active, succeeded, failed;
  for (const auto& j : jobs_.ListNamespace(ns)) {
    const Json* ref = ControllerRef(*j);
    if (ref == nullptr || api::GetString(*ref, {"uid"}) != uid) continue;
    if (!IsJobFinished(*j)) {
      if (!api::Has(*j, {"metadata", "deletionTimestamp"})) {
        active.push_back(*j);
      }
      continue;
    }
    bool ok = JobSucceeded(*j);
    (ok ? succeeded : failed).push_back(*j);
    if (was_active.count(api::GetString(*j, {"metadata", "uid"}))) {
      RecordEvent(client_, clock_, cj, kComponent, "Normal", "SawCompletedJob",
                  "Saw completed job: " + api::Name(*j) +
                      ", status: " + (ok ? "Complete" : "Failed"));
    }
    if (ok) {
      std::string at = FinishedAt(*j);
      if (at > api::GetString(status, {"lastSuccessfulTime"})) {
        status["lastSuccessfulTime"] = at;
      }
    }
  }

  // History limits: the oldest finished Jobs beyond them go.
  auto prune = [&](std::vector<Json>& jobs, int64_t keep) -> Status {
    if (static_cast<int64_t>(jobs.size()) <= keep) return Status::Ok();
    std::sort(jobs.begin(), jobs.end(), [](const Json& a, const Json& b) {
      return FinishedAt(a) < FinishedAt(b);
    });
    client::DeleteOptions d;
    d.propagation_policy = client::PropagationPolicy::kBackground;
    for (size_t i = 0; i + keep < jobs.size(); ++i) {
      if (api::Has(jobs[i], {"metadata", "deletionTimestamp"})) continue;
      auto r = client_.Delete(kJobsRef.In(ns), api::Name(jobs[i]), d);
      if (!r.ok() && r.status().code() != Code::kNotFound) return r.status();
      RecordEvent(client_, clock_, cj, kComponent, "Normal", "SuccessfulDelete",
                  "Deleted job " + api::Name(jobs[i]));
    }
    return Status::Ok();
  };
  KITE_RETURN_IF_ERROR(
      prune(succeeded, IntOr(cj, {"spec", "successfulJobsHistoryLimit"}, 3)));
  KITE_RETURN_IF_ERROR(
      prune(failed, IntOr(cj, {"spec", "failedJobsHistoryLimit"}, 1)));

  auto write_status = [&]() -> Status {
    Json refs = Json::array();
    std::sort(active.begin(), active.end(), [](const Json& a, const Json& b) {
      return api::Name(a) < api::Name(b);
    });
    for (const Json& j : active) refs.push_back(JobRef(j));
    if (refs.empty()) {
      status.erase("active");
    } else {
      status["active"] = std::move(refs);
    }
    if (status == old_status) return Status::Ok();
    cj["status"] = status;
    client::UpdateOptions uo;
    uo.subresource = "status";
    auto r = client_.Update(kCronJobsRef.In(ns), cj, uo);
    if (!r.ok() && r.status().code() != Code::kNotFound) return r.status();
    return Status::Ok();
  };

  std::string tz = api::GetString(cj, {"spec", "timeZone"});
  if (!tz.empty() && tz != "UTC" && tz != "Etc/UTC") {
    RecordEvent(client_, clock_, cj, kComponent, "Warning", "UnknownTimeZone",
                "invalid timeZone: \"" + tz + "\": only UTC is known");
    return write_status();
  }
  StatusOr<CronSchedule> sched =
      CronSchedule::Parse(api::GetString(cj, {"spec", "schedule"}));
  if (!sched.ok()) {
    RecordEvent(client_, clock_, cj, kComponent, "Warning", "InvalidSchedule",
                "invalid schedule: " + sched.status().message());
    return write_status();
  }
  if (api::GetBool(cj, {"spec", "suspend"})) return write_status();

  // The most recent scheduled time that has come and is not done yet.
  std::optional<api::Time> earliest =
      api::ParseTime(api::GetString(status, {"lastScheduleTime"}));
  if (!earliest) {
    earliest =
        api::ParseTime(api::GetString(cj, {"metadata", "creationTimestamp"}));
  }
  if (!earliest) earliest = now;
  const int64_t deadline = IntOr(cj, {"spec", "startingDeadlineSeconds"}, -1);
  std::optional<api::Time> due;
  int missed = 0;
  for (std::optional<api::Time> t = sched->Next(*earliest); t && *t <= now;
       t = sched->Next(*t)) {
    due = t;
    if (++missed > 100) {
      // Too many missed: look only at the last day from now on.
      RecordEvent(client_, clock_, cj, kComponent, "Warning",
                  "TooManyMissedTimes",
                  "too many missed start times: > 100. Set or decrease "
                  ".spec.startingDeadlineSeconds or check clock skew");
      missed = 0;
      api::Time from = now - std::chrono::hours(24);
      if (from <= *t) break;
      t = sched->Next(from);
      if (!t || *t > now) break;
      due = t;
    }
  }
  auto requeue_next = [&] {
    if (std::optional<api::Time> next = sched->Next(now)) {
      queue_->AddAfter(key, *next - now + std::chrono::milliseconds(100));
    }
  };
  if (!due) {
    requeue_next();
    return write_status();
  }
  if (deadline >= 0 && *due + std::chrono::seconds(deadline) < now) {
    RecordEvent(
        client_, clock_, cj, kComponent, "Warning", "MissSchedule",
        "Missed scheduled time to start a job: " + api::FormatTime(*due));
    status["lastScheduleTime"] = api::FormatTime(*due);
    requeue_next();
    return write_status();
  }
  std::string policy = api::GetString(cj, {"spec", "concurrencyPolicy"});
  if (policy == "Forbid" && !active.empty()) {
    log::Debug(kComponent, "prior run still active, not starting")("cronjob",
                                                                   key);
    requeue_next();
    return write_status();
  }
  if (policy == "Replace") {
    client::DeleteOptions d;
    d.propagation_policy = client::PropagationPolicy::kBackground;
    for (const Json& j : active) {
      auto r = client_.Delete(kJobsRef.In(ns), api::Name(j), d);
      if (!r.ok() && r.status().code() != Code::kNotFound) return r.status();
      RecordEvent(client_, clock_, cj, kComponent, "Normal", "SuccessfulDelete",
                  "Deleted job " + api::Name(j));
    }
    active.clear();
  }

  int64_t minutes =
      std::chrono::duration_cast<std::chrono::minutes>(due->time_since_epoch())
          .count();
  Json job = {{"apiVersion", "batch/v1"}, {"kind", "Job"}};
  Json& md = job["metadata"];
  md = {{"name", name + "-" + std::to_string(minutes)}, {"namespace", ns}};
  const Json* tmpl = api::FieldPath(cj, {"spec", "jobTemplate"});
  if (tmpl != nullptr) {
    if (const Json* l = api::FieldPath(*tmpl, {"metadata", "labels"});
        l && l->is_object()) {
      md["labels"] = *l;
    }
    if (const Json* a = api::FieldPath(*tmpl, {"metadata", "annotations"});
        a && a->is_object()) {
      md["annotations"] = *a;
    }
  }
  md["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"] =
      api::FormatTime(*due);
  md["ownerReferences"] =
      Json::array({MakeControllerRef(cj, "batch/v1", "CronJob")});
  const Json* spec = tmpl != nullptr ? api::Field(*tmpl, "spec") : nullptr;
  job["spec"] = spec != nullptr ? *spec : Json::object();
  auto created = client_.Create(kJobsRef.In(ns), job, {});
  if (created.ok()) {
    active.push_back(*created);
    RecordEvent(client_, clock_, cj, kComponent, "Normal", "SuccessfulCreate",
                "Created job " + api::Name(*created));
  } else if (created.status().code() == Code::kAlreadyExists) {
    // Made by an earlier sync whose status update was lost.
    auto got = client_.Get(kJobsRef.In(ns), api::Name(job), {});
    if (got.ok() && !IsJobFinished(*got) &&
        std::none_of(active.begin(), active.end(), [&](const Json& a) {
          return api::Name(a) == api::Name(*got);
        })) {
      active.push_back(*got);
    }
  } else {
    RecordEvent(client_, clock_, cj, kComponent, "Warning", "FailedCreate",
                "Error creating job: " + created.status().message());
    return created.status();
  }
  status["lastScheduleTime"] = api::FormatTime(*due);
  requeue_next();
  return write_status();
}

}  // namespace kite::controllers

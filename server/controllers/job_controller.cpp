#include "server/controllers/job_controller.h"

#include <algorithm>
#include <utility>

#include "common/log.h"

namespace kite::controllers {
namespace {

constexpr char kComponent[] = "job-controller";

bool ConditionTrue(const Json& obj, const std::string& type) {
  const Json* c = FindCondition(obj, type);
  return c != nullptr && api::GetString(*c, {"status"}) == "True";
}

int64_t IntOr(const Json& obj, std::initializer_list<std::string_view> path,
              int64_t dflt) {
  const Json* v = api::FieldPath(obj, path);
  return v != nullptr && v->is_number_integer() ? v->get<int64_t>() : dflt;
}

Json Condition(const std::string& type, const std::string& reason,
               const std::string& message, const std::string& now) {
  return {{"type", type},         {"status", "True"},
          {"reason", reason},     {"message", message},
          {"lastProbeTime", now}, {"lastTransitionTime", now}};
}

}  // namespace

bool IsJobFinished(const Json& job) {
  return ConditionTrue(job, "Complete") || ConditionTrue(job, "Failed");
}

JobController::JobController(client::Interface& client,
                             client::SharedInformerFactory& informers,
                             JobControllerOptions options)
    : client_(client),
      options_(options),
      clock_(options.clock != nullptr ? *options.clock : RealClock()),
      jobs_(informers.For(kJobsRef)),
      pods_(informers.For(kPodsRef)),
      queue_(std::make_unique<client::WorkQueue>("job", clock_)),
      expectations_(clock_) {
  client::EventHandlers jh;
  jh.on_add = [this](const Json& j) { queue_->Add(client::KeyOf(j)); };
  jh.on_update = [this](const Json&, const Json& j) {
    queue_->Add(client::KeyOf(j));
  };
  jh.on_delete = [this](const Json& j) {
    expectations_.Forget(client::KeyOf(j));
  };
  jobs_.AddEventHandler(std::move(jh));

  client::EventHandlers ph;
  ph.on_add = [this](const Json& p) {
    if (const Json* ref = ControllerRef(p);
        ref != nullptr && api::GetString(*ref, {"kind"}) == "Job") {
      expectations_.CreationObserved(api::Namespace(p) + "/" +
                                     api::GetString(*ref, {"name"}));
    }
    EnqueueOwner(p);
  };
  ph.on_update = [this](const Json& old_pod, const Json& p) {
    EnqueueOwner(old_pod);
    EnqueueOwner(p);
  };
  ph.on_delete = [this](const Json& p) {
    if (const Json* ref = ControllerRef(p);
        ref != nullptr && api::GetString(*ref, {"kind"}) == "Job") {
      expectations_.DeletionObserved(
          api::Namespace(p) + "/" + api::GetString(*ref, {"name"}),
          client::KeyOf(p));
    }
    EnqueueOwner(p);
  };
  pods_.AddEventHandler(std::move(ph));
}

JobController::~JobController() { Stop(); }

Status JobController::Start() {
  if (started_) return FailedPreconditionError("job controller started");
  started_ = true;
  for (int i = 0; i < std::max(1, options_.workers); ++i) {
    workers_.emplace_back([this] { Worker(); });
  }
  return Status::Ok();
}

void JobController::Stop() {
  queue_->ShutDown();
  for (std::thread& t : workers_) {
    if (t.joinable()) t.join();
  }
  workers_.clear();
}

void JobController::EnqueueOwner(const Json& pod) {
  const Json* ref = ControllerRef(pod);
  if (ref == nullptr || api::GetString(*ref, {"kind"}) != "Job") return;
  queue_->Add(api::Namespace(pod) + "/" + api::GetString(*ref, {"name"}));
}

void JobController::Worker() {
  while (!queue_->ShuttingDown() &&
         !(jobs_.WaitForSync(std::chrono::milliseconds(100)) &&
           pods_.WaitForSync(std::chrono::milliseconds(100)))) {
  }
  while (std::optional<std::string> key = queue_->Get()) {
    Status s = Sync(*key);
    if (s.ok()) {
      queue_->Forget(*key);
    } else {
      log::Warn(kComponent, "sync failed")("job", *key)("error", s.ToString());
      queue_->AddRateLimited(*key);
    }
    queue_->Done(*key);
  }
}

Status JobController::Sync(const std::string& key) {
  std::shared_ptr<const Json> cached = jobs_.Get(key);
  if (cached == nullptr) {
    expectations_.Forget(key);
    std::lock_guard<std::mutex> lock(mu_);
    last_failure_.erase(key);
    return Status::Ok();
  }
  Json job = *cached;
  if (IsJobFinished(job)) return Status::Ok();
  auto [ns, name] = client::SplitKey(key);
  std::string uid = api::GetString(job, {"metadata", "uid"});
  api::Time now_t = clock_.Now();
  std::string now = api::FormatTime(now_t);

  std::vector<Json> active;
  int64_t succeeded = 0, failed = 0, ready = 0, terminating = 0;
  for (const auto& p : pods_.ListNamespace(ns)) {
    const Json* ref = ControllerRef(*p);
    if (ref == nullptr || api::GetString(*ref, {"uid"}) != uid) continue;
    std::string phase = api::GetString(*p, {"status", "phase"});
    if (phase == "Succeeded") {
      ++succeeded;
    } else if (phase == "Failed") {
      ++failed;
    } else if (IsPodTerminating(*p)) {
      ++terminating;
    } else {
      active.push_back(*p);
      if (IsPodReady(*p)) ++ready;
    }
  }
  Json status = job.contains("status") && job["status"].is_object()
                    ? job["status"]
                    : Json::object();
  const Json old_status = status;
  succeeded = std::max(succeeded, IntOr(status, {"succeeded"}, 0));
  if (failed > IntOr(status, {"failed"}, 0)) {
    std::lock_guard<std::mutex> lock(mu_);
    last_failure_[key] = now_t;  // a failure not counted before
  }
  failed = std::max(failed, IntOr(status, {"failed"}, 0));

  const int64_t parallelism = IntOr(job, {"spec", "parallelism"}, 1);
  const int64_t completions = IntOr(job, {"spec", "completions"}, -1);
  const int64_t backoff_limit = IntOr(job, {"spec", "backoffLimit"}, 6);
  const int64_t deadline = IntOr(job, {"spec", "activeDeadlineSeconds"}, -1);
  const bool suspend = api::GetBool(job, {"spec", "suspend"});

  if (!suspend && !status.contains("startTime")) status["startTime"] = now;
  std::optional<api::Time> started =
      api::ParseTime(api::GetString(status, {"startTime"}));

  auto delete_pods = [&](const std::vector<Json>& pods) -> Status {
    for (const Json& p : pods) {
      expectations_.ExpectDeletion(key, client::KeyOf(p));
      auto r = client_.Delete(kPodsRef.In(ns), api::Name(p), {});
      if (!r.ok() && r.status().code() != Code::kNotFound) {
        expectations_.DeletionObserved(key, client::KeyOf(p));
        return r.status();
      }
      RecordEvent(client_, clock_, job, kComponent, "Normal",
                  "SuccessfulDelete", "Deleted pod: " + api::Name(p));
    }
    return Status::Ok();
  };

  std::optional<std::pair<std::string, std::string>> failure;
  if (failed > backoff_limit) {
    failure = {"BackoffLimitExceeded",
               "Job has reached the specified backoff limit"};
  } else if (deadline >= 0 && started &&
             now_t >= *started + std::chrono::seconds(deadline)) {
    failure = {"DeadlineExceeded",
               "Job was active longer than specified deadline"};
  }
  bool complete =
      !failure && (completions >= 0 ? succeeded >= completions
                                    : succeeded > 0 && active.empty());
  int64_t active_count = static_cast<int64_t>(active.size());
  if (failure) {
    KITE_RETURN_IF_ERROR(delete_pods(active));
    terminating += active_count;
    active_count = 0;
    SetCondition(status, Condition("FailureTarget", failure->first,
                                   failure->second, now));
    SetCondition(status,
                 Condition("Failed", failure->first, failure->second, now));
    RecordEvent(client_, clock_, job, kComponent, "Warning", failure->first,
                failure->second);
  } else if (complete) {
    KITE_RETURN_IF_ERROR(delete_pods(active));
    terminating += active_count;
    active_count = 0;
    status["completionTime"] = now;
    SetCondition(status,
                 Condition("SuccessCriteriaMet", "CompletionsReached",
                           "Reached expected number of succeeded pods", now));
    SetCondition(status,
                 Condition("Complete", "CompletionsReached",
                           "Reached expected number of succeeded pods", now));
    RecordEvent(client_, clock_, job, kComponent, "Normal", "Completed",
                "Job completed");
  } else if (suspend) {
    if (!active.empty()) {
      KITE_RETURN_IF_ERROR(delete_pods(active));
      terminating += active_count;
      active_count = 0;
    }
    if (SetCondition(status, Condition("Suspended", "JobSuspended",
                                       "Job suspended", now))) {
      RecordEvent(client_, clock_, job, kComponent, "Normal", "Suspended",
                  "Job suspended");
    }
  } else {
    if (const Json* c = FindCondition(job, "Suspended");
        c != nullptr && api::GetString(*c, {"status"}) == "True") {
      Json resumed = Condition("Suspended", "JobResumed", "Job resumed", now);
      resumed["status"] = "False";
      SetCondition(status, std::move(resumed));
      RecordEvent(client_, clock_, job, kComponent, "Normal", "Resumed",
                  "Job resumed");
    }
    int64_t want = completions >= 0
                       ? std::min(parallelism, completions - succeeded)
                       : (succeeded > 0 ? 0 : parallelism);
    want = std::max<int64_t>(want, 0);
    // Replacements for failed pods wait out the back-off.
    std::optional<std::chrono::nanoseconds> wait;
    if (failed > 0 && active_count < want) {
      std::lock_guard<std::mutex> lock(mu_);
      if (auto it = last_failure_.find(key); it != last_failure_.end()) {
        auto delay = options_.failure_backoff;
        for (int64_t i = 1; i < failed && delay < options_.max_failure_backoff;
             ++i) {
          delay *= 2;
        }
        delay = std::min(delay, options_.max_failure_backoff);
        if (now_t < it->second + delay) wait = it->second + delay - now_t;
      }
    }
    if (wait) {
      queue_->AddAfter(key, *wait);
    } else if (expectations_.Satisfied(key)) {
      if (active_count < want) {
        int64_t n = want - active_count;
        expectations_.ExpectCreations(key, static_cast<int>(n));
        const Json* tmpl = api::FieldPath(job, {"spec", "template"});
        Json pod = PodFromTemplate(tmpl != nullptr ? *tmpl : Json::object(), ns,
                                   MakeControllerRef(job, "batch/v1", "Job"),
                                   "", name + "-");
        for (int64_t i = 0; i < n; ++i) {
          auto r = client_.Create(kPodsRef.In(ns), pod, {});
          if (!r.ok()) {
            expectations_.CreationObserved(key, static_cast<int>(n - i));
            RecordEvent(client_, clock_, job, kComponent, "Warning",
                        "FailedCreate",
                        "Error creating: " + r.status().message());
            return r.status();
          }
          ++active_count;
          RecordEvent(client_, clock_, job, kComponent, "Normal",
                      "SuccessfulCreate", "Created pod: " + api::Name(*r));
        }
      } else if (active_count > want) {
        // The newest go first.
        std::sort(
            active.begin(), active.end(), [](const Json& a, const Json& b) {
              return api::GetString(a, {"metadata", "creationTimestamp"}) >
                     api::GetString(b, {"metadata", "creationTimestamp"});
            });
        std::vector<Json> extra(active.begin(),
                                active.begin() + (active_count - want));
        KITE_RETURN_IF_ERROR(delete_pods(extra));
        terminating += active_count - want;
        active_count = want;
      }
    }
    if (deadline >= 0 && started) {
      auto left = *started + std::chrono::seconds(deadline) - now_t;
      queue_->AddAfter(key, left + std::chrono::milliseconds(100));
    }
  }

  status["active"] = active_count;
  status["ready"] = ready;
  status["succeeded"] = succeeded;
  status["failed"] = failed;
  status["terminating"] = terminating;
  for (const char* zero : {"active", "succeeded", "failed"}) {
    if (status[zero] == 0) status.erase(zero);  // omitempty, as Kubernetes
  }
  if (status == old_status) return Status::Ok();
  job["status"] = std::move(status);
  client::UpdateOptions uo;
  uo.subresource = "status";
  auto r = client_.Update(kJobsRef.In(ns), job, uo);
  if (!r.ok() && r.status().code() != Code::kNotFound) return r.status();
  return Status::Ok();
}

}  // namespace kite::controllers

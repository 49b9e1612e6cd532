// JobController: runs a batch/v1 Job's pods to completion.
//
// For each Job it counts the pods it controls (controller ownerReference
// to the Job's uid): active (not terminal, not being deleted), ready,
// succeeded and failed. It keeps min(parallelism, completions - succeeded)
// pods active (parallelism, default 1; without completions, parallelism
// until one pod succeeds), creating pods named <job>-<random> from
// .spec.template (the API server's Job defaulting puts the job-name and
// controller-uid labels there), and deleting surplus ones. Then:
// - succeeded >= completions (or, without completions, a pod succeeded and
//   none is active): condition Complete, completionTime, event Completed;
// - failed > backoffLimit (default 6): condition Failed, reason
//   BackoffLimitExceeded; active pods are deleted;
// - running longer than activeDeadlineSeconds: Failed, DeadlineExceeded;
// - spec.suspend: active pods are deleted, condition Suspended.
// After a pod failure, replacements wait 10 s doubling per failure (at most
// 10 min) from when the failure was seen (kept in memory: a restart skips
// the rest of a wait).
// Status (active, ready, succeeded, failed, terminating, startTime,
// completionTime, conditions) is written through the status subresource;
// events SuccessfulCreate / SuccessfulDelete / Completed /
// BackoffLimitExceeded / DeadlineExceeded are recorded on the Job. Succeeded
// and failed never decrease (pods may be garbage collected). Not done:
// Indexed completion mode, podFailurePolicy and the job-tracking finalizer.
//
// Level-triggered over shared informers of jobs and pods; a restart
// re-counts from the pods. Expectations keep it from creating twice before
// its informer saw its own pods.
//
// Threading: informer threads enqueue "<ns>/<name>"; `workers` threads
// reconcile. Start()/Stop() from the owner; Stop() is idempotent.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "client/informer.h"
#include "client/interface.h"
#include "client/work_queue.h"
#include "common/clock.h"
#include "common/status.h"
#include "server/controllers/controller.h"
#include "server/controllers/workload.h"

namespace kite::controllers {

inline const client::ResourceRef kJobsRef{"batch", "v1", "jobs", ""};

struct JobControllerOptions {
  int workers = 2;
  Clock* clock = nullptr;  // null: RealClock()
  // Replacement pods after failures wait failure_backoff * 2^(failed-1),
  // at most max_failure_backoff, from the last failure seen.
  std::chrono::seconds failure_backoff{10};
  std::chrono::seconds max_failure_backoff{600};
};

class JobController : public Controller {
 public:
  JobController(client::Interface& client,
                client::SharedInformerFactory& informers,
                JobControllerOptions options = {});
  ~JobController() override;
  JobController(const JobController&) = delete;
  JobController& operator=(const JobController&) = delete;

  Status Start() override;
  void Stop() override;

  // Reconciles the Job "<ns>/<name>" once (tests call it directly).
  Status Sync(const std::string& key);
  client::WorkQueue& queue() { return *queue_; }

 private:
  void EnqueueOwner(const Json& pod);
  void Worker();

  client::Interface& client_;
  JobControllerOptions options_;
  Clock& clock_;
  client::Informer& jobs_;
  client::Informer& pods_;
  std::unique_ptr<client::WorkQueue> queue_;
  Expectations expectations_;
  std::vector<std::thread> workers_;
  bool started_ = false;
  std::mutex mu_;
  std::map<std::string, api::Time> last_failure_;  // by job key, when seen
};

// True when the Job has a Complete or Failed condition with status True.
bool IsJobFinished(const Json& job);

}  // namespace kite::controllers

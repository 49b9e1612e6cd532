// CronJobController: creates a CronJob's Jobs on its schedule.
//
// For each CronJob it finds the most recent scheduled minute (cron_schedule.h,
// UTC) after status.lastScheduleTime (or creation) that has come, and
// creates the Job <cronjob>-<minutes since the epoch> from .spec.jobTemplate
// with a controller ownerReference and the annotation
// batch.kubernetes.io/cronjob-scheduled-timestamp. Then it waits (a delayed
// work-queue item) for the next minute of the schedule. It honours:
// - suspend: nothing is started;
// - startingDeadlineSeconds: a run more than this late is skipped;
// - concurrencyPolicy Allow (runs overlap), Forbid (no run while one is
//   active; the run is not recorded, so it starts later if the deadline
//   allows), Replace (the active Jobs are deleted first);
// - successfulJobsHistoryLimit (default 3) and failedJobsHistoryLimit
//   (default 1): older finished Jobs are deleted (background propagation,
//   their pods follow through the garbage collector);
// - timeZone: only UTC ("UTC", "Etc/UTC") is known; another zone gets a
//   Warning UnknownTimeZone event and no runs.
// status.active (references to the unfinished Jobs), lastScheduleTime and
// lastSuccessfulTime are written through the status subresource, with
// events SuccessfulCreate, SuccessfulDelete, SawCompletedJob,
// MissSchedule, InvalidSchedule as kubectl describe shows them.
//
// Time comes from the Clock (FakeClock in tests). Level-triggered over
// shared informers of cronjobs and jobs.
//
// Threading: informer threads enqueue "<ns>/<name>"; `workers` threads
// reconcile. Start()/Stop() from the owner; Stop() is idempotent.
#pragma once

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "client/informer.h"
#include "client/interface.h"
#include "client/work_queue.h"
#include "common/clock.h"
#include "common/status.h"
#include "server/controllers/controller.h"
#include "server/controllers/job_controller.h"

namespace kite::controllers {

inline const client::ResourceRef kCronJobsRef{"batch", "v1", "cronjobs", ""};

struct CronJobControllerOptions {
  int workers = 1;
  Clock* clock = nullptr;  // null: RealClock()
};

class CronJobController : public Controller {
 public:
  CronJobController(client::Interface& client,
                    client::SharedInformerFactory& informers,
                    CronJobControllerOptions options = {});
  ~CronJobController() override;
  CronJobController(const CronJobController&) = delete;
  CronJobController& operator=(const CronJobController&) = delete;

  Status Start() override;
  void Stop() override;

  // Reconciles the CronJob "<ns>/<name>" once (tests call it directly).
  Status Sync(const std::string& key);
  client::WorkQueue& queue() { return *queue_; }

 private:
  void Worker();

  client::Interface& client_;
  CronJobControllerOptions options_;
  Clock& clock_;
  client::Informer& cronjobs_;
  client::Informer& jobs_;
  std::unique_ptr<client::WorkQueue> queue_;
  std::vector<std::thread> workers_;
  bool started_ = false;
};

}  // namespace kite::controllers

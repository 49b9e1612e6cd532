// TtlAfterFinishedController: deletes finished Jobs whose
// spec.ttlSecondsAfterFinished has run out (the TTL-after-finished
// controller of Kubernetes). A Job is finished when it has a Complete or
// Failed condition; its finish time is status.completionTime, else that
// condition's lastTransitionTime. It is deleted at finish + TTL with
// foreground propagation (its pods go first) and a uid precondition; a Job
// that expires later is looked at again then (a delayed work-queue item).
//
// Threading: the informer thread enqueues "<ns>/<name>"; one worker
// deletes. Start()/Stop() from the owner; Stop() is idempotent.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "client/informer.h"
#include "client/interface.h"
#include "client/work_queue.h"
#include "common/clock.h"
#include "common/status.h"
#include "server/controllers/controller.h"

namespace kite::controllers {

struct TtlAfterFinishedControllerOptions {
  Clock* clock = nullptr;  // null: RealClock()
};

class TtlAfterFinishedController : public Controller {
 public:
  TtlAfterFinishedController(client::Interface& client,
                             client::SharedInformerFactory& informers,
                             TtlAfterFinishedControllerOptions options = {});
  ~TtlAfterFinishedController() override;
  TtlAfterFinishedController(const TtlAfterFinishedController&) = delete;
  TtlAfterFinishedController& operator=(const TtlAfterFinishedController&) =
      delete;

  Status Start() override;
  void Stop() override;

  // Looks at Job "<ns>/<name>" once (tests call it directly).
  Status Sync(const std::string& key);
  client::WorkQueue& queue() { return *queue_; }

 private:
  void Worker();

  client::Interface& client_;
  Clock& clock_;
  client::Informer& jobs_;
  std::unique_ptr<client::WorkQueue> queue_;
  std::thread worker_;
  bool started_ = false;
};

}  // namespace kite::controllers

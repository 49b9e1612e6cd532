// PodGcController: removes pods nobody will remove otherwise (the pod
// garbage collector of Kubernetes). Every `period` it force-deletes
// (grace period 0):
// - terminated pods (Succeeded or Failed) beyond `terminated_threshold`,
//   the oldest first (0 disables this part);
// - orphaned pods: bound to a node (spec.nodeName) that does not exist
//   (confirmed with a live GET, so a cache that is behind deletes nothing);
// - unscheduled pods being deleted (no node to confirm the deletion).
//
// Threading: the pass is a work-queue item re-added after each run; one
// worker runs it. Start()/Stop() from the owner; Stop() is idempotent.
// Collect() may be called directly (tests).
#pragma once

#include <chrono>
#include <memory>
#include <thread>

#include "client/informer.h"
#include "client/interface.h"
#include "client/work_queue.h"
#include "common/clock.h"
#include "common/status.h"
#include "server/controllers/controller.h"

namespace kite::controllers {

struct PodGcControllerOptions {
  int terminated_threshold = 12500;
  std::chrono::milliseconds period{20000};
  Clock* clock = nullptr;  // null: RealClock()
};

class PodGcController : public Controller {
 public:
  PodGcController(client::Interface& client,
                  client::SharedInformerFactory& informers,
                  PodGcControllerOptions options = {});
  ~PodGcController() override;
  PodGcController(const PodGcController&) = delete;
  PodGcController& operator=(const PodGcController&) = delete;

  Status Start() override;
  void Stop() override;

  // One pass; returns how many pods it deleted.
  StatusOr<int> Collect();

 private:
  void Worker();

  client::Interface& client_;
  PodGcControllerOptions options_;
  Clock& clock_;
  client::Informer& pods_;
  client::Informer& nodes_;
  std::unique_ptr<client::WorkQueue> queue_;
  std::thread worker_;
  bool started_ = false;
};

}  // namespace kite::controllers

// NodeLifecycleController: notices nodes that stopped reporting, taints
// them and evicts their pods (the node lifecycle controller and taint
// manager of Kubernetes).
//
// Every `monitor_period` it looks at each Node:
// - health: a node counts as reporting while its Lease
//   (kube-node-lease/<node>) spec.renewTime or its Ready condition's
//   lastHeartbeatTime keeps changing; the time of the last change is taken
//   from this process's clock (so clock skew does not matter, and after a
//   restart every node gets a fresh grace period). After `grace_period`
//   (40 s) without a change, Ready, MemoryPressure, DiskPressure and
//   PIDPressure turn Unknown, reason NodeStatusUnknown, message "Kubelet
//   stopped posting node status.", with a NodeNotReady event;
// - taints: Ready=Unknown -> node.kubernetes.io/unreachable NoSchedule and
//   NoExecute; Ready=False -> node.kubernetes.io/not-ready NoSchedule and
//   NoExecute (timeAdded set); Ready=True -> both removed;
// - pods: on a node that is not Ready, Ready pod conditions turn False; pods
//   that do not tolerate a NoExecute taint are deleted once its timeAdded
//   plus their tolerationSeconds (the API server adds 300 s tolerations for
//   both taints to every pod) has passed, with a TaintManagerEviction event.
//
// Threading: the monitor is a work-queue item re-added after each pass; one
// worker runs it. Start()/Stop() from the owner; Stop() is idempotent.
// Monitor() may be called directly (tests, with a FakeClock).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "client/informer.h"
#include "client/interface.h"
#include "client/work_queue.h"
#include "common/clock.h"
#include "common/status.h"
#include "server/controllers/controller.h"

namespace kite::controllers {

struct NodeLifecycleControllerOptions {
  std::chrono::milliseconds grace_period{40000};
  std::chrono::milliseconds monitor_period{5000};
  Clock* clock = nullptr;  // null: RealClock()
};

class NodeLifecycleController : public Controller {
 public:
  static constexpr char kUnreachableTaint[] = "node.kubernetes.io/unreachable";
  static constexpr char kNotReadyTaint[] = "node.kubernetes.io/not-ready";

  NodeLifecycleController(client::Interface& client,
                          client::SharedInformerFactory& informers,
                          NodeLifecycleControllerOptions options = {});
  ~NodeLifecycleController() override;
  NodeLifecycleController(const NodeLifecycleController&) = delete;
  NodeLifecycleController& operator=(const NodeLifecycleController&) = delete;

  Status Start() override;
  void Stop() override;

  // One pass over every node (from the informers' caches).
  Status Monitor();

 private:
  struct Health {
    std::string renew;      // the lease's renewTime last seen
    std::string heartbeat;  // Ready's lastHeartbeatTime last seen
    Clock::MonoTime probe;  // when either last changed, by our clock
  };

  void Worker();
  Status MonitorNode(const client::Json& node);
  // Ready etc. -> Unknown; returns the node as stored.
  StatusOr<client::Json> MarkUnknown(client::Json node);
  Status SyncTaints(client::Json node, const std::string& ready);
  Status SyncPods(const client::Json& node, const std::string& ready);

  client::Interface& client_;
  NodeLifecycleControllerOptions options_;
  Clock& clock_;
  client::Informer& nodes_;
  client::Informer& leases_;
  client::Informer& pods_;
  std::unique_ptr<client::WorkQueue> queue_;
  std::thread worker_;
  bool started_ = false;
  std::mutex mu_;
  std::map<std::string, Health> health_;  // by node name
};

}  // namespace kite::controllers

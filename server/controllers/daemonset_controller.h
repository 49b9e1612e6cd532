// DaemonSetController: one pod of each DaemonSet on every eligible node.
//
// A node is eligible when it is not being deleted, its labels match the
// template's nodeSelector and required node affinity (matchExpressions on
// labels, matchFields on metadata.name), and the pod tolerates its
// NoSchedule/NoExecute taints; the pods carry the DaemonSet defaults
// (not-ready and unreachable NoExecute, disk/memory/pid-pressure and
// unschedulable NoSchedule) on top of the template's tolerations.
//
// Placement (decision, see docs/decisions.md): the controller binds its
// pods itself by setting spec.nodeName when it creates them, as Kubernetes
// did before 1.12, rather than leaving them to the scheduler through a
// matchFields affinity: a DaemonSet pod belongs on its node whatever the
// scheduler thinks of the node's free resources, and it works before any
// scheduler runs.
//
// Nodes that join later get their pod when the node informer reports them;
// pods on nodes that stop qualifying are deleted (a NoSchedule taint
// alone keeps a running pod), as are extra pods on one
// node and Failed pods (recreated on the next pass). Rolling update: pods
// whose controller-revision-hash label is not the template's are replaced
// while at most maxUnavailable (default 1; an int or a percentage of the
// desired count) eligible nodes lack an available pod; old pods that are not
// available go at once. OnDelete replaces only pods deleted by someone else.
//
// Status: desiredNumberScheduled, currentNumberScheduled,
// numberMisscheduled, numberReady, updatedNumberScheduled, numberAvailable,
// numberUnavailable, observedGeneration (what `kubectl get ds` and
// `kubectl rollout status ds` read). Every template is kept as a
// ControllerRevision (workload.h), which `kubectl rollout history/undo ds`
// use. Events SuccessfulCreate and
// SuccessfulDelete.
//
// Threading: informer threads only enqueue; `workers` threads reconcile;
// Start()/Stop() as controller.h. Sync() may be called directly (tests).
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
#include "server/controllers/workload.h"

namespace kite::controllers {

struct DaemonSetControllerOptions {
  int workers = 2;
  Clock* clock = nullptr;  // null: RealClock()
};

// True when a pod with `pod_spec` may run on `node` by the DaemonSet rules
// above (nodeSelector, required node affinity, taints vs tolerations
// including the DaemonSet defaults). With `already_running`, NoSchedule
// taints are ignored: as in Kubernetes they keep new daemon pods away but do
// not evict one that runs there (NoExecute does).
bool DaemonPodFitsNode(const Json& pod_spec, const Json& node,
                       bool already_running = false);

class DaemonSetController : public Controller {
 public:
  DaemonSetController(client::Interface& client,
                      client::SharedInformerFactory& informers,
                      DaemonSetControllerOptions options = {});
  ~DaemonSetController() override;
  DaemonSetController(const DaemonSetController&) = delete;
  DaemonSetController& operator=(const DaemonSetController&) = delete;

  Status Start() override;
  void Stop() override;

  Status Sync(const std::string& key);

 private:
  void EnqueueAll();
  enum class PodEvent { kAdded, kUpdated, kDeleted };
  void OnPod(const Json& pod, PodEvent ev);
  void Worker();
  Status UpdateStatus(const Json& ds, const Json& status);

  client::Interface& client_;
  client::Informer& sets_;
  client::Informer& nodes_;
  client::Informer& pods_;
  client::Informer& revisions_;
  DaemonSetControllerOptions options_;
  Clock& clock_;
  Expectations expectations_;
  std::unique_ptr<client::WorkQueue> queue_;
  std::vector<std::thread> workers_;
  bool started_ = false;
};

}  // namespace kite::controllers

// StatefulSetController: pods with stable names, storage and order.
//
// A StatefulSet "web" of N replicas owns pods web-0 .. web-(N-1) (from
// spec.ordinals.start), each with hostname = its name, subdomain =
// spec.serviceName, labels statefulset.kubernetes.io/pod-name,
// apps.kubernetes.io/pod-index and controller-revision-hash, and for every
// volumeClaimTemplate "data" a PersistentVolumeClaim data-web-<i> (created
// before the pod, owned by nobody, so it outlives scale-down as Kubernetes'
// default Retain policy) mounted as volume "data".
//
// podManagementPolicy OrderedReady creates in ordinal order, each only once
// every lower one is Running and Ready, and scales down from the highest
// ordinal, one at a time; Parallel creates and deletes all at once. Failed
// pods are deleted and recreated under the same name.
//
// Revisions: every distinct pod template is stored as a ControllerRevision
// "<sts>-<hash>" (data.spec.template, revision number increasing, owned by
// the StatefulSet); status.updateRevision names the template's, and
// status.currentRevision the one all pods ran before the rollout.
// RollingUpdate replaces pods whose revision is not the update revision from
// the highest ordinal down to spec.updateStrategy.rollingUpdate.partition,
// one at a time, each after the others are Ready; OnDelete leaves that to
// the user. Revisions beyond revisionHistoryLimit (not current, not update)
// are deleted.
//
// Status: replicas, readyReplicas, availableReplicas, currentReplicas,
// updatedReplicas, currentRevision, updateRevision, observedGeneration
// (what `kubectl rollout status sts` reads). Events SuccessfulCreate and
// SuccessfulDelete with Kubernetes' wording.
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

struct StatefulSetControllerOptions {
  int workers = 2;
  Clock* clock = nullptr;  // null: RealClock()
};

class StatefulSetController : public Controller {
 public:
  StatefulSetController(client::Interface& client,
                        client::SharedInformerFactory& informers,
                        StatefulSetControllerOptions options = {});
  ~StatefulSetController() override;
  StatefulSetController(const StatefulSetController&) = delete;
  StatefulSetController& operator=(const StatefulSetController&) = delete;

  Status Start() override;
  void Stop() override;

  Status Sync(const std::string& key);

 private:
  void OnPod(const Json& pod);
  void Worker();
  // The pod template stored in revision `name` (nullopt when unknown).
  std::optional<Json> RevisionTemplate(const std::string& ns,
                                       const std::string& name);
  Status CreatePod(const Json& sts, const Json& tmpl,
                   const std::string& revision, int64_t ordinal);
  Status DeletePod(const Json& sts, const Json& pod);

  client::Interface& client_;
  client::Informer& sets_;
  client::Informer& pods_;
  client::Informer& revisions_;
  StatefulSetControllerOptions options_;
  Clock& clock_;
  std::unique_ptr<client::WorkQueue> queue_;
  std::vector<std::thread> workers_;
  bool started_ = false;
};

}  // namespace kite::controllers

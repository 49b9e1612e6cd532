// DeploymentController: rolls Deployments out through ReplicaSets.
//
// Each pod template gets its own ReplicaSet, named "<deploy>-<hash>" where
// the hash (of the template and status.collisionCount) is also the
// pod-template-hash label added to the ReplicaSet's selector and template.
// The ReplicaSet whose template equals the Deployment's (ignoring that
// label) is the new one; the others are old. Strategies:
// - RollingUpdate: grow the new ReplicaSet while the total stays within
//   replicas + maxSurge, shrink old ones (unhealthy pods first) while at
//   least replicas - maxUnavailable stay available (both default 25%;
//   surge rounds up, unavailable down);
// - Recreate: scale every old ReplicaSet to 0, wait until their pods are
//   gone, then create the new one at full size.
// Revisions: the new ReplicaSet gets deployment.kubernetes.io/revision = the
// highest old revision + 1 (also written on the Deployment); annotations of
// the Deployment (kubernetes.io/change-cause among them) pass through to
// it, which is what `kubectl rollout history` and `kubectl rollout undo`
// (client-side in kubectl 1.32: it patches the template back) read. Old
// ReplicaSets scaled to 0 beyond spec.revisionHistoryLimit are deleted once
// a rollout completes. spec.paused stops rollouts (scaling still applies).
//
// Status: observedGeneration, replicas, updatedReplicas, readyReplicas,
// availableReplicas, unavailableReplicas, and the conditions Available
// (MinimumReplicasAvailable / MinimumReplicasUnavailable) and Progressing
// (NewReplicaSetAvailable, ReplicaSetUpdated, DeploymentPaused,
// ProgressDeadlineExceeded after progressDeadlineSeconds without progress),
// as `kubectl rollout status` and `kubectl describe` read them. Events:
// ScalingReplicaSet "Scaled up replica set <rs> from <a> to <b>".
//
// Level-triggered over shared informers (deployments, replicasets, pods);
// ReplicaSets are adopted/released by selector like pods by a ReplicaSet.
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

struct DeploymentControllerOptions {
  int workers = 5;
  Clock* clock = nullptr;  // null: RealClock()
};

class DeploymentController : public Controller {
 public:
  static constexpr char kRevisionAnnotation[] =
      "deployment.kubernetes.io/revision";
  static constexpr char kHashLabel[] = "pod-template-hash";

  DeploymentController(client::Interface& client,
                       client::SharedInformerFactory& informers,
                       DeploymentControllerOptions options = {});
  ~DeploymentController() override;
  DeploymentController(const DeploymentController&) = delete;
  DeploymentController& operator=(const DeploymentController&) = delete;

  Status Start() override;
  void Stop() override;

  // Reconciles "ns/name" once from the caches.
  Status Sync(const std::string& key);

  client::WorkQueue& queue() { return *queue_; }

 private:
  struct Rollout;  // one sync's view: the deployment and its ReplicaSets

  void Enqueue(const std::string& key) { queue_->Add(key); }
  void OnReplicaSet(const Json& rs);
  void OnPodDelete(const Json& pod);
  void Worker();

  // The new ReplicaSet (created when `create`), revisions kept in step.
  Status FindOrCreateNew(Rollout& r, bool create);
  // Sets a ReplicaSet's replicas (and the desired/max annotations);
  // returns true when it changed anything.
  StatusOr<bool> ScaleReplicaSet(Rollout& r, Json& rs, int64_t replicas);
  Status RolloutRolling(Rollout& r);
  Status RolloutRecreate(Rollout& r);
  // Paused or deleting: only spec.replicas is followed.
  Status ScaleOnly(Rollout& r);
  Status Cleanup(Rollout& r);
  Status SyncStatus(Rollout& r);

  client::Interface& client_;
  client::Informer& deployments_;
  client::Informer& sets_;
  client::Informer& pods_;
  DeploymentControllerOptions options_;
  Clock& clock_;
  std::unique_ptr<client::WorkQueue> queue_;
  std::vector<std::thread> workers_;
  bool started_ = false;
};

}  // namespace kite::controllers

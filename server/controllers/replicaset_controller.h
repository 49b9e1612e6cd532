// ReplicaSetController: keeps spec.replicas pods of every ReplicaSet.
//
// For each ReplicaSet it claims the pods of its namespace: pods it controls
// that still match its selector stay, pods it controls that no longer match
// are released (its ownerReference removed), orphans that match are adopted
// (a controller ownerReference added). It then creates pods from
// spec.template (generateName "<rs>-", so "<rs>-<5 chars>", with a
// controller ownerReference and blockOwnerDeletion) or deletes the least
// valuable ones (unscheduled before scheduled, Pending before Running,
// not-ready before ready, ready for less time, more restarts, newest
// first) until the active pods match spec.replicas. Creates go in batches
// of 1, 2, 4, ... (slow start: a failing create stops the rest), at most
// `burst` per sync. Expectations (workload.h) hold further changes until the
// pod informer has seen the creates and deletes made, so a slow cache never
// causes double creates.
//
// Status: replicas, fullyLabeledReplicas, readyReplicas, availableReplicas
// (Ready for minReadySeconds), observedGeneration, and a ReplicaFailure
// condition while creates or deletes fail. Events SuccessfulCreate /
// SuccessfulDelete / FailedCreate, as `kubectl describe rs` shows them.
//
// Level-triggered: shared informers on replicasets and pods; the work queue
// holds "ns/name" keys; Sync reads only the caches (and writes through the
// client), so a restart re-lists and carries on.
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

struct ReplicaSetControllerOptions {
  int workers = 5;
  Clock* clock = nullptr;  // null: RealClock()
  // Most pods created or deleted by one sync.
  int burst = 500;
};

class ReplicaSetController : public Controller {
 public:
  ReplicaSetController(client::Interface& client,
                       client::SharedInformerFactory& informers,
                       ReplicaSetControllerOptions options = {});
  ~ReplicaSetController() override;
  ReplicaSetController(const ReplicaSetController&) = delete;
  ReplicaSetController& operator=(const ReplicaSetController&) = delete;

  Status Start() override;
  void Stop() override;

  // Reconciles "ns/name" once from the caches.
  Status Sync(const std::string& key);

  client::WorkQueue& queue() { return *queue_; }

 private:
  void EnqueueObj(const Json& rs);
  void OnPodAdd(const Json& pod);
  void OnPodUpdate(const Json& old_pod, const Json& pod);
  void OnPodDelete(const Json& pod);
  // The ReplicaSets of the pod's namespace whose selector matches it.
  std::vector<std::string> MatchingSets(const Json& pod);
  void Worker();
  // Creates or deletes pods; returns the first error.
  Status Manage(const Json& rs, const std::string& key,
                const std::vector<Json>& active);
  Status UpdateStatus(const Json& rs, const std::vector<Json>& pods,
                      const Status& manage_error);

  client::Interface& client_;
  client::Informer& sets_;
  client::Informer& pods_;
  ReplicaSetControllerOptions options_;
  Clock& clock_;
  Expectations expectations_;
  std::unique_ptr<client::WorkQueue> queue_;
  std::vector<std::thread> workers_;
  bool started_ = false;
};

// Shared with the Deployment controller: claims the objects of collection
// `ref` (pods, replicasets) for `owner` (its spec.selector; kind and
// apiVersion as given) among `candidates`: keeps those it controls that
// match, releases those it controls that do not, adopts matching orphans
// (through `client`, with resourceVersion preconditions). Returns the
// objects it controls afterwards.
std::vector<Json> ClaimObjects(
    client::Interface& client, const client::ResourceRef& ref,
    const Json& owner, const std::string& api_version, const std::string& kind,
    const std::vector<std::shared_ptr<const Json>>& candidates);

}  // namespace kite::controllers

// PersistentVolumeController: binds PersistentVolumeClaims to
// PersistentVolumes (Kubernetes' PV controller) and is kite's built-in
// local-path provisioner (StorageClass `local-path`, manifests/
// local-storage.yaml).
//
// Claims:
// - a claim without spec.storageClassName gets the default StorageClass
//   (annotation storageclass.kubernetes.io/is-default-class=true), as
//   Kubernetes' retroactive default class assignment does;
// - a Pending claim is bound to the best matching PV: pre-bound to it
//   (claimRef / volumeName) first, else the smallest Available one with the
//   same class and volumeMode, all the access modes asked for, enough
//   capacity and labels matching the claim's selector;
// - a claim whose class says volumeBindingMode WaitForFirstConsumer waits
//   (event WaitForFirstConsumer) until the scheduler annotates it with
//   volume.kubernetes.io/selected-node; then only PVs whose nodeAffinity
//   admits that node match, and when none does and the class's provisioner
//   is kite.io/local-path, a PV "pvc-<claim uid>" is provisioned: hostPath
//   <storage_dir>/pvc-<uid>_<ns>_<name> (DirectoryOrCreate, made by the
//   node's agent), nodeAffinity kubernetes.io/hostname In [node], the
//   class's reclaim policy, label kite.io/local-path-node=<node>;
// - binding writes PV.spec.claimRef (with uid), PV phase Bound,
//   claim.spec.volumeName, the bind-completed/bound-by-controller
//   annotations and the claim's status (Bound, accessModes, capacity);
// - a bound claim whose PV disappeared is Lost;
// - claims carry the finalizer kubernetes.io/pvc-protection: a claim being
//   deleted goes only once no pod that has not finished uses it (the cache
//   first, then a live list of the namespace's pods to be sure), so a
//   running pod never loses its volume.
// Volumes:
// - without a claimRef a PV is Available;
// - once its claim is gone (by uid) it is Released and then, by
//   persistentVolumeReclaimPolicy: Retain keeps it, Delete deletes the PV
//   object when kite provisioned it (the node's agent removes the directory,
//   agent/kubelet/local_storage.h) and fails it otherwise (no deleter),
//   Recycle fails it (not supported).
//
// Threading: informer threads enqueue "claim:<ns>/<name>" and
// "volume:<name>" into one queue served by one worker, so binding decisions
// are serialized; stale caches are caught by resourceVersion conflicts and
// retried. Start()/Stop() from the owner; Stop() is idempotent.
#pragma once

#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "client/informer.h"
#include "client/interface.h"
#include "client/work_queue.h"
#include "common/clock.h"
#include "common/status.h"
#include "server/controllers/controller.h"

namespace kite::controllers {

inline constexpr char kLocalPathProvisioner[] = "kite.io/local-path";
inline constexpr char kSelectedNodeAnnotation[] =
    "volume.kubernetes.io/selected-node";
inline constexpr char kLocalPathNodeLabel[] = "kite.io/local-path-node";

struct PersistentVolumeControllerOptions {
  // Where the local-path provisioner puts volumes on the nodes
  // (<data-dir>/storage); required for provisioning.
  std::string storage_dir;
  Clock* clock = nullptr;  // null: RealClock()
};

class PersistentVolumeController : public Controller {
 public:
  PersistentVolumeController(client::Interface& client,
                             client::SharedInformerFactory& informers,
                             PersistentVolumeControllerOptions options);
  ~PersistentVolumeController() override;
  PersistentVolumeController(const PersistentVolumeController&) = delete;
  PersistentVolumeController& operator=(const PersistentVolumeController&) =
      delete;

  Status Start() override;
  void Stop() override;

  // One pass over "claim:<ns>/<name>" or "volume:<name>" (tests call it).
  Status Sync(const std::string& key);

 private:
  void Worker();
  void EnqueuePendingClaims();
  Status SyncClaim(const std::string& key);
  Status SyncVolume(const std::string& name);
  // The best matching PV for `claim` (nullptr: none); `node` non-empty:
  // only PVs whose nodeAffinity admits it.
  std::shared_ptr<const client::Json> FindVolume(const client::Json& claim,
                                                 const std::string& node);
  StatusOr<client::Json> Provision(const client::Json& claim,
                                   const client::Json& sc,
                                   const std::string& node);
  Status Bind(client::Json pv, client::Json claim);
  Status SetVolumePhase(const client::Json& pv, const std::string& phase,
                        const std::string& message = "");
  Status SetClaimPhase(const client::Json& claim, const std::string& phase);
  std::shared_ptr<const client::Json> DefaultClass();
  // Whether a pod that has not finished uses claim ns/name.
  StatusOr<bool> ClaimInUse(const std::string& ns, const std::string& name);
  // One event per (claim uid, reason, message) while the process lives.
  void EventOnce(const client::Json& obj, const std::string& type,
                 const std::string& reason, const std::string& message);

  client::Interface& client_;
  const PersistentVolumeControllerOptions options_;
  Clock& clock_;
  client::Informer& claims_;
  client::Informer& volumes_;
  client::Informer& classes_;
  client::Informer& nodes_;
  client::Informer& pods_;
  std::unique_ptr<client::WorkQueue> queue_;
  std::mutex events_mu_;
  std::set<std::string> events_sent_;
  std::thread worker_;
  bool started_ = false;
};

// Whether `node` satisfies a v1 NodeSelector ({"nodeSelectorTerms":[...]},
// ORed terms of ANDed matchExpressions / matchFields on metadata.name). An
// absent selector admits every node.
bool NodeSelectorAdmits(const client::Json* selector, const client::Json& node);

}  // namespace kite::controllers

// Pieces shared by the workload controllers (ReplicaSet, Deployment,
// DaemonSet, StatefulSet): pod readiness and availability as Kubernetes
// reckons them, controller ownerReferences, pods made from a template,
// Events as `kubectl describe` lists them, and the expectations that keep a
// controller from acting twice on a cache that has not caught up with its
// own writes.
//
// Thread safety: the free functions are pure (RecordEvent calls the client,
// which is safe from any thread); Expectations is safe for concurrent use.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "api/object.h"
#include "client/informer.h"
#include "client/interface.h"
#include "common/clock.h"
#include "common/status.h"

namespace kite::controllers {

using client::Json;

inline const client::ResourceRef kPodsRef{"", "v1", "pods", ""};
inline const client::ResourceRef kNodesRef{"", "v1", "nodes", ""};
inline const client::ResourceRef kEventsRef{"", "v1", "events", ""};
inline const client::ResourceRef kReplicaSetsRef{"apps", "v1", "replicasets",
                                                 ""};
inline const client::ResourceRef kDeploymentsRef{"apps", "v1", "deployments",
                                                 ""};
inline const client::ResourceRef kDaemonSetsRef{"apps", "v1", "daemonsets", ""};
inline const client::ResourceRef kStatefulSetsRef{"apps", "v1", "statefulsets",
                                                  ""};
inline const client::ResourceRef kControllerRevisionsRef{
    "apps", "v1", "controllerrevisions", ""};
inline const client::ResourceRef kPvcsRef{"", "v1", "persistentvolumeclaims",
                                          ""};

// Five characters from Kubernetes' name-suffix alphabet (no vowels, no
// look-alike digits).
std::string RandomSuffix(int n = 5);

// Pod phase and conditions.
bool IsPodReady(const Json& pod);
// Ready for at least `min_ready_seconds` by `now` (the Ready condition's
// lastTransitionTime).
bool IsPodAvailable(const Json& pod, int64_t min_ready_seconds, api::Time now);
bool IsPodTerminating(const Json& pod);
// Not Succeeded/Failed and not being deleted (what a controller counts).
bool IsPodActive(const Json& pod);
// When the pod turned Ready (nullopt when it is not Ready).
std::optional<api::Time> PodReadySince(const Json& pod);

// The ownerReference with controller=true, or nullptr.
const Json* ControllerRef(const Json& obj);
// A controller ownerReference to `owner` (controller and blockOwnerDeletion
// true).
Json MakeControllerRef(const Json& owner, const std::string& api_version,
                       const std::string& kind);

// A pod for `owner` from the pod template `tmpl` (labels, annotations,
// spec), in `ns`, named `name` (or generateName `generate_name`).
Json PodFromTemplate(const Json& tmpl, const std::string& ns,
                     const Json& controller_ref, const std::string& name,
                     const std::string& generate_name);

// FNV-1a 32 of `s`, as lowercase "safe" text (the pod-template-hash and
// controller-revision-hash form: digits and consonants, no vowels).
std::string ShortHash(const std::string& s);

// Creates a core/v1 Event about `obj` (its kind, namespace, name, uid) from
// `component`. type "Normal" or "Warning". Failures are logged, not
// returned: an event is a courtesy.
void RecordEvent(client::Interface& client, Clock& clock, const Json& obj,
                 const std::string& component, const std::string& type,
                 const std::string& reason, const std::string& message);

// The condition of `type` in status.conditions, or nullptr.
const Json* FindCondition(const Json& obj, const std::string& type);
// Sets `cond` (its type) in `status`.conditions; keeps lastTransitionTime
// when the status did not change. Returns true when anything changed.
bool SetCondition(Json& status, Json cond);
bool RemoveCondition(Json& status, const std::string& type);

// Makes sure the ControllerRevision "<owner>-<hash>" (in the owner's
// namespace, controlled by it, labelled with the owner's selector
// matchLabels plus controller-revision-hash=<hash>) holds `tmpl` as the
// strategic-merge patch `kubectl rollout undo` applies to DaemonSets and
// StatefulSets: {"spec":{"template":{...,"$patch":"replace"}}}. A new one
// gets the owner's highest revision number + 1, and so does an older one
// that comes back (a rollback), as in Kubernetes. `revisions` is the
// controllerrevisions informer. Returns the revision's name.
StatusOr<std::string> EnsureControllerRevision(
    client::Interface& client, client::Informer& revisions, const Json& owner,
    const std::string& kind, const Json& tmpl, const std::string& hash);
// Deletes the owner's oldest ControllerRevisions beyond
// spec.revisionHistoryLimit (default 10), never those named in `keep`.
Status CleanupControllerRevisions(client::Interface& client,
                                  client::Informer& revisions,
                                  const Json& owner,
                                  const std::set<std::string>& keep);
// The pod template a ControllerRevision holds (nullopt when it has none).
std::optional<Json> TemplateOfRevision(const Json& revision);

// How many pods a controller still waits to see created or deleted in its
// informer, per controller key (ControllerExpectations of Kubernetes).
// Creations are counted; deletions are remembered by pod key so a delete
// seen twice is not counted twice. Expectations older than `ttl` are given
// up (a lost watch event must not stall a controller for good).
class Expectations {
 public:
  explicit Expectations(Clock& clock,
                        std::chrono::seconds ttl = std::chrono::seconds(300));
  // True when nothing is pending for `key` (or the wait expired).
  bool Satisfied(const std::string& key);
  void ExpectCreations(const std::string& key, int n);
  void ExpectDeletion(const std::string& key, const std::string& pod_key);
  void CreationObserved(const std::string& key, int n = 1);
  void DeletionObserved(const std::string& key, const std::string& pod_key);
  void Forget(const std::string& key);

 private:
  struct Entry {
    int adds = 0;
    std::set<std::string> deletes;
    Clock::MonoTime since{};
  };
  Clock& clock_;
  const std::chrono::seconds ttl_;
  std::mutex mu_;
  std::map<std::string, Entry> entries_;
};

}  // namespace kite::controllers

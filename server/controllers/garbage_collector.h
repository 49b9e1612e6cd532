// GarbageCollector: deletes objects whose owners are gone, and carries out
// foreground and orphan deletion (metadata.ownerReferences, DESIGN.md §6).
//
// The API server only marks a delete with propagationPolicy Foreground or
// Orphan: it adds the "foregroundDeletion" or "orphan" finalizer and sets
// deletionTimestamp (rest_delete.cpp). This controller completes the loop:
// - background (and the owner simply gone): a dependent all of whose owners
//   are absent (not found, or found with another uid) is deleted, with a uid
//   precondition. A dependent that still has a live owner only loses its
//   references to the absent ones;
// - foreground: while an owner holds "foregroundDeletion", its dependents
//   are deleted (foreground themselves when they have dependents); once no
//   dependent with blockOwnerDeletion remains, the finalizer is removed and
//   the API server deletes the owner;
// - orphan: the owner's dependents lose their reference to it, then the
//   "orphan" finalizer is removed.
//
// It knows the objects through a dependency graph (uid -> identity, owner
// references, dependents). Kinds that commonly own or are owned (pods, the
// apps and batch kinds, services, endpoints, slices, nodes, leases) are
// watched through shared informers, so `kubectl delete deploy` cascades at
// once. Every other stored kind (custom resources included, events
// excepted) is listed every `scan_period`: deletions there are noticed
// within a period. Every delete decision is verified with live GETs of the
// owners first; foreground and orphan processing also lists the unwatched
// kinds live, so no dependent is missed.
//
// Level-triggered: a restart re-lists and re-checks every dependent.
//
// Threading: informer threads update the graph (under a mutex) and enqueue
// work; `workers` threads process the queue (including the periodic scan,
// a queue item). Start()/Stop() from the owner; Stop() is idempotent and
// runs in the destructor.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "client/informer.h"
#include "client/interface.h"
#include "client/work_queue.h"
#include "common/clock.h"
#include "common/status.h"
#include "server/controllers/controller.h"
#include "server/controllers/resources.h"

namespace kite::controllers {

struct GarbageCollectorOptions {
  // Every resource the collector covers (see GarbageCollectedResourcesOf),
  // asked anew on every scan (CRDs come and go). Required.
  std::function<std::vector<ApiResource>()> resources;
  // The resources watched through informers (ns empty); the others are
  // scanned.
  std::vector<client::ResourceRef> watched = DefaultWatched();
  std::chrono::milliseconds scan_period{30000};
  int workers = 4;
  Clock* clock = nullptr;  // null: RealClock()

  static std::vector<client::ResourceRef> DefaultWatched();
};

class GarbageCollector : public Controller {
 public:
  static constexpr char kForegroundFinalizer[] = "foregroundDeletion";
  static constexpr char kOrphanFinalizer[] = "orphan";

  // `client` and `informers` must outlive the collector. Registers handlers
  // on the informers of the watched resources.
  GarbageCollector(client::Interface& client,
                   client::SharedInformerFactory& informers,
                   GarbageCollectorOptions options);
  ~GarbageCollector() override;
  GarbageCollector(const GarbageCollector&) = delete;
  GarbageCollector& operator=(const GarbageCollector&) = delete;

  Status Start() override;
  void Stop() override;

  // Lists the unwatched resources once, updating the graph (tests; the
  // workers do it every scan_period).
  Status Scan();
  // Processes one queue key (tests drive the queue by hand).
  Status Process(const std::string& key);
  client::WorkQueue& queue() { return *queue_; }

 private:
  // An object as the graph knows it.
  struct OwnerRef {
    std::string api_version, kind, name, uid;
    bool block = false;  // blockOwnerDeletion
  };
  struct Node {
    std::string uid;
    client::ResourceRef ref;  // with ns
    std::string name;
    std::vector<OwnerRef> owners;
    bool deleting = false;
    bool scanned = false;  // from a scan (unwatched kind), not an informer
  };
  enum class OwnerState { kSolid, kDangling, kWaiting };

  void OnUpsert(const client::ResourceRef& ref, const client::Json& obj,
                bool scanned);
  void OnRemove(const std::string& uid);
  // Needs mu_. Replaces the node of `uid`, keeping the dependents index.
  void PutLocked(const std::string& uid, Node node);
  void EraseLocked(const std::string& uid);
  void Worker();

  Status AttemptToDelete(const std::string& uid);
  Status ProcessForeground(const std::string& uid);
  Status ProcessOrphan(const std::string& uid);
  // The live state of an owner of an object in namespace `ns`.
  StatusOr<OwnerState> CheckOwner(const std::string& ns, const OwnerRef& o);
  // The resource of an owner reference; nullopt for unknown kinds.
  std::optional<ApiResource> Resolve(const std::string& api_version,
                                     const std::string& kind);
  // Dependents of `owner_uid`: the graph's plus the unwatched kinds' live.
  std::vector<Node> Dependents(const client::Json& owner);
  // Drops the references to `uids` from a dependent (CAS, retried).
  Status RemoveOwnerRefs(const Node& dep, const std::set<std::string>& uids);
  Status RemoveFinalizer(const client::ResourceRef& ref,
                         const std::string& name, const std::string& uid,
                         const std::string& finalizer);
  bool Watched(const client::ResourceRef& ref) const;

  client::Interface& client_;
  GarbageCollectorOptions options_;
  Clock& clock_;
  std::vector<client::Informer*> informers_;
  std::unique_ptr<client::WorkQueue> queue_;
  std::vector<std::thread> workers_;
  bool started_ = false;

  std::mutex mu_;
  std::map<std::string, Node> nodes_;                        // by uid
  std::map<std::string, std::set<std::string>> dependents_;  // owner uid ->
  std::vector<ApiResource> resources_;  // as of the last scan
  std::set<std::string> gone_;          // owner uids confirmed absent
};

}  // namespace kite::controllers

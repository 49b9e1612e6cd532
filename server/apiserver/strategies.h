// Strategies: what the API server does for particular kinds beyond the
// kinds table of api/ (which holds defaults, validation and printing).
//
// These are the Kubernetes registry behaviours that need the datastore or
// other objects, kept in one table keyed by group/kind so the REST handlers
// stay generic:
//   - Services: ClusterIP and NodePort allocation on create/update, release
//     on delete (allocators.h).
//   - Pods: admission defaults (serviceAccountName, priority from the
//     PriorityClass, the not-ready/unreachable tolerations), graceful
//     deletion (scheduled pods get a grace period and wait for their kubelet).
//   - Namespaces: delete turns the namespace Terminating while
//     spec.finalizers remain; it goes once they are emptied (finalize).
//   - CustomResourceDefinitions: register their kinds when written,
//     unregister them and delete their custom resources when gone.
//   - Events: kept one hour (datastore TTL).
//
// Allocation side effects are collected in a Txn: the caller commits it
// after the write succeeded or aborts it (releasing what was allocated)
// when anything failed, dry runs included.
//
// Thread safety: safe for concurrent use.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/kinds.h"
#include "server/apiserver/allocators.h"
#include "server/apiserver/errors.h"
#include "server/apiserver/object_store.h"

namespace kite::apiserver {

// Side effects of one write: undone on Abort() (or destruction without
// Commit()), finished on Commit().
class Txn {
 public:
  Txn() = default;
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  ~Txn() { Abort(); }
  void OnAbort(std::function<void()> f) { abort_.push_back(std::move(f)); }
  void OnCommit(std::function<void()> f) { commit_.push_back(std::move(f)); }
  void Commit();
  void Abort();

 private:
  std::vector<std::function<void()>> abort_, commit_;
  bool done_ = false;
};

// What a delete does to an object that must not go at once.
struct DeletePlan {
  bool graceful = false;  // wait for someone (the kubelet) to finish it
  int64_t grace_seconds = 0;
};

class Strategies {
 public:
  Strategies(ObjectStore& store, api::Registry& registry,
             ServiceAllocator& services);

  // After defaulting, before validation of a create. May change `obj` and
  // allocate (recorded in `txn`). Errors are answered as they are.
  ApiStatus AdmitCreate(const api::Kind& kind, nlohmann::json& obj, Txn& txn);
  // The same for updates (main resource), with the stored object.
  ApiStatus AdmitUpdate(const api::Kind& kind, nlohmann::json& obj,
                        const nlohmann::json& old, Txn& txn);

  // The datastore TTL objects of `kind` are written with (0: none).
  int64_t TtlSeconds(const api::Kind& kind) const;

  // How a delete of `obj` proceeds; `requested` is the client's
  // gracePeriodSeconds. A namespace with spec.finalizers is marked
  // Terminating here (status.phase) and kept.
  DeletePlan PlanDelete(const api::Kind& kind, nlohmann::json& obj,
                        std::optional<int64_t> requested) const;
  // Whether an object with a deletionTimestamp and no metadata.finalizers
  // may go now (a namespace also needs empty spec.finalizers).
  bool ReadyToRemove(const api::Kind& kind, const nlohmann::json& obj) const;

  // After a write was stored (CRDs register their kinds). `obj` may be
  // changed and must then be written again by the caller (returns true).
  bool AfterWrite(const api::Kind& kind, nlohmann::json& obj);
  // After the object is gone from the datastore.
  void AfterDelete(const api::Kind& kind, const nlohmann::json& obj);

 private:
  ApiStatus AllocateService(const api::Kind& kind, nlohmann::json& obj,
                            const nlohmann::json* old, Txn& txn);
  ApiStatus AdmitPod(const api::Kind& kind, nlohmann::json& obj);
  void DeleteCustomResources(const std::string& crd_name,
                             const nlohmann::json& crd);

  ObjectStore& store_;
  api::Registry& registry_;
  ServiceAllocator& services_;
};

}  // namespace kite::apiserver

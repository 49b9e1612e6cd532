// NamespaceController: the namespace lifecycle controller of Kubernetes.
//
// Deleting a namespace only marks it (metadata.deletionTimestamp, phase
// Terminating) while spec.finalizers holds "kubernetes". This controller
// then empties it: for every namespaced resource (given by a provider
// function, so custom resources count too) it deletes the namespace's
// objects with DeleteCollection (propagation Background; list and delete
// one by one where deletecollection is refused), then lists what is left.
// While objects remain (finalizers, grace periods) it records the
// NamespaceContentRemaining / NamespaceFinalizersRemaining /
// NamespaceDeletionContentFailure conditions in status and retries with
// per-namespace back-off (5 ms doubling up to 60 s, as Kubernetes). When
// nothing is left it removes "kubernetes" from spec.finalizers through the
// namespaces/<name>/finalize subresource and deletes the namespace again
// (with a uid precondition), which removes it for good once no finalizers
// remain.
//
// Level-triggered: it watches namespaces through a shared informer and
// reconciles by name from a live GET, so a restart re-lists and carries on.
//
// Threading: the informer's thread only enqueues names; `workers` threads
// reconcile. Start() after the informer factory's Start() or before it
// (workers wait for the cache to sync); Stop() shuts the queue down and
// joins the workers (idempotent; the destructor calls it). Sync() may be
// called directly (tests), from any thread.
#pragma once

#include <chrono>
#include <functional>
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

namespace kite::controllers {

// The namespaced collections to empty (ns fields ignored), asked anew on
// every sync (CRDs come and go). See NamespacedResourcesOf (resources.h).
using ResourceLister = std::function<std::vector<client::ResourceRef>()>;

struct NamespaceControllerOptions {
  int workers = 2;
  Clock* clock = nullptr;  // null: RealClock()
  // Per-namespace retry back-off while content remains.
  std::chrono::milliseconds min_retry{5};
  std::chrono::milliseconds max_retry{60000};
};

class NamespaceController : public Controller {
 public:
  // The finalizer this controller owns (spec.finalizers).
  static constexpr char kFinalizer[] = "kubernetes";

  // `client` and `informers` must outlive the controller. Registers its
  // handler on the namespaces informer of `informers`.
  NamespaceController(client::Interface& client,
                      client::SharedInformerFactory& informers,
                      ResourceLister resources,
                      NamespaceControllerOptions options = {});
  ~NamespaceController() override;
  NamespaceController(const NamespaceController&) = delete;
  NamespaceController& operator=(const NamespaceController&) = delete;

  Status Start() override;
  void Stop() override;

  // Reconciles namespace `name` once. OK when there is nothing (more) to
  // do: the namespace is gone, not being deleted, or finalized and deleted.
  // kUnavailable "content remaining ..." while objects are left (the caller
  // retries later); other errors as the client returned them.
  Status Sync(const std::string& name);

  // The work queue (tests watch it drain).
  client::WorkQueue& queue() { return *queue_; }

 private:
  struct Content;  // what is left in a namespace

  void Enqueue(const client::Json& ns);
  void Worker();
  // Deletes what can be deleted in `ns` and measures what is left.
  Content DeleteContent(const std::string& ns);
  // Writes the deletion conditions (and phase Terminating) into status when
  // they changed; returns the namespace as stored afterwards.
  StatusOr<client::Json> UpdateConditions(client::Json ns,
                                          const Content& content);
  // Removes kFinalizer from spec.finalizers via namespaces/<n>/finalize,
  // retrying on conflicts; returns the namespace as stored afterwards.
  StatusOr<client::Json> Finalize(client::Json ns);
  Status DeleteNamespace(const client::Json& ns);

  client::Interface& client_;
  client::Informer& informer_;
  ResourceLister resources_;
  NamespaceControllerOptions options_;
  Clock& clock_;
  std::unique_ptr<client::WorkQueue> queue_;
  std::vector<std::thread> workers_;
  bool started_ = false;
};

}  // namespace kite::controllers

// ServiceProxy: the node's service proxy (issue 7 item 1, docs/proxy.md).
// It watches Services and EndpointSlices through informers, and after
// each change (coalesced for `debounce`) builds the node's ProxySnapshot
// (proxy_model.h) and hands it to its Backend, only when it differs from
// the last snapshot the backend took. A failed Sync is retried with the
// then current snapshot after a back-off that doubles from min_retry to
// max_retry. Nothing is synced before both informers have listed once, so
// a restarted agent does not wipe the rules it left behind with an empty
// snapshot.
//
// The Service informer may be shared (the agent's, already used for the
// pods' environment); the EndpointSlice informer is the proxy's own.
// Handlers on the shared informer only set a flag in state the proxy
// shares with them, so they stay harmless after the proxy is gone.
//
// Threading: one thread of its own runs BuildSnapshot and the backend, so
// the backend is never called concurrently. Start()/Stop() from the owner;
// the counters may be read from any thread. Stop() joins the thread and,
// with cleanup_on_stop, removes what the backend installed. Idempotent;
// the destructor stops.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "agent/proxy/proxy_model.h"
#include "client/informer.h"
#include "client/interface.h"
#include "common/status.h"

namespace kite::proxy {

struct ServiceProxyOptions {
  SnapshotOptions snapshot;
  // Events within this long of the first one are served by one Sync.
  std::chrono::milliseconds debounce{80};
  // Waits before retrying a failed Sync: doubling from min to max.
  std::chrono::milliseconds min_retry{500};
  std::chrono::milliseconds max_retry{30000};
  // Stop() calls Backend::Cleanup() (--proxy-cleanup). Default: leave
  // the rules, so traffic survives an agent restart, as kube-proxy.
  bool cleanup_on_stop = false;
};

class ServiceProxy {
 public:
  // `api` (and `services`, when given: an informer of every Service, which
  // the caller starts) must outlive the proxy. `services` null: the proxy
  // watches Services itself.
  ServiceProxy(client::Interface& api, std::unique_ptr<Backend> backend,
               ServiceProxyOptions options,
               client::Informer* services = nullptr);
  ~ServiceProxy();
  ServiceProxy(const ServiceProxy&) = delete;
  ServiceProxy& operator=(const ServiceProxy&) = delete;

  // Starts the informers it owns and the proxy thread.
  // FailedPrecondition when started twice.
  Status Start();
  void Stop();

  const char* backend_name() const { return backend_->name(); }
  // Successful and failed Backend::Sync calls so far.
  int sync_count() const { return syncs_.load(); }
  int sync_error_count() const { return sync_errors_.load(); }
  // Snapshots built so far (a built snapshot equal to the last one synced
  // is not synced again).
  int build_count() const { return builds_.load(); }
  // The snapshot the backend last took successfully (empty before).
  ProxySnapshot last_synced() const;

 private:
  // What the informers' handlers and the proxy thread share.
  struct Signal {
    std::mutex mu;
    std::condition_variable cv;
    bool dirty = false;
    bool stopping = false;
    void Mark();
  };

  void Run();
  // Waits until `deadline` or Stop(); false when stopping.
  bool WaitUntil(std::chrono::steady_clock::time_point deadline);
  // Builds the snapshot and syncs it when it changed; false on a Sync
  // error.
  bool SyncOnce();

  client::Interface& api_;
  std::unique_ptr<Backend> backend_;
  const ServiceProxyOptions options_;
  std::unique_ptr<client::Informer> own_services_;
  client::Informer* services_;
  std::unique_ptr<client::Informer> slices_;
  std::shared_ptr<Signal> signal_;
  std::thread thread_;
  bool started_ = false;

  mutable std::mutex state_mu_;
  bool have_synced_ = false;   // guarded by state_mu_
  ProxySnapshot last_synced_;  // guarded by state_mu_
  std::atomic<int> syncs_{0};
  std::atomic<int> sync_errors_{0};
  std::atomic<int> builds_{0};
};

}  // namespace kite::proxy

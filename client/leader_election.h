// LeaderElector: leader election over a coordination.k8s.io/v1 Lease, as
// client-go's leaderelection package does it, so that of several servers
// sharing one datastore only one runs the scheduler and the controllers.
//
// The leader holds the Lease <namespace>/<name>: spec.holderIdentity is its
// identity, spec.renewTime the last renewal, spec.leaseDurationSeconds how
// long others wait. Every `retry_period` a candidate reads the Lease and
// - creates it when absent;
// - takes it when it is free (empty holder), already its own (a restart
//   with the same identity), or has not changed for `lease_duration` as
//   observed by this candidate's own clock (so clock skew between servers
//   does not matter): holder = us, acquireTime, leaseTransitions + 1;
// - renews it (renewTime) while leading.
// Every write is a compare-and-swap on resourceVersion, so two candidates
// never both win. A leader that cannot renew for `renew_deadline` stops
// leading (on_stopped_leading) and becomes a candidate again. Stop() while
// leading calls on_stopped_leading and releases the Lease (empty holder,
// leaseDurationSeconds 1) so a successor need not wait.
//
// Callbacks run on the elector's thread (or on the thread calling Stop())
// one at a time, never concurrently; on_started_leading should return
// quickly (start threads, do not block on them).
//
// Threading: Start()/Stop() from the owner; IsLeader() from any thread;
// TryAcquireOrRenew() is for tests that drive the elector without its
// thread (do not mix with Start()).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "client/interface.h"
#include "common/clock.h"
#include "common/status.h"

namespace kite::client {

struct LeaderElectionOptions {
  std::string lease_namespace = "kube-system";
  std::string lease_name;  // required
  std::string identity;    // required; stable across restarts of one server
  std::chrono::seconds lease_duration{15};
  std::chrono::seconds renew_deadline{10};
  std::chrono::seconds retry_period{5};
  Clock* clock = nullptr;  // null: RealClock()
};

class LeaderElector {
 public:
  // `client` must outlive the elector.
  LeaderElector(Interface& client, LeaderElectionOptions options,
                std::function<void()> on_started_leading,
                std::function<void()> on_stopped_leading);
  ~LeaderElector();
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  // Starts the election thread (the first attempt is immediate).
  // InvalidArgument without a lease name or identity.
  Status Start();
  void Stop();

  bool IsLeader() const { return leading_.load(); }

  // One round: true when this candidate holds the Lease afterwards. Errors
  // of the client other than a lost compare-and-swap pass through.
  StatusOr<bool> TryAcquireOrRenew();

 private:
  void Run();
  void Release();
  // Waits `d` unless stopping; false when stopping.
  bool Sleep(std::chrono::milliseconds d);

  Interface& client_;
  const LeaderElectionOptions options_;
  Clock& clock_;
  std::function<void()> on_started_;
  std::function<void()> on_stopped_;

  // What this candidate last saw of the Lease, and when (its own clock).
  std::string observed_record_;
  Clock::MonoTime observed_at_{};
  Clock::MonoTime last_renew_{};

  std::atomic<bool> leading_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool started_ = false;
  std::thread thread_;
};

}  // namespace kite::client

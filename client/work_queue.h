// WorkQueue: the rate-limited work queue of a controller, as client-go's
// workqueue.RateLimitingInterface.
//
// Controllers put keys ("namespace/name") in when an informer reports a
// change, and worker threads take them out, reconcile, and say Done. The
// queue guarantees:
// - dedup: a key waiting in the queue is queued once however often it is
//   added;
// - exclusivity: a key being processed (between Get and Done) is not handed
//   to another worker; if it is added meanwhile it is queued again at Done;
// - FIFO order of first addition otherwise;
// - delays: AddAfter makes a key ready later (an earlier ready time for a
//   key already waiting wins); AddRateLimited asks the RateLimiter how long
//   (per-key exponential back-off, plus an overall token bucket in the
//   default); Forget resets a key's back-off once it reconciled cleanly.
//
// Time comes from a Clock. The queue has no thread of its own: a Get()
// that finds nothing ready sleeps until the earliest delayed key is due (in
// real time, by the clock's reckoning) or something is added. With a
// FakeClock, call Wake() after FakeClock::Advance so sleeping Get()s look
// again. Nothing polls while idle.
//
// Thread safety: every method may be called from any thread. Get() blocks;
// ShutDown() releases every blocked Get() (which then returns nullopt) and
// drops what is still queued: controllers are level-triggered and re-list
// when they start again.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/clock.h"

namespace kite::client {

// Decides how long a key waits before it is retried.
// Thread safety: implementations are safe for concurrent use.
class RateLimiter {
 public:
  virtual ~RateLimiter() = default;
  // How long `key` should wait now (and records the attempt).
  virtual std::chrono::nanoseconds When(const std::string& key) = 0;
  // Clears what is recorded about `key`.
  virtual void Forget(const std::string& key) = 0;
  // Failures recorded for `key` since the last Forget.
  virtual int NumRequeues(const std::string& key) = 0;
};

// base * 2^failures, at most `max` (client-go's
// ItemExponentialFailureRateLimiter).
class ItemExponentialRateLimiter : public RateLimiter {
 public:
  ItemExponentialRateLimiter(std::chrono::nanoseconds base,
                             std::chrono::nanoseconds max);
  std::chrono::nanoseconds When(const std::string& key) override;
  void Forget(const std::string& key) override;
  int NumRequeues(const std::string& key) override;

 private:
  const std::chrono::nanoseconds base_;
  const std::chrono::nanoseconds max_;
  std::mutex mu_;
  std::unordered_map<std::string, int> failures_;
};

// A token bucket over all keys: `qps` tokens per second, at most `burst`
// saved up; a key that finds no token waits until one is due (client-go's
// BucketRateLimiter).
class BucketRateLimiter : public RateLimiter {
 public:
  BucketRateLimiter(Clock& clock, double qps, int burst);
  std::chrono::nanoseconds When(const std::string& key) override;
  void Forget(const std::string&) override {}
  int NumRequeues(const std::string&) override { return 0; }

 private:
  Clock& clock_;
  const double qps_;
  const double burst_;
  std::mutex mu_;
  double tokens_;
  Clock::MonoTime last_;
};

// The longest wait of several limiters.
class MaxOfRateLimiter : public RateLimiter {
 public:
  explicit MaxOfRateLimiter(std::vector<std::unique_ptr<RateLimiter>> limiters);
  std::chrono::nanoseconds When(const std::string& key) override;
  void Forget(const std::string& key) override;
  int NumRequeues(const std::string& key) override;

 private:
  std::vector<std::unique_ptr<RateLimiter>> limiters_;
};

// client-go's DefaultControllerRateLimiter: per key 5 ms doubling up to
// 1000 s, and 10 qps with a burst of 100 overall.
std::unique_ptr<RateLimiter> DefaultControllerRateLimiter(Clock& clock);
// The same shape with another per-key ceiling (the namespace controller
// uses 60 s, as in Kubernetes).
std::unique_ptr<RateLimiter> ControllerRateLimiter(
    Clock& clock, std::chrono::nanoseconds base, std::chrono::nanoseconds max);

class WorkQueue {
 public:
  // `clock` must outlive the queue. `limiter` null: the default controller
  // rate limiter.
  explicit WorkQueue(std::string name, Clock& clock = RealClock(),
                     std::unique_ptr<RateLimiter> limiter = nullptr);
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  // Queues `key` now (no-op after ShutDown).
  void Add(const std::string& key);
  // Queues `key` once `delay` has passed (at once for delay <= 0).
  void AddAfter(const std::string& key, std::chrono::nanoseconds delay);
  // AddAfter(key, limiter.When(key)).
  void AddRateLimited(const std::string& key);
  // Resets the back-off of `key`.
  void Forget(const std::string& key);
  int NumRequeues(const std::string& key);

  // Blocks until a key is ready and hands it out (the caller must call
  // Done(key) when finished); nullopt once ShutDown() was called.
  std::optional<std::string> Get();
  // Like Get() but gives up after `timeout` (real time); nullopt then too.
  std::optional<std::string> GetFor(std::chrono::milliseconds timeout);
  // Ends the processing of `key`; queues it again if it was added meanwhile.
  void Done(const std::string& key);

  // Wakes sleeping Get()s to look at the clock again (after a FakeClock
  // moved).
  void Wake();
  void ShutDown();
  bool ShuttingDown() const;

  // Keys ready to be handed out.
  size_t Len() const;
  // Keys waiting for their delay.
  size_t DelayedLen() const;
  const std::string& name() const { return name_; }

 private:
  void AddLocked(const std::string& key);
  // Moves the delayed keys that are due into the queue.
  void PromoteLocked(Clock::MonoTime now);
  std::optional<std::string> GetUntil(
      std::optional<std::chrono::steady_clock::time_point> deadline);

  const std::string name_;
  Clock& clock_;
  std::unique_ptr<RateLimiter> limiter_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  std::unordered_set<std::string> dirty_;       // queued or to requeue at Done
  std::unordered_set<std::string> processing_;  // handed out, not Done yet
  // Delayed keys: ready time per key, and the same ordered by time.
  std::unordered_map<std::string, Clock::MonoTime> delayed_;
  std::set<std::pair<Clock::MonoTime, std::string>> delayed_order_;
  bool shutting_down_ = false;
};

}  // namespace kite::client

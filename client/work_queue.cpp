#include "client/work_queue.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace kite::client {

using std::chrono::nanoseconds;

ItemExponentialRateLimiter::ItemExponentialRateLimiter(nanoseconds base,
                                                       nanoseconds max)
    : base_(base), max_(max) {}

nanoseconds ItemExponentialRateLimiter::When(const std::string& key) {
  std::lock_guard<std::mutex> l(mu_);
  int exp = failures_[key]++;
  // base * 2^exp without overflow: stop doubling once past max.
  double delay = static_cast<double>(base_.count()) * std::pow(2.0, exp);
  if (delay >= static_cast<double>(max_.count())) return max_;
  return nanoseconds(static_cast<int64_t>(delay));
}

void ItemExponentialRateLimiter::Forget(const std::string& key) {
  std::lock_guard<std::mutex> l(mu_);
  failures_.erase(key);
}

int ItemExponentialRateLimiter::NumRequeues(const std::string& key) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

BucketRateLimiter::BucketRateLimiter(Clock& clock, double qps, int burst)
    : clock_(clock),
      qps_(qps),
      burst_(burst),
      tokens_(burst),
      last_(clock.Monotonic()) {}

nanoseconds BucketRateLimiter::When(const std::string&) {
  std::lock_guard<std::mutex> l(mu_);
  Clock::MonoTime now = clock_.Monotonic();
  if (now > last_) {
    double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * qps_);
    last_ = now;
  }
  tokens_ -= 1;  // reserve one, possibly in the future
  if (tokens_ >= 0) return nanoseconds(0);
  return std::chrono::duration_cast<nanoseconds>(
      std::chrono::duration<double>(-tokens_ / qps_));
}

MaxOfRateLimiter::MaxOfRateLimiter(
    std::vector<std::unique_ptr<RateLimiter>> limiters)
    : limiters_(std::move(limiters)) {}

nanoseconds MaxOfRateLimiter::When(const std::string& key) {
  nanoseconds longest(0);
  for (auto& l : limiters_) longest = std::max(longest, l->When(key));
  return longest;
}

void MaxOfRateLimiter::Forget(const std::string& key) {
  for (auto& l : limiters_) l->Forget(key);
}

int MaxOfRateLimiter::NumRequeues(const std::string& key) {
  int most = 0;
  for (auto& l : limiters_) most = std::max(most, l->NumRequeues(key));
  return most;
}

std::unique_ptr<RateLimiter> ControllerRateLimiter(Clock& clock,
                                                   nanoseconds base,
                                                   nanoseconds max) {
  std::vector<std::unique_ptr<RateLimiter>> v;
  v.push_back(std::make_unique<ItemExponentialRateLimiter>(base, max));
  v.push_back(std::make_unique<BucketRateLimiter>(clock, 10.0, 100));
  return std::make_unique<MaxOfRateLimiter>(std::move(v));
}

std::unique_ptr<RateLimiter> DefaultControllerRateLimiter(Clock& clock) {
  return ControllerRateLimiter(clock, std::chrono::milliseconds(5),
                               std::chrono::seconds(1000));
}

WorkQueue::WorkQueue(std::string name, Clock& clock,
                     std::unique_ptr<RateLimiter> limiter)
    : name_(std::move(name)),
      clock_(clock),
      limiter_(limiter ? std::move(limiter)
                       : DefaultControllerRateLimiter(clock)) {}

WorkQueue::~WorkQueue() { ShutDown(); }

void WorkQueue::AddLocked(const std::string& key) {
  if (shutting_down_ || dirty_.count(key) > 0) return;
  dirty_.insert(key);
  if (processing_.count(key) > 0) return;  // requeued at Done
  queue_.push_back(key);
  cv_.notify_one();
}

void WorkQueue::Add(const std::string& key) {
  std::lock_guard<std::mutex> l(mu_);
  AddLocked(key);
}

void WorkQueue::AddAfter(const std::string& key, nanoseconds delay) {
  std::lock_guard<std::mutex> l(mu_);
  if (shutting_down_) return;
  if (delay <= nanoseconds(0)) {
    AddLocked(key);
    return;
  }
  Clock::MonoTime ready = clock_.Monotonic() + delay;
  auto it = delayed_.find(key);
  if (it != delayed_.end()) {
    if (it->second <= ready) return;  // already due sooner
    delayed_order_.erase({it->second, key});
    it->second = ready;
  } else {
    delayed_.emplace(key, ready);
  }
  delayed_order_.emplace(ready, key);
  cv_.notify_all();  // the earliest due time may have changed
}

void WorkQueue::AddRateLimited(const std::string& key) {
  AddAfter(key, limiter_->When(key));
}

void WorkQueue::Forget(const std::string& key) { limiter_->Forget(key); }

int WorkQueue::NumRequeues(const std::string& key) {
  return limiter_->NumRequeues(key);
}

void WorkQueue::PromoteLocked(Clock::MonoTime now) {
  while (!delayed_order_.empty() && delayed_order_.begin()->first <= now) {
    std::string key = delayed_order_.begin()->second;
    delayed_order_.erase(delayed_order_.begin());
    delayed_.erase(key);
    AddLocked(key);
  }
}

std::optional<std::string> WorkQueue::GetUntil(
    std::optional<std::chrono::steady_clock::time_point> deadline) {
  std::unique_lock<std::mutex> l(mu_);
  while (true) {
    if (shutting_down_) return std::nullopt;
    Clock::MonoTime now = clock_.Monotonic();
    PromoteLocked(now);
    if (!queue_.empty()) {
      std::string key = std::move(queue_.front());
      queue_.pop_front();
      processing_.insert(key);
      dirty_.erase(key);
      return key;
    }
    auto real_now = std::chrono::steady_clock::now();
    if (deadline && real_now >= *deadline) return std::nullopt;
    std::optional<std::chrono::steady_clock::time_point> wake = deadline;
    if (!delayed_order_.empty()) {
      auto due_in = delayed_order_.begin()->first - now;
      auto at = real_now +
                std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                    due_in);
      if (!wake || at < *wake) wake = at;
    }
    if (wake) {
      cv_.wait_until(l, *wake);
    } else {
      cv_.wait(l);
    }
  }
}

std::optional<std::string> WorkQueue::Get() { return GetUntil(std::nullopt); }

std::optional<std::string> WorkQueue::GetFor(
    std::chrono::milliseconds timeout) {
  return GetUntil(std::chrono::steady_clock::now() + timeout);
}

void WorkQueue::Done(const std::string& key) {
  std::lock_guard<std::mutex> l(mu_);
  processing_.erase(key);
  if (dirty_.count(key) > 0 && !shutting_down_) {
    queue_.push_back(key);
    cv_.notify_one();
  }
}

void WorkQueue::Wake() {
  std::lock_guard<std::mutex> l(mu_);
  cv_.notify_all();
}

void WorkQueue::ShutDown() {
  std::lock_guard<std::mutex> l(mu_);
  shutting_down_ = true;
  queue_.clear();
  dirty_.clear();
  delayed_.clear();
  delayed_order_.clear();
  cv_.notify_all();
}

bool WorkQueue::ShuttingDown() const {
  std::lock_guard<std::mutex> l(mu_);
  return shutting_down_;
}

size_t WorkQueue::Len() const {
  std::lock_guard<std::mutex> l(mu_);
  return queue_.size();
}

size_t WorkQueue::DelayedLen() const {
  std::lock_guard<std::mutex> l(mu_);
  return delayed_.size();
}

}  // namespace kite::client

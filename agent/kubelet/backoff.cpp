#include "agent/kubelet/backoff.h"

#include <algorithm>

namespace kite::kubelet {

Backoff::Backoff(Clock& clock, std::chrono::nanoseconds initial,
                 std::chrono::nanoseconds max)
    : clock_(clock), initial_(initial), max_(max) {}

bool Backoff::ExpiredLocked(const Entry& e, Clock::MonoTime now) const {
  return now - e.last_update > 2 * max_;
}

std::chrono::nanoseconds Backoff::Get(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end() || ExpiredLocked(it->second, clock_.Monotonic()))
    return std::chrono::nanoseconds(0);
  return it->second.delay;
}

bool Backoff::InBackoffSince(const std::string& key, Clock::MonoTime event) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return false;
  auto now = clock_.Monotonic();
  if (ExpiredLocked(it->second, now)) return false;
  return now - event < it->second.delay;
}

void Backoff::Next(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto now = clock_.Monotonic();
  auto it = entries_.find(key);
  if (it == entries_.end() || ExpiredLocked(it->second, now)) {
    entries_[key] = {initial_, now};
    return;
  }
  it->second.delay = std::min(it->second.delay * 2, max_);
  it->second.last_update = now;
}

void Backoff::ForgetPrefix(const std::string& prefix) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = entries_.lower_bound(prefix);
       it != entries_.end() && it->first.rfind(prefix, 0) == 0;)
    it = entries_.erase(it);
}

}  // namespace kite::kubelet

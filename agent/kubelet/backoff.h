// Backoff: the kubelet's per-container restart back-off.
//
// The first restart of a container is immediate; each later one waits twice
// as long as the one before, from `initial` (10 s) up to `max` (5 min). A key
// whose last restart is more than 2 x max ago (10 min: the container ran
// that long) starts over. Keys are "<pod uid>/<container name>".
//
// Thread safety: all methods may be called from any thread.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "common/clock.h"

namespace kite::kubelet {

class Backoff {
 public:
  Backoff(Clock& clock, std::chrono::nanoseconds initial,
          std::chrono::nanoseconds max);

  // The current delay of `key` (0 when it has none or it expired).
  std::chrono::nanoseconds Get(const std::string& key);
  // True while `key` must wait: its delay has not passed since `event`
  // (the container's finish time on the monotonic clock).
  bool InBackoffSince(const std::string& key, Clock::MonoTime event);
  // Records a restart now: starts at `initial` (new or expired key) or
  // doubles, at most `max`.
  void Next(const std::string& key);
  // Forgets every key with this prefix (a pod that is gone).
  void ForgetPrefix(const std::string& prefix);

 private:
  struct Entry {
    std::chrono::nanoseconds delay{0};
    Clock::MonoTime last_update;
  };
  bool ExpiredLocked(const Entry& e, Clock::MonoTime now) const;

  Clock& clock_;
  const std::chrono::nanoseconds initial_;
  const std::chrono::nanoseconds max_;
  std::mutex mu_;
  std::map<std::string, Entry> entries_;
};

}  // namespace kite::kubelet

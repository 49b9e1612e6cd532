#include "datastore/watch_hub.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <deque>
#include <utility>

namespace kite::datastore {

namespace {
// Events handed out by one Next(): a replay page, or a slice of the queue.
constexpr size_t kMaxBatchEvents = 1000;

uint32_t* FutexWord(std::atomic<uint32_t>* word) {
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
  return reinterpret_cast<uint32_t*>(word);
}

// Sleeps while *word == expected, until `deadline` at the latest (or a
// spurious wake-up: callers re-check their state).
void FutexWait(std::atomic<uint32_t>* word, uint32_t expected,
               std::chrono::steady_clock::time_point deadline) {
  const auto left = deadline - std::chrono::steady_clock::now();
  if (left <= std::chrono::steady_clock::duration::zero()) return;
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
  timespec ts{static_cast<time_t>(ns / 1000000000),
              static_cast<long>(ns % 1000000000)};
  syscall(SYS_futex, FutexWord(word), FUTEX_WAIT_PRIVATE, expected, &ts,
          nullptr, 0);
}

}  // namespace

void WatchHub::Group::WakeAll() {
  seq.fetch_add(1, std::memory_order_release);
  syscall(SYS_futex, FutexWord(&seq), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr,
          nullptr, 0);
}

size_t EventBytes(const Event& e) {
  return e.kv.key.size() + e.kv.value.size() + e.prev_kv.key.size() +
         e.prev_kv.value.size() + 96;
}

class HubWatcher : public Watcher {
 public:
  HubWatcher(std::shared_ptr<WatchHub> hub, std::string prefix)
      : hub_(std::move(hub)), prefix_(std::move(prefix)) {}
  ~HubWatcher() override { hub_->Unregister(this); }

  StatusOr<WatchBatch> Next(std::chrono::milliseconds timeout) override;
  void Cancel() override;

 private:
  friend class WatchHub;

  // Fails the watcher; the caller holds mu_.
  void FailLocked(Status st) {
    if (error_.ok()) error_ = std::move(st);
    queue_.clear();
    queued_bytes_ = 0;
    Wake();
  }

  void Wake() {
    if (group_) group_->WakeAll();
  }

  // Releases mu_ and sleeps until a wake-up of the group or `deadline`.
  void WaitLocked(std::unique_lock<std::mutex>& lk,
                  std::chrono::steady_clock::time_point deadline) {
    // Read under mu_: whoever changes our state next does so under mu_ and
    // then bumps seq, so the wait below cannot miss it.
    const uint32_t seq = group_->seq.load(std::memory_order_acquire);
    lk.unlock();
    FutexWait(&group_->seq, seq, deadline);
    lk.lock();
  }

  const std::shared_ptr<WatchHub> hub_;
  const std::string prefix_;

  // Guarded by the hub's mutex.
  bool registered_ = false;
  int64_t min_rev_ = 0;  // live events at or below this are not for us
  std::vector<std::shared_ptr<const Event>> pending_;  // Dispatch scratch

  // Set at registration, before the watcher is handed out; null only for a
  // watcher born failed (the hub was closed).
  std::shared_ptr<WatchHub::Group> group_;

  std::mutex mu_;
  std::deque<std::shared_ptr<const Event>> queue_;
  size_t queued_bytes_ = 0;
  int64_t replay_cursor_ = 0;  // history (cursor, upto] still to replay
  int64_t replay_upto_ = 0;
  bool replaying_ = false;  // a Next() is reading history right now
  int64_t delivered_ = 0;   // complete up to this revision
  Status error_;
};

StatusOr<WatchBatch> HubWatcher::Next(std::chrono::milliseconds timeout) {
  // Clamped, so a caller's milliseconds::max() ("forever") cannot overflow.
  const auto deadline =
      std::chrono::steady_clock::now() +
      std::clamp<std::chrono::milliseconds>(
          timeout, std::chrono::milliseconds(0), std::chrono::hours(24 * 365));
  std::unique_lock<std::mutex> lk(mu_);
  while (true) {
    if (!error_.ok()) return error_;
    if (replay_cursor_ < replay_upto_) {
      if (replaying_) {  // another Next() is replaying: wait for it
        if (std::chrono::steady_clock::now() >= deadline) {
          return WatchBatch{{}, delivered_};
        }
        WaitLocked(lk, deadline);
        continue;
      }
      replaying_ = true;
      const int64_t from = replay_cursor_, upto = replay_upto_;
      lk.unlock();
      std::vector<Event> events;
      Status st = hub_->Replay(prefix_, from, upto, kMaxBatchEvents, &events);
      lk.lock();
      replaying_ = false;
      Wake();  // another Next() may wait for the replay
      if (!error_.ok()) return error_;
      if (!st.ok()) {
        FailLocked(st);
        lk.unlock();
        hub_->Unregister(this);
        return st;
      }
      replay_cursor_ = events.size() < kMaxBatchEvents
                           ? upto
                           : events.back().kv.mod_revision;
      delivered_ = std::max(delivered_, replay_cursor_);
      if (!events.empty()) return WatchBatch{std::move(events), delivered_};
      continue;
    }
    if (!queue_.empty()) {
      WatchBatch batch;
      const size_t n = std::min(queue_.size(), kMaxBatchEvents);
      batch.events.reserve(n);
      for (size_t i = 0; i < n; ++i) {
        queued_bytes_ -= EventBytes(*queue_.front());
        batch.events.push_back(*queue_.front());
        queue_.pop_front();
      }
      delivered_ = batch.events.back().kv.mod_revision;
      // Dispatch queues events before it raises the dispatched revision, and
      // it queues under mu_: with the queue empty, we hold everything up to it.
      if (queue_.empty()) delivered_ = std::max(delivered_, hub_->dispatched());
      batch.revision = delivered_;
      return batch;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      delivered_ = std::max(delivered_, hub_->dispatched());
      return WatchBatch{{}, delivered_};
    }
    WaitLocked(lk, deadline);
  }
}

void HubWatcher::Cancel() {
  {
    std::lock_guard<std::mutex> l(mu_);
    FailLocked(CancelledError("watch cancelled"));
  }
  hub_->Unregister(this);
}

std::shared_ptr<WatchHub> WatchHub::Create(Limits limits, ReplayFn replay,
                                           int64_t dispatched) {
  return std::shared_ptr<WatchHub>(
      new WatchHub(limits, std::move(replay), dispatched));
}

WatchHub::WatchHub(Limits limits, ReplayFn replay, int64_t dispatched)
    : limits_(limits), replay_(std::move(replay)), dispatched_(dispatched) {}

WatchHub::~WatchHub() = default;

void WatchHub::Dispatch(const std::vector<std::shared_ptr<const Event>>& events,
                        int64_t revision) {
  std::lock_guard<std::mutex> l(mu_);
  if (!closed_ && !groups_.empty()) {
    for (const auto& ev : events) {
      std::string_view key = ev->kv.key;
      const int64_t rev = ev->kv.mod_revision;
      for (const auto& [len, count] : lengths_) {
        if (len > key.size()) break;
        auto it = groups_.find(key.substr(0, len));
        if (it == groups_.end()) continue;
        Group* group = it->second.get();
        for (HubWatcher* w : group->watchers) {
          if (rev <= w->min_rev_) continue;
          if (w->pending_.empty()) touched_.push_back(w);
          w->pending_.push_back(ev);
          if (!group->touched) {
            group->touched = true;
            touched_groups_.push_back(group);
          }
        }
      }
    }
    for (HubWatcher* w : touched_) {
      bool drop = false;
      {
        std::lock_guard<std::mutex> wl(w->mu_);
        if (w->error_.ok()) {
          for (auto& ev : w->pending_) {
            w->queued_bytes_ += EventBytes(*ev);
            w->queue_.push_back(std::move(ev));
          }
          if (w->queue_.size() > limits_.max_queued_events ||
              w->queued_bytes_ > limits_.max_queued_bytes) {
            w->FailLocked(ResourceExhaustedError(
                "watch of \"" + w->prefix_ +
                "\" dropped: its consumer fell too far behind (" +
                std::to_string(w->queue_.size()) + " events queued)"));
            drop = true;
          }
        }
      }
      w->pending_.clear();
      if (drop) UnregisterLocked(w);
    }
    touched_.clear();
    // One wake-up per prefix, after every queue is filled.
    for (Group* g : touched_groups_) {
      g->touched = false;
      g->WakeAll();
    }
    touched_groups_.clear();
  }
  dispatched_.store(std::max(revision, dispatched_.load()),
                    std::memory_order_release);
}

std::shared_ptr<Watcher> WatchHub::Register(std::string_view prefix,
                                            int64_t after) {
  auto w =
      std::make_shared<HubWatcher>(shared_from_this(), std::string(prefix));
  std::lock_guard<std::mutex> l(mu_);
  if (closed_) {
    w->error_ = CancelledError("datastore closed");
    return w;
  }
  const int64_t dispatched = dispatched_.load();
  if (after <= 0) after = dispatched;
  w->delivered_ = after;
  if (after < dispatched) {
    w->replay_cursor_ = after;
    w->replay_upto_ = dispatched;
    w->min_rev_ = dispatched;
  } else {
    w->min_rev_ = after;
  }
  auto [it, inserted] = groups_.try_emplace(std::string(prefix));
  if (inserted) {
    it->second = std::make_shared<Group>();
    ++lengths_[prefix.size()];
  }
  it->second->watchers.push_back(w.get());
  w->group_ = it->second;
  w->registered_ = true;
  ++watcher_count_;
  return w;
}

void WatchHub::Unregister(HubWatcher* w) {
  std::lock_guard<std::mutex> l(mu_);
  UnregisterLocked(w);
}

void WatchHub::UnregisterLocked(HubWatcher* w) {
  if (!w->registered_) return;
  w->registered_ = false;
  --watcher_count_;
  auto it = groups_.find(w->prefix_);
  if (it == groups_.end()) return;
  auto& ws = it->second->watchers;
  auto pos = std::find(ws.begin(), ws.end(), w);
  if (pos != ws.end()) {
    *pos = ws.back();
    ws.pop_back();
  }
  if (ws.empty()) {
    groups_.erase(it);
    auto len = lengths_.find(w->prefix_.size());
    if (len != lengths_.end() && --len->second == 0) lengths_.erase(len);
  }
}

Status WatchHub::Replay(std::string_view prefix, int64_t after, int64_t upto,
                        size_t limit, std::vector<Event>* out) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (closed_) return CancelledError("datastore closed");
    ++active_replays_;
  }
  Status st = replay_(prefix, after, upto, limit, out);
  {
    std::lock_guard<std::mutex> l(mu_);
    if (--active_replays_ == 0) replay_done_cv_.notify_all();
  }
  return st;
}

void WatchHub::Close() {
  std::unique_lock<std::mutex> l(mu_);
  closed_ = true;
  for (auto& [prefix, group] : groups_) {
    for (HubWatcher* w : group->watchers) {
      std::lock_guard<std::mutex> wl(w->mu_);
      w->FailLocked(CancelledError("datastore closed"));
      w->registered_ = false;
    }
  }
  groups_.clear();
  lengths_.clear();
  watcher_count_ = 0;
  replay_done_cv_.wait(l, [this] { return active_replays_ == 0; });
}

size_t WatchHub::watcher_count() {
  std::lock_guard<std::mutex> l(mu_);
  return watcher_count_;
}

}  // namespace kite::datastore

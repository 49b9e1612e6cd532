// WatchHub: the watch fan-out shared by every Backend implementation.
//
// The backend's single dispatcher (the SQLite writer thread, or the fake's
// write path under its lock) hands each committed batch of events to
// Dispatch(), in revision order. The hub finds the watchers whose prefix
// matches (one hash lookup per distinct prefix length, not per watcher),
// appends shared pointers to the events to their bounded queues, and wakes
// them. No database work happens per watcher.
//
// A watch from a past revision registers under the hub lock, noting the last
// dispatched revision R: live events > R queue up from then on, while the
// watcher's own Next() calls first read (after, R] page by page from the
// backend's history through the ReplayFn, then switch to the queue. So every
// event arrives exactly once, in order, with no gap at the switch, and the
// replay is paced by the consumer rather than buffered up front.
//
// Progress (WatchBatch.revision): when a watcher's queue is empty after the
// replay, it is complete up to the last dispatched revision, so a watcher
// whose prefix sees no writes still advances (bookmarks) at no cost per
// watcher.
//
// Thread safety: Dispatch() from one thread at a time (the dispatcher);
// everything else from any thread. Lock order: hub mutex, then a watcher's
// mutex; the ReplayFn is called with neither held.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "datastore/backend.h"

namespace kite::datastore {

// Appends to *out the events of keys under `prefix` with after < revision <=
// upto, in revision order, at most `limit` of them. Compacted when `after` is
// older than the compaction point.
using ReplayFn =
    std::function<Status(std::string_view prefix, int64_t after, int64_t upto,
                         size_t limit, std::vector<Event>* out)>;

// The bytes an event holds in a watcher's queue (for the queue bound).
size_t EventBytes(const Event& event);

class HubWatcher;

class WatchHub : public std::enable_shared_from_this<WatchHub> {
 public:
  struct Limits {
    size_t max_queued_events = 10000;
    size_t max_queued_bytes = size_t{64} << 20;
  };

  // `dispatched` is the store's revision when the hub starts.
  static std::shared_ptr<WatchHub> Create(Limits limits, ReplayFn replay,
                                          int64_t dispatched);
  ~WatchHub();

  // Delivers `events` (increasing revisions) to matching watchers and raises
  // the dispatched revision to `revision` (>= the last event's revision).
  void Dispatch(const std::vector<std::shared_ptr<const Event>>& events,
                int64_t revision);

  // Starts a watch of `prefix` for events with revision > `after` (0: after
  // the dispatched revision). The caller has checked `after` against the
  // compaction point and the store's revision. After Close(), the watcher
  // answers Cancelled.
  std::shared_ptr<Watcher> Register(std::string_view prefix, int64_t after);

  // The revision of the last dispatched batch.
  int64_t dispatched() const {
    return dispatched_.load(std::memory_order_acquire);
  }

  // Cancels every watcher, waits for replays in flight, and makes further
  // replays fail: after Close() returns, the ReplayFn is never called again.
  void Close();

  // Number of registered watchers (for tests and metrics).
  size_t watcher_count();

 private:
  friend class HubWatcher;
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const {
      return std::hash<std::string_view>()(s);
    }
  };
  // The watchers of one prefix. They sleep on one futex word, so a dispatch
  // wakes all of them with one system call instead of one per watcher (and
  // the dispatcher is not preempted by each woken consumer in turn).
  struct Group {
    std::vector<HubWatcher*> watchers;  // guarded by the hub's mutex
    std::atomic<uint32_t> seq{0};       // bumped on every wake-up
    bool touched = false;               // Dispatch scratch, hub's mutex
    // Wakes every watcher of the group.
    void WakeAll();
  };

  WatchHub(Limits limits, ReplayFn replay, int64_t dispatched);
  void Unregister(HubWatcher* w);
  void UnregisterLocked(HubWatcher* w);
  Status Replay(std::string_view prefix, int64_t after, int64_t upto,
                size_t limit, std::vector<Event>* out);

  const Limits limits_;
  const ReplayFn replay_;
  std::atomic<int64_t> dispatched_;

  std::mutex mu_;
  std::condition_variable replay_done_cv_;
  bool closed_ = false;
  int active_replays_ = 0;
  std::unordered_map<std::string, std::shared_ptr<Group>, StringHash,
                     std::equal_to<>>
      groups_;
  // Distinct prefix lengths in groups_, with how many groups have each.
  std::map<size_t, int> lengths_;
  size_t watcher_count_ = 0;
  // Scratch for Dispatch: watchers and groups touched by the current batch.
  std::vector<HubWatcher*> touched_;
  std::vector<Group*> touched_groups_;
};

}  // namespace kite::datastore

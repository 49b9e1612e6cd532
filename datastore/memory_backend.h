// MemoryBackend: the in-memory fake of datastore::Backend, for unit tests of
// everything above the datastore. Same semantics as the SQLite backend (MVCC
// revisions, CAS, reads at past revisions, watch with replay, TTL expiry,
// automatic compaction by the Options bounds), except durability: nothing is
// written to disk.
//
// A "restart" can be simulated by building a second MemoryBackend on the same
// MemoryState after destroying the first (at most one backend may use a state
// at a time).
//
// TTL expiry and age compaction run on a timer thread that sleeps until the
// next deadline of Options::clock; with a FakeClock, call CheckDeadlines()
// after Advance() (writes also check them).
//
// Thread safety: every method may be called from any thread (see backend.h).
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "datastore/backend.h"
#include "datastore/history.h"
#include "datastore/options.h"
#include "datastore/watch_hub.h"

namespace kite::datastore {

// The data of a MemoryBackend, which can outlive it (opaque).
struct MemoryState;

class MemoryBackend : public Backend {
 public:
  MemoryBackend();
  explicit MemoryBackend(const Options& options);
  MemoryBackend(std::shared_ptr<MemoryState> state, const Options& options);
  ~MemoryBackend() override;
  MemoryBackend(const MemoryBackend&) = delete;
  MemoryBackend& operator=(const MemoryBackend&) = delete;

  static std::shared_ptr<MemoryState> NewState();

  StatusOr<int64_t> Create(std::string_view key, std::string_view value,
                           int64_t ttl_seconds = 0) override;
  StatusOr<int64_t> Update(std::string_view key, std::string_view value,
                           int64_t expected_mod_revision,
                           int64_t ttl_seconds = 0) override;
  StatusOr<DeleteResult> Delete(std::string_view key,
                                int64_t expected_mod_revision = 0) override;
  StatusOr<KeyValue> Get(std::string_view key, int64_t revision = 0) override;
  StatusOr<ListResult> List(std::string_view prefix,
                            const ListOptions& options = {}) override;
  StatusOr<std::shared_ptr<Watcher>> Watch(std::string_view prefix,
                                           int64_t after_revision = 0) override;
  int64_t CurrentRevision() override;
  int64_t CompactRevision() override;
  Status Compact(int64_t revision) override;

  // Runs TTL expiry and automatic compaction that are due by the clock now.
  void CheckDeadlines();

 private:
  using Events = std::vector<std::shared_ptr<const Event>>;

  // All *Locked methods need state_->mu.
  void ExpireDueLocked(Events* events, int64_t* history_added);
  DeleteResult DeleteLocked(const std::string& key, Events* events,
                            int64_t* history_added);
  void FinishWriteLocked(Events& events, int64_t history_added);
  void CompactLocked(int64_t revision);
  std::chrono::steady_clock::time_point NextDeadlineLocked();
  void TimerLoop();
  Status Replay(std::string_view prefix, int64_t after, int64_t upto,
                size_t limit, std::vector<Event>* out);

  const Options options_;
  const std::shared_ptr<MemoryState> state_;
  HistoryTracker tracker_;  // guarded by state_->mu
  std::shared_ptr<WatchHub> hub_;

  std::condition_variable timer_cv_;  // with state_->mu
  bool stopping_ = false;
  // What the timer thread sleeps until (max: no deadline).
  std::chrono::steady_clock::time_point timer_deadline_ =
      std::chrono::steady_clock::time_point::max();
  std::thread timer_;
};

}  // namespace kite::datastore

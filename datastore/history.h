// HistoryTracker: decides how far automatic compaction should go, for every
// Backend implementation, from the two bounds in Options (age and size).
//
// History is every row that is no longer a key's current version: superseded
// versions and tombstones. A write at revision r turns at most one row into
// history (the version it replaces, or its own tombstone), and compacting up
// to revision C drops exactly the history made by writes at revisions <= C
// (each key keeps its newest version <= C, so reads at C still work). So the
// tracker records, per write batch, the cumulative history bytes made and the
// time, in coarse checkpoints (one per second, or per 1/16 of the size bound),
// and answers:
// - Target(): the revision to compact to now: the newest checkpoint older
//   than the age bound, or, when history exceeds the size bound, the oldest
//   checkpoint whose later history fits in 3/4 of it;
// - NextDeadline(): when the age bound will next require compaction, or
//   nothing when there is no history: an idle store has no timer.
//
// Thread safety: none; the owner serializes calls (the writer thread).
#pragma once

#include <cstdint>
#include <deque>
#include <optional>

#include "common/clock.h"
#include "datastore/options.h"

namespace kite::datastore {

// The history bytes a row costs: what the size bound counts.
inline int64_t HistoryRowBytes(size_t key_size, size_t value_size) {
  return static_cast<int64_t>(key_size + value_size) + 32;
}

class HistoryTracker {
 public:
  explicit HistoryTracker(const Options& options);

  // Starts over: `history_bytes` of history exist at `current_rev`, all of it
  // treated as made now.
  void Reset(int64_t compact_rev, int64_t current_rev, int64_t history_bytes,
             Clock::MonoTime now);
  // A write batch brought the store to `current_rev` and made `added_bytes`
  // of history.
  void OnWrite(int64_t current_rev, int64_t added_bytes, Clock::MonoTime now);
  // Compaction reached `compact_rev` and dropped `removed_bytes`.
  void OnCompacted(int64_t compact_rev, int64_t removed_bytes);

  // The revision compaction should reach now; <= compact_rev() means none.
  int64_t Target(Clock::MonoTime now) const;
  // When Target() will rise because of age; nullopt without history.
  std::optional<Clock::MonoTime> NextDeadline() const;

  int64_t history_bytes() const { return history_bytes_; }
  int64_t compact_rev() const { return compact_rev_; }

 private:
  struct Checkpoint {
    int64_t rev;            // writes up to here ...
    Clock::MonoTime start;  // (bucket start, for bucketing only)
    Clock::MonoTime end;    // ... happened at or before this time
    int64_t made;           // cumulative history bytes made up to rev
    int64_t start_made;     // (made when the bucket started)
  };

  const std::chrono::seconds max_age_;
  const int64_t max_bytes_;
  int64_t compact_rev_ = 0;
  int64_t history_bytes_ = 0;  // retained now
  int64_t made_ = 0;           // cumulative made
  std::deque<Checkpoint> checkpoints_;
};

}  // namespace kite::datastore

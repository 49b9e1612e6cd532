// datastore::Options: the settings every Backend implementation takes (the
// SQLite backend and the in-memory fake alike), with kite's defaults.
//
// History is what lets a client read at a past revision or resume a watch.
// It is bounded by BOTH age and size; whichever bound is hit first drops the
// oldest history (automatic compaction):
// - age: history older than 5 minutes goes, like the kube-apiserver's default
//   compaction interval (--etcd-compaction-interval=5m), so a watch that
//   broke less than 5 minutes ago resumes without a relist;
// - size: at most 32 MiB of superseded values and tombstones (key + value +
//   32 bytes per row); past it, compaction drops the oldest history until a
//   quarter of the bound is free again. With 1,000 keys of 1 KB under
//   constant updates that is about 30,000 changes, and database + WAL stay
//   near 53 MB (measured, docs/datastore.md), inside issue 2's bound of
//   4 x live data + 64 MB.
//
// Thread safety: a plain value.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "common/clock.h"

namespace kite::datastore {

struct Options {
  // Decides TTL expiry (wall time, Now()) and the age of history
  // (Monotonic()). Borrowed; must outlive the backend.
  Clock* clock = &RealClock();

  // History bounds (see above). A bound of zero disables that bound.
  std::chrono::seconds history_max_age{300};
  int64_t history_max_bytes = int64_t{32} << 20;

  // A watcher whose consumer falls this far behind is dropped: its Next()
  // answers ResourceExhausted. Bytes count key, value and previous value of
  // every queued event.
  size_t watch_max_queued_events = 10000;
  size_t watch_max_queued_bytes = size_t{64} << 20;

  // SQLite only: read-only connections kept for Get/List/watch replay.
  int sqlite_read_connections = 4;
  // SQLite only: the WAL is checkpointed into the database once it holds this
  // many pages (4 KiB each): 4 MiB by default.
  int sqlite_wal_checkpoint_pages = 1000;
  // SQLite only: run the writer and the watch dispatcher 5 nice levels above
  // the process when allowed (root or CAP_SYS_NICE). They use little CPU,
  // but every write and watch event waits for them; with 1,000 watch
  // consumers woken at once on 2 cores they must not queue behind those.
  bool sqlite_raise_thread_priority = true;
};

}  // namespace kite::datastore

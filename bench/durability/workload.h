// Durability workloads for the SQLite datastore: the disk bound and the idle
// CPU budget of issue 2 item 6 (DESIGN.md §4, §9).
//
// Both the benchmarks in bench/durability/ (full size, results written to
// bench/README.md) and the short versions in tests/ (run by `make test`) call
// these functions, so the two measure exactly the same thing.
//
// Thread safety: each function drives the backend from threads of its own
// and joins them all before it returns; call one at a time per backend.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "common/status.h"
#include "datastore/backend.h"

namespace kite::bench {

// Sizes of the SQLite files beside `db_path` (apparent sizes, in bytes).
struct DbFileSizes {
  uint64_t db = 0;
  uint64_t wal = 0;
  uint64_t shm = 0;
  uint64_t DbPlusWal() const { return db + wal; }
};
DbFileSizes StatDbFiles(const std::string& db_path);

struct DiskConfig {
  std::string db_path;  // the backend's file, for measuring its size
  int64_t updates = 1000000;
  int keys = 1000;
  size_t value_bytes = 1024;
  int writers = 64;
  std::chrono::milliseconds sample_every{50};
  // After the updates, wait this long and measure again (the backend's own
  // background compaction/checkpoint may shrink the WAL once writes stop).
  std::chrono::milliseconds settle{0};
};

struct DiskResult {
  int64_t updates = 0;            // acknowledged updates (creates not counted)
  double seconds = 0;             // wall time of the updates
  uint64_t live_bytes = 0;        // sum of key + value sizes of the live keys
  DbFileSizes end;                // right after the last update
  DbFileSizes settled;            // after `settle`
  uint64_t peak_db_plus_wal = 0;  // the largest db + WAL sampled during the run
  uint64_t peak_wal = 0;
  int64_t samples = 0;
};

// Creates `keys` keys with values of `value_bytes`, then runs `updates`
// compare-and-swap updates spread evenly over them from `writers` threads
// (each thread owns the keys i with i % writers == its index), sampling the
// file sizes every `sample_every`. Fails on the first unexpected error.
// Never vacuums.
StatusOr<DiskResult> RunDiskWorkload(datastore::Backend& backend,
                                     const DiskConfig& config);

struct IdleConfig {
  int watchers = 100;
  // How long each watcher's Next() waits before it returns an empty batch:
  // an API server waits like this between bookmark checks.
  std::chrono::milliseconds next_timeout{5000};
  std::chrono::milliseconds settle{2000};
  std::chrono::milliseconds measure{60000};
  int seed_keys = 100;  // keys written before the watches open
};

struct IdleResult {
  double wall_seconds = 0;
  double cpu_seconds = 0;    // user + system of the whole process
  double core_percent = 0;   // 100 * cpu / wall
  uint64_t write_bytes = 0;  // /proc/self/io write_bytes during the window
  double write_bytes_per_second = 0;
  int64_t batches = 0;  // batches returned by Next() during the window
  int64_t events = 0;   // events in them (0 expected: no writes)
  // Context switches during the window of every thread that is neither a
  // watcher thread nor the caller's: the backend's own threads (writer,
  // checkpointer, timers). A polling loop shows up here; an event-driven
  // backend with no writes and no deadlines has none.
  int64_t background_threads = 0;
  int64_t background_wakeups = 0;
};

// Writes `seed_keys` keys, opens `watchers` watches (one per prefix
// /idle/<i>/ under /idle/, plus the whole /idle/ prefix for the first),
// each consumed by a thread calling Next(next_timeout) in a loop; after
// `settle` it measures the process's CPU time and disk writes over
// `measure` with no writes. Cancels and joins every watcher before it
// returns.
StatusOr<IdleResult> RunIdleWorkload(datastore::Backend& backend,
                                     const IdleConfig& config);

}  // namespace kite::bench

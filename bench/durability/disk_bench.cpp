// kite_disk_bench: the disk bound of issue 2 item 6. Runs N updates of V-byte
// values spread over K keys from W writers against the SQLite backend with
// its default history bounds (no VACUUM, no manual compaction), samples the
// size of the database and its WAL during the run, and checks the end size
// against 4x the live data plus 64 MiB. bench/disk.sh runs it.
//
//   kite_disk_bench --dir=DIR [--updates=1000000] [--keys=1000]
//       [--value-bytes=1024] [--writers=64] [--settle-ms=5000]
//       [--sample-ms=50]
//
// Prints "disk: ..." lines and a last "disk-summary: ..." line; exits 1 when
// the bound is broken, 2 on an error.
#include <cstdio>
#include <string>

#include "bench/durability/bench_flags.h"
#include "bench/durability/workload.h"
#include "datastore/open.h"

namespace kite::bench {
namespace {

unsigned long long U(uint64_t v) { return static_cast<unsigned long long>(v); }

int Main(int argc, char** argv) {
  BenchFlags flags;
  if (!flags.Parse(argc, argv,
                   {"dir", "updates", "keys", "value-bytes", "writers",
                    "settle-ms", "sample-ms"})) {
    return 2;
  }
  const std::string dir = flags.Get("dir", "");
  if (dir.empty() || dir[0] != '/') {
    std::fprintf(stderr, "--dir=ABSOLUTE_DIR is required\n");
    return 2;
  }
  DiskConfig config;
  config.db_path = dir + "/state.db";
  config.updates = flags.GetInt("updates", 1000000);
  config.keys = static_cast<int>(flags.GetInt("keys", 1000));
  config.value_bytes = static_cast<size_t>(flags.GetInt("value-bytes", 1024));
  config.writers = static_cast<int>(flags.GetInt("writers", 64));
  config.settle = std::chrono::milliseconds(flags.GetInt("settle-ms", 5000));
  config.sample_every =
      std::chrono::milliseconds(flags.GetInt("sample-ms", 50));

  const datastore::Options options;  // kite's defaults, untouched
  auto backend = datastore::Open("sqlite://" + config.db_path, options);
  if (!backend.ok()) {
    std::fprintf(stderr, "open: %s\n", backend.status().ToString().c_str());
    return 2;
  }
  std::printf(
      "disk: updates=%lld keys=%d value_bytes=%zu writers=%d "
      "history_max_age=%llds "
      "history_max_bytes=%lld wal_checkpoint_pages=%d\n",
      static_cast<long long>(config.updates), config.keys, config.value_bytes,
      config.writers, static_cast<long long>(options.history_max_age.count()),
      static_cast<long long>(options.history_max_bytes),
      options.sqlite_wal_checkpoint_pages);
  std::fflush(stdout);
  auto r = RunDiskWorkload(**backend, config);
  if (!r.ok()) {
    std::fprintf(stderr, "workload: %s\n", r.status().ToString().c_str());
    return 2;
  }
  const int64_t compact_rev = (*backend)->CompactRevision();
  const int64_t current_rev = (*backend)->CurrentRevision();
  backend->reset();
  const DbFileSizes closed = StatDbFiles(config.db_path);

  const uint64_t bound = 4 * r->live_bytes + (uint64_t{64} << 20);
  const bool pass =
      r->end.DbPlusWal() <= bound && r->settled.DbPlusWal() <= bound;
  std::printf("disk: seconds=%.1f updates_per_second=%.0f\n", r->seconds,
              r->updates / r->seconds);
  std::printf("disk: live_bytes=%llu bound=4*live+64MiB=%llu\n",
              U(r->live_bytes), U(bound));
  std::printf("disk: end db=%llu wal=%llu shm=%llu db+wal=%llu\n", U(r->end.db),
              U(r->end.wal), U(r->end.shm), U(r->end.DbPlusWal()));
  std::printf("disk: settled(%lldms) db=%llu wal=%llu db+wal=%llu\n",
              static_cast<long long>(config.settle.count()), U(r->settled.db),
              U(r->settled.wal), U(r->settled.DbPlusWal()));
  std::printf("disk: peak db+wal=%llu peak_wal=%llu samples=%lld\n",
              U(r->peak_db_plus_wal), U(r->peak_wal),
              static_cast<long long>(r->samples));
  std::printf("disk: after close db=%llu wal=%llu\n", U(closed.db),
              U(closed.wal));
  std::printf("disk: revision=%lld compact_revision=%lld\n",
              static_cast<long long>(current_rev),
              static_cast<long long>(compact_rev));
  std::printf(
      "disk-summary: updates=%lld seconds=%.1f updates_per_s=%.0f "
      "live_bytes=%llu end_db_plus_wal=%llu "
      "settled_db_plus_wal=%llu peak_db_plus_wal=%llu bound=%llu pass=%s\n",
      static_cast<long long>(r->updates), r->seconds, r->updates / r->seconds,
      U(r->live_bytes), U(r->end.DbPlusWal()), U(r->settled.DbPlusWal()),
      U(r->peak_db_plus_wal), U(bound), pass ? "yes" : "no");
  return pass ? 0 : 1;
}

}  // namespace
}  // namespace kite::bench

int main(int argc, char** argv) { return kite::bench::Main(argc, argv); }

// disk_bound_test: the short, `make test` version of bench/disk.sh (issue 2
// item 6). 100,000 updates of 1 KB values over 1,000 keys with the history
// size bound and the WAL checkpoint threshold both cut to a tenth of their
// defaults; the database plus WAL must end under 4x the live data plus a
// tenth of the full benchmark's 64 MiB allowance. No VACUUM is ever run: the
// backend's own compaction and checkpoints must keep the files bounded.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "bench/durability/workload.h"
#include "datastore/open.h"
#include "durability_temp_dir.h"

namespace kite::tests {
namespace {

TEST(DiskBoundTest, HundredThousandUpdatesStayBounded) {
  DurabilityTempDir dir("kite-disk");
  ASSERT_FALSE(dir.path().empty());
  const std::string db = dir.path() + "/state.db";

  datastore::Options options;
  const datastore::Options defaults;
  options.history_max_bytes = defaults.history_max_bytes / 10;
  options.sqlite_wal_checkpoint_pages =
      defaults.sqlite_wal_checkpoint_pages / 10;
  auto backend = datastore::Open("sqlite://" + db, options);
  ASSERT_TRUE(backend.ok()) << backend.status().ToString();

  bench::DiskConfig config;
  config.db_path = db;
  config.updates = 100000;
  config.keys = 1000;
  config.value_bytes = 1024;
  config.writers = 64;
  auto r = bench::RunDiskWorkload(**backend, config);
  ASSERT_TRUE(r.ok()) << r.status().ToString();

  const uint64_t bound = 4 * r->live_bytes + (uint64_t{64} << 20) / 10;
  std::printf(
      "disk_bound_test: updates=%lld seconds=%.1f (%.0f/s) live=%llu end "
      "db=%llu "
      "wal=%llu peak db+wal=%llu bound=%llu compact_revision=%lld "
      "current=%lld\n",
      static_cast<long long>(r->updates), r->seconds, r->updates / r->seconds,
      static_cast<unsigned long long>(r->live_bytes),
      static_cast<unsigned long long>(r->end.db),
      static_cast<unsigned long long>(r->end.wal),
      static_cast<unsigned long long>(r->peak_db_plus_wal),
      static_cast<unsigned long long>(bound),
      static_cast<long long>((*backend)->CompactRevision()),
      static_cast<long long>((*backend)->CurrentRevision()));
  EXPECT_EQ(r->updates, config.updates);
  // 100 MB of values went through a store bounded to a few MB.
  EXPECT_LE(r->end.DbPlusWal(), bound);
  EXPECT_LE(r->peak_db_plus_wal, bound);
  // History was compacted by the backend itself.
  EXPECT_GT((*backend)->CompactRevision(), 0);
  EXPECT_EQ((*backend)->CurrentRevision(), config.keys + config.updates);
}

}  // namespace
}  // namespace kite::tests

// idle_cpu_test: the short, `make test` version of bench/idle.sh (issue 2
// item 6, DESIGN.md §4 "no polling loop, zero idle CPU"). 100 open watches,
// each consumed by a thread blocked in Next() with a 5 s timeout (as an API
// server waits between bookmarks), and no writes: over 5 s the whole process
// must use under 0.1% of a core, i.e. under 5 ms of CPU time, and the
// backend's own threads must not wake at all. It measures this process only
// (getrusage, /proc/self/task), so other tests running beside it do not
// count.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "bench/durability/workload.h"
#include "datastore/open.h"
#include "durability_temp_dir.h"

namespace kite::tests {
namespace {

TEST(IdleCpuTest, HundredWatchesNoWritesUnderATenthPercentOfACore) {
  DurabilityTempDir dir("kite-idle");
  ASSERT_FALSE(dir.path().empty());
  auto backend = datastore::Open("sqlite://" + dir.path() + "/state.db");
  ASSERT_TRUE(backend.ok()) << backend.status().ToString();

  bench::IdleConfig config;
  config.watchers = 100;
  config.next_timeout = std::chrono::seconds(5);
  config.settle = std::chrono::seconds(2);
  config.measure = std::chrono::seconds(5);
  auto r = bench::RunIdleWorkload(**backend, config);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::printf(
      "idle_cpu_test: wall=%.2fs cpu=%.6fs core=%.4f%% write_bytes=%llu (%.0f "
      "B/s) "
      "batches=%lld events=%lld background_threads=%lld "
      "background_wakeups=%lld\n",
      r->wall_seconds, r->cpu_seconds, r->core_percent,
      static_cast<unsigned long long>(r->write_bytes),
      r->write_bytes_per_second, static_cast<long long>(r->batches),
      static_cast<long long>(r->events),
      static_cast<long long>(r->background_threads),
      static_cast<long long>(r->background_wakeups));
  EXPECT_EQ(r->events, 0);
  EXPECT_LT(r->core_percent, 0.1);
  EXPECT_LT(r->write_bytes_per_second, 20 * 1024.0);
  // No polling loop: the backend's own threads (writer, checkpointer, timers)
  // sleep through the whole window. One wakeup is tolerated (a rare timer),
  // a loop of 1 Hz or faster is not.
  EXPECT_GT(r->background_threads, 0);
  EXPECT_LE(r->background_wakeups, 1)
      << "the backend's threads woke while idle: polling?";
}

}  // namespace
}  // namespace kite::tests

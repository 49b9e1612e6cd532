// kite_idle_bench: the idle CPU budget of issue 2 item 6. Opens the SQLite
// backend, opens W watches each consumed by a thread blocked in Next() with
// a T ms timeout (an API server waits like this between bookmark checks),
// lets it settle, then measures the process's CPU time (getrusage) and disk
// writes (/proc/self/io write_bytes) over M seconds with no writes.
// bench/idle.sh runs it.
//
//   kite_idle_bench --dir=DIR [--watchers=100] [--timeout-ms=5000]
//       [--settle-ms=2000] [--measure-s=60]
//
// Prints "idle: ..." lines and a last "idle-summary: ..." line; exits 1 when
// over budget (0.1% of a core, 20 KiB/s written), 2 on an error.
#include <cstdio>
#include <string>

#include "bench/durability/bench_flags.h"
#include "bench/durability/workload.h"
#include "datastore/open.h"

namespace kite::bench {
namespace {

int Main(int argc, char** argv) {
  BenchFlags flags;
  if (!flags.Parse(
          argc, argv,
          {"dir", "watchers", "timeout-ms", "settle-ms", "measure-s"})) {
    return 2;
  }
  const std::string dir = flags.Get("dir", "");
  if (dir.empty() || dir[0] != '/') {
    std::fprintf(stderr, "--dir=ABSOLUTE_DIR is required\n");
    return 2;
  }
  IdleConfig config;
  config.watchers = static_cast<int>(flags.GetInt("watchers", 100));
  config.next_timeout =
      std::chrono::milliseconds(flags.GetInt("timeout-ms", 5000));
  config.settle = std::chrono::milliseconds(flags.GetInt("settle-ms", 2000));
  config.measure = std::chrono::seconds(flags.GetInt("measure-s", 60));

  auto backend = datastore::Open("sqlite://" + dir + "/state.db");
  if (!backend.ok()) {
    std::fprintf(stderr, "open: %s\n", backend.status().ToString().c_str());
    return 2;
  }
  std::printf(
      "idle: watchers=%d next_timeout_ms=%lld settle_ms=%lld measure_s=%lld\n",
      config.watchers, static_cast<long long>(config.next_timeout.count()),
      static_cast<long long>(config.settle.count()),
      static_cast<long long>(config.measure.count() / 1000));
  std::fflush(stdout);
  auto r = RunIdleWorkload(**backend, config);
  if (!r.ok()) {
    std::fprintf(stderr, "workload: %s\n", r.status().ToString().c_str());
    return 2;
  }
  const bool pass =
      r->core_percent < 0.1 && r->write_bytes_per_second < 20 * 1024.0;
  std::printf("idle: wall=%.2fs cpu=%.6fs batches=%lld events=%lld\n",
              r->wall_seconds, r->cpu_seconds,
              static_cast<long long>(r->batches),
              static_cast<long long>(r->events));
  std::printf(
      "idle: backend_threads=%lld backend_thread_wakeups=%lld (context "
      "switches of "
      "threads other than the watchers' and main)\n",
      static_cast<long long>(r->background_threads),
      static_cast<long long>(r->background_wakeups));
  std::printf(
      "idle-summary: watchers=%d seconds=%.1f cpu_ms=%.3f core_percent=%.5f "
      "write_bytes=%llu write_bytes_per_s=%.1f backend_wakeups=%lld pass=%s\n",
      config.watchers, r->wall_seconds, r->cpu_seconds * 1000, r->core_percent,
      static_cast<unsigned long long>(r->write_bytes),
      r->write_bytes_per_second, static_cast<long long>(r->background_wakeups),
      pass ? "yes" : "no");
  return pass ? 0 : 1;
}

}  // namespace
}  // namespace kite::bench

int main(int argc, char** argv) { return kite::bench::Main(argc, argv); }

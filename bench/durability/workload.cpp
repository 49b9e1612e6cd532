#include "bench/durability/workload.h"

#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace kite::bench {
namespace {

using Clock = std::chrono::steady_clock;

uint64_t FileSize(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return 0;
  return static_cast<uint64_t>(st.st_size);
}

std::string KeyName(int index) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "/disk/k%06d", index);
  return buf;
}

// A value of exactly `bytes` bytes that differs with every write (so pages
// really change) and says which write it is.
std::string MakeValue(int key, int64_t seq, size_t bytes) {
  char head[48];
  std::snprintf(head, sizeof(head), "k%d s%lld ", key,
                static_cast<long long>(seq));
  std::string v(head);
  uint64_t x = static_cast<uint64_t>(key) * 0x9E3779B97F4A7C15ULL +
               static_cast<uint64_t>(seq);
  while (v.size() < bytes) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    v.push_back(static_cast<char>('!' + x % 90));
  }
  v.resize(bytes);
  return v;
}

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// write_bytes from /proc/self/io: bytes this process caused to be sent to
// the storage layer. 0 if the kernel does not offer it.
uint64_t WriteBytes() {
  std::ifstream in("/proc/self/io");
  std::string name;
  uint64_t value = 0;
  while (in >> name >> value) {
    if (name == "write_bytes:") return value;
  }
  return 0;
}

// Voluntary + involuntary context switches of every thread of this process,
// by thread id, from /proc/self/task/*/status.
std::map<pid_t, uint64_t> ThreadSwitches() {
  std::map<pid_t, uint64_t> out;
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return out;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream in(std::string("/proc/self/task/") + e->d_name + "/status");
    std::string line;
    uint64_t total = 0;
    while (std::getline(in, line)) {
      if (line.rfind("voluntary_ctxt_switches:", 0) == 0 ||
          line.rfind("nonvoluntary_ctxt_switches:", 0) == 0) {
        total += std::strtoull(line.c_str() + line.find(':') + 1, nullptr, 10);
      }
    }
    out[static_cast<pid_t>(std::atoi(e->d_name))] = total;
  }
  closedir(dir);
  return out;
}

// Keeps the first error of many threads.
class FirstError {
 public:
  void Set(const Status& s) {
    std::lock_guard<std::mutex> l(mu_);
    if (status_.ok()) status_ = s;
  }
  Status Get() {
    std::lock_guard<std::mutex> l(mu_);
    return status_;
  }
  bool failed() {
    std::lock_guard<std::mutex> l(mu_);
    return !status_.ok();
  }

 private:
  std::mutex mu_;
  Status status_;
};

}  // namespace

DbFileSizes StatDbFiles(const std::string& db_path) {
  return {FileSize(db_path), FileSize(db_path + "-wal"),
          FileSize(db_path + "-shm")};
}

StatusOr<DiskResult> RunDiskWorkload(datastore::Backend& backend,
                                     const DiskConfig& config) {
  if (config.keys < 1 || config.writers < 1 || config.updates < 0) {
    return InvalidArgumentError("keys and writers must be positive");
  }
  DiskResult result;
  std::vector<int64_t> mod_revision(static_cast<size_t>(config.keys));
  for (int k = 0; k < config.keys; ++k) {
    std::string key = KeyName(k);
    KITE_ASSIGN_OR_RETURN(
        mod_revision[static_cast<size_t>(k)],
        backend.Create(key, MakeValue(k, 0, config.value_bytes)));
    result.live_bytes += key.size() + config.value_bytes;
  }

  std::atomic<int64_t> next{0};
  std::atomic<int64_t> done{0};
  std::atomic<bool> stop_sampler{false};
  std::atomic<uint64_t> peak{0}, peak_wal{0};
  std::atomic<int64_t> samples{0};
  FirstError error;

  auto sample = [&] {
    DbFileSizes s = StatDbFiles(config.db_path);
    uint64_t total = s.DbPlusWal();
    uint64_t p = peak.load();
    while (total > p && !peak.compare_exchange_weak(p, total)) {
    }
    uint64_t w = peak_wal.load();
    while (s.wal > w && !peak_wal.compare_exchange_weak(w, s.wal)) {
    }
    samples++;
  };

  std::thread sampler([&] {
    while (!stop_sampler.load()) {
      sample();
      std::this_thread::sleep_for(config.sample_every);
    }
  });

  auto t0 = Clock::now();
  std::vector<std::thread> writers;
  for (int t = 0; t < config.writers; ++t) {
    writers.emplace_back([&, t] {
      // This thread's keys: t, t + writers, t + 2 * writers, ...
      std::vector<int> own;
      for (int k = t; k < config.keys; k += config.writers) own.push_back(k);
      if (own.empty()) return;
      std::vector<int64_t> seq(own.size(), 0);
      size_t i = 0;
      while (!error.failed() && next.fetch_add(1) < config.updates) {
        int k = own[i];
        int64_t& rev = mod_revision[static_cast<size_t>(k)];
        auto r = backend.Update(
            KeyName(k), MakeValue(k, ++seq[i], config.value_bytes), rev);
        if (!r.ok()) {
          error.Set(r.status());
          return;
        }
        rev = *r;
        done++;
        i = (i + 1) % own.size();
      }
    });
  }
  for (auto& w : writers) w.join();
  result.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  stop_sampler = true;
  sampler.join();
  sample();
  result.end = StatDbFiles(config.db_path);
  KITE_RETURN_IF_ERROR(error.Get());

  if (config.settle.count() > 0) {
    auto settle_end = Clock::now() + config.settle;
    while (Clock::now() < settle_end) {
      sample();
      std::this_thread::sleep_for(config.sample_every);
    }
  }
  result.settled = StatDbFiles(config.db_path);
  result.updates = done.load();
  result.peak_db_plus_wal = peak.load();
  result.peak_wal = peak_wal.load();
  result.samples = samples.load();
  return result;
}

StatusOr<IdleResult> RunIdleWorkload(datastore::Backend& backend,
                                     const IdleConfig& config) {
  for (int i = 0; i < config.seed_keys; ++i) {
    char key[48];
    std::snprintf(key, sizeof(key), "/idle/r%03d/obj%04d",
                  i % std::max(1, config.watchers), i);
    KITE_RETURN_IF_ERROR(backend.Create(key, std::string(512, 'v')).status());
  }

  std::vector<std::shared_ptr<datastore::Watcher>> watchers;
  for (int i = 0; i < config.watchers; ++i) {
    char prefix[32];
    if (i == 0) {
      std::snprintf(prefix, sizeof(prefix), "/idle/");
    } else {
      std::snprintf(prefix, sizeof(prefix), "/idle/r%03d/", i);
    }
    auto w = backend.Watch(prefix);
    if (!w.ok()) {
      for (auto& open : watchers) open->Cancel();
      return w.status();
    }
    watchers.push_back(std::move(*w));
  }

  std::atomic<bool> counting{false};
  std::atomic<int64_t> batches{0}, events{0};
  FirstError error;
  std::mutex tids_mu;
  std::set<pid_t> own_tids = {gettid()};
  std::vector<std::thread> threads;
  for (auto& w : watchers) {
    threads.emplace_back([&, w] {
      {
        std::lock_guard<std::mutex> l(tids_mu);
        own_tids.insert(gettid());
      }
      while (true) {
        auto batch = w->Next(config.next_timeout);
        if (!batch.ok()) {
          if (batch.status().code() != Code::kCancelled)
            error.Set(batch.status());
          return;
        }
        if (counting.load()) {
          batches++;
          events += static_cast<int64_t>(batch->events.size());
        }
      }
    });
  }

  std::this_thread::sleep_for(config.settle);
  counting = true;
  const auto switches0 = ThreadSwitches();
  const double cpu0 = CpuSeconds();
  const uint64_t wb0 = WriteBytes();
  const auto t0 = Clock::now();
  std::this_thread::sleep_for(config.measure);
  const double cpu1 = CpuSeconds();
  const uint64_t wb1 = WriteBytes();
  const auto t1 = Clock::now();
  const auto switches1 = ThreadSwitches();
  counting = false;

  IdleResult r;
  {
    std::lock_guard<std::mutex> l(tids_mu);
    for (const auto& [tid, n] : switches1) {
      if (own_tids.count(tid)) continue;
      auto before = switches0.find(tid);
      r.background_threads++;
      r.background_wakeups += static_cast<int64_t>(
          n - (before == switches0.end() ? 0 : before->second));
    }
  }

  for (auto& w : watchers) w->Cancel();
  for (auto& t : threads) t.join();
  KITE_RETURN_IF_ERROR(error.Get());

  r.wall_seconds = std::chrono::duration<double>(t1 - t0).count();
  r.cpu_seconds = cpu1 - cpu0;
  r.core_percent = 100.0 * r.cpu_seconds / r.wall_seconds;
  r.write_bytes = wb1 >= wb0 ? wb1 - wb0 : 0;
  r.write_bytes_per_second =
      static_cast<double>(r.write_bytes) / r.wall_seconds;
  r.batches = batches.load();
  r.events = events.load();
  return r;
}

}  // namespace kite::bench

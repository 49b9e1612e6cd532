// datastore_bench: kite's SQLite datastore against etcd, driven the same way
// (the way kube-apiserver drives its store), on the same disk. Run by
// bench/datastore.sh, which starts etcd and writes bench/README.md.
//
//   datastore_bench --kite=sqlite:///tmp/x/kite/state.db --etcd=127.0.0.1:2379
//                   [--write-seconds=5] [--rounds=5] [--list-keys=10000]
//                   [--value-bytes=1024]
//                   [--watchers=1000] [--watch-events=200] [--watch-gap-ms=20]
//                   [--probe-dir=DIR] [--markdown=FILE]
//                   [--kite-wal-checkpoint-pages=N]   (experiments: not kite's
//                   default)
//                   [--phases=writes1,writes64,list,watch]  (experiments: a
//                   subset)
//
// Measures, per store:
//   writes    durable writes/s with 1 and with 64 concurrent clients; each
//             client creates its own key and then updates it with
//             compare-and-swap on the mod_revision it got back (~1 KB values)
//             for --write-seconds per store, split into --rounds rounds that
//             alternate between the stores (a shared machine's changing load
//             then hits both alike);
//   list      time to list --list-keys keys of ~1 KB under one prefix: in one
//             request (limit 0) and in pages of 500 at one revision (median
//             of 5 runs each);
//   watch     --watchers watches of one prefix; --watch-events creates, one
//             every --watch-gap-ms; latency from just before each write call
//             to each watcher's receipt of its event (p50 / p99 / max).
// Prints a markdown table (also to --markdown) and, when both stores ran,
// ends with the line
//   datastore: writes1_ratio=<kite/etcd> writes64_ratio=<kite/etcd>
//   list10k_ms=<kite> watch1000_p99_ms=<kite>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_store.h"

namespace kite::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Flags {
  std::string kite;
  std::string etcd;
  double write_seconds = 5;
  int rounds = 5;
  int list_keys = 10000;
  int value_bytes = 1024;
  int watchers = 1000;
  int watch_events = 200;
  int watch_gap_ms = 20;
  std::string probe_dir;
  std::string markdown;
  int kite_wal_checkpoint_pages = 0;  // experiments only; 0: kite's default
  std::string phases = "writes1,writes64,list,watch";

  bool Runs(const std::string& phase) const {
    return ("," + phases + ",").find("," + phase + ",") != std::string::npos;
  }
};

struct Latency {
  double p50 = 0, p99 = 0, max = 0;
};

struct WriteResult {
  double per_second = 0;
  int64_t writes = 0;
  int64_t errors = 0;
  Latency latency_ms;
};

struct Results {
  std::string store;
  WriteResult writes1, writes64;
  double preload_seconds = 0;
  double list_full_ms = 0;
  double list_paged_ms = 0;
  Latency watch_ms;
  Latency watch_write_ms;  // the watch test's own write calls
  int64_t watch_missing = 0;
  std::string watch_layout;
};

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             Clock::now().time_since_epoch())
      .count();
}

double Ms(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

Latency Percentiles(std::vector<double> v) {
  Latency l;
  if (v.empty()) return l;
  std::sort(v.begin(), v.end());
  auto at = [&](double p) {
    size_t idx =
        static_cast<size_t>(std::ceil(p * static_cast<double>(v.size()))) - 1;
    return v[std::min(idx, v.size() - 1)];
  };
  l.p50 = at(0.50);
  l.p99 = at(0.99);
  l.max = v.back();
  return l;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// A ~1 KB value whose first bytes change with every write.
std::string MakeValue(int bytes, uint64_t seed) {
  std::string v(static_cast<size_t>(bytes), 'x');
  std::mt19937_64 rng(seed);
  for (char& c : v) c = static_cast<char>('a' + rng() % 26);
  return v;
}

void Stamp(std::string* value, uint64_t n) {
  char buf[24];
  int len = std::snprintf(buf, sizeof(buf), "%020" PRIu64, n);
  value->replace(0, std::min<size_t>(static_cast<size_t>(len), value->size()),
                 buf,
                 std::min<size_t>(static_cast<size_t>(len), value->size()));
}

void Die(const std::string& what, const Status& st) {
  std::fprintf(stderr, "datastore_bench: %s: %s\n", what.c_str(),
               st.ToString().c_str());
  std::exit(1);
}

// One timed round of writes: totals and every write's latency.
struct WriteRound {
  int64_t writes = 0;
  int64_t errors = 0;
  double seconds = 0;
  std::vector<double> latency_ms;
};

WriteRound RunWrites(BenchStore& store, int clients, double seconds,
                     int value_bytes, int round) {
  std::atomic<bool> go{false}, stop{false};
  std::vector<int64_t> counts(clients, 0), errors(clients, 0);
  std::vector<std::vector<double>> lat(clients);
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      std::string key = "/registry/bench-writes-" + std::to_string(clients) +
                        "/round-" + std::to_string(round) + "/client-" +
                        std::to_string(i);
      std::string value = MakeValue(value_bytes, static_cast<uint64_t>(i));
      lat[i].reserve(100000);
      while (!go.load()) std::this_thread::yield();
      uint64_t n = 0;
      Stamp(&value, n++);
      auto t0 = Clock::now();
      StatusOr<int64_t> rev = store.Create(key, value);
      if (!rev.ok()) {
        std::fprintf(stderr, "%s create %s: %s\n", store.name().c_str(),
                     key.c_str(), rev.status().ToString().c_str());
        errors[i]++;
        return;
      }
      lat[i].push_back(Ms(Clock::now() - t0));
      counts[i]++;
      int64_t mod = *rev;
      while (!stop.load()) {
        Stamp(&value, n++);
        t0 = Clock::now();
        StatusOr<int64_t> r = store.Update(key, value, mod);
        if (!r.ok()) {
          std::fprintf(stderr, "%s update %s: %s\n", store.name().c_str(),
                       key.c_str(), r.status().ToString().c_str());
          errors[i]++;
          return;
        }
        lat[i].push_back(Ms(Clock::now() - t0));
        counts[i]++;
        mod = *r;
      }
    });
  }
  auto start = Clock::now();
  go = true;
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  WriteRound r;
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (int i = 0; i < clients; ++i) {
    r.writes += counts[i];
    r.errors += errors[i];
    r.latency_ms.insert(r.latency_ms.end(), lat[i].begin(), lat[i].end());
  }
  return r;
}

// Runs the write test for every store in `rounds` alternating rounds (so a
// change of background load on a shared machine hits both alike) and sums
// them up: writes/s is all writes over all time spent.
void RunWritePhase(const std::vector<BenchStore*>& stores, int clients,
                   double seconds, int rounds, int value_bytes,
                   std::vector<WriteResult*> out) {
  std::vector<WriteRound> total(stores.size());
  for (int round = 0; round < rounds; ++round) {
    for (size_t k = 0; k < stores.size(); ++k) {
      size_t s = (round % 2 == 0) ? k : stores.size() - 1 - k;
      WriteRound r =
          RunWrites(*stores[s], clients, seconds / rounds, value_bytes, round);
      std::fprintf(stderr,
                   "[%s] writes, %d client(s), round %d: %.0f writes/s\n",
                   stores[s]->name().c_str(), clients, round + 1,
                   static_cast<double>(r.writes) / r.seconds);
      total[s].writes += r.writes;
      total[s].errors += r.errors;
      total[s].seconds += r.seconds;
      total[s].latency_ms.insert(total[s].latency_ms.end(),
                                 r.latency_ms.begin(), r.latency_ms.end());
    }
  }
  for (size_t s = 0; s < stores.size(); ++s) {
    out[s]->writes = total[s].writes;
    out[s]->errors = total[s].errors;
    out[s]->per_second =
        static_cast<double>(total[s].writes) / total[s].seconds;
    out[s]->latency_ms = Percentiles(std::move(total[s].latency_ms));
  }
}

std::string ListKey(int i) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "/registry/bench-list/object-%06d", i);
  return buf;
}

// Creates the keys to list with 64 concurrent clients; returns seconds.
double Preload(BenchStore& store, int keys, int value_bytes) {
  std::atomic<int> next{0};
  std::vector<std::thread> threads;
  auto start = Clock::now();
  for (int t = 0; t < 64; ++t) {
    threads.emplace_back([&, t] {
      std::string value =
          MakeValue(value_bytes, 1000 + static_cast<uint64_t>(t));
      for (int i = next++; i < keys; i = next++) {
        Stamp(&value, static_cast<uint64_t>(i));
        StatusOr<int64_t> r = store.Create(ListKey(i), value);
        if (!r.ok()) Die(store.name() + " preload " + ListKey(i), r.status());
      }
    });
  }
  for (auto& t : threads) t.join();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double TimeList(BenchStore& store, int keys, int64_t page_limit) {
  const std::string prefix = "/registry/bench-list/";
  auto start = Clock::now();
  int64_t total = 0;
  int64_t revision = 0;
  std::string after;
  while (true) {
    StatusOr<ListPage> p = store.List(prefix, revision, page_limit, after);
    if (!p.ok()) Die(store.name() + " list", p.status());
    total += p->count;
    revision = p->revision;
    after = p->last_key;
    if (!p->more || p->count == 0) break;
  }
  double ms = Ms(Clock::now() - start);
  if (total != keys) {
    Die(store.name() + " list",
        InternalError("listed " + std::to_string(total) + " keys, expected " +
                      std::to_string(keys)));
  }
  return ms;
}

void RunWatch(BenchStore& store, const Flags& f, Results* out) {
  const std::string prefix = "/registry/bench-watch/";
  const int w = f.watchers, e = f.watch_events;
  std::vector<std::atomic<int64_t>> recv(static_cast<size_t>(w) * e);
  for (auto& r : recv) r.store(0);
  std::vector<int64_t> sent(e, 0);
  std::atomic<int64_t> received{0};
  auto on_event = [&](int watcher, std::string_view key) {
    int64_t now = NowNs();
    if (key.size() <= prefix.size() + 1 ||
        key.substr(0, prefix.size()) != prefix)
      return;
    int seq = 0;
    for (char c : key.substr(prefix.size() + 1)) {
      if (c < '0' || c > '9') return;
      seq = seq * 10 + (c - '0');
    }
    if (watcher < 0 || watcher >= w || seq >= e) return;
    int64_t zero = 0;
    if (recv[static_cast<size_t>(watcher) * e + seq].compare_exchange_strong(
            zero, now))
      received++;
  };
  Status st = store.StartWatchers(prefix, w, on_event);
  if (!st.ok()) Die(store.name() + " start watchers", st);
  out->watch_layout = store.WatchLayout();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  std::string value = MakeValue(f.value_bytes, 7);
  std::vector<double> write_ms;
  for (int i = 0; i < e; ++i) {
    char key[96];
    std::snprintf(key, sizeof(key), "%se%06d", prefix.c_str(), i);
    Stamp(&value, static_cast<uint64_t>(i));
    sent[i] = NowNs();
    StatusOr<int64_t> r = store.Create(key, value);
    write_ms.push_back(static_cast<double>(NowNs() - sent[i]) / 1e6);
    if (!r.ok()) Die(store.name() + " watch write", r.status());
    std::this_thread::sleep_for(std::chrono::milliseconds(f.watch_gap_ms));
  }
  auto deadline = Clock::now() + std::chrono::seconds(15);
  while (received.load() < static_cast<int64_t>(w) * e &&
         Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  store.StopWatchers();
  std::vector<double> lat;
  lat.reserve(recv.size());
  for (int i = 0; i < w; ++i) {
    for (int j = 0; j < e; ++j) {
      int64_t t = recv[static_cast<size_t>(i) * e + j].load();
      if (t == 0) {
        out->watch_missing++;
      } else {
        lat.push_back(static_cast<double>(t - sent[j]) / 1e6);
      }
    }
  }
  out->watch_ms = Percentiles(std::move(lat));
  out->watch_write_ms = Percentiles(std::move(write_ms));
}

// Every phase runs for all stores before the next phase starts; the write
// and list phases alternate between the stores.
std::vector<Results> RunAll(const std::vector<BenchStore*>& stores,
                            const Flags& f) {
  std::vector<Results> rs(stores.size());
  std::vector<WriteResult*> w1, w64;
  for (size_t s = 0; s < stores.size(); ++s) {
    rs[s].store = stores[s]->name();
    w1.push_back(&rs[s].writes1);
    w64.push_back(&rs[s].writes64);
  }
  if (f.Runs("writes1"))
    RunWritePhase(stores, 1, f.write_seconds, f.rounds, f.value_bytes, w1);
  if (f.Runs("writes64"))
    RunWritePhase(stores, 64, f.write_seconds, f.rounds, f.value_bytes, w64);
  for (const Results& r : rs) {
    std::fprintf(stderr,
                 "[%s] writes: %.0f/s with 1 client (p50 %.2f ms, p99 %.2f "
                 "ms), %.0f/s with 64 (p50 %.2f ms, p99 %.2f ms)\n",
                 r.store.c_str(), r.writes1.per_second,
                 r.writes1.latency_ms.p50, r.writes1.latency_ms.p99,
                 r.writes64.per_second, r.writes64.latency_ms.p50,
                 r.writes64.latency_ms.p99);
  }

  std::vector<std::vector<double>> full(stores.size()), paged(stores.size());
  if (!f.Runs("list")) full.clear();
  for (size_t s = 0; s < full.size(); ++s) {
    std::fprintf(stderr, "[%s] preloading %d keys for the list\n",
                 rs[s].store.c_str(), f.list_keys);
    rs[s].preload_seconds = Preload(*stores[s], f.list_keys, f.value_bytes);
    TimeList(*stores[s], f.list_keys, 0);  // warm-up, not counted
  }
  for (int i = 0; i < 5 && !full.empty(); ++i) {
    for (size_t s = 0; s < stores.size(); ++s) {
      full[s].push_back(TimeList(*stores[s], f.list_keys, 0));
      paged[s].push_back(TimeList(*stores[s], f.list_keys, 500));
    }
  }
  for (size_t s = 0; s < full.size(); ++s) {
    rs[s].list_full_ms = Median(full[s]);
    rs[s].list_paged_ms = Median(paged[s]);
    std::fprintf(stderr,
                 "[%s] list: %.1f ms in one request, %.1f ms in pages of 500\n",
                 rs[s].store.c_str(), rs[s].list_full_ms, rs[s].list_paged_ms);
  }

  for (size_t s = 0; s < stores.size() && f.Runs("watch"); ++s) {
    std::fprintf(stderr, "[%s] watch: %d watchers, %d events\n",
                 rs[s].store.c_str(), f.watchers, f.watch_events);
    RunWatch(*stores[s], f, &rs[s]);
    std::fprintf(stderr,
                 "[%s] watch latency p50 %.2f ms, p99 %.2f ms, max %.2f ms, "
                 "missing %" PRId64 "; its writes p50 %.2f ms, p99 %.2f ms\n",
                 rs[s].store.c_str(), rs[s].watch_ms.p50, rs[s].watch_ms.p99,
                 rs[s].watch_ms.max, rs[s].watch_missing,
                 rs[s].watch_write_ms.p50, rs[s].watch_write_ms.p99);
  }
  return rs;
}

// fdatasync latency of 4 KiB overwrites in `dir`: what one durable commit
// costs on this disk at least.
std::optional<Latency> ProbeFsync(const std::string& dir) {
  std::string path = dir + "/fsync-probe";
  int fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return std::nullopt;
  std::string block(4096, 'p');
  std::vector<double> lat;
  for (int i = 0; i < 200; ++i) {
    auto t0 = Clock::now();
    if (::pwrite(fd, block.data(), block.size(), 0) !=
            static_cast<ssize_t>(block.size()) ||
        ::fdatasync(fd) != 0) {
      ::close(fd);
      ::unlink(path.c_str());
      return std::nullopt;
    }
    lat.push_back(Ms(Clock::now() - t0));
  }
  ::close(fd);
  ::unlink(path.c_str());
  return Percentiles(std::move(lat));
}

std::string Fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), format, v);
  return buf;
}

std::string Markdown(const Flags& f, const std::vector<Results>& rs,
                     const std::optional<Latency>& probe) {
  const Results* kite = nullptr;
  const Results* etcd = nullptr;
  for (const Results& r : rs) (r.store == "kite" ? kite : etcd) = &r;
  std::ostringstream o;
  o << "| measure |";
  for (const Results& r : rs)
    o << " " << (r.store == "kite" ? "kite (SQLite)" : "etcd") << " |";
  if (kite && etcd) o << " kite vs etcd (>1: kite better) |";
  o << "\n|---|";
  for (size_t i = 0; i < rs.size(); ++i) o << "---:|";
  if (kite && etcd) o << "---:|";
  o << "\n";
  auto row = [&](const std::string& name, auto value, const char* fmt,
                 bool higher_better) {
    o << "| " << name << " |";
    for (const Results& r : rs) o << " " << Fmt(fmt, value(r)) << " |";
    if (kite && etcd) {
      double k = value(*kite), e = value(*etcd);
      double ratio = higher_better ? k / e : e / k;
      o << " " << Fmt("%.2fx", ratio) << " |";
    }
    o << "\n";
  };
  auto text_row = [&](const std::string& name, auto text) {
    o << "| " << name << " |";
    for (const Results& r : rs) o << " " << text(r) << " |";
    if (kite && etcd) o << " |";
    o << "\n";
  };
  row(
      "durable writes/s, 1 client",
      [](const Results& r) { return r.writes1.per_second; }, "%.0f", true);
  text_row("  write latency p50 / p99 (ms), 1 client", [](const Results& r) {
    return Fmt("%.2f", r.writes1.latency_ms.p50) + " / " +
           Fmt("%.2f", r.writes1.latency_ms.p99);
  });
  row(
      "durable writes/s, 64 clients",
      [](const Results& r) { return r.writes64.per_second; }, "%.0f", true);
  text_row("  write latency p50 / p99 (ms), 64 clients", [](const Results& r) {
    return Fmt("%.2f", r.writes64.latency_ms.p50) + " / " +
           Fmt("%.2f", r.writes64.latency_ms.p99);
  });
  row(
      "list " + std::to_string(f.list_keys) + " keys, one request (ms)",
      [](const Results& r) { return r.list_full_ms; }, "%.1f", false);
  row(
      "list " + std::to_string(f.list_keys) + " keys, pages of 500 (ms)",
      [](const Results& r) { return r.list_paged_ms; }, "%.1f", false);
  row(
      "watch delivery to " + std::to_string(f.watchers) + " watchers, p50 (ms)",
      [](const Results& r) { return r.watch_ms.p50; }, "%.2f", false);
  row(
      "watch delivery to " + std::to_string(f.watchers) + " watchers, p99 (ms)",
      [](const Results& r) { return r.watch_ms.p99; }, "%.2f", false);
  text_row("  watch test's own writes: latency p50 / p99 (ms)",
           [](const Results& r) {
             return Fmt("%.2f", r.watch_write_ms.p50) + " / " +
                    Fmt("%.2f", r.watch_write_ms.p99);
           });
  text_row("  watch max (ms) / events missing", [](const Results& r) {
    return Fmt("%.2f", r.watch_ms.max) + " / " +
           std::to_string(r.watch_missing);
  });
  text_row("  (preload of the list keys, 64 clients, s)",
           [](const Results& r) { return Fmt("%.2f", r.preload_seconds); });
  o << "\n";
  o << "Workload: ~" << f.value_bytes << "-byte values; writes run "
    << f.write_seconds << " s per store in " << f.rounds
    << " rounds alternating between the stores (every client creates its own "
       "key, then updates it by "
       "compare-and-swap on the mod_revision it got back); lists are medians "
       "of 5, alternating; the watch test writes "
    << f.watch_events << " creates " << f.watch_gap_ms
    << " ms apart and times each from just before the write call to each "
       "watcher's receipt.\n";
  for (const Results& r : rs)
    o << "Watch layout, " << r.store << ": " << r.watch_layout << ".\n";
  if (probe) {
    o << "Disk: fdatasync of a 4 KiB overwrite takes "
      << Fmt("%.2f", probe->p50) << " ms (p50), " << Fmt("%.2f", probe->p99)
      << " ms (p99) on this disk.\n";
  }
  int64_t errors = 0;
  for (const Results& r : rs) errors += r.writes1.errors + r.writes64.errors;
  if (errors > 0)
    o << "**" << errors << " write errors occurred (see the log).**\n";
  return o.str();
}

bool ParseFlag(const std::string& arg, const char* name, std::string* out) {
  std::string p = std::string("--") + name + "=";
  if (arg.rfind(p, 0) != 0) return false;
  *out = arg.substr(p.size());
  return true;
}

int Main(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i], v;
    if (ParseFlag(a, "kite", &f.kite) || ParseFlag(a, "etcd", &f.etcd) ||
        ParseFlag(a, "markdown", &f.markdown) ||
        ParseFlag(a, "probe-dir", &f.probe_dir)) {
    } else if (ParseFlag(a, "write-seconds", &v)) {
      f.write_seconds = std::stod(v);
    } else if (ParseFlag(a, "kite-wal-checkpoint-pages", &v)) {
      f.kite_wal_checkpoint_pages = std::stoi(v);
    } else if (ParseFlag(a, "phases", &v)) {
      f.phases = v;
    } else if (ParseFlag(a, "rounds", &v)) {
      f.rounds = std::max(1, std::stoi(v));
    } else if (ParseFlag(a, "list-keys", &v)) {
      f.list_keys = std::stoi(v);
    } else if (ParseFlag(a, "value-bytes", &v)) {
      f.value_bytes = std::stoi(v);
    } else if (ParseFlag(a, "watchers", &v)) {
      f.watchers = std::stoi(v);
    } else if (ParseFlag(a, "watch-events", &v)) {
      f.watch_events = std::stoi(v);
    } else if (ParseFlag(a, "watch-gap-ms", &v)) {
      f.watch_gap_ms = std::stoi(v);
    } else {
      std::fprintf(stderr,
                   "datastore_bench: unknown flag %s (see the header of "
                   "datastore_bench.cpp)\n",
                   a.c_str());
      return 2;
    }
  }
  if (f.kite.empty() && f.etcd.empty()) {
    std::fprintf(stderr,
                 "usage: datastore_bench [--kite=sqlite:///PATH] "
                 "[--etcd=HOST:PORT] [options]\n");
    return 2;
  }
  std::optional<Latency> probe;
  if (!f.probe_dir.empty()) probe = ProbeFsync(f.probe_dir);

  std::vector<std::unique_ptr<BenchStore>> owned;
  if (!f.kite.empty()) {
    StatusOr<std::unique_ptr<BenchStore>> s =
        OpenKiteStore(f.kite, f.kite_wal_checkpoint_pages);
    if (!s.ok()) Die("open " + f.kite, s.status());
    owned.push_back(std::move(*s));
  }
  if (!f.etcd.empty()) {
    StatusOr<std::unique_ptr<BenchStore>> s = OpenEtcdStore(f.etcd);
    if (!s.ok()) Die("connect to etcd at " + f.etcd, s.status());
    owned.push_back(std::move(*s));
  }
  std::vector<BenchStore*> stores;
  for (auto& s : owned) stores.push_back(s.get());
  std::vector<Results> results = RunAll(stores, f);

  std::string md = Markdown(f, results, probe);
  std::printf("%s", md.c_str());
  if (!f.markdown.empty()) {
    std::ofstream out(f.markdown);
    out << md;
  }
  for (const Results& r : results) {
    std::printf(
        "result store=%s writes1=%.1f writes64=%.1f list_full_ms=%.2f "
        "list_paged_ms=%.2f "
        "watch_p50_ms=%.2f watch_p99_ms=%.2f watch_missing=%" PRId64
        " errors=%" PRId64 "\n",
        r.store.c_str(), r.writes1.per_second, r.writes64.per_second,
        r.list_full_ms, r.list_paged_ms, r.watch_ms.p50, r.watch_ms.p99,
        r.watch_missing, r.writes1.errors + r.writes64.errors);
  }
  if (results.size() == 2 && f.phases == Flags().phases) {
    const Results& k = results[0];
    const Results& e = results[1];
    std::printf(
        "datastore: writes1_ratio=%.2f writes64_ratio=%.2f list10k_ms=%.1f "
        "watch1000_p99_ms=%.1f\n",
        k.writes1.per_second / e.writes1.per_second,
        k.writes64.per_second / e.writes64.per_second, k.list_full_ms,
        k.watch_ms.p99);
  }
  return 0;
}

}  // namespace
}  // namespace kite::bench

int main(int argc, char** argv) { return kite::bench::Main(argc, argv); }

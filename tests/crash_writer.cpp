// kite_crash_writer: the "server" that crash_test kills with SIGKILL.
//
//   kite_crash_writer DB_PATH THREADS SEED MAX_SECONDS [VALUE_BYTES [lie]]
//
// Opens the SQLite backend at DB_PATH and runs THREADS writer threads. Thread
// t owns the keys /crash/tNN/kMMMMMM and nothing else writes them, so every
// call is expected to succeed. Each thread creates new keys and CAS-updates
// its existing ones; a value encodes "key=<key> seq=<n> " (then padding), and
// seq grows by one with every write of the key.
//
// After a call returns OK the thread writes one acknowledgement line to
// stdout with a single write(2) (shorter than PIPE_BUF, so atomic on a pipe):
//   A <key> <seq> <revision>
// Before any write it prints "R <current revision>" once the store is open.
// On restart every thread resumes from what List() finds under its prefix.
//
// With "lie" (crash_test's check of its own verifier) every 20th update is
// acknowledged but never made, and that key is not written again.
//
// It exits by itself after MAX_SECONDS (a safety net: the test kills it much
// earlier) and with status 2 on any unexpected error, which it describes on
// stderr. Threading: one std::thread per writer; stdout is written only with
// write(2), never through stdio buffers.
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "datastore/backend.h"
#include "datastore/open.h"

namespace kite::tests {
namespace {

struct OwnedKey {
  std::string key;
  int64_t seq = 0;
  int64_t mod_revision = 0;
};

std::atomic<bool> g_failed{false};

void WriteAll(const char* data, size_t len) {
  while (len > 0) {
    ssize_t n = write(STDOUT_FILENO, data, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) _exit(3);  // the test went away
    data += n;
    len -= static_cast<size_t>(n);
  }
}

void Fail(const std::string& what) {
  if (!g_failed.exchange(true)) {
    std::fprintf(stderr, "crash_writer: %s\n", what.c_str());
    std::fflush(stderr);
  }
  _exit(2);
}

std::string KeyName(int thread, int64_t index) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "/crash/t%02d/k%06" PRId64, thread, index);
  return buf;
}

std::string MakeValue(const std::string& key, int64_t seq, size_t value_bytes) {
  std::string v = "key=" + key + " seq=" + std::to_string(seq) + " ";
  if (v.size() < value_bytes)
    v.append(value_bytes - v.size(), static_cast<char>('a' + seq % 26));
  return v;
}

// Parses "key=<key> seq=<n> ..." and returns n, or -1 if the value does not
// belong to `key`.
int64_t ParseSeq(const std::string& key, const std::string& value) {
  std::string head = "key=" + key + " seq=";
  if (value.compare(0, head.size(), head) != 0) return -1;
  char* end = nullptr;
  long long seq = std::strtoll(value.c_str() + head.size(), &end, 10);
  if (end == value.c_str() + head.size() || *end != ' ') return -1;
  return seq;
}

void Ack(const std::string& key, int64_t seq, int64_t revision) {
  char buf[128];
  int n = std::snprintf(buf, sizeof(buf), "A %s %" PRId64 " %" PRId64 "\n",
                        key.c_str(), seq, revision);
  WriteAll(buf, static_cast<size_t>(n));
}

void RunWriter(datastore::Backend& backend, int thread, uint64_t seed,
               size_t value_bytes, bool lie,
               std::chrono::steady_clock::time_point deadline) {
  char prefix[32];
  std::snprintf(prefix, sizeof(prefix), "/crash/t%02d/", thread);
  auto listed = backend.List(prefix);
  if (!listed.ok())
    Fail("list " + std::string(prefix) + ": " + listed.status().ToString());
  std::vector<OwnedKey> keys;
  int64_t next_index = 0;
  for (const auto& kv : listed->kvs) {
    int64_t seq = ParseSeq(kv.key, kv.value);
    if (seq < 1)
      Fail("value of " + kv.key +
           " does not match its key: " + kv.value.substr(0, 64));
    keys.push_back({kv.key, seq, kv.mod_revision});
    int64_t index =
        std::strtoll(kv.key.c_str() + std::strlen(prefix) + 1, nullptr, 10);
    next_index = std::max(next_index, index + 1);
  }

  std::mt19937_64 rng(seed * 1000003 + static_cast<uint64_t>(thread));
  while (std::chrono::steady_clock::now() < deadline) {
    if (keys.size() < 2 || rng() % 8 == 0) {
      std::string key = KeyName(thread, next_index++);
      auto rev = backend.Create(key, MakeValue(key, 1, value_bytes));
      if (!rev.ok()) Fail("create " + key + ": " + rev.status().ToString());
      keys.push_back({key, 1, *rev});
      Ack(key, 1, *rev);
    } else if (lie && rng() % 20 == 0) {
      size_t i = rng() % keys.size();
      Ack(keys[i].key, keys[i].seq + 1, keys[i].mod_revision + 1);
      keys.erase(keys.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      OwnedKey& k = keys[rng() % keys.size()];
      auto rev = backend.Update(k.key, MakeValue(k.key, k.seq + 1, value_bytes),
                                k.mod_revision);
      if (!rev.ok()) Fail("update " + k.key + ": " + rev.status().ToString());
      k.seq++;
      k.mod_revision = *rev;
      Ack(k.key, k.seq, *rev);
    }
  }
}

int Main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(
        stderr,
        "usage: %s DB_PATH THREADS SEED MAX_SECONDS [VALUE_BYTES [lie]]\n",
        argv[0]);
    return 1;
  }
  // Die with the test if it dies before killing us.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  const std::string db_path = argv[1];
  const int threads = std::atoi(argv[2]);
  const uint64_t seed = std::strtoull(argv[3], nullptr, 10);
  const int max_seconds = std::atoi(argv[4]);
  const size_t value_bytes =
      argc > 5 ? std::strtoul(argv[5], nullptr, 10) : 256;
  const bool lie = argc > 6 && std::strcmp(argv[6], "lie") == 0;

  auto backend = datastore::Open("sqlite://" + db_path, datastore::Options{});
  if (!backend.ok())
    Fail("open " + db_path + ": " + backend.status().ToString());
  char ready[64];
  int n = std::snprintf(ready, sizeof(ready), "R %" PRId64 "\n",
                        (*backend)->CurrentRevision());
  WriteAll(ready, static_cast<size_t>(n));

  auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(max_seconds);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back(RunWriter, std::ref(**backend), t, seed, value_bytes,
                         lie, deadline);
  }
  for (auto& w : workers) w.join();
  return 0;
}

}  // namespace
}  // namespace kite::tests

int main(int argc, char** argv) { return kite::tests::Main(argc, argv); }

// crash_test: SIGKILL the SQLite backend under 64 concurrent writers at
// random moments and prove, after every kill, that nothing acknowledged was
// lost (issue 2 item 5, DESIGN.md §4 and §10).
//
// Each round starts kite_crash_writer (tests/crash_writer.cpp) on the same
// database, collects its acknowledgements from a pipe, SIGKILLs it after a
// random delay (counted from its start in about half the rounds, so some
// kills land while it opens and recovers the store, and from its "opened"
// line in the others), then checks the file: PRAGMA integrity_check is "ok",
// every acknowledged write is present (same or later sequence of the key,
// same or later mod_revision), and the revision never went backwards. A
// second case checks the checker: a writer that acknowledges writes it never
// makes must be caught.
//
// Knobs (environment), so bench/crash.sh can run the long version and a
// failure can be replayed:
//   KITE_CRASH_SEED     random seed (default 20261122; always logged)
//   KITE_CRASH_KILLS    number of kill rounds (default 20)
//   KITE_CRASH_MIN_MS   shortest delay from start to kill (default 50)
//   KITE_CRASH_MAX_MS   longest delay from start to kill (default 400)
//   KITE_CRASH_THREADS  writer threads in the child (default 64)
// It prints one line "crash-summary: kills=... acked=... lost=..." at the end.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "datastore/backend.h"
#include "datastore/open.h"
#include "durability_temp_dir.h"

#ifndef KITE_CRASH_WRITER_PATH
#error "KITE_CRASH_WRITER_PATH must name the kite_crash_writer binary"
#endif

namespace kite::tests {
namespace {

using Clock = std::chrono::steady_clock;

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::strtoll(v, nullptr, 10);
}

// The newest acknowledged write of one key.
struct Acked {
  int64_t seq = 0;
  int64_t revision = 0;
};

// One started kite_crash_writer: its pid and the read end of its stdout.
struct Child {
  pid_t pid = -1;
  int out_fd = -1;
};

Child SpawnWriter(const std::vector<std::string>& args,
                  const std::string& log_path) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return {};
  int log_fd =
      open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    close(fds[0]);
    close(fds[1]);
    return {};
  }
  pid_t pid = fork();
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec.
    dup2(fds[1], STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  close(log_fd);
  if (pid < 0) {
    close(fds[0]);
    return {};
  }
  return {pid, fds[0]};
}

std::string ReadTail(const std::string& path, size_t max_bytes = 4000) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > max_bytes ? s.substr(s.size() - max_bytes) : s;
}

// Runs PRAGMA integrity_check on the file with SQLite itself (not through
// the backend) and returns its answer ("ok" when sound).
std::string IntegrityCheck(const std::string& db_path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) !=
      SQLITE_OK) {
    std::string err = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return "open failed: " + err;
  }
  sqlite3_busy_timeout(db, 5000);
  std::string result;
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, nullptr) !=
      SQLITE_OK) {
    result = std::string("prepare failed: ") + sqlite3_errmsg(db);
  } else {
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      if (!result.empty()) result += "; ";
      result += reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    if (rc != SQLITE_DONE)
      result += std::string(" step failed: ") + sqlite3_errmsg(db);
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return result;
}

// Parses "key=<key> seq=<n> ..." and returns n, or -1 if the value does not
// belong to `key` (the writer's encoding, tests/crash_writer.cpp).
int64_t ParseSeq(const std::string& key, const std::string& value) {
  std::string head = "key=" + key + " seq=";
  if (value.compare(0, head.size(), head) != 0) return -1;
  char* end = nullptr;
  long long seq = std::strtoll(value.c_str() + head.size(), &end, 10);
  if (end == value.c_str() + head.size() || *end != ' ') return -1;
  return seq;
}

class CrashTest : public ::testing::Test {
 protected:
  // When this round's kill is due: `kill_delay_ms_` after the start of the
  // process, or after it said it had opened the store (then at most
  // kReadyTimeout after the start, should it never say so).
  Clock::time_point KillTime() const {
    if (!kill_from_ready_)
      return round_start_ + std::chrono::milliseconds(kill_delay_ms_);
    if (ready_ms_ < 0) return round_start_ + kReadyTimeout;
    return round_start_ + std::chrono::milliseconds(ready_ms_ + kill_delay_ms_);
  }

  // Reads lines from the child until KillTime() (or, with `until_eof`, until
  // the pipe closes). Returns false if the pipe closed first.
  bool Pump(int fd, bool until_eof) {
    char buf[65536];
    while (true) {
      if (!until_eof) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            KillTime() - Clock::now());
        if (left.count() <= 0) return true;
        pollfd p{fd, POLLIN, 0};
        int r = poll(&p, 1, static_cast<int>(left.count()));
        if (r < 0 && errno == EINTR) continue;
        if (r == 0) continue;  // re-check the (maybe moved) kill time
      }
      ssize_t n = read(fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      pending_.append(buf, static_cast<size_t>(n));
      size_t start = 0, nl;
      while ((nl = pending_.find('\n', start)) != std::string::npos) {
        HandleLine(pending_.substr(start, nl - start));
        start = nl + 1;
      }
      pending_.erase(0, start);
    }
  }

  void HandleLine(const std::string& line) {
    std::istringstream in(line);
    std::string tag;
    in >> tag;
    if (tag == "R") {
      int64_t rev = -1;
      in >> rev;
      ready_ms_ = MsSince(round_start_);
      EXPECT_GE(rev, last_verified_revision_)
          << "the revision went backwards across a restart (round " << round_
          << ")";
      return;
    }
    std::string key;
    int64_t seq = 0, rev = 0;
    if (tag != "A" || !(in >> key >> seq >> rev)) {
      ADD_FAILURE() << "unparsable line from the writer: " << line;
      return;
    }
    Acked& a = acked_[key];
    EXPECT_GT(seq, a.seq) << "writer acknowledged an old sequence for " << key;
    EXPECT_GT(rev, a.revision) << "revision of " << key << " did not increase";
    a.seq = seq;
    a.revision = rev;
    round_keys_.push_back(key);
    if (round_acks_ == 0) first_ack_ms_ = MsSince(round_start_);
    round_acks_++;
    total_acks_++;
    max_acked_revision_ = std::max(max_acked_revision_, rev);
  }

  // Checks the database after a kill. Adds failures; counts losses.
  void Verify(const std::string& db_path) {
    std::string integrity = IntegrityCheck(db_path);
    EXPECT_EQ(integrity, "ok") << "round " << round_;

    auto opened = datastore::Open("sqlite://" + db_path, datastore::Options{});
    ASSERT_TRUE(opened.ok())
        << "reopen after kill: " << opened.status().ToString();
    datastore::Backend& backend = **opened;

    int64_t current = backend.CurrentRevision();
    if (current < max_acked_revision_) {
      lost_++;
      if (losses_are_failures_) {
        ADD_FAILURE() << "current revision " << current
                      << " is below the acknowledged revision "
                      << max_acked_revision_ << " (round " << round_ << ")";
      }
    }
    EXPECT_GE(current, last_verified_revision_)
        << "revision went backwards (round " << round_ << ")";
    last_verified_revision_ = std::max(last_verified_revision_, current);

    auto listed = backend.List("/crash/");
    ASSERT_TRUE(listed.ok()) << listed.status().ToString();
    EXPECT_LE(listed->revision, current);
    std::map<std::string, datastore::KeyValue> live;
    for (auto& kv : listed->kvs) {
      int64_t seq = ParseSeq(kv.key, kv.value);
      EXPECT_GE(seq, 1) << "corrupt value under " << kv.key << ": "
                        << kv.value.substr(0, 80);
      EXPECT_LE(kv.create_revision, kv.mod_revision) << kv.key;
      EXPECT_LE(kv.mod_revision, current) << kv.key;
      live.emplace(kv.key, std::move(kv));
    }

    for (const auto& [key, a] : acked_) {
      auto it = live.find(key);
      if (it == live.end()) {
        lost_++;
        if (losses_are_failures_)
          ADD_FAILURE() << "acknowledged key missing after kill: " << key
                        << " seq=" << a.seq << " rev=" << a.revision
                        << " (round " << round_ << ")";
        continue;
      }
      int64_t seq = ParseSeq(key, it->second.value);
      int64_t rev = it->second.mod_revision;
      if (seq < a.seq || rev < a.revision ||
          (seq == a.seq && rev != a.revision)) {
        lost_++;
        if (losses_are_failures_)
          ADD_FAILURE() << "acknowledged write lost: " << key
                        << " acked seq=" << a.seq << " rev=" << a.revision
                        << ", found seq=" << seq << " rev=" << rev << " (round "
                        << round_ << ")";
      }
      verified_++;
    }

    // Point reads of this round's keys go through Get, a separate code path.
    std::sort(round_keys_.begin(), round_keys_.end());
    round_keys_.erase(std::unique(round_keys_.begin(), round_keys_.end()),
                      round_keys_.end());
    for (const auto& key : round_keys_) {
      auto got = backend.Get(key);
      if (!got.ok()) {
        ADD_FAILURE() << "get " << key << ": " << got.status().ToString();
        continue;
      }
      EXPECT_EQ(*got, live[key]) << "Get and List disagree on " << key;
    }
  }

  // Runs `kills` rounds of start, SIGKILL after a random delay, Verify().
  // Stops early at the first loss or fatal failure. `lie` makes the writer
  // acknowledge some writes it never makes (the test's own self-check).
  void RunRounds(const std::string& dir, uint64_t seed, int kills,
                 int64_t min_ms, int64_t max_ms, int64_t threads, bool lie) {
    const std::string db_path = dir + "/state.db";
    const std::string log_path = dir + "/writer.log";
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int64_t> delay(min_ms, max_ms);
    for (round_ = 1; round_ <= kills; ++round_) {
      round_keys_.clear();
      round_acks_ = 0;
      pending_.clear();
      // Half the kills are timed from the start of the process, so some land
      // while it opens (and recovers) the store; the other half from its
      // "opened" line, so they land among the writes whatever opening costs.
      kill_from_ready_ = rng() % 2 == 0;
      kill_delay_ms_ = delay(rng);
      round_start_ = Clock::now();
      ready_ms_ = first_ack_ms_ = -1;
      std::vector<std::string> args = {
          KITE_CRASH_WRITER_PATH,
          db_path,
          std::to_string(threads),
          std::to_string(seed + static_cast<uint64_t>(round_)),
          "60",
          "256"};
      if (lie) args.push_back("lie");
      Child child = SpawnWriter(args, log_path);
      ASSERT_GT(child.pid, 0) << "cannot start " << KITE_CRASH_WRITER_PATH;

      bool alive = Pump(child.out_fd, /*until_eof=*/false);
      const bool never_ready = ready_ms_ < 0 && kill_from_ready_;
      kill(child.pid, SIGKILL);
      // Everything the child wrote before it died is still in the pipe.
      Pump(child.out_fd, /*until_eof=*/true);
      close(child.out_fd);
      int wstatus = 0;
      while (waitpid(child.pid, &wstatus, 0) < 0 && errno == EINTR) {
      }
      if (!alive || !WIFSIGNALED(wstatus) || WTERMSIG(wstatus) != SIGKILL) {
        FAIL() << "the writer ended by itself before the kill (round " << round_
               << ", wait status " << wstatus << "):\n"
               << ReadTail(log_path);
      }
      kills_done_++;
      if (never_ready)
        ADD_FAILURE() << "the writer did not open the store within 30 s";
      if (kill_from_ready_) ready_rounds_++;
      if (!pending_.empty())
        ADD_FAILURE() << "torn acknowledgement line: " << pending_;
      if (round_acks_ > 0 && kill_from_ready_) ready_rounds_with_acks_++;

      max_open_ms_ = std::max(max_open_ms_, ready_ms_);
      auto v0 = Clock::now();
      Verify(db_path);
      std::printf("round %d: kill %" PRId64 " ms after %s, open took %" PRId64
                  " ms, first ack at %" PRId64 " ms, %" PRId64
                  " acks, verify %" PRId64 " ms, revision %" PRId64 "\n",
                  round_, kill_delay_ms_, kill_from_ready_ ? "open" : "start",
                  ready_ms_, first_ack_ms_, round_acks_, MsSince(v0),
                  last_verified_revision_);
      std::fflush(stdout);
      if (HasFatalFailure() || lost_ > 0) return;
    }
  }

  static int64_t MsSince(Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() -
                                                                 t)
        .count();
  }

  static constexpr std::chrono::seconds kReadyTimeout{30};

  bool losses_are_failures_ = true;
  bool kill_from_ready_ = false;
  int64_t kill_delay_ms_ = 0;
  Clock::time_point round_start_;
  int64_t ready_ms_ = -1;      // when the writer said it had opened the store
  int64_t first_ack_ms_ = -1;  // when the first acknowledgement arrived
  int64_t max_open_ms_ = -1;   // the slowest open of the store seen
  int kills_done_ = 0;
  int ready_rounds_ = 0;            // rounds whose kill was timed from "opened"
  int ready_rounds_with_acks_ = 0;  // ... and that acknowledged some writes
  std::map<std::string, Acked> acked_;
  std::vector<std::string> round_keys_;
  std::string pending_;
  int round_ = 0;
  int64_t round_acks_ = 0;
  int64_t total_acks_ = 0;
  int64_t max_acked_revision_ = 0;
  int64_t last_verified_revision_ = 0;
  int64_t lost_ = 0;
  int64_t verified_ = 0;
};

TEST_F(CrashTest, AcknowledgedWritesSurviveSigkill) {
  const uint64_t seed =
      static_cast<uint64_t>(EnvInt("KITE_CRASH_SEED", 20261122));
  const int kills = static_cast<int>(EnvInt("KITE_CRASH_KILLS", 20));
  const int64_t min_ms = EnvInt("KITE_CRASH_MIN_MS", 50);
  const int64_t max_ms = std::max(min_ms, EnvInt("KITE_CRASH_MAX_MS", 400));
  const int64_t threads = EnvInt("KITE_CRASH_THREADS", 64);
  std::printf("crash_test: seed=%" PRIu64 " kills=%d delay=%" PRId64 "-%" PRId64
              "ms threads=%" PRId64 " (set KITE_CRASH_SEED to replay)\n",
              seed, kills, min_ms, max_ms, threads);
  std::fflush(stdout);
  ASSERT_GE(kills, 1);

  DurabilityTempDir dir("kite-crash");
  ASSERT_FALSE(dir.path().empty()) << "mkdtemp failed";
  auto started = Clock::now();
  RunRounds(dir.path(), seed, kills, min_ms, max_ms, threads, /*lie=*/false);
  double seconds =
      std::chrono::duration<double>(Clock::now() - started).count();
  std::printf(
      "crash-summary: kills=%d acked=%" PRId64 " keys=%zu verified=%" PRId64
      " lost=%" PRId64 " final_revision=%" PRId64
      " kills_after_open=%d max_open_ms=%" PRId64 " seed=%" PRIu64
      " seconds=%.1f\n",
      kills_done_, total_acks_, acked_.size(), verified_, lost_,
      last_verified_revision_, ready_rounds_, max_open_ms_, seed, seconds);
  std::fflush(stdout);
  EXPECT_EQ(lost_, 0);
  EXPECT_EQ(kills_done_, kills);
  // The test must have exercised writes: a kill timed from "opened" comes
  // after at least KITE_CRASH_MIN_MS of writing, which acknowledges some.
  EXPECT_GE(ready_rounds_with_acks_ * 2, ready_rounds_)
      << "too few rounds got any write acknowledged";
  EXPECT_GT(total_acks_, 0);
}

// The checker itself must catch a loss: a writer that acknowledges writes it
// never makes has to be caught after one kill.
TEST_F(CrashTest, CatchesAcknowledgedWritesThatWereNeverMade) {
  DurabilityTempDir dir("kite-crash-lie");
  ASSERT_FALSE(dir.path().empty()) << "mkdtemp failed";
  losses_are_failures_ = false;
  RunRounds(dir.path(), 1, /*kills=*/1, /*min_ms=*/500, /*max_ms=*/500,
            /*threads=*/8,
            /*lie=*/true);
  EXPECT_EQ(kills_done_, 1);
  EXPECT_GT(total_acks_, 0);
  EXPECT_GT(lost_, 0)
      << "the verifier missed acknowledged writes that are not in the store";
}

}  // namespace
}  // namespace kite::tests

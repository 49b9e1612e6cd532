// Tests of what only the SQLite backend has: the file, its lock, durability,
// endpoint parsing, and the admin commands (snapshot, restore, compact).
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <thread>

#include "datastore/open.h"
#include "datastore/sqlite_admin.h"
#include "datastore/sqlite_backend.h"

namespace kite::datastore {
namespace {

class SqliteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kite-sq-XXXXXX";
    dir_ = mkdtemp(tmpl);
    path_ = dir_ + "/db/state.db";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<SqliteBackend> MustOpen(const std::string& path, const Options& o = {}) {
    auto b = SqliteBackend::Open(path, o);
    EXPECT_TRUE(b.ok()) << b.status().ToString();
    return b.ok() ? std::move(*b) : nullptr;
  }

  std::string dir_;
  std::string path_;
};

std::string IntegrityCheck(const std::string& path) {
  sqlite3* db = nullptr;
  std::string result = "open failed";
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, nullptr) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
      result = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    }
    sqlite3_finalize(s);
  }
  sqlite3_close(db);
  return result;
}

TEST_F(SqliteTest, OpenEndpointsAndErrors) {
  auto ok = Open("sqlite://" + path_);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_TRUE((*ok)->Create("/a", "1").ok());

  auto relative = Open("sqlite://relative/state.db");
  EXPECT_EQ(relative.status().code(), Code::kInvalidArgument);
  EXPECT_NE(relative.status().message().find("absolute"), std::string::npos);
  auto etcd = Open("etcd://127.0.0.1:2379");
  EXPECT_EQ(etcd.status().code(), Code::kInvalidArgument);
  EXPECT_NE(etcd.status().message().find("not built yet"), std::string::npos);
  auto bogus = Open("mysql://x");
  EXPECT_EQ(bogus.status().code(), Code::kInvalidArgument);
  EXPECT_NE(bogus.status().message().find("sqlite://"), std::string::npos);
  auto mem = Open("memory://");
  ASSERT_TRUE(mem.ok());
  EXPECT_EQ(*(*mem)->Create("/a", "1"), 1);
}

TEST_F(SqliteTest, SecondOpenIsRefusedWhileTheFirstLives) {
  auto first = MustOpen(path_);
  auto second = SqliteBackend::Open(path_);
  EXPECT_EQ(second.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(second.status().message(), "datastore " + path_ + " is in use by another process");
  first.reset();
  EXPECT_TRUE(SqliteBackend::Open(path_).ok());
}

TEST_F(SqliteTest, CreatesPrivateParentDirectories) {
  const std::string deep = dir_ + "/x/y/state.db";
  auto b = MustOpen(deep);
  struct stat st;
  ASSERT_EQ(stat((dir_ + "/x/y").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(stat((dir_ + "/x").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_F(SqliteTest, RefusesAFileThatIsNotAKiteDatastore) {
  std::filesystem::create_directories(dir_ + "/db");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE other(x)", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto b = SqliteBackend::Open(path_);
  EXPECT_EQ(b.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(b.status().message().find("not a kite datastore"), std::string::npos);
}

TEST_F(SqliteTest, DataSurvivesReopenAndTheFileIsIntact) {
  {
    auto b = MustOpen(path_);
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(b->Create("/k/" + std::to_string(i), "v").ok());
    ASSERT_TRUE(b->Delete("/k/7").ok());
  }
  EXPECT_EQ(IntegrityCheck(path_), "ok");
  auto b = MustOpen(path_);
  EXPECT_EQ(b->CurrentRevision(), 51);
  EXPECT_EQ(b->List("/k/")->kvs.size(), 49u);
  EXPECT_EQ(b->Get("/k/7", 50)->value, "v");
}

// An acknowledged write survives kill -9 of the process, and the file is
// intact afterwards.
TEST_F(SqliteTest, AcknowledgedWritesSurviveKill9) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    auto b = SqliteBackend::Open(path_);
    if (!b.ok()) _exit(2);
    std::vector<std::thread> writers;
    for (int t = 0; t < 8; ++t) {
      writers.emplace_back([&, t] {
        for (int i = 0;; ++i) {
          std::string key = "/c/" + std::to_string(t) + "/" + std::to_string(i);
          auto r = (*b)->Create(key, std::string(200, 'x'));
          if (!r.ok()) _exit(3);
          int64_t rec[2] = {t * 1000000 + i, *r};
          if (write(fds[1], rec, sizeof rec) != sizeof rec) _exit(4);
        }
      });
    }
    for (auto& w : writers) w.join();
    _exit(0);
  }
  close(fds[1]);
  std::map<std::string, int64_t> acked;
  const auto kill_at = std::chrono::steady_clock::now() + std::chrono::milliseconds(400);
  int64_t rec[2];
  while (std::chrono::steady_clock::now() < kill_at && read(fds[0], rec, sizeof rec) == sizeof rec) {
    acked["/c/" + std::to_string(rec[0] / 1000000) + "/" + std::to_string(rec[0] % 1000000)] = rec[1];
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the writer exited by itself: " << status;
  close(fds[0]);
  ASSERT_GT(acked.size(), 10u);
  EXPECT_EQ(IntegrityCheck(path_), "ok");
  auto b = MustOpen(path_);
  for (const auto& [key, rev] : acked) {
    auto kv = b->Get(key);
    ASSERT_TRUE(kv.ok()) << key << " acknowledged at " << rev << " was lost";
    EXPECT_EQ(kv->mod_revision, rev);
  }
  EXPECT_GE(b->CurrentRevision(), static_cast<int64_t>(acked.size()));
}

}  // namespace
}  // namespace kite::datastore

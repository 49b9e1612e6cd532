// The one conformance suite of datastore::Backend, run against every
// implementation: the in-memory fake and the SQLite backend.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "common/clock.h"
#include "datastore/backend.h"
#include "datastore/memory_backend.h"
#include "datastore/sqlite_backend.h"

namespace kite::datastore {
namespace {

using std::chrono::milliseconds;

// Opens backends of one kind that share their data, so a test can "restart".
class Harness {
 public:
  virtual ~Harness() = default;
  virtual std::unique_ptr<Backend> Open(const Options& options) = 0;
  virtual void CheckDeadlines(Backend* b) = 0;
};

class MemoryHarness : public Harness {
 public:
  std::unique_ptr<Backend> Open(const Options& options) override {
    return std::make_unique<MemoryBackend>(state_, options);
  }
  void CheckDeadlines(Backend* b) override {
    static_cast<MemoryBackend*>(b)->CheckDeadlines();
  }

 private:
  std::shared_ptr<MemoryState> state_ = MemoryBackend::NewState();
};

class SqliteHarness : public Harness {
 public:
  SqliteHarness() {
    char tmpl[] = "/tmp/kite-ds-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  ~SqliteHarness() override { std::filesystem::remove_all(dir_); }
  std::unique_ptr<Backend> Open(const Options& options) override {
    auto b = SqliteBackend::Open(dir_ + "/db/state.db", options);
    EXPECT_TRUE(b.ok()) << b.status().ToString();
    if (!b.ok()) return nullptr;
    return std::move(*b);
  }
  void CheckDeadlines(Backend* b) override {
    static_cast<SqliteBackend*>(b)->CheckDeadlines();
  }

 private:
  std::string dir_;
};

class ConformanceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "memory") {
      harness_ = std::make_unique<MemoryHarness>();
    } else {
      harness_ = std::make_unique<SqliteHarness>();
    }
    backend_ = harness_->Open(options_);
    ASSERT_NE(backend_, nullptr);
  }
  void TearDown() override { backend_.reset(); }

  void Reopen(const Options& options) {
    backend_.reset();
    options_ = options;
    backend_ = harness_->Open(options_);
    ASSERT_NE(backend_, nullptr);
  }

  Backend& b() { return *backend_; }

  int64_t MustCreate(const std::string& key, const std::string& value,
                     int64_t ttl = 0) {
    auto r = b().Create(key, value, ttl);
    EXPECT_TRUE(r.ok()) << key << ": " << r.status().ToString();
    return r.ok() ? *r : 0;
  }
  int64_t MustUpdate(const std::string& key, const std::string& value,
                     int64_t expected) {
    auto r = b().Update(key, value, expected);
    EXPECT_TRUE(r.ok()) << key << ": " << r.status().ToString();
    return r.ok() ? *r : 0;
  }

  // Declared before the backend, so it outlives it (the backend's threads
  // read it until they stop).
  FakeClock clock_;
  Options options_;
  std::unique_ptr<Harness> harness_;
  std::unique_ptr<Backend> backend_;
};

// Reads `w` until it has reported progress up to `revision`.
std::vector<Event> CollectUntil(Watcher& w, int64_t revision,
                                milliseconds timeout = milliseconds(10000)) {
  std::vector<Event> events;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int64_t progress = 0;
  while (progress < revision) {
    if (std::chrono::steady_clock::now() > deadline) {
      ADD_FAILURE() << "watch reached only revision " << progress << " of "
                    << revision;
      break;
    }
    auto batch = w.Next(milliseconds(100));
    if (!batch.ok()) {
      ADD_FAILURE() << "watch failed: " << batch.status().ToString();
      break;
    }
    EXPECT_GE(batch->revision, progress);
    progress = batch->revision;
    for (auto& e : batch->events) {
      EXPECT_LE(e.kv.mod_revision, batch->revision);
      events.push_back(std::move(e));
    }
  }
  return events;
}

TEST_P(ConformanceTest, StartsEmptyAtRevisionZero) {
  EXPECT_EQ(b().CurrentRevision(), 0);
  EXPECT_EQ(b().CompactRevision(), 0);
  auto list = b().List("/");
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->kvs.empty());
  EXPECT_EQ(list->revision, 0);
  EXPECT_EQ(b().Get("/a").status().code(), Code::kNotFound);
}

TEST_P(ConformanceTest, CreateConflictsOnExistingKey) {
  int64_t r1 = MustCreate("/a", "1");
  EXPECT_EQ(r1, 1);
  auto again = b().Create("/a", "2");
  EXPECT_EQ(again.status().code(), Code::kAlreadyExists);
  EXPECT_EQ(b().CurrentRevision(), 1) << "a failed write takes no revision";
  auto kv = b().Get("/a");
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(*kv, (KeyValue{"/a", "1", 1, 1, 0}));
  // After a delete the key can be created again, with a new create revision.
  ASSERT_TRUE(b().Delete("/a").ok());
  int64_t r3 = MustCreate("/a", "3");
  EXPECT_EQ(r3, 3);
  kv = b().Get("/a");
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->create_revision, 3);
}

TEST_P(ConformanceTest, UpdateIsCompareAndSwapOnModRevision) {
  EXPECT_EQ(b().Update("/a", "x", 1).status().code(), Code::kNotFound);
  int64_t r1 = MustCreate("/a", "1");
  int64_t r2 = MustUpdate("/a", "2", r1);
  EXPECT_EQ(r2, r1 + 1);
  auto stale = b().Update("/a", "3", r1);
  EXPECT_EQ(stale.status().code(), Code::kConflict);
  auto kv = b().Get("/a");
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(*kv, (KeyValue{"/a", "2", r1, r2, 0}));
  EXPECT_EQ(b().CurrentRevision(), r2);
}

TEST_P(ConformanceTest, DeleteIsCompareAndSwapOnModRevision) {
  EXPECT_EQ(b().Delete("/a").status().code(), Code::kNotFound);
  int64_t r1 = MustCreate("/a", "1");
  int64_t r2 = MustUpdate("/a", "2", r1);
  EXPECT_EQ(b().Delete("/a", r1).status().code(), Code::kConflict);
  auto del = b().Delete("/a", r2);
  ASSERT_TRUE(del.ok()) << del.status().ToString();
  EXPECT_EQ(del->revision, r2 + 1);
  EXPECT_EQ(del->prev_kv, (KeyValue{"/a", "2", r1, r2, 0}));
  EXPECT_EQ(b().Get("/a").status().code(), Code::kNotFound);
  EXPECT_EQ(b().Delete("/a").status().code(), Code::kNotFound);
  // expected 0 deletes whatever the revision is.
  int64_t r4 = MustCreate("/b", "1");
  auto any = b().Delete("/b", 0);
  ASSERT_TRUE(any.ok());
  EXPECT_EQ(any->prev_kv.mod_revision, r4);
}

TEST_P(ConformanceTest, ValidatesArguments) {
  EXPECT_EQ(b().Create("", "v").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(b().Update("", "v", 1).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(b().Delete("").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(b().Get("").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(b().Create("/a", "v", -1).status().code(), Code::kInvalidArgument);
  std::string big(kMaxValueBytes + 1, 'x');
  EXPECT_EQ(b().Create("/big", big).status().code(), Code::kResourceExhausted);
  std::string max(kMaxValueBytes, 'y');
  int64_t r = MustCreate("/max", max);
  EXPECT_EQ(b().Update("/max", big, r).status().code(),
            Code::kResourceExhausted);
  auto kv = b().Get("/max");
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->value, max);
  // Binary keys and values survive.
  std::string key("/bin/\x00\xff\x01", 8), value("\x00\x01\xfe\xff", 4);
  MustCreate(key, value);
  kv = b().Get(key);
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->value, value);
  EXPECT_EQ(b().CurrentRevision(), 2);
  EXPECT_EQ(b().Get("/max", 3).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(b().List("/", {.revision = 3}).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(b().Watch("/", 3).status().code(), Code::kInvalidArgument);
}

TEST_P(ConformanceTest, GetAtPastRevision) {
  int64_t r1 = MustCreate("/a", "v1");
  int64_t r2 = MustUpdate("/a", "v2", r1);
  int64_t r3 = b().Delete("/a")->revision;
  int64_t r4 = MustCreate("/a", "v4");  // a new life of the key
  int64_t r5 = MustCreate("/other", "x");
  auto at = [&](int64_t rev) { return b().Get("/a", rev); };
  EXPECT_EQ(at(r1)->value, "v1");
  EXPECT_EQ(at(r2)->value, "v2");
  EXPECT_EQ(*at(r2), (KeyValue{"/a", "v2", r1, r2, 0}));
  EXPECT_EQ(at(r3).status().code(), Code::kNotFound);
  EXPECT_EQ(*at(r4), (KeyValue{"/a", "v4", r4, r4, 0}));
  EXPECT_EQ(at(r5)->value, "v4");
  EXPECT_EQ(at(0)->value, "v4");
  EXPECT_EQ(b().Get("/other", r4).status().code(), Code::kNotFound);
  EXPECT_EQ(at(r5 + 1).status().code(), Code::kInvalidArgument);
  // The key deleted for good: past reads still find its old lives.
  ASSERT_TRUE(b().Delete("/a").ok());
  EXPECT_EQ(at(r2)->value, "v2");
  EXPECT_EQ(at(r5)->value, "v4");
  EXPECT_EQ(at(0).status().code(), Code::kNotFound);
}

// Random writes checked against a model: Get and List at every past revision
// must give exactly the state the store had then.
TEST_P(ConformanceTest, ReadsAtEveryPastRevisionMatchAModel) {
  std::mt19937 rng(42);
  std::map<std::string, KeyValue> live;
  std::vector<std::map<std::string, KeyValue>> states(1);  // by revision
  for (int i = 0; i < 300; ++i) {
    std::string key = std::string("/m/") + std::to_string(rng() % 12);
    std::string value = std::string("v") + std::to_string(i);
    auto it = live.find(key);
    int64_t rev;
    if (it == live.end()) {
      rev = MustCreate(key, value);
      live[key] = KeyValue{key, value, rev, rev, 0};
    } else if (rng() % 3 == 0) {
      rev = b().Delete(key, it->second.mod_revision)->revision;
      live.erase(it);
    } else {
      rev = MustUpdate(key, value, it->second.mod_revision);
      it->second.value = value;
      it->second.mod_revision = rev;
    }
    ASSERT_EQ(rev, static_cast<int64_t>(states.size()));
    states.push_back(live);
    if (i % 50 == 0)
      MustCreate(std::string("/n/") + std::to_string(i), "noise"),
          states.push_back(live);
  }
  const int64_t current = b().CurrentRevision();
  ASSERT_EQ(current + 1, static_cast<int64_t>(states.size()));
  for (int64_t rev = 1; rev <= current; ++rev) {
    const auto& want = states[rev];
    auto list = b().List("/m/", {.revision = rev});
    ASSERT_TRUE(list.ok()) << list.status().ToString();
    EXPECT_EQ(list->revision, rev);
    std::vector<KeyValue> want_kvs;
    for (const auto& [k, kv] : want) want_kvs.push_back(kv);
    ASSERT_EQ(list->kvs, want_kvs) << "at revision " << rev;
    for (int k = 0; k < 12; ++k) {
      std::string key = std::string("/m/") + std::to_string(k);
      auto got = b().Get(key, rev);
      auto w = want.find(key);
      if (w == want.end()) {
        EXPECT_EQ(got.status().code(), Code::kNotFound) << key << "@" << rev;
      } else {
        ASSERT_TRUE(got.ok())
            << key << "@" << rev << ": " << got.status().ToString();
        EXPECT_EQ(*got, w->second) << key << "@" << rev;
      }
    }
    // Paging through a past revision gives the same keys.
    std::vector<KeyValue> paged;
    ListOptions opts{.revision = rev, .limit = 5};
    while (true) {
      auto page = b().List("/m/", opts);
      ASSERT_TRUE(page.ok());
      paged.insert(paged.end(), page->kvs.begin(), page->kvs.end());
      if (!page->more) break;
      opts.start_after = page->kvs.back().key;
    }
    EXPECT_EQ(paged, want_kvs) << "paged at revision " << rev;
  }
}

TEST_P(ConformanceTest, ListPagesThroughOneRevisionWhileWritesHappen) {
  for (int i = 0; i < 25; ++i) {
    char key[16];
    snprintf(key, sizeof key, "/p/%02d", i);
    MustCreate(key, std::string("v") + std::to_string(i));
  }
  MustCreate("/q/outside", "x");
  MustCreate("/p", "not under /p/");
  auto first = b().List("/p/", {.limit = 10});
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->kvs.size(), 10u);
  EXPECT_TRUE(first->more);
  EXPECT_EQ(first->kvs.front().key, "/p/00");
  const int64_t rev = first->revision;
  EXPECT_EQ(rev, b().CurrentRevision());
  std::vector<KeyValue> all = first->kvs;
  std::string last = first->kvs.back().key;
  int page_no = 0;
  while (true) {
    // Writes between pages change keys on both sides of the cursor.
    auto p00 = b().Get("/p/00");
    MustUpdate("/p/00", "changed", p00->mod_revision);
    ASSERT_TRUE(b().Delete(std::string("/p/2") + std::to_string(page_no)).ok());
    MustCreate(std::string("/p/15a") + std::to_string(page_no), "new");
    auto page =
        b().List("/p/", {.revision = rev, .limit = 10, .start_after = last});
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    EXPECT_EQ(page->revision, rev);
    all.insert(all.end(), page->kvs.begin(), page->kvs.end());
    ++page_no;
    if (!page->more) break;
    last = page->kvs.back().key;
  }
  ASSERT_EQ(all.size(), 25u);
  for (int i = 0; i < 25; ++i) {
    EXPECT_EQ(all[i].value, std::string("v") + std::to_string(i));
    EXPECT_LE(all[i].mod_revision, rev);
  }
  EXPECT_EQ(page_no, 2);
  // The current revision sees the writes.
  auto now = b().List("/p/");
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->kvs.size(), 25u);  // 2 deleted, 2 created
  EXPECT_EQ(now->kvs.front().value, "changed");
  // limit larger than the list: no more.
  auto whole = b().List("/p/", {.limit = 100});
  EXPECT_FALSE(whole->more);
  // start_after past the prefix: nothing.
  auto beyond = b().List("/p/", {.start_after = "/q"});
  EXPECT_TRUE(beyond->kvs.empty());
  EXPECT_FALSE(beyond->more);
  // The empty prefix lists everything.
  auto everything = b().List("");
  EXPECT_EQ(everything->kvs.size(), 27u);
}

TEST_P(ConformanceTest, PrefixesAreIsolated) {
  auto wa = b().Watch("/a/");
  auto wab = b().Watch("/ab");
  ASSERT_TRUE(wa.ok() && wab.ok());
  MustCreate("/a/x", "1");
  MustCreate("/ab/y", "2");
  MustCreate("/a", "3");
  MustCreate("/b/z", "4");
  auto list = b().List("/a/");
  ASSERT_EQ(list->kvs.size(), 1u);
  EXPECT_EQ(list->kvs[0].key, "/a/x");
  auto ea = CollectUntil(**wa, 4);
  ASSERT_EQ(ea.size(), 1u);
  EXPECT_EQ(ea[0].kv.key, "/a/x");
  auto eab = CollectUntil(**wab, 4);
  ASSERT_EQ(eab.size(), 1u);
  EXPECT_EQ(eab[0].kv.key, "/ab/y");
}

TEST_P(ConformanceTest, WatchEventsCarryValuesAndPreviousVersions) {
  MustCreate("/first", "so that r1 - 1 is not 0 (0 means: from now)");
  auto w = b().Watch("/k/");
  ASSERT_TRUE(w.ok());
  int64_t r1 = MustCreate("/k/a", "1", 100);
  int64_t r2 = MustUpdate("/k/a", "2", r1);
  int64_t r3 = b().Delete("/k/a")->revision;
  std::vector<Event> want = {
      {EventType::kPut, {"/k/a", "1", r1, r1, 100}, {}},
      {EventType::kPut, {"/k/a", "2", r1, r2, 0}, {"/k/a", "1", r1, r1, 100}},
      {EventType::kDelete, {"/k/a", "", 0, r3, 0}, {"/k/a", "2", r1, r2, 0}},
  };
  EXPECT_EQ(CollectUntil(**w, r3), want);
  // A replay from the history gives the very same events.
  auto replay = b().Watch("/k/", r1 - 1);
  ASSERT_TRUE(replay.ok());
  EXPECT_EQ(CollectUntil(**replay, r3), want);
  auto tail = b().Watch("/k/", r1);
  EXPECT_EQ(CollectUntil(**tail, r3),
            std::vector<Event>(want.begin() + 1, want.end()));
}

TEST_P(ConformanceTest, WatchFromZeroSeesOnlyLaterEvents) {
  MustCreate("/w/old", "1");
  auto w = b().Watch("/w/", 0);
  ASSERT_TRUE(w.ok());
  int64_t r = MustCreate("/w/new", "2");
  auto events = CollectUntil(**w, r);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kv.key, "/w/new");
}

// The central guarantee: a watch from any revision sees every later event of
// its prefix exactly once, in order, with no gaps, while 16 writers run.
TEST_P(ConformanceTest,
       WatchDeliversEveryEventOnceInOrderUnderConcurrentWriters) {
  MustCreate("/w/seed", "0");
  const int64_t start = b().CurrentRevision();
  auto early = b().Watch("/w/", start);
  ASSERT_TRUE(early.ok());

  constexpr int kWriters = 16;
  constexpr int kOpsPerWriter = 60;
  std::mutex mu;
  std::map<int64_t, Event> acked;  // revision -> the event it must produce
  std::atomic<int> done_ops{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < kWriters; ++t) {
    writers.emplace_back([&, t] {
      std::map<std::string, KeyValue> mine;
      for (int i = 0; i < kOpsPerWriter; ++i) {
        const bool noise = i % 7 == 3;  // writes outside the prefix
        std::string key = (noise ? "/x/" : "/w/") + std::to_string(t) +
                          std::string("/") + std::to_string(i % 4);
        std::string value =
            std::to_string(t) + std::string(":") + std::to_string(i);
        Event ev;
        auto it = mine.find(key);
        int64_t rev = 0;
        if (it == mine.end()) {
          auto r = b().Create(key, value);
          if (!r.ok()) {
            failed = true;
            return;
          }
          rev = *r;
          ev = {EventType::kPut, {key, value, rev, rev, 0}, {}};
          mine[key] = ev.kv;
        } else if (i % 5 == 0) {
          auto r = b().Delete(key, it->second.mod_revision);
          if (!r.ok()) {
            failed = true;
            return;
          }
          rev = r->revision;
          ev = {EventType::kDelete, {key, "", 0, rev, 0}, it->second};
          mine.erase(it);
        } else {
          auto r = b().Update(key, value, it->second.mod_revision);
          if (!r.ok()) {
            failed = true;
            return;
          }
          rev = *r;
          ev = {EventType::kPut,
                {key, value, it->second.create_revision, rev, 0},
                it->second};
          it->second = ev.kv;
        }
        {
          std::lock_guard<std::mutex> l(mu);
          EXPECT_TRUE(acked.emplace(rev, ev).second)
              << "revision " << rev << " acknowledged twice";
        }
        ++done_ops;
      }
    });
  }
  // Watches that start mid-way, from the start (replaying) and from "now".
  while (done_ops < kWriters * kOpsPerWriter / 3) std::this_thread::yield();
  auto late_replay = b().Watch("/w/", start);
  ASSERT_TRUE(late_replay.ok());
  const int64_t mid = b().CurrentRevision();
  auto from_mid = b().Watch("/w/", mid);
  ASSERT_TRUE(from_mid.ok());
  // Consume the early watcher while the writers run.
  std::vector<Event> early_events;
  std::thread consumer([&] {
    early_events = CollectUntil(**early, start + kWriters * kOpsPerWriter,
                                milliseconds(20000));
  });
  for (auto& th : writers) th.join();
  consumer.join();
  ASSERT_FALSE(failed.load());
  const int64_t end = b().CurrentRevision();
  ASSERT_EQ(end, start + kWriters * kOpsPerWriter);
  ASSERT_EQ(acked.size(), static_cast<size_t>(kWriters * kOpsPerWriter));

  auto expect_from = [&](const std::vector<Event>& got, int64_t after,
                         const char* name) {
    std::vector<Event> want;
    for (auto it = acked.upper_bound(after); it != acked.end(); ++it) {
      if (it->second.kv.key.rfind("/w/", 0) == 0) want.push_back(it->second);
    }
    ASSERT_EQ(got.size(), want.size()) << name;
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i], want[i]) << name << " event " << i;
    }
  };
  expect_from(early_events, start, "early");
  expect_from(CollectUntil(**late_replay, end), start, "late replay");
  expect_from(CollectUntil(**from_mid, end), mid, "from mid");
}

TEST_P(ConformanceTest, CompactedRevisionsAnswerCompacted) {
  int64_t r1 = MustCreate("/c/a", "1");
  int64_t r2 = MustUpdate("/c/a", "2", r1);
  int64_t r3 = MustCreate("/c/b", "x");
  int64_t r4 = MustUpdate("/c/a", "4", r2);
  int64_t r5 = b().Delete("/c/b")->revision;
  ASSERT_TRUE(b().Compact(r3).ok());
  EXPECT_EQ(b().CompactRevision(), r3);
  EXPECT_EQ(b().Get("/c/a", r2).status().code(), Code::kCompacted);
  EXPECT_EQ(b().List("/c/", {.revision = r2}).status().code(),
            Code::kCompacted);
  EXPECT_EQ(b().Watch("/c/", r2).status().code(), Code::kCompacted);
  // The compaction revision itself stays readable.
  EXPECT_EQ(b().Get("/c/a", r3)->value, "2");
  auto at3 = b().List("/c/", {.revision = r3});
  ASSERT_TRUE(at3.ok());
  ASSERT_EQ(at3->kvs.size(), 2u);
  EXPECT_EQ(at3->kvs[1].value, "x");
  // A watch from the compaction point replays the rest with previous values.
  auto w = b().Watch("/c/", r3);
  ASSERT_TRUE(w.ok());
  std::vector<Event> want = {
      {EventType::kPut, {"/c/a", "4", r1, r4, 0}, {"/c/a", "2", r1, r2, 0}},
      {EventType::kDelete, {"/c/b", "", 0, r5, 0}, {"/c/b", "x", r3, r3, 0}},
  };
  EXPECT_EQ(CollectUntil(**w, r5), want);
  // Compacting backwards does nothing; into the future is refused.
  EXPECT_TRUE(b().Compact(r2).ok());
  EXPECT_EQ(b().CompactRevision(), r3);
  EXPECT_EQ(b().Compact(r5 + 1).code(), Code::kInvalidArgument);
  // Compact everything: the current state stays.
  ASSERT_TRUE(b().Compact(r5).ok());
  EXPECT_EQ(b().Get("/c/a")->value, "4");
  EXPECT_EQ(b().Get("/c/b", r5).status().code(), Code::kNotFound);
  EXPECT_EQ(b().List("/c/")->kvs.size(), 1u);
  EXPECT_EQ(b().Watch("/c/", r4).status().code(), Code::kCompacted);
}

TEST_P(ConformanceTest, TtlKeysExpireWithADeleteEvent) {
  auto w = b().Watch("/t/");
  ASSERT_TRUE(w.ok());
  int64_t r1 = MustCreate("/t/a", "gone soon", 1);
  int64_t r2 = MustCreate("/t/b", "kept", 1);
  int64_t r3 =
      MustUpdate("/t/b", "kept", r2);  // an update without TTL clears it
  MustCreate("/t/c", "forever");
  std::vector<Event> events;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (events.size() < 5 && std::chrono::steady_clock::now() < deadline) {
    auto batch = (*w)->Next(milliseconds(200));
    ASSERT_TRUE(batch.ok());
    for (auto& e : batch->events) events.push_back(e);
  }
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[4].type, EventType::kDelete);
  EXPECT_EQ(events[4].kv.key, "/t/a");
  EXPECT_EQ(events[4].kv.mod_revision, r3 + 2);
  EXPECT_EQ(events[4].prev_kv, (KeyValue{"/t/a", "gone soon", r1, r1, 1}));
  EXPECT_EQ(b().Get("/t/a").status().code(), Code::kNotFound);
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_TRUE(b().Get("/t/b").ok());
  EXPECT_TRUE(b().Get("/t/c").ok());
  EXPECT_EQ(b().CurrentRevision(), r3 + 2);
}

TEST_P(ConformanceTest, TtlFollowsTheInjectedClock) {
  FakeClock& clock = clock_;
  Options options;
  options.clock = &clock;
  Reopen(options);
  auto w = b().Watch("/t/");
  ASSERT_TRUE(w.ok());
  int64_t r1 = MustCreate("/t/a", "v", 30);
  clock.Advance(std::chrono::seconds(29));
  harness_->CheckDeadlines(backend_.get());
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_TRUE(b().Get("/t/a").ok()) << "expired early";
  clock.Advance(std::chrono::seconds(2));
  harness_->CheckDeadlines(backend_.get());
  auto events = CollectUntil(**w, r1 + 1);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].type, EventType::kDelete);
  EXPECT_EQ(b().Get("/t/a").status().code(), Code::kNotFound);
}

TEST_P(ConformanceTest, RevisionNeverGoesBackwardsAcrossRestart) {
  int64_t r1 = MustCreate("/r/a", "1");
  int64_t r2 = MustUpdate("/r/a", "2", r1);
  MustCreate("/r/b", "x");
  int64_t last = b().Delete("/r/b")->revision;
  Reopen(options_);
  EXPECT_EQ(b().CurrentRevision(), last);
  EXPECT_EQ(b().Get("/r/a")->value, "2");
  EXPECT_EQ(b().Get("/r/a", r1)->value, "1");
  // Delete everything and compact all history away: the revision survives.
  last = b().Delete("/r/a", r2)->revision;
  ASSERT_TRUE(b().Compact(last).ok());
  Reopen(options_);
  EXPECT_EQ(b().CurrentRevision(), last);
  EXPECT_EQ(b().CompactRevision(), last);
  EXPECT_TRUE(b().List("/")->kvs.empty());
  EXPECT_EQ(MustCreate("/r/c", "new"), last + 1);
  // A watch resumes across the restart from the history.
  Reopen(options_);
  auto w = b().Watch("/r/", last);
  ASSERT_TRUE(w.ok());
  auto events = CollectUntil(**w, last + 1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kv.key, "/r/c");
}

TEST_P(ConformanceTest, CancelEndsAWatch) {
  auto w = b().Watch("/z/");
  ASSERT_TRUE(w.ok());
  std::atomic<bool> returned{false};
  Status status;
  std::thread blocked([&] {
    auto batch = (*w)->Next(milliseconds(20000));
    status = batch.status();
    returned = true;
  });
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_FALSE(returned.load());
  (*w)->Cancel();
  blocked.join();
  EXPECT_EQ(status.code(), Code::kCancelled);
  (*w)->Cancel();  // idempotent
  EXPECT_EQ((*w)->Next(milliseconds(0)).status().code(), Code::kCancelled);
  MustCreate("/z/a", "1");  // no one to deliver to
}

TEST_P(ConformanceTest, ClosingTheBackendCancelsWatches) {
  auto w = b().Watch("/z/");
  ASSERT_TRUE(w.ok());
  backend_.reset();
  EXPECT_EQ((*w)->Next(milliseconds(1000)).status().code(), Code::kCancelled);
}

TEST_P(ConformanceTest, SlowWatcherIsDropped) {
  Options options;
  options.watch_max_queued_events = 50;
  Reopen(options);
  auto slow = b().Watch("/s/");
  auto fast = b().Watch("/s/");
  ASSERT_TRUE(slow.ok() && fast.ok());
  std::vector<Event> fast_events;
  int64_t rev = 0;
  for (int i = 0; i < 120; ++i) {
    rev = MustCreate(std::string("/s/") + std::to_string(i), "v");
    auto batch = (*fast)->Next(milliseconds(1000));  // keeps up
    ASSERT_TRUE(batch.ok());
    fast_events.insert(fast_events.end(), batch->events.begin(),
                       batch->events.end());
  }
  auto more = CollectUntil(**fast, rev);
  fast_events.insert(fast_events.end(), more.begin(), more.end());
  EXPECT_EQ(fast_events.size(), 120u);
  auto st = (*slow)->Next(milliseconds(1000));
  EXPECT_EQ(st.status().code(), Code::kResourceExhausted)
      << st.status().ToString();
  EXPECT_EQ((*slow)->Next(milliseconds(0)).status().code(),
            Code::kResourceExhausted);
}

TEST_P(ConformanceTest, IdleWatchersAdvanceToTheCurrentRevision) {
  auto w = b().Watch("/quiet/");
  ASSERT_TRUE(w.ok());
  int64_t rev = 0;
  for (int i = 0; i < 5; ++i)
    rev = MustCreate(std::string("/busy/") + std::to_string(i), "v");
  auto batch = (*w)->Next(milliseconds(50));
  ASSERT_TRUE(batch.ok());
  EXPECT_TRUE(batch->events.empty());
  EXPECT_EQ(batch->revision, rev);
  // Also right after a replay from the past.
  auto past = b().Watch("/quiet/", 1);
  ASSERT_TRUE(past.ok());
  EXPECT_TRUE(CollectUntil(**past, rev).empty());
}

TEST_P(ConformanceTest, CompactsByItselfWhenHistoryExceedsItsSize) {
  Options options;
  options.history_max_bytes = 20 << 10;
  Reopen(options);
  std::string value(1000, 'v');
  int64_t rev = MustCreate("/big/a", value);
  for (int i = 0; i < 100; ++i) rev = MustUpdate("/big/a", value, rev);
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (b().CompactRevision() == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  const int64_t compact = b().CompactRevision();
  EXPECT_GT(compact, 50) << "about 100 KB of history against a 20 KB bound";
  EXPECT_LT(compact, rev);
  EXPECT_TRUE(b().Get("/big/a", compact).ok());
  EXPECT_EQ(b().Get("/big/a", compact - 1).status().code(), Code::kCompacted);
  EXPECT_EQ(b().Get("/big/a")->mod_revision, rev);
}

TEST_P(ConformanceTest, CompactsByItselfWhenHistoryIsOld) {
  FakeClock& clock = clock_;
  Options options;
  options.clock = &clock;
  options.history_max_age = std::chrono::seconds(300);
  Reopen(options);
  int64_t rev = MustCreate("/age/a", "1");
  rev = MustUpdate("/age/a", "2", rev);
  const int64_t old_rev = rev;
  clock.Advance(std::chrono::seconds(200));
  rev = MustUpdate("/age/a", "3", rev);
  harness_->CheckDeadlines(backend_.get());
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(b().CompactRevision(), 0) << "nothing is 5 minutes old yet";
  clock.Advance(
      std::chrono::seconds(101));  // the first writes are now 301 s old
  harness_->CheckDeadlines(backend_.get());
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (b().CompactRevision() < old_rev &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  EXPECT_EQ(b().CompactRevision(), old_rev);
  EXPECT_EQ(b().Get("/age/a", old_rev)->value, "2");
  EXPECT_EQ(b().Get("/age/a")->value, "3");
}

TEST_P(ConformanceTest, ConcurrentCompareAndSwapLosesNoIncrement) {
  MustCreate("/counter", "0");
  constexpr int kThreads = 8, kIncrements = 25;
  std::vector<std::thread> threads;
  std::atomic<int> conflicts{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrements;) {
        auto kv = b().Get("/counter");
        ASSERT_TRUE(kv.ok());
        auto r =
            b().Update("/counter", std::to_string(std::stoi(kv->value) + 1),
                       kv->mod_revision);
        if (r.ok()) {
          ++i;
        } else {
          ASSERT_EQ(r.status().code(), Code::kConflict);
          ++conflicts;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(b().Get("/counter")->value, std::to_string(kThreads * kIncrements));
}

INSTANTIATE_TEST_SUITE_P(
    Backends, ConformanceTest, ::testing::Values("memory", "sqlite"),
    [](const ::testing::TestParamInfo<std::string>& param_info) {
      return param_info.param;
    });

}  // namespace
}  // namespace kite::datastore

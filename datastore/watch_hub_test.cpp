// Unit tests of the pieces under both backends: WatchHub (fan-out, replay to
// live switch, progress, limits) and HistoryTracker (compaction targets).
#include "datastore/watch_hub.h"

#include <gtest/gtest.h>

#include <mutex>
#include <thread>

#include "common/clock.h"
#include "datastore/history.h"
#include "datastore/keys.h"

namespace kite::datastore {
namespace {

using std::chrono::milliseconds;

Event Put(const std::string& key, int64_t rev) {
  Event e;
  e.kv = KeyValue{key, "v", rev, rev, 0};
  return e;
}

// A history the hub replays from, recording the calls.
struct FakeHistory {
  std::mutex mu;
  std::vector<Event> events;
  std::vector<std::pair<int64_t, int64_t>> calls;  // (after, upto)
  int64_t compact = 0;

  ReplayFn Fn() {
    return [this](std::string_view prefix, int64_t after, int64_t upto,
                  size_t limit, std::vector<Event>* out) -> Status {
      std::lock_guard<std::mutex> l(mu);
      calls.emplace_back(after, upto);
      if (after < compact) return CompactedError("compacted");
      for (const Event& e : events) {
        if (out->size() >= limit) break;
        if (e.kv.mod_revision > after && e.kv.mod_revision <= upto &&
            e.kv.key.substr(0, prefix.size()) == prefix) {
          out->push_back(e);
        }
      }
      return Status::Ok();
    };
  }
};

// Commits events 1..n to the history and dispatches them.
void Commit(FakeHistory& h, WatchHub& hub, const std::vector<std::string>& keys,
            int64_t first) {
  std::vector<std::shared_ptr<const Event>> batch;
  int64_t rev = first;
  for (const auto& k : keys) {
    Event e = Put(k, rev++);
    {
      std::lock_guard<std::mutex> l(h.mu);
      h.events.push_back(e);
    }
    batch.push_back(std::make_shared<Event>(e));
  }
  hub.Dispatch(batch, rev - 1);
}

std::vector<int64_t> Revs(const WatchBatch& b) {
  std::vector<int64_t> r;
  for (const auto& e : b.events) r.push_back(e.kv.mod_revision);
  return r;
}

TEST(PrefixEndTest, IncrementsTheLastByte) {
  EXPECT_EQ(PrefixEnd("/a/"), "/a0");
  EXPECT_EQ(PrefixEnd(std::string("a\xff", 2)), "b");
  EXPECT_EQ(PrefixEnd(std::string("\xff\xff", 2)), "");
  EXPECT_EQ(PrefixEnd(""), "");
}

TEST(WatchHubTest, DeliversToEveryMatchingPrefixLength) {
  FakeHistory h;
  auto hub = WatchHub::Create({}, h.Fn(), 0);
  auto all = hub->Register("", 0);
  auto a = hub->Register("/a/", 0);
  auto a2 = hub->Register("/a/", 0);
  auto ab = hub->Register("/a/b/", 0);
  auto other = hub->Register("/zzz/", 0);
  EXPECT_EQ(hub->watcher_count(), 5u);
  Commit(h, *hub, {"/a/x", "/a/b/y", "/ab", "/b"}, 1);
  EXPECT_EQ(Revs(*all->Next(milliseconds(100))),
            (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(Revs(*a->Next(milliseconds(100))), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(Revs(*a2->Next(milliseconds(100))), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(Revs(*ab->Next(milliseconds(100))), (std::vector<int64_t>{2}));
  auto idle = other->Next(milliseconds(10));
  ASSERT_TRUE(idle.ok());
  EXPECT_TRUE(idle->events.empty());
  EXPECT_EQ(idle->revision, 4) << "an idle watcher still advances";
  EXPECT_TRUE(h.calls.empty()) << "live watches never read the history";
}

TEST(WatchHubTest, ReplaysThePastThenSwitchesToLiveWithoutGapOrDuplicate) {
  FakeHistory h;
  auto hub = WatchHub::Create({}, h.Fn(), 0);
  std::vector<std::string> keys;
  for (int i = 0; i < 2500; ++i) keys.push_back("/p/" + std::to_string(i % 10));
  Commit(h, *hub, keys, 1);  // revisions 1..2500
  auto w = hub->Register("/p/", 100);
  Commit(h, *hub, {"/p/live1", "/q/other", "/p/live2"},
         2501);  // queued during replay
  std::vector<int64_t> got;
  int64_t progress = 0;
  while (progress < 2503) {
    auto b = w->Next(milliseconds(100));
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    EXPECT_LE(b->events.size(), 1000u);
    for (auto r : Revs(*b)) got.push_back(r);
    progress = b->revision;
  }
  std::vector<int64_t> want;
  for (int64_t r = 101; r <= 2500; ++r) want.push_back(r);
  want.push_back(2501);
  want.push_back(2503);
  EXPECT_EQ(got, want);
  // Paged: (100, 2500] read in pages of 1000, never past what was dispatched
  // when the watch registered.
  ASSERT_EQ(h.calls.size(), 3u);
  EXPECT_EQ(h.calls[0], std::make_pair(int64_t{100}, int64_t{2500}));
  EXPECT_EQ(h.calls[1], std::make_pair(int64_t{1100}, int64_t{2500}));
  EXPECT_EQ(h.calls[2], std::make_pair(int64_t{2100}, int64_t{2500}));
}

TEST(WatchHubTest, AReplayThatFindsCompactedHistoryFails) {
  FakeHistory h;
  auto hub = WatchHub::Create({}, h.Fn(), 0);
  Commit(h, *hub, {"/a", "/b", "/c"}, 1);
  auto w = hub->Register("/", 1);
  h.compact = 2;
  EXPECT_EQ(w->Next(milliseconds(100)).status().code(), Code::kCompacted);
  EXPECT_EQ(w->Next(milliseconds(0)).status().code(), Code::kCompacted);
  EXPECT_EQ(hub->watcher_count(), 0u);
}

TEST(WatchHubTest, AWatcherAheadOfTheDispatcherSkipsWhatItAlreadyHas) {
  FakeHistory h;
  auto hub = WatchHub::Create({}, h.Fn(), 5);
  // The store committed 6 and 7; a reader saw 7 before they were dispatched.
  auto w = hub->Register("/", 7);
  Commit(h, *hub, {"/six", "/seven", "/eight"}, 6);
  auto b = w->Next(milliseconds(100));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(Revs(*b), (std::vector<int64_t>{8}));
}

TEST(WatchHubTest, DropsAConsumerThatFallsBehind) {
  FakeHistory h;
  auto hub = WatchHub::Create(
      {.max_queued_events = 10, .max_queued_bytes = 1 << 20}, h.Fn(), 0);
  auto slow = hub->Register("/", 0);
  for (int i = 1; i <= 10; ++i) Commit(h, *hub, {"/k"}, i);
  auto ten = slow->Next(milliseconds(0));  // at the limit, not over it
  ASSERT_TRUE(ten.ok());
  EXPECT_EQ(ten->events.size(), 10u);
  for (int i = 11; i <= 21; ++i) Commit(h, *hub, {"/k"}, i);
  EXPECT_EQ(slow->Next(milliseconds(0)).status().code(),
            Code::kResourceExhausted);
  EXPECT_EQ(hub->watcher_count(), 0u);

  FakeHistory h2;
  auto small = WatchHub::Create(
      {.max_queued_events = 1000, .max_queued_bytes = 500}, h2.Fn(), 0);
  auto w = small->Register("/", 0);
  Event big = Put("/big", 1);
  big.kv.value.assign(600, 'x');
  small->Dispatch({std::make_shared<Event>(big)}, 1);
  EXPECT_EQ(w->Next(milliseconds(0)).status().code(), Code::kResourceExhausted);
}

TEST(WatchHubTest, CancelAndCloseEndWatches) {
  FakeHistory h;
  auto hub = WatchHub::Create({}, h.Fn(), 0);
  auto w1 = hub->Register("/", 0);
  auto w2 = hub->Register("/", 0);
  std::thread forever([&] {  // a "wait forever" timeout must not overflow
    EXPECT_EQ(w1->Next(milliseconds::max()).status().code(), Code::kCancelled);
  });
  std::this_thread::sleep_for(milliseconds(20));
  w1->Cancel();
  forever.join();
  EXPECT_EQ(w1->Next(milliseconds(0)).status().code(), Code::kCancelled);
  EXPECT_EQ(hub->watcher_count(), 1u);
  Commit(h, *hub, {"/a"}, 1);
  hub->Close();
  EXPECT_EQ(w2->Next(milliseconds(0)).status().code(), Code::kCancelled);
  auto late = hub->Register("/", 0);
  EXPECT_EQ(late->Next(milliseconds(0)).status().code(), Code::kCancelled);
  EXPECT_TRUE(h.calls.empty());
  w2.reset();  // destroying a watcher after Close is fine
}

TEST(HistoryTrackerTest, AgeBoundCompactsWhatIsOlderAndSleepsWithoutHistory) {
  FakeClock clock;
  Options options;
  options.history_max_age = std::chrono::seconds(300);
  options.history_max_bytes = 0;
  HistoryTracker t(options);
  t.Reset(0, 0, 0, clock.Monotonic());
  EXPECT_FALSE(t.NextDeadline().has_value()) << "no history: no timer";
  t.OnWrite(1, 0, clock.Monotonic());  // a create makes no history
  EXPECT_FALSE(t.NextDeadline().has_value());
  t.OnWrite(2, 100, clock.Monotonic());
  ASSERT_TRUE(t.NextDeadline().has_value());
  EXPECT_EQ(*t.NextDeadline(), clock.Monotonic() + std::chrono::seconds(300));
  clock.Advance(std::chrono::seconds(10));
  t.OnWrite(3, 100, clock.Monotonic());
  clock.Advance(std::chrono::seconds(289));
  EXPECT_EQ(t.Target(clock.Monotonic()), 0);
  clock.Advance(std::chrono::seconds(1));
  EXPECT_EQ(t.Target(clock.Monotonic()), 2);
  t.OnCompacted(2, 100);
  EXPECT_EQ(t.history_bytes(), 100);
  EXPECT_EQ(*t.NextDeadline(), clock.Monotonic() + std::chrono::seconds(10));
  clock.Advance(std::chrono::seconds(10));
  EXPECT_EQ(t.Target(clock.Monotonic()), 3);
  t.OnCompacted(3, 100);
  EXPECT_EQ(t.history_bytes(), 0);
  EXPECT_FALSE(t.NextDeadline().has_value());
}

TEST(HistoryTrackerTest, SizeBoundKeepsThreeQuartersOfIt) {
  FakeClock clock;
  Options options;
  options.history_max_bytes = 16000;
  HistoryTracker t(options);
  t.Reset(0, 0, 0, clock.Monotonic());
  for (int64_t rev = 1; rev <= 16; ++rev)
    t.OnWrite(rev, 1000, clock.Monotonic());
  EXPECT_EQ(t.Target(clock.Monotonic()), 0) << "at the bound, not over it";
  t.OnWrite(17, 1000, clock.Monotonic());
  // 17,000 bytes over 17 writes: keep the newest 12,000 (3/4 of the bound).
  EXPECT_EQ(t.Target(clock.Monotonic()), 5);
  t.OnCompacted(5, 5000);
  EXPECT_EQ(t.history_bytes(), 12000);
  EXPECT_EQ(t.Target(clock.Monotonic()), 5);
}

}  // namespace
}  // namespace kite::datastore

#include "client/work_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace kite::client {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

TEST(WorkQueueTest, FifoAndDedup) {
  FakeClock clock;
  WorkQueue q("test", clock);
  q.Add("a");
  q.Add("b");
  q.Add("a");
  q.Add("c");
  EXPECT_EQ(q.Len(), 3u);
  EXPECT_EQ(q.Get(), "a");
  EXPECT_EQ(q.Get(), "b");
  EXPECT_EQ(q.Get(), "c");
  EXPECT_EQ(q.GetFor(milliseconds(1)), std::nullopt);
  q.Done("a");
  q.Done("b");
  q.Done("c");
  EXPECT_EQ(q.Len(), 0u);
}

TEST(WorkQueueTest, KeyInProcessingIsRequeuedAtDone) {
  FakeClock clock;
  WorkQueue q("test", clock);
  q.Add("a");
  ASSERT_EQ(q.Get(), "a");
  q.Add("a");  // while processing: not handed to another worker
  q.Add("a");
  EXPECT_EQ(q.Len(), 0u);
  EXPECT_EQ(q.GetFor(milliseconds(1)), std::nullopt);
  q.Done("a");
  EXPECT_EQ(q.Len(), 1u);
  EXPECT_EQ(q.Get(), "a");
  q.Done("a");
  EXPECT_EQ(q.Len(), 0u);
}

TEST(WorkQueueTest, AddAfterWaitsForTheClock) {
  FakeClock clock;
  WorkQueue q("test", clock);
  q.AddAfter("late", seconds(10));
  q.AddAfter("soon", seconds(1));
  q.AddAfter("late", seconds(20));  // the earlier time wins
  q.AddAfter("now", nanoseconds(0));
  EXPECT_EQ(q.DelayedLen(), 2u);
  EXPECT_EQ(q.Get(), "now");
  EXPECT_EQ(q.GetFor(milliseconds(5)), std::nullopt);
  clock.Advance(seconds(1));
  EXPECT_EQ(q.GetFor(milliseconds(1000)), "soon");
  clock.Advance(seconds(8));
  EXPECT_EQ(q.GetFor(milliseconds(5)), std::nullopt);
  clock.Advance(seconds(1));
  EXPECT_EQ(q.GetFor(milliseconds(1000)), "late");
  EXPECT_EQ(q.DelayedLen(), 0u);
}

TEST(WorkQueueTest, BlockedGetWakesWhenTheFakeClockMoves) {
  FakeClock clock;
  WorkQueue q("test", clock);
  q.AddAfter("k", seconds(3600));
  std::optional<std::string> got;
  std::thread worker([&] { got = q.Get(); });
  std::this_thread::sleep_for(milliseconds(20));
  clock.Advance(seconds(3600));
  q.Wake();
  worker.join();
  EXPECT_EQ(got, "k");
}

TEST(WorkQueueTest, ShutDownReleasesBlockedGets) {
  WorkQueue q("test");
  std::atomic<int> released{0};
  std::vector<std::thread> workers;
  for (int i = 0; i < 3; ++i) {
    workers.emplace_back([&] {
      if (!q.Get().has_value()) released++;
    });
  }
  std::this_thread::sleep_for(milliseconds(20));
  q.ShutDown();
  for (auto& t : workers) t.join();
  EXPECT_EQ(released.load(), 3);
  EXPECT_TRUE(q.ShuttingDown());
  q.Add("x");  // ignored
  EXPECT_EQ(q.Len(), 0u);
  EXPECT_EQ(q.Get(), std::nullopt);
}

TEST(WorkQueueTest, ManyWorkersNeverShareAKey) {
  WorkQueue q("test");
  std::atomic<int> in_flight{0};
  std::atomic<int> max_in_flight{0};
  std::atomic<int> processed{0};
  std::vector<std::thread> workers;
  for (int i = 0; i < 4; ++i) {
    workers.emplace_back([&] {
      while (auto k = q.Get()) {
        int now = ++in_flight;
        int prev = max_in_flight.load();
        while (now > prev && !max_in_flight.compare_exchange_weak(prev, now)) {
        }
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        --in_flight;
        ++processed;
        q.Done(*k);
      }
    });
  }
  for (int i = 0; i < 200; ++i) q.Add("same");
  while (q.Len() > 0) std::this_thread::sleep_for(milliseconds(1));
  std::this_thread::sleep_for(milliseconds(20));
  q.ShutDown();
  for (auto& t : workers) t.join();
  EXPECT_EQ(max_in_flight.load(), 1);
  EXPECT_GE(processed.load(), 1);
  EXPECT_LE(processed.load(), 200);
}

TEST(RateLimiterTest, ItemExponential) {
  ItemExponentialRateLimiter r(milliseconds(5), seconds(1000));
  EXPECT_EQ(r.When("a"), milliseconds(5));
  EXPECT_EQ(r.When("a"), milliseconds(10));
  EXPECT_EQ(r.When("a"), milliseconds(20));
  EXPECT_EQ(r.When("b"), milliseconds(5));
  EXPECT_EQ(r.NumRequeues("a"), 3);
  for (int i = 0; i < 40; ++i) r.When("a");
  EXPECT_EQ(r.When("a"), seconds(1000));
  r.Forget("a");
  EXPECT_EQ(r.NumRequeues("a"), 0);
  EXPECT_EQ(r.When("a"), milliseconds(5));
}

TEST(RateLimiterTest, BucketRefillsWithTheClock) {
  FakeClock clock;
  BucketRateLimiter r(clock, 10.0, 3);
  EXPECT_EQ(r.When("x"), nanoseconds(0));
  EXPECT_EQ(r.When("x"), nanoseconds(0));
  EXPECT_EQ(r.When("x"), nanoseconds(0));
  EXPECT_EQ(r.When("x"), milliseconds(100));  // the next token
  EXPECT_EQ(r.When("x"), milliseconds(200));
  clock.Advance(seconds(10));  // refills to the burst only
  EXPECT_EQ(r.When("x"), nanoseconds(0));
  EXPECT_EQ(r.When("x"), nanoseconds(0));
  EXPECT_EQ(r.When("x"), nanoseconds(0));
  EXPECT_EQ(r.When("x"), milliseconds(100));
}

TEST(RateLimiterTest, DefaultControllerLimiterIsTheMaxOfBoth) {
  FakeClock clock;
  auto r = DefaultControllerRateLimiter(clock);
  EXPECT_EQ(r->When("a"), milliseconds(5));
  EXPECT_EQ(r->When("a"), milliseconds(10));
  // Drain the 100-token burst (two used above): the bucket then dominates.
  for (int i = 0; i < 98; ++i) r->When("k" + std::to_string(i));
  EXPECT_EQ(r->When("fresh"), milliseconds(100));
  EXPECT_EQ(r->NumRequeues("a"), 2);
  r->Forget("a");
  EXPECT_EQ(r->NumRequeues("a"), 0);
}

TEST(WorkQueueTest, AddRateLimitedBacksOffPerKey) {
  FakeClock clock;
  WorkQueue q("test", clock,
              std::make_unique<ItemExponentialRateLimiter>(milliseconds(5),
                                                           seconds(1000)));
  q.AddRateLimited("a");  // 5 ms
  q.AddRateLimited("a");  // 10 ms, but the earlier time wins
  EXPECT_EQ(q.NumRequeues("a"), 2);
  EXPECT_EQ(q.GetFor(milliseconds(2)), std::nullopt);
  clock.Advance(milliseconds(5));
  ASSERT_EQ(q.GetFor(milliseconds(1000)), "a");
  q.Done("a");
  q.Forget("a");
  EXPECT_EQ(q.NumRequeues("a"), 0);
}

}  // namespace
}  // namespace kite::client

#include "client/informer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "api/object.h"
#include "client/fake_client.h"

namespace kite::client {
namespace {

using std::chrono::milliseconds;

const ResourceRef kCm{"", "v1", "configmaps", ""};

Json Cm(const std::string& ns, const std::string& name,
        const std::string& value = "v") {
  return {{"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"data", {{"k", value}}}};
}

// Records handler calls as "add ns/name", "update ns/name", "delete ns/name".
class Recorder {
 public:
  EventHandlers Handlers() {
    EventHandlers h;
    h.on_add = [this](const Json& o) { Push("add " + KeyOf(o)); };
    h.on_update = [this](const Json& old_obj, const Json& o) {
      Push("update " + KeyOf(o) + " " + api::GetString(old_obj, {"data", "k"}) +
           "->" + api::GetString(o, {"data", "k"}));
    };
    h.on_delete = [this](const Json& o) { Push("delete " + KeyOf(o)); };
    return h;
  }
  // Waits (test-side, up to 5 s) until `n` calls were seen.
  std::vector<std::string> WaitFor(size_t n) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait_for(l, std::chrono::seconds(5),
                 [&] { return calls_.size() >= n; });
    return calls_;
  }
  void Clear() {
    std::lock_guard<std::mutex> l(mu_);
    calls_.clear();
  }

 private:
  void Push(std::string s) {
    std::lock_guard<std::mutex> l(mu_);
    calls_.push_back(std::move(s));
    cv_.notify_all();
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> calls_;
};

InformerOptions Fast(const ResourceRef& ref) {
  InformerOptions o;
  o.ref = ref;
  o.list_page_size = 2;  // paging is exercised
  o.min_backoff = milliseconds(5);
  o.max_backoff = milliseconds(50);
  return o;
}

TEST(InformerTest, ListsThenWatches) {
  FakeClient fake;
  for (const char* n : {"a", "b", "c"}) {
    ASSERT_TRUE(fake.Create(kCm.In("ns1"), Cm("ns1", n), {}).ok());
  }
  ASSERT_TRUE(fake.Create(kCm.In("ns2"), Cm("ns2", "a"), {}).ok());
  Informer inf(fake, Fast(kCm));
  Recorder rec;
  inf.AddEventHandler(rec.Handlers());
  EXPECT_FALSE(inf.HasSynced());
  ASSERT_TRUE(inf.Start().ok());
  EXPECT_EQ(inf.Start().code(), Code::kFailedPrecondition);
  ASSERT_TRUE(inf.WaitForSync(milliseconds(5000)));
  EXPECT_EQ(rec.WaitFor(4),
            (std::vector<std::string>{"add ns1/a", "add ns1/b", "add ns1/c",
                                      "add ns2/a"}));
  EXPECT_EQ(inf.Size(), 4u);
  EXPECT_EQ(inf.ListNamespace("ns1").size(), 3u);
  auto a = inf.Get("ns1", "a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ((*a)["kind"], "ConfigMap");
  EXPECT_EQ(inf.Get("ns1/zzz"), nullptr);
  EXPECT_EQ(inf.LastResourceVersion(), std::to_string(fake.ResourceVersion()));
  // Two pages of two.
  int lists = 0;
  for (const auto& act : fake.Actions()) lists += act.verb == "list";
  EXPECT_EQ(lists, 2);

  rec.Clear();
  Json b = *inf.Get("ns1/b");
  b["data"]["k"] = "w";
  ASSERT_TRUE(fake.Update(kCm, b, {}).ok());
  ASSERT_TRUE(fake.Delete(kCm.In("ns1"), "c", {}).ok());
  ASSERT_TRUE(fake.Create(kCm.In("ns3"), Cm("ns3", "d"), {}).ok());
  EXPECT_EQ(rec.WaitFor(3),
            (std::vector<std::string>{"update ns1/b v->w", "delete ns1/c",
                                      "add ns3/d"}));
  EXPECT_EQ(inf.Size(), 4u);
  EXPECT_EQ(inf.Get("ns1/c"), nullptr);
  EXPECT_EQ(inf.LastResourceVersion(), std::to_string(fake.ResourceVersion()));

  // A handler added later first hears of everything cached.
  Recorder late;
  inf.AddEventHandler(late.Handlers());
  EXPECT_EQ(late.WaitFor(4).size(), 4u);
  inf.Stop();
  inf.Stop();
  EXPECT_EQ(fake.OpenWatches(), 0);
}

TEST(InformerTest, ClosedWatchResumesWithoutRelisting) {
  FakeClient fake;
  ASSERT_TRUE(fake.Create(kCm.In("x"), Cm("x", "a"), {}).ok());
  Informer inf(fake, Fast(kCm));
  Recorder rec;
  inf.AddEventHandler(rec.Handlers());
  ASSERT_TRUE(inf.Start().ok());
  ASSERT_TRUE(inf.WaitForSync(milliseconds(5000)));
  ASSERT_EQ(rec.WaitFor(1).size(), 1u);
  fake.CloseWatches();  // e.g. the server's watch timeout
  ASSERT_TRUE(fake.Create(kCm.In("x"), Cm("x", "b"), {}).ok());
  EXPECT_EQ(rec.WaitFor(2), (std::vector<std::string>{"add x/a", "add x/b"}));
  EXPECT_EQ(inf.ListCount(), 1);
}

TEST(InformerTest, RelistReconcilesWhatTheWatchMissed) {
  FakeClient fake;
  for (const char* n : {"a", "b", "c"}) {
    ASSERT_TRUE(fake.Create(kCm.In("x"), Cm("x", n), {}).ok());
  }
  Informer inf(fake, Fast(kCm));
  Recorder rec;
  inf.AddEventHandler(rec.Handlers());
  ASSERT_TRUE(inf.Start().ok());
  ASSERT_EQ(rec.WaitFor(3).size(), 3u);
  // The handlers see the list before the watch is open: wait for it, else a
  // watch opened while the errors below are injected could slip past them
  // and see the changes live (no re-list).
  for (int i = 0; i < 500 && fake.OpenWatches() != 1; ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  ASSERT_EQ(fake.OpenWatches(), 1);
  // The server goes away: watches end and cannot be reopened while things
  // change.
  fake.InjectError("watch", "configmaps", UnavailableError("server restart"),
                   1000000);
  fake.CloseWatches();
  Json b = *inf.Get("x/b");
  b["data"]["k"] = "changed";
  ASSERT_TRUE(fake.Update(kCm, b, {}).ok());
  ASSERT_TRUE(fake.Delete(kCm.In("x"), "c", {}).ok());
  ASSERT_TRUE(fake.Create(kCm.In("x"), Cm("x", "d"), {}).ok());
  // History up to now is gone, so however the informer gets back it must
  // re-list.
  fake.Compact();
  rec.Clear();
  fake.ClearInjectedErrors();  // it is back
  std::vector<std::string> calls = rec.WaitFor(3);
  std::sort(calls.begin(), calls.end());
  EXPECT_EQ(calls, (std::vector<std::string>{"add x/d", "delete x/c",
                                             "update x/b v->changed"}));
  EXPECT_GE(inf.ListCount(), 2);
  EXPECT_EQ(inf.Size(), 3u);
  EXPECT_EQ((*inf.Get("x/b"))["data"]["k"], "changed");
}

// Waits (test-side) until `pred` holds, up to 5 s.
template <typename Pred>
bool Eventually(Pred pred) {
  for (int i = 0; i < 500; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return pred();
}

TEST(InformerTest, WatchErrorEventAfterCompactionMakesItRelist) {
  FakeClient fake;
  ASSERT_TRUE(fake.Create(kCm.In("x"), Cm("x", "a"), {}).ok());
  Informer inf(fake, Fast(kCm));
  Recorder rec;
  inf.AddEventHandler(rec.Handlers());
  ASSERT_TRUE(inf.Start().ok());
  ASSERT_EQ(rec.WaitFor(1).size(), 1u);
  ASSERT_TRUE(Eventually([&] { return fake.OpenWatches() == 1; }));
  // Writes elsewhere move the store on; the informer's RV falls behind the
  // compaction, so its re-watch is answered with an ERROR 410 event.
  const ResourceRef secrets{"", "v1", "secrets", "x"};
  ASSERT_TRUE(fake.Create(secrets, Cm("x", "s"), {}).ok());
  fake.Compact();
  fake.CloseWatches();
  ASSERT_TRUE(Eventually([&] { return inf.ListCount() == 2; }));
  ASSERT_TRUE(Eventually([&] { return fake.OpenWatches() == 1; }));
  EXPECT_EQ(inf.LastResourceVersion(), std::to_string(fake.ResourceVersion()));
  // Nothing changed for configmaps: no handler calls beyond the first add.
  EXPECT_EQ(rec.WaitFor(1).size(), 1u);
  // And it keeps watching.
  ASSERT_TRUE(fake.Create(kCm.In("x"), Cm("x", "b"), {}).ok());
  EXPECT_EQ(rec.WaitFor(2).back(), "add x/b");
}

TEST(InformerTest, CompactedWatchStartMakesItRelist) {
  FakeClient fake;
  ASSERT_TRUE(fake.Create(kCm.In("x"), Cm("x", "a"), {}).ok());
  Informer inf(fake, Fast(kCm));
  ASSERT_TRUE(inf.Start().ok());
  ASSERT_TRUE(inf.WaitForSync(milliseconds(5000)));
  ASSERT_TRUE(Eventually([&] { return fake.OpenWatches() == 1; }));
  fake.InjectError("watch", "configmaps", CompactedError("too old"), 1);
  fake.CloseWatches();
  ASSERT_TRUE(Eventually([&] { return inf.ListCount() == 2; }));
  ASSERT_TRUE(Eventually([&] { return fake.OpenWatches() == 1; }));
}

TEST(InformerTest, ListFailuresAreRetried) {
  FakeClient fake;
  ASSERT_TRUE(fake.Create(kCm.In("x"), Cm("x", "a"), {}).ok());
  fake.InjectError("list", "", UnavailableError("not yet"), 3);
  Informer inf(fake, Fast(kCm));
  ASSERT_TRUE(inf.Start().ok());
  ASSERT_TRUE(inf.WaitForSync(milliseconds(5000)));
  EXPECT_EQ(inf.Size(), 1u);
}

TEST(InformerTest, SelectorsAndBookmarks) {
  FakeClient fake;
  Json web = Cm("x", "web");
  web["metadata"]["labels"] = {{"app", "web"}};
  ASSERT_TRUE(fake.Create(kCm.In("x"), web, {}).ok());
  ASSERT_TRUE(fake.Create(kCm.In("x"), Cm("x", "other"), {}).ok());
  InformerOptions o = Fast(kCm.In("x"));
  o.label_selector = "app=web";
  Informer inf(fake, o);
  ASSERT_TRUE(inf.Start().ok());
  ASSERT_TRUE(inf.WaitForSync(milliseconds(5000)));
  EXPECT_EQ(inf.ListKeys(), std::vector<std::string>{"x/web"});
  ASSERT_TRUE(fake.Create(kCm.In("y"), Cm("y", "z"), {}).ok());
  // Wait until the watch is open, then a bookmark moves the RV forward.
  for (int i = 0; i < 500 && fake.OpenWatches() == 0; ++i) {
    std::this_thread::sleep_for(milliseconds(2));
  }
  fake.SendBookmarks();
  std::string want = std::to_string(fake.ResourceVersion());
  for (int i = 0; i < 500 && inf.LastResourceVersion() != want; ++i) {
    std::this_thread::sleep_for(milliseconds(2));
  }
  EXPECT_EQ(inf.LastResourceVersion(), want);
}

TEST(InformerTest, ResyncRedeliversUpdates) {
  FakeClient fake;
  ASSERT_TRUE(fake.Create(kCm.In("x"), Cm("x", "a"), {}).ok());
  InformerOptions o = Fast(kCm);
  o.resync_period = milliseconds(20);
  Informer inf(fake, o);
  Recorder rec;
  inf.AddEventHandler(rec.Handlers());
  ASSERT_TRUE(inf.Start().ok());
  auto calls = rec.WaitFor(3);
  ASSERT_GE(calls.size(), 3u);
  EXPECT_EQ(calls[0], "add x/a");
  EXPECT_EQ(calls[1], "update x/a v->v");
}

TEST(SharedInformerFactoryTest, SharesInformers) {
  FakeClient fake;
  ASSERT_TRUE(fake.Create(kCm.In("x"), Cm("x", "a"), {}).ok());
  SharedInformerFactory f(fake);
  Informer& a = f.For(kCm);
  Informer& b = f.For(kCm);
  Informer& c = f.For(kCm, "app=web");
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &c);
  ASSERT_TRUE(f.Start().ok());
  EXPECT_TRUE(f.WaitForSync(milliseconds(5000)));
  EXPECT_EQ(a.Size(), 1u);
  EXPECT_EQ(c.Size(), 0u);
  // Made after Start: started at once.
  Informer& d = f.For(kCm.In("x"));
  EXPECT_TRUE(d.WaitForSync(milliseconds(5000)));
  f.Stop();
  EXPECT_EQ(fake.OpenWatches(), 0);
}

}  // namespace
}  // namespace kite::client

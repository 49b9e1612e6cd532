#include "server/controllers/replicaset_controller.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "api/object.h"
#include "client/fake_client.h"
#include "server/controllers/test_util.h"

namespace kite::controllers {
namespace {

using client::FakeClient;

Json MakeRs(const std::string& name, int replicas, int min_ready = 0) {
  return {{"apiVersion", "apps/v1"},
          {"kind", "ReplicaSet"},
          {"metadata", {{"name", name}, {"namespace", "demo"}}},
          {"spec",
           {{"replicas", replicas},
            {"minReadySeconds", min_ready},
            {"selector", {{"matchLabels", {{"app", name}}}}},
            {"template",
             {{"metadata", {{"labels", {{"app", name}, {"tier", "web"}}}}},
              {"spec",
               {{"containers",
                 Json::array({{{"name", "c"}, {"image", "busybox"}}})}}}}}}}};
}

class ReplicaSetControllerTest : public ::testing::Test {
 protected:
  std::vector<Json> Pods(const std::string& selector = "") {
    auto l = fake_.List(kPodsRef.In("demo"), {.label_selector = selector});
    EXPECT_TRUE(l.ok());
    std::vector<Json> out;
    for (const Json& p : (*l)["items"]) out.push_back(p);
    return out;
  }
  Json Get(const std::string& name) {
    auto r = fake_.Get(kReplicaSetsRef.In("demo"), name, {});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : Json();
  }
  void Scale(const std::string& name, int n) {
    ASSERT_TRUE(fake_
                    .Patch(kReplicaSetsRef.In("demo"), name,
                           client::PatchType::kMerge,
                           Json{{"spec", {{"replicas", n}}}}.dump(), {})
                    .ok());
  }

  // The controller is stopped after the informers that call it.
  ReplicaSetController& Make(int workers) {
    c_ = std::make_unique<ReplicaSetController>(
        fake_, informers_,
        ReplicaSetControllerOptions{.workers = workers, .clock = &clock_});
    return *c_;
  }

  FakeClock clock_;
  FakeClient fake_{clock_};
  std::unique_ptr<ReplicaSetController> c_;
  client::SharedInformerFactory informers_{fake_};
};

TEST_F(ReplicaSetControllerTest, CreatesOwnedPodsAndReportsStatus) {
  ReplicaSetController& c = Make(2);
  ASSERT_TRUE(informers_.Start().ok());
  ASSERT_TRUE(c.Start().ok());
  ASSERT_TRUE(
      fake_.Create(kReplicaSetsRef.In("demo"), MakeRs("web", 3), {}).ok());
  ASSERT_TRUE(Eventually([&] {
    return api::GetInt(Get("web"), {"status", "replicas"}) == 3;
  }));
  Json rs = Get("web");
  std::vector<Json> pods = Pods();
  ASSERT_EQ(pods.size(), 3u);
  for (const Json& p : pods) {
    std::string name = api::Name(p);
    ASSERT_EQ(name.size(), std::string("web-").size() + 5) << name;
    EXPECT_EQ(name.rfind("web-", 0), 0u);
    const Json* ref = ControllerRef(p);
    ASSERT_NE(ref, nullptr);
    EXPECT_EQ((*ref)["kind"], "ReplicaSet");
    EXPECT_EQ((*ref)["uid"], rs["metadata"]["uid"]);
    EXPECT_EQ((*ref)["blockOwnerDeletion"], true);
    EXPECT_EQ(api::GetString(p, {"metadata", "labels", "tier"}), "web");
  }
  EXPECT_EQ(api::GetInt(rs, {"status", "fullyLabeledReplicas"}), 3);
  EXPECT_EQ(api::GetInt(rs, {"status", "readyReplicas"}), 0);
  EXPECT_EQ(api::GetInt(rs, {"status", "observedGeneration"}), 1);
  EXPECT_TRUE(Eventually([&] {
    return CountEvents(fake_, "demo", "web", "SuccessfulCreate") == 3;
  }));

  // A pod deleted behind its back is replaced; scale down removes pods.
  ASSERT_TRUE(fake_.Delete(kPodsRef.In("demo"), api::Name(pods[0]), {}).ok());
  EXPECT_TRUE(Eventually([&] {
    auto now = Pods();
    return now.size() == 3u && api::Name(now[0]) != api::Name(pods[0]);
  }));
  Scale("web", 1);
  EXPECT_TRUE(Eventually([&] {
    return Pods().size() == 1u &&
           api::GetInt(Get("web"), {"status", "replicas"}) == 1 &&
           api::GetInt(Get("web"), {"status", "observedGeneration"}) == 2;
  }));
}

TEST_F(ReplicaSetControllerTest, SlowCacheDoesNotCauseDoubleCreates) {
  // A handler registered first blocks the pod informer after its first
  // event: the cache then lags behind the creates.
  // The gate outlives the test body (the informer may still call the
  // handler while the fixture tears down) and opens when the body ends.
  struct Gate {
    std::mutex mu;
    std::condition_variable cv;
    bool release = false;
    std::atomic<int> seen{0};
    void Open() {
      {
        std::lock_guard<std::mutex> lock(mu);
        release = true;
      }
      cv.notify_all();
    }
  };
  auto gate = std::make_shared<Gate>();
  std::shared_ptr<void> open_at_exit(nullptr, [gate](void*) { gate->Open(); });
  informers_.For(kPodsRef).AddEventHandler({.on_add = [gate](const Json&) {
    if (++gate->seen < 2) return;
    std::unique_lock<std::mutex> lock(gate->mu);
    gate->cv.wait(lock, [&] { return gate->release; });
  }});
  ReplicaSetController& c = Make(1);
  ASSERT_TRUE(
      fake_.Create(kReplicaSetsRef.In("demo"), MakeRs("web", 3), {}).ok());
  ASSERT_TRUE(informers_.Start().ok());
  ASSERT_TRUE(informers_.WaitForSync(std::chrono::seconds(10)));
  ASSERT_TRUE(c.Sync("demo/web").ok());
  ASSERT_EQ(Pods().size(), 3u);
  ASSERT_TRUE(Eventually([&] { return gate->seen >= 2; }));
  // The cache holds at most two of the three pods now. (A sync may fail
  // its status write on a stale ReplicaSet: that is retried, not counted.)
  for (int i = 0; i < 3; ++i) c.Sync("demo/web").IgnoreError();
  EXPECT_EQ(Pods().size(), 3u);
  gate->Open();
  ASSERT_TRUE(Eventually([&] {
    return informers_.For(kPodsRef).ListNamespace("demo").size() == 3u;
  }));
  c.Sync("demo/web").IgnoreError();
  EXPECT_EQ(Pods().size(), 3u);
}

TEST_F(ReplicaSetControllerTest, ScaleDownPrefersUnscheduledAndNotReady) {
  ReplicaSetController& c = Make(1);
  ASSERT_TRUE(informers_.Start().ok());
  ASSERT_TRUE(c.Start().ok());
  ASSERT_TRUE(
      fake_.Create(kReplicaSetsRef.In("demo"), MakeRs("web", 3), {}).ok());
  ASSERT_TRUE(Eventually([&] { return Pods().size() == 3u; }));
  std::vector<Json> pods = Pods();
  // pods[0]: Running and Ready on a node; pods[1]: on a node, not ready;
  // pods[2]: unscheduled.
  SetPodState(fake_, pods[0], "n1", true, clock_.Now());
  SetPodState(fake_, pods[1], "n1", false, clock_.Now());
  ASSERT_TRUE(Eventually([&] {
    return api::GetInt(Get("web"), {"status", "readyReplicas"}) == 1;
  }));
  Scale("web", 2);
  ASSERT_TRUE(Eventually([&] { return Pods().size() == 2u; }));
  std::set<std::string> left;
  for (const Json& p : Pods()) left.insert(api::Name(p));
  EXPECT_TRUE(left.count(api::Name(pods[0])));
  EXPECT_TRUE(left.count(api::Name(pods[1])));
  Scale("web", 1);
  ASSERT_TRUE(Eventually([&] { return Pods().size() == 1u; }));
  EXPECT_EQ(api::Name(Pods()[0]), api::Name(pods[0]));
  EXPECT_TRUE(Eventually([&] {
    return CountEvents(fake_, "demo", "web", "SuccessfulDelete") == 2;
  }));
}

TEST_F(ReplicaSetControllerTest, AdoptsOrphansAndReleasesMismatches) {
  Json orphan = {{"apiVersion", "v1"},
                 {"kind", "Pod"},
                 {"metadata",
                  {{"name", "stray"},
                   {"namespace", "demo"},
                   {"labels", {{"app", "web"}}}}},
                 {"spec", {{"containers", Json::array()}}}};
  ASSERT_TRUE(fake_.Create(kPodsRef.In("demo"), orphan, {}).ok());
  ReplicaSetController& c = Make(1);
  ASSERT_TRUE(informers_.Start().ok());
  ASSERT_TRUE(c.Start().ok());
  ASSERT_TRUE(
      fake_.Create(kReplicaSetsRef.In("demo"), MakeRs("web", 2), {}).ok());
  ASSERT_TRUE(Eventually([&] {
    return api::GetInt(Get("web"), {"status", "replicas"}) == 2 &&
           Pods().size() == 2u;
  }));
  auto stray = fake_.Get(kPodsRef.In("demo"), "stray", {});
  ASSERT_TRUE(stray.ok());
  const Json* ref = ControllerRef(*stray);
  ASSERT_NE(ref, nullptr);
  EXPECT_EQ((*ref)["name"], "web");
  // Relabelled out of the selector: released and replaced.
  ASSERT_TRUE(fake_
                  .Patch(kPodsRef.In("demo"), "stray",
                         client::PatchType::kMerge,
                         R"({"metadata":{"labels":{"app":"other"}}})", {})
                  .ok());
  ASSERT_TRUE(Eventually([&] {
    auto s = fake_.Get(kPodsRef.In("demo"), "stray", {});
    return s.ok() && ControllerRef(*s) == nullptr &&
           Pods("app=web").size() == 2u;
  }));
  EXPECT_EQ(Pods().size(), 3u);
}

TEST_F(ReplicaSetControllerTest, AvailableAfterMinReadySeconds) {
  ReplicaSetController& c = Make(1);
  ASSERT_TRUE(fake_
                  .Create(kReplicaSetsRef.In("demo"),
                          MakeRs("web", 1, /*min_ready=*/10), {})
                  .ok());
  ASSERT_TRUE(informers_.Start().ok());
  ASSERT_TRUE(informers_.WaitForSync(std::chrono::seconds(10)));
  ASSERT_TRUE(c.Sync("demo/web").ok());
  ASSERT_EQ(Pods().size(), 1u);
  SetPodState(fake_, Pods()[0], "n1", true, clock_.Now());
  auto& pods = informers_.For(kPodsRef);
  ASSERT_TRUE(Eventually([&] {
    auto p = pods.ListNamespace("demo");
    return p.size() == 1u && IsPodReady(*p[0]);
  }));
  ASSERT_TRUE(Eventually([&] {
    return c.Sync("demo/web").ok() &&
           api::GetInt(Get("web"), {"status", "readyReplicas"}) == 1;
  }));
  EXPECT_EQ(api::GetInt(Get("web"), {"status", "availableReplicas"}), 0);
  clock_.Advance(std::chrono::seconds(11));
  ASSERT_TRUE(Eventually([&] {
    return c.Sync("demo/web").ok() &&
           api::GetInt(Get("web"), {"status", "availableReplicas"}) == 1;
  }));
}

TEST_F(ReplicaSetControllerTest, ThirtySetsOfAHundredConverge) {
  ReplicaSetController& c = Make(5);
  ASSERT_TRUE(informers_.Start().ok());
  ASSERT_TRUE(c.Start().ok());
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(fake_
                    .Create(kReplicaSetsRef.In("demo"),
                            MakeRs("rs" + std::to_string(i), 100), {})
                    .ok());
  }
  EXPECT_TRUE(Eventually(
      [&] {
        for (int i = 0; i < 30; ++i) {
          if (api::GetInt(Get("rs" + std::to_string(i)),
                          {"status", "replicas"}) != 100) {
            return false;
          }
        }
        return true;
      },
      std::chrono::seconds(120)));
  EXPECT_EQ(Pods().size(), 3000u);
}

TEST(ExpectationsTest, CountsCreatesAndDeletesAndExpires) {
  FakeClock clock;
  Expectations e(clock);
  EXPECT_TRUE(e.Satisfied("a"));
  e.ExpectCreations("a", 2);
  EXPECT_FALSE(e.Satisfied("a"));
  e.CreationObserved("a");
  EXPECT_FALSE(e.Satisfied("a"));
  e.CreationObserved("a");
  EXPECT_TRUE(e.Satisfied("a"));
  e.ExpectDeletion("a", "ns/p");
  e.DeletionObserved("a", "ns/q");
  EXPECT_FALSE(e.Satisfied("a"));
  e.DeletionObserved("a", "ns/p");
  e.DeletionObserved("a", "ns/p");
  EXPECT_TRUE(e.Satisfied("a"));
  e.ExpectCreations("a", 1);
  clock.Advance(std::chrono::seconds(301));
  EXPECT_TRUE(e.Satisfied("a"));
}

}  // namespace
}  // namespace kite::controllers

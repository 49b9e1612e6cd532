#include "server/controllers/statefulset_controller.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "api/object.h"
#include "client/fake_client.h"
#include "server/controllers/test_util.h"

namespace kite::controllers {
namespace {

using client::FakeClient;

Json MakeSts(const std::string& name, int replicas,
             const std::string& policy = "OrderedReady") {
  return {
      {"apiVersion", "apps/v1"},
      {"kind", "StatefulSet"},
      {"metadata", {{"name", name}, {"namespace", "demo"}}},
      {"spec",
       {{"replicas", replicas},
        {"serviceName", name},
        {"podManagementPolicy", policy},
        {"updateStrategy",
         {{"type", "RollingUpdate"}, {"rollingUpdate", {{"partition", 0}}}}},
        {"selector", {{"matchLabels", {{"app", name}}}}},
        {"template",
         {{"metadata", {{"labels", {{"app", name}}}}},
          {"spec",
           {{"containers",
             Json::array({{{"name", "c"}, {"image", "db:1"}}})}}}}},
        {"volumeClaimTemplates",
         Json::array(
             {{{"metadata", {{"name", "data"}}},
               {"spec",
                {{"accessModes", {"ReadWriteOnce"}},
                 {"resources", {{"requests", {{"storage", "1Gi"}}}}}}}}})}}}};
}

class StatefulSetControllerTest : public ::testing::Test {
 protected:
  void TearDown() override {
    kubelet_stop_ = true;
    if (kubelet_.joinable()) kubelet_.join();
  }
  // Runs the controller with a kubelet that makes pods Ready one per pass,
  // recording the order in which pods turned Ready.
  void Run() {
    c_ = std::make_unique<StatefulSetController>(
        fake_, informers_, StatefulSetControllerOptions{.clock = &clock_});
    ASSERT_TRUE(informers_.Start().ok());
    ASSERT_TRUE(c_->Start().ok());
    kubelet_ = std::thread([this] {
      while (!kubelet_stop_) {
        if (!kubelet_paused_) {
          auto l = fake_.List(kPodsRef.In("demo"), {});
          if (l.ok()) {
            for (const Json& p : (*l)["items"]) {
              if (IsPodReady(p) || IsPodTerminating(p)) continue;
              // Record which pods already existed when this one started.
              std::lock_guard<std::mutex> lock(mu_);
              started_.push_back(api::Name(p));
              SetPodState(fake_, p, "n1", true, clock_.Now());
              break;
            }
          }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(3));
      }
    });
  }
  std::vector<std::string> PodNames() {
    auto l = fake_.List(kPodsRef.In("demo"), {});
    std::vector<std::string> out;
    for (const Json& p : (*l)["items"]) out.push_back(api::Name(p));
    std::sort(out.begin(), out.end());
    return out;
  }
  Json GetSts(const std::string& name) {
    auto r = fake_.Get(kStatefulSetsRef.In("demo"), name, {});
    return r.ok() ? *r : Json();
  }
  void Patch(const Json& patch) {
    ASSERT_TRUE(fake_
                    .Patch(kStatefulSetsRef.In("demo"), "db",
                           client::PatchType::kMerge, patch.dump(), {})
                    .ok());
  }
  bool Done(int n) {
    Json s = GetSts("db");
    return api::GetInt(s, {"status", "readyReplicas"}) == n &&
           api::GetInt(s, {"status", "replicas"}) == n &&
           static_cast<int>(PodNames().size()) == n &&
           api::GetString(s, {"status", "currentRevision"}) ==
               api::GetString(s, {"status", "updateRevision"}) &&
           api::GetInt(s, {"status", "observedGeneration"}) ==
               api::GetInt(s, {"metadata", "generation"});
  }

  FakeClock clock_;
  FakeClient fake_{clock_};
  std::unique_ptr<StatefulSetController> c_;
  client::SharedInformerFactory informers_{fake_};
  std::thread kubelet_;
  std::atomic<bool> kubelet_stop_{false};
  std::atomic<bool> kubelet_paused_{false};
  std::mutex mu_;
  std::vector<std::string> started_;
};

TEST_F(StatefulSetControllerTest, OrderedNamesClaimsAndScaleDown) {
  Run();
  kubelet_paused_ = true;
  ASSERT_TRUE(
      fake_.Create(kStatefulSetsRef.In("demo"), MakeSts("db", 3), {}).ok());
  // OrderedReady: db-1 waits until db-0 is Running and Ready.
  ASSERT_TRUE(Eventually([&] { return PodNames().size() == 1u; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(PodNames(), std::vector<std::string>({"db-0"}));
  kubelet_paused_ = false;
  ASSERT_TRUE(Eventually([&] { return Done(3); }));
  EXPECT_EQ(PodNames(), std::vector<std::string>({"db-0", "db-1", "db-2"}));
  {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_EQ(started_, std::vector<std::string>({"db-0", "db-1", "db-2"}));
  }
  auto pod = fake_.Get(kPodsRef.In("demo"), "db-1", {});
  ASSERT_TRUE(pod.ok());
  EXPECT_EQ(api::GetString(*pod, {"spec", "hostname"}), "db-1");
  EXPECT_EQ(api::GetString(*pod, {"spec", "subdomain"}), "db");
  EXPECT_EQ(api::GetString(*pod, {"metadata", "labels",
                                  "statefulset.kubernetes.io/pod-name"}),
            "db-1");
  bool has_claim = false;
  for (const Json& v : (*pod)["spec"]["volumes"]) {
    has_claim |= api::GetString(v, {"persistentVolumeClaim", "claimName"}) ==
                 "data-db-1";
  }
  EXPECT_TRUE(has_claim);
  for (const char* claim : {"data-db-0", "data-db-1", "data-db-2"}) {
    EXPECT_TRUE(fake_.Get(kPvcsRef.In("demo"), claim, {}).ok()) << claim;
  }
  EXPECT_TRUE(Eventually([&] {
    return CountEvents(fake_, "demo", "db", "SuccessfulCreate") == 6;
  })) << "SuccessfulCreate events: "
      << CountEvents(fake_, "demo", "db", "SuccessfulCreate");

  // Scale down removes the highest ordinal first; claims stay.
  Patch({{"spec", {{"replicas", 1}}}});
  ASSERT_TRUE(Eventually([&] { return Done(1); }));
  EXPECT_EQ(PodNames(), std::vector<std::string>({"db-0"}));
  EXPECT_TRUE(fake_.Get(kPvcsRef.In("demo"), "data-db-2", {}).ok());
}

TEST_F(StatefulSetControllerTest, ParallelCreatesAllAtOnce) {
  Run();
  kubelet_paused_ = true;
  ASSERT_TRUE(
      fake_
          .Create(kStatefulSetsRef.In("demo"), MakeSts("db", 3, "Parallel"), {})
          .ok());
  ASSERT_TRUE(Eventually([&] { return PodNames().size() == 3u; }));
  kubelet_paused_ = false;
  ASSERT_TRUE(Eventually([&] { return Done(3); }));
}

TEST_F(StatefulSetControllerTest, RollingUpdateInReverseOrdinalOrder) {
  Run();
  ASSERT_TRUE(
      fake_.Create(kStatefulSetsRef.In("demo"), MakeSts("db", 3), {}).ok());
  ASSERT_TRUE(Eventually([&] { return Done(3); }));
  std::string first_rev =
      api::GetString(GetSts("db"), {"status", "currentRevision"});
  {
    std::lock_guard<std::mutex> lock(mu_);
    started_.clear();
  }
  Patch({{"spec",
          {{"template",
            {{"spec",
              {{"containers",
                Json::array({{{"name", "c"}, {"image", "db:2"}}})}}}}}}}});
  ASSERT_TRUE(Eventually([&] {
    return Done(3) &&
           api::GetString(GetSts("db"), {"status", "currentRevision"}) !=
               first_rev;
  }));
  {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_EQ(started_, std::vector<std::string>({"db-2", "db-1", "db-0"}));
  }
  Json s = GetSts("db");
  EXPECT_EQ(api::GetInt(s, {"status", "updatedReplicas"}), 3);
  // Two ControllerRevisions, numbered 1 and 2.
  auto revs = fake_.List(kControllerRevisionsRef.In("demo"), {});
  ASSERT_TRUE(revs.ok());
  std::set<int64_t> numbers;
  for (const Json& r : (*revs)["items"]) {
    numbers.insert(r["revision"].get<int64_t>());
  }
  EXPECT_EQ(numbers, std::set<int64_t>({1, 2}));
}

}  // namespace
}  // namespace kite::controllers

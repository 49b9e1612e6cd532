#include "server/controllers/deployment_controller.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "api/object.h"
#include "client/fake_client.h"
#include "server/controllers/replicaset_controller.h"
#include "server/controllers/test_util.h"

namespace kite::controllers {
namespace {

using client::FakeClient;

Json MakeDeploy(const std::string& name, int replicas,
                const std::string& image = "busybox:1") {
  return {
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"metadata", {{"name", name}, {"namespace", "demo"}}},
      {"spec",
       {{"replicas", replicas},
        {"revisionHistoryLimit", 10},
        {"progressDeadlineSeconds", 600},
        {"strategy",
         {{"type", "RollingUpdate"},
          {"rollingUpdate", {{"maxSurge", "25%"}, {"maxUnavailable", "25%"}}}}},
        {"selector", {{"matchLabels", {{"app", name}}}}},
        {"template",
         {{"metadata", {{"labels", {{"app", name}}}}},
          {"spec",
           {{"containers",
             Json::array({{{"name", "c"}, {"image", image}}})}}}}}}}};
}

class DeploymentControllerTest : public ::testing::Test {
 protected:
  void TearDown() override {
    kubelet_stop_ = true;
    if (kubelet_.joinable()) kubelet_.join();
  }

  // Runs the ReplicaSet and Deployment controllers; with `kubelet`, every
  // pod is soon bound, Running and Ready.
  void Run(bool kubelet = true) {
    rs_ = std::make_unique<ReplicaSetController>(
        fake_, informers_, ReplicaSetControllerOptions{.clock = &clock_});
    dc_ = std::make_unique<DeploymentController>(
        fake_, informers_, DeploymentControllerOptions{.clock = &clock_});
    ASSERT_TRUE(informers_.Start().ok());
    ASSERT_TRUE(rs_->Start().ok());
    ASSERT_TRUE(dc_->Start().ok());
    if (kubelet) {
      kubelet_ = std::thread([this] {
        while (!kubelet_stop_) {
          if (!kubelet_paused_) {
            auto l = fake_.List(kPodsRef.In("demo"), {});
            if (l.ok()) {
              for (const Json& p : (*l)["items"]) {
                if (!IsPodReady(p) && !IsPodTerminating(p)) {
                  SetPodState(fake_, p, "n1", true, clock_.Now());
                }
              }
            }
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
      });
    }
  }
  Json GetD(const std::string& name) {
    auto r = fake_.Get(kDeploymentsRef.In("demo"), name, {});
    return r.ok() ? *r : Json();
  }
  std::vector<Json> Sets() {
    auto l = fake_.List(kReplicaSetsRef.In("demo"), {});
    std::vector<Json> out;
    if (l.ok()) {
      for (const Json& x : (*l)["items"]) out.push_back(x);
    }
    return out;
  }
  int CountPods() {
    auto l = fake_.List(kPodsRef.In("demo"), {});
    return l.ok() ? static_cast<int>((*l)["items"].size()) : -1;
  }
  // The rollout is done: what `kubectl rollout status` waits for.
  bool RolledOut(const std::string& name) {
    Json d = GetD(name);
    int64_t want = api::GetInt(d, {"spec", "replicas"});
    return api::GetInt(d, {"status", "observedGeneration"}) >=
               api::GetInt(d, {"metadata", "generation"}) &&
           api::GetInt(d, {"status", "updatedReplicas"}) == want &&
           api::GetInt(d, {"status", "replicas"}) == want &&
           api::GetInt(d, {"status", "availableReplicas"}) == want &&
           CountPods() == want;
  }
  void Patch(const std::string& name, const Json& patch) {
    ASSERT_TRUE(fake_
                    .Patch(kDeploymentsRef.In("demo"), name,
                           client::PatchType::kMerge, patch.dump(), {})
                    .ok());
  }
  static Json Image(const std::string& image) {
    return {{"spec",
             {{"template",
               {{"spec",
                 {{"containers",
                   Json::array({{{"name", "c"}, {"image", image}}})}}}}}}}};
  }

  FakeClock clock_;
  FakeClient fake_{clock_};
  std::unique_ptr<ReplicaSetController> rs_;
  std::unique_ptr<DeploymentController> dc_;
  client::SharedInformerFactory informers_{fake_};
  std::thread kubelet_;
  std::atomic<bool> kubelet_stop_{false};
  std::atomic<bool> kubelet_paused_{false};
};

TEST_F(DeploymentControllerTest, CreatesHashedReplicaSetAndRollsOut) {
  Run();
  Json d = MakeDeploy("web", 3);
  d["metadata"]["annotations"] = {{"kubernetes.io/change-cause", "first"}};
  ASSERT_TRUE(fake_.Create(kDeploymentsRef.In("demo"), d, {}).ok());
  ASSERT_TRUE(Eventually([&] { return RolledOut("web"); }));
  std::vector<Json> sets = Sets();
  ASSERT_EQ(sets.size(), 1u);
  const Json& rs = sets[0];
  std::string hash = api::GetString(
      rs, {"spec", "selector", "matchLabels", "pod-template-hash"});
  ASSERT_FALSE(hash.empty());
  EXPECT_EQ(api::Name(rs), "web-" + hash);
  EXPECT_EQ(api::GetString(rs, {"spec", "template", "metadata", "labels",
                                "pod-template-hash"}),
            hash);
  EXPECT_EQ(api::GetString(rs, {"metadata", "annotations",
                                "deployment.kubernetes.io/revision"}),
            "1");
  EXPECT_EQ(api::GetString(
                rs, {"metadata", "annotations", "kubernetes.io/change-cause"}),
            "first");
  const Json* ref = ControllerRef(rs);
  ASSERT_NE(ref, nullptr);
  EXPECT_EQ((*ref)["kind"], "Deployment");
  ASSERT_TRUE(Eventually([&] {
    Json now = GetD("web");
    const Json* p = FindCondition(now, "Progressing");
    const Json* a = FindCondition(now, "Available");
    return p && a && (*p)["reason"] == "NewReplicaSetAvailable" &&
           (*a)["status"] == "True" &&
           api::GetString(now, {"metadata", "annotations",
                                "deployment.kubernetes.io/revision"}) == "1";
  }));
  EXPECT_EQ(api::GetInt(GetD("web"), {"status", "unavailableReplicas"}), 0);
  EXPECT_GE(CountEvents(fake_, "demo", "web", "ScalingReplicaSet"), 1);

  // Scaling goes to the one ReplicaSet.
  Patch("web", {{"spec", {{"replicas", 5}}}});
  ASSERT_TRUE(Eventually([&] { return RolledOut("web"); }));
  EXPECT_EQ(Sets().size(), 1u);
}

TEST_F(DeploymentControllerTest, RollingUpdateStaysWithinSurgeAndUnavailable) {
  Run();
  Json d = MakeDeploy("web", 4);
  d["spec"]["strategy"]["rollingUpdate"] = {{"maxSurge", 1},
                                            {"maxUnavailable", 0}};
  ASSERT_TRUE(fake_.Create(kDeploymentsRef.In("demo"), d, {}).ok());
  ASSERT_TRUE(Eventually([&] { return RolledOut("web"); }));
  Patch("web", Image("busybox:2"));
  // Sample the ReplicaSets while the rollout runs: never more than 5 pods
  // wanted, never fewer than 4 of them available.
  int64_t max_total = 0, min_available = 100;
  ASSERT_TRUE(Eventually([&] {
    int64_t total = 0, available = 0;
    for (const Json& rs : Sets()) {
      total += api::GetInt(rs, {"spec", "replicas"});
      available += api::GetInt(rs, {"status", "availableReplicas"});
    }
    max_total = std::max(max_total, total);
    min_available = std::min(min_available, available);
    return RolledOut("web") && Sets().size() == 2u &&
           api::GetString(GetD("web"), {"metadata", "annotations",
                                        "deployment.kubernetes.io/revision"}) ==
               "2";
  }));
  EXPECT_LE(max_total, 5);
  EXPECT_GE(min_available, 4);
  for (const Json& rs : Sets()) {
    bool is_new =
        api::GetString(rs, {"metadata", "annotations",
                            "deployment.kubernetes.io/revision"}) == "2";
    EXPECT_EQ(api::GetInt(rs, {"spec", "replicas"}), is_new ? 4 : 0);
  }
  // Undo as kubectl 1.32 does it: the old template comes back; its
  // ReplicaSet is reused with the next revision.
  Patch("web", Image("busybox:1"));
  ASSERT_TRUE(Eventually([&] {
    if (!RolledOut("web") || Sets().size() != 2u) return false;
    for (const Json& rs : Sets()) {
      if (api::GetInt(rs, {"spec", "replicas"}) == 4 &&
          api::GetString(rs, {"metadata", "annotations",
                              "deployment.kubernetes.io/revision"}) == "3" &&
          api::GetString(rs, {"metadata", "annotations",
                              "deployment.kubernetes.io/revision-history"}) ==
              "1") {
        return true;
      }
    }
    return false;
  }));
}

TEST_F(DeploymentControllerTest, RecreateStopsOldPodsFirst) {
  Run();
  Json d = MakeDeploy("web", 2);
  d["spec"]["strategy"] = {{"type", "Recreate"}};
  ASSERT_TRUE(fake_.Create(kDeploymentsRef.In("demo"), d, {}).ok());
  ASSERT_TRUE(Eventually([&] { return RolledOut("web"); }));
  std::string old_name = api::Name(Sets()[0]);
  Patch("web", Image("busybox:2"));
  // When the new ReplicaSet appears, the old one is at 0 and its pods gone.
  bool ok_order = true;
  ASSERT_TRUE(Eventually([&] {
    std::vector<Json> sets = Sets();
    if (sets.size() == 2u) {
      auto l = fake_.List(kPodsRef.In("demo"), {});
      for (const Json& p : (*l)["items"]) {
        const Json* ref = ControllerRef(p);
        if (ref && (*ref)["name"] == old_name) ok_order = false;
      }
      for (const Json& rs : sets) {
        if (api::Name(rs) == old_name &&
            api::GetInt(rs, {"spec", "replicas"}) != 0) {
          ok_order = false;
        }
      }
    }
    return sets.size() == 2u && RolledOut("web");
  }));
  EXPECT_TRUE(ok_order);
}

TEST_F(DeploymentControllerTest, RevisionHistoryLimitDeletesOldSets) {
  Run();
  Json d = MakeDeploy("web", 1);
  d["spec"]["revisionHistoryLimit"] = 1;
  ASSERT_TRUE(fake_.Create(kDeploymentsRef.In("demo"), d, {}).ok());
  for (int i = 2; i <= 4; ++i) {
    ASSERT_TRUE(Eventually([&] { return RolledOut("web"); }));
    Patch("web", Image("busybox:" + std::to_string(i)));
  }
  ASSERT_TRUE(Eventually([&] {
    return RolledOut("web") && Sets().size() == 2u &&
           api::GetString(GetD("web"), {"metadata", "annotations",
                                        "deployment.kubernetes.io/revision"}) ==
               "4";
  }));
}

TEST_F(DeploymentControllerTest, PausedDeploymentScalesButDoesNotRoll) {
  Run();
  ASSERT_TRUE(
      fake_.Create(kDeploymentsRef.In("demo"), MakeDeploy("web", 2), {}).ok());
  ASSERT_TRUE(Eventually([&] { return RolledOut("web"); }));
  Patch("web", {{"spec", {{"paused", true}}}});
  Patch("web", Image("busybox:2"));
  Patch("web", {{"spec", {{"replicas", 3}}}});
  ASSERT_TRUE(Eventually([&] {
    Json now = GetD("web");
    const Json* p = FindCondition(now, "Progressing");
    // No new ReplicaSet while paused (so none updated), but the old one
    // follows the scale.
    return p && (*p)["reason"] == "DeploymentPaused" && Sets().size() == 1u &&
           api::GetInt(Sets()[0], {"spec", "replicas"}) == 3 &&
           CountPods() == 3 &&
           api::GetInt(now, {"status", "updatedReplicas"}) == 0;
  }));
  EXPECT_EQ(Sets().size(), 1u);
  Patch("web", {{"spec", {{"paused", false}}}});
  ASSERT_TRUE(Eventually([&] {
    Json now = GetD("web");
    const Json* p = FindCondition(now, "Progressing");
    return RolledOut("web") && Sets().size() == 2u && p &&
           (*p)["reason"] == "NewReplicaSetAvailable";
  }));
}

TEST_F(DeploymentControllerTest, ProgressDeadlineExceeded) {
  Run(/*kubelet=*/false);
  Json d = MakeDeploy("web", 2);
  d["spec"]["progressDeadlineSeconds"] = 30;
  ASSERT_TRUE(fake_.Create(kDeploymentsRef.In("demo"), d, {}).ok());
  ASSERT_TRUE(Eventually([&] {
    Json now = GetD("web");
    const Json* p = FindCondition(now, "Progressing");
    // Status must have settled (the ReplicaSet reports both pods): a later
    // change would count as progress and restart the deadline.
    return CountPods() == 2 && p && (*p)["status"] == "True" &&
           api::GetInt(now, {"status", "replicas"}) == 2 &&
           api::GetInt(now, {"status", "updatedReplicas"}) == 2;
  }));
  clock_.Advance(std::chrono::seconds(31));
  ASSERT_TRUE(Eventually([&] {
    dc_->Sync("demo/web").IgnoreError();
    Json now = GetD("web");
    const Json* p = FindCondition(now, "Progressing");
    return p && (*p)["reason"] == "ProgressDeadlineExceeded" &&
           (*p)["status"] == "False";
  }));
  Json now = GetD("web");
  const Json* a = FindCondition(now, "Available");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ((*a)["status"], "False");
  EXPECT_EQ(api::GetInt(GetD("web"), {"status", "unavailableReplicas"}), 2);
}

}  // namespace
}  // namespace kite::controllers

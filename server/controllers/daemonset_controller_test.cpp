#include "server/controllers/daemonset_controller.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "api/object.h"
#include "client/fake_client.h"
#include "server/controllers/test_util.h"

namespace kite::controllers {
namespace {

using client::FakeClient;

Json Node(const std::string& name, Json labels = Json::object(),
          Json taints = Json::array()) {
  return {{"apiVersion", "v1"},
          {"kind", "Node"},
          {"metadata", {{"name", name}, {"labels", labels}}},
          {"spec", {{"taints", taints}}}};
}

Json MakeDs(const std::string& name, Json pod_spec_extra = Json::object()) {
  Json spec = {
      {"containers", Json::array({{{"name", "c"}, {"image", "agent:1"}}})}};
  spec.update(pod_spec_extra);
  return {{"apiVersion", "apps/v1"},
          {"kind", "DaemonSet"},
          {"metadata", {{"name", name}, {"namespace", "demo"}}},
          {"spec",
           {{"selector", {{"matchLabels", {{"app", name}}}}},
            {"updateStrategy",
             {{"type", "RollingUpdate"},
              {"rollingUpdate", {{"maxUnavailable", 1}}}}},
            {"template",
             {{"metadata", {{"labels", {{"app", name}}}}}, {"spec", spec}}}}}};
}

TEST(DaemonPodFitsNodeTest, SelectorAffinityAndTaints) {
  Json spec = {{"nodeSelector", {{"disk", "ssd"}}}};
  EXPECT_TRUE(DaemonPodFitsNode(spec, Node("a", {{"disk", "ssd"}})));
  EXPECT_FALSE(DaemonPodFitsNode(spec, Node("a", {{"disk", "hdd"}})));
  Json aff = {
      {"affinity",
       {{"nodeAffinity",
         {{"requiredDuringSchedulingIgnoredDuringExecution",
           {{"nodeSelectorTerms",
             Json::array({{{"matchFields",
                            Json::array({{{"key", "metadata.name"},
                                          {"operator", "In"},
                                          {"values", {"b"}}}})}}})}}}}}}}};
  EXPECT_FALSE(DaemonPodFitsNode(aff, Node("a")));
  EXPECT_TRUE(DaemonPodFitsNode(aff, Node("b")));
  Json no_schedule = Json::array(
      {{{"key", "dedicated"}, {"value", "db"}, {"effect", "NoSchedule"}}});
  EXPECT_FALSE(DaemonPodFitsNode(Json::object(), Node("a", {}, no_schedule)));
  Json tolerating = {{"tolerations", Json::array({{{"key", "dedicated"},
                                                   {"operator", "Equal"},
                                                   {"value", "db"}}})}};
  EXPECT_TRUE(DaemonPodFitsNode(tolerating, Node("a", {}, no_schedule)));
  // The DaemonSet defaults tolerate a not-ready node and an unschedulable one.
  Json not_ready = Json::array(
      {{{"key", "node.kubernetes.io/not-ready"}, {"effect", "NoExecute"}},
       {{"key", "node.kubernetes.io/unschedulable"},
        {"effect", "NoSchedule"}}});
  EXPECT_TRUE(DaemonPodFitsNode(Json::object(), Node("a", {}, not_ready)));
  // A NoSchedule taint keeps new daemons away but not a running one;
  // NoExecute does both.
  EXPECT_TRUE(
      DaemonPodFitsNode(Json::object(), Node("a", {}, no_schedule), true));
  Json no_execute = Json::array(
      {{{"key", "dedicated"}, {"value", "db"}, {"effect", "NoExecute"}}});
  EXPECT_FALSE(
      DaemonPodFitsNode(Json::object(), Node("a", {}, no_execute), true));
  // PreferNoSchedule does not keep a daemon away.
  Json soft = Json::array({{{"key", "x"}, {"effect", "PreferNoSchedule"}}});
  EXPECT_TRUE(DaemonPodFitsNode(Json::object(), Node("a", {}, soft)));
}

class DaemonSetControllerTest : public ::testing::Test {
 protected:
  void TearDown() override {
    kubelet_stop_ = true;
    if (kubelet_.joinable()) kubelet_.join();
  }
  void Run() {
    dc_ = std::make_unique<DaemonSetController>(
        fake_, informers_, DaemonSetControllerOptions{.clock = &clock_});
    ASSERT_TRUE(informers_.Start().ok());
    ASSERT_TRUE(dc_->Start().ok());
    // Every pod soon Running and Ready on the node it was bound to.
    kubelet_ = std::thread([this] {
      while (!kubelet_stop_) {
        auto l = fake_.List(kPodsRef.In("demo"), {});
        if (l.ok()) {
          for (const Json& p : (*l)["items"]) {
            if (!IsPodReady(p) && !IsPodTerminating(p)) {
              SetPodState(fake_, p, api::GetString(p, {"spec", "nodeName"}),
                          true, clock_.Now());
            }
          }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    });
  }
  void AddNode(const Json& n) {
    ASSERT_TRUE(fake_.Create(kNodesRef, n, {}).ok());
  }
  // node -> pod names
  std::map<std::string, std::vector<std::string>> Placement() {
    std::map<std::string, std::vector<std::string>> out;
    auto l = fake_.List(kPodsRef.In("demo"), {});
    for (const Json& p : (*l)["items"]) {
      out[api::GetString(p, {"spec", "nodeName"})].push_back(api::Name(p));
    }
    return out;
  }
  Json GetDs(const std::string& name) {
    auto r = fake_.Get(kDaemonSetsRef.In("demo"), name, {});
    return r.ok() ? *r : Json();
  }

  FakeClock clock_;
  FakeClient fake_{clock_};
  std::unique_ptr<DaemonSetController> dc_;
  client::SharedInformerFactory informers_{fake_};
  std::thread kubelet_;
  std::atomic<bool> kubelet_stop_{false};
};

TEST_F(DaemonSetControllerTest, OnePodPerEligibleNodeIncludingLateJoiners) {
  AddNode(Node("n1"));
  AddNode(
      Node("n2", Json::object(),
           Json::array({{{"key", "dedicated"}, {"effect", "NoSchedule"}}})));
  AddNode(Node("n3", Json::object(),
               Json::array({{{"key", "node.kubernetes.io/not-ready"},
                             {"effect", "NoExecute"}}})));
  Run();
  ASSERT_TRUE(
      fake_.Create(kDaemonSetsRef.In("demo"), MakeDs("agent"), {}).ok());
  ASSERT_TRUE(Eventually([&] {
    auto p = Placement();
    return p.size() == 2u && p["n1"].size() == 1u && p["n3"].size() == 1u &&
           api::GetInt(GetDs("agent"), {"status", "numberAvailable"}) == 2;
  }));
  Json ds = GetDs("agent");
  EXPECT_EQ(api::GetInt(ds, {"status", "desiredNumberScheduled"}), 2);
  EXPECT_EQ(api::GetInt(ds, {"status", "currentNumberScheduled"}), 2);
  EXPECT_EQ(api::GetInt(ds, {"status", "updatedNumberScheduled"}), 2);
  EXPECT_EQ(api::GetInt(ds, {"status", "numberMisscheduled"}), 0);
  std::string pod = Placement()["n1"][0];
  EXPECT_EQ(pod.rfind("agent-", 0), 0u);
  EXPECT_EQ(pod.size(), std::string("agent-").size() + 5);
  auto got = fake_.Get(kPodsRef.In("demo"), pod, {});
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(
      api::GetString(*got, {"metadata", "labels", "controller-revision-hash"})
          .empty());
  EXPECT_EQ(ControllerRef(*got)->at("kind"), "DaemonSet");

  // A node that joins later gets its pod.
  AddNode(Node("n4"));
  ASSERT_TRUE(Eventually([&] {
    return Placement()["n4"].size() == 1u &&
           api::GetInt(GetDs("agent"), {"status", "desiredNumberScheduled"}) ==
               3;
  }));
  // A node that goes away takes its pod along.
  ASSERT_TRUE(fake_.Delete(kNodesRef, "n1", {}).ok());
  ASSERT_TRUE(Eventually([&] {
    auto p = Placement();
    return p.count("n1") == 0u && p.size() == 2u;
  }));
}

TEST_F(DaemonSetControllerTest, NodeSelectorFollowsLabelChanges) {
  AddNode(Node("n1", {{"disk", "ssd"}}));
  AddNode(Node("n2", {{"disk", "hdd"}}));
  Run();
  ASSERT_TRUE(
      fake_
          .Create(kDaemonSetsRef.In("demo"),
                  MakeDs("agent", {{"nodeSelector", {{"disk", "ssd"}}}}), {})
          .ok());
  ASSERT_TRUE(Eventually([&] {
    auto p = Placement();
    return p.size() == 1u && p.count("n1");
  }));
  ASSERT_TRUE(fake_
                  .Patch(kNodesRef, "n2", client::PatchType::kMerge,
                         R"({"metadata":{"labels":{"disk":"ssd"}}})", {})
                  .ok());
  ASSERT_TRUE(Eventually([&] { return Placement().size() == 2u; }));
  ASSERT_TRUE(fake_
                  .Patch(kNodesRef, "n1", client::PatchType::kMerge,
                         R"({"metadata":{"labels":{"disk":"hdd"}}})", {})
                  .ok());
  ASSERT_TRUE(Eventually([&] {
    auto p = Placement();
    return p.size() == 1u && p.count("n2");
  }));
}

TEST_F(DaemonSetControllerTest, RollingUpdateReplacesEveryPod) {
  for (int i = 0; i < 4; ++i) AddNode(Node("n" + std::to_string(i)));
  Run();
  ASSERT_TRUE(
      fake_.Create(kDaemonSetsRef.In("demo"), MakeDs("agent"), {}).ok());
  ASSERT_TRUE(Eventually([&] {
    return api::GetInt(GetDs("agent"), {"status", "numberAvailable"}) == 4;
  }));
  std::set<std::string> before;
  for (auto& [n, pods] : Placement()) before.insert(pods[0]);
  ASSERT_TRUE(fake_
                  .Patch(kDaemonSetsRef.In("demo"), "agent",
                         client::PatchType::kMerge,
                         R"({"spec":{"template":{"spec":{"containers":)"
                         R"([{"name":"c","image":"agent:2"}]}}}})",
                         {})
                  .ok());
  // With maxUnavailable 1, at most one node is without a pod at any time.
  size_t min_nodes = 4;
  ASSERT_TRUE(Eventually([&] {
    auto p = Placement();
    min_nodes = std::min(min_nodes, p.size());
    Json ds = GetDs("agent");
    if (api::GetInt(ds, {"status", "updatedNumberScheduled"}) != 4 ||
        api::GetInt(ds, {"status", "numberAvailable"}) != 4 ||
        api::GetInt(ds, {"status", "observedGeneration"}) != 2) {
      return false;
    }
    for (auto& [n, pods] : p) {
      if (pods.size() != 1u || before.count(pods[0])) return false;
    }
    return p.size() == 4u;
  }));
  EXPECT_GE(min_nodes, 3u);
}

TEST_F(DaemonSetControllerTest, RevisionsKeptAsControllerRevisionsUpToLimit) {
  AddNode(Node("n1"));
  Run();
  Json ds = MakeDs("agent");
  ds["spec"]["revisionHistoryLimit"] = 1;
  ASSERT_TRUE(fake_.Create(kDaemonSetsRef.In("demo"), ds, {}).ok());
  auto revisions = [&] {
    std::map<int64_t, std::string> out;  // revision -> hash label
    auto l = fake_.List(kControllerRevisionsRef.In("demo"), {});
    for (const Json& r : (*l)["items"]) {
      out[r["revision"].get<int64_t>()] =
          api::GetString(r, {"metadata", "labels", "controller-revision-hash"});
    }
    return out;
  };
  for (int v = 2; v <= 4; ++v) {
    ASSERT_TRUE(Eventually([&] {
      return api::GetInt(GetDs("agent"),
                         {"status", "updatedNumberScheduled"}) == 1 &&
             api::GetInt(GetDs("agent"), {"status", "numberAvailable"}) == 1 &&
             api::GetInt(GetDs("agent"), {"status", "observedGeneration"}) ==
                 v - 1;
    }));
    ASSERT_TRUE(fake_
                    .Patch(kDaemonSetsRef.In("demo"), "agent",
                           client::PatchType::kMerge,
                           R"({"spec":{"template":{"spec":{"containers":)"
                           R"([{"name":"c","image":"agent:)" +
                               std::to_string(v) + R"("}]}}}})",
                           {})
                    .ok());
  }
  // The newest (what the pod runs) and one more; the rest deleted.
  ASSERT_TRUE(Eventually([&] {
    auto r = revisions();
    auto pods = fake_.List(kPodsRef.In("demo"), {});
    return r.size() == 2u && r.count(4) && r.count(3) &&
           (*pods)["items"].size() == 1u &&
           api::GetString((*pods)["items"][0],
                          {"metadata", "labels", "controller-revision-hash"}) ==
               r[4];
  }));
}

}  // namespace
}  // namespace kite::controllers

#include "server/controllers/node_lifecycle_controller.h"

#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include "api/object.h"
#include "client/fake_client.h"

namespace kite::controllers {
namespace {

using client::FakeClient;
using client::Json;
using client::ResourceRef;
using std::chrono::seconds;

const ResourceRef kNodes{"", "v1", "nodes", ""};
const ResourceRef kLeases{"coordination.k8s.io", "v1", "leases", ""};
const ResourceRef kPods{"", "v1", "pods", ""};

class NodeLifecycleControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NodeLifecycleControllerOptions o;
    o.clock = &clock_;
    nc_ = std::make_unique<NodeLifecycleController>(fake_, informers_, o);
    ASSERT_TRUE(informers_.Start().ok());
    ASSERT_TRUE(informers_.WaitForSync(std::chrono::seconds(10)));
  }
  void TearDown() override {
    nc_->Stop();
    informers_.Stop();
  }
  // Waits until every informer reflects the fake's latest write.
  void Settle() {
    std::string rv = std::to_string(fake_.ResourceVersion());
    for (int i = 0; i < 2000; ++i) {
      bool all = true;
      for (const ResourceRef& r : {kNodes, kLeases, kPods}) {
        if (std::stoll("0" + informers_.For(r).LastResourceVersion()) <
            std::stoll(rv)) {
          all = false;
        }
      }
      if (all) return;
      fake_.SendBookmarks();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  void Node(const std::string& name) {
    std::string now = api::FormatTime(clock_.Now());
    Json n = {{"apiVersion", "v1"},
              {"kind", "Node"},
              {"metadata", {{"name", name}}},
              {"spec", Json::object()},
              {"status",
               {{"conditions",
                 {{{"type", "Ready"},
                   {"status", "True"},
                   {"reason", "KubeletReady"},
                   {"lastHeartbeatTime", now},
                   {"lastTransitionTime", now}}}}}}};
    ASSERT_TRUE(fake_.Create(kNodes, n, {}).ok());
    Json l = {{"apiVersion", "coordination.k8s.io/v1"},
              {"kind", "Lease"},
              {"metadata", {{"name", name}, {"namespace", "kube-node-lease"}}},
              {"spec", {{"holderIdentity", name}, {"renewTime", now}}}};
    ASSERT_TRUE(fake_.Create(kLeases.In("kube-node-lease"), l, {}).ok());
  }
  void Renew(const std::string& name) {
    Json l = *fake_.Get(kLeases.In("kube-node-lease"), name, {});
    l["spec"]["renewTime"] = api::FormatMicroTime(clock_.Now());
    ASSERT_TRUE(fake_.Update(kLeases.In("kube-node-lease"), l, {}).ok());
  }
  void Pod(const std::string& name, const std::string& node,
           Json tolerations = Json::array()) {
    Json p = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", name}, {"namespace", "demo"}}},
              {"spec", {{"nodeName", node}, {"tolerations", tolerations}}},
              {"status",
               {{"phase", "Running"},
                {"conditions", {{{"type", "Ready"}, {"status", "True"}}}}}}};
    ASSERT_TRUE(fake_.Create(kPods.In("demo"), p, {}).ok());
  }
  static Json Toleration(const char* key, int64_t secs) {
    return {{"key", key},
            {"operator", "Exists"},
            {"effect", "NoExecute"},
            {"tolerationSeconds", secs}};
  }
  void Pass() {
    Settle();
    ASSERT_TRUE(nc_->Monitor().ok());
    Settle();
  }
  Json GetNode(const std::string& n) { return *fake_.Get(kNodes, n, {}); }
  std::vector<std::string> TaintKeys(const std::string& n) {
    std::vector<std::string> out;
    Json node = GetNode(n);
    if (const Json* ts = api::FieldPath(node, {"spec", "taints"})) {
      for (const Json& t : *ts) {
        out.push_back(t["key"].get<std::string>() + ":" +
                      t["effect"].get<std::string>());
      }
    }
    return out;
  }
  Json GetPod(const std::string& n) {
    auto r = fake_.Get(kPods.In("demo"), n, {});
    return r.ok() ? *r : Json();
  }

  FakeClock clock_;
  FakeClient fake_{clock_};
  client::SharedInformerFactory informers_{fake_};
  std::unique_ptr<NodeLifecycleController> nc_;
};

TEST_F(NodeLifecycleControllerTest, SilentNodeTurnsUnknownIsTaintedAndEvicts) {
  Node("a");
  Node("b");
  Pod("plain", "a");  // no toleration at all: evicted at once
  Pod("default", "a",
      {Toleration("node.kubernetes.io/unreachable", 300),
       Toleration("node.kubernetes.io/not-ready", 300)});
  Pod("patient", "a", {Toleration("node.kubernetes.io/unreachable", 600)});
  Pod("forever", "a",
      {{{"key", "node.kubernetes.io/unreachable"}, {"operator", "Exists"}}});
  Pod("elsewhere", "b");
  Pass();
  // 45 s: b renews its lease, a does not.
  for (int i = 0; i < 9; ++i) {
    clock_.Advance(seconds(5));
    Renew("b");
    Pass();
  }
  Json a = GetNode("a");
  const Json& ready = a["status"]["conditions"][0];
  EXPECT_EQ(ready["status"], "Unknown");
  EXPECT_EQ(ready["reason"], "NodeStatusUnknown");
  EXPECT_EQ(ready["message"], "Kubelet stopped posting node status.");
  EXPECT_EQ(TaintKeys("a"), (std::vector<std::string>{
                                "node.kubernetes.io/unreachable:NoSchedule",
                                "node.kubernetes.io/unreachable:NoExecute"}));
  EXPECT_TRUE(TaintKeys("b").empty());
  EXPECT_EQ(GetNode("b")["status"]["conditions"][0]["status"], "True");
  EXPECT_TRUE(GetPod("plain").is_null());
  EXPECT_EQ(GetPod("default")["status"]["conditions"][0]["status"], "False");
  EXPECT_FALSE(GetPod("elsewhere").is_null());

  clock_.Advance(seconds(301));
  Pass();
  EXPECT_TRUE(GetPod("default").is_null());
  EXPECT_FALSE(GetPod("patient").is_null());
  clock_.Advance(seconds(300));
  Pass();
  EXPECT_TRUE(GetPod("patient").is_null());
  EXPECT_FALSE(GetPod("forever").is_null());

  // The kubelet is back: Ready again, the taints go.
  Json back = GetNode("a");
  back["status"]["conditions"][0]["status"] = "True";
  back["status"]["conditions"][0]["lastHeartbeatTime"] =
      api::FormatTime(clock_.Now());
  client::UpdateOptions uo;
  uo.subresource = "status";
  ASSERT_TRUE(fake_.Update(kNodes, back, uo).ok());
  Renew("a");
  Pass();
  EXPECT_TRUE(TaintKeys("a").empty());
}

TEST_F(NodeLifecycleControllerTest, ReadyFalseGetsTheNotReadyTaints) {
  Node("a");
  Json n = GetNode("a");
  n["status"]["conditions"][0]["status"] = "False";
  client::UpdateOptions uo;
  uo.subresource = "status";
  ASSERT_TRUE(fake_.Update(kNodes, n, uo).ok());
  Pass();
  EXPECT_EQ(TaintKeys("a"), (std::vector<std::string>{
                                "node.kubernetes.io/not-ready:NoSchedule",
                                "node.kubernetes.io/not-ready:NoExecute"}));
}

TEST_F(NodeLifecycleControllerTest, RunsOnItsOwn) {
  Node("a");
  ASSERT_TRUE(nc_->Start().ok());
  // Nothing changes for a reporting node.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(TaintKeys("a").empty());
}

}  // namespace
}  // namespace kite::controllers

#include "server/scheduler/scheduler.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <thread>

#include "api/object.h"
#include "client/fake_client.h"

namespace kite::scheduler {
namespace {

using client::ResourceRef;
using namespace std::chrono_literals;

const ResourceRef kPods{"", "v1", "pods", ""};
const ResourceRef kNodes{"", "v1", "nodes", ""};
const ResourceRef kEvents{"", "v1", "events", ""};

Json NodeJson(const std::string& name, const std::string& cpu = "2",
              int pods = 110) {
  return {{"apiVersion", "v1"},
          {"kind", "Node"},
          {"metadata",
           {{"name", name}, {"labels", {{"kubernetes.io/hostname", name}}}}},
          {"status",
           {{"allocatable",
             {{"cpu", cpu}, {"memory", "8Gi"}, {"pods", std::to_string(pods)}}},
            {"conditions", {{{"type", "Ready"}, {"status", "True"}}}}}}};
}

Json PodJson(const std::string& name, const std::string& cpu = "100m",
             const std::string& owner = "") {
  Json p = {{"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata", {{"name", name}, {"namespace", "d"}}},
            {"spec",
             {{"containers",
               {{{"name", "c"},
                 {"image", "x"},
                 {"resources", {{"requests", {{"cpu", cpu}}}}}}}}}}};
  if (!owner.empty())
    p["metadata"]["ownerReferences"] = {{{"apiVersion", "apps/v1"},
                                         {"kind", "ReplicaSet"},
                                         {"name", "rs"},
                                         {"uid", owner},
                                         {"controller", true}}};
  return p;
}

template <typename F>
bool Eventually(F f, std::chrono::milliseconds limit = 10s) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return f();
}

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    informers_ = std::make_unique<client::SharedInformerFactory>(fake_);
    SchedulerOptions o;
    o.unschedulable_retry = 60s;  // events, not the timer, must drive retries
    sched_ = std::make_unique<Scheduler>(fake_, *informers_, o);
    ASSERT_TRUE(informers_->Start().ok());
    ASSERT_TRUE(sched_->Start().ok());
  }
  void TearDown() override {
    informers_->Stop();
    sched_->Stop();
  }
  std::map<std::string, int> PodsPerNode() {
    std::map<std::string, int> out;
    auto list = fake_.List(kPods, {});
    for (const Json& p : (*list)["items"])
      ++out[api::GetString(p, {"spec", "nodeName"})];
    return out;
  }
  std::string NodeOf(const std::string& pod) {
    auto p = fake_.Get(kPods.In("d"), pod, {});
    return p.ok() ? api::GetString(*p, {"spec", "nodeName"}) : "";
  }

  client::FakeClient fake_;
  std::unique_ptr<client::SharedInformerFactory> informers_;
  std::unique_ptr<Scheduler> sched_;
};

TEST_F(SchedulerTest, BindsPodsSpreadingAControllersPodsOverNodes) {
  for (const char* n : {"n1", "n2", "n3"})
    ASSERT_TRUE(fake_.Create(kNodes, NodeJson(n), {}).ok());
  for (int i = 0; i < 6; ++i)
    ASSERT_TRUE(
        fake_
            .Create(kPods,
                    PodJson("web-" + std::to_string(i), "100m", "rs-uid"), {})
            .ok());
  ASSERT_TRUE(Eventually([&] { return PodsPerNode()[""] == 0; }));
  auto per = PodsPerNode();
  EXPECT_EQ(per["n1"], 2);
  EXPECT_EQ(per["n2"], 2);
  EXPECT_EQ(per["n3"], 2);
  // A Scheduled event per pod, as kubectl describe shows.
  ASSERT_TRUE(Eventually([&] {
    auto evs = fake_.List(kEvents, {});
    int n = 0;
    for (const Json& e : (*evs)["items"])
      if (api::GetString(e, {"reason"}) == "Scheduled") ++n;
    return n == 6;
  }));
}

TEST_F(SchedulerTest, AccountsAssumedPodsBeforeTheInformerSeesThem) {
  ASSERT_TRUE(fake_.Create(kNodes, NodeJson("small", "1"), {}).ok());
  // Four pods of 300m arrive at once: only three fit in one cpu, whatever
  // the informer has seen of the first bindings.
  for (int i = 0; i < 4; ++i)
    ASSERT_TRUE(
        fake_.Create(kPods, PodJson("p" + std::to_string(i), "300m"), {}).ok());
  ASSERT_TRUE(Eventually([&] { return PodsPerNode()["small"] == 3; }));
  ASSERT_TRUE(Eventually([&] { return sched_->Unschedulable() >= 1; }));
  EXPECT_EQ(PodsPerNode()["small"], 3);
}

TEST_F(SchedulerTest,
       UnschedulableGetsConditionAndEventThenBindsWhenANodeAppears) {
  ASSERT_TRUE(fake_.Create(kNodes, NodeJson("a", "1"), {}).ok());
  ASSERT_TRUE(fake_.Create(kPods, PodJson("big", "3"), {}).ok());
  const std::string msg =
      "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are "
      "available: 1 No preemption victims found for incoming pod.";
  ASSERT_TRUE(Eventually([&] {
    auto p = fake_.Get(kPods.In("d"), "big", {});
    const Json* cs = api::FieldPath(*p, {"status", "conditions"});
    if (!cs) return false;
    for (const Json& c : *cs)
      if (api::GetString(c, {"type"}) == "PodScheduled" &&
          api::GetString(c, {"status"}) == "False" &&
          api::GetString(c, {"reason"}) == "Unschedulable" &&
          api::GetString(c, {"message"}) == msg)
        return true;
    return false;
  }));
  ASSERT_TRUE(Eventually([&] {
    auto evs = fake_.List(kEvents.In("d"), {});
    for (const Json& e : (*evs)["items"])
      if (api::GetString(e, {"reason"}) == "FailedScheduling" &&
          api::GetString(e, {"type"}) == "Warning" &&
          api::GetString(e, {"message"}) == msg &&
          api::GetString(e, {"involvedObject", "name"}) == "big")
        return true;
    return false;
  }));
  EXPECT_EQ(NodeOf("big"), "");
  ASSERT_TRUE(fake_.Create(kNodes, NodeJson("large", "4"), {}).ok());
  EXPECT_TRUE(Eventually([&] { return NodeOf("big") == "large"; }));
}

TEST_F(SchedulerTest, RetriesWhenABoundPodGoes) {
  ASSERT_TRUE(fake_.Create(kNodes, NodeJson("a", "1"), {}).ok());
  ASSERT_TRUE(fake_.Create(kPods, PodJson("first", "800m"), {}).ok());
  ASSERT_TRUE(Eventually([&] { return NodeOf("first") == "a"; }));
  ASSERT_TRUE(fake_.Create(kPods, PodJson("second", "800m"), {}).ok());
  ASSERT_TRUE(Eventually([&] { return sched_->Unschedulable() >= 1; }));
  EXPECT_EQ(NodeOf("second"), "");
  ASSERT_TRUE(fake_.Delete(kPods.In("d"), "first", {}).ok());
  EXPECT_TRUE(Eventually([&] { return NodeOf("second") == "a"; }));
}

TEST_F(SchedulerTest, LeavesOtherSchedulersPodsAndBoundPodsAlone) {
  ASSERT_TRUE(fake_.Create(kNodes, NodeJson("a"), {}).ok());
  Json other = PodJson("other");
  other["spec"]["schedulerName"] = "custom";
  ASSERT_TRUE(fake_.Create(kPods, other, {}).ok());
  Json mine = PodJson("mine");
  ASSERT_TRUE(fake_.Create(kPods, mine, {}).ok());
  ASSERT_TRUE(Eventually([&] { return NodeOf("mine") == "a"; }));
  EXPECT_EQ(NodeOf("other"), "");
}

const ResourceRef kClaims{"", "v1", "persistentvolumeclaims", ""};
const ResourceRef kVolumes{"", "v1", "persistentvolumes", ""};
const ResourceRef kClasses{"storage.k8s.io", "v1", "storageclasses", ""};

Json ClaimJson(const std::string& name, const std::string& cls) {
  return {{"apiVersion", "v1"},
          {"kind", "PersistentVolumeClaim"},
          {"metadata", {{"name", name}, {"namespace", "d"}}},
          {"spec",
           {{"storageClassName", cls},
            {"accessModes", {"ReadWriteOnce"}},
            {"resources", {{"requests", {{"storage", "1Gi"}}}}}}}};
}

Json WithClaim(Json pod, const std::string& claim) {
  pod["spec"]["volumes"] = {
      {{"name", "data"}, {"persistentVolumeClaim", {{"claimName", claim}}}}};
  return pod;
}

std::string PodCondition(client::FakeClient& fake, const std::string& pod) {
  auto p = fake.Get(kPods.In("d"), pod, {});
  if (!p.ok()) return "";
  const Json* cs = api::FieldPath(*p, {"status", "conditions"});
  if (cs == nullptr) return "";
  for (const Json& c : *cs)
    if (api::GetString(c, {"type"}) == "PodScheduled")
      return api::GetString(c, {"message"});
  return "";
}

TEST_F(SchedulerTest, WaitForFirstConsumerClaimsGetTheChosenNode) {
  ASSERT_TRUE(fake_.Create(kNodes, NodeJson("n1"), {}).ok());
  Json sc = {{"apiVersion", "storage.k8s.io/v1"},
             {"kind", "StorageClass"},
             {"metadata", {{"name", "local-path"}}},
             {"provisioner", "kite.io/local-path"},
             {"volumeBindingMode", "WaitForFirstConsumer"}};
  ASSERT_TRUE(fake_.Create(kClasses, sc, {}).ok());
  // The claim does not exist yet: unschedulable, retried when it appears.
  ASSERT_TRUE(fake_.Create(kPods, WithClaim(PodJson("app"), "data"), {}).ok());
  ASSERT_TRUE(Eventually([&] {
    return PodCondition(fake_, "app") ==
           "0/1 nodes are available: 1 persistentvolumeclaim \"data\" not "
           "found. preemption: 0/1 nodes are available: 1 Preemption is not "
           "helpful for scheduling.";
  }));
  ASSERT_TRUE(fake_.Create(kClaims, ClaimJson("data", "local-path"), {}).ok());
  ASSERT_TRUE(Eventually([&] { return NodeOf("app") == "n1"; }));
  auto claim = fake_.Get(kClaims.In("d"), "data", {});
  ASSERT_TRUE(claim.ok());
  EXPECT_EQ(api::GetString(*claim, {"metadata", "annotations",
                                    "volume.kubernetes.io/selected-node"}),
            "n1");
  // A second pod of the still unbound claim goes to the node chosen for it.
  ASSERT_TRUE(fake_.Create(kNodes, NodeJson("n2", "8"), {}).ok());
  for (int i = 0; i < 4; ++i)
    ASSERT_TRUE(
        fake_
            .Create(kPods,
                    WithClaim(PodJson("share" + std::to_string(i)), "data"), {})
            .ok());
  ASSERT_TRUE(Eventually([&] { return PodsPerNode()["n1"] == 5; }));
  EXPECT_EQ(PodsPerNode()["n2"], 0);
  // A claim of a class without WaitForFirstConsumer must be bound first.
  ASSERT_TRUE(fake_.Create(kClaims, ClaimJson("manual", "manual"), {}).ok());
  ASSERT_TRUE(
      fake_.Create(kPods, WithClaim(PodJson("app2"), "manual"), {}).ok());
  ASSERT_TRUE(Eventually([&] {
    return PodCondition(fake_, "app2")
               .find("2 pod has unbound immediate PersistentVolumeClaims") !=
           std::string::npos;
  }));
}

TEST_F(SchedulerTest, PodsFollowTheNodeAffinityOfTheirBoundVolume) {
  for (const char* n : {"n1", "n2", "n3"})
    ASSERT_TRUE(fake_.Create(kNodes, NodeJson(n), {}).ok());
  Json pv = {{"apiVersion", "v1"},
             {"kind", "PersistentVolume"},
             {"metadata", {{"name", "pv-n2"}}},
             {"spec",
              {{"capacity", {{"storage", "1Gi"}}},
               {"accessModes", {"ReadWriteOnce"}},
               {"hostPath", {{"path", "/srv/pv-n2"}}},
               {"nodeAffinity",
                {{"required",
                  {{"nodeSelectorTerms",
                    {{{"matchExpressions",
                       {{{"key", "kubernetes.io/hostname"},
                         {"operator", "In"},
                         {"values", {"n2"}}}}}}}}}}}}}}};
  ASSERT_TRUE(fake_.Create(kVolumes, pv, {}).ok());
  Json claim = ClaimJson("data", "");
  claim["spec"]["volumeName"] = "pv-n2";
  ASSERT_TRUE(fake_.Create(kClaims, claim, {}).ok());
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(
        fake_
            .Create(kPods,
                    WithClaim(PodJson("app" + std::to_string(i)), "data"), {})
            .ok());
  ASSERT_TRUE(Eventually([&] { return PodsPerNode()["n2"] == 3; }));
}

// 3000 pods on 100 nodes through the fake client: every pod is bound, none
// of the nodes is over-committed, and the rate is printed (not asserted).
TEST(SchedulerScale, ThreeThousandPodsOnAHundredNodes) {
  client::FakeClient fake;
  client::SharedInformerFactory informers(fake);
  Scheduler sched(fake, informers);
  for (int i = 0; i < 100; ++i)
    ASSERT_TRUE(
        fake.Create(kNodes, NodeJson("n" + std::to_string(i), "4"), {}).ok());
  ASSERT_TRUE(informers.Start().ok());
  ASSERT_TRUE(informers.WaitForSync(10s));
  ASSERT_TRUE(sched.Start().ok());
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 3000; ++i)
    ASSERT_TRUE(fake.Create(kPods,
                            PodJson("p" + std::to_string(i), "100m",
                                    "rs-" + std::to_string(i % 30)),
                            {})
                    .ok());
  ASSERT_TRUE(Eventually([&] { return sched.Bound() == 3000; }, 120s))
      << sched.Bound();
  double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  std::printf(
      "scheduler (fake client): 3000 pods on 100 nodes bound in %.2f s, "
      "%.0f pods/s\n",
      secs, 3000 / secs);
  informers.Stop();
  sched.Stop();
  std::map<std::string, int> per;
  auto list = fake.List(kPods, {});
  for (const Json& p : (*list)["items"])
    ++per[api::GetString(p, {"spec", "nodeName"})];
  EXPECT_EQ(per.count(""), 0u);
  for (const auto& [node, n] : per) EXPECT_LE(n, 40) << node;  // 4 cpu / 100m
}

}  // namespace
}  // namespace kite::scheduler

#include "server/controllers/namespace_controller.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <thread>

#include "api/kinds.h"
#include "api/object.h"
#include "client/fake_client.h"
#include "server/controllers/controller_manager.h"
#include "server/controllers/resources.h"

namespace kite::controllers {
namespace {

using client::FakeClient;
using client::Json;
using client::ResourceRef;
using std::chrono::milliseconds;

const ResourceRef kNs{"", "v1", "namespaces", ""};
const ResourceRef kConfigMaps{"", "v1", "configmaps", ""};
const ResourceRef kPods{"", "v1", "pods", ""};
const ResourceRef kDeployments{"apps", "v1", "deployments", ""};

std::vector<ResourceRef> Resources() {
  return {kConfigMaps, kPods, kDeployments};
}

Json Obj(const std::string& kind, const std::string& ns,
         const std::string& name) {
  Json o = {{"kind", kind}, {"metadata", {{"name", name}}}};
  if (!ns.empty()) o["metadata"]["namespace"] = ns;
  return o;
}

class NamespaceControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fake_.Create(kNs, Obj("Namespace", "", "demo"), {}).ok());
    ASSERT_TRUE(fake_.Create(kNs, Obj("Namespace", "", "keep"), {}).ok());
    for (const char* n : {"a", "b", "c"}) {
      ASSERT_TRUE(
          fake_.Create(kConfigMaps, Obj("ConfigMap", "demo", n), {}).ok());
    }
    ASSERT_TRUE(fake_.Create(kPods, Obj("Pod", "demo", "web"), {}).ok());
    ASSERT_TRUE(
        fake_.Create(kDeployments, Obj("Deployment", "demo", "web"), {}).ok());
    ASSERT_TRUE(
        fake_.Create(kConfigMaps, Obj("ConfigMap", "keep", "a"), {}).ok());
  }

  int Count(const ResourceRef& ref, const std::string& ns) {
    auto l = fake_.List(ref.In(ns), {});
    EXPECT_TRUE(l.ok()) << l.status().ToString();
    return l.ok() ? static_cast<int>((*l)["items"].size()) : -1;
  }

  const Json* FindCondition(const Json& ns, const std::string& type) {
    const Json* conds = api::FieldPath(ns, {"status", "conditions"});
    if (conds == nullptr) return nullptr;
    for (const Json& c : *conds) {
      if (c["type"] == type) return &c;
    }
    return nullptr;
  }

  FakeClock clock_;
  FakeClient fake_{clock_};
  client::SharedInformerFactory informers_{fake_};
};

TEST_F(NamespaceControllerTest, EmptiesFinalizesAndDeletesNamespace) {
  NamespaceController nc(fake_, informers_, Resources);
  auto del = fake_.Delete(kNs, "demo", {});
  ASSERT_TRUE(del.ok());
  EXPECT_EQ(api::GetString(*del, {"status", "phase"}), "Terminating");

  ASSERT_TRUE(nc.Sync("demo").ok());

  EXPECT_EQ(fake_.Get(kNs, "demo", {}).status().code(), Code::kNotFound);
  EXPECT_EQ(Count(kConfigMaps, "demo"), 0);
  EXPECT_EQ(Count(kPods, "demo"), 0);
  EXPECT_EQ(Count(kDeployments, "demo"), 0);
  // Other namespaces keep their content.
  EXPECT_EQ(Count(kConfigMaps, "keep"), 1);
  EXPECT_TRUE(fake_.Get(kNs, "keep", {}).ok());

  bool background = false, finalize = false;
  for (const auto& a : fake_.Actions()) {
    if (a.verb == "deletecollection") {
      EXPECT_EQ(a.ref.ns, "demo");
      background = a.propagation == client::PropagationPolicy::kBackground;
    }
    if (a.verb == "update" && a.subresource == "finalize") finalize = true;
  }
  EXPECT_TRUE(background);
  EXPECT_TRUE(finalize);
}

TEST_F(NamespaceControllerTest, ActiveNamespaceIsLeftAlone) {
  NamespaceController nc(fake_, informers_, Resources);
  fake_.ClearActions();
  ASSERT_TRUE(nc.Sync("demo").ok());
  ASSERT_TRUE(nc.Sync("missing").ok());
  for (const auto& a : fake_.Actions()) EXPECT_EQ(a.verb, "get");
  EXPECT_EQ(Count(kConfigMaps, "demo"), 3);
}

TEST_F(NamespaceControllerTest, WaitsForFinalizersAndReportsConditions) {
  NamespaceController nc(fake_, informers_, Resources);
  Json held = Obj("ConfigMap", "demo", "held");
  held["metadata"]["finalizers"] = {"example.com/hold"};
  ASSERT_TRUE(fake_.Create(kConfigMaps, held, {}).ok());
  ASSERT_TRUE(fake_.Delete(kNs, "demo", {}).ok());

  Status s = nc.Sync("demo");
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.ToString();
  auto ns = fake_.Get(kNs, "demo", {});
  ASSERT_TRUE(ns.ok());
  EXPECT_EQ(api::GetString(*ns, {"status", "phase"}), "Terminating");
  EXPECT_EQ((*ns)["spec"]["finalizers"], Json::array({"kubernetes"}));
  const Json* remaining = FindCondition(*ns, "NamespaceContentRemaining");
  ASSERT_NE(remaining, nullptr);
  EXPECT_EQ((*remaining)["status"], "True");
  EXPECT_EQ((*remaining)["reason"], "SomeResourcesRemain");
  EXPECT_EQ((*remaining)["message"],
            "Some resources are remaining: configmaps. has 1 resource "
            "instances");
  const Json* fins = FindCondition(*ns, "NamespaceFinalizersRemaining");
  ASSERT_NE(fins, nullptr);
  EXPECT_EQ((*fins)["message"],
            "Some content in the namespace has finalizers remaining: "
            "example.com/hold in 1 resource instances");
  const Json* failure = FindCondition(*ns, "NamespaceDeletionContentFailure");
  ASSERT_NE(failure, nullptr);
  EXPECT_EQ((*failure)["status"], "False");

  // A second pass with nothing new does not rewrite the status.
  std::string rv = api::GetString(*ns, {"metadata", "resourceVersion"});
  EXPECT_EQ(nc.Sync("demo").code(), Code::kUnavailable);
  EXPECT_EQ(api::GetString(*fake_.Get(kNs, "demo", {}),
                           {"metadata", "resourceVersion"}),
            rv);

  // The holder lets go: the object goes, then the namespace.
  auto cm = fake_.Get(kConfigMaps.In("demo"), "held", {});
  ASSERT_TRUE(cm.ok());
  EXPECT_TRUE(api::Has(*cm, {"metadata", "deletionTimestamp"}));
  (*cm)["metadata"]["finalizers"] = Json::array();
  ASSERT_TRUE(fake_.Update(kConfigMaps, *cm, {}).ok());
  ASSERT_TRUE(nc.Sync("demo").ok());
  EXPECT_EQ(fake_.Get(kNs, "demo", {}).status().code(), Code::kNotFound);
}

TEST_F(NamespaceControllerTest, OtherSpecFinalizersKeepTheNamespace) {
  NamespaceController nc(fake_, informers_, Resources);
  auto ns = fake_.Get(kNs, "demo", {});
  ASSERT_TRUE(ns.ok());
  // spec.finalizers changes only through the finalize subresource.
  (*ns)["spec"]["finalizers"] = {"kubernetes", "example.com/dns"};
  client::UpdateOptions fin;
  fin.subresource = "finalize";
  ASSERT_TRUE(fake_.Update(kNs, *ns, fin).ok());
  ASSERT_TRUE(fake_.Delete(kNs, "demo", {}).ok());

  ASSERT_TRUE(nc.Sync("demo").ok());
  auto after = fake_.Get(kNs, "demo", {});
  ASSERT_TRUE(after.ok());
  EXPECT_EQ((*after)["spec"]["finalizers"], Json::array({"example.com/dns"}));
  EXPECT_EQ(Count(kConfigMaps, "demo"), 0);
  // Idempotent: nothing of ours is left to do.
  ASSERT_TRUE(nc.Sync("demo").ok());
  EXPECT_TRUE(fake_.Get(kNs, "demo", {}).ok());
}

TEST_F(NamespaceControllerTest, DeletionFailuresAreReportedAndRetried) {
  NamespaceController nc(fake_, informers_, Resources);
  ASSERT_TRUE(fake_.Delete(kNs, "demo", {}).ok());
  fake_.InjectError("deletecollection", "pods",
                    InternalError("etcd is sulking"));
  Status s = nc.Sync("demo");
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_NE(s.message().find("pods.: etcd is sulking"), std::string::npos)
      << s.message();
  auto ns = fake_.Get(kNs, "demo", {});
  ASSERT_TRUE(ns.ok());
  const Json* failure = FindCondition(*ns, "NamespaceDeletionContentFailure");
  ASSERT_NE(failure, nullptr);
  EXPECT_EQ((*failure)["status"], "True");
  EXPECT_EQ((*failure)["reason"], "ContentDeletionFailed");
  EXPECT_EQ(Count(kPods, "demo"), 1);

  ASSERT_TRUE(nc.Sync("demo").ok());
  EXPECT_EQ(fake_.Get(kNs, "demo", {}).status().code(), Code::kNotFound);
}

TEST_F(NamespaceControllerTest, FallsBackToOneByOneDeletes) {
  NamespaceController nc(fake_, informers_, Resources);
  ASSERT_TRUE(fake_.Delete(kNs, "demo", {}).ok());
  fake_.InjectError("deletecollection", "configmaps",
                    FailedPreconditionError("method not allowed"), 100);
  // First pass deletes one by one and sees what was there before.
  EXPECT_EQ(nc.Sync("demo").code(), Code::kUnavailable);
  EXPECT_EQ(Count(kConfigMaps, "demo"), 0);
  ASSERT_TRUE(nc.Sync("demo").ok());
  EXPECT_EQ(fake_.Get(kNs, "demo", {}).status().code(), Code::kNotFound);
}

TEST_F(NamespaceControllerTest, FinalizeRetriesOnConflict) {
  NamespaceController nc(fake_, informers_, Resources);
  ASSERT_TRUE(fake_.Delete(kNs, "demo", {}).ok());
  fake_.InjectError("update", "namespaces",
                    ConflictError("the object has been modified"), 1);
  // The status update hits the conflict: retried by the queue.
  EXPECT_EQ(nc.Sync("demo").code(), Code::kConflict);
  ASSERT_TRUE(nc.Sync("demo").ok());
  EXPECT_EQ(fake_.Get(kNs, "demo", {}).status().code(), Code::kNotFound);
}

// Polls `pred` (test-side only) until it holds or 10 s pass.
template <typename Pred>
bool Eventually(Pred pred) {
  for (int i = 0; i < 1000; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return pred();
}

TEST_F(NamespaceControllerTest, RunningControllerFinishesAfterRestart) {
  Json held = Obj("Pod", "demo", "stuck");
  held["metadata"]["finalizers"] = {"example.com/hold"};
  ASSERT_TRUE(fake_.Create(kPods, held, {}).ok());
  {
    ControllerManager m(fake_, {.namespaced_resources = Resources,
                                .clock = nullptr,
                                .namespace_workers = 2});
    ASSERT_TRUE(m.Start().ok());
    ASSERT_TRUE(fake_.Delete(kNs, "demo", {}).ok());
    ASSERT_TRUE(Eventually([&] {
      auto ns = fake_.Get(kNs, "demo", {});
      const Json* c =
          ns.ok() ? FindCondition(*ns, "NamespaceContentRemaining") : nullptr;
      return c != nullptr &&
             (*c)["message"] ==
                 "Some resources are remaining: pods. has 1 resource "
                 "instances";
    }));
    EXPECT_EQ(Count(kConfigMaps, "demo"), 0);
    m.Stop();
  }
  // While no controller runs, the holder lets go.
  auto pod = fake_.Get(kPods.In("demo"), "stuck", {});
  ASSERT_TRUE(pod.ok());
  (*pod)["metadata"]["finalizers"] = Json::array();
  ASSERT_TRUE(fake_.Update(kPods, *pod, {}).ok());
  EXPECT_TRUE(fake_.Get(kNs, "demo", {}).ok());

  // A fresh manager re-lists and finishes the job.
  ControllerManager m2(fake_, {.namespaced_resources = Resources});
  ASSERT_TRUE(m2.Start().ok());
  EXPECT_TRUE(Eventually([&] {
    return fake_.Get(kNs, "demo", {}).status().code() == Code::kNotFound;
  }));
  EXPECT_TRUE(fake_.Get(kNs, "keep", {}).ok());
  m2.Stop();
  EXPECT_EQ(fake_.OpenWatches(), 0);
}

TEST(NamespacedResourcesTest, FromRegistry) {
  api::Registry registry;
  auto refs = NamespacedResourcesOf(registry);
  auto has = [&](const std::string& group, const std::string& resource) {
    return std::any_of(refs.begin(), refs.end(), [&](const ResourceRef& r) {
      return r.group == group && r.resource == resource;
    });
  };
  EXPECT_TRUE(has("", "pods"));
  EXPECT_TRUE(has("", "configmaps"));
  EXPECT_TRUE(has("apps", "deployments"));
  EXPECT_TRUE(has("batch", "jobs"));
  EXPECT_FALSE(has("", "namespaces"));
  EXPECT_FALSE(has("", "nodes"));
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto& r : refs) {
    EXPECT_TRUE(r.ns.empty());
    EXPECT_TRUE(seen.insert({r.group, r.resource}).second)
        << r.GroupResource() << " listed twice";
  }

  Json crd = {
      {"apiVersion", "apiextensions.k8s.io/v1"},
      {"kind", "CustomResourceDefinition"},
      {"metadata", {{"name", "widgets.example.com"}}},
      {"spec",
       {{"group", "example.com"},
        {"scope", "Namespaced"},
        {"names",
         {{"plural", "widgets"}, {"singular", "widget"}, {"kind", "Widget"}}},
        {"versions",
         {{{"name", "v1"},
           {"served", true},
           {"storage", true},
           {"schema",
            {{"openAPIV3Schema",
              {{"type", "object"},
               {"x-kubernetes-preserve-unknown-fields", true}}}}}}}}}}};
  ASSERT_TRUE(registry.ApplyCustomResourceDefinition(crd).ok());
  refs = NamespacedResourcesOf(registry);
  EXPECT_TRUE(has("example.com", "widgets"));
}

}  // namespace
}  // namespace kite::controllers

#include "server/controllers/garbage_collector.h"

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

const ResourceRef kPods{"", "v1", "pods", ""};
const ResourceRef kConfigMaps{"", "v1", "configmaps", ""};
const ResourceRef kSecrets{"", "v1", "secrets", ""};
const ResourceRef kDeployments{"apps", "v1", "deployments", ""};
const ResourceRef kReplicaSets{"apps", "v1", "replicasets", ""};

std::vector<ApiResource> Resources() {
  return {{kPods, "Pod", true},
          {kConfigMaps, "ConfigMap", true},
          {kSecrets, "Secret", true},
          {kDeployments, "Deployment", true},
          {kReplicaSets, "ReplicaSet", true}};
}

// Polls `cond` for up to 10 s of real time (the controller runs on threads).
bool Eventually(const std::function<bool()>& cond) {
  for (int i = 0; i < 1000; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

class GarbageCollectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    GarbageCollectorOptions o;
    o.resources = Resources;
    o.watched = {kPods, kDeployments, kReplicaSets};
    o.clock = &clock_;
    gc_ = std::make_unique<GarbageCollector>(fake_, informers_, o);
  }
  void Run() {
    ASSERT_TRUE(informers_.Start().ok());
    ASSERT_TRUE(informers_.WaitForSync(std::chrono::seconds(10)));
    ASSERT_TRUE(gc_->Start().ok());
  }
  void TearDown() override {
    gc_->Stop();
    informers_.Stop();
  }

  Json Make(const ResourceRef& ref, const std::string& kind,
            const std::string& name, std::vector<Json> owners = {},
            std::vector<std::string> finalizers = {}) {
    Json o = {{"apiVersion", ref.ApiVersion()},
              {"kind", kind},
              {"metadata", {{"name", name}, {"namespace", "demo"}}}};
    if (!owners.empty()) o["metadata"]["ownerReferences"] = owners;
    if (!finalizers.empty()) o["metadata"]["finalizers"] = finalizers;
    auto r = fake_.Create(ref.In("demo"), o, {});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : Json();
  }
  static Json OwnerRef(const Json& owner, bool block = false) {
    Json r = {{"apiVersion", owner["apiVersion"]},
              {"kind", owner["kind"]},
              {"name", api::Name(owner)},
              {"uid", api::GetString(owner, {"metadata", "uid"})},
              {"controller", true}};
    if (block) r["blockOwnerDeletion"] = true;
    return r;
  }
  bool Exists(const ResourceRef& ref, const std::string& name) {
    return fake_.Get(ref.In("demo"), name, {}).ok();
  }
  Json Get(const ResourceRef& ref, const std::string& name) {
    auto r = fake_.Get(ref.In("demo"), name, {});
    return r.ok() ? *r : Json();
  }

  FakeClock clock_;
  FakeClient fake_{clock_};
  client::SharedInformerFactory informers_{fake_};
  std::unique_ptr<GarbageCollector> gc_;
};

TEST_F(GarbageCollectorTest, BackgroundDeletionCascadesThroughEveryLevel) {
  Json d = Make(kDeployments, "Deployment", "web");
  Json rs = Make(kReplicaSets, "ReplicaSet", "web-1", {OwnerRef(d)});
  Make(kPods, "Pod", "web-1-a", {OwnerRef(rs)});
  Make(kPods, "Pod", "web-1-b", {OwnerRef(rs)});
  Make(kConfigMaps, "ConfigMap", "web-config", {OwnerRef(d)});  // scanned
  Make(kPods, "Pod", "lonely");
  Run();
  ASSERT_TRUE(gc_->Scan().ok());
  ASSERT_TRUE(fake_.Delete(kDeployments.In("demo"), "web", {}).ok());
  EXPECT_TRUE(Eventually([&] {
    return !Exists(kReplicaSets, "web-1") && !Exists(kPods, "web-1-a") &&
           !Exists(kPods, "web-1-b") && !Exists(kConfigMaps, "web-config");
  }));
  EXPECT_TRUE(Exists(kPods, "lonely"));
}

TEST_F(GarbageCollectorTest, OwnerWithAnotherUidCountsAsGone) {
  Json rs = Make(kReplicaSets, "ReplicaSet", "web-1");
  Json stale = OwnerRef(rs);
  stale["uid"] = "not-the-uid";
  Make(kPods, "Pod", "stale", {stale});
  Make(kPods, "Pod", "owned", {OwnerRef(rs)});
  Run();
  EXPECT_TRUE(Eventually([&] { return !Exists(kPods, "stale"); }));
  EXPECT_TRUE(Exists(kPods, "owned"));
}

TEST_F(GarbageCollectorTest, LiveOwnerKeepsDependentAndDanglingRefGoes) {
  Json a = Make(kReplicaSets, "ReplicaSet", "a");
  Json b = Make(kReplicaSets, "ReplicaSet", "b");
  Make(kPods, "Pod", "shared", {OwnerRef(a), OwnerRef(b)});
  Run();
  ASSERT_TRUE(fake_.Delete(kReplicaSets.In("demo"), "a", {}).ok());
  EXPECT_TRUE(Eventually([&] {
    Json p = Get(kPods, "shared");
    const Json* refs = api::FieldPath(p, {"metadata", "ownerReferences"});
    return refs != nullptr && refs->size() == 1 && (*refs)[0]["name"] == "b";
  }));
  EXPECT_TRUE(Exists(kPods, "shared"));
}

TEST_F(GarbageCollectorTest, ForegroundDeletesBlockingDependentsFirst) {
  Json d = Make(kDeployments, "Deployment", "web", {},
                {GarbageCollector::kForegroundFinalizer});
  Json rs = Make(kReplicaSets, "ReplicaSet", "web-1", {OwnerRef(d, true)});
  Make(kPods, "Pod", "web-1-a", {OwnerRef(rs, true)});
  Run();
  // The API server marks the owner: deletionTimestamp, finalizer kept.
  ASSERT_TRUE(fake_.Delete(kDeployments.In("demo"), "web", {}).ok());
  EXPECT_TRUE(Eventually([&] {
    return !Exists(kDeployments, "web") && !Exists(kReplicaSets, "web-1") &&
           !Exists(kPods, "web-1-a");
  }));
}

TEST_F(GarbageCollectorTest, ForegroundWaitsWhileABlockingDependentStays) {
  Json d = Make(kDeployments, "Deployment", "web", {},
                {GarbageCollector::kForegroundFinalizer});
  // A dependent that cannot go yet (its own finalizer).
  Make(kReplicaSets, "ReplicaSet", "web-1", {OwnerRef(d, true)},
       {"example.com/hold"});
  Run();
  ASSERT_TRUE(fake_.Delete(kDeployments.In("demo"), "web", {}).ok());
  ASSERT_TRUE(Eventually([&] {
    return api::Has(Get(kReplicaSets, "web-1"),
                    {"metadata", "deletionTimestamp"});
  }));
  gc_->Stop();  // settle: nothing may have removed the owner meanwhile
  EXPECT_TRUE(Exists(kDeployments, "web"));
  Json rs = Get(kReplicaSets, "web-1");
  rs["metadata"].erase("finalizers");
  ASSERT_TRUE(fake_.Update(kReplicaSets.In("demo"), rs, {}).ok());
  ASSERT_FALSE(Exists(kReplicaSets, "web-1"));
  // A fresh collector (as after a restart) finishes the owner.
  GarbageCollectorOptions o;
  o.resources = Resources;
  o.watched = {kPods, kDeployments, kReplicaSets};
  o.clock = &clock_;
  GarbageCollector again(fake_, informers_, o);
  ASSERT_TRUE(again.Start().ok());
  EXPECT_TRUE(Eventually([&] { return !Exists(kDeployments, "web"); }));
  again.Stop();
}

TEST_F(GarbageCollectorTest, OrphanStripsReferencesAndKeepsDependents) {
  Json d = Make(kDeployments, "Deployment", "web", {},
                {GarbageCollector::kOrphanFinalizer});
  Json rs = Make(kReplicaSets, "ReplicaSet", "web-1", {OwnerRef(d)});
  Make(kConfigMaps, "ConfigMap", "web-config", {OwnerRef(d)});
  Run();
  ASSERT_TRUE(fake_.Delete(kDeployments.In("demo"), "web", {}).ok());
  EXPECT_TRUE(Eventually([&] { return !Exists(kDeployments, "web"); }));
  Json left = Get(kReplicaSets, "web-1");
  ASSERT_FALSE(left.is_null());
  EXPECT_FALSE(api::Has(left, {"metadata", "ownerReferences"}));
  // The unwatched ConfigMap was found by a live list, not a scan.
  Json cm = Get(kConfigMaps, "web-config");
  ASSERT_FALSE(cm.is_null());
  EXPECT_FALSE(api::Has(cm, {"metadata", "ownerReferences"}));
}

TEST_F(GarbageCollectorTest, UnwatchedOwnersAreNoticedByTheScan) {
  Json secret = Make(kSecrets, "Secret", "creds");
  Make(kConfigMaps, "ConfigMap", "derived", {OwnerRef(secret)});
  Run();
  ASSERT_TRUE(gc_->Scan().ok());
  ASSERT_TRUE(fake_.Delete(kSecrets.In("demo"), "creds", {}).ok());
  ASSERT_TRUE(Exists(kConfigMaps, "derived"));
  ASSERT_TRUE(gc_->Scan().ok());
  EXPECT_TRUE(Eventually([&] { return !Exists(kConfigMaps, "derived"); }));
}

TEST_F(GarbageCollectorTest, OwnerOfUnknownKindIsNeverTakenForGone) {
  Json ghost = {{"apiVersion", "example.com/v1"},
                {"kind", "Widget"},
                {"name", "w"},
                {"uid", "123"}};
  Make(kPods, "Pod", "p", {ghost});
  Run();
  ASSERT_TRUE(
      gc_->Process("d:" + api::GetString(Get(kPods, "p"), {"metadata", "uid"}))
          .ok());
  EXPECT_TRUE(Exists(kPods, "p"));
}

}  // namespace
}  // namespace kite::controllers

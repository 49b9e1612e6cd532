#include "server/controllers/persistent_volume_controller.h"

#include <gtest/gtest.h>

#include "api/object.h"
#include "client/fake_client.h"
#include "server/controllers/test_util.h"

namespace kite::controllers {
namespace {

using client::FakeClient;
using client::Json;
using client::ResourceRef;

const ResourceRef kClaims{"", "v1", "persistentvolumeclaims", ""};
const ResourceRef kVolumes{"", "v1", "persistentvolumes", ""};
const ResourceRef kClasses{"storage.k8s.io", "v1", "storageclasses", ""};
const ResourceRef kNodes{"", "v1", "nodes", ""};

class PersistentVolumeControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PersistentVolumeControllerOptions o;
    o.storage_dir = "/var/lib/kite/storage";
    o.clock = &clock_;
    pvc_ = std::make_unique<PersistentVolumeController>(fake_, informers_, o);
    ASSERT_TRUE(informers_.Start().ok());
    ASSERT_TRUE(informers_.WaitForSync(std::chrono::seconds(10)));
    ASSERT_TRUE(pvc_->Start().ok());
  }
  void TearDown() override {
    pvc_->Stop();
    informers_.Stop();
  }
  void Node(const std::string& name) {
    Json n = {
        {"apiVersion", "v1"},
        {"kind", "Node"},
        {"metadata",
         {{"name", name}, {"labels", {{"kubernetes.io/hostname", name}}}}}};
    ASSERT_TRUE(fake_.Create(kNodes, n, {}).ok());
  }
  void LocalPathClass(bool is_default) {
    Json sc = {{"apiVersion", "storage.k8s.io/v1"},
               {"kind", "StorageClass"},
               {"metadata", {{"name", "local-path"}}},
               {"provisioner", "kite.io/local-path"},
               {"reclaimPolicy", "Delete"},
               {"volumeBindingMode", "WaitForFirstConsumer"}};
    if (is_default)
      sc["metadata"]["annotations"] = {
          {"storageclass.kubernetes.io/is-default-class", "true"}};
    ASSERT_TRUE(fake_.Create(kClasses, sc, {}).ok());
  }
  void Volume(const std::string& name, const std::string& size,
              const std::string& cls, const std::string& policy = "Retain",
              const std::string& node = "") {
    Json pv = {{"apiVersion", "v1"},
               {"kind", "PersistentVolume"},
               {"metadata", {{"name", name}}},
               {"spec",
                {{"capacity", {{"storage", size}}},
                 {"accessModes", {"ReadWriteOnce"}},
                 {"persistentVolumeReclaimPolicy", policy},
                 {"storageClassName", cls},
                 {"hostPath", {{"path", "/srv/" + name}}}}},
               {"status", {{"phase", "Pending"}}}};
    if (!node.empty()) {
      pv["spec"]["nodeAffinity"] = {{"required",
                                     {{"nodeSelectorTerms",
                                       {{{"matchExpressions",
                                          {{{"key", "kubernetes.io/hostname"},
                                            {"operator", "In"},
                                            {"values", {node}}}}}}}}}}};
    }
    ASSERT_TRUE(fake_.Create(kVolumes, pv, {}).ok());
  }
  Json Claim(const std::string& name, const std::string& size, const Json& cls,
             const std::string& node = "") {
    Json c = {{"apiVersion", "v1"},
              {"kind", "PersistentVolumeClaim"},
              {"metadata", {{"name", name}, {"namespace", "demo"}}},
              {"spec",
               {{"accessModes", {"ReadWriteOnce"}},
                {"volumeMode", "Filesystem"},
                {"resources", {{"requests", {{"storage", size}}}}}}},
              {"status", {{"phase", "Pending"}}}};
    if (!cls.is_null()) c["spec"]["storageClassName"] = cls;
    if (!node.empty())
      c["metadata"]["annotations"] = {
          {"volume.kubernetes.io/selected-node", node}};
    auto r = fake_.Create(kClaims.In("demo"), c, {});
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : Json();
  }
  Json GetClaim(const std::string& name) {
    auto r = fake_.Get(kClaims.In("demo"), name, {});
    return r.ok() ? *r : Json();
  }
  Json GetVolume(const std::string& name) {
    auto r = fake_.Get(kVolumes, name, {});
    return r.ok() ? *r : Json();
  }
  bool ClaimBoundTo(const std::string& claim, const std::string& pv) {
    Json c = GetClaim(claim);
    Json v = GetVolume(pv);
    return api::GetString(c, {"status", "phase"}) == "Bound" &&
           api::GetString(c, {"spec", "volumeName"}) == pv &&
           api::GetString(v, {"status", "phase"}) == "Bound" &&
           api::GetString(v, {"spec", "claimRef", "uid"}) ==
               api::GetString(c, {"metadata", "uid"});
  }

  FakeClock clock_;
  FakeClient fake_{clock_};
  client::SharedInformerFactory informers_{fake_};
  std::unique_ptr<PersistentVolumeController> pvc_;
};

TEST_F(PersistentVolumeControllerTest, BindsTheSmallestMatchingVolume) {
  Volume("pv-5g", "5Gi", "manual");
  Volume("pv-1g", "1Gi", "manual");
  Volume("pv-other-class", "1Gi", "fast");
  Claim("small", "500Mi", "manual");
  ASSERT_TRUE(Eventually([&] { return ClaimBoundTo("small", "pv-1g"); }));
  Json c = GetClaim("small");
  EXPECT_EQ(api::GetString(c, {"status", "capacity", "storage"}), "1Gi");
  EXPECT_EQ(c["status"]["accessModes"], Json::array({"ReadWriteOnce"}));
  EXPECT_EQ(api::GetString(c, {"metadata", "annotations",
                               "pv.kubernetes.io/bind-completed"}),
            "yes");
  Claim("big", "2Gi", "manual");
  ASSERT_TRUE(Eventually([&] { return ClaimBoundTo("big", "pv-5g"); }));
  Claim("none-left", "1Gi", "manual");
  ASSERT_TRUE(Eventually([&] {
    return CountEvents(fake_, "demo", "none-left", "FailedBinding") == 1;
  }));
  EXPECT_EQ(api::GetString(GetClaim("none-left"), {"status", "phase"}),
            "Pending");
  EXPECT_EQ(api::GetString(GetVolume("pv-other-class"), {"status", "phase"}),
            "Available");
  // A volume added later is taken by the waiting claim.
  Volume("pv-late", "1Gi", "manual");
  ASSERT_TRUE(Eventually([&] { return ClaimBoundTo("none-left", "pv-late"); }));
}

TEST_F(PersistentVolumeControllerTest, RetainedVolumeIsReleasedWithItsClaim) {
  Volume("pv-keep", "1Gi", "manual", "Retain");
  Claim("data", "1Gi", "manual");
  ASSERT_TRUE(Eventually([&] { return ClaimBoundTo("data", "pv-keep"); }));
  ASSERT_TRUE(fake_.Delete(kClaims.In("demo"), "data", {}).ok());
  ASSERT_TRUE(Eventually([&] {
    return api::GetString(GetVolume("pv-keep"), {"status", "phase"}) ==
           "Released";
  }));
  // A new claim of the same name does not get the released volume back.
  Claim("data", "1Gi", "manual");
  ASSERT_TRUE(Eventually([&] {
    return CountEvents(fake_, "demo", "data", "FailedBinding") >= 1;
  }));
  EXPECT_EQ(api::GetString(GetClaim("data"), {"status", "phase"}), "Pending");
}

TEST_F(PersistentVolumeControllerTest,
       DefaultClassIsSetAndWaitsForTheFirstConsumer) {
  LocalPathClass(true);
  ASSERT_TRUE(Eventually([&] { return informers_.For(kClasses).Size() == 1; }));
  Claim("data", "1Gi", nullptr);
  ASSERT_TRUE(Eventually([&] {
    return api::GetString(GetClaim("data"), {"spec", "storageClassName"}) ==
           "local-path";
  }));
  ASSERT_TRUE(Eventually([&] {
    return CountEvents(fake_, "demo", "data", "WaitForFirstConsumer") == 1;
  }));
  auto pvs = fake_.List(kVolumes, {});
  ASSERT_TRUE(pvs.ok());
  EXPECT_TRUE((*pvs)["items"].empty());
  // An explicit "" means no class: it is left alone.
  Claim("classless", "1Gi", "");
  ASSERT_TRUE(Eventually([&] {
    return CountEvents(fake_, "demo", "classless", "FailedBinding") == 1;
  }));
  EXPECT_EQ(api::GetString(GetClaim("classless"), {"spec", "storageClassName"}),
            "");
}

TEST_F(PersistentVolumeControllerTest,
       LocalPathProvisionsOnTheSelectedNodeAndDeletesOnRelease) {
  Node("n1");
  LocalPathClass(true);
  Json c = Claim("data", "2Gi", "local-path", "n1");
  std::string pv = "pvc-" + api::GetString(c, {"metadata", "uid"});
  ASSERT_TRUE(Eventually([&] { return ClaimBoundTo("data", pv); }));
  Json v = GetVolume(pv);
  EXPECT_EQ(api::GetString(v, {"spec", "hostPath", "path"}),
            "/var/lib/kite/storage/" + pv + "_demo_data");
  EXPECT_EQ(api::GetString(v, {"spec", "hostPath", "type"}),
            "DirectoryOrCreate");
  EXPECT_EQ(api::GetString(v, {"spec", "persistentVolumeReclaimPolicy"}),
            "Delete");
  EXPECT_EQ(api::GetString(v, {"spec", "capacity", "storage"}), "2Gi");
  EXPECT_EQ(api::GetString(v, {"spec", "storageClassName"}), "local-path");
  EXPECT_EQ(
      api::GetString(v, {"metadata", "labels", "kite.io/local-path-node"}),
      "n1");
  Json n1 = {
      {"metadata",
       {{"name", "n1"}, {"labels", {{"kubernetes.io/hostname", "n1"}}}}}};
  Json n2 = {
      {"metadata",
       {{"name", "n2"}, {"labels", {{"kubernetes.io/hostname", "n2"}}}}}};
  const Json* affinity =
      api::FieldPath(v, {"spec", "nodeAffinity", "required"});
  ASSERT_NE(affinity, nullptr);
  EXPECT_TRUE(NodeSelectorAdmits(affinity, n1));
  EXPECT_FALSE(NodeSelectorAdmits(affinity, n2));
  EXPECT_EQ(CountEvents(fake_, "demo", "data", "ProvisioningSucceeded"), 1);

  ASSERT_TRUE(fake_.Delete(kClaims.In("demo"), "data", {}).ok());
  ASSERT_TRUE(Eventually([&] { return !fake_.Get(kVolumes, pv, {}).ok(); }));
}

TEST_F(PersistentVolumeControllerTest,
       WaitForFirstConsumerTakesOnlyVolumesOnTheSelectedNode) {
  Node("n1");
  Node("n2");
  LocalPathClass(false);
  Volume("pv-on-n2", "1Gi", "local-path", "Retain", "n2");
  ASSERT_TRUE(Eventually([&] {
    return api::GetString(GetVolume("pv-on-n2"), {"status", "phase"}) ==
           "Available";
  }));
  // Selected n1: the n2 volume does not fit, one is provisioned.
  Json a = Claim("on-n1", "1Gi", "local-path", "n1");
  std::string pv = "pvc-" + api::GetString(a, {"metadata", "uid"});
  ASSERT_TRUE(Eventually([&] { return ClaimBoundTo("on-n1", pv); }));
  // Selected n2: the existing volume is taken.
  Claim("on-n2", "1Gi", "local-path", "n2");
  ASSERT_TRUE(Eventually([&] { return ClaimBoundTo("on-n2", "pv-on-n2"); }));
}

TEST_F(PersistentVolumeControllerTest, BoundClaimWhoseVolumeGoesIsLost) {
  Volume("pv-a", "1Gi", "manual");
  Claim("data", "1Gi", "manual");
  ASSERT_TRUE(Eventually([&] { return ClaimBoundTo("data", "pv-a"); }));
  ASSERT_TRUE(fake_.Delete(kVolumes, "pv-a", {}).ok());
  ASSERT_TRUE(Eventually([&] {
    return api::GetString(GetClaim("data"), {"status", "phase"}) == "Lost";
  }));
  EXPECT_EQ(CountEvents(fake_, "demo", "data", "ClaimLost"), 1);
}

TEST_F(PersistentVolumeControllerTest, ClaimInUseStaysUntilItsPodsAreDone) {
  Volume("pv-a", "1Gi", "manual", "Retain");
  Claim("data", "1Gi", "manual");
  ASSERT_TRUE(Eventually([&] { return ClaimBoundTo("data", "pv-a"); }));
  EXPECT_EQ(GetClaim("data")["metadata"]["finalizers"],
            Json::array({"kubernetes.io/pvc-protection"}));
  const ResourceRef pods{"", "v1", "pods", ""};
  Json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", "user"}, {"namespace", "demo"}}},
              {"spec",
               {{"volumes",
                 {{{"name", "d"},
                   {"persistentVolumeClaim", {{"claimName", "data"}}}}}}}},
              {"status", {{"phase", "Running"}}}};
  ASSERT_TRUE(fake_.Create(pods.In("demo"), pod, {}).ok());
  ASSERT_TRUE(fake_.Delete(kClaims.In("demo"), "data", {}).ok());
  ASSERT_TRUE(Eventually([&] {
    return api::Has(GetClaim("data"), {"metadata", "deletionTimestamp"});
  }));
  ASSERT_TRUE(pvc_->Sync("claim:demo/data").ok());
  EXPECT_TRUE(fake_.Get(kClaims.In("demo"), "data", {}).ok());
  EXPECT_EQ(api::GetString(GetVolume("pv-a"), {"status", "phase"}), "Bound");
  // The pod finishes: the claim goes and its volume is released.
  auto cur = fake_.Get(pods.In("demo"), "user", {});
  ASSERT_TRUE(cur.ok());
  Json done = *cur;
  done["status"]["phase"] = "Succeeded";
  ASSERT_TRUE(
      fake_.Update(pods.In("demo"), done, {.subresource = "status"}).ok());
  ASSERT_TRUE(Eventually(
      [&] { return !fake_.Get(kClaims.In("demo"), "data", {}).ok(); }));
  ASSERT_TRUE(Eventually([&] {
    return api::GetString(GetVolume("pv-a"), {"status", "phase"}) ==
           "Released";
  }));
}

TEST(NodeSelectorAdmitsTest, TermsAreOredRequirementsAnded) {
  Json node = {{"metadata",
                {{"name", "n1"},
                 {"labels", {{"zone", "a"}, {"disk", "ssd"}, {"gen", "5"}}}}}};
  EXPECT_TRUE(NodeSelectorAdmits(nullptr, node));
  auto admits = [&](Json terms) {
    Json s = {{"nodeSelectorTerms", terms}};
    return NodeSelectorAdmits(&s, node);
  };
  Json in_a = {{"key", "zone"}, {"operator", "In"}, {"values", {"a"}}};
  Json in_b = {{"key", "zone"}, {"operator", "In"}, {"values", {"b"}}};
  Json no_hdd = {{"key", "disk"}, {"operator", "NotIn"}, {"values", {"hdd"}}};
  Json gt4 = {{"key", "gen"}, {"operator", "Gt"}, {"values", {"4"}}};
  Json name_n2 = {
      {"key", "metadata.name"}, {"operator", "In"}, {"values", {"n2"}}};
  EXPECT_TRUE(
      admits(Json::array({{{"matchExpressions", {in_a, no_hdd, gt4}}}})));
  EXPECT_FALSE(admits(Json::array({{{"matchExpressions", {in_a, in_b}}}})));
  EXPECT_TRUE(admits(Json::array(
      {{{"matchExpressions", {in_b}}}, {{"matchExpressions", {in_a}}}})));
  EXPECT_FALSE(admits(Json::array({{{"matchFields", {name_n2}}}})));
  EXPECT_FALSE(admits(Json::array({Json::object()})));
}

}  // namespace
}  // namespace kite::controllers

#include "server/controllers/manifest_deployer.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "client/fake_client.h"

namespace kite::controllers {
namespace {

using client::Json;

const client::ResourceRef kConfigMaps{"", "v1", "configmaps", ""};
const client::ResourceRef kNamespaces{"", "v1", "namespaces", ""};
const client::ResourceRef kClusterRoles{"rbac.authorization.k8s.io", "v1",
                                        "clusterroles", ""};

// Files in memory; List() returns them, WaitForChange() is never used by
// Sync().
class MemorySource : public ManifestSource {
 public:
  StatusOr<std::vector<ManifestFile>> List() override {
    if (!list_error_.ok()) return list_error_;
    std::vector<ManifestFile> out;
    for (const auto& [name, content] : files) out.push_back({name, content});
    return out;
  }
  bool WaitForChange(std::chrono::milliseconds) override { return false; }
  void Interrupt() override {}

  std::map<std::string, std::string> files;
  Status list_error_ = Status::Ok();
};

class ManifestDeployerTest : public ::testing::Test {
 protected:
  std::unique_ptr<ManifestDeployer> NewDeployer(
      std::vector<std::string> disabled = {}) {
    ManifestDeployerOptions o;
    o.disabled = std::move(disabled);
    o.min_retry = std::chrono::milliseconds(0);
    return std::make_unique<ManifestDeployer>(client_, registry_, source_, o);
  }
  bool Exists(const client::ResourceRef& ref, const std::string& ns,
              const std::string& name) {
    return client_.Get(ref.In(ns), name, {}).ok();
  }
  int Count(const std::string& verb) {
    int n = 0;
    for (const auto& a : client_.Actions()) n += a.verb == verb;
    return n;
  }

  api::Registry registry_;
  client::FakeClient client_;
  MemorySource source_;
};

constexpr char kTwoObjects[] = R"(# a comment
apiVersion: v1
kind: ConfigMap
metadata:
  name: one
  namespace: apps
data: {a: "1"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: two}
data: {b: "2"}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: reader, namespace: ignored}
rules: []
)";

TEST_F(ManifestDeployerTest, AppliesEveryObjectStampedWithItsFile) {
  source_.files["app.yaml"] = kTwoObjects;
  auto d = NewDeployer();
  ASSERT_TRUE(d->Sync().ok());

  auto one = client_.Get(kConfigMaps.In("apps"), "one", {});
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_EQ((*one)["data"]["a"], "1");
  EXPECT_EQ((*one)["metadata"]["labels"]["kite.io/manifest"], "app.yaml");
  EXPECT_EQ((*one)["metadata"]["annotations"]["kite.io/manifest-file"],
            "app.yaml");
  EXPECT_EQ((*one)["metadata"]["managedFields"][0]["manager"],
            "kite-deployer");
  // No namespace: "default", as kubectl apply does.
  EXPECT_TRUE(Exists(kConfigMaps, "default", "two"));
  auto role = client_.Get(kClusterRoles, "reader", {});
  ASSERT_TRUE(role.ok());
  EXPECT_FALSE((*role)["metadata"].contains("namespace"));
}

TEST_F(ManifestDeployerTest, UnchangedFilesAreNotAppliedAgain) {
  source_.files["app.yaml"] = kTwoObjects;
  auto d = NewDeployer();
  ASSERT_TRUE(d->Sync().ok());
  client_.ClearActions();
  int64_t rv = client_.ResourceVersion();
  ASSERT_TRUE(d->Sync().ok());
  EXPECT_TRUE(client_.Actions().empty());
  EXPECT_EQ(client_.ResourceVersion(), rv);
}

TEST_F(ManifestDeployerTest, ChangedFileIsReappliedAndDroppedObjectDeleted) {
  source_.files["app.yaml"] = kTwoObjects;
  auto d = NewDeployer();
  ASSERT_TRUE(d->Sync().ok());
  source_.files["app.yaml"] = R"(apiVersion: v1
kind: ConfigMap
metadata: {name: one, namespace: apps}
data: {a: "changed"}
)";
  ASSERT_TRUE(d->Sync().ok());
  auto one = client_.Get(kConfigMaps.In("apps"), "one", {});
  ASSERT_TRUE(one.ok());
  EXPECT_EQ((*one)["data"]["a"], "changed");
  EXPECT_FALSE(Exists(kConfigMaps, "default", "two"));
  EXPECT_FALSE(client_.Get(kClusterRoles, "reader", {}).ok());
}

TEST_F(ManifestDeployerTest, RemovedFileDeletesOnlyItsObjects) {
  source_.files["app.yaml"] = kTwoObjects;
  source_.files["other.yml"] =
      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other}\n";
  ASSERT_TRUE(client_
                  .Create(kConfigMaps.In("default"),
                          Json::parse(R"({"metadata":{"name":"users"}})"), {})
                  .ok());
  auto d = NewDeployer();
  ASSERT_TRUE(d->Sync().ok());
  source_.files.erase("app.yaml");
  ASSERT_TRUE(d->Sync().ok());
  EXPECT_FALSE(Exists(kConfigMaps, "apps", "one"));
  EXPECT_FALSE(Exists(kConfigMaps, "default", "two"));
  EXPECT_TRUE(Exists(kConfigMaps, "default", "other"));
  EXPECT_TRUE(Exists(kConfigMaps, "default", "users"));  // not ours
}

TEST_F(ManifestDeployerTest, FileRemovedWhileStoppedIsCleanedUpAtStart) {
  source_.files["app.yaml"] = kTwoObjects;
  NewDeployer()->Sync().IgnoreError();
  ASSERT_TRUE(Exists(kConfigMaps, "apps", "one"));
  source_.files.erase("app.yaml");
  auto restarted = NewDeployer();
  ASSERT_TRUE(restarted->Sync().ok());
  EXPECT_FALSE(Exists(kConfigMaps, "apps", "one"));
  EXPECT_FALSE(client_.Get(kClusterRoles, "reader", {}).ok());
}

TEST_F(ManifestDeployerTest, DisabledFileIsSkippedAndItsObjectsRemoved) {
  source_.files["app.yaml"] = kTwoObjects;
  NewDeployer()->Sync().IgnoreError();
  auto d = NewDeployer({"app"});
  ASSERT_TRUE(d->Sync().ok());
  EXPECT_FALSE(Exists(kConfigMaps, "apps", "one"));
  EXPECT_EQ(Count("patch"), 3);  // only the first deployer's applies
}

TEST_F(ManifestDeployerTest, BrokenFileKeepsItsObjectsUntilFixed) {
  source_.files["app.yaml"] = kTwoObjects;
  auto d = NewDeployer();
  ASSERT_TRUE(d->Sync().ok());
  source_.files["app.yaml"] = "apiVersion: v1\nkind: [unterminated\n";
  Status st = d->Sync();
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("app.yaml"), std::string::npos);
  EXPECT_TRUE(Exists(kConfigMaps, "apps", "one"));
  EXPECT_TRUE(Exists(kConfigMaps, "default", "two"));
  // Missing names are refused the same way.
  source_.files["app.yaml"] = "apiVersion: v1\nkind: ConfigMap\n";
  EXPECT_EQ(d->Sync().code(), Code::kInvalidArgument);
  EXPECT_TRUE(Exists(kConfigMaps, "apps", "one"));
}

TEST_F(ManifestDeployerTest, ReadErrorDeletesNothing) {
  source_.files["app.yaml"] = kTwoObjects;
  auto d = NewDeployer();
  ASSERT_TRUE(d->Sync().ok());
  source_.list_error_ = UnavailableError("disk gone");
  EXPECT_FALSE(d->Sync().ok());
  EXPECT_TRUE(Exists(kConfigMaps, "apps", "one"));
}

TEST_F(ManifestDeployerTest, FailedApplyIsRetriedAndItsObjectKept) {
  source_.files["app.yaml"] = kTwoObjects;
  auto d = NewDeployer();
  ASSERT_TRUE(d->Sync().ok());
  source_.files["app.yaml"] = std::string(kTwoObjects) + "# edited\n";
  client_.InjectError("patch", "configmaps", UnavailableError("busy"), 1);
  EXPECT_EQ(d->Sync().code(), Code::kUnavailable);
  EXPECT_TRUE(Exists(kConfigMaps, "apps", "one"));  // not pruned
  client_.ClearActions();
  ASSERT_TRUE(d->Sync().ok());  // min_retry 0: due at once
  EXPECT_EQ(Count("patch"), 3);
  client_.ClearActions();
  ASSERT_TRUE(d->Sync().ok());
  EXPECT_EQ(Count("patch"), 0);
}

TEST_F(ManifestDeployerTest, JsonFilesListsAndNamespacesFirst) {
  source_.files["list.json"] = R"({"apiVersion":"v1","kind":"List","items":[
    {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"made"}},
    {"apiVersion":"v1","kind":"Namespace","metadata":{"name":"made"}}]})";
  auto d = NewDeployer();
  ASSERT_TRUE(d->Sync().ok());
  auto actions = client_.Actions();
  ASSERT_GE(actions.size(), 2u);
  EXPECT_EQ(actions[0].ref.resource, "namespaces");
  EXPECT_TRUE(Exists(kNamespaces, "", "made"));
  EXPECT_TRUE(Exists(kConfigMaps, "made", "a"));
}

TEST_F(ManifestDeployerTest, UnknownKindIsAnErrorForThatObjectOnly) {
  source_.files["x.yaml"] = R"(apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c}
)";
  auto d = NewDeployer();
  Status st = d->Sync();
  EXPECT_EQ(st.code(), Code::kNotFound);
  EXPECT_NE(st.message().find("Widget"), std::string::npos);
  EXPECT_TRUE(Exists(kConfigMaps, "default", "c"));
}

TEST(ManifestDeployerLabel, FileNamesThatAreNoLabelValuesAreHashed) {
  EXPECT_EQ(ManifestDeployer::LabelValue("rbac.yaml"), "rbac.yaml");
  std::string odd = ManifestDeployer::LabelValue("my file (1).yaml");
  EXPECT_EQ(odd.rfind("h-", 0), 0u);
  EXPECT_EQ(odd.size(), 18u);
  EXPECT_EQ(odd, ManifestDeployer::LabelValue("my file (1).yaml"));
  EXPECT_NE(odd, ManifestDeployer::LabelValue("my file (2).yaml"));
  EXPECT_EQ(ManifestBaseName("kube-dns.yaml"), "kube-dns");
  EXPECT_EQ(ManifestBaseName("a.b.json"), "a.b");
}

TEST(WriteDefaultManifests, WritesMissingOrChangedSkipsAndRemovesDisabled) {
  FakeEnv env;
  std::vector<ManifestFile> defaults = {{"a.yaml", "A\n"}, {"b.yaml", "B\n"},
                                        {"c.yaml", "C\n"}};
  ASSERT_TRUE(env.WriteFileAtomic("/m/b.yaml", "old\n", 0600).ok());
  ASSERT_TRUE(env.WriteFileAtomic("/m/c.yaml", "mine\n", 0600).ok());
  ASSERT_TRUE(env.WriteFileAtomic("/m/c.yaml.skip", "", 0600).ok());
  ASSERT_TRUE(WriteDefaultManifests(env, "/m", defaults, {}).ok());
  EXPECT_EQ(*env.ReadFile("/m/a.yaml"), "A\n");
  EXPECT_EQ(*env.ReadFile("/m/b.yaml"), "B\n");
  EXPECT_EQ(*env.ReadFile("/m/c.yaml"), "mine\n");
  ASSERT_TRUE(WriteDefaultManifests(env, "/m", defaults, {"a"}).ok());
  EXPECT_FALSE(env.Exists("/m/a.yaml"));
  EXPECT_TRUE(env.Exists("/m/b.yaml"));
}

// The real directory source with the deployer's thread: a file written into
// the directory is applied, its removal deletes the object.
TEST(ManifestDirectory, ChangesAreNoticedAndApplied) {
  char tmpl[] = "/tmp/kite-manifests-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = std::string(tmpl) + "/manifests";
  auto source = OpenManifestDirectory(dir);
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  api::Registry registry;
  client::FakeClient client;
  ManifestDeployerOptions o;
  o.settle = std::chrono::milliseconds(10);
  ManifestDeployer d(client, registry, **source, o);
  ASSERT_TRUE(d.Start().ok());
  auto eventually = [](const std::function<bool()>& f) {
    for (int i = 0; i < 1000; ++i) {
      if (f()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  };
  std::ofstream(dir + "/x.yaml")
      << "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n";
  std::ofstream(dir + "/.hidden.yaml")
      << "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: hidden}\n";
  std::ofstream(dir + "/notes.txt")
      << "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: txt}\n";
  EXPECT_TRUE(eventually(
      [&] { return client.Get(kConfigMaps.In("default"), "x", {}).ok(); }));
  std::filesystem::remove(dir + "/x.yaml");
  EXPECT_TRUE(eventually(
      [&] { return !client.Get(kConfigMaps.In("default"), "x", {}).ok(); }));
  d.Stop();
  EXPECT_FALSE(client.Get(kConfigMaps.In("default"), "hidden", {}).ok());
  EXPECT_FALSE(client.Get(kConfigMaps.In("default"), "txt", {}).ok());
  std::filesystem::remove_all(tmpl);
}

}  // namespace
}  // namespace kite::controllers

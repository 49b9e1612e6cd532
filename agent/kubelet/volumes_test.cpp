#include "agent/kubelet/volumes.h"

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "api/object.h"
#include "client/fake_client.h"

namespace kite::kubelet {
namespace {

namespace fs = std::filesystem;
using client::ResourceRef;
using Json = nlohmann::json;

const ResourceRef kConfigMaps{"", "v1", "configmaps", ""};
const ResourceRef kSecrets{"", "v1", "secrets", ""};
const ResourceRef kClaims{"", "v1", "persistentvolumeclaims", ""};
const ResourceRef kVolumes{"", "v1", "persistentvolumes", ""};

// The fake client plus the TokenRequest API (serviceaccounts/<sa>/token),
// which the fake does not serve: it records requests and issues numbered
// tokens.
class TokenClient : public client::Interface {
 public:
  explicit TokenClient(client::FakeClient& f) : f_(f) {}
  StatusOr<Json> Get(const ResourceRef& r, const std::string& n,
                     const client::GetOptions& o) override {
    return f_.Get(r, n, o);
  }
  StatusOr<Json> List(const ResourceRef& r,
                      const client::ListOptions& o) override {
    return f_.List(r, o);
  }
  StatusOr<std::unique_ptr<client::WatchStream>> Watch(
      const ResourceRef& r, const client::WatchOptions& o) override {
    return f_.Watch(r, o);
  }
  StatusOr<Json> Create(const ResourceRef& r, const Json& obj,
                        const client::CreateOptions& o) override {
    if (r.resource == "serviceaccounts" && o.subresource == "token") {
      requests.push_back(obj);
      Json out = obj;
      out["status"] = {{"token", "token-" + std::to_string(++issued)},
                       {"expirationTimestamp", expires}};
      return out;
    }
    return f_.Create(r, obj, o);
  }
  StatusOr<Json> Update(const ResourceRef& r, const Json& obj,
                        const client::UpdateOptions& o) override {
    return f_.Update(r, obj, o);
  }
  StatusOr<Json> Patch(const ResourceRef& r, const std::string& n,
                       client::PatchType t, const std::string& body,
                       const client::PatchOptions& o) override {
    return f_.Patch(r, n, t, body, o);
  }
  StatusOr<Json> Delete(const ResourceRef& r, const std::string& n,
                        const client::DeleteOptions& o) override {
    return f_.Delete(r, n, o);
  }
  StatusOr<Json> DeleteCollection(const ResourceRef& r,
                                  const client::ListOptions& l,
                                  const client::DeleteOptions& o) override {
    return f_.DeleteCollection(r, l, o);
  }
  StatusOr<client::RawResponse> Do(const client::RawRequest& req) override {
    return f_.Do(req);
  }

  std::vector<Json> requests;
  int issued = 0;
  std::string expires;

 private:
  client::FakeClient& f_;
};

std::string Read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int Mode(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return -1;
  return st.st_mode & 07777;
}

class VolumesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kite-volumes-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    tokens_.expires = api::FormatTime(clock_.Now() + std::chrono::hours(1));
    VolumeOptions o;
    o.data_dir = dir_ + "/data";
    o.host_ips = {"192.168.1.5"};
    o.node_allocatable = [] { return Json{{"cpu", "4"}, {"memory", "8Gi"}}; };
    o.mount_tmpfs = ::geteuid() == 0;
    o.clock = &clock_;
    volumes_ = std::make_unique<Volumes>(tokens_, o);
  }
  void TearDown() override {
    if (volumes_) volumes_->TearDown("uid-1").IgnoreError();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  Json Pod(const Json& volumes, const Json& mounts) {
    return {{"metadata",
             {{"name", "app"},
              {"namespace", "demo"},
              {"uid", "uid-1"},
              {"labels", {{"tier", "front"}, {"app", "web"}}}}},
            {"spec",
             {{"nodeName", "n1"},
              {"serviceAccountName", "robot"},
              {"volumes", volumes},
              {"containers",
               {{{"name", "main"},
                 {"resources", {{"limits", {{"memory", "256Mi"}}}}},
                 {"volumeMounts", mounts}}}}}}};
  }
  std::string VolDir(const std::string& kind, const std::string& name) {
    return dir_ + "/data/agent/pods/uid-1/volumes/kubernetes.io~" + kind + "/" +
           name;
  }

  FakeClock clock_;
  client::FakeClient fake_{clock_};
  TokenClient tokens_{fake_};
  std::string dir_;
  std::unique_ptr<Volumes> volumes_;
};

TEST_F(VolumesTest, EmptyDirHostPathSubPathAndReadOnly) {
  std::string host = dir_ + "/host";
  ASSERT_TRUE(fs::create_directories(host + "/inside"));
  ASSERT_EQ(::symlink("/etc", (host + "/escape").c_str()), 0);
  Json vols = {
      {{"name", "cache"}, {"emptyDir", Json::object()}},
      {{"name", "mem"},
       {"emptyDir", {{"medium", "Memory"}, {"sizeLimit", "16Mi"}}}},
      {{"name", "host"}, {"hostPath", {{"path", host}, {"type", "Directory"}}}},
      {{"name", "made"},
       {"hostPath",
        {{"path", dir_ + "/made/deep"}, {"type", "DirectoryOrCreate"}}}}};
  Json mounts = {{{"name", "cache"}, {"mountPath", "/cache"}},
                 {{"name", "cache"}, {"mountPath", "/sub"}, {"subPath", "a/b"}},
                 {{"name", "mem"}, {"mountPath", "/mem"}},
                 {{"name", "host"},
                  {"mountPath", "/host"},
                  {"readOnly", true},
                  {"mountPropagation", "HostToContainer"}},
                 {{"name", "made"}, {"mountPath", "/made"}}};
  auto r = volumes_->Setup(Pod(vols, mounts));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto& m = r->at("main");
  ASSERT_EQ(m.size(), 5u);
  EXPECT_EQ(m[0].container_path, "/cache");
  EXPECT_EQ(m[0].host_path, VolDir("empty-dir", "cache"));
  EXPECT_EQ(Mode(m[0].host_path), 0777);
  EXPECT_FALSE(m[0].readonly);
  EXPECT_EQ(m[1].host_path, VolDir("empty-dir", "cache") + "/a/b");
  EXPECT_TRUE(fs::is_directory(m[1].host_path));
  EXPECT_EQ(m[3].host_path, host);
  EXPECT_TRUE(m[3].readonly);
  EXPECT_EQ(m[3].propagation, cri::MountPropagation::kHostToContainer);
  EXPECT_TRUE(fs::is_directory(dir_ + "/made/deep"));
  if (::geteuid() == 0) {
    // medium Memory is a tmpfs of the asked size.
    struct stat a {
    }, b{};
    ASSERT_EQ(::stat(m[2].host_path.c_str(), &a), 0);
    ASSERT_EQ(::stat(fs::path(m[2].host_path).parent_path().c_str(), &b), 0);
    EXPECT_NE(a.st_dev, b.st_dev);
  }
  // Setup is idempotent (called on every sync until containers start).
  ASSERT_TRUE(volumes_->Setup(Pod(vols, mounts)).ok());

  // A subPath may not leave its volume through a symlink, nor use "..".
  Json bad = {{{"name", "host"}, {"mountPath", "/x"}, {"subPath", "escape"}}};
  auto esc = volumes_->Setup(Pod(vols, bad));
  EXPECT_EQ(esc.status().code(), Code::kInvalidArgument);
  bad = {{{"name", "host"}, {"mountPath", "/x"}, {"subPath", "../x"}}};
  EXPECT_EQ(volumes_->Setup(Pod(vols, bad)).status().code(),
            Code::kInvalidArgument);

  // TearDown unmounts and removes the pod's directory, not hostPath data.
  ASSERT_TRUE(volumes_->TearDown("uid-1").ok());
  EXPECT_FALSE(fs::exists(dir_ + "/data/agent/pods/uid-1"));
  EXPECT_TRUE(fs::exists(host + "/inside"));
  EXPECT_TRUE(volumes_->TearDown("uid-1").ok());  // nothing left: OK
}

TEST_F(VolumesTest, HostPathTypesAreChecked) {
  std::string file = dir_ + "/file";
  std::ofstream(file) << "x";
  std::string sock = dir_ + "/sock";
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", sock.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  auto check = [&](const std::string& path, const std::string& type) {
    Json vols = {
        {{"name", "h"}, {"hostPath", {{"path", path}, {"type", type}}}}};
    return volumes_->Setup(Pod(vols, Json::array())).status();
  };
  EXPECT_TRUE(check(file, "File").ok());
  EXPECT_TRUE(check(sock, "Socket").ok());
  EXPECT_TRUE(check(dir_, "Directory").ok());
  Status s = check(file, "Directory");
  EXPECT_EQ(s.message(),
            "hostPath type check failed: " + file + " is not a directory");
  EXPECT_EQ(check(dir_, "File").message(),
            "hostPath type check failed: " + dir_ + " is not a file");
  EXPECT_EQ(check(file, "Socket").message(),
            "hostPath type check failed: " + file + " is not a socket file");
  EXPECT_FALSE(check(dir_ + "/absent", "File").ok());
  EXPECT_TRUE(check(dir_ + "/new-file", "FileOrCreate").ok());
  EXPECT_TRUE(fs::is_regular_file(dir_ + "/new-file"));
  EXPECT_FALSE(check(file, "DirectoryOrCreate").ok());
  EXPECT_FALSE(check("/dev/null", "BlockDevice").ok());
  EXPECT_TRUE(check("/dev/null", "CharDevice").ok());
  ::close(fd);
}

TEST_F(VolumesTest, ConfigMapsAreWrittenAtomicallyAndRefreshed) {
  Json cm = {{"metadata", {{"name", "cfg"}, {"namespace", "demo"}}},
             {"data", {{"app.conf", "v1"}, {"other", "o"}}},
             {"binaryData", {{"blob", "AAE="}}}};
  ASSERT_TRUE(fake_.Create(kConfigMaps, cm, {}).ok());
  Json vols = {
      {{"name", "all"}, {"configMap", {{"name", "cfg"}}}},
      {{"name", "some"},
       {"configMap",
        {{"name", "cfg"},
         {"defaultMode", 0600},
         {"items",
          {{{"key", "app.conf"}, {"path", "conf/app.conf"}, {"mode", 0640}},
           {{"key", "other"}, {"path", "other.txt"}}}}}}},
      {{"name", "opt"},
       {"configMap", {{"name", "absent"}, {"optional", true}}}}};
  Json mounts = {{{"name", "all"}, {"mountPath", "/etc/all"}},
                 {{"name", "some"}, {"mountPath", "/etc/some"}}};
  auto r = volumes_->Setup(Pod(vols, mounts));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->at("main")[0].readonly);
  fs::path all = VolDir("configmap", "all");
  EXPECT_EQ(Read(all / "app.conf"), "v1");
  EXPECT_EQ(Read(all / "blob"), std::string("\0\1", 2));
  EXPECT_TRUE(fs::is_symlink(all / "app.conf"));
  EXPECT_EQ(fs::read_symlink(all / "app.conf"), "..data/app.conf");
  EXPECT_EQ(Mode(all / "app.conf"), 0644);
  fs::path some = VolDir("configmap", "some");
  EXPECT_EQ(Read(some / "conf/app.conf"), "v1");
  EXPECT_EQ(Mode(some / "conf/app.conf"), 0640);
  EXPECT_EQ(Mode(some / "other.txt"), 0600);
  EXPECT_FALSE(fs::exists(some / "blob"));
  EXPECT_TRUE(fs::is_directory(VolDir("configmap", "opt")));

  // An update: ..data moves to a new directory, the old one goes.
  fs::path before = fs::read_symlink(all / "..data");
  EXPECT_EQ(volumes_->Refresh(), 0);  // nothing changed yet
  cm["data"] = {{"app.conf", "v2"}, {"other", "o"}};
  cm.erase("binaryData");
  ASSERT_TRUE(fake_.Update(kConfigMaps.In("demo"), cm, {}).ok());
  EXPECT_EQ(volumes_->Refresh(), 2);
  EXPECT_EQ(Read(all / "app.conf"), "v2");
  EXPECT_NE(fs::read_symlink(all / "..data"), before);
  EXPECT_FALSE(fs::exists(all / before));
  EXPECT_FALSE(fs::exists(all / "blob"));  // gone with its key
  EXPECT_EQ(Read(some / "conf/app.conf"), "v2");
  int dirs = 0;
  for (const auto& e : fs::directory_iterator(all))
    if (e.path().filename().string().rfind("..2", 0) == 0) ++dirs;
  EXPECT_EQ(dirs, 1);
}

TEST_F(VolumesTest, SecretsAndMissingSources) {
  Json sec = {{"metadata", {{"name", "creds"}, {"namespace", "demo"}}},
              {"data", {{"password", "czNjcmV0"}}}};
  ASSERT_TRUE(fake_.Create(kSecrets, sec, {}).ok());
  Json vols = {{{"name", "s"},
                {"secret", {{"secretName", "creds"}, {"defaultMode", 0400}}}}};
  auto r = volumes_->Setup(Pod(vols, Json::array()));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Read(VolDir("secret", "s") + "/password"), "s3cret");
  EXPECT_EQ(Mode(VolDir("secret", "s") + "/password"), 0400);

  Json missing = {{{"name", "s"}, {"secret", {{"secretName", "nope"}}}}};
  Status s = volumes_->Setup(Pod(missing, Json::array())).status();
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_EQ(s.message(), "secret \"nope\" not found");
  Json key = {
      {{"name", "c"},
       {"configMap",
        {{"name", "cfg"}, {"items", {{{"key", "k"}, {"path", "k"}}}}}}}};
  ASSERT_TRUE(
      fake_
          .Create(kConfigMaps,
                  {{"metadata", {{"name", "cfg"}, {"namespace", "demo"}}},
                   {"data", {{"x", "1"}}}},
                  {})
          .ok());
  s = volumes_->Setup(Pod(key, Json::array())).status();
  EXPECT_EQ(s.message(), "configmap references non-existent config key: k");
  Json unsupported = {{{"name", "n"}, {"nfs", {{"server", "x"}}}}};
  EXPECT_EQ(volumes_->Setup(Pod(unsupported, Json::array())).status().code(),
            Code::kInvalidArgument);
}

TEST_F(VolumesTest, DownwardApiAndProjectedTokenWithRenewal) {
  ASSERT_TRUE(
      fake_
          .Create(kConfigMaps,
                  {{"metadata",
                    {{"name", "kube-root-ca.crt"}, {"namespace", "demo"}}},
                   {"data", {{"ca.crt", "PEM"}}}},
                  {})
          .ok());
  Json vols = {
      {{"name", "info"},
       {"downwardAPI",
        {{"items",
          {{{"path", "labels"},
            {"fieldRef", {{"fieldPath", "metadata.labels"}}}},
           {{"path", "name"}, {"fieldRef", {{"fieldPath", "metadata.name"}}}},
           {{"path", "mem"},
            {"resourceFieldRef",
             {{"containerName", "main"},
              {"resource", "limits.memory"},
              {"divisor", "1Mi"}}}}}}}}},
      {{"name", "kube-api-access"},
       {"projected",
        {{"defaultMode", 0644},
         {"sources",
          {{{"serviceAccountToken",
             {{"path", "token"},
              {"audience", "vault"},
              {"expirationSeconds", 3600}}}},
           {{"configMap",
             {{"name", "kube-root-ca.crt"},
              {"items", {{{"key", "ca.crt"}, {"path", "ca.crt"}}}}}}},
           {{"downwardAPI",
             {{"items",
               {{{"path", "namespace"},
                 {"fieldRef",
                  {{"fieldPath", "metadata.namespace"}}}}}}}}}}}}}}};
  auto r = volumes_->Setup(Pod(vols, Json::array()));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Read(VolDir("downward-api", "info") + "/labels"),
            "app=\"web\"\ntier=\"front\"\n");
  EXPECT_EQ(Read(VolDir("downward-api", "info") + "/name"), "app");
  EXPECT_EQ(Read(VolDir("downward-api", "info") + "/mem"), "256");
  fs::path p = VolDir("projected", "kube-api-access");
  EXPECT_EQ(Read(p / "token"), "token-1");
  EXPECT_EQ(Read(p / "ca.crt"), "PEM");
  EXPECT_EQ(Read(p / "namespace"), "demo");
  ASSERT_EQ(tokens_.requests.size(), 1u);
  const Json& req = tokens_.requests[0];
  EXPECT_EQ(api::Name(req), "robot");
  EXPECT_EQ(req["spec"]["audiences"], Json::array({"vault"}));
  EXPECT_EQ(req["spec"]["expirationSeconds"], 3600);
  EXPECT_EQ(req["spec"]["boundObjectRef"]["kind"], "Pod");
  EXPECT_EQ(req["spec"]["boundObjectRef"]["uid"], "uid-1");

  // Before 80% of its life: kept. After: renewed and rewritten.
  clock_.Advance(std::chrono::minutes(40));
  EXPECT_EQ(volumes_->Refresh(), 0);
  EXPECT_EQ(tokens_.requests.size(), 1u);
  clock_.Advance(std::chrono::minutes(9));
  EXPECT_EQ(volumes_->Refresh(), 1);
  EXPECT_EQ(tokens_.requests.size(), 2u);
  EXPECT_EQ(Read(p / "token"), "token-2");
}

TEST_F(VolumesTest, PersistentVolumeClaimsMustBeBound) {
  Json claim = {{"metadata", {{"name", "data"}, {"namespace", "demo"}}},
                {"spec", {{"accessModes", {"ReadWriteOnce"}}}},
                {"status", {{"phase", "Pending"}}}};
  ASSERT_TRUE(fake_.Create(kClaims, claim, {}).ok());
  Json vols = {
      {{"name", "data"}, {"persistentVolumeClaim", {{"claimName", "data"}}}}};
  Json mounts = {{{"name", "data"}, {"mountPath", "/data"}, {"subPath", "db"}}};
  Status s = volumes_->Setup(Pod(vols, mounts)).status();
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_EQ(s.message(), "error processing PVC demo/data: PVC is not bound");

  std::string path = dir_ + "/storage/pvc-1_demo_data";
  Json pv = {{"metadata", {{"name", "pvc-1"}}},
             {"spec",
              {{"hostPath", {{"path", path}, {"type", "DirectoryOrCreate"}}}}}};
  ASSERT_TRUE(fake_.Create(kVolumes, pv, {}).ok());
  auto cur = fake_.Get(kClaims.In("demo"), "data", {});
  ASSERT_TRUE(cur.ok());
  Json bound = *cur;
  bound["spec"]["volumeName"] = "pvc-1";
  auto updated = fake_.Update(kClaims.In("demo"), bound, {});
  ASSERT_TRUE(updated.ok());
  bound = *updated;
  bound["status"]["phase"] = "Bound";
  ASSERT_TRUE(
      fake_.Update(kClaims.In("demo"), bound, {.subresource = "status"}).ok());
  auto r = volumes_->Setup(Pod(vols, mounts));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->at("main")[0].host_path, path + "/db");
  EXPECT_EQ(Mode(path), 0777);
  EXPECT_TRUE(fs::is_directory(path + "/db"));
  // PVC data stays after TearDown.
  ASSERT_TRUE(volumes_->TearDown("uid-1").ok());
  EXPECT_TRUE(fs::is_directory(path + "/db"));
}

}  // namespace
}  // namespace kite::kubelet

// PodSyncer against a real containerd: run by tests/kubelet_containerd_e2e.sh,
// which starts a private containerd inside a network namespace of its own
// (no route out), imports kite's pause and busybox images and runs this
// binary inside that namespace (network only) with
//   KITE_CRI_SOCKET  the containerd socket
//   KITE_TEST_DIR    a temp dir for the agent's data dir
// The API side is client::FakeClient (this tests the kubelet, not the API
// server); the clock is real, so the back-off seen here is kubelet's real
// 10 s. Skipped without KITE_CRI_SOCKET.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "agent/cri/cri_client.h"
#include "agent/kubelet/pod_syncer.h"
#include "api/object.h"
#include "client/fake_client.h"

namespace kite::kubelet {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const client::ResourceRef kPods{"", "v1", "pods", "default"};

class NoVolumes : public VolumeSetup {
 public:
  StatusOr<std::map<std::string, std::vector<cri::Mount>>> Setup(
      const nlohmann::json&) override {
    return std::map<std::string, std::vector<cri::Mount>>{};
  }
  Status TearDown(const std::string&) override { return Status::Ok(); }
};

class ValueEnv : public EnvBuilder {
 public:
  StatusOr<std::vector<cri::KeyValue>> Build(const nlohmann::json&,
                                             const nlohmann::json& c) override {
    std::vector<cri::KeyValue> out;
    if (const Json* env = api::Field(c, "env"); env && env->is_array())
      for (const Json& e : *env)
        out.push_back(
            {api::GetString(e, {"name"}), api::GetString(e, {"value"})});
    return out;
  }
};

class PodSyncerContainerdTest : public testing::Test {
 protected:
  void SetUp() override {
    const char* sock = std::getenv("KITE_CRI_SOCKET");
    const char* dir = std::getenv("KITE_TEST_DIR");
    if (sock == nullptr || dir == nullptr)
      GTEST_SKIP() << "run by tests/kubelet_containerd_e2e.sh";
    dir_ = dir;
    auto rt = cri::ConnectCri(std::string("unix://") + sock);
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    runtime_ = std::move(*rt);
  }
  void TearDown() override { syncer_.reset(); }

  void Start() {
    PodSyncerOptions o;
    o.node_name = "node1";
    o.data_dir = dir_ + "/data";
    o.node_ip = "10.198.0.1";
    syncer_ = std::make_unique<PodSyncer>(api_, *runtime_, RealClock(), o,
                                          volumes_, env_);
    ASSERT_TRUE(syncer_->Start().ok());
  }
  Json Get(const std::string& name) {
    auto r = api_.Get(kPods, name, {});
    return r.ok() ? *r : Json();
  }
  Json Status(const std::string& pod, const std::string& c,
              const char* list = "containerStatuses") {
    Json p = Get(pod);
    if (const Json* cs = api::FieldPath(p, {"status", list}))
      for (const Json& s : *cs)
        if (api::GetString(s, {"name"}) == c) return s;
    return Json();
  }
  bool Eventually(const std::function<bool()>& pred,
                  std::chrono::seconds limit = 60s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (pred()) return true;
      std::this_thread::sleep_for(100ms);
    }
    return pred();
  }
  std::vector<cri::Container> Containers(const std::string& uid) {
    cri::ContainerFilter f;
    f.label_selector = {{kPodUidLabel, uid}};
    auto l = runtime_->ListContainers(f);
    return l.ok() ? *l : std::vector<cri::Container>{};
  }

  std::string dir_;
  client::FakeClient api_;
  std::unique_ptr<cri::Runtime> runtime_;
  NoVolumes volumes_;
  ValueEnv env_;
  std::unique_ptr<PodSyncer> syncer_;
};

TEST_F(PodSyncerContainerdTest, InitCrashLoopProbesAdoptionAndDelete) {
  Start();
  Json pod = {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata", {{"name", "real"}, {"namespace", "default"}}},
      {"spec",
       {{"nodeName", "node1"},
        {"restartPolicy", "Always"},
        {"terminationGracePeriodSeconds", 3},
        {"initContainers",
         {{{"name", "init"},
           {"image", "registry.local/busybox:latest"},
           {"imagePullPolicy", "Never"},
           {"command", {"sh", "-c", "echo initialized"}}}}},
        {"containers",
         {{{"name", "web"},
           {"image", "registry.local/busybox:latest"},
           {"imagePullPolicy", "Never"},
           {"env", {{{"name", "PORT"}, {"value", "8080"}}}},
           {"command",
            {"sh", "-c",
             "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p "
             "$(PORT) -h /www"}},
           {"readinessProbe",
            {{"httpGet", {{"path", "/index.html"}, {"port", 8080}}},
             {"periodSeconds", 1}}},
           {"livenessProbe",
            {{"exec", {{"command", {"cat", "/www/index.html"}}}},
             {"periodSeconds", 2}}}},
          {{"name", "crash"},
           {"image", "registry.local/busybox:latest"},
           {"imagePullPolicy", "Never"},
           {"command", {"sh", "-c", "echo crashing; exit 3"}}}}}}}};
  auto created = api_.Create(kPods, pod, {});
  ASSERT_TRUE(created.ok());
  std::string uid = api::GetString(*created, {"metadata", "uid"});

  // The init container ran to completion before the others started.
  ASSERT_TRUE(Eventually([&] {
    return api::GetString(Get("real"), {"status", "phase"}) == "Running";
  })) << Get("real").dump(2);
  Json init = Status("real", "init", "initContainerStatuses");
  EXPECT_EQ(api::GetString(init, {"state", "terminated", "reason"}),
            "Completed");
  EXPECT_EQ(api::GetString(init, {"containerID"}).rfind("containerd://", 0),
            0u);

  // web: ready through its httpGet probe against the pod IP.
  ASSERT_TRUE(Eventually([&] {
    return Status("real", "web")["ready"] == true;
  })) << Get("real").dump(2);
  std::string ip = api::GetString(Get("real"), {"status", "podIP"});
  EXPECT_EQ(ip.rfind("10.198.1.", 0), 0u) << ip;
  Json web = Status("real", "web");
  EXPECT_NE(api::GetString(web, {"imageID"}), "");
  EXPECT_TRUE(web["started"].get<bool>());

  // crash: restarted at once, then held back 10 s (CrashLoopBackOff).
  ASSERT_TRUE(Eventually([&] {
    return api::GetString(Status("real", "crash"),
                          {"state", "waiting", "reason"}) == "CrashLoopBackOff";
  })) << Get("real").dump(2);
  Json crash = Status("real", "crash");
  EXPECT_EQ(api::GetInt(crash, {"lastState", "terminated", "exitCode"}), 3);
  EXPECT_GE(api::GetInt(crash, {"restartCount"}), 1);
  auto seen = std::chrono::steady_clock::now();
  int64_t count = api::GetInt(crash, {"restartCount"});
  ASSERT_TRUE(Eventually(
      [&] {
        return api::GetInt(Status("real", "crash"), {"restartCount"}) > count;
      },
      30s));
  auto waited = std::chrono::steady_clock::now() - seen;
  EXPECT_GE(waited, 5s);  // the 10 s back-off, seen from somewhere inside it
  std::string logdir = dir_ + "/data/agent/pods/default_real_" + uid;
  EXPECT_TRUE(fs::exists(logdir + "/crash/0.log"));
  EXPECT_TRUE(fs::exists(logdir + "/init/0.log"));

  // A new syncer adopts what runs: web keeps its container.
  std::string web_id = api::GetString(Status("real", "web"), {"containerID"});
  syncer_.reset();
  Start();
  std::this_thread::sleep_for(3s);
  EXPECT_EQ(api::GetString(Status("real", "web"), {"containerID"}), web_id);
  EXPECT_EQ(api::GetInt(Status("real", "web"), {"restartCount"}), 0);
  ASSERT_TRUE(
      Eventually([&] { return Status("real", "web")["ready"] == true; }));

  // Delete: containers stopped (httpd ignores SIGTERM as PID 1: killed after
  // the 3 s grace), sandbox and containers removed, cgroups gone.
  ASSERT_TRUE(api_.Delete(kPods, "real", {}).ok());
  ASSERT_TRUE(Eventually([&] { return Containers(uid).empty(); }, 60s));
  cri::PodSandboxFilter sf;
  sf.label_selector = {{kPodUidLabel, uid}};
  ASSERT_TRUE(
      Eventually([&] { return runtime_->ListPodSandbox(sf)->empty(); }));
  ASSERT_TRUE(Eventually([&] { return syncer_->PodCount() == 0; }));
  for (const char* ctrl : {"memory", "pids", "cpu,cpuacct"}) {
    std::string cg = std::string("/sys/fs/cgroup/") + ctrl +
                     "/kubepods/besteffort/pod" + uid;
    EXPECT_FALSE(fs::exists(cg)) << cg;
  }
}

}  // namespace
}  // namespace kite::kubelet

namespace kite::kubelet {
namespace {

// Not a timing assertion: prints how long create -> Ready takes through
// PodSyncer and how long the same CRI calls take on their own, so a change
// that slows pod start shows in the test log.
TEST_F(PodSyncerContainerdTest, PrintsPodStartLatency) {
  Start();
  auto ms = [](auto d) {
    return std::chrono::duration<double, std::milli>(d).count();
  };
  std::vector<double> synced, raw;
  for (int i = 0; i < 5; ++i) {
    std::string name = "lat" + std::to_string(i);
    Json pod = {{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata", {{"name", name}, {"namespace", "default"}}},
                {"spec",
                 {{"nodeName", "node1"},
                  {"terminationGracePeriodSeconds", 2},
                  {"containers",
                   {{{"name", "app"},
                     {"image", "registry.local/busybox:latest"},
                     {"imagePullPolicy", "Never"},
                     {"command", {"sleep", "3600"}}}}}}}};
    auto begin = std::chrono::steady_clock::now();
    ASSERT_TRUE(api_.Create(kPods, pod, {}).ok());
    while (Status(name, "app")["ready"] != true &&
           std::chrono::steady_clock::now() - begin < 30s)
      std::this_thread::sleep_for(1ms);
    synced.push_back(ms(std::chrono::steady_clock::now() - begin));
    ASSERT_EQ(Status(name, "app")["ready"], true);

    // The same sandbox and container straight through the CRI.
    cri::PodSandboxConfig sc;
    sc.metadata = {"raw" + std::to_string(i), "raw-uid-" + std::to_string(i),
                   "default", 0};
    sc.hostname = sc.metadata.name;
    sc.log_directory = dir_ + "/raw";
    sc.cgroup_parent = "/kubepods/besteffort/podraw-uid-" + std::to_string(i);
    // No io.kubernetes.pod.uid label: the syncer would end it as an orphan.
    sc.labels = {{"test", "raw"}};
    fs::create_directories(sc.log_directory);
    cri::ContainerConfig cc;
    cc.name = "app";
    cc.image = "registry.local/busybox:latest";
    cc.command = {"sleep", "3600"};
    cc.log_path = "app.log";
    cc.labels = sc.labels;
    begin = std::chrono::steady_clock::now();
    auto sb = runtime_->RunPodSandbox(sc);
    ASSERT_TRUE(sb.ok()) << sb.status().ToString();
    auto id = runtime_->CreateContainer(*sb, cc, sc);
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    kite::Status started = runtime_->StartContainer(*id);
    ASSERT_TRUE(started.ok()) << started.ToString();
    raw.push_back(ms(std::chrono::steady_clock::now() - begin));
    runtime_->StopPodSandbox(*sb).IgnoreError();
    runtime_->RemovePodSandbox(*sb).IgnoreError();
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/sys/fs/cgroup", ec)) {
      fs::path cg = e.path() / "kubepods/besteffort" /
                    ("podraw-uid-" + std::to_string(i));
      if (fs::is_directory(cg, ec)) rmdir(cg.c_str());
    }
    ASSERT_TRUE(api_.Delete(kPods, name, {}).ok());
  }
  std::sort(synced.begin(), synced.end());
  std::sort(raw.begin(), raw.end());
  std::printf(
      "pod start create->Ready ms: p50=%.1f max=%.1f; raw CRI ms: p50=%.1f "
      "max=%.1f\n",
      synced[synced.size() / 2], synced.back(), raw[raw.size() / 2],
      raw.back());
  ASSERT_TRUE(Eventually([&] { return syncer_->PodCount() == 0; }));
}

}  // namespace
}  // namespace kite::kubelet

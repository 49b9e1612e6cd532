// PodSyncer against a real `kite server` over HTTPS, checked with the real
// kubectl: what a user sees of the kubelet's work (kubectl get pods READY
// and STATUS columns, CrashLoopBackOff, events, a graceful `kubectl delete`
// that returns once the kubelet finished it) without containers: the
// runtime is cri::FakeRuntime (the containerd side is
// tests/kubelet_containerd_e2e.sh). The syncer runs with a node identity
// (system:node:node1, from `kite agent --join-only`), so the node
// authorizer's rules for a kubelet are exercised too.
// Skipped when /usr/bin/kubectl is missing.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/cri/fake_runtime.h"
#include "agent/kubelet/pod_syncer.h"
#include "api/object.h"
#include "client/https_client.h"

namespace kite::kubelet {
namespace {

using namespace std::chrono_literals;
constexpr char kKubectl[] = "/usr/bin/kubectl";

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class NoVolumes : public VolumeSetup {
 public:
  StatusOr<std::map<std::string, std::vector<cri::Mount>>> Setup(
      const nlohmann::json&) override {
    return std::map<std::string, std::vector<cri::Mount>>{};
  }
  Status TearDown(const std::string&) override { return Status::Ok(); }
};

class NoEnv : public EnvBuilder {
 public:
  StatusOr<std::vector<cri::KeyValue>> Build(const nlohmann::json&,
                                             const nlohmann::json&) override {
    return std::vector<cri::KeyValue>{};
  }
};

class KubeletServerTest : public testing::Test {
 protected:
  void SetUp() override {
    if (access(kKubectl, X_OK) != 0) GTEST_SKIP() << "no kubectl";
    char tmpl[] = "/tmp/kite-kubelet-server-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    log_ = dir_ + "/server.log";
    pid_ = fork();
    if (pid_ == 0) {
      int fd = open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      std::string data = dir_ + "/server-data", kc = dir_ + "/kite.yaml";
      execl(KITE_BINARY, KITE_BINARY, "server", "--data-dir", data.c_str(),
            "--https-listen-port", "0", "--bind-address", "127.0.0.1",
            "--write-kubeconfig", kc.c_str(), "--disable-agent",
            static_cast<char*>(nullptr));
      _exit(127);
    }
    ASSERT_GT(pid_, 0);
    for (int i = 0;
         i < 1000 && Slurp(log_).find("server ready") == std::string::npos; ++i)
      std::this_thread::sleep_for(20ms);
    ASSERT_NE(Slurp(log_).find("server ready"), std::string::npos)
        << Slurp(log_);
    // The syncer runs as the node, as in the agent: join with the server's
    // token for node1's certificate and kubeconfig.
    auto admin = client::ConfigFromKubeconfigFile(dir_ + "/kite.yaml");
    ASSERT_TRUE(admin.ok()) << admin.status().ToString();
    std::string token = Slurp(dir_ + "/server-data/server/token");
    while (!token.empty() && token.back() == '\n') token.pop_back();
    std::string join = std::string(KITE_BINARY) + " agent --server " +
                       admin->server + " --token " + token +
                       " --node-name node1 --node-ip 127.0.0.1 --data-dir " +
                       dir_ + "/agent-data --join-only 2>&1";
    FILE* p = popen(join.c_str(), "r");
    std::string out;
    char buf[1024];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
    ASSERT_EQ(pclose(p), 0) << out;
    auto cfg = client::ConfigFromKubeconfigFile(
        dir_ + "/agent-data/agent/kubelet.kubeconfig");
    ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
    auto c = client::HttpsClient::Create(*cfg);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    client_ = std::move(*c);
    runtime_.AddImage("registry.local/busybox:latest");
    PodSyncerOptions o;
    o.node_name = "node1";
    o.data_dir = dir_ + "/agent-data";
    o.node_ip = "127.0.0.1";
    o.resolv_conf = "";
    o.cgroup_root = "";
    syncer_ = std::make_unique<PodSyncer>(*client_, runtime_, RealClock(), o,
                                          volumes_, env_);
    ASSERT_TRUE(syncer_->Start().ok());
  }
  void TearDown() override {
    syncer_.reset();
    client_.reset();
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // Runs kubectl against the server; stdout and stderr together.
  std::string Kubectl(const std::string& args, int* code = nullptr) {
    std::string cmd = std::string(kKubectl) + " --kubeconfig " + dir_ +
                      "/kite.yaml " + args + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
    int st = pclose(p);
    if (code) *code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return out;
  }
  void Apply(const std::string& yaml) {
    std::string path = dir_ + "/obj.yaml";
    std::ofstream(path) << yaml;
    int code = 0;
    std::string out = Kubectl("apply -f " + path, &code);
    ASSERT_EQ(code, 0) << out;
  }
  bool Eventually(const std::function<bool()>& pred,
                  std::chrono::seconds limit = 30s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (pred()) return true;
      std::this_thread::sleep_for(100ms);
    }
    return pred();
  }
  // "READY STATUS RESTARTS" of `kubectl get pod NAME --no-headers`.
  std::string Row(const std::string& name) {
    std::string out = Kubectl("get pod " + name + " --no-headers");
    std::istringstream in(out);
    std::string n, ready, status, restarts;
    in >> n >> ready >> status >> restarts;
    return ready + " " + status + " " + restarts;
  }

  std::string dir_, log_;
  pid_t pid_ = -1;
  std::unique_ptr<client::Interface> client_;
  cri::FakeRuntime runtime_;
  NoVolumes volumes_;
  NoEnv env_;
  std::unique_ptr<PodSyncer> syncer_;
};

constexpr char kPods[] = R"(apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  nodeName: node1
  initContainers:
  - name: init
    image: registry.local/busybox:latest
    imagePullPolicy: Never
  containers:
  - name: app
    image: registry.local/busybox:latest
    imagePullPolicy: Never
---
apiVersion: v1
kind: Pod
metadata:
  name: crash
spec:
  nodeName: node1
  containers:
  - name: app
    image: registry.local/busybox:latest
    imagePullPolicy: Never
  - name: bad
    image: registry.local/busybox:latest
    imagePullPolicy: Never
---
apiVersion: v1
kind: Pod
metadata:
  name: noimage
spec:
  nodeName: node1
  containers:
  - name: app
    image: registry.local/absent:1
    imagePullPolicy: Never
)";

TEST_F(KubeletServerTest, KubectlSeesWhatTheKubeletDoes) {
  runtime_.SetExitOnStart("init", 0);
  runtime_.SetExitOnStart("bad", 1);
  Apply(kPods);

  ASSERT_TRUE(Eventually([&] { return Row("web") == "1/1 Running 0"; }))
      << Row("web") << "\n"
      << Kubectl("get pod web -o yaml");
  std::string jp = Kubectl(
      "get pod web -o jsonpath='{.status.podIP} {.status.hostIP} "
      "{.status.qosClass} "
      "{.status.initContainerStatuses[0].state.terminated.reason} "
      "{.status.containerStatuses[0].containerID}'");
  EXPECT_TRUE(
      std::regex_search(jp, std::regex("^10\\.88\\.0\\.[0-9]+ 127\\.0\\.0\\.1 "
                                       "BestEffort Completed fake://c[0-9]+$")))
      << jp;
  EXPECT_EQ(
      Kubectl("get pod web -o "
              "jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}'"),
      "True");

  // kubectl's STATUS column computes CrashLoopBackOff from containerStatuses.
  ASSERT_TRUE(Eventually([&] {
    return Row("crash") == "1/2 CrashLoopBackOff 1";
  })) << Row("crash");
  ASSERT_TRUE(Eventually([&] {
    return Row("noimage") == "0/1 ErrImageNeverPull 0";
  })) << Row("noimage");

  // Events as `kubectl get events` lists them.
  ASSERT_TRUE(Eventually([&] {
    std::string ev =
        Kubectl("get events --field-selector involvedObject.name=web");
    return ev.find("Started") != std::string::npos &&
           ev.find("Pulled") != std::string::npos;
  })) << Kubectl("get events");
  std::string ev =
      Kubectl("get events --field-selector involvedObject.name=noimage");
  EXPECT_NE(ev.find("agent-data/agent/images/"), std::string::npos) << ev;
  ev = Kubectl("get events --field-selector involvedObject.name=crash");
  EXPECT_NE(ev.find("BackOff"), std::string::npos) << ev;

  // A graceful delete: the API server keeps the pod with a deletionTimestamp
  // until the kubelet stopped it and deleted it with grace 0; kubectl waits.
  int code = 0;
  auto begin = std::chrono::steady_clock::now();
  std::string out = Kubectl("delete pod web --timeout=30s", &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 20s);
  out = Kubectl("get pod web", &code);
  EXPECT_NE(code, 0);
  EXPECT_NE(out.find("NotFound"), std::string::npos) << out;
  auto stops = runtime_.CallsOf("StopContainer");
  ASSERT_FALSE(stops.empty());
  EXPECT_EQ(stops.back().detail, "timeout=30");  // the default grace period
  EXPECT_TRUE(Eventually([&] { return syncer_->PodCount() == 2; }));
}

}  // namespace
}  // namespace kite::kubelet

// The API server's pods/log relay to a real kubelet API, driven with the
// real kubectl (docs/streaming.md): a `kite server` on a free loopback port,
// a KubeletServer on another one with a FakeRuntime and CRI log files in a
// temp dir, registered as Node n1's kubelet endpoint. Skipped when
// /usr/bin/kubectl is missing.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "agent/cri/cri_client.h"
#include "agent/cri/fake_runtime.h"
#include "agent/kubelet/kubelet_server.h"
#include "common/env.h"
#include "server/server.h"
#include "tls/pki.h"

namespace kite {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

constexpr char kKubectl[] = "/usr/bin/kubectl";

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/kite-streaming-test-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::string cmd = "rm -rf " + path_;
    EXPECT_EQ(std::system(cmd.c_str()), 0);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct Output {
  int code = -1;
  std::string out;  // stdout and stderr
};

class StreamingTest : public ::testing::Test {
 protected:
  // The runtime the kubelet uses: the fake, or a real containerd when
  // KITE_TEST_CRI_ENDPOINT names one (tests/streaming_e2e.sh).
  virtual cri::Runtime& runtime() { return runtime_; }

  void SetUp() override {
    if (access(kKubectl, X_OK) != 0) GTEST_SKIP() << "no " << kKubectl;
    SetUpRuntime();
    if (IsSkipped()) return;
    server::Config c;
    c.data_dir = dir_.path() + "/data";
    c.bind_address = "127.0.0.1";
    c.https_listen_port = 0;
    c.write_kubeconfig = dir_.path() + "/kite.yaml";
    // The test runs its own KubeletServer, on the runtime it chooses.
    c.disable_agent = true;
    server_ = std::make_unique<server::Server>(c);
    ASSERT_TRUE(server_->Start().ok());

    // The kubelet's serving certificate, as a node's kubelet-serving CSR
    // would get it: server-ca, the node's address.
    std::string tls_dir = c.data_dir + "/server/tls";
    tls::CertAndKey server_ca{*RealEnv().ReadFile(tls_dir + "/server-ca.crt"),
                              *RealEnv().ReadFile(tls_dir + "/server-ca.key")};
    auto random = std::move(tls::Random::Create()).value();
    tls::CertSpec spec;
    spec.common_name = "system:node:n1";
    spec.organizations = {"system:nodes"};
    spec.ip_addresses = {"127.0.0.1"};
    spec.server_auth = true;
    spec.not_before = RealClock().Now() - std::chrono::hours(1);
    spec.not_after = RealClock().Now() + std::chrono::hours(24);
    tls::CertAndKey serving = *tls::IssueCert(*random, server_ca, spec);

    kubelet::KubeletServerOptions o;
    o.bind_address = "127.0.0.1";
    o.port = 0;
    o.cert_pem = serving.cert_pem;
    o.key_pem = serving.key_pem;
    o.client_ca_pem = *RealEnv().ReadFile(tls_dir + "/client-ca.crt");
    o.follow_check_interval = milliseconds(200);
    kubelet_ =
        std::make_unique<kubelet::KubeletServer>(o, runtime(), RealClock());
    ASSERT_TRUE(kubelet_->Start().ok());
    runtime_.AddImage("registry.local/busybox:latest");

    json node = {
        {"apiVersion", "v1"},
        {"kind", "Node"},
        {"metadata", {{"name", "n1"}}},
        {"status",
         {{"addresses",
           json::array({{{"type", "InternalIP"}, {"address", "127.0.0.1"}},
                        {{"type", "Hostname"}, {"address", "n1"}}})},
          {"daemonEndpoints",
           {{"kubeletEndpoint", {{"Port", kubelet_->port()}}}}}}}};
    ASSERT_EQ(Create(node).code, 0);
  }

  virtual void SetUpRuntime() {}
  virtual bool HostNetwork() { return false; }

  void TearDown() override {
    if (kubelet_) kubelet_->Stop();
    if (server_) server_->Stop();
  }

  // Runs kubectl with `args` (already shell-quoted), stdout and stderr
  // together.
  Output Kubectl(const std::string& args) {
    return Shell(std::string(kKubectl) + " --kubeconfig " + dir_.path() +
                 "/kite.yaml --cache-dir " + dir_.path() +
                 "/kcache --request-timeout=60s " + args);
  }

  // Runs `cmd` with /bin/sh, stdout and stderr together.
  static Output Shell(const std::string& cmd) {
    Output r;
    FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
    if (p == nullptr) return r;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
    int st = ::pclose(p);
    r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
  }

  Output Create(const json& obj) { return Apply(obj, "create"); }
  Output Apply(const json& obj, const std::string& verb) {
    std::string file =
        dir_.path() + "/obj-" + std::to_string(files_++) + ".json";
    std::ofstream(file) << obj.dump();
    Output r = Kubectl(verb + " -f " + file);
    EXPECT_EQ(r.code, 0) << r.out;
    return r;
  }

  // Pod `name` in default, bound to n1 (or unbound), one container `c`.
  void CreatePod(const std::string& name, bool bound = true) {
    json pod = {
        {"apiVersion", "v1"},
        {"kind", "Pod"},
        {"metadata", {{"name", name}, {"namespace", "default"}}},
        {"spec",
         {{"containers",
           json::array({{{"name", "c"},
                         {"image", "registry.local/busybox:latest"}}})}}}};
    if (bound) pod["spec"]["nodeName"] = "n1";
    Create(pod);
  }

  // What the agent would have started for it: a sandbox and container c.
  std::string RunContainer(const std::string& pod, uint32_t attempt = 0,
                           std::vector<std::string> command = {}) {
    cri::PodSandboxConfig sc;
    sc.metadata = {pod, "uid-" + pod, "default", 0};
    sc.log_directory = dir_.path() + "/pods/default_" + pod;
    if (HostNetwork()) {
      // No CNI in the e2e's containerd: the pod shares the test's netns.
      sc.namespace_options.network = cri::NamespaceMode::kNode;
      sc.cgroup_parent = "/kubepods/kite-streaming-test";
    }
    sc.labels = {{"io.kubernetes.pod.name", pod},
                 {"io.kubernetes.pod.namespace", "default"},
                 {"io.kubernetes.pod.uid", "uid-" + pod}};
    if (!sandboxes_.count(pod)) {
      auto id = runtime().RunPodSandbox(sc);
      EXPECT_TRUE(id.ok()) << id.status().ToString();
      if (!id.ok()) return "";
      sandboxes_[pod] = *id;
    }
    cri::ContainerConfig cc;
    cc.name = "c";
    cc.attempt = attempt;
    cc.image = "registry.local/busybox:latest";
    cc.labels = sc.labels;
    cc.labels["io.kubernetes.container.name"] = "c";
    cc.log_path = "c/" + std::to_string(attempt) + ".log";
    cc.command = std::move(command);
    cc.stdin_open = true;
    auto id = runtime().CreateContainer(sandboxes_[pod], cc, sc);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    if (!id.ok()) return "";
    Status started = runtime().StartContainer(*id);
    EXPECT_TRUE(started.ok()) << started.ToString();
    return *id;
  }

  TempDir dir_;
  cri::FakeRuntime runtime_;
  std::unique_ptr<server::Server> server_;
  std::unique_ptr<kubelet::KubeletServer> kubelet_;
  std::map<std::string, std::string> sandboxes_;
  int files_ = 0;
};

TEST_F(StreamingTest, KubectlLogsThroughTheApiServer) {
  CreatePod("p1");
  std::string first = RunContainer("p1", 0);
  ASSERT_TRUE(runtime_.AppendLog(first, "stdout", "crashed once").ok());
  ASSERT_TRUE(runtime_.ExitContainer(first, 1).ok());
  std::string c = RunContainer("p1", 1);
  for (int i = 1; i <= 3; ++i)
    ASSERT_TRUE(runtime_
                    .AppendLog(c, i == 2 ? "stderr" : "stdout",
                               "line " + std::to_string(i))
                    .ok());

  Output all = Kubectl("logs p1");
  EXPECT_EQ(all.code, 0) << all.out;
  EXPECT_EQ(all.out, "line 1\nline 2\nline 3\n");
  Output tail = Kubectl("logs p1 --tail=1");
  EXPECT_EQ(tail.out, "line 3\n");
  Output prev = Kubectl("logs p1 -c c --previous");
  EXPECT_EQ(prev.out, "crashed once\n");
  Output stamped = Kubectl("logs pod/p1 --timestamps --tail=1");
  EXPECT_EQ(stamped.code, 0);
  EXPECT_NE(stamped.out.find("Z line 3\n"), std::string::npos) << stamped.out;

  Output wrong = Kubectl("logs p1 -c nope");
  EXPECT_NE(wrong.code, 0);
  EXPECT_NE(wrong.out.find("container nope is not valid for pod p1"),
            std::string::npos)
      << wrong.out;
  Output missing = Kubectl("logs ghost");
  EXPECT_NE(missing.code, 0);
  EXPECT_NE(missing.out.find("pods \"ghost\" not found"), std::string::npos)
      << missing.out;
  // RBAC decides per subresource: jane may get pods but not read logs
  // until she is bound to `view` (pods/log get); `view` has no exec.
  ASSERT_EQ(Kubectl("create role pod-reader --verb=get --resource=pods "
                    "-n default")
                .code,
            0);
  ASSERT_EQ(Kubectl("create rolebinding jane-pods --role=pod-reader "
                    "--user=jane -n default")
                .code,
            0);
  Output denied;
  for (int i = 0; i < 50; ++i) {  // the RBAC index follows a watch
    denied = Kubectl("logs p1 --as=jane");
    if (denied.out.find("pods/log") != std::string::npos) break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_NE(denied.code, 0);
  EXPECT_NE(denied.out.find("User \"jane\" cannot get resource "
                            "\"pods/log\" in API group \"\" in the "
                            "namespace \"default\""),
            std::string::npos)
      << denied.out;
  ASSERT_EQ(Kubectl("create rolebinding jane-view --clusterrole=view "
                    "--user=jane -n default")
                .code,
            0);
  Output viewer;
  for (int i = 0; i < 50; ++i) {  // the RBAC index follows a watch
    viewer = Kubectl("logs p1 --tail=1 --as=jane");
    if (viewer.code == 0) break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_EQ(viewer.out, "line 3\n");
  Output no_exec = Kubectl("exec p1 --as=jane -- true");
  EXPECT_NE(no_exec.code, 0);
  // (WebSocket GET refused as `get`, then the SPDY POST as `create`.)
  EXPECT_NE(no_exec.out.find("User \"jane\" cannot create resource "
                             "\"pods/exec\""),
            std::string::npos)
      << no_exec.out;

  CreatePod("pending", false);
  Output pending = Kubectl("logs pending");
  EXPECT_NE(pending.code, 0);
  EXPECT_NE(pending.out.find("does not have a host assigned"),
            std::string::npos)
      << pending.out;
}

TEST_F(StreamingTest, KubectlLogsFollowFlowsLineByLine) {
  CreatePod("live");
  std::string c = RunContainer("live");
  ASSERT_TRUE(runtime_.AppendLog(c, "stdout", "start").ok());
  std::string cmd = std::string(kKubectl) + " --kubeconfig " + dir_.path() +
                    "/kite.yaml --cache-dir " + dir_.path() +
                    "/kcache logs -f live 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  // Each line is written only once kubectl printed the one before: lines
  // must flow while the container runs, not arrive at its end.
  char line[256];
  std::vector<std::string> got;
  for (int i = 1; i <= 3; ++i) {
    ASSERT_NE(fgets(line, sizeof(line), p), nullptr);
    got.emplace_back(line);
    ASSERT_TRUE(
        runtime_.AppendLog(c, "stdout", "tick " + std::to_string(i)).ok());
  }
  ASSERT_NE(fgets(line, sizeof(line), p), nullptr);
  got.emplace_back(line);
  // The container ends: kubectl finishes by itself.
  ASSERT_TRUE(runtime_.ExitContainer(c, 0).ok());
  while (fgets(line, sizeof(line), p) != nullptr) got.emplace_back(line);
  int st = ::pclose(p);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  EXPECT_EQ(got, (std::vector<std::string>{"start\n", "tick 1\n", "tick 2\n",
                                           "tick 3\n"}));
}

// exec and port-forward through the API server and the kubelet to a real
// containerd's stream server (phase 1: the kubelet relays to it). Output by
// tests/streaming_e2e.sh inside a network namespace of its own, with a
// private containerd whose socket is in KITE_TEST_CRI_ENDPOINT and the
// busybox test image imported.
class ContainerdStreamingTest : public StreamingTest {
 protected:
  cri::Runtime& runtime() override { return *cri_; }
  bool HostNetwork() override { return true; }
  void SetUpRuntime() override {
    const char* endpoint = getenv("KITE_TEST_CRI_ENDPOINT");
    if (endpoint == nullptr || *endpoint == 0)
      GTEST_SKIP() << "KITE_TEST_CRI_ENDPOINT not set (tests/streaming_e2e.sh)";
    auto c = cri::ConnectCri(endpoint);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    cri_ = std::move(c).value();
  }
  void TearDown() override {
    if (cri_) {
      for (const auto& [pod, id] : sandboxes_) {
        (void)cri_->StopPodSandbox(id);
        (void)cri_->RemovePodSandbox(id);
      }
    }
    StreamingTest::TearDown();
  }
  // Marks the pod Running, as the agent would, so kubectl execs into it.
  void MarkRunning(const std::string& pod) {
    Output r =
        Kubectl("patch pod " + pod +
                " --subresource=status --type=merge -p "
                "'{\"status\":{\"phase\":\"Running\",\"containerStatuses\":[{"
                "\"name\":\"c\",\"ready\":true,\"restartCount\":0,\"image\":"
                "\"registry.local/busybox:latest\",\"imageID\":\"\",\"state\":{"
                "\"running\":{}}}]}}'");
    ASSERT_EQ(r.code, 0) << r.out;
  }

  std::unique_ptr<cri::Runtime> cri_;
};

TEST_F(ContainerdStreamingTest, ExecAndPortForwardWithKubectl) {
  CreatePod("sh");
  ASSERT_FALSE(RunContainer("sh", 0,
                            {"/bin/sh", "-c",
                             "echo started; while true; do echo served | "
                             "nc -l -p 8080; done"})
                   .empty());
  MarkRunning("sh");
  const std::string kubectl = std::string(kKubectl) + " --kubeconfig " +
                              dir_.path() + "/kite.yaml --cache-dir " +
                              dir_.path() + "/kcache ";

  // WebSocket first (containerd refuses v5, kubectl falls back to SPDY),
  // then SPDY from the start.
  for (const char* ws : {"true", "false"}) {
    SCOPED_TRACE(std::string("KUBECTL_REMOTE_COMMAND_WEBSOCKETS=") + ws);
    std::string env = std::string("KUBECTL_REMOTE_COMMAND_WEBSOCKETS=") + ws +
                      " KUBECTL_PORT_FORWARD_WEBSOCKETS=" + ws + " ";
    Output echo = Shell(env + kubectl + "exec sh -- echo hi");
    EXPECT_EQ(echo.code, 0) << echo.out;
    EXPECT_EQ(echo.out, "hi\n");
    // Which transport carried it: kubectl's own log of the request.
    Output traced = Shell(env + kubectl + "-v=7 exec sh -- echo hi");
    EXPECT_EQ(traced.code, 0) << traced.out;
    if (std::string(ws) == "true") {
      EXPECT_NE(traced.out.find("GET https://"), std::string::npos)
          << traced.out;
      EXPECT_EQ(traced.out.find("POST https://"), std::string::npos)
          << "fell back to SPDY: " << traced.out;
    } else {
      EXPECT_NE(traced.out.find("POST https://"), std::string::npos)
          << traced.out;
    }
    Output code = Shell(env + kubectl + "exec sh -- sh -c 'exit 3'");
    EXPECT_EQ(code.code, 3) << code.out;
    Output in =
        Shell("echo from-stdin | " + env + kubectl + "exec -i sh -- cat");
    EXPECT_EQ(in.code, 0) << in.out;
    EXPECT_EQ(in.out, "from-stdin\n");

    // port-forward to the pod's port 8080, where nc answers "served".
    Output pf = Shell(env + kubectl + "-v=7 port-forward pod/sh 18080:8080 > " +
                      dir_.path() + "/pf.log 2>&1 & echo $!");
    int pid = atoi(pf.out.c_str());
    std::string answer;
    for (int i = 0; i < 50 && answer.find("served") == std::string::npos; ++i) {
      std::this_thread::sleep_for(milliseconds(200));
      answer = Shell(
                   "timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/18080; "
                   "cat <&3'")
                   .out;
    }
    if (pid > 0) ::kill(pid, SIGTERM);
    std::this_thread::sleep_for(milliseconds(300));
    std::string pf_log = *RealEnv().ReadFile(dir_.path() + "/pf.log");
    EXPECT_NE(answer.find("served"), std::string::npos) << pf_log;
    EXPECT_EQ(pf_log.find("POST https://") == std::string::npos,
              std::string(ws) == "true")
        << pf_log;
  }
}

}  // namespace
}  // namespace kite

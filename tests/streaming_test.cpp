// The API server's pods/log relay to a real kubelet API, driven with the
// real kubectl (docs/streaming.md): a `kite server` on a free loopback port,
// a KubeletServer on another one with a FakeRuntime and CRI log files in a
// temp dir, registered as Node n1's kubelet endpoint. Skipped when
// /usr/bin/kubectl is missing.
#include <gtest/gtest.h>
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

struct Run {
  int code = -1;
  std::string out;  // stdout and stderr
};

class StreamingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kKubectl, X_OK) != 0) GTEST_SKIP() << "no " << kKubectl;
    server::Config c;
    c.data_dir = dir_.path() + "/data";
    c.bind_address = "127.0.0.1";
    c.https_listen_port = 0;
    c.write_kubeconfig = dir_.path() + "/kite.yaml";
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
    kubelet_ = std::make_unique<kubelet::KubeletServer>(o, runtime_,
                                                        RealClock());
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

  void TearDown() override {
    if (kubelet_) kubelet_->Stop();
    if (server_) server_->Stop();
  }

  // Runs kubectl with `args` (already shell-quoted), stdout and stderr
  // together.
  Run Kubectl(const std::string& args) {
    std::string cmd = std::string(kKubectl) + " --kubeconfig " + dir_.path() +
                      "/kite.yaml --cache-dir " + dir_.path() +
                      "/kcache --request-timeout=60s " + args + " 2>&1";
    Run r;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) return r;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
    int st = ::pclose(p);
    r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
  }

  Run Create(const json& obj) {
    std::string file = dir_.path() + "/obj-" + std::to_string(files_++) + ".json";
    std::ofstream(file) << obj.dump();
    Run r = Kubectl("create -f " + file);
    EXPECT_EQ(r.code, 0) << r.out;
    return r;
  }

  // Pod `name` in default, bound to n1 (or unbound), one container `c`.
  void CreatePod(const std::string& name, bool bound = true) {
    json pod = {{"apiVersion", "v1"},
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
  std::string RunContainer(const std::string& pod, uint32_t attempt = 0) {
    cri::PodSandboxConfig sc;
    sc.metadata = {pod, "uid-" + pod, "default", 0};
    sc.log_directory = dir_.path() + "/pods/default_" + pod;
    sc.labels = {{"io.kubernetes.pod.name", pod},
                 {"io.kubernetes.pod.namespace", "default"},
                 {"io.kubernetes.pod.uid", "uid-" + pod}};
    if (!sandboxes_.count(pod)) sandboxes_[pod] = *runtime_.RunPodSandbox(sc);
    cri::ContainerConfig cc;
    cc.name = "c";
    cc.attempt = attempt;
    cc.image = "registry.local/busybox:latest";
    cc.labels = sc.labels;
    cc.labels["io.kubernetes.container.name"] = "c";
    cc.log_path = "c/" + std::to_string(attempt) + ".log";
    std::string id = *runtime_.CreateContainer(sandboxes_[pod], cc, sc);
    EXPECT_TRUE(runtime_.StartContainer(id).ok());
    return id;
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
    ASSERT_TRUE(runtime_.AppendLog(c, i == 2 ? "stderr" : "stdout",
                                   "line " + std::to_string(i))
                    .ok());

  Run all = Kubectl("logs p1");
  EXPECT_EQ(all.code, 0) << all.out;
  EXPECT_EQ(all.out, "line 1\nline 2\nline 3\n");
  Run tail = Kubectl("logs p1 --tail=1");
  EXPECT_EQ(tail.out, "line 3\n");
  Run prev = Kubectl("logs p1 -c c --previous");
  EXPECT_EQ(prev.out, "crashed once\n");
  Run stamped = Kubectl("logs pod/p1 --timestamps --tail=1");
  EXPECT_EQ(stamped.code, 0);
  EXPECT_NE(stamped.out.find("Z line 3\n"), std::string::npos) << stamped.out;

  Run wrong = Kubectl("logs p1 -c nope");
  EXPECT_NE(wrong.code, 0);
  EXPECT_NE(wrong.out.find("container nope is not valid for pod p1"),
            std::string::npos)
      << wrong.out;
  Run missing = Kubectl("logs ghost");
  EXPECT_NE(missing.code, 0);
  EXPECT_NE(missing.out.find("pods \"ghost\" not found"), std::string::npos)
      << missing.out;
  CreatePod("pending", false);
  Run pending = Kubectl("logs pending");
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

}  // namespace
}  // namespace kite

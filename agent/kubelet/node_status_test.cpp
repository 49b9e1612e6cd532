#include "agent/kubelet/node_status.h"

#include <gtest/gtest.h>

#include <mutex>

#include "api/object.h"
#include "client/fake_client.h"
#include "common/clock.h"

namespace kite::kubelet {
namespace {

using client::Json;
using std::chrono::milliseconds;
using std::chrono::seconds;

const client::ResourceRef kNodes{"", "v1", "nodes", ""};
const client::ResourceRef kLeases{"coordination.k8s.io", "v1", "leases",
                                  "kube-node-lease"};
constexpr int64_t kGi = 1024LL * 1024 * 1024;
constexpr int64_t kMi = 1024LL * 1024;

// The runtime calls NodeStatus makes (Version, RuntimeStatus, ListImages);
// everything else is not used.
class StatusRuntime : public cri::Runtime {
 public:
  void SetConditions(bool runtime_ready, bool network_ready) {
    std::lock_guard<std::mutex> lock(mu_);
    conditions_ = {{"RuntimeReady", runtime_ready, "", ""},
                   {"NetworkReady", network_ready,
                    network_ready ? "" : "NetworkPluginNotReady",
                    network_ready ? "" : "cni plugin not initialized"}};
  }
  void SetDown(bool down) {
    std::lock_guard<std::mutex> lock(mu_);
    down_ = down;
  }
  void SetImages(std::vector<cri::Image> images) {
    std::lock_guard<std::mutex> lock(mu_);
    images_ = std::move(images);
  }

  StatusOr<cri::VersionInfo> Version() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (down_) return UnavailableError("connection refused");
    return cri::VersionInfo{"0.1.0", "containerd", "1.6.20~ds1", "v1"};
  }
  StatusOr<std::vector<cri::RuntimeCondition>> RuntimeStatus() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (down_) return UnavailableError("connection refused");
    return conditions_;
  }
  StatusOr<std::vector<cri::Image>> ListImages() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (down_) return UnavailableError("connection refused");
    return images_;
  }

  StatusOr<std::string> RunPodSandbox(const cri::PodSandboxConfig&) override {
    return Unused();
  }
  Status StopPodSandbox(const std::string&) override { return Unused(); }
  Status RemovePodSandbox(const std::string&) override { return Unused(); }
  StatusOr<cri::PodSandboxStatus> GetPodSandboxStatus(const std::string&,
                                                      bool) override {
    return Unused();
  }
  StatusOr<std::vector<cri::PodSandbox>> ListPodSandbox(
      const cri::PodSandboxFilter&) override {
    return Unused();
  }
  StatusOr<std::string> CreateContainer(const std::string&,
                                        const cri::ContainerConfig&,
                                        const cri::PodSandboxConfig&) override {
    return Unused();
  }
  Status StartContainer(const std::string&) override { return Unused(); }
  Status StopContainer(const std::string&, int64_t) override {
    return Unused();
  }
  Status RemoveContainer(const std::string&) override { return Unused(); }
  StatusOr<std::vector<cri::Container>> ListContainers(
      const cri::ContainerFilter&) override {
    return Unused();
  }
  StatusOr<cri::ContainerStatus> GetContainerStatus(
      const std::string&) override {
    return Unused();
  }
  StatusOr<cri::ExecSyncResult> ExecSync(const std::string&,
                                         const std::vector<std::string>&,
                                         std::chrono::seconds) override {
    return Unused();
  }
  StatusOr<std::string> Exec(const cri::ExecRequest&) override {
    return Unused();
  }
  StatusOr<std::string> Attach(const cri::AttachRequest&) override {
    return Unused();
  }
  StatusOr<std::string> PortForward(const std::string&,
                                    const std::vector<int32_t>&) override {
    return Unused();
  }
  StatusOr<std::optional<cri::Image>> ImageStatus(const std::string&) override {
    return Unused();
  }
  Status RemoveImage(const std::string&) override { return Unused(); }

 private:
  static Status Unused() { return InternalError("not used by NodeStatus"); }

  std::mutex mu_;
  bool down_ = false;
  std::vector<cri::RuntimeCondition> conditions_;
  std::vector<cri::Image> images_;
};

HostUsage Healthy() {
  HostUsage u;
  u.memory_total_bytes = 8 * kGi;
  u.memory_available_bytes = 6 * kGi;
  u.fs_capacity_bytes = 100 * kGi;
  u.fs_available_bytes = 60 * kGi;
  u.fs_inodes = 1000000;
  u.fs_inodes_free = 900000;
  u.pid_max = 4194304;
  u.pids = 300;
  return u;
}

class NodeStatusTest : public ::testing::Test {
 protected:
  NodeStatusTest() : api_(clock_) {
    HostFacts f;
    f.hostname = "host-a";
    f.os_image = "Debian GNU/Linux 12 (bookworm)";
    f.kernel_version = "6.1.0-test";
    f.architecture = "arm64";
    f.machine_id = "m1";
    f.boot_id = "b1";
    f.cpus = 4;
    f.ipv4_addresses = {"192.168.1.20", "10.0.0.5"};
    host_.SetFacts(f);
    host_.SetUsage(Healthy());
    runtime_.SetConditions(true, true);
  }

  std::unique_ptr<NodeStatus> Make(NodeStatusOptions o = {}) {
    if (o.node_name.empty()) o.node_name = "node-a";
    o.data_dir = "/data";
    o.kubelet_version = "v1.32.0+kite0.1.0";
    return std::make_unique<NodeStatus>(api_, runtime_, host_, clock_, o);
  }

  Json Node() {
    auto n = api_.Get(kNodes, "node-a", {});
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    return n.ok() ? *n : Json();
  }

  static Json Cond(const Json& node, const std::string& type) {
    for (const Json& c : node["status"]["conditions"])
      if (c["type"] == type) return c;
    return Json();
  }

  FakeClock clock_;
  client::FakeClient api_;
  FakeHostInfo host_;
  StatusRuntime runtime_;
};

TEST_F(NodeStatusTest, RegistersNodeWithHostFactsAndLease) {
  runtime_.SetImages(
      {{"sha256:p", {"registry.local/kite/pause:3.10"}, {}, 300000},
       {"sha256:b",
        {"registry.local/busybox:latest"},
        {"registry.local/busybox@sha256:bb"},
        1200000}});
  NodeStatusOptions o;
  o.labels["node-role.kubernetes.io/control-plane"] = "true";
  o.kubelet_port = 10250;
  auto ns = Make(o);
  ASSERT_TRUE(ns->Register().ok());
  EXPECT_TRUE(ns->registered());
  EXPECT_TRUE(ns->ready());

  Json n = Node();
  EXPECT_EQ(n["metadata"]["labels"]["kubernetes.io/hostname"], "node-a");
  EXPECT_EQ(n["metadata"]["labels"]["kubernetes.io/arch"], "arm64");
  EXPECT_EQ(n["metadata"]["labels"]["kubernetes.io/os"], "linux");
  EXPECT_EQ(n["metadata"]["labels"]["node-role.kubernetes.io/control-plane"],
            "true");
  const Json& s = n["status"];
  EXPECT_EQ(s["capacity"]["cpu"], "4");
  EXPECT_EQ(s["capacity"]["memory"], "8388608Ki");
  EXPECT_EQ(s["capacity"]["ephemeral-storage"], "104857600Ki");
  EXPECT_EQ(s["capacity"]["pods"], "110");
  // Allocatable: minus the hard eviction thresholds.
  EXPECT_EQ(s["allocatable"]["memory"],
            std::to_string((8 * kGi - 100 * kMi) / 1024) + "Ki");
  EXPECT_EQ(s["allocatable"]["ephemeral-storage"],
            std::to_string(100 * kGi - 10 * kGi));
  EXPECT_EQ(s["allocatable"]["cpu"], "4");
  EXPECT_EQ(ns->allocatable(), s["allocatable"]);
  // The host's first address when no --node-ip was given.
  ASSERT_EQ(s["addresses"].size(), 2u);
  EXPECT_EQ(s["addresses"][0],
            (Json{{"type", "InternalIP"}, {"address", "192.168.1.20"}}));
  EXPECT_EQ(s["addresses"][1],
            (Json{{"type", "Hostname"}, {"address", "node-a"}}));
  EXPECT_EQ(s["daemonEndpoints"]["kubeletEndpoint"]["Port"], 10250);
  const Json& info = s["nodeInfo"];
  EXPECT_EQ(info["containerRuntimeVersion"], "containerd://1.6.20~ds1");
  EXPECT_EQ(info["osImage"], "Debian GNU/Linux 12 (bookworm)");
  EXPECT_EQ(info["kernelVersion"], "6.1.0-test");
  EXPECT_EQ(info["architecture"], "arm64");
  EXPECT_EQ(info["operatingSystem"], "linux");
  EXPECT_EQ(info["kubeletVersion"], "v1.32.0+kite0.1.0");
  EXPECT_EQ(info["machineID"], "m1");
  EXPECT_EQ(info["bootID"], "b1");
  // Images, largest first, digests before tags.
  ASSERT_EQ(s["images"].size(), 2u);
  EXPECT_EQ(s["images"][0]["names"], (Json{"registry.local/busybox@sha256:bb",
                                           "registry.local/busybox:latest"}));
  EXPECT_EQ(s["images"][0]["sizeBytes"], 1200000);
  for (const char* type : {"MemoryPressure", "DiskPressure", "PIDPressure"}) {
    EXPECT_EQ(Cond(n, type)["status"], "False") << type;
  }
  EXPECT_EQ(Cond(n, "Ready")["status"], "True");
  EXPECT_EQ(Cond(n, "Ready")["reason"], "KubeletReady");
  EXPECT_EQ(Cond(n, "Ready")["message"], "kubelet is posting ready status");

  auto lease = api_.Get(kLeases, "node-a", {});
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], "node-a");
  EXPECT_EQ((*lease)["spec"]["leaseDurationSeconds"], 40);
  EXPECT_EQ((*lease)["metadata"]["ownerReferences"][0]["uid"],
            n["metadata"]["uid"]);
}

TEST_F(NodeStatusTest, NodeIpFlagWins) {
  NodeStatusOptions o;
  o.node_ips = {"10.99.0.7"};
  auto ns = Make(o);
  ASSERT_TRUE(ns->Register().ok());
  EXPECT_EQ(Node()["status"]["addresses"][0]["address"], "10.99.0.7");
}

TEST_F(NodeStatusTest, ReadyFollowsTheRuntimeAndKeepsTransitionTimes) {
  runtime_.SetConditions(true, false);
  auto ns = Make();
  ASSERT_TRUE(ns->Register().ok());
  Json ready = Cond(Node(), "Ready");
  EXPECT_EQ(ready["status"], "False");
  EXPECT_EQ(ready["reason"], "KubeletNotReady");
  EXPECT_EQ(ready["message"],
            "container runtime network not ready: NetworkReady=false "
            "reason:NetworkPluginNotReady message:cni plugin not initialized");
  EXPECT_FALSE(ns->ready());
  // Not Ready: the next round comes soon.
  EXPECT_LE(ns->Tick(), milliseconds(500));
  std::string first_transition = ready["lastTransitionTime"];
  std::string memory_transition =
      Cond(Node(), "MemoryPressure")["lastTransitionTime"];

  clock_.Advance(seconds(3));
  runtime_.SetConditions(true, true);
  ns->Tick();
  ready = Cond(Node(), "Ready");
  EXPECT_EQ(ready["status"], "True");
  EXPECT_NE(ready["lastTransitionTime"], first_transition);
  EXPECT_EQ(ready["lastHeartbeatTime"], ready["lastTransitionTime"]);
  // Conditions that did not flip keep their transition time.
  EXPECT_EQ(Cond(Node(), "MemoryPressure")["lastTransitionTime"],
            memory_transition);

  clock_.Advance(seconds(3));
  runtime_.SetDown(true);
  ns->Tick();
  ready = Cond(Node(), "Ready");
  EXPECT_EQ(ready["status"], "False");
  EXPECT_EQ(ready["message"], "container runtime is down: connection refused");
}

TEST_F(NodeStatusTest, PressureConditionsUseEvictionThresholds) {
  auto ns = Make();
  ASSERT_TRUE(ns->Register().ok());
  HostUsage u = Healthy();
  u.memory_available_bytes = 99 * kMi;
  u.fs_available_bytes = 9 * kGi;  // 9% of 100Gi
  u.pids = u.pid_max - 1000;
  host_.SetUsage(u);
  clock_.Advance(seconds(10));
  ns->Tick();
  Json n = Node();
  EXPECT_EQ(Cond(n, "MemoryPressure")["status"], "True");
  EXPECT_EQ(Cond(n, "MemoryPressure")["reason"],
            "KubeletHasInsufficientMemory");
  EXPECT_EQ(Cond(n, "DiskPressure")["status"], "True");
  EXPECT_EQ(Cond(n, "DiskPressure")["reason"], "KubeletHasDiskPressure");
  EXPECT_EQ(Cond(n, "PIDPressure")["status"], "True");
  EXPECT_EQ(Cond(n, "PIDPressure")["reason"], "KubeletHasInsufficientPID");

  // Just inside the thresholds: no pressure; inodes alone count for disk.
  u = Healthy();
  u.memory_available_bytes = 101 * kMi;
  u.fs_available_bytes = 11 * kGi;
  u.fs_inodes_free = 40000;  // 4% of 1,000,000
  host_.SetUsage(u);
  clock_.Advance(seconds(10));
  ns->Tick();
  n = Node();
  EXPECT_EQ(Cond(n, "MemoryPressure")["status"], "False");
  EXPECT_EQ(Cond(n, "DiskPressure")["status"], "True");
  EXPECT_EQ(Cond(n, "PIDPressure")["status"], "False");
}

TEST_F(NodeStatusTest, IdleNodeWritesOnlyTheLeaseUntilReportIsDue) {
  auto ns = Make();
  ASSERT_TRUE(ns->Register().ok());
  // podCIDR known, Ready: rounds are at the lease period.
  Json n = Node();
  n["spec"]["podCIDR"] = "10.42.0.0/24";
  ASSERT_TRUE(api_.Update(kNodes, n, {}).ok());
  int64_t posts = ns->status_posts();
  int64_t renewals = ns->lease_renewals();
  EXPECT_EQ(ns->Tick(), milliseconds(10000));
  for (int i = 0; i < 6; ++i) {
    clock_.Advance(seconds(10));
    ns->Tick();
  }
  EXPECT_EQ(ns->status_posts(), posts);
  EXPECT_EQ(ns->lease_renewals(), renewals + 6);
  // After status_report_period (5 min) the unchanged status is posted.
  clock_.Advance(seconds(300));
  ns->Tick();
  EXPECT_EQ(ns->status_posts(), posts + 1);
  // A change is posted at once.
  HostUsage u = Healthy();
  u.memory_available_bytes = 10 * kMi;
  host_.SetUsage(u);
  clock_.Advance(seconds(10));
  ns->Tick();
  EXPECT_EQ(ns->status_posts(), posts + 2);
}

TEST_F(NodeStatusTest, ReportsPodCidrOnce) {
  std::vector<std::string> seen;
  NodeStatusOptions o;
  o.on_pod_cidr = [&](const std::string& cidr) { seen.push_back(cidr); };
  auto ns = Make(o);
  ASSERT_TRUE(ns->Register().ok());
  EXPECT_TRUE(seen.empty());
  EXPECT_EQ(ns->pod_cidr(), "");
  Json n = Node();
  n["spec"]["podCIDR"] = "10.42.3.0/24";
  ASSERT_TRUE(api_.Update(kNodes, n, {}).ok());
  ns->Tick();
  clock_.Advance(seconds(10));
  ns->Tick();
  EXPECT_EQ(seen, std::vector<std::string>{"10.42.3.0/24"});
  EXPECT_EQ(ns->pod_cidr(), "10.42.3.0/24");
}

TEST_F(NodeStatusTest, ReRegistersADeletedNode) {
  auto ns = Make();
  ASSERT_TRUE(ns->Register().ok());
  // kubectl delete node: the garbage collector takes the Lease with it.
  ASSERT_TRUE(api_.Delete(kNodes, "node-a", {}).ok());
  ASSERT_TRUE(api_.Delete(kLeases, "node-a", {}).ok());
  clock_.Advance(seconds(10));
  ns->Tick();  // the lease renewal finds no Node
  EXPECT_FALSE(ns->registered());
  ns->Tick();
  EXPECT_TRUE(ns->registered());
  EXPECT_EQ(Cond(Node(), "Ready")["status"], "True");
  EXPECT_TRUE(api_.Get(kLeases, "node-a", {}).ok());

  // Deleted while a status change is posted: the post finds no Node.
  ASSERT_TRUE(api_.Delete(kNodes, "node-a", {}).ok());
  runtime_.SetConditions(true, false);
  ns->Tick();
  EXPECT_FALSE(ns->registered());
  ns->Tick();
  EXPECT_TRUE(ns->registered());
  EXPECT_EQ(Cond(Node(), "Ready")["status"], "False");
}

TEST_F(NodeStatusTest, SurvivesAnUnreachableServer) {
  auto ns = Make();
  // Offline from the start: registration fails and is retried.
  api_.InjectError("", "", UnavailableError("connection refused"), 3);
  ns->Tick();
  EXPECT_FALSE(ns->registered());
  api_.ClearInjectedErrors();
  ns->Tick();
  EXPECT_TRUE(ns->registered());
  int64_t renewals = ns->lease_renewals();
  // Offline later: the lease is not renewed, rounds come faster; back
  // online, it is renewed at once.
  api_.InjectError("", "", UnavailableError("connection refused"), 100);
  clock_.Advance(seconds(10));
  EXPECT_LE(ns->Tick(), milliseconds(500));
  EXPECT_EQ(ns->lease_renewals(), renewals);
  api_.ClearInjectedErrors();
  clock_.Advance(seconds(1));
  ns->Tick();
  EXPECT_EQ(ns->lease_renewals(), renewals + 1);
}

TEST_F(NodeStatusTest, ThreadRegistersAndStops) {
  NodeStatusOptions o;
  o.fast_period = milliseconds(10);
  auto ns = Make(o);
  ASSERT_TRUE(ns->Start().ok());
  for (int i = 0; i < 500 && !ns->registered(); ++i)
    std::this_thread::sleep_for(milliseconds(10));
  EXPECT_TRUE(ns->registered());
  ns->Stop();
  ns->Stop();
}

TEST(RealHostInfoTest, ReadsThisHost) {
  auto host = NewRealHostInfo();
  HostFacts f = host->Facts();
  EXPECT_GT(f.cpus, 0);
  EXPECT_FALSE(f.kernel_version.empty());
  EXPECT_FALSE(f.os_image.empty());
  EXPECT_FALSE(f.architecture.empty());
  auto u = host->Usage("/");
  ASSERT_TRUE(u.ok());
  EXPECT_GT(u->memory_total_bytes, 0);
  EXPECT_GT(u->memory_available_bytes, 0);
  EXPECT_GT(u->fs_capacity_bytes, 0);
  EXPECT_GT(u->pid_max, 0);
  EXPECT_GT(u->pids, 0);
}

}  // namespace
}  // namespace kite::kubelet

// CriClient against a real containerd: a private instance (its own root,
// state, socket and runc root under a temp dir) started inside a network
// namespace this test creates (no route out), with a bridge CNI conflist for
// a private subnet, the build's pause and busybox images imported with ctr,
// then a pod's whole life through the CRI. Skipped only when
// /usr/bin/containerd is not installed. Everything it made is removed in
// TearDownTestSuite, also after a failure: sandboxes through the CRI, then
// the containerd process and any shim left, mounts under the temp dir,
// the pod and test network namespaces, cgroups, CNI state, the temp dir.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "agent/cri/cri_client.h"

namespace kite::cri {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* kContainerd = "/usr/bin/containerd";
constexpr const char* kPauseTar = KITE_TEST_PAUSE_IMAGE_TAR;
constexpr const char* kPauseImage = KITE_TEST_PAUSE_IMAGE;
constexpr const char* kBusyboxTar = KITE_TEST_BUSYBOX_IMAGE_TAR;
constexpr const char* kBusyboxImage = KITE_TEST_BUSYBOX_IMAGE;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteAll(const std::string& path, const std::string& data) {
  std::ofstream out(path);
  out << data;
}

// Runs a shell command; returns its exit status and stdout+stderr.
int Sh(const std::string& cmd, std::string* output = nullptr) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int rc = pclose(p);
  if (output != nullptr) *output = out;
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string Tail(const std::string& path) {
  std::string log = ReadAll(path);
  return log.size() > 3000 ? log.substr(log.size() - 3000) : log;
}

// Everything the suite made, for the teardown.
struct Env {
  std::string dir;            // temp root
  std::string netns;          // kite-cri-<pid>
  std::string cgroup_root;    // kite-cri-test-<pid>, under each controller
  std::string network;        // CNI network name
  std::string subnet_prefix;  // "10.199.<n>."
  std::string socket;
  pid_t containerd_pid = 0;
  std::unique_ptr<Runtime> runtime;
  std::vector<std::string> pod_netns;  // /var/run/netns/cni-... seen
  std::string setup_error;             // why the suite has no runtime
};

Env* env = nullptr;

bool WaitExit(pid_t pid, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

// Starts containerd in the test's network namespace and waits until it
// answers Version. Returns "" or what went wrong.
std::string StartContainerd() {
  const std::string& d = env->dir;
  pid_t child = fork();
  if (child == 0) {
    FILE* log = freopen((d + "/containerd.log").c_str(), "a", stdout);
    if (log != nullptr) dup2(fileno(stdout), STDERR_FILENO);
    // Only the network namespace: `ip netns exec` would also remount /sys in
    // a mount namespace of its own, hiding the cgroup mounts runc needs.
    int ns = open(("/var/run/netns/" + env->netns).c_str(), O_RDONLY);
    if (ns < 0 || setns(ns, CLONE_NEWNET) != 0) _exit(126);
    close(ns);
    execl(kContainerd, kContainerd, "--config", (d + "/config.toml").c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  if (child < 0) return "fork failed";
  env->containerd_pid = child;
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(child, nullptr, WNOHANG) == child) {
      env->containerd_pid = 0;
      return "containerd exited; its log:\n" + Tail(d + "/containerd.log");
    }
    if (ConnectCri("unix://" + env->socket).ok()) return "";
    std::this_thread::sleep_for(100ms);
  }
  return "containerd did not answer Version in 60 s; its log:\n" +
         Tail(d + "/containerd.log");
}

// SIGTERM, then SIGKILL after 10 s. Its shims and containers live on.
void StopContainerd() {
  if (env->containerd_pid <= 0) return;
  kill(env->containerd_pid, SIGTERM);
  if (!WaitExit(env->containerd_pid, 10s)) {
    kill(env->containerd_pid, SIGKILL);
    WaitExit(env->containerd_pid, 5s);
  }
  env->containerd_pid = 0;
}

// PIDs whose command line mentions `needle` (the shims name our socket).
std::vector<pid_t> ProcessesMentioning(const std::string& needle) {
  std::vector<pid_t> pids;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = ReadAll(entry.path() / "cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    pid_t pid = std::stoi(name);
    if (pid != getpid() && cmdline.find(needle) != std::string::npos) {
      pids.push_back(pid);
    }
  }
  return pids;
}

// Mount points under `dir` (deepest first).
std::vector<std::string> MountsUnder(const std::string& dir) {
  std::vector<std::string> mounts;
  std::istringstream in(ReadAll("/proc/self/mountinfo"));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, devs, root, point;
    fields >> id >> parent >> devs >> root >> point;
    if (point.starts_with(dir + "/")) mounts.push_back(point);
  }
  std::sort(mounts.begin(), mounts.end(),
            [](const std::string& a, const std::string& b) {
              return a.size() > b.size();
            });
  return mounts;
}

// rmdir a cgroup tree, children first (cgroup dirs hold only pseudo-files).
void RemoveCgroupTree(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_directory(ec)) RemoveCgroupTree(entry.path());
  }
  rmdir(dir.c_str());
}

class ContainerdTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (access(kContainerd, X_OK) != 0) return;  // each test skips
    env = new Env;
    pid_t pid = getpid();
    char tmpl[] = "/tmp/kite-cri-test-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      env->setup_error = "mkdtemp failed";
      return;
    }
    env->dir = tmpl;
    env->netns = "kite-cri-" + std::to_string(pid);
    env->cgroup_root = "kite-cri-test-" + std::to_string(pid);
    env->network = "kite-cri-" + std::to_string(pid);
    env->subnet_prefix = "10.199." + std::to_string(pid % 250) + ".";
    env->socket = env->dir + "/containerd.sock";
    const std::string& d = env->dir;

    // The network namespace containerd (and the CNI bridge) lives in.
    std::string out;
    if (Sh("ip netns add " + env->netns, &out) != 0) {
      env->setup_error = "ip netns add " + env->netns + ": " + out;
      env->netns.clear();  // not ours to delete
      return;
    }
    Sh("ip netns exec " + env->netns + " ip link set lo up");

    fs::create_directories(d + "/net.d");
    // One bridge per test run; names unique per PID (the bridge and the
    // iptables state live in our namespace anyway).
    WriteAll(d + "/net.d/10-kite-cri-test.conflist",
             R"({"cniVersion": "1.0.0", "name": ")" + env->network +
                 R"(", "plugins": [{"type": "bridge", "bridge": "kcri)" +
                 std::to_string(pid % 10000000) +
                 R"(", "isGateway": true, "ipMasq": false,
  "hairpinMode": true, "ipam": {"type": "host-local",
  "ranges": [[{"subnet": ")" +
                 env->subnet_prefix + R"(0/24"}]],
  "routes": [{"dst": "0.0.0.0/0"}], "dataDir": ")" +
                 d + R"(/ipam"}}]})");
    // The stream server listens on the namespace's own loopback, so a fixed
    // port cannot clash with anyone else's.
    WriteAll(d + "/config.toml", R"(version = 2
root = ")" + d + R"(/root"
state = ")" + d + R"(/state"
[grpc]
  address = ")" + env->socket + R"("
[ttrpc]
  address = ")" + env->socket + R"(.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = ")" + d + R"(/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = ")" + kPauseImage + R"("
  stream_server_address = "127.0.0.1"
  stream_server_port = "10010"
  enable_selinux = false
  disable_apparmor = true
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        SystemdCgroup = false
        Root = ")" + d + R"(/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = ")" + d + R"(/net.d"
    max_conf_num = 1
)");

    env->setup_error = StartContainerd();
    if (!env->setup_error.empty()) return;
    auto runtime = ConnectCri("unix://" + env->socket);
    if (!runtime.ok()) {
      env->setup_error = runtime.status().ToString();
      return;
    }
    env->runtime = std::move(*runtime);
    for (const char* tar : {kPauseTar, kBusyboxTar}) {
      if (Sh("ctr --address " + env->socket +
                 " -n k8s.io images import --all-platforms " + tar,
             &out) != 0) {
        env->setup_error = std::string("ctr import ") + tar + ": " + out;
      }
    }
  }

  static void TearDownTestSuite() {
    if (env == nullptr) return;
    const std::string& d = env->dir;
    const ::testing::TestSuite* suite =
        ::testing::UnitTest::GetInstance()->current_test_suite();
    if (suite != nullptr && suite->failed_test_count() > 0 && !d.empty()) {
      // The temp dir goes away below: keep containerd's view of the failure.
      std::fprintf(stderr, "--- containerd.log (end) ---\n%s\n",
                   Tail(d + "/containerd.log").c_str());
    }
    if (env->runtime) {
      // Sandboxes first: that stops their shims and frees their netns.
      auto sandboxes = env->runtime->ListPodSandbox({});
      if (sandboxes.ok()) {
        for (const PodSandbox& s : *sandboxes) {
          env->runtime->StopPodSandbox(s.id).IgnoreError();
          env->runtime->RemovePodSandbox(s.id).IgnoreError();
        }
      }
      env->runtime.reset();
    }
    StopContainerd();
    if (!d.empty()) {
      // Shims (and their containers) still running: they name our socket.
      for (pid_t pid : ProcessesMentioning(env->socket)) kill(pid, SIGKILL);
      for (const std::string& m : MountsUnder(d)) {
        umount2(m.c_str(), MNT_DETACH);
      }
    }
    for (const std::string& ns : env->pod_netns) {
      if (fs::exists(ns))
        Sh("ip netns delete " + fs::path(ns).filename().string());
    }
    if (!env->netns.empty()) Sh("ip netns delete " + env->netns);
    for (const char* controller :
         {"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio",
          "pids", "systemd", "unified", "hugetlb", "net_cls", "net_prio",
          "perf_event", "rdma", "misc"}) {
      RemoveCgroupTree(fs::path("/sys/fs/cgroup") / controller /
                       env->cgroup_root);
    }
    std::error_code ec;
    if (!env->network.empty()) {
      for (const auto& entry :
           fs::directory_iterator("/var/lib/cni/results", ec)) {
        if (entry.path().filename().string().starts_with(env->network + "-")) {
          fs::remove(entry.path(), ec);
        }
      }
    }
    if (!d.empty()) fs::remove_all(d, ec);
    delete env;
    env = nullptr;
  }

  void SetUp() override {
    if (access(kContainerd, X_OK) != 0) {
      GTEST_SKIP() << kContainerd
                   << " is not installed (apt-get install containerd runc "
                      "containernetworking-plugins)";
    }
    ASSERT_NE(env, nullptr);
    ASSERT_FALSE(std::string(kBusyboxTar).empty())
        << "built without the busybox test image (images/CMakeLists.txt "
           "needs Debian's busybox-static)";
    ASSERT_TRUE(env->setup_error.empty()) << env->setup_error;
    ASSERT_TRUE(env->runtime != nullptr);
  }

  Runtime& rt() { return *env->runtime; }

  // A sandbox config as the kubelet writes it (runtime.h's conventions).
  PodSandboxConfig SandboxConfig(const std::string& name) {
    PodSandboxConfig c;
    std::string uid = name + "-uid-" + std::to_string(getpid());
    c.metadata = {name, uid, "default", 0};
    c.hostname = name;
    c.log_directory = env->dir + "/pods/default_" + name + "_" + uid;
    c.labels = {{"io.kubernetes.pod.name", name},
                {"io.kubernetes.pod.namespace", "default"},
                {"io.kubernetes.pod.uid", uid},
                {"app", "cri-test"}};
    c.annotations = {{"kite.test/owner", "cri_test"}};
    c.cgroup_parent = "/" + env->cgroup_root + "/pod" + uid;
    c.dns_config.servers = {"10.43.0.10"};
    c.dns_config.searches = {"default.svc.cluster.local"};
    return c;
  }

  ContainerConfig Container(const PodSandboxConfig& sandbox,
                            const std::string& name,
                            std::vector<std::string> command) {
    ContainerConfig c;
    c.name = name;
    c.image = kBusyboxImage;
    c.command = std::move(command);
    c.log_path = name + "/0.log";
    c.labels = {{"io.kubernetes.container.name", name}};
    for (const char* key :
         {"io.kubernetes.pod.name", "io.kubernetes.pod.namespace",
          "io.kubernetes.pod.uid"}) {
      c.labels[key] = sandbox.labels.at(key);
    }
    c.envs = {{"GREETING", "hello from cri"}};
    return c;
  }

  // Polls until the container reached `state` (or 30 s passed).
  StatusOr<ContainerStatus> WaitState(const std::string& id,
                                      ContainerState state) {
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (true) {
      auto st = rt().GetContainerStatus(id);
      if (!st.ok() || st->state == state ||
          std::chrono::steady_clock::now() > deadline) {
        return st;
      }
      std::this_thread::sleep_for(50ms);
    }
  }
};

TEST_F(ContainerdTest, RuntimeAndImages) {
  auto version = rt().Version();
  ASSERT_TRUE(version.ok()) << version.status().ToString();
  EXPECT_EQ(version->runtime_name, "containerd");
  EXPECT_EQ(version->runtime_api_version, "v1");
  EXPECT_FALSE(version->runtime_version.empty());

  auto conditions = rt().RuntimeStatus();
  ASSERT_TRUE(conditions.ok()) << conditions.status().ToString();
  std::map<std::string, bool> ready;
  for (const RuntimeCondition& c : *conditions) ready[c.type] = c.status;
  EXPECT_TRUE(ready["RuntimeReady"]);
  EXPECT_TRUE(ready["NetworkReady"]) << "the CNI conflist was not picked up";

  auto busybox = rt().ImageStatus(kBusyboxImage);
  ASSERT_TRUE(busybox.ok()) << busybox.status().ToString();
  ASSERT_TRUE(busybox->has_value()) << kBusyboxImage << " not imported";
  EXPECT_TRUE((*busybox)->id.starts_with("sha256:")) << (*busybox)->id;
  EXPECT_NE(std::find((*busybox)->repo_tags.begin(),
                      (*busybox)->repo_tags.end(), kBusyboxImage),
            (*busybox)->repo_tags.end());
  EXPECT_GT((*busybox)->size, 100000u);  // busybox-static is ~2 MB

  // Names are normalised: no tag means :latest.
  auto untagged = rt().ImageStatus("registry.local/busybox");
  ASSERT_TRUE(untagged.ok()) << untagged.status().ToString();
  ASSERT_TRUE(untagged->has_value());
  EXPECT_EQ((*untagged)->id, (*busybox)->id);

  // Absent images are nullopt, not errors; nothing is pulled.
  auto absent = rt().ImageStatus("registry.local/absent/image:1");
  ASSERT_TRUE(absent.ok()) << absent.status().ToString();
  EXPECT_FALSE(absent->has_value());

  auto images = rt().ListImages();
  ASSERT_TRUE(images.ok()) << images.status().ToString();
  std::vector<std::string> tags;
  for (const Image& i : *images) {
    tags.insert(tags.end(), i.repo_tags.begin(), i.repo_tags.end());
  }
  EXPECT_NE(std::find(tags.begin(), tags.end(), kPauseImage), tags.end());
  EXPECT_NE(std::find(tags.begin(), tags.end(), kBusyboxImage), tags.end());
}

TEST_F(ContainerdTest, UnknownIdsAreNotFound) {
  const std::string unknown(64, 'f');
  EXPECT_EQ(rt().GetPodSandboxStatus(unknown, false).status().code(),
            Code::kNotFound);
  EXPECT_EQ(rt().GetContainerStatus(unknown).status().code(), Code::kNotFound);
  EXPECT_EQ(rt().StartContainer(unknown).code(), Code::kNotFound);
  EXPECT_EQ(rt().StopContainer(unknown, 0).code(), Code::kNotFound);
  EXPECT_EQ(rt().ExecSync(unknown, {"true"}, 1s).status().code(),
            Code::kNotFound);
  ExecRequest exec;
  exec.container_id = unknown;
  exec.cmd = {"sh"};
  EXPECT_EQ(rt().Exec(exec).status().code(), Code::kNotFound);
  // containerd treats these removals as done.
  EXPECT_TRUE(rt().RemoveContainer(unknown).ok());
  EXPECT_TRUE(rt().RemoveImage("registry.local/absent/image:1").ok());
  ContainerFilter by_id;
  by_id.id = unknown;
  auto none = rt().ListContainers(by_id);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE(none->empty());
  // As in the CRI, stopping or removing an unknown sandbox is fine.
  EXPECT_TRUE(rt().StopPodSandbox(unknown).ok());
  EXPECT_TRUE(rt().RemovePodSandbox(unknown).ok());
  // A container in an unknown sandbox cannot be created.
  PodSandboxConfig sandbox = SandboxConfig("nowhere");
  EXPECT_EQ(
      rt().CreateContainer(unknown, Container(sandbox, "c", {"true"}), sandbox)
          .status()
          .code(),
      Code::kNotFound);
}

TEST_F(ContainerdTest, PodLifecycle) {
  // --- sandbox
  PodSandboxConfig sandbox = SandboxConfig("pod-a");
  auto sandbox_id = rt().RunPodSandbox(sandbox);
  ASSERT_TRUE(sandbox_id.ok()) << sandbox_id.status().ToString() << "\n"
                               << Tail(env->dir + "/containerd.log");
  EXPECT_EQ(sandbox_id->size(), 64u);

  // The same metadata again: the name is taken.
  EXPECT_EQ(rt().RunPodSandbox(sandbox).status().code(), Code::kAlreadyExists);

  auto status = rt().GetPodSandboxStatus(*sandbox_id, true);
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  EXPECT_EQ(status->id, *sandbox_id);
  EXPECT_EQ(status->state, SandboxState::kReady);
  EXPECT_EQ(status->metadata.name, "pod-a");
  EXPECT_EQ(status->metadata.uid, sandbox.metadata.uid);
  EXPECT_EQ(status->metadata.namespace_, "default");
  EXPECT_GT(status->created_at, 0);
  EXPECT_TRUE(status->ip.starts_with(env->subnet_prefix))
      << "pod IP '" << status->ip << "' not from the test's subnet "
      << env->subnet_prefix << "0/24";
  EXPECT_EQ(status->namespace_options.network, NamespaceMode::kPod);
  EXPECT_EQ(status->namespace_options.pid, NamespaceMode::kContainer);
  EXPECT_EQ(status->labels.at("app"), "cri-test");
  EXPECT_EQ(status->annotations.at("kite.test/owner"), "cri_test");
  // Verbose info: containerd's JSON with the sandbox's pid and netns path.
  ASSERT_TRUE(status->info.count("info")) << "no verbose info";
  const std::string& info = status->info.at("info");
  EXPECT_NE(info.find("\"pid\""), std::string::npos) << info.substr(0, 500);
  std::smatch netns;
  ASSERT_TRUE(std::regex_search(info, netns,
                                std::regex("/var/run/netns/cni-[0-9a-f-]+")))
      << info.substr(0, 2000);
  env->pod_netns.push_back(netns.str());
  // The pod's network namespace really has that address on eth0.
  std::string addr;
  EXPECT_EQ(Sh("ip netns exec " + fs::path(netns.str()).filename().string() +
                   " ip -4 -o addr show eth0",
               &addr),
            0);
  EXPECT_NE(addr.find(status->ip + "/24"), std::string::npos) << addr;

  // --- a container that writes to stdout and stderr and exits 3
  ContainerConfig main = Container(
      sandbox, "main", {"sh", "-c", "echo $GREETING; echo oops >&2; exit 3"});
  auto main_id = rt().CreateContainer(*sandbox_id, main, sandbox);
  ASSERT_TRUE(main_id.ok()) << main_id.status().ToString();
  auto created = rt().GetContainerStatus(*main_id);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(created->state, ContainerState::kCreated);
  ASSERT_TRUE(rt().StartContainer(*main_id).ok());
  auto exited = WaitState(*main_id, ContainerState::kExited);
  ASSERT_TRUE(exited.ok()) << exited.status().ToString();
  EXPECT_EQ(exited->state, ContainerState::kExited);
  EXPECT_EQ(exited->exit_code, 3);
  EXPECT_EQ(exited->reason, "Error");
  EXPECT_EQ(exited->name, "main");
  EXPECT_GT(exited->started_at, 0);
  // (containerd stamps started_at when the start call returns, which can
  // be after a quick process already finished: no order between them.)
  EXPECT_GT(exited->finished_at, 0);
  EXPECT_EQ(exited->labels.at("io.kubernetes.container.name"), "main");
  EXPECT_FALSE(exited->image_ref.empty());
  EXPECT_EQ(exited->log_path, sandbox.log_directory + "/main/0.log");

  // --- its log, in the CRI format
  std::string log = ReadAll(exited->log_path);
  std::regex stdout_line(
      "(^|\n)\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d+(Z|[+-]\\d\\d:"
      "\\d\\d) stdout F hello from cri\n");
  std::regex stderr_line(
      "(^|\n)\\d{4}-\\d\\d-\\d\\dT[0-9:.]+(Z|[+-]\\d\\d:\\d\\d) stderr F "
      "oops\n");
  EXPECT_TRUE(std::regex_search(log, stdout_line)) << log;
  EXPECT_TRUE(std::regex_search(log, stderr_line)) << log;

  // --- a long-running container: exec into it
  ContainerConfig sleeper = Container(sandbox, "sleeper", {"sleep", "100000"});
  auto sleeper_id = rt().CreateContainer(*sandbox_id, sleeper, sandbox);
  ASSERT_TRUE(sleeper_id.ok()) << sleeper_id.status().ToString();
  EXPECT_EQ(rt().CreateContainer(*sandbox_id, sleeper, sandbox).status().code(),
            Code::kAlreadyExists);
  // Nothing is pulled: an absent image is NotFound.
  ContainerConfig absent_image = sleeper;
  absent_image.name = "absent-image";
  absent_image.image = "registry.local/absent/image:1";
  EXPECT_EQ(
      rt().CreateContainer(*sandbox_id, absent_image, sandbox).status().code(),
      Code::kNotFound);
  ASSERT_TRUE(rt().StartContainer(*sleeper_id).ok());
  auto running = WaitState(*sleeper_id, ContainerState::kRunning);
  ASSERT_TRUE(running.ok());
  EXPECT_EQ(running->state, ContainerState::kRunning);

  auto exec = rt().ExecSync(
      *sleeper_id, {"sh", "-c", "echo out; echo err >&2; exit 4"}, 10s);
  ASSERT_TRUE(exec.ok()) << exec.status().ToString();
  EXPECT_EQ(exec->stdout_bytes, "out\n");
  EXPECT_EQ(exec->stderr_bytes, "err\n");
  EXPECT_EQ(exec->exit_code, 4);
  // The pid namespace is the container's own: sleep is PID 1.
  auto ps = rt().ExecSync(*sleeper_id, {"cat", "/proc/1/cmdline"}, 10s);
  ASSERT_TRUE(ps.ok()) << ps.status().ToString();
  EXPECT_EQ(ps->stdout_bytes, std::string("sleep") + '\0' + "100000" + '\0');
  // A command outliving its timeout is ended: DeadlineExceeded, as kubelet
  // needs for exec probes.
  auto exec_start = std::chrono::steady_clock::now();
  auto slow = rt().ExecSync(*sleeper_id, {"sleep", "30"}, 1s);
  auto exec_took = std::chrono::steady_clock::now() - exec_start;
  EXPECT_EQ(slow.status().code(), Code::kDeadlineExceeded)
      << slow.status().ToString();
  EXPECT_LT(exec_took, 20s);
  auto hostname = rt().ExecSync(*sleeper_id, {"cat", "/etc/hostname"}, 10s);
  ASSERT_TRUE(hostname.ok());
  EXPECT_EQ(hostname->stdout_bytes, "pod-a\n");

  // Streaming calls answer one-use URLs on containerd's stream server.
  ExecRequest exec_request;
  exec_request.container_id = *sleeper_id;
  exec_request.cmd = {"sh"};
  exec_request.use_stdin = true;
  auto exec_url = rt().Exec(exec_request);
  ASSERT_TRUE(exec_url.ok()) << exec_url.status().ToString();
  EXPECT_TRUE(exec_url->starts_with("http://127.0.0.1:10010/exec/"))
      << *exec_url;
  AttachRequest attach_request;
  attach_request.container_id = *sleeper_id;
  auto attach_url = rt().Attach(attach_request);
  ASSERT_TRUE(attach_url.ok()) << attach_url.status().ToString();
  EXPECT_TRUE(attach_url->starts_with("http://127.0.0.1:10010/attach/"))
      << *attach_url;
  auto forward_url = rt().PortForward(*sandbox_id, {8080});
  ASSERT_TRUE(forward_url.ok()) << forward_url.status().ToString();
  EXPECT_TRUE(forward_url->starts_with("http://127.0.0.1:10010/portforward/"))
      << *forward_url;

  // --- lists with filters
  ContainerFilter by_name;
  by_name.label_selector = {{"io.kubernetes.container.name", "sleeper"}};
  auto listed = rt().ListContainers(by_name);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].id, *sleeper_id);
  EXPECT_EQ((*listed)[0].pod_sandbox_id, *sandbox_id);
  EXPECT_EQ((*listed)[0].name, "sleeper");
  EXPECT_EQ((*listed)[0].state, ContainerState::kRunning);
  ContainerFilter exited_in_pod;
  exited_in_pod.pod_sandbox_id = *sandbox_id;
  exited_in_pod.state = ContainerState::kExited;
  listed = rt().ListContainers(exited_in_pod);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].id, *main_id);
  ContainerFilter in_pod;
  in_pod.pod_sandbox_id = *sandbox_id;
  listed = rt().ListContainers(in_pod);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 2u);

  PodSandboxFilter by_app;
  by_app.label_selector = {{"app", "cri-test"},
                           {"io.kubernetes.pod.name", "pod-a"}};
  auto sandboxes = rt().ListPodSandbox(by_app);
  ASSERT_TRUE(sandboxes.ok()) << sandboxes.status().ToString();
  ASSERT_EQ(sandboxes->size(), 1u);
  EXPECT_EQ((*sandboxes)[0].id, *sandbox_id);
  EXPECT_EQ((*sandboxes)[0].metadata.name, "pod-a");
  EXPECT_EQ((*sandboxes)[0].state, SandboxState::kReady);
  by_app.label_selector["app"] = "other";
  sandboxes = rt().ListPodSandbox(by_app);
  ASSERT_TRUE(sandboxes.ok());
  EXPECT_EQ(sandboxes->size(), 0u);
  PodSandboxFilter ready;
  ready.state = SandboxState::kReady;
  ready.id = *sandbox_id;
  sandboxes = rt().ListPodSandbox(ready);
  ASSERT_TRUE(sandboxes.ok());
  EXPECT_EQ(sandboxes->size(), 1u);

  // --- stop: sleep as PID 1 ignores SIGTERM, so it takes SIGKILL (137)
  // after the 1 s grace period.
  auto before = std::chrono::steady_clock::now();
  ASSERT_TRUE(rt().StopContainer(*sleeper_id, 1).ok());
  auto stop_took = std::chrono::steady_clock::now() - before;
  EXPECT_GE(stop_took, 900ms);
  auto stopped = rt().GetContainerStatus(*sleeper_id);
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(stopped->state, ContainerState::kExited);
  EXPECT_EQ(stopped->exit_code, 137);

  // --- remove
  ASSERT_TRUE(rt().RemoveContainer(*main_id).ok());
  ASSERT_TRUE(rt().RemoveContainer(*sleeper_id).ok());
  EXPECT_EQ(rt().GetContainerStatus(*main_id).status().code(), Code::kNotFound);
  listed = rt().ListContainers(in_pod);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 0u);

  ASSERT_TRUE(rt().StopPodSandbox(*sandbox_id).ok());
  auto stopped_sandbox = rt().GetPodSandboxStatus(*sandbox_id, false);
  ASSERT_TRUE(stopped_sandbox.ok());
  EXPECT_EQ(stopped_sandbox->state, SandboxState::kNotReady);
  EXPECT_FALSE(fs::exists(netns.str())) << "pod netns left after stop";
  ASSERT_TRUE(rt().RemovePodSandbox(*sandbox_id).ok());
  EXPECT_EQ(rt().GetPodSandboxStatus(*sandbox_id, false).status().code(),
            Code::kNotFound);
  // Stopping or removing it again is fine.
  EXPECT_TRUE(rt().StopPodSandbox(*sandbox_id).ok());
  EXPECT_TRUE(rt().RemovePodSandbox(*sandbox_id).ok());
}

// Probes and status loops call the one client from many threads at once;
// each call gets its own answer.
TEST_F(ContainerdTest, ConcurrentCalls) {
  PodSandboxConfig sandbox = SandboxConfig("pod-concurrent");
  auto sandbox_id = rt().RunPodSandbox(sandbox);
  ASSERT_TRUE(sandbox_id.ok()) << sandbox_id.status().ToString();
  auto container_id = rt().CreateContainer(
      *sandbox_id, Container(sandbox, "sleeper", {"sleep", "100000"}), sandbox);
  ASSERT_TRUE(container_id.ok()) << container_id.status().ToString();
  ASSERT_TRUE(rt().StartContainer(*container_id).ok());

  constexpr int kThreads = 4, kCalls = 8;
  std::vector<std::string> failures[kThreads];
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        std::string word = std::to_string(t) + "-" + std::to_string(i);
        auto exec = rt().ExecSync(*container_id, {"echo", word}, 30s);
        if (!exec.ok() || exec->stdout_bytes != word + "\n") {
          failures[t].push_back(
              word + ": " +
              (exec.ok() ? exec->stdout_bytes : exec.status().ToString()));
        }
        auto status = rt().GetContainerStatus(*container_id);
        if (!status.ok() || status->id != *container_id) {
          failures[t].push_back(word + ": status " +
                                status.status().ToString());
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_TRUE(failures[t].empty()) << failures[t].front();
  }
  ASSERT_TRUE(rt().StopPodSandbox(*sandbox_id).ok());
  ASSERT_TRUE(rt().RemovePodSandbox(*sandbox_id).ok());
}

// The agent's client outlives containerd restarts (its supervisor restarts
// it): calls fail Unavailable while it is down, the same client reconnects
// when it is back, and running pods survive (shims keep them).
TEST_F(ContainerdTest, ClientSurvivesContainerdRestart) {
  PodSandboxConfig sandbox = SandboxConfig("pod-restart");
  auto sandbox_id = rt().RunPodSandbox(sandbox);
  ASSERT_TRUE(sandbox_id.ok()) << sandbox_id.status().ToString();
  auto container_id = rt().CreateContainer(
      *sandbox_id, Container(sandbox, "sleeper", {"sleep", "100000"}), sandbox);
  ASSERT_TRUE(container_id.ok()) << container_id.status().ToString();
  ASSERT_TRUE(rt().StartContainer(*container_id).ok());

  StopContainerd();
  EXPECT_EQ(rt().Version().status().code(), Code::kUnavailable);
  EXPECT_EQ(rt().ListPodSandbox({}).status().code(), Code::kUnavailable);
  std::string error = StartContainerd();
  ASSERT_TRUE(error.empty()) << error;

  auto version = rt().Version();
  ASSERT_TRUE(version.ok()) << version.status().ToString();
  auto status = rt().GetContainerStatus(*container_id);
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  EXPECT_EQ(status->state, ContainerState::kRunning);
  auto exec = rt().ExecSync(*container_id, {"echo", "still here"}, 10s);
  ASSERT_TRUE(exec.ok()) << exec.status().ToString();
  EXPECT_EQ(exec->stdout_bytes, "still here\n");

  ASSERT_TRUE(rt().StopPodSandbox(*sandbox_id).ok());
  ASSERT_TRUE(rt().RemovePodSandbox(*sandbox_id).ok());
  // Removing the sandbox removed its containers.
  EXPECT_EQ(rt().GetContainerStatus(*container_id).status().code(),
            Code::kNotFound);
}

}  // namespace
}  // namespace kite::cri

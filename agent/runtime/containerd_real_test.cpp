// The runtime host against the real containerd: Containerd starts a private
// containerd (everything under a temp dir) inside a network namespace of the
// test's own, ImportImages loads kite's pause image and the busybox test
// image, the CRI lists them, containerd is killed and comes back, and Stop()
// leaves no process and no mount behind. Skipped (with the reason) without
// root, containerd, ctr or nsenter.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "agent/cri/cri_client.h"
#include "agent/runtime/cni.h"
#include "agent/runtime/containerd.h"
#include "agent/runtime/image_import.h"
#include "images/images.h"

namespace kite::runtime {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// PIDs of processes whose command line mentions `needle`.
std::vector<int> ProcessesMentioning(const std::string& needle) {
  std::vector<int> pids;
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = ReadText(e.path() / "cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (cmdline.find(needle) != std::string::npos)
      pids.push_back(std::stoi(name));
  }
  return pids;
}

// Mount points at or under `dir`, deepest last.
std::vector<std::string> MountsUnder(const std::string& dir) {
  std::vector<std::string> mounts;
  std::istringstream in(ReadText("/proc/self/mountinfo"));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, devs, root, point;
    fields >> id >> parent >> devs >> root >> point;
    if (point == dir || point.rfind(dir + "/", 0) == 0) mounts.push_back(point);
  }
  return mounts;
}

bool Have(const char* path) { return access(path, X_OK) == 0; }

class ContainerdRealTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0)
      GTEST_SKIP() << "needs root (containerd, network namespaces)";
    for (const char* p :
         {"/usr/bin/containerd", "/usr/bin/ctr", "/usr/bin/nsenter"}) {
      if (!Have(p)) GTEST_SKIP() << p << " is missing (scripts/deps.sh agent)";
    }
    if (std::string(KITE_BUSYBOX_IMAGE_TAR).empty()) {
      GTEST_SKIP()
          << "no busybox test image was built (busybox-static missing)";
    }
    char tmpl[] = "/tmp/kite-rt-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    netns_ = "kite-rt-" + std::to_string(getpid());
    ASSERT_EQ(std::system(("ip netns add " + netns_).c_str()), 0);
    netns_made_ = true;
    // containerd's streaming server binds 127.0.0.1, which needs lo up once
    // the namespace has another address (the CNI bridge's).
    ASSERT_EQ(std::system(("ip -n " + netns_ + " link set lo up").c_str()), 0);
  }

  void TearDown() override {
    ctd_.reset();  // Stop()
    if (dir_.empty()) return;
    // Anything of ours still running (a failed test): the pods' processes
    // (in our cgroup parent; killing a shim would only orphan them), then
    // containerd and the shims, whose sockets containerd 1.6 keeps at
    // /run/containerd/s/<sha256 of "<socket>/<namespace>/<id>">.
    KillCgroupProcesses();
    for (int pid : ProcessesMentioning(dir_)) {
      std::string cmdline =
          ReadText("/proc/" + std::to_string(pid) + "/cmdline");
      std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
      kill(pid, SIGKILL);
      size_t id = cmdline.find(" -id ");
      if (cmdline.find("containerd-shim") == std::string::npos ||
          id == std::string::npos)
        continue;
      std::string shim_id =
          cmdline.substr(id + 5, cmdline.find(' ', id + 5) - id - 5);
      std::string key =
          dir_ + "/agent/containerd/containerd.sock/k8s.io/" + shim_id;
      std::system(("rm -f /run/containerd/s/$(printf %s '" + key +
                   "' | sha256sum | cut -d' ' -f1)")
                      .c_str());
    }
    std::vector<std::string> mounts = MountsUnder(dir_);
    for (auto it = mounts.rbegin(); it != mounts.rend(); ++it)
      umount2(it->c_str(), MNT_DETACH);
    if (!pod_netns_.empty() && fs::exists(pod_netns_)) {
      umount2(pod_netns_.c_str(), MNT_DETACH);
      unlink(pod_netns_.c_str());
    }
    RemoveCgroups();
    if (netns_made_)
      std::system(("ip netns del " + netns_ + " 2>/dev/null").c_str());
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  ContainerdOptions Options() {
    ContainerdOptions o;
    o.data_dir = dir_;
    o.command_prefix = {"/usr/bin/nsenter", "--net=/run/netns/" + netns_};
    o.backoff_initial = milliseconds(100);
    return o;
  }

  StatusOr<ImportReport> Import(cri::Runtime* runtime) {
    ImportOptions o;
    o.images_dir = dir_ + "/agent/images";
    o.stamp_path = dir_ + "/agent/containerd/imported-images.json";
    o.address = ctd_->socket_path();
    return ImportImages(o, RealHost(), RealEnv(), runtime);
  }

  // repo tags of every image the CRI lists.
  std::vector<std::string> CriImageTags(cri::Runtime& runtime) {
    std::vector<std::string> tags;
    StatusOr<std::vector<cri::Image>> images = runtime.ListImages();
    EXPECT_TRUE(images.ok()) << images.status().ToString();
    if (!images.ok()) return tags;
    for (const cri::Image& i : *images)
      tags.insert(tags.end(), i.repo_tags.begin(), i.repo_tags.end());
    std::sort(tags.begin(), tags.end());
    return tags;
  }

  // The pods' cgroup parent, and its removal under every controller (runc
  // creates the parents but never removes them).
  std::string CgroupParent() { return "/kite-rt-" + std::to_string(getpid()); }
  void KillCgroupProcesses() {
    std::error_code ec;
    fs::path top = fs::path("/sys/fs/cgroup/pids") / CgroupParent().substr(1);
    if (!fs::is_directory(top, ec)) return;
    for (const auto& e : fs::recursive_directory_iterator(top, ec)) {
      if (e.path().filename() != "cgroup.procs") continue;
      std::istringstream procs(ReadText(e.path()));
      int pid;
      while (procs >> pid) kill(pid, SIGKILL);
    }
  }
  void RemoveCgroups() {
    std::error_code ec;
    for (const auto& ctrl : fs::directory_iterator("/sys/fs/cgroup", ec)) {
      fs::path top = ctrl.path() / CgroupParent().substr(1);
      if (!fs::is_directory(top, ec)) continue;
      std::vector<fs::path> dirs;
      for (const auto& e : fs::recursive_directory_iterator(top, ec)) {
        if (e.is_directory(ec)) dirs.push_back(e.path());
      }
      std::sort(dirs.rbegin(), dirs.rend());  // children first
      dirs.push_back(top);
      for (const fs::path& d : dirs) {
        // A cgroup whose last task is just exiting is busy for a moment.
        for (int i = 0; i < 50 && rmdir(d.c_str()) != 0 && errno == EBUSY;
             ++i) {
          std::this_thread::sleep_for(milliseconds(20));
        }
        if (fs::exists(d))
          ADD_FAILURE() << "cannot remove cgroup " << d << ": "
                        << strerror(errno);
      }
    }
  }

  std::string dir_;
  std::string netns_;
  bool netns_made_ = false;
  std::string pod_netns_;  // the pod's /var/run/netns/cni-... once known
  std::unique_ptr<Containerd> ctd_;
};

TEST_F(ContainerdRealTest, StartsImportsRestartsAndStopsCleanly) {
  ctd_ = std::make_unique<Containerd>(Options(), RealHost(), RealEnv(),
                                      RealClock());
  Status st = ctd_->Start();
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(ctd_->ready());
  EXPECT_FALSE(ctd_->version().empty());
  const int first_pid = ctd_->pid();
  ASSERT_GT(first_pid, 0);
  // It runs in the test's network namespace, not the host's.
  EXPECT_NE(fs::read_symlink("/proc/" + std::to_string(first_pid) + "/ns/net"),
            fs::read_symlink("/proc/self/ns/net"));

  StatusOr<std::unique_ptr<cri::Runtime>> runtime =
      cri::ConnectCri(ctd_->endpoint());
  ASSERT_TRUE(runtime.ok()) << runtime.status().ToString();

  // The folder holds the busybox tarball; the pause one is written by the
  // import.
  fs::create_directories(dir_ + "/agent/images");
  fs::copy_file(KITE_BUSYBOX_IMAGE_TAR, dir_ + "/agent/images/busybox.tar");
  StatusOr<ImportReport> r = Import(runtime->get());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->imported,
            (std::vector<std::string>{"busybox.tar", "kite-pause.tar"}));
  EXPECT_TRUE(r->failed.empty());
  EXPECT_EQ(CriImageTags(**runtime),
            (std::vector<std::string>{KITE_BUSYBOX_IMAGE,
                                      std::string(images::kPauseImage)}));
  // Each image's CRI id (config digest) is known, which lets a restart
  // skip an import only when containerd holds that very image.
  ASSERT_EQ(r->images.size(), 2u);
  for (const ImportedImage& image : r->images) {
    StatusOr<std::optional<cri::Image>> got =
        (*runtime)->ImageStatus(image.name);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_TRUE(got->has_value()) << image.name;
    EXPECT_EQ((*got)->id, image.id) << image.name;
    EXPECT_EQ(image.digest.rfind("sha256:", 0), 0u) << image.digest;
  }
  // ctr sees them in the k8s.io namespace too.
  StatusOr<RunResult> ls =
      RealHost().Run({"/usr/bin/ctr", "--address", ctd_->socket_path(), "-n",
                      "k8s.io", "images", "ls", "-q"},
                     seconds(30));
  ASSERT_TRUE(ls.ok());
  EXPECT_NE(ls->output.find(KITE_BUSYBOX_IMAGE), std::string::npos)
      << ls->output;
  EXPECT_NE(ls->output.find(std::string(images::kPauseImage)),
            std::string::npos)
      << ls->output;

  // A second import (an agent restart) imports nothing; a bad tarball is
  // reported and the others are still fine.
  std::ofstream(dir_ + "/agent/images/broken.tar") << "not a tarball";
  r = Import(runtime->get());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->imported.empty());
  EXPECT_EQ(r->skipped,
            (std::vector<std::string>{"busybox.tar", "kite-pause.tar"}));
  ASSERT_EQ(r->failed.size(), 1u);
  EXPECT_EQ(r->failed[0].first, "broken.tar");
  EXPECT_NE(r->failed[0].second.find("ctr exited with"), std::string::npos)
      << r->failed[0].second;

  // containerd dies: the supervisor starts another, which still has the images.
  ASSERT_EQ(kill(first_pid, SIGKILL), 0);
  for (int i = 0; i < 600 && !(ctd_->ready() && ctd_->pid() != first_pid);
       ++i) {
    std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_TRUE(ctd_->ready());
  EXPECT_NE(ctd_->pid(), first_pid);
  EXPECT_EQ(ctd_->restarts(), 1);
  runtime = cri::ConnectCri(ctd_->endpoint());
  ASSERT_TRUE(runtime.ok()) << runtime.status().ToString();
  EXPECT_EQ(CriImageTags(**runtime),
            (std::vector<std::string>{KITE_BUSYBOX_IMAGE,
                                      std::string(images::kPauseImage)}));
  runtime->reset();

  // Stop: nothing of ours runs or stays mounted.
  const int second_pid = ctd_->pid();
  ctd_->Stop();
  EXPECT_EQ(kill(second_pid, 0), -1);
  EXPECT_EQ(ProcessesMentioning(dir_), std::vector<int>{});
  EXPECT_EQ(MountsUnder(dir_), std::vector<std::string>{});
  EXPECT_FALSE(ctd_->ready());
  std::string log = ReadText(ctd_->log_path());
  EXPECT_NE(log.find("containerd successfully booted"), std::string::npos)
      << log.substr(0, 2000);
}

// The pieces together with a pod: the conflist WriteCniConfig wrote gives
// the sandbox (kite's pause image) an address and a default route, the
// busybox image serves `httpd -f -p 8080 -h /etc` as the smoke test runs it,
// and the pod outlives a stop and start of containerd (the agent-restart
// path): the new containerd adopts it.
TEST_F(ContainerdRealTest, APodGetsANetworkAndSurvivesAContainerdRestart) {
  ctd_ = std::make_unique<Containerd>(Options(), RealHost(), RealEnv(),
                                      RealClock());
  CniOptions cni;
  cni.ipam_data_dir = dir_ + "/cni";
  StatusOr<bool> written =
      WriteCniConfig(RealEnv(), ctd_->cni_conf_dir(), {"10.88.0.0/24"}, cni);
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  ASSERT_TRUE(*written);
  Status st = ctd_->Start();
  ASSERT_TRUE(st.ok()) << st.ToString();
  StatusOr<std::unique_ptr<cri::Runtime>> rt =
      cri::ConnectCri(ctd_->endpoint());
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  cri::Runtime& runtime = **rt;
  fs::create_directories(dir_ + "/agent/images");
  fs::copy_file(KITE_BUSYBOX_IMAGE_TAR, dir_ + "/agent/images/busybox.tar");
  StatusOr<ImportReport> imported = Import(&runtime);
  ASSERT_TRUE(imported.ok()) << imported.status().ToString();
  ASSERT_TRUE(imported->failed.empty());

  StatusOr<std::vector<cri::RuntimeCondition>> conditions =
      runtime.RuntimeStatus();
  ASSERT_TRUE(conditions.ok()) << conditions.status().ToString();
  for (const cri::RuntimeCondition& c : *conditions) {
    EXPECT_TRUE(c.status) << c.type << ": " << c.reason << " " << c.message;
  }

  cri::PodSandboxConfig pod;
  pod.metadata = {"web", "rt-uid-" + std::to_string(getpid()), "default", 0};
  pod.hostname = "web";
  pod.log_directory = dir_ + "/logs";
  pod.cgroup_parent = CgroupParent();
  StatusOr<std::string> sandbox = runtime.RunPodSandbox(pod);
  ASSERT_TRUE(sandbox.ok()) << sandbox.status().ToString();
  StatusOr<cri::PodSandboxStatus> status =
      runtime.GetPodSandboxStatus(*sandbox, true);
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  EXPECT_EQ(status->state, cri::SandboxState::kReady);
  EXPECT_EQ(status->ip.rfind("10.88.0.", 0), 0u) << status->ip;
  // The sandbox's process is kite's pause.
  nlohmann::json info =
      nlohmann::json::parse(status->info["info"], nullptr, false);
  ASSERT_TRUE(info.is_object()) << status->info["info"];
  const int pause_pid = info.value("pid", 0);
  ASSERT_GT(pause_pid, 0);
  // (runc start returns before its init has exec'd the sandbox's command.)
  const std::string proc_cmdline =
      "/proc/" + std::to_string(pause_pid) + "/cmdline";
  for (int i = 0;
       i < 100 && ReadText(proc_cmdline).rfind("/usr/sbin/runc", 0) == 0; ++i) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_EQ(ReadText(proc_cmdline), std::string("/pause\0", 7));
  struct stat pod_ns;
  ASSERT_EQ(
      stat(("/proc/" + std::to_string(pause_pid) + "/ns/net").c_str(), &pod_ns),
      0);
  for (const auto& e : fs::directory_iterator("/var/run/netns")) {
    struct stat s;
    if (stat(e.path().c_str(), &s) == 0 && s.st_ino == pod_ns.st_ino)
      pod_netns_ = e.path();
  }

  cri::ContainerConfig web;
  web.name = "web";
  web.image = KITE_BUSYBOX_IMAGE;
  web.command = {"httpd", "-f", "-p", "8080", "-h", "/etc"};
  web.log_path = "web.log";
  StatusOr<std::string> container = runtime.CreateContainer(*sandbox, web, pod);
  ASSERT_TRUE(container.ok()) << container.status().ToString();
  ASSERT_TRUE(runtime.StartContainer(*container).ok());
  auto fetch_passwd = [&](cri::Runtime& r) -> std::string {
    for (int i = 0; i < 50; ++i) {  // httpd needs a moment to listen
      StatusOr<cri::ExecSyncResult> got = r.ExecSync(
          *container, {"wget", "-qO-", "http://127.0.0.1:8080/passwd"},
          seconds(10));
      if (got.ok() && got->exit_code == 0) return got->stdout_bytes;
      std::this_thread::sleep_for(milliseconds(100));
    }
    return "";
  };
  EXPECT_NE(fetch_passwd(runtime).find("root:x:0:0:"), std::string::npos);
  StatusOr<cri::ExecSyncResult> route =
      runtime.ExecSync(*container, {"ip", "route"}, seconds(10));
  ASSERT_TRUE(route.ok()) << route.status().ToString();
  EXPECT_NE(route->stdout_bytes.find("default via 10.88.0.1"),
            std::string::npos)
      << route->stdout_bytes;

  // containerd goes away (an agent restart): the pod keeps running.
  rt->reset();
  ctd_->Stop();
  EXPECT_EQ(kill(pause_pid, 0), 0);
  ctd_ = std::make_unique<Containerd>(Options(), RealHost(), RealEnv(),
                                      RealClock());
  st = ctd_->Start();
  ASSERT_TRUE(st.ok()) << st.ToString();
  rt = cri::ConnectCri(ctd_->endpoint());
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  cri::Runtime& again = **rt;
  StatusOr<std::vector<cri::PodSandbox>> pods = again.ListPodSandbox({});
  ASSERT_TRUE(pods.ok()) << pods.status().ToString();
  ASSERT_EQ(pods->size(), 1u);
  EXPECT_EQ((*pods)[0].id, *sandbox);
  EXPECT_EQ((*pods)[0].state, cri::SandboxState::kReady);
  StatusOr<cri::ContainerStatus> cs = again.GetContainerStatus(*container);
  ASSERT_TRUE(cs.ok()) << cs.status().ToString();
  EXPECT_EQ(cs->state, cri::ContainerState::kRunning);
  EXPECT_NE(fetch_passwd(again).find("root:x:0:0:"), std::string::npos);

  // Taken down: nothing of ours is left.
  ASSERT_TRUE(again.StopContainer(*container, 0).ok());
  ASSERT_TRUE(again.RemoveContainer(*container).ok());
  ASSERT_TRUE(again.StopPodSandbox(*sandbox).ok());
  ASSERT_TRUE(again.RemovePodSandbox(*sandbox).ok());
  rt->reset();
  ctd_->Stop();
  EXPECT_EQ(kill(pause_pid, 0), -1);
  EXPECT_EQ(ProcessesMentioning(dir_), std::vector<int>{});
  EXPECT_EQ(MountsUnder(dir_), std::vector<std::string>{});
  if (!pod_netns_.empty()) {
    EXPECT_FALSE(fs::exists(pod_netns_)) << pod_netns_;
  }
}

}  // namespace
}  // namespace kite::runtime

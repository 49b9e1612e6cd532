// The runtime host against the real containerd: Containerd starts a private
// containerd (everything under a temp dir) inside a network namespace of the
// test's own, ImportImages loads kite's pause image and the busybox test
// image, the CRI lists them, containerd is killed and comes back, and Stop()
// leaves no process and no mount behind. Skipped (with the reason) without
// root, containerd, ctr or nsenter.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "agent/cri/cri_client.h"
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
  }

  void TearDown() override {
    ctd_.reset();  // Stop()
    if (dir_.empty()) return;
    // Anything of ours still running (a failed test): containerd, shims.
    for (int pid : ProcessesMentioning(dir_)) kill(pid, SIGKILL);
    std::vector<std::string> mounts = MountsUnder(dir_);
    for (auto it = mounts.rbegin(); it != mounts.rend(); ++it)
      umount2(it->c_str(), MNT_DETACH);
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

  std::string dir_;
  std::string netns_;
  bool netns_made_ = false;
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

}  // namespace
}  // namespace kite::runtime

// Unit tests of the runtime host with fakes: FakeHost, FakeEnv, FakeClock,
// cri::FakeRuntime. The real containerd is in containerd_real_test.cpp.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <nlohmann/json.hpp>
#include <thread>

#include "agent/cri/fake_runtime.h"
#include "agent/runtime/cni.h"
#include "agent/runtime/containerd.h"
#include "agent/runtime/fake_host.h"
#include "agent/runtime/image_import.h"
#include "images/images.h"

namespace kite::runtime {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// ---------------------------------------------------------------- RealHost

class RealHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kite-host-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  std::string dir_;
};

TEST_F(RealHostTest, RunCollectsOutputAndExitCode) {
  StatusOr<RunResult> r = RealHost().Run(
      {"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}, seconds(30));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_TRUE(Contains(r->output, "out\n")) << r->output;
  EXPECT_TRUE(Contains(r->output, "err\n")) << r->output;
}

TEST_F(RealHostTest, RunReportsAMissingProgramAndAHang) {
  StatusOr<RunResult> r =
      RealHost().Run({dir_ + "/no-such-program"}, seconds(30));
  EXPECT_EQ(r.status().code(), Code::kNotFound) << r.status().ToString();
  // Killed at the deadline: the outcome, not the time, is what is checked.
  r = RealHost().Run({"/bin/sh", "-c", "echo started; exec sleep 600"},
                     milliseconds(200));
  EXPECT_EQ(r.status().code(), Code::kDeadlineExceeded)
      << r.status().ToString();
  EXPECT_TRUE(Contains(r.status().message(), "started"))
      << r.status().message();
}

TEST_F(RealHostTest, SpawnedProcessLogsToItsFileAndEndsOnSignal) {
  SpawnSpec spec;
  spec.argv = {"/bin/sh", "-c", "echo hello; ls /proc/self/fd; exec sleep 600"};
  spec.log_path = dir_ + "/child.log";
  int leaky =
      open("/dev/null", O_RDONLY);  // no O_CLOEXEC: must not reach the child
  ASSERT_GE(leaky, 3);
  int high = fcntl(leaky, F_DUPFD, 5000);  // above any fixed close loop
  ASSERT_GE(high, 5000);
  StatusOr<int> pid = RealHost().Spawn(spec);
  close(leaky);
  close(high);
  ASSERT_TRUE(pid.ok()) << pid.status().ToString();
  std::string log;
  for (int i = 0; i < 500 && !Contains(log, "hello\n0\n1\n2\n3\n"); ++i) {
    std::this_thread::sleep_for(milliseconds(10));
    log = RealEnv().ReadFile(spec.log_path).ok()
              ? *RealEnv().ReadFile(spec.log_path)
              : "";
  }
  // stdin, stdout, stderr and ls's own directory: nothing inherited.
  EXPECT_EQ(log, "hello\n0\n1\n2\n3\n");
  // Its own session.
  EXPECT_EQ(getsid(*pid), *pid);
  ASSERT_TRUE(RealHost().Signal(*pid, SIGTERM).ok());
  StatusOr<int> code = RealHost().Wait(*pid);
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  EXPECT_EQ(*code, 128 + SIGTERM);
  EXPECT_TRUE(RealHost().Signal(*pid, SIGTERM).ok());  // gone: still OK
  StatusOr<int> missing =
      RealHost().Spawn({{dir_ + "/no-such-program"}, dir_ + "/x.log"});
  EXPECT_EQ(missing.status().code(), Code::kNotFound)
      << missing.status().ToString();
}

TEST_F(RealHostTest, ListsStatsRemovesAndFindsAPort) {
  ASSERT_TRUE(RealEnv().WriteFileAtomic(dir_ + "/b.tar", "12345", 0644).ok());
  ASSERT_TRUE(RealEnv().WriteFileAtomic(dir_ + "/a.tar", "1", 0644).ok());
  StatusOr<std::vector<std::string>> names = RealHost().ListDir(dir_);
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, (std::vector<std::string>{"a.tar", "b.tar"}));
  StatusOr<FileInfo> info = RealHost().Stat(dir_ + "/b.tar");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->size, 5u);
  EXPECT_GT(info->mtime_ns, 0);
  ASSERT_TRUE(RealHost().Remove(dir_ + "/b.tar").ok());
  ASSERT_TRUE(RealHost().Remove(dir_ + "/b.tar").ok());
  EXPECT_EQ(RealHost().Stat(dir_ + "/b.tar").status().code(), Code::kNotFound);
  EXPECT_EQ(RealHost().ListDir(dir_ + "/none").status().code(),
            Code::kNotFound);
  StatusOr<int> port = RealHost().FreeLoopbackPort();
  ASSERT_TRUE(port.ok());
  EXPECT_GT(*port, 0);
}

// ---------------------------------------------------------------- config

TEST(ContainerdConfigTest, HoldsWhatContainerdNeedsHere) {
  ContainerdConfig c;
  c.root = "/d/root";
  c.state = "/d/state";
  c.socket = "/d/containerd.sock";
  c.runc_path = "/usr/sbin/runc";
  c.runc_root = "/d/runc";
  c.cni_bin_dir = "/usr/lib/cni";
  c.cni_conf_dir = "/d/net.d";
  c.sandbox_image = "registry.local/kite/pause:3.10";
  c.stream_port = 41234;
  std::string t = RenderContainerdConfig(c);
  EXPECT_TRUE(Contains(t, "version = 2\n")) << t;
  EXPECT_TRUE(Contains(t, "root = \"/d/root\"\nstate = \"/d/state\"\n")) << t;
  EXPECT_TRUE(Contains(t, "[grpc]\n  address = \"/d/containerd.sock\"\n")) << t;
  EXPECT_TRUE(
      Contains(t, "[ttrpc]\n  address = \"/d/containerd.sock.ttrpc\"\n"))
      << t;
  EXPECT_TRUE(Contains(t, "sandbox_image = \"registry.local/kite/pause:3.10\""))
      << t;
  EXPECT_TRUE(Contains(t, "stream_server_address = \"127.0.0.1\"")) << t;
  EXPECT_TRUE(Contains(t, "stream_server_port = \"41234\"")) << t;
  EXPECT_TRUE(Contains(t, "restrict_oom_score_adj = true")) << t;
  EXPECT_TRUE(Contains(t, "SystemdCgroup = false")) << t;
  EXPECT_TRUE(Contains(t, "BinaryName = \"/usr/sbin/runc\"")) << t;
  EXPECT_TRUE(Contains(t, "Root = \"/d/runc\"")) << t;
  EXPECT_TRUE(Contains(t, "snapshotter = \"overlayfs\"")) << t;
  EXPECT_TRUE(Contains(t, "runtime_type = \"io.containerd.runc.v2\"")) << t;
  EXPECT_TRUE(Contains(
      t,
      "[plugins.\"io.containerd.grpc.v1.cri\".cni]\n  bin_dir = "
      "\"/usr/lib/cni\"\n  conf_dir = \"/d/net.d\"\n  max_conf_num = 1\n"))
      << t;
  // Nothing outside the data dir: containerd's opt plugin defaults to /opt.
  EXPECT_TRUE(Contains(t, "path = \"/d/root/opt\"")) << t;
}

TEST(ContainerdConfigTest, QuotesPathsAsTomlStrings) {
  ContainerdConfig c;
  c.root = "/data \"x\"\\y";
  std::string t = RenderContainerdConfig(c);
  EXPECT_TRUE(Contains(t, "root = \"/data \\\"x\\\"\\\\y\"\n")) << t;
}

// ---------------------------------------------------------------- back-off

TEST(BackoffTest, DoublesUpToTheMaximumAndResetsAfterALongRun) {
  Backoff b(milliseconds(1000), milliseconds(5000), milliseconds(60000));
  FakeClock clock;
  auto t0 = clock.Monotonic();
  auto quick = t0 + seconds(1);
  EXPECT_EQ(b.Next(t0, quick).count(), 1000);
  EXPECT_EQ(b.Next(t0, quick).count(), 2000);
  EXPECT_EQ(b.Next(t0, quick).count(), 4000);
  EXPECT_EQ(b.Next(t0, quick).count(), 5000);
  EXPECT_EQ(b.Next(t0, quick).count(), 5000);
  EXPECT_EQ(b.Next(t0, t0 + seconds(60)).count(), 1000);
  EXPECT_EQ(b.Next(t0, quick).count(), 2000);
}

// ---------------------------------------------------------------- supervisor

// A connector that fails `failures` times, then answers like containerd;
// each failure moves the fake clock by a second.
struct FakeConnector {
  std::atomic<int> failures{0};
  std::atomic<int> calls{0};
  bool never = false;
  FakeClock* clock = nullptr;

  RuntimeConnector Fn() {
    return
        [this](const std::string&) -> StatusOr<std::unique_ptr<cri::Runtime>> {
          ++calls;
          if (never || failures > 0) {
            --failures;
            if (clock) clock->Advance(seconds(1));
            return UnavailableError("connect: no such file or directory");
          }
          return std::unique_ptr<cri::Runtime>(new cri::FakeRuntime());
        };
  }
};

class ContainerdTest : public ::testing::Test {
 protected:
  ContainerdOptions Options() {
    ContainerdOptions o;
    o.data_dir = "/data";
    o.ready_poll = milliseconds(1);
    o.stop_timeout = milliseconds(20);
    o.backoff_initial = milliseconds(1);
    o.backoff_max = milliseconds(4);
    connector_.clock = &clock_;
    o.connect = connector_.Fn();
    return o;
  }

  FakeHost host_;
  FakeEnv env_;
  FakeClock clock_;
  FakeConnector connector_;
};

TEST_F(ContainerdTest, StartWritesConfigSpawnsAndWaitsUntilTheCriAnswers) {
  connector_.failures = 3;
  ContainerdOptions o = Options();
  o.command_prefix = {"/usr/bin/nsenter", "--net=/run/netns/x"};
  Containerd ctd(o, host_, env_, clock_);
  ASSERT_TRUE(ctd.Start().ok());
  EXPECT_TRUE(ctd.ready());
  EXPECT_EQ(connector_.calls, 4);
  EXPECT_EQ(ctd.endpoint(), "unix:///data/agent/containerd/containerd.sock");
  EXPECT_EQ(ctd.cni_conf_dir(), "/data/agent/etc/cni/net.d");
  EXPECT_EQ(ctd.stream_port(), 40000);  // FakeHost's first free port
  EXPECT_FALSE(ctd.version().empty());

  std::vector<SpawnSpec> spawned = host_.spawned();
  ASSERT_EQ(spawned.size(), 1u);
  EXPECT_EQ(spawned[0].argv,
            (std::vector<std::string>{"/usr/bin/nsenter", "--net=/run/netns/x",
                                      "/usr/bin/containerd", "--config",
                                      "/data/agent/containerd/config.toml"}));
  EXPECT_EQ(spawned[0].log_path, "/data/agent/containerd/containerd.log");
  StatusOr<std::string> config =
      env_.ReadFile("/data/agent/containerd/config.toml");
  ASSERT_TRUE(config.ok());
  EXPECT_TRUE(Contains(*config, "stream_server_port = \"40000\"")) << *config;
  EXPECT_TRUE(Contains(
      *config, "sandbox_image = \"" + std::string(images::kPauseImage) + "\""));
  EXPECT_TRUE(Contains(*config, "conf_dir = \"/data/agent/etc/cni/net.d\""));
  EXPECT_EQ(ctd.Start().code(), Code::kFailedPrecondition);

  int pid = ctd.pid();
  ctd.Stop();
  EXPECT_EQ(host_.signals(),
            (std::vector<std::pair<int, int>>{{pid, SIGTERM}}));
  EXPECT_TRUE(host_.live_pids().empty());
  EXPECT_FALSE(ctd.ready());
  EXPECT_EQ(ctd.pid(), 0);
}

TEST_F(ContainerdTest, StartFailsWhenContainerdExitsDuringStartUp) {
  connector_.never = true;
  connector_.clock = nullptr;  // no deadline: only the exit ends the wait
  ASSERT_TRUE(env_.WriteFileAtomic("/data/agent/containerd/containerd.log",
                                   "level=fatal msg=\"bolt: timeout\"\n", 0644)
                  .ok());
  ContainerdOptions o = Options();
  o.connect = connector_.Fn();
  Containerd ctd(o, host_, env_, clock_);
  std::thread killer([&] {
    ASSERT_TRUE(host_.WaitForSpawns(1, seconds(30)));
    host_.Exit(1000, 1);
  });
  Status st = ctd.Start();
  killer.join();
  EXPECT_EQ(st.code(), Code::kUnavailable) << st.ToString();
  EXPECT_TRUE(Contains(st.message(), "exited during start-up")) << st.message();
  EXPECT_TRUE(Contains(st.message(), "bolt: timeout")) << st.message();
  EXPECT_EQ(host_.spawned().size(),
            1u);  // no restart after a failed first start
  EXPECT_FALSE(ctd.ready());
}

TEST_F(ContainerdTest, StartGivesUpAfterTheReadyTimeoutAndLeavesNoProcess) {
  connector_.never = true;
  ContainerdOptions o = Options();
  o.ready_timeout = seconds(5);
  Containerd ctd(o, host_, env_, clock_);
  Status st = ctd.Start();
  EXPECT_EQ(st.code(), Code::kDeadlineExceeded) << st.ToString();
  EXPECT_TRUE(Contains(st.message(), "did not answer")) << st.message();
  EXPECT_TRUE(Contains(st.message(), "no such file or directory"))
      << st.message();
  EXPECT_TRUE(host_.live_pids().empty());
  ASSERT_FALSE(host_.signals().empty());
  EXPECT_EQ(host_.signals()[0].second, SIGTERM);
}

TEST_F(ContainerdTest, StartReportsAMissingBinary) {
  host_.SetSpawnError(
      NotFoundError("exec /usr/bin/containerd: No such file or directory"));
  Containerd ctd(Options(), host_, env_, clock_);
  Status st = ctd.Start();
  EXPECT_EQ(st.code(), Code::kNotFound) << st.ToString();
  EXPECT_TRUE(Contains(st.message(), "/usr/bin/containerd")) << st.message();
}

TEST_F(ContainerdTest, RestartsContainerdWhenItDies) {
  Containerd ctd(Options(), host_, env_, clock_);
  ASSERT_TRUE(ctd.Start().ok());
  int first = ctd.pid();
  host_.Exit(first, 2);
  ASSERT_TRUE(host_.WaitForSpawns(2, seconds(30)));
  host_.Exit(first + 1, 2);
  ASSERT_TRUE(host_.WaitForSpawns(3, seconds(30)));
  // The third one becomes ready; wait for the supervisor to say so.
  for (int i = 0; i < 30000 && !(ctd.ready() && ctd.pid() == first + 2); ++i) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  EXPECT_TRUE(ctd.ready());
  EXPECT_EQ(ctd.pid(), first + 2);
  EXPECT_EQ(ctd.restarts(), 2);
  // A new free port each start.
  EXPECT_EQ(ctd.stream_port(), 40002);
  ctd.Stop();
  EXPECT_TRUE(host_.live_pids().empty());
}

TEST_F(ContainerdTest, StopKillsAContainerdThatIgnoresSigterm) {
  host_.SetIgnoreSigterm(true);
  Containerd ctd(Options(), host_, env_, clock_);
  ASSERT_TRUE(ctd.Start().ok());
  int pid = ctd.pid();
  ctd.Stop();
  EXPECT_EQ(host_.signals(),
            (std::vector<std::pair<int, int>>{{pid, SIGTERM}, {pid, SIGKILL}}));
  EXPECT_TRUE(host_.live_pids().empty());
  EXPECT_EQ(host_.spawned().size(), 1u);  // a stop is no death: no restart
  ctd.Stop();                             // idempotent
}

// ---------------------------------------------------------------- images

constexpr char kDir[] = "/data/agent/images";
constexpr char kStamp[] = "/data/agent/containerd/imported-images.json";

class ImportTest : public ::testing::Test {
 protected:
  ImportOptions Options() {
    ImportOptions o;
    o.images_dir = kDir;
    o.stamp_path = kStamp;
    o.address = "/data/agent/containerd/containerd.sock";
    o.pause_tarball = "pause-bytes";
    return o;
  }
  void SetUp() override {
    // FakeHost lists what AddFile added; FakeEnv holds contents.
    AddFile("busybox.tar", 2000, 1);
    AddFile("pause-written-by-test", 1, 1);  // not *.tar: ignored
    host_.SetRunHandler(
        [this](const std::vector<std::string>& argv) -> StatusOr<RunResult> {
          const std::string& tar = argv.back();
          if (tar == std::string(kDir) + "/bad.tar")
            return RunResult{1, "ctr: unexpected EOF\n"};
          std::string name = tar == std::string(kDir) + "/busybox.tar"
                                 ? "registry.local/busybox:latest"
                                 : "registry.local/kite/pause:3.10";
          return RunResult{0, "unpacking " + name + " (sha256:" +
                                  std::string(64, 'a') + ")...done\n"};
        });
  }
  void AddFile(const std::string& name, uint64_t size, int64_t mtime) {
    host_.AddFile(std::string(kDir) + "/" + name, {size, mtime});
  }
  std::vector<std::string> ImportedFiles() {
    std::vector<std::string> files;
    for (const auto& argv : host_.runs()) files.push_back(argv.back());
    return files;
  }

  FakeHost host_;
  FakeEnv env_;
};

TEST_F(ImportTest, WritesPauseAndImportsEveryTarballWithCtr) {
  // The pause tarball appears in the folder (FakeEnv); FakeHost must list it.
  AddFile("kite-pause.tar", 11, 1);
  StatusOr<ImportReport> r = ImportImages(Options(), host_, env_, nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  StatusOr<std::string> pause =
      env_.ReadFile(std::string(kDir) + "/kite-pause.tar");
  ASSERT_TRUE(pause.ok());
  EXPECT_EQ(*pause, "pause-bytes");
  EXPECT_EQ(r->imported,
            (std::vector<std::string>{"busybox.tar", "kite-pause.tar"}));
  EXPECT_TRUE(r->failed.empty());
  ASSERT_EQ(host_.runs().size(), 2u);
  EXPECT_EQ(
      host_.runs()[0],
      (std::vector<std::string>{"/usr/bin/ctr", "--address",
                                "/data/agent/containerd/containerd.sock", "-n",
                                "k8s.io", "images", "import", "--all-platforms",
                                "/data/agent/images/busybox.tar"}));
  ASSERT_EQ(r->images.size(), 2u);
  EXPECT_EQ(r->images[0].name, "registry.local/busybox:latest");
  EXPECT_EQ(r->images[0].digest, "sha256:" + std::string(64, 'a'));
  StatusOr<std::string> stamp = env_.ReadFile(kStamp);
  ASSERT_TRUE(stamp.ok());
  EXPECT_TRUE(Contains(*stamp, "\"busybox.tar\"")) << *stamp;
  EXPECT_TRUE(Contains(*stamp, "registry.local/busybox:latest")) << *stamp;
}

TEST_F(ImportTest, ARestartSkipsWhatIsImportedAndStillPresent) {
  cri::FakeRuntime runtime;
  ASSERT_TRUE(ImportImages(Options(), host_, env_, &runtime).ok());
  runtime.AddImage("registry.local/busybox:latest",
                   "sha256:" + std::string(64, 'a'));
  host_.SetRunHandler(nullptr);
  size_t runs = host_.runs().size();
  StatusOr<ImportReport> r = ImportImages(Options(), host_, env_, &runtime);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->skipped, (std::vector<std::string>{"busybox.tar"}));
  EXPECT_TRUE(r->imported.empty());
  EXPECT_EQ(host_.runs().size(), runs);  // no ctr at all
  ASSERT_EQ(r->images.size(), 1u);
  EXPECT_EQ(r->images[0].name, "registry.local/busybox:latest");
}

TEST_F(ImportTest, ReimportsAChangedTarballOrAMissingImage) {
  const std::string name = "registry.local/busybox:latest";
  cri::FakeRuntime runtime;
  ASSERT_TRUE(ImportImages(Options(), host_, env_, &runtime).ok());
  EXPECT_EQ(host_.runs().size(), 1u);
  // Absent from containerd (its root was wiped): imported again.
  ASSERT_TRUE(ImportImages(Options(), host_, env_, &runtime).ok());
  EXPECT_EQ(host_.runs().size(), 2u);
  // Present: skipped, and its id is remembered from now on.
  runtime.AddImage(name, "sha256:" + std::string(64, 'a'));
  StatusOr<ImportReport> r = ImportImages(Options(), host_, env_, &runtime);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->skipped, (std::vector<std::string>{"busybox.tar"}));
  EXPECT_EQ(host_.runs().size(), 2u);
  EXPECT_TRUE(
      Contains(*env_.ReadFile(kStamp), "sha256:" + std::string(64, 'a')));
  // Another image under that name (someone imported one): the folder's
  // tarball wins.
  ASSERT_TRUE(runtime.RemoveImage(name).ok());
  runtime.AddImage(name, "sha256:" + std::string(64, 'b'));
  r = ImportImages(Options(), host_, env_, &runtime);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->imported, (std::vector<std::string>{"busybox.tar"}));
  EXPECT_EQ(host_.runs().size(), 3u);
  // (The fake's image stays 'b', which is now what the stamp records.)
  ASSERT_TRUE(ImportImages(Options(), host_, env_, &runtime).ok());
  EXPECT_EQ(host_.runs().size(), 3u);
  // A new mtime: imported again.
  AddFile("busybox.tar", 2000, 2);
  r = ImportImages(Options(), host_, env_, &runtime);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->imported, (std::vector<std::string>{"busybox.tar"}));
  EXPECT_EQ(host_.runs().size(), 4u);
}

TEST_F(ImportTest, ABadTarballIsReportedAndTheOthersGoOn) {
  AddFile("a-bad.tar", 10, 1);
  host_.SetRunHandler(
      [](const std::vector<std::string>& argv) -> StatusOr<RunResult> {
        if (argv.back() == std::string(kDir) + "/a-bad.tar") {
          return RunResult{1, "ctr: unexpected EOF\n"};
        }
        return RunResult{
            0, "unpacking registry.local/busybox:latest (sha256:1)...done\n"};
      });
  ImportOptions o = Options();
  o.write_pause = false;
  StatusOr<ImportReport> r = ImportImages(o, host_, env_, nullptr);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->failed.size(), 1u);
  EXPECT_EQ(r->failed[0].first, "a-bad.tar");
  EXPECT_EQ(r->failed[0].second, "ctr exited with 1: ctr: unexpected EOF");
  EXPECT_EQ(r->imported, (std::vector<std::string>{"busybox.tar"}));
  EXPECT_FALSE(env_.Exists(std::string(kDir) + "/kite-pause.tar"));
  // Not remembered: tried again next time.
  r = ImportImages(o, host_, env_, nullptr);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->failed.size(), 1u);
  EXPECT_EQ(r->skipped, (std::vector<std::string>{"busybox.tar"}));
}

TEST_F(ImportTest, ThePauseTarballIsRewrittenWhenItDiffers) {
  ASSERT_TRUE(
      env_.WriteFileAtomic(std::string(kDir) + "/kite-pause.tar", "old", 0644)
          .ok());
  ASSERT_TRUE(ImportImages(Options(), host_, env_, nullptr).ok());
  EXPECT_EQ(*env_.ReadFile(std::string(kDir) + "/kite-pause.tar"),
            "pause-bytes");
  ImportOptions o = Options();
  o.pause_tarball = {};  // the embedded one
  ASSERT_TRUE(ImportImages(o, host_, env_, nullptr).ok());
  EXPECT_EQ(*env_.ReadFile(std::string(kDir) + "/kite-pause.tar"),
            std::string(images::PauseImageTarball()));
}

TEST_F(ImportTest, RequiresItsPaths) {
  ImportOptions o = Options();
  o.address.clear();
  EXPECT_EQ(ImportImages(o, host_, env_, nullptr).status().code(),
            Code::kInvalidArgument);
}

TEST(CtrOutputTest, ParsesUnpackingLines) {
  std::vector<ImportedImage> images = ParseCtrImportOutput(
      "unpacking registry.local/busybox:latest (sha256:91cf)...done\n"
      "some other line\n"
      "unpacking registry.local/kite/pause:3.10 (sha256:405c)...done\n"
      "unpacking broken line\n");
  ASSERT_EQ(images.size(), 2u);
  EXPECT_EQ(images[0].name, "registry.local/busybox:latest");
  EXPECT_EQ(images[0].digest, "sha256:91cf");
  EXPECT_EQ(images[1].name, "registry.local/kite/pause:3.10");
  EXPECT_EQ(images[1].digest, "sha256:405c");
}

// ---------------------------------------------------------------- CNI

TEST(CniTest, ConflistHasBridgeHostLocalPortmapAndLoopback) {
  StatusOr<std::string> text = RenderCniConfig({"10.42.0.0/24"});
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  nlohmann::json j = nlohmann::json::parse(*text);
  EXPECT_EQ(j["cniVersion"], "1.0.0");
  EXPECT_EQ(j["name"], "kite");
  ASSERT_EQ(j["plugins"].size(), 3u);
  const auto& bridge = j["plugins"][0];
  EXPECT_EQ(bridge["type"], "bridge");
  EXPECT_EQ(bridge["bridge"], "cni0");
  EXPECT_EQ(bridge["isGateway"], true);
  // Pod-to-pod traffic across nodes keeps its source address.
  EXPECT_EQ(bridge["ipMasq"], false);
  EXPECT_EQ(bridge["hairpinMode"], true);
  EXPECT_EQ(bridge["ipam"]["type"], "host-local");
  EXPECT_EQ(bridge["ipam"]["ranges"],
            nlohmann::json::parse(R"([[{"subnet":"10.42.0.0/24"}]])"));
  EXPECT_EQ(bridge["ipam"]["routes"],
            nlohmann::json::parse(R"([{"dst":"0.0.0.0/0"}])"));
  EXPECT_FALSE(bridge["ipam"].contains("dataDir"));
  EXPECT_EQ(j["plugins"][1],
            nlohmann::json::parse(
                R"({"type":"portmap","capabilities":{"portMappings":true}})"));
  EXPECT_EQ(j["plugins"][2], nlohmann::json::parse(R"({"type":"loopback"})"));
}

TEST(CniTest, DualStackAndOptions) {
  CniOptions o;
  o.bridge = "kt0";
  o.network_name = "test";
  o.mtu = 1400;
  o.ipam_data_dir = "/data/cni";
  StatusOr<std::string> text =
      RenderCniConfig({"10.42.1.0/24", "fd00:42:1::/64"}, o);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  nlohmann::json j = nlohmann::json::parse(*text);
  const auto& bridge = j["plugins"][0];
  EXPECT_EQ(j["name"], "test");
  EXPECT_EQ(bridge["bridge"], "kt0");
  EXPECT_EQ(bridge["mtu"], 1400);
  EXPECT_EQ(bridge["ipam"]["dataDir"], "/data/cni");
  EXPECT_EQ(
      bridge["ipam"]["ranges"],
      nlohmann::json::parse(
          R"([[{"subnet":"10.42.1.0/24"}],[{"subnet":"fd00:42:1::/64"}]])"));
  EXPECT_EQ(bridge["ipam"]["routes"],
            nlohmann::json::parse(R"([{"dst":"0.0.0.0/0"},{"dst":"::/0"}])"));
}

TEST(CniTest, BadCidrsAreRejectedAndNothingIsWritten) {
  FakeEnv env;
  for (const std::vector<std::string>& bad :
       std::vector<std::vector<std::string>>{{},
                                             {"10.42.0.0"},
                                             {"10.42.0.1/24"},
                                             {"10.42.0.0/33"},
                                             {"10.42.0.0/"},
                                             {"10.42.0.0/2x"},
                                             {"ten/8"},
                                             {"10.42.0.0/24", "10.43.0.0/24"},
                                             {"fd00::1/64"}}) {
    StatusOr<bool> r = WriteCniConfig(env, "/net.d", bad);
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument)
        << (bad.empty() ? "(none)" : bad[0]) << ": " << r.status().ToString();
  }
  EXPECT_FALSE(env.Exists("/net.d/10-kite.conflist"));
}

TEST(CniTest, WritesOnlyWhenTheConfigChanges) {
  FakeEnv env;
  StatusOr<bool> r = WriteCniConfig(env, "/net.d", {"10.42.0.0/24"});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(*r);
  StatusOr<std::string> text = env.ReadFile("/net.d/10-kite.conflist");
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, *RenderCniConfig({"10.42.0.0/24"}));
  r = WriteCniConfig(env, "/net.d", {"10.42.0.0/24"});
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(*r);
  r = WriteCniConfig(env, "/net.d", {"10.42.3.0/24"});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(*r);
  EXPECT_TRUE(
      Contains(*env.ReadFile("/net.d/10-kite.conflist"), "10.42.3.0/24"));
}

}  // namespace
}  // namespace kite::runtime

#include "agent/cri/fake_runtime.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace kite::cri {
namespace {

PodSandboxConfig Sandbox(const std::string& name, uint32_t attempt = 0) {
  PodSandboxConfig c;
  c.metadata = {name, "uid-" + name, "default", attempt};
  c.labels = {{"io.kubernetes.pod.name", name},
              {"io.kubernetes.pod.namespace", "default"},
              {"io.kubernetes.pod.uid", "uid-" + name}};
  return c;
}

ContainerConfig Ctr(const std::string& name, uint32_t attempt = 0) {
  ContainerConfig c;
  c.name = name;
  c.attempt = attempt;
  c.image = "registry.local/busybox:latest";
  c.labels = {{"io.kubernetes.container.name", name}};
  c.log_path = name + "/" + std::to_string(attempt) + ".log";
  return c;
}

TEST(FakeRuntimeTest, SandboxLifecycleAndUniqueMetadata) {
  FakeClock clock;
  FakeRuntime rt(clock);
  auto sb = rt.RunPodSandbox(Sandbox("a"));
  ASSERT_TRUE(sb.ok()) << sb.status().ToString();
  auto dup = rt.RunPodSandbox(Sandbox("a"));
  EXPECT_EQ(dup.status().code(), Code::kAlreadyExists);
  EXPECT_TRUE(rt.RunPodSandbox(Sandbox("a", 1)).ok());

  auto st = rt.GetPodSandboxStatus(*sb, false);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->state, SandboxState::kReady);
  EXPECT_FALSE(st->ip.empty());
  EXPECT_EQ(st->metadata.name, "a");

  PodSandboxConfig host = Sandbox("h");
  host.namespace_options.network = NamespaceMode::kNode;
  auto hsb = rt.RunPodSandbox(host);
  ASSERT_TRUE(hsb.ok());
  EXPECT_EQ(rt.GetPodSandboxStatus(*hsb, false)->ip, "");

  PodSandboxFilter f;
  f.label_selector = {{"io.kubernetes.pod.uid", "uid-a"}};
  EXPECT_EQ(rt.ListPodSandbox(f)->size(), 2u);
  f.state = SandboxState::kReady;
  ASSERT_TRUE(rt.StopPodSandbox(*sb).ok());
  EXPECT_EQ(rt.ListPodSandbox(f)->size(), 1u);

  EXPECT_TRUE(rt.StopPodSandbox("nope").ok());
  EXPECT_TRUE(rt.RemovePodSandbox("nope").ok());
  ASSERT_TRUE(rt.RemovePodSandbox(*sb).ok());
  EXPECT_EQ(rt.GetPodSandboxStatus(*sb, false).status().code(),
            Code::kNotFound);
  EXPECT_EQ(rt.SandboxCount(), 2u);
}

TEST(FakeRuntimeTest, ContainersNeedImageAndReadySandbox) {
  FakeClock clock;
  FakeRuntime rt(clock);
  PodSandboxConfig sc = Sandbox("p");
  auto sb = rt.RunPodSandbox(sc);
  ASSERT_TRUE(sb.ok());
  auto c = rt.CreateContainer(*sb, Ctr("app"), sc);
  EXPECT_EQ(c.status().code(), Code::kNotFound);  // image absent

  rt.AddImage("registry.local/busybox:latest");
  auto img = rt.ImageStatus("registry.local/busybox");
  ASSERT_TRUE(img.ok());
  ASSERT_TRUE(img->has_value());
  EXPECT_EQ((*img)->repo_tags[0], "registry.local/busybox:latest");
  EXPECT_FALSE(rt.ImageStatus("busybox:1.35")->has_value());
  rt.AddImage("busybox:1.35");
  EXPECT_TRUE(rt.ImageStatus("docker.io/library/busybox:1.35")->has_value());

  c = rt.CreateContainer(*sb, Ctr("app"), sc);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(rt.CreateContainer(*sb, Ctr("app"), sc).status().code(),
            Code::kAlreadyExists);
  auto cs = rt.GetContainerStatus(*c);
  ASSERT_TRUE(cs.ok());
  EXPECT_EQ(cs->state, ContainerState::kCreated);
  EXPECT_EQ(cs->image, "registry.local/busybox:latest");
  EXPECT_NE(cs->image_ref.find("registry.local/busybox@sha256:"),
            std::string::npos);

  clock.Advance(std::chrono::seconds(5));
  ASSERT_TRUE(rt.StartContainer(*c).ok());
  EXPECT_EQ(rt.StartContainer(*c).code(), Code::kFailedPrecondition);
  cs = rt.GetContainerStatus(*c);
  EXPECT_EQ(cs->state, ContainerState::kRunning);
  EXPECT_EQ(cs->started_at - cs->created_at, 5'000'000'000);

  ASSERT_TRUE(rt.StopPodSandbox(*sb).ok());
  cs = rt.GetContainerStatus(*c);
  EXPECT_EQ(cs->state, ContainerState::kExited);
  EXPECT_EQ(cs->exit_code, 137);
  EXPECT_EQ(rt.CreateContainer(*sb, Ctr("app", 1), sc).status().code(),
            Code::kFailedPrecondition);
  ASSERT_TRUE(rt.RemovePodSandbox(*sb).ok());
  EXPECT_EQ(rt.ContainerCount(), 0u);
}

TEST(FakeRuntimeTest, ExitsStopsAndFilters) {
  FakeClock clock;
  FakeRuntime rt(clock);
  rt.AddImage("registry.local/busybox:latest");
  PodSandboxConfig sc = Sandbox("p");
  auto sb = rt.RunPodSandbox(sc);
  ASSERT_TRUE(sb.ok());

  rt.SetExitOnStart("crash", 3);
  auto crash = rt.CreateContainer(*sb, Ctr("crash"), sc);
  ASSERT_TRUE(crash.ok());
  ASSERT_TRUE(rt.StartContainer(*crash).ok());
  auto cs = rt.GetContainerStatus(*crash);
  EXPECT_EQ(cs->state, ContainerState::kExited);
  EXPECT_EQ(cs->exit_code, 3);
  EXPECT_EQ(cs->reason, "Error");

  auto app = rt.CreateContainer(*sb, Ctr("app"), sc);
  ASSERT_TRUE(rt.StartContainer(*app).ok());
  ASSERT_TRUE(rt.ExitContainer(*app, 0).ok());
  EXPECT_EQ(rt.GetContainerStatus(*app)->reason, "Completed");
  EXPECT_EQ(rt.ExitContainer(*app, 1).code(), Code::kFailedPrecondition);

  auto term = rt.CreateContainer(*sb, Ctr("term"), sc);
  ASSERT_TRUE(rt.StartContainer(*term).ok());
  ASSERT_TRUE(rt.StopContainer(*term, 30).ok());
  EXPECT_EQ(rt.GetContainerStatus(*term)->exit_code, 143);
  rt.SetIgnoreSigterm("stubborn", true);
  auto stubborn = rt.CreateContainer(*sb, Ctr("stubborn"), sc);
  ASSERT_TRUE(rt.StartContainer(*stubborn).ok());
  ASSERT_TRUE(rt.StopContainer(*stubborn, 30).ok());
  EXPECT_EQ(rt.GetContainerStatus(*stubborn)->exit_code, 137);
  auto stops = rt.CallsOf("StopContainer");
  ASSERT_EQ(stops.size(), 2u);
  EXPECT_EQ(stops[1].id, *stubborn);
  EXPECT_EQ(stops[1].detail, "timeout=30");

  auto running = rt.CreateContainer(*sb, Ctr("run"), sc);
  ASSERT_TRUE(rt.StartContainer(*running).ok());
  ContainerFilter f;
  f.state = ContainerState::kRunning;
  auto list = rt.ListContainers(f);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, "run");
  EXPECT_EQ((*list)[0].pod_sandbox_id, *sb);
  f = {};
  f.label_selector = {{"io.kubernetes.container.name", "crash"}};
  EXPECT_EQ(rt.ListContainers(f)->size(), 1u);
  f = {};
  f.pod_sandbox_id = *sb;
  EXPECT_EQ(rt.ListContainers(f)->size(), 5u);
  EXPECT_EQ(rt.ContainerIds(*sb).front(), *crash);

  ASSERT_TRUE(rt.RemoveContainer(*crash).ok());
  EXPECT_TRUE(rt.RemoveContainer(*crash).ok());
  EXPECT_EQ(rt.GetContainerStatus(*crash).status().code(), Code::kNotFound);
}

TEST(FakeRuntimeTest, ExecInjectionDownAndLogs) {
  FakeClock clock;
  FakeRuntime rt(clock);
  rt.AddImage("registry.local/busybox:latest");
  char tmpl[] = "/tmp/fakert-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  PodSandboxConfig sc = Sandbox("p");
  sc.log_directory = dir;
  auto sb = rt.RunPodSandbox(sc);
  auto c = rt.CreateContainer(*sb, Ctr("app"), sc);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(rt.ExecSync(*c, {"true"}, std::chrono::seconds(1)).status().code(),
            Code::kFailedPrecondition);
  ASSERT_TRUE(rt.StartContainer(*c).ok());
  auto r = rt.ExecSync(*c, {"true"}, std::chrono::seconds(1));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 0);
  rt.SetExecHandler(
      [](const std::string&,
         const std::vector<std::string>& cmd) -> StatusOr<ExecSyncResult> {
        return ExecSyncResult{"out", "", cmd.size() == 2 ? 7 : 0};
      });
  r = rt.ExecSync(*c, {"sh", "-c"}, std::chrono::seconds(1));
  EXPECT_EQ(r->exit_code, 7);
  EXPECT_EQ(r->stdout_bytes, "out");
  EXPECT_EQ(rt.CallsOf("ExecSync").back().detail, "sh -c");

  rt.SetStreamingBase("http://127.0.0.1:1234");
  ExecRequest req;
  req.container_id = *c;
  req.cmd = {"ls"};
  req.tty = true;
  auto url = rt.Exec(req);
  ASSERT_TRUE(url.ok());
  ASSERT_EQ(url->rfind("http://127.0.0.1:1234/exec/", 0), 0u);
  auto back = rt.ExecRequestFor(url->substr(url->rfind('/') + 1));
  ASSERT_TRUE(back.has_value());
  EXPECT_TRUE(back->tty);
  EXPECT_TRUE(rt.PortForward(*sb, {80}).ok());
  EXPECT_EQ(rt.PortForward("nope", {80}).status().code(), Code::kNotFound);

  rt.InjectError("StartContainer", InternalError("boom"), 2);
  auto c2 = rt.CreateContainer(*sb, Ctr("two"), sc);
  EXPECT_EQ(rt.StartContainer(*c2).code(), Code::kInternal);
  EXPECT_EQ(rt.StartContainer(*c2).code(), Code::kInternal);
  EXPECT_TRUE(rt.StartContainer(*c2).ok());

  rt.SetDown(true);
  EXPECT_EQ(rt.Version().status().code(), Code::kUnavailable);
  EXPECT_EQ(rt.ListPodSandbox({}).status().code(), Code::kUnavailable);
  rt.SetDown(false);
  EXPECT_EQ(rt.ListPodSandbox({})->size(), 1u);

  ASSERT_TRUE(rt.AppendLog(*c, "stdout", "hello world").ok());
  ASSERT_TRUE(rt.AppendLog(*c, "stderr", "oops").ok());
  std::ifstream in(dir + "/app/0.log");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  EXPECT_NE(text.find(" stdout F hello world\n"), std::string::npos) << text;
  EXPECT_NE(text.find(" stderr F oops\n"), std::string::npos) << text;
  EXPECT_EQ(text.substr(0, 4), "2026");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kite::cri

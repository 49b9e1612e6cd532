#include "agent/kubelet/pod_syncer.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <thread>

#include "agent/cri/fake_runtime.h"
#include "api/object.h"
#include "client/fake_client.h"

namespace kite::kubelet {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
namespace fs = std::filesystem;

const client::ResourceRef kPods{"", "v1", "pods", "default"};
const client::ResourceRef kEvents{"", "v1", "events", "default"};
constexpr char kImage[] = "registry.local/busybox:latest";

class FakeVolumes : public VolumeSetup {
 public:
  StatusOr<std::map<std::string, std::vector<cri::Mount>>> Setup(
      const nlohmann::json& pod) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++setups_;
    if (!error_.ok()) return error_;
    std::map<std::string, std::vector<cri::Mount>> out;
    const Json* cs = api::FieldPath(pod, {"spec", "containers"});
    for (const Json& c : cs ? *cs : Json::array())
      out[api::GetString(c, {"name"})] = {
          {"/data",
           "/var/lib/kite/pods/" + api::GetString(pod, {"metadata", "uid"}) +
               "/data",
           false}};
    return out;
  }
  Status TearDown(const std::string& pod_uid) override {
    std::lock_guard<std::mutex> lock(mu_);
    torn_down_.insert(pod_uid);
    return Status::Ok();
  }
  void SetError(Status st) {
    std::lock_guard<std::mutex> lock(mu_);
    error_ = std::move(st);
  }
  bool TornDown(const std::string& uid) {
    std::lock_guard<std::mutex> lock(mu_);
    return torn_down_.count(uid) > 0;
  }

 private:
  std::mutex mu_;
  Status error_;
  int setups_ = 0;
  std::set<std::string> torn_down_;
};

// env[].value only, in order (fieldRef status.podIP: the pod's).
class FakeEnv : public EnvBuilder {
 public:
  StatusOr<std::vector<cri::KeyValue>> Build(const nlohmann::json& pod,
                                             const nlohmann::json& c) override {
    std::vector<cri::KeyValue> out;
    if (const Json* env = api::Field(c, "env"); env && env->is_array())
      for (const Json& e : *env)
        out.push_back({api::GetString(e, {"name"}),
                       api::GetString(e, {"valueFrom", "fieldRef",
                                          "fieldPath"}) == "status.podIP"
                           ? api::GetString(pod, {"status", "podIP"})
                           : api::GetString(e, {"value"})});
    return out;
  }
};

class FakeProber : public Prober {
 public:
  ProbeResult HttpGet(const HttpGetProbe& p, milliseconds) override {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back("http " + p.host + ":" + std::to_string(p.port) + p.path);
    return {ok_, ok_ ? "" : "HTTP probe failed with statuscode: 500"};
  }
  ProbeResult TcpConnect(const std::string& host, int port,
                         milliseconds) override {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back("tcp " + host + ":" + std::to_string(port));
    return {ok_, ok_ ? "" : "connection refused"};
  }
  void SetOk(bool ok) {
    std::lock_guard<std::mutex> lock(mu_);
    ok_ = ok;
  }
  std::vector<std::string> Calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }

 private:
  std::mutex mu_;
  bool ok_ = true;
  std::vector<std::string> calls_;
};

class PodSyncerTest : public testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kubelet-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    rt_.AddImage(kImage);
  }
  void TearDown() override {
    syncer_.reset();
    fs::remove_all(dir_);
  }

  PodSyncerOptions Options() {
    PodSyncerOptions o;
    o.node_name = "node1";
    o.data_dir = dir_;
    o.node_ip = "192.168.5.10";
    o.resolv_conf = "";
    o.cgroup_root = "";
    return o;
  }
  void Start(PodSyncerOptions o) {
    syncer_ = std::make_unique<PodSyncer>(api_, rt_, clock_, std::move(o),
                                          volumes_, env_, &prober_);
    ASSERT_TRUE(syncer_->Start().ok());
  }
  void Start() { Start(Options()); }

  Json Pod(const std::string& name, Json containers,
           Json extra = Json::object()) {
    Json pod = {{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata", {{"name", name}, {"namespace", "default"}}},
                {"spec",
                 {{"nodeName", "node1"},
                  {"restartPolicy", "Always"},
                  {"terminationGracePeriodSeconds", 30},
                  {"containers", containers}}}};
    for (auto it = extra.begin(); it != extra.end(); ++it)
      pod["spec"][it.key()] = it.value();
    return pod;
  }
  static Json Ctr(const std::string& name, Json extra = Json::object()) {
    Json c = {
        {"name", name}, {"image", kImage}, {"command", {"sleep", "3600"}}};
    for (auto it = extra.begin(); it != extra.end(); ++it)
      c[it.key()] = it.value();
    return c;
  }
  std::string Create(const Json& pod) {
    auto r = api_.Create(kPods, pod, {});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? api::GetString(*r, {"metadata", "uid"}) : "";
  }
  Json Get(const std::string& name) {
    auto r = api_.Get(kPods, name, {});
    return r.ok() ? *r : Json();
  }
  // Waits (real time, waking the syncer) until `pred` holds.
  bool Eventually(const std::function<bool()>& pred) {
    for (int i = 0; i < 2000; ++i) {
      if (pred()) return true;
      if (syncer_) syncer_->Wake();
      std::this_thread::sleep_for(milliseconds(5));
    }
    return pred();
  }
  // Lets the syncer settle: a few syncs after the call.
  void Settle() {
    uint64_t target = syncer_->SyncCount() + 3;
    Eventually([&] { return syncer_->SyncCount() >= target; });
  }
  void Advance(std::chrono::nanoseconds d) {
    clock_.Advance(d);
    Settle();
  }
  std::string Phase(const std::string& name) {
    return api::GetString(Get(name), {"status", "phase"});
  }
  Json Status(const std::string& name, const std::string& container,
              const char* list = "containerStatuses") {
    Json pod = Get(name);
    const Json* cs = api::FieldPath(pod, {"status", list});
    if (cs)
      for (const Json& c : *cs)
        if (api::GetString(c, {"name"}) == container) return c;
    return Json();
  }
  std::string Condition(const std::string& name, const std::string& type) {
    Json pod = Get(name);
    const Json* cs = api::FieldPath(pod, {"status", "conditions"});
    if (cs)
      for (const Json& c : *cs)
        if (api::GetString(c, {"type"}) == type)
          return api::GetString(c, {"status"});
    return "";
  }
  std::string WaitingReason(const std::string& name, const std::string& c,
                            const char* list = "containerStatuses") {
    return api::GetString(Status(name, c, list),
                          {"state", "waiting", "reason"});
  }
  std::vector<std::string> Created() {
    std::vector<std::string> out;
    for (const auto& call : rt_.CallsOf("CreateContainer"))
      out.push_back(call.id);
    return out;
  }
  int CreatedCount(const std::string& name) {
    int n = 0;
    for (const auto& c : Created()) n += c == name;
    return n;
  }
  std::vector<std::string> EventReasons() {
    std::vector<std::string> out;
    auto list = api_.List(kEvents, {});
    if (list.ok())
      for (const Json& e : (*list)["items"])
        out.push_back(api::GetString(e, {"reason"}));
    return out;
  }
  // Waits for an event with this reason whose message holds `text`.
  bool HasEvent(const std::string& reason, const std::string& text) {
    return Eventually([&] {
      auto list = api_.List(kEvents, {});
      if (list.ok())
        for (const Json& e : (*list)["items"])
          if (api::GetString(e, {"reason"}) == reason &&
              api::GetString(e, {"message"}).find(text) != std::string::npos)
            return true;
      return false;
    });
  }
  std::string EventMessage(const std::string& reason) {
    auto list = api_.List(kEvents, {});
    if (list.ok())
      for (const Json& e : (*list)["items"])
        if (api::GetString(e, {"reason"}) == reason)
          return api::GetString(e, {"message"});
    return "";
  }
  std::string RunningId(const std::string& name) {
    cri::ContainerFilter f;
    f.state = cri::ContainerState::kRunning;
    f.label_selector = {{kContainerNameLabel, name}};
    auto l = rt_.ListContainers(f);
    return l.ok() && !l->empty() ? l->front().id : "";
  }

  std::string dir_;
  FakeClock clock_;
  client::FakeClient api_{clock_};
  cri::FakeRuntime rt_{clock_};
  FakeVolumes volumes_;
  FakeEnv env_;
  FakeProber prober_;
  std::unique_ptr<PodSyncer> syncer_;
};

TEST_F(PodSyncerTest, EnvironmentSeesTheSandboxIp) {
  Start();
  Create(Pod(
      "ip",
      {Ctr("app", {{"env",
                    {{{"name", "POD_IP"},
                      {"valueFrom",
                       {{"fieldRef", {{"fieldPath", "status.podIP"}}}}}}}}})}));
  ASSERT_TRUE(Eventually([&] { return Phase("ip") == "Running"; }));
  auto pod = api_.Get(kPods.In("default"), "ip", {});
  ASSERT_TRUE(pod.ok());
  std::string ip = api::GetString(*pod, {"status", "podIP"});
  ASSERT_FALSE(ip.empty());
  auto cc = rt_.ContainerConfigOf(RunningId("app"));
  ASSERT_TRUE(cc.ok());
  ASSERT_EQ(cc->envs.size(), 1u);
  EXPECT_EQ(cc->envs[0].value, ip);
}

TEST_F(PodSyncerTest, RunsAPodAndReportsItRunning) {
  Start();
  std::string uid = Create(
      Pod("web",
          {Ctr("app",
               {{"command",
                 {"sh", "-c", "echo $(GREETING) $(MISSING) $$(GREETING)"}},
                {"env", {{{"name", "GREETING"}, {"value", "hello"}}}},
                {"ports", {{{"containerPort", 80}, {"hostPort", 8080}}}}})}));
  ASSERT_TRUE(Eventually([&] { return Phase("web") == "Running"; }));
  ASSERT_TRUE(Eventually([&] { return Condition("web", "Ready") == "True"; }));

  auto sandboxes = rt_.ListPodSandbox({});
  ASSERT_EQ(sandboxes->size(), 1u);
  auto sc = rt_.SandboxConfigOf((*sandboxes)[0].id);
  ASSERT_TRUE(sc.ok());
  EXPECT_EQ(sc->hostname, "web");
  EXPECT_EQ(sc->dns_config.servers, std::vector<std::string>{"10.43.0.10"});
  EXPECT_EQ(sc->dns_config.searches,
            (std::vector<std::string>{"default.svc.cluster.local",
                                      "svc.cluster.local", "cluster.local"}));
  EXPECT_EQ(sc->dns_config.options, std::vector<std::string>{"ndots:5"});
  EXPECT_EQ(sc->labels.at(kPodUidLabel), uid);
  EXPECT_EQ(sc->labels.at(kPodNameLabel), "web");
  EXPECT_EQ(sc->log_directory, dir_ + "/agent/pods/default_web_" + uid);
  EXPECT_TRUE(fs::is_directory(sc->log_directory + "/app"));
  EXPECT_EQ(sc->cgroup_parent, "/kubepods/besteffort/pod" + uid);
  ASSERT_EQ(sc->port_mappings.size(), 1u);
  EXPECT_EQ(sc->port_mappings[0].host_port, 8080);
  EXPECT_EQ(sc->port_mappings[0].container_port, 80);

  std::string id = RunningId("app");
  ASSERT_FALSE(id.empty());
  auto cc = rt_.ContainerConfigOf(id);
  ASSERT_TRUE(cc.ok());
  EXPECT_EQ(cc->command, (std::vector<std::string>{
                             "sh", "-c", "echo hello $(MISSING) $(GREETING)"}));
  ASSERT_EQ(cc->envs.size(), 1u);
  EXPECT_EQ(cc->envs[0].value, "hello");
  ASSERT_EQ(cc->mounts.size(), 2u);  // the volume, the termination log
  EXPECT_EQ(cc->mounts[0].container_path, "/data");
  EXPECT_EQ(cc->mounts[1].container_path, "/dev/termination-log");
  EXPECT_EQ(cc->mounts[1].host_path,
            dir_ + "/agent/termination/" + uid + "/app.0");
  EXPECT_EQ(cc->log_path, "app/0.log");
  EXPECT_EQ(cc->labels.at(kContainerNameLabel), "app");
  EXPECT_EQ(cc->labels.at(kPodUidLabel), uid);
  EXPECT_EQ(cc->resources.cpu_shares, 2);

  Json pod = Get("web");
  EXPECT_EQ(api::GetString(pod, {"status", "podIP"}), "10.88.0.2");
  EXPECT_EQ(api::GetString(pod, {"status", "hostIP"}), "192.168.5.10");
  EXPECT_EQ(api::GetString(pod, {"status", "qosClass"}), "BestEffort");
  EXPECT_FALSE(api::GetString(pod, {"status", "startTime"}).empty());
  Json cs = Status("web", "app");
  EXPECT_TRUE(cs["ready"].get<bool>());
  EXPECT_TRUE(cs["started"].get<bool>());
  EXPECT_EQ(cs["restartCount"], 0);
  EXPECT_EQ(cs["containerID"], "fake://" + id);
  EXPECT_NE(
      api::GetString(cs, {"imageID"}).find("registry.local/busybox@sha256:"),
      std::string::npos);
  EXPECT_TRUE(api::Has(cs, {"state", "running", "startedAt"}));
  for (const char* t :
       {"PodReadyToStartContainers", "Initialized", "ContainersReady"})
    EXPECT_EQ(Condition("web", t), "True") << t;
  for (const char* r : {"Pulled", "Created", "Started"})
    EXPECT_TRUE(Eventually([&] {
      auto reasons = EventReasons();
      return std::find(reasons.begin(), reasons.end(), r) != reasons.end();
    })) << r;

  // One status write took the pod from Pending to Ready.
  int patches = 0;
  for (const auto& a : api_.Actions())
    patches += a.verb == "patch" && a.subresource == "status";
  EXPECT_EQ(patches, 1);

  // Only changes are written: a quiet pod gets no more status patches.
  Settle();
  api_.ClearActions();
  Advance(seconds(1));
  for (const auto& a : api_.Actions())
    EXPECT_FALSE(a.verb == "patch" && a.subresource == "status");
}

TEST_F(PodSyncerTest, AbsentImagesAreNeverPulled) {
  Start();
  Create(Pod("never", {Ctr("app", {{"image", "example.com/missing:1"},
                                   {"imagePullPolicy", "Never"}})}));
  Create(Pod("ifnp", {Ctr("app", {{"image", "example.com/missing:1"},
                                  {"imagePullPolicy", "IfNotPresent"}})}));
  ASSERT_TRUE(Eventually(
      [&] { return WaitingReason("never", "app") == "ErrImageNeverPull"; }));
  ASSERT_TRUE(Eventually(
      [&] { return WaitingReason("ifnp", "app") == "ImagePullBackOff"; }));
  EXPECT_EQ(Phase("never"), "Pending");
  EXPECT_EQ(
      api::GetString(Status("never", "app"), {"state", "waiting", "message"}),
      "Container image \"example.com/missing:1\" is not present with pull "
      "policy of Never");
  EXPECT_TRUE(HasEvent("ErrImageNeverPull", dir_ + "/agent/images/"));
  EXPECT_TRUE(HasEvent("Failed", "/agent/images/"));
  EXPECT_TRUE(rt_.CallsOf("CreateContainer").empty());

  // Imported later: the next retry (after the image back-off) runs it.
  rt_.AddImage("example.com/missing:1");
  Advance(seconds(10));
  ASSERT_TRUE(Eventually([&] { return Phase("never") == "Running"; }));
  ASSERT_TRUE(Eventually([&] { return Phase("ifnp") == "Running"; }));
}

TEST_F(PodSyncerTest, InitContainersRunOneAfterAnother) {
  Start();
  rt_.SetExitOnStart("init1", 0);
  Create(Pod("withinit", {Ctr("app")},
             {{"initContainers", {Ctr("init1"), Ctr("init2")}}}));
  ASSERT_TRUE(Eventually([&] { return !RunningId("init2").empty(); }));
  Settle();
  EXPECT_EQ(Created(), (std::vector<std::string>{"init1", "init2"}));
  EXPECT_EQ(Phase("withinit"), "Pending");
  ASSERT_TRUE(Eventually(
      [&] { return Condition("withinit", "Initialized") == "False"; }));
  EXPECT_EQ(WaitingReason("withinit", "app"), "PodInitializing");

  ASSERT_TRUE(rt_.ExitContainer(RunningId("init2"), 0).ok());
  ASSERT_TRUE(Eventually([&] { return Phase("withinit") == "Running"; }));
  EXPECT_EQ(Created(), (std::vector<std::string>{"init1", "init2", "app"}));
  EXPECT_EQ(Condition("withinit", "Initialized"), "True");
  Json init1 = Status("withinit", "init1", "initContainerStatuses");
  EXPECT_EQ(api::GetString(init1, {"state", "terminated", "reason"}),
            "Completed");
  EXPECT_TRUE(init1["ready"].get<bool>());
}

TEST_F(PodSyncerTest, FailedInitContainerRestartsOrFailsThePod) {
  Start();
  rt_.SetExitOnStart("bad", 2);
  Create(Pod("again", {Ctr("app")}, {{"initContainers", {Ctr("bad")}}}));
  Create(Pod("never", {Ctr("app")},
             {{"initContainers", {Ctr("bad")}}, {"restartPolicy", "Never"}}));
  ASSERT_TRUE(Eventually([&] { return Phase("never") == "Failed"; }));
  ASSERT_TRUE(Eventually([&] {
    return WaitingReason("again", "bad", "initContainerStatuses") ==
           "CrashLoopBackOff";
  }));
  EXPECT_EQ(Phase("again"), "Pending");
  EXPECT_EQ(CreatedCount("app"), 0);
}

TEST_F(PodSyncerTest, CrashLoopBackOffDoublesFromTenSecondsToFiveMinutes) {
  Start();
  rt_.SetExitOnStart("app", 1);
  Create(Pod("crash", {Ctr("app")}));
  // The first restart is immediate, then 10 s, 20 s, 40 s ...
  ASSERT_TRUE(Eventually(
      [&] { return WaitingReason("crash", "app") == "CrashLoopBackOff"; }));
  EXPECT_EQ(CreatedCount("app"), 2);
  Json cs = Status("crash", "app");
  EXPECT_EQ(api::GetString(cs, {"state", "waiting", "message"}).substr(0, 44),
            "back-off 10s restarting failed container=app");
  EXPECT_EQ(api::GetInt(cs, {"lastState", "terminated", "exitCode"}), 1);
  EXPECT_EQ(api::GetString(cs, {"lastState", "terminated", "reason"}), "Error");
  EXPECT_EQ(cs["restartCount"], 1);
  EXPECT_EQ(Phase("crash"), "Running");
  EXPECT_EQ(Condition("crash", "Ready"), "False");

  int64_t expected = 2;
  for (int delay : {10, 20, 40, 80, 160, 300, 300}) {
    Advance(seconds(delay - 1));
    EXPECT_EQ(CreatedCount("app"), expected)
        << "restarted before " << delay << "s";
    Advance(seconds(1));
    ASSERT_TRUE(Eventually([&] { return CreatedCount("app") == expected + 1; }))
        << "not restarted after " << delay << "s";
    ++expected;
  }
  ASSERT_TRUE(Eventually(
      [&] { return Status("crash", "app")["restartCount"] == expected - 1; }));
  EXPECT_TRUE(HasEvent("BackOff", "Back-off restarting failed container app"));

  // After 10 minutes of running, a crash restarts at once again.
  rt_.SetExitOnStart("app", std::nullopt);
  Advance(seconds(300));
  ASSERT_TRUE(Eventually([&] { return !RunningId("app").empty(); }));
  int64_t before = CreatedCount("app");
  Advance(minutes(11));
  ASSERT_TRUE(rt_.ExitContainer(RunningId("app"), 1).ok());
  ASSERT_TRUE(Eventually([&] { return CreatedCount("app") == before + 1; }));
}

TEST_F(PodSyncerTest, RestartPolicies) {
  Start();
  rt_.SetExitOnStart("ok", 0);
  rt_.SetExitOnStart("fail", 1);
  Create(Pod("never-ok", {Ctr("ok")}, {{"restartPolicy", "Never"}}));
  Create(Pod("never-fail", {Ctr("fail")}, {{"restartPolicy", "Never"}}));
  Create(Pod("onfailure-ok", {Ctr("ok")}, {{"restartPolicy", "OnFailure"}}));
  ASSERT_TRUE(Eventually([&] { return Phase("never-ok") == "Succeeded"; }));
  ASSERT_TRUE(Eventually([&] { return Phase("never-fail") == "Failed"; }));
  ASSERT_TRUE(Eventually([&] { return Phase("onfailure-ok") == "Succeeded"; }));
  EXPECT_EQ(api::GetInt(Status("never-fail", "fail"),
                        {"state", "terminated", "exitCode"}),
            1);
  EXPECT_EQ(Condition("never-ok", "Ready"), "False");
  Settle();
  EXPECT_EQ(CreatedCount("ok"), 2);  // once per pod
  EXPECT_EQ(CreatedCount("fail"), 1);
  // Finished pods' sandboxes are stopped.
  cri::PodSandboxFilter f;
  f.state = cri::SandboxState::kReady;
  EXPECT_TRUE(Eventually([&] { return rt_.ListPodSandbox(f)->empty(); }));

  // OnFailure restarts a failure.
  Create(
      Pod("onfailure-fail", {Ctr("fail")}, {{"restartPolicy", "OnFailure"}}));
  ASSERT_TRUE(Eventually([&] { return CreatedCount("fail") == 3; }));
  EXPECT_TRUE(Eventually([&] { return Phase("onfailure-fail") == "Running"; }));
  Settle();
  EXPECT_EQ(rt_.CallsOf("RunPodSandbox").size(), 4u);  // none run twice
}

TEST_F(PodSyncerTest, ReadinessAndLivenessProbes) {
  Start();
  std::atomic<int> ready_exit{1};
  rt_.SetExecHandler(
      [&](const std::string&, const std::vector<std::string>& cmd)
          -> StatusOr<cri::ExecSyncResult> {
        if (cmd.size() > 1 && cmd[1] == "ready")
          return cri::ExecSyncResult{"", "not yet", ready_exit.load()};
        return cri::ExecSyncResult{};
      });
  Create(
      Pod("probed",
          {Ctr("app", {{"ports", {{{"name", "http"}, {"containerPort", 8080}}}},
                       {"readinessProbe",
                        {{"exec", {{"command", {"check", "ready"}}}},
                         {"periodSeconds", 5},
                         {"successThreshold", 2},
                         {"failureThreshold", 1}}},
                       {"livenessProbe",
                        {{"httpGet", {{"path", "/healthz"}, {"port", "http"}}},
                         {"initialDelaySeconds", 15},
                         {"periodSeconds", 10},
                         {"failureThreshold", 3}}}})}));
  ASSERT_TRUE(Eventually([&] { return Phase("probed") == "Running"; }));
  EXPECT_EQ(Condition("probed", "Ready"), "False");
  EXPECT_FALSE(Status("probed", "app")["ready"].get<bool>());
  ASSERT_TRUE(Eventually([&] {
    return EventMessage("Unhealthy").find("Readiness probe failed: not yet") !=
           std::string::npos;
  }));
  EXPECT_TRUE(prober_.Calls().empty());  // liveness waits 15 s

  ready_exit = 0;
  Advance(seconds(5));
  EXPECT_EQ(Condition("probed", "Ready"), "False");  // 1 of 2 successes
  Advance(seconds(5));
  ASSERT_TRUE(
      Eventually([&] { return Condition("probed", "Ready") == "True"; }));
  EXPECT_TRUE(prober_.Calls().empty());
  Advance(seconds(5));
  ASSERT_TRUE(Eventually([&] { return !prober_.Calls().empty(); }));
  EXPECT_EQ(prober_.Calls()[0], "http 10.88.0.2:8080/healthz");

  // Three liveness failures in a row restart the container.
  prober_.SetOk(false);
  std::string first = RunningId("app");
  Advance(seconds(10));
  Advance(seconds(10));
  EXPECT_EQ(RunningId("app"), first);
  Advance(seconds(10));
  ASSERT_TRUE(Eventually([&] { return CreatedCount("app") == 2; }));
  auto stops = rt_.CallsOf("StopContainer");
  ASSERT_FALSE(stops.empty());
  EXPECT_EQ(stops[0].id, first);
  EXPECT_EQ(stops[0].detail, "timeout=30");
  ASSERT_TRUE(
      Eventually([&] { return Status("probed", "app")["restartCount"] == 1; }));
  EXPECT_TRUE(HasEvent("Killing", "failed liveness probe"));
}

TEST_F(PodSyncerTest, StartupProbeGatesLiveness) {
  Start();
  std::atomic<bool> started{false};
  rt_.SetExecHandler(
      [&](const std::string&, const std::vector<std::string>& cmd)
          -> StatusOr<cri::ExecSyncResult> {
        if (cmd[0] == "started")
          return cri::ExecSyncResult{"", "", started ? 0 : 1};
        return cri::ExecSyncResult{};
      });
  Create(Pod("slow", {Ctr("app", {{"startupProbe",
                                   {{"exec", {{"command", {"started"}}}},
                                    {"periodSeconds", 10},
                                    {"failureThreshold", 30}}},
                                  {"livenessProbe",
                                   {{"tcpSocket", {{"port", 9000}}},
                                    {"periodSeconds", 10}}}})}));
  ASSERT_TRUE(Eventually([&] { return Phase("slow") == "Running"; }));
  Advance(seconds(10));
  Advance(seconds(10));
  EXPECT_TRUE(prober_.Calls().empty());
  EXPECT_FALSE(Status("slow", "app")["started"].get<bool>());
  EXPECT_FALSE(Status("slow", "app")["ready"].get<bool>());
  started = true;
  Advance(seconds(10));
  ASSERT_TRUE(
      Eventually([&] { return Status("slow", "app")["started"] == true; }));
  ASSERT_TRUE(Eventually([&] { return !prober_.Calls().empty(); }));
  EXPECT_EQ(prober_.Calls()[0], "tcp 10.88.0.2:9000");
  EXPECT_EQ(Condition("slow", "Ready"), "True");
}

TEST_F(PodSyncerTest, GracefulDeletionRunsPreStopThenStopsThenDeletes) {
  Start();
  Json pod = Pod(
      "bye",
      {Ctr("app", {{"lifecycle",
                    {{"preStop", {{"exec", {{"command", {"drain"}}}}}}}}})});
  pod["metadata"]["finalizers"] = {"test/hold"};
  std::string uid = Create(pod);
  ASSERT_TRUE(Eventually([&] { return Phase("bye") == "Running"; }));
  std::string id = RunningId("app");
  rt_.ClearCalls();
  api_.ClearActions();
  // The user's delete: the finalizer keeps the pod with a deletionTimestamp.
  ASSERT_TRUE(api_.Delete(kPods, "bye", {}).ok());
  ASSERT_TRUE(Eventually([&] { return rt_.SandboxCount() == 0; }));
  std::vector<std::string> order;
  for (const auto& c : rt_.Calls())
    if (c.method == "ExecSync" || c.method == "StopContainer" ||
        c.method == "StopPodSandbox" || c.method == "RemovePodSandbox")
      order.push_back(c.method + " " + c.detail);
  ASSERT_GE(order.size(), 4u);
  EXPECT_EQ(order[0], "ExecSync drain");
  EXPECT_EQ(
      order[1],
      "StopContainer timeout=2");  // deletionGracePeriodSeconds 0: at least 2
  EXPECT_EQ(order[2], "StopPodSandbox ");
  bool deleted_with_zero = false;
  for (const auto& a : api_.Actions())
    if (a.verb == "delete" && a.name == "bye") deleted_with_zero = true;
  EXPECT_TRUE(deleted_with_zero);
  EXPECT_TRUE(Eventually([&] { return volumes_.TornDown(uid); }));
  EXPECT_TRUE(Eventually([&] {
    return !fs::exists(dir_ + "/agent/checkpoints/" + uid + ".json");
  }));

  // A pod that vanishes at once (no finalizer) is stopped with its grace
  // period from the spec.
  std::string uid2 = Create(Pod("gone", {Ctr("app2")}));
  ASSERT_TRUE(Eventually([&] { return !RunningId("app2").empty(); }));
  ASSERT_TRUE(api_.Delete(kPods, "gone", {}).ok());
  ASSERT_TRUE(Eventually([&] { return volumes_.TornDown(uid2); }));
  auto stops = rt_.CallsOf("StopContainer");
  EXPECT_EQ(stops.back().detail, "timeout=30");
  EXPECT_EQ(rt_.ContainerCount(), 0u);
  EXPECT_TRUE(Eventually([&] { return syncer_->PodCount() == 0; }));
}

TEST_F(PodSyncerTest, AdoptsRunningContainersAfterARestart) {
  Start();
  rt_.SetExitOnStart("app", 1);
  Create(Pod("keep", {Ctr("app"), Ctr("side")}));
  ASSERT_TRUE(Eventually(
      [&] { return WaitingReason("keep", "app") == "CrashLoopBackOff"; }));
  rt_.SetExitOnStart("app", std::nullopt);
  Advance(seconds(10));
  ASSERT_TRUE(Eventually([&] { return !RunningId("app").empty(); }));
  ASSERT_TRUE(
      Eventually([&] { return Status("keep", "app")["restartCount"] == 2; }));
  syncer_->Stop();
  syncer_.reset();
  size_t sandboxes = rt_.CallsOf("RunPodSandbox").size();
  size_t creates = Created().size();
  std::string app = RunningId("app"), side = RunningId("side");

  Start();
  ASSERT_TRUE(Eventually([&] { return syncer_->HasSynced(); }));
  Advance(seconds(1));
  Advance(seconds(1));
  EXPECT_EQ(rt_.CallsOf("RunPodSandbox").size(), sandboxes);
  EXPECT_EQ(Created().size(), creates);
  EXPECT_TRUE(rt_.CallsOf("StopContainer").empty());
  EXPECT_EQ(RunningId("app"), app);
  EXPECT_EQ(RunningId("side"), side);
  EXPECT_EQ(Phase("keep"), "Running");
  EXPECT_EQ(Status("keep", "app")["restartCount"], 2);
  EXPECT_EQ(Condition("keep", "Ready"), "True");
}

TEST_F(PodSyncerTest, RemovesWhatBelongsToPodsThatAreGone) {
  // Left by a previous run: a sandbox, a container and cgroup directories of
  // a pod the API no longer has.
  std::string cg = dir_ + "/cgroup";
  std::string old_uid = "0ld-uid";
  fs::create_directories(cg + "/cpu,cpuacct/kubepods/besteffort/pod" + old_uid +
                         "/c1");
  fs::create_directories(cg + "/memory/kubepods/pod" + old_uid);
  // Another pod of the previous run whose sandbox is gone already: only its
  // checkpoint and cgroup directory are left.
  fs::create_directories(cg + "/memory/kubepods/burstable/podleft-uid");
  fs::create_directories(dir_ + "/agent/checkpoints");
  std::ofstream(dir_ + "/agent/checkpoints/left-uid.json") << Json{
      {"metadata",
       {{"name", "left"}, {"namespace", "default"}, {"uid", "left-uid"}}},
      {"spec",
       {{"nodeName", "node1"}, {"containers", Json::array()}}}}.dump();
  // Not this agent's: no checkpoint, no runtime object. Left alone.
  fs::create_directories(cg + "/memory/kubepods/burstable/podother-uid");
  cri::PodSandboxConfig sc;
  sc.metadata = {"old", old_uid, "default", 0};
  sc.labels = {{kPodUidLabel, old_uid},
               {kPodNameLabel, "old"},
               {kPodNamespaceLabel, "default"}};
  auto sb = rt_.RunPodSandbox(sc);
  cri::ContainerConfig cc;
  cc.name = "x";
  cc.image = kImage;
  cc.labels = sc.labels;
  auto c = rt_.CreateContainer(*sb, cc, sc);
  ASSERT_TRUE(rt_.StartContainer(*c).ok());

  PodSyncerOptions o = Options();
  o.cgroup_root = cg;
  Start(o);
  std::string uid = Create(Pod("live", {Ctr("app")}));
  ASSERT_TRUE(Eventually([&] { return Phase("live") == "Running"; }));
  fs::create_directories(cg + "/memory/kubepods/besteffort/pod" + uid);
  ASSERT_TRUE(Eventually([&] { return rt_.SandboxCount() == 1; }));
  EXPECT_EQ(rt_.GetContainerStatus(*c).status().code(), Code::kNotFound);
  EXPECT_TRUE(Eventually([&] { return volumes_.TornDown(old_uid); }));
  ASSERT_TRUE(Eventually([&] {
    return !fs::exists(cg + "/cpu,cpuacct/kubepods/besteffort/pod" + old_uid);
  }));
  EXPECT_TRUE(Eventually(
      [&] { return !fs::exists(cg + "/memory/kubepods/pod" + old_uid); }));
  EXPECT_TRUE(Eventually([&] {
    return !fs::exists(cg + "/memory/kubepods/burstable/podleft-uid");
  }));
  EXPECT_TRUE(volumes_.TornDown("left-uid"));
  EXPECT_TRUE(Eventually(
      [&] { return !fs::exists(dir_ + "/agent/checkpoints/left-uid.json"); }));
  EXPECT_TRUE(fs::exists(cg + "/memory/kubepods/burstable/podother-uid"));
  EXPECT_TRUE(fs::exists(cg + "/memory/kubepods/besteffort/pod" + uid));

  // Deleting the live pod removes its cgroup directory too.
  ASSERT_TRUE(api_.Delete(kPods, "live", {}).ok());
  ASSERT_TRUE(Eventually([&] {
    return !fs::exists(cg + "/memory/kubepods/besteffort/pod" + uid);
  }));
}

TEST_F(PodSyncerTest, OfflineKeepsRestartingAndCatchesUp) {
  Start();
  Create(Pod("off", {Ctr("app")}));
  ASSERT_TRUE(Eventually([&] { return Phase("off") == "Running"; }));
  // The API server goes away: writes fail, the watch ends and cannot be
  // opened again.
  kite::Status down = UnavailableError("connection refused");
  for (const char* verb :
       {"patch", "list", "watch", "create", "delete", "update"})
    api_.InjectError(verb, "", down, 1000000);
  api_.CloseWatches();
  ASSERT_TRUE(rt_.ExitContainer(RunningId("app"), 1).ok());
  ASSERT_TRUE(Eventually([&] { return CreatedCount("app") == 2; }));
  ASSERT_TRUE(rt_.ExitContainer(RunningId("app"), 1).ok());
  Advance(seconds(10));
  ASSERT_TRUE(Eventually([&] { return CreatedCount("app") == 3; }));
  EXPECT_EQ(Status("off", "app")["restartCount"],
            0);  // the API could not be told

  api_.ClearInjectedErrors();
  Advance(seconds(30));
  ASSERT_TRUE(
      Eventually([&] { return Status("off", "app")["restartCount"] == 2; }));
  EXPECT_EQ(Phase("off"), "Running");
  auto pods = api_.List(kPods, {});
  EXPECT_EQ((*pods)["items"].size(), 1u);
  EXPECT_EQ(rt_.SandboxCount(), 1u);
}

TEST_F(PodSyncerTest, RestartWhileOfflineKeepsThePodsFromTheCheckpoint) {
  Start();
  std::string uid = Create(Pod("cp", {Ctr("app")}));
  ASSERT_TRUE(Eventually([&] { return Phase("cp") == "Running"; }));
  syncer_.reset();
  EXPECT_TRUE(fs::exists(dir_ + "/agent/checkpoints/" + uid + ".json"));

  kite::Status down = UnavailableError("connection refused");
  for (const char* verb :
       {"patch", "list", "watch", "create", "delete", "update"})
    api_.InjectError(verb, "", down, 1000000);
  ASSERT_TRUE(rt_.ExitContainer(RunningId("app"), 1).ok());
  Start();
  // Not synced with the API, yet the pod is known and its container restarts.
  ASSERT_TRUE(Eventually([&] { return CreatedCount("app") == 2; }));
  EXPECT_FALSE(syncer_->HasSynced());
  EXPECT_EQ(rt_.SandboxCount(), 1u);

  // The API returns; it deleted the pod meanwhile: everything goes.
  {
    api_.ClearInjectedErrors();
    ASSERT_TRUE(api_.Delete(kPods, "cp", {}).ok());
  }
  ASSERT_TRUE(Eventually([&] { return syncer_->HasSynced(); }));
  ASSERT_TRUE(Eventually([&] { return rt_.SandboxCount() == 0; }));
  EXPECT_TRUE(Eventually([&] { return volumes_.TornDown(uid); }));
}

TEST_F(PodSyncerTest, VolumesNotReadyAreRetriedWithAnEvent) {
  volumes_.SetError(UnavailableError("configmap \"cfg\" not found"));
  Start();
  Create(Pod("vol", {Ctr("app")}));
  ASSERT_TRUE(Eventually([&] {
    return EventMessage("FailedMount") == "configmap \"cfg\" not found";
  }));
  EXPECT_EQ(rt_.SandboxCount(), 0u);
  EXPECT_TRUE(Eventually(
      [&] { return WaitingReason("vol", "app") == "ContainerCreating"; }));
  volumes_.SetError(Status::Ok());
  Advance(seconds(2));
  ASSERT_TRUE(Eventually([&] { return Phase("vol") == "Running"; }));
}

TEST_F(PodSyncerTest, ChangedImageReplacesTheContainer) {
  Start();
  rt_.AddImage("registry.local/busybox:2");
  Create(Pod("img", {Ctr("app")}, {{"restartPolicy", "Never"}}));
  ASSERT_TRUE(Eventually([&] { return Phase("img") == "Running"; }));
  std::string first = RunningId("app");
  // kubectl set image pod/img app=registry.local/busybox:2
  ASSERT_TRUE(
      api_.Patch(
              kPods, "img", client::PatchType::kStrategicMerge,
              R"({"spec":{"containers":[{"name":"app","image":"registry.local/busybox:2"}]}})",
              {})
          .ok());
  ASSERT_TRUE(Eventually([&] {
    return api::GetString(Status("img", "app"), {"image"}) ==
           "registry.local/busybox:2";
  }));
  EXPECT_NE(RunningId("app"), first);
  EXPECT_EQ(rt_.ContainerConfigOf(RunningId("app"))->image,
            "registry.local/busybox:2");
  EXPECT_EQ(Phase("img"), "Running");
  EXPECT_EQ(Status("img", "app")["restartCount"], 1);
  EXPECT_TRUE(HasEvent("Killing", "definition changed"));
}

TEST_F(PodSyncerTest, TerminationMessages) {
  Start();
  Create(Pod("msg",
             {Ctr("file"), Ctr("logs", {{"terminationMessagePolicy",
                                         "FallbackToLogsOnError"}})},
             {{"restartPolicy", "Never"}}));
  ASSERT_TRUE(Eventually([&] {
    return !RunningId("file").empty() && !RunningId("logs").empty();
  }));
  // The file container writes its message where the mount puts it.
  auto cc = rt_.ContainerConfigOf(RunningId("file"));
  std::string host;
  for (const auto& m : cc->mounts)
    if (m.container_path == "/dev/termination-log") host = m.host_path;
  ASSERT_FALSE(host.empty());
  std::ofstream(host) << "disk full";
  ASSERT_TRUE(rt_.ExitContainer(RunningId("file"), 2).ok());
  std::string logs = RunningId("logs");
  ASSERT_TRUE(rt_.AppendLog(logs, "stdout", "starting").ok());
  ASSERT_TRUE(rt_.AppendLog(logs, "stderr", "panic: boom").ok());
  ASSERT_TRUE(rt_.ExitContainer(logs, 1).ok());
  ASSERT_TRUE(Eventually([&] { return Phase("msg") == "Failed"; }));
  EXPECT_EQ(
      api::GetString(Status("msg", "file"), {"state", "terminated", "message"}),
      "disk full");
  EXPECT_EQ(
      api::GetString(Status("msg", "logs"), {"state", "terminated", "message"}),
      "starting\npanic: boom\n");
  // Gone with the pod.
  ASSERT_TRUE(api_.Delete(kPods, "msg", {}).ok());
  ASSERT_TRUE(Eventually([&] { return !fs::exists(host); }));
}

TEST_F(PodSyncerTest, DeadSandboxIsRecreated) {
  Start();
  Create(Pod("sbx", {Ctr("app")}));
  ASSERT_TRUE(Eventually([&] { return Phase("sbx") == "Running"; }));
  auto sbs = rt_.ListPodSandbox({});
  ASSERT_TRUE(rt_.StopPodSandbox((*sbs)[0].id).ok());
  ASSERT_TRUE(
      Eventually([&] { return rt_.CallsOf("RunPodSandbox").size() == 2; }));
  ASSERT_TRUE(Eventually([&] { return !RunningId("app").empty(); }));
  auto calls = rt_.CallsOf("RunPodSandbox");
  EXPECT_EQ(calls[1].detail.substr(calls[1].detail.rfind('/')), "/1");
  ASSERT_TRUE(
      Eventually([&] { return Status("sbx", "app")["restartCount"] == 1; }));
}

}  // namespace
}  // namespace kite::kubelet

namespace kite::kubelet {
namespace {

TEST(EventRecorderTest, PostsCountsRepeatsAndDropsWhileOffline) {
  FakeClock clock;
  client::FakeClient api(clock);
  EventRecorder rec(api, clock, "node1");
  rec.Start();
  Json pod = {
      {"metadata", {{"name", "p"}, {"namespace", "ns1"}, {"uid", "u1"}}}};
  auto events = [&] {
    auto l = api.List({"", "v1", "events", "ns1"}, {});
    return l.ok() ? (*l)["items"] : Json::array();
  };
  auto wait = [&](const std::function<bool()>& pred) {
    for (int i = 0; i < 2000 && !pred(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return pred();
  };
  rec.Record(pod, "Warning", "BackOff", "Back-off restarting",
             "spec.containers{a}");
  rec.Record(pod, "Warning", "BackOff", "Back-off restarting",
             "spec.containers{a}");
  rec.Record(pod, "Normal", "Started", "Started container a",
             "spec.containers{a}");
  ASSERT_TRUE(wait([&] {
    Json e = events();
    if (e.size() != 2) return false;
    for (const Json& ev : e)
      if (ev["reason"] == "BackOff") return ev["count"] == 2;
    return false;
  })) << events().dump(2);
  Json e = events();
  for (const Json& ev : e) {
    EXPECT_EQ(ev["involvedObject"]["uid"], "u1");
    EXPECT_EQ(ev["involvedObject"]["fieldPath"], "spec.containers{a}");
    EXPECT_EQ(ev["source"]["component"], "kubelet");
    EXPECT_EQ(ev["source"]["host"], "node1");
  }
  // Unreachable: dropped, nothing retried later.
  api.InjectError("create", "events", UnavailableError("down"), 1);
  rec.Record(pod, "Normal", "Killing", "Stopping container a");
  rec.Record(pod, "Normal", "Pulled", "present");
  ASSERT_TRUE(wait([&] { return events().size() == 3; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(events().size(), 3u);
  rec.Stop();
}

}  // namespace
}  // namespace kite::kubelet

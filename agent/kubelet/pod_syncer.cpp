#include "agent/kubelet/pod_syncer.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "agent/kubelet/pod_status.h"
#include "api/object.h"
#include "common/log.h"

namespace kite::kubelet {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

const client::ResourceRef kPods{"", "v1", "pods", ""};
const client::ResourceRef kNodes{"", "v1", "nodes", ""};
constexpr char kTag[] = "kubelet";
// "Never" as a wake-up time: only a change or Wake() brings the worker back.
constexpr auto kFarAway = std::chrono::hours(24 * 365);

std::string Uid(const Json& pod) {
  return api::GetString(pod, {"metadata", "uid"});
}

std::string PodDesc(const Json& pod) {
  return api::Name(pod) + "_" + api::Namespace(pod) + "(" + Uid(pod) + ")";
}

// Go's time.Duration text for whole seconds: "10s", "1m20s", "5m0s".
std::string GoDuration(nanoseconds d) {
  int64_t s = std::chrono::duration_cast<seconds>(d).count();
  if (s < 60) return std::to_string(s) + "s";
  return std::to_string(s / 60) + "m" + std::to_string(s % 60) + "s";
}

const Json* Containers(const Json& pod, const char* list) {
  const Json* cs = api::FieldPath(pod, {"spec", list});
  return cs && cs->is_array() ? cs : nullptr;
}

bool ShouldRestart(const std::string& policy, int32_t exit_code) {
  if (policy == "Never") return false;
  if (policy == "OnFailure") return exit_code != 0;
  return true;  // Always
}

std::string PullPolicy(const Json& container) {
  std::string p = api::GetString(container, {"imagePullPolicy"});
  if (!p.empty()) return p;
  std::string image = api::GetString(container, {"image"});
  std::string last = image.substr(
      image.rfind('/') == std::string::npos ? 0 : image.rfind('/') + 1);
  if (image.find('@') != std::string::npos) return "IfNotPresent";
  if (last.find(':') == std::string::npos ||
      last.substr(last.find(':')) == ":latest")
    return "Always";
  return "IfNotPresent";
}

int64_t GracePeriod(const Json& pod) {
  if (api::Has(pod, {"metadata", "deletionGracePeriodSeconds"}))
    return api::GetInt(pod, {"metadata", "deletionGracePeriodSeconds"});
  return api::GetInt(pod, {"spec", "terminationGracePeriodSeconds"}, 30);
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

// What the worker alone knows about its pod.
struct PodSyncer::PodState {
  struct ProbeCounter {
    int successes = 0;
    int failures = 0;
    bool due_set = false;
    Clock::MonoTime next{};
  };
  struct Run {  // one container attempt, by container id
    bool initialized = false;
    Clock::MonoTime started{};
    bool started_ok = false;  // startup probe passed (or none)
    bool ready = false;
    ProbeCounter startup, liveness, readiness;
  };
  std::map<std::string, Run> runs;
  std::string sandbox_id;
  cri::PodSandboxConfig sandbox_config;
  std::string pod_ip;
  std::map<std::string, std::vector<cri::Mount>> mounts;
  bool mounts_ok = false;
  int volume_failures = 0;
  Clock::MonoTime volume_retry{};
  int sandbox_failures = 0;
  Clock::MonoTime sandbox_retry{};
  int api_failures = 0;
  Clock::MonoTime api_retry{};
  std::optional<Json> last_status;  // as the API holds it after our patch
  std::string start_time;
  Json checkpoint_spec;
  bool killed = false;
  bool deleted = false;
  bool cleaned = false;
  int cgroup_retries = 0;
  std::map<std::string, std::string> messages;  // exited container id -> text
  bool runtime_down = false;
  std::string final_phase;  // Succeeded or Failed once decided
};

struct PodSyncer::Worker {
  std::string uid;
  Json pod;                      // mu_
  bool in_api = true;            // mu_: false once the API said it is gone
  bool dirty = true;             // mu_: changed since the worker looked
  bool finished = false;         // mu_
  bool from_checkpoint = false;  // mu_: not confirmed by the API yet
  std::thread thread;
  PodState state;  // the worker thread only
};

struct PodSyncer::Observed {
  std::vector<cri::PodSandbox> sandboxes;         // newest first
  std::vector<cri::ContainerStatus> containers;   // newest first
  std::map<std::string, std::string> sandbox_of;  // container id -> sandbox
};

PodSyncer::PodSyncer(client::Interface& client, cri::Runtime& runtime,
                     Clock& clock, PodSyncerOptions options,
                     VolumeSetup& volumes, EnvBuilder& env, Prober* prober)
    : client_(client),
      runtime_(runtime),
      clock_(clock),
      options_(std::move(options)),
      volumes_(volumes),
      env_(env),
      own_prober_(prober ? nullptr : std::make_unique<NetProber>()),
      prober_(prober ? *prober : *own_prober_),
      restart_backoff_(clock, options_.backoff_initial, options_.backoff_max),
      image_backoff_(clock, options_.backoff_initial, options_.backoff_max),
      events_(client, clock, options_.node_name) {
  node_.node_name = options_.node_name;
  node_.data_dir = options_.data_dir;
  node_.cluster_dns = options_.cluster_dns;
  node_.cluster_domain = options_.cluster_domain;
  node_.node_memory_bytes = options_.node_memory_bytes;
  node_ip_ = options_.node_ip;
}

PodSyncer::~PodSyncer() { Stop(); }

Status PodSyncer::Start() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (started_) return FailedPreconditionError("pod syncer already started");
    started_ = true;
  }
  if (!options_.resolv_conf.empty()) {
    std::ifstream in(options_.resolv_conf);
    std::stringstream text;
    text << in.rdbuf();
    node_.host_dns = ParseResolvConf(text.str());
  }
  if (auto v = runtime_.Version(); v.ok() && !v->runtime_name.empty())
    runtime_prefix_ = v->runtime_name + "://";
  events_.Start();
  std::error_code ec;
  fs::create_directories(options_.data_dir + "/agent/checkpoints", ec);
  // Pods known before a restart, until the API confirms or denies them.
  for (Json& pod : LoadCheckpoints()) {
    std::lock_guard<std::mutex> lock(mu_);
    std::string uid = Uid(pod);
    if (uid.empty() || workers_.count(uid)) continue;
    auto w = std::make_unique<Worker>();
    w->uid = uid;
    w->pod = std::move(pod);
    w->from_checkpoint = true;
    Worker* raw = w.get();
    workers_[uid] = std::move(w);
    raw->thread = std::thread([this, raw] { RunWorker(raw); });
  }
  client::InformerOptions io;
  io.ref = kPods;
  io.field_selector = "spec.nodeName=" + options_.node_name;
  informer_ = std::make_unique<client::Informer>(client_, io);
  client::EventHandlers h;
  h.on_add = [this](const Json& pod) { OnPod(pod); };
  h.on_update = [this](const Json&, const Json& pod) { OnPod(pod); };
  h.on_delete = [this](const Json& pod) { OnPodGone(pod); };
  informer_->AddEventHandler(std::move(h));
  KITE_RETURN_IF_ERROR(informer_->Start());
  housekeeper_ = std::thread([this] { RunHousekeeper(); });
  log::Info(kTag, "pod syncer started")("node", options_.node_name);
  return Status::Ok();
}

void PodSyncer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!started_ || stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (informer_) informer_->Stop();
  if (housekeeper_.joinable()) housekeeper_.join();
  std::vector<Worker*> ws;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [uid, w] : workers_) ws.push_back(w.get());
  }
  for (Worker* w : ws)
    if (w->thread.joinable()) w->thread.join();
  events_.Stop();
}

void PodSyncer::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++wake_generation_;
  }
  cv_.notify_all();
}

size_t PodSyncer::PodCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return workers_.size();
}

bool PodSyncer::HasSynced() const {
  return informer_ && informer_->HasSynced();
}

void PodSyncer::OnPod(const Json& pod) {
  std::string uid = Uid(pod);
  if (uid.empty()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = workers_.find(uid);
    if (it == workers_.end()) {
      auto w = std::make_unique<Worker>();
      w->uid = uid;
      w->pod = pod;
      Worker* raw = w.get();
      workers_[uid] = std::move(w);
      if (started_ && !stopping_)
        raw->thread = std::thread([this, raw] { RunWorker(raw); });
    } else {
      Worker& w = *it->second;
      if (w.finished) return;
      w.pod = pod;
      w.in_api = true;
      w.from_checkpoint = false;
      w.dirty = true;
    }
  }
  cv_.notify_all();
}

void PodSyncer::OnPodGone(const Json& pod) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = workers_.find(Uid(pod));
    if (it == workers_.end()) return;
    it->second->in_api = false;
    it->second->dirty = true;
  }
  cv_.notify_all();
}

void PodSyncer::RunWorker(Worker* w) {
  Clock::MonoTime due = clock_.Monotonic();
  uint64_t seen_gen = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    seen_gen = wake_generation_;
  }
  while (true) {
    Json pod;
    bool in_api;
    {
      std::unique_lock<std::mutex> lock(mu_);
      while (!stopping_ && !w->dirty && wake_generation_ == seen_gen) {
        auto now = clock_.Monotonic();
        if (now >= due) break;
        auto left = std::min<nanoseconds>(due - now, std::chrono::hours(1));
        cv_.wait_for(lock, left);
      }
      if (stopping_) return;
      seen_gen = wake_generation_;
      w->dirty = false;
      pod = w->pod;
      in_api = w->in_api;
    }
    bool finished = false;
    due = SyncPod(*w, pod, in_api, &finished);
    ++syncs_;
    if (finished) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        w->finished = true;
      }
      cv_.notify_all();  // the housekeeper reaps the worker
      return;
    }
  }
}

Clock::MonoTime PodSyncer::SyncPod(Worker& w, const Json& pod, bool in_api,
                                   bool* finished) {
  if (!in_api || api::Has(pod, {"metadata", "deletionTimestamp"}))
    return SyncTerminating(w, pod, in_api, finished);
  return SyncRunning(w, pod);
}

StatusOr<PodSyncer::Observed> PodSyncer::Observe(const std::string& uid) {
  Observed obs;
  cri::PodSandboxFilter sf;
  sf.label_selector = {{kPodUidLabel, uid}};
  KITE_ASSIGN_OR_RETURN(obs.sandboxes, runtime_.ListPodSandbox(sf));
  std::sort(obs.sandboxes.begin(), obs.sandboxes.end(),
            [](const cri::PodSandbox& a, const cri::PodSandbox& b) {
              if (a.metadata.attempt != b.metadata.attempt)
                return a.metadata.attempt > b.metadata.attempt;
              return a.created_at > b.created_at;
            });
  cri::ContainerFilter cf;
  cf.label_selector = {{kPodUidLabel, uid}};
  KITE_ASSIGN_OR_RETURN(auto list, runtime_.ListContainers(cf));
  for (const cri::Container& c : list) {
    auto st = runtime_.GetContainerStatus(c.id);
    if (!st.ok()) {
      if (st.status().code() == Code::kNotFound) continue;
      return st.status();
    }
    obs.sandbox_of[c.id] = c.pod_sandbox_id;
    obs.containers.push_back(std::move(*st));
  }
  std::sort(obs.containers.begin(), obs.containers.end(),
            [](const cri::ContainerStatus& a, const cri::ContainerStatus& b) {
              if (a.attempt != b.attempt) return a.attempt > b.attempt;
              return a.created_at > b.created_at;
            });
  return obs;
}

// ---------------------------------------------------------------------------
// Running a pod.

Clock::MonoTime PodSyncer::SyncRunning(Worker& w, const Json& pod) {
  PodState& s = w.state;
  const std::string uid = w.uid;
  auto now = clock_.Monotonic();
  Clock::MonoTime next = now + options_.resync_period;
  auto want = [&](Clock::MonoTime t) { next = std::min(next, t); };
  auto retry_delay = [&](int failures) {
    auto d = options_.retry_min * (1LL << std::min(failures, 10));
    return std::min<milliseconds>(d, options_.retry_max);
  };

  if (s.checkpoint_spec != pod["spec"]) {
    WriteCheckpoint(pod);
    s.checkpoint_spec = pod["spec"];
  }
  if (s.start_time.empty()) {
    s.start_time = api::GetString(pod, {"status", "startTime"});
    if (s.start_time.empty()) s.start_time = api::FormatTime(clock_.Now());
  }

  auto observed = Observe(uid);
  if (!observed.ok()) {
    // Logged once per outage, not at every retry.
    if (!s.runtime_down)
      log::Warn(kTag, "runtime unavailable")("pod", PodDesc(pod))(
          "error", observed.status().ToString());
    s.runtime_down = true;
    want(now + options_.retry_min);
    return next;
  }
  if (s.runtime_down) log::Info(kTag, "runtime back")("pod", PodDesc(pod));
  s.runtime_down = false;
  Observed obs = std::move(*observed);

  const std::string policy =
      api::GetString(pod, {"spec", "restartPolicy"}, "Always");
  // Finished is final: what this worker decided counts even before the
  // informer brings the status back (or while the API is away).
  const std::string api_phase = !s.final_phase.empty()
                                    ? s.final_phase
                                    : api::GetString(pod, {"status", "phase"});
  const bool terminal_api = api_phase == "Succeeded" || api_phase == "Failed";
  const int64_t grace =
      api::GetInt(pod, {"spec", "terminationGracePeriodSeconds"}, 30);

  PodStatusInput in;
  in.pod = &pod;
  in.runtime_prefix = runtime_prefix_;
  in.start_time = s.start_time;
  in.host_ip = NodeIp();
  // Until the syncer knows better: initialized when there is nothing to run.
  in.init_done = Containers(pod, "initContainers") == nullptr ||
                 Containers(pod, "initContainers")->empty();
  bool acted = false;

  const cri::PodSandbox* sb =
      obs.sandboxes.empty() ? nullptr : &obs.sandboxes[0];
  bool sb_ready = sb && sb->state == cri::SandboxState::kReady;
  bool any_running = false;
  for (const auto& c : obs.containers)
    if (c.state == cri::ContainerState::kRunning) any_running = true;

  auto publish = [&](const Observed& o, const std::string& sandbox_id) {
    in.sandbox_ready = false;
    for (const auto& sbx : o.sandboxes)
      if (sbx.id == sandbox_id && sbx.state == cri::SandboxState::kReady)
        in.sandbox_ready = true;
    in.pod_ip = in.sandbox_ready ? s.pod_ip : "";
    if (!in.sandbox_ready && terminal_api)
      in.pod_ip = api::GetString(pod, {"status", "podIP"});
    in.previous_status = s.last_status ? &*s.last_status : nullptr;
    in.current.clear();
    in.previous.clear();
    for (const auto& c : o.containers) {
      bool in_current = o.sandbox_of.at(c.id) == sandbox_id;
      if (in_current && !in.current.count(c.name))
        in.current[c.name] = c;
      else if (!in.previous.count(c.name) &&
               (!in.current.count(c.name) || in.current[c.name].id != c.id))
        in.previous[c.name] = c;
    }
    // terminated.message: the termination message file, or with
    // terminationMessagePolicy FallbackToLogsOnError the end of the log of
    // a failed container.
    for (auto* m : {&in.current, &in.previous})
      for (auto& [name, c] : *m) {
        if (c.state != cri::ContainerState::kExited || !c.message.empty())
          continue;
        auto cached = s.messages.find(c.id);
        if (cached == s.messages.end())
          cached =
              s.messages.emplace(c.id, TerminationMessage(pod, uid, c)).first;
        c.message = cached->second;
      }
    for (const auto& [id, run] : s.runs) {
      in.ready[id] = run.ready;
      in.started[id] = run.started_ok;
    }
    Json status = BuildPodStatus(in, clock_.Now());
    if (status["phase"] == "Succeeded" || status["phase"] == "Failed")
      s.final_phase = status["phase"];
    if (s.last_status && *s.last_status == status) return;
    if (!s.last_status && StatusMatches(pod, status)) {
      s.last_status = status;
      return;
    }
    if (clock_.Monotonic() < s.api_retry) {
      want(s.api_retry);
      return;
    }
    client::PatchOptions po;
    po.subresource = "status";
    Json body = {{"status", status}};
    auto r = client_.Patch(kPods.In(api::Namespace(pod)), api::Name(pod),
                           client::PatchType::kMerge, body.dump(), po);
    if (r.ok() || r.status().code() == Code::kNotFound) {
      s.last_status = status;
      s.api_failures = 0;
      s.api_retry = {};
      return;
    }
    if (s.api_failures == 0)  // once per outage
      log::Warn(kTag, "status update failed")("pod", PodDesc(pod))(
          "error", r.status().ToString());
    s.api_retry = clock_.Monotonic() + retry_delay(s.api_failures++);
    want(s.api_retry);
  };

  // A pod the API holds as finished never runs again; what still runs of
  // it is stopped.
  if (terminal_api) {
    if (sb_ready || any_running) {
      for (const auto& sbx : obs.sandboxes)
        if (sbx.state == cri::SandboxState::kReady)
          runtime_.StopPodSandbox(sbx.id).IgnoreError();
    }
    in.terminal_phase = api_phase;
    auto again = Observe(uid);
    if (again.ok()) publish(*again, sb ? sb->id : "");
    return next == now + options_.resync_period ? now + kFarAway : next;
  }

  // Volumes come first: nothing starts before they are there.
  if (!s.mounts_ok && now >= s.volume_retry) {
    auto m = volumes_.Setup(pod);
    if (m.ok()) {
      s.mounts = std::move(*m);
      s.mounts_ok = true;
      s.volume_failures = 0;
    } else {
      Event(pod, "Warning", "FailedMount", m.status().message());
      s.volume_retry = now + retry_delay(s.volume_failures++);
    }
  }
  if (!s.mounts_ok) {
    want(s.volume_retry);
    publish(obs, sb ? sb->id : "");
    return next;
  }

  // The sandbox.
  std::string sandbox_id;
  if (sb_ready) {
    sandbox_id = sb->id;
    if (s.sandbox_id != sandbox_id) {
      s.sandbox_id = sandbox_id;
      s.sandbox_config = BuildSandboxConfig(node_, pod, sb->metadata.attempt);
      s.pod_ip.clear();
    }
  } else {
    if (sb) {
      // It died (or was stopped by someone): kill what is left, run anew.
      runtime_.StopPodSandbox(sb->id).IgnoreError();
      Event(pod, "Normal", "SandboxChanged",
            "Pod sandbox changed, it will be killed and re-created.");
    }
    if (now < s.sandbox_retry) {
      want(s.sandbox_retry);
      publish(obs, "");
      return next;
    }
    uint32_t attempt = sb ? sb->metadata.attempt + 1 : 0;
    cri::PodSandboxConfig config = BuildSandboxConfig(node_, pod, attempt);
    std::error_code ec;
    fs::create_directories(config.log_directory, ec);
    auto id = runtime_.RunPodSandbox(config);
    if (!id.ok()) {
      Event(pod, "Warning", "FailedCreatePodSandBox",
            "Failed to create pod sandbox: " + id.status().message());
      s.sandbox_retry = now + retry_delay(s.sandbox_failures++);
      want(s.sandbox_retry);
      publish(obs, "");
      return next;
    }
    s.sandbox_failures = 0;
    s.sandbox_id = sandbox_id = *id;
    s.sandbox_config = std::move(config);
    s.pod_ip.clear();
    acted = true;
  }
  if (s.pod_ip.empty()) {
    if (IsHostNetwork(pod)) {
      s.pod_ip = NodeIp();
    } else {
      auto st = runtime_.GetPodSandboxStatus(sandbox_id, false);
      if (st.ok()) s.pod_ip = st->ip;
    }
  }

  // The newest container of each name in this sandbox, and the attempt
  // number the next one gets.
  std::map<std::string, const cri::ContainerStatus*> cur;
  std::map<std::string, uint32_t> next_attempt;
  for (const auto& c : obs.containers) {
    if (!next_attempt.count(c.name)) next_attempt[c.name] = c.attempt + 1;
    if (obs.sandbox_of[c.id] == sandbox_id && !cur.count(c.name))
      cur[c.name] = &c;
  }

  auto field_path = [](const char* list, const std::string& name) {
    return std::string("spec.") + list + "{" + name + "}";
  };

  // Starts a new attempt of `spec`; false (and a waiting reason) when it
  // could not.
  auto start_new = [&](const Json& spec, const char* list) -> bool {
    std::string name = api::GetString(spec, {"name"});
    std::string image = api::GetString(spec, {"image"});
    std::string fp = field_path(list, name);
    std::string image_key = uid + "/" + name + "/" + image;
    auto img = runtime_.ImageStatus(image);
    if (!img.ok()) {
      in.waiting[name] = {"ContainerCreating", ""};
      want(now + options_.retry_min);
      return false;
    }
    if (!img->has_value()) {
      std::string hint =
          "; kite never pulls images: put the image tarball in " +
          options_.data_dir + "/agent/images/ (imported when the agent starts)";
      if (PullPolicy(spec) == "Never") {
        std::string msg = "Container image \"" + image +
                          "\" is not present with pull policy of Never";
        in.waiting[name] = {"ErrImageNeverPull", msg};
        Event(pod, "Warning", "ErrImageNeverPull", msg + hint, fp);
      } else {
        in.waiting[name] = {"ImagePullBackOff",
                            "Back-off pulling image \"" + image + "\""};
        Event(
            pod, "Warning", "Failed",
            "Failed to pull image \"" + image + "\": image not present" + hint,
            fp);
      }
      image_backoff_.Next(image_key);
      want(now + image_backoff_.Get(image_key));
      return false;
    }
    image_backoff_.ForgetPrefix(image_key);
    Event(pod, "Normal", "Pulled",
          "Container image \"" + image + "\" already present on machine", fp);
    // status.podIP(s) in the environment: the sandbox's, which the API's
    // copy of a starting pod does not have yet.
    Json with_ip = pod;
    if (!s.pod_ip.empty()) {
      with_ip["status"]["podIP"] = s.pod_ip;
      with_ip["status"]["podIPs"] = Json::array({{{"ip", s.pod_ip}}});
    }
    auto env = env_.Build(with_ip, spec);
    if (!env.ok()) {
      in.waiting[name] = {"CreateContainerConfigError", env.status().message()};
      Event(pod, "Warning", "Failed", "Error: " + env.status().message(), fp);
      want(now + options_.retry_min);
      return false;
    }
    std::vector<cri::Mount> mounts;
    if (auto it = s.mounts.find(name); it != s.mounts.end())
      mounts = it->second;
    uint32_t attempt = next_attempt.count(name) ? next_attempt[name] : 0;
    // The termination message file, as kubelet mounts it (default
    // /dev/termination-log), unless a volume is mounted there.
    std::string tm_path = api::GetString(spec, {"terminationMessagePath"},
                                         "/dev/termination-log");
    if (std::none_of(mounts.begin(), mounts.end(), [&](const cri::Mount& m) {
          return m.container_path == tm_path;
        })) {
      std::string host = TerminationMessageFile(uid, name, attempt);
      std::error_code tec;
      fs::create_directories(fs::path(host).parent_path(), tec);
      std::ofstream(host, std::ios::trunc).flush();
      fs::permissions(
          host,
          fs::perms::all & ~(fs::perms::owner_exec | fs::perms::group_exec |
                             fs::perms::others_exec),
          tec);
      mounts.push_back({tm_path, host, false});
    }
    cri::ContainerConfig cfg = BuildContainerConfig(
        node_, pod, spec, attempt, std::move(*env), std::move(mounts));
    std::error_code ec;
    fs::create_directories(s.sandbox_config.log_directory + "/" + name, ec);
    auto id = runtime_.CreateContainer(sandbox_id, cfg, s.sandbox_config);
    if (!id.ok()) {
      in.waiting[name] = {"CreateContainerError", id.status().message()};
      Event(pod, "Warning", "Failed", "Error: " + id.status().message(), fp);
      want(now + options_.retry_min);
      return false;
    }
    acted = true;
    next_attempt[name] = attempt + 1;
    Event(pod, "Normal", "Created", "Created container " + name, fp);
    Status st = runtime_.StartContainer(*id);
    if (!st.ok()) {
      in.waiting[name] = {"RunContainerError", st.message()};
      Event(pod, "Warning", "Failed", "Error: " + st.message(), fp);
      runtime_.RemoveContainer(*id).IgnoreError();
      restart_backoff_.Next(uid + "/" + name);
      want(now + restart_backoff_.Get(uid + "/" + name));
      return false;
    }
    Event(pod, "Normal", "Started", "Started container " + name, fp);
    // Probe state from the start, so a container without probes is ready in
    // the status this very sync writes (no second patch a relist later).
    PodState::Run& run = s.runs[*id];
    run.initialized = true;
    run.started = clock_.Monotonic();
    run.started_ok = api::Field(spec, "startupProbe") == nullptr;
    run.ready = run.started_ok && api::Field(spec, "readinessProbe") == nullptr;
    // Probes start with the container (their initial delay counts from
    // now): look again at once instead of at the next relist.
    for (const char* kind : {"startupProbe", "livenessProbe", "readinessProbe"})
      if (const Json* p = api::Field(spec, kind))
        want(run.started +
             seconds(api::GetInt(*p, {"initialDelaySeconds"}, 0)));
    if (const Json* hook = api::FieldPath(spec, {"lifecycle", "postStart"})) {
      ProbeResult r = RunHandler(*hook, *id, spec, s.pod_ip, seconds(grace));
      if (!r.success) {
        Event(pod, "Warning", "FailedPostStartHook", r.message, fp);
        runtime_.StopContainer(*id, grace).IgnoreError();
      }
    }
    return true;
  };

  // Restarts an exited container unless it is in back-off.
  auto restart = [&](const Json& spec, const char* list,
                     const cri::ContainerStatus& c) {
    std::string name = c.name;
    std::string key = uid + "/" + name;
    auto finished_ago =
        clock_.Now() - Clock::WallTime(nanoseconds(c.finished_at));
    Clock::MonoTime finished_mono =
        now - std::chrono::duration_cast<nanoseconds>(finished_ago);
    if (restart_backoff_.InBackoffSince(key, finished_mono)) {
      nanoseconds delay = restart_backoff_.Get(key);
      in.waiting[name] = {"CrashLoopBackOff",
                          "back-off " + GoDuration(delay) +
                              " restarting failed container=" + name +
                              " pod=" + PodDesc(pod)};
      Event(pod, "Warning", "BackOff",
            "Back-off restarting failed container " + name + " in pod " +
                PodDesc(pod),
            field_path(list, name));
      want(finished_mono + delay);
      return;
    }
    restart_backoff_.Next(key);
    start_new(spec, list);
  };

  // Init containers, one after another.
  bool init_done = true;
  bool init_failed = false;
  if (const Json* inits = Containers(pod, "initContainers")) {
    for (const Json& spec : *inits) {
      std::string name = api::GetString(spec, {"name"});
      auto it = cur.find(name);
      if (it == cur.end()) {
        init_done = false;
        start_new(spec, "initContainers");
        break;
      }
      const cri::ContainerStatus& c = *it->second;
      if (c.state == cri::ContainerState::kCreated) {
        init_done = false;
        if (runtime_.StartContainer(c.id).ok()) acted = true;
        break;
      }
      if (c.state == cri::ContainerState::kRunning ||
          c.state == cri::ContainerState::kUnknown) {
        init_done = false;
        break;
      }
      if (c.exit_code == 0) continue;
      init_done = false;
      if (policy == "Never")
        init_failed = true;
      else
        restart(spec, "initContainers", c);
      break;
    }
  }
  in.init_done = init_done;

  // The containers.
  bool will_run = false;  // something runs or will be (re)started
  if (init_done) {
    const Json* cs = Containers(pod, "containers");
    for (const Json& spec : cs ? *cs : Json::array()) {
      std::string name = api::GetString(spec, {"name"});
      std::string fp = field_path("containers", name);
      auto it = cur.find(name);
      if (it == cur.end()) {
        will_run = true;
        start_new(spec, "containers");
        continue;
      }
      const cri::ContainerStatus& c = *it->second;
      if (c.state == cri::ContainerState::kCreated) {
        will_run = true;
        if (runtime_.StartContainer(c.id).ok()) acted = true;
        continue;
      }
      if (c.state == cri::ContainerState::kExited) {
        if (ShouldRestart(policy, c.exit_code)) {
          will_run = true;
          restart(spec, "containers", c);
        }
        continue;
      }
      if (c.state != cri::ContainerState::kRunning) {
        will_run = true;
        continue;
      }
      will_run = true;
      // The image of a pod's container may change (kubectl set image): the
      // container is replaced at once, whatever the restart policy.
      if (auto img = c.annotations.find(kImageAnnotation);
          img != c.annotations.end() &&
          img->second != api::GetString(spec, {"image"})) {
        Event(pod, "Normal", "Killing",
              "Container " + name + " definition changed, will be restarted",
              fp);
        runtime_.StopContainer(c.id, grace).IgnoreError();
        acted = true;
        start_new(spec, "containers");
        continue;
      }
      // Probes.
      PodState::Run& run = s.runs[c.id];
      if (!run.initialized) {
        auto ago = clock_.Now() - Clock::WallTime(nanoseconds(c.started_at));
        run.started = now - std::chrono::duration_cast<nanoseconds>(ago);
        run.initialized = true;
      }
      auto probe = [&](const char* kind, PodState::ProbeCounter& pc,
                       ProbeResult* result) -> bool {
        const Json* p = api::Field(spec, kind);
        if (p == nullptr || !p->is_object()) return false;
        if (!pc.due_set) {
          pc.next = run.started +
                    seconds(api::GetInt(*p, {"initialDelaySeconds"}, 0));
          pc.due_set = true;
        }
        if (now < pc.next) {
          want(pc.next);
          return false;
        }
        int64_t timeout =
            std::max<int64_t>(1, api::GetInt(*p, {"timeoutSeconds"}, 1));
        *result = RunHandler(*p, c.id, spec, s.pod_ip, seconds(timeout));
        pc.next = now + seconds(std::max<int64_t>(
                            1, api::GetInt(*p, {"periodSeconds"}, 10)));
        want(pc.next);
        return true;
      };
      auto kill = [&](const std::string& why, const Json* p) {
        int64_t g =
            p ? api::GetInt(*p, {"terminationGracePeriodSeconds"}, grace)
              : grace;
        Event(pod, "Normal", "Killing", "Container " + name + " " + why, fp);
        runtime_.StopContainer(c.id, g).IgnoreError();
        acted = true;
      };
      ProbeResult r;
      const Json* startup = api::Field(spec, "startupProbe");
      if (startup == nullptr) run.started_ok = true;
      if (!run.started_ok && probe("startupProbe", run.startup, &r)) {
        if (r.success) {
          run.started_ok = true;
        } else if (++run.startup.failures >=
                   api::GetInt(*startup, {"failureThreshold"}, 3)) {
          Event(pod, "Warning", "Unhealthy",
                "Startup probe failed: " + r.message, fp);
          kill("failed startup probe, will be restarted", startup);
          continue;
        } else {
          Event(pod, "Warning", "Unhealthy",
                "Startup probe failed: " + r.message, fp);
        }
      }
      if (!run.started_ok) continue;
      const Json* live = api::Field(spec, "livenessProbe");
      if (probe("livenessProbe", run.liveness, &r)) {
        if (r.success) {
          run.liveness.failures = 0;
        } else {
          Event(pod, "Warning", "Unhealthy",
                "Liveness probe failed: " + r.message, fp);
          if (++run.liveness.failures >=
              api::GetInt(*live, {"failureThreshold"}, 3)) {
            kill("failed liveness probe, will be restarted", live);
            run.ready = false;
            continue;
          }
        }
      }
      const Json* ready = api::Field(spec, "readinessProbe");
      if (ready == nullptr) {
        run.ready = true;
      } else if (probe("readinessProbe", run.readiness, &r)) {
        if (r.success) {
          run.readiness.failures = 0;
          if (++run.readiness.successes >=
              api::GetInt(*ready, {"successThreshold"}, 1))
            run.ready = true;
        } else {
          run.readiness.successes = 0;
          Event(pod, "Warning", "Unhealthy",
                "Readiness probe failed: " + r.message, fp);
          if (++run.readiness.failures >=
              api::GetInt(*ready, {"failureThreshold"}, 3))
            run.ready = false;
        }
      }
    }
  } else if (!init_failed) {
    will_run = true;
  }

  // A pod whose containers are all done for good is finished: its sandbox
  // stops (the containers stay for their logs).
  bool terminal = init_failed || (init_done && !will_run);
  if (terminal) {
    runtime_.StopPodSandbox(sandbox_id).IgnoreError();
    acted = true;
  }

  // Forget probe state of containers that are gone; drop old attempts
  // (keep the newest two of each name: the current and the previous).
  std::set<std::string> alive;
  std::map<std::string, int> kept;
  for (const auto& c : obs.containers) {
    alive.insert(c.id);
    if (++kept[c.name] > 2 && c.state == cri::ContainerState::kExited) {
      runtime_.RemoveContainer(c.id).IgnoreError();
      acted = true;
    }
  }
  for (size_t i = 1; i < obs.sandboxes.size(); ++i) {
    const auto& old = obs.sandboxes[i];
    bool has_containers = false;
    for (const auto& [cid, sid] : obs.sandbox_of)
      if (sid == old.id) has_containers = true;
    if (!has_containers && old.id != sandbox_id) {
      runtime_.RemovePodSandbox(old.id).IgnoreError();
      acted = true;
    }
  }

  if (acted) {
    auto again = Observe(uid);
    if (again.ok()) {
      obs = std::move(*again);
      alive.clear();
      for (const auto& c : obs.containers) alive.insert(c.id);
    }
  }
  for (auto it = s.runs.begin(); it != s.runs.end();)
    it = alive.count(it->first) ? std::next(it) : s.runs.erase(it);
  for (auto it = s.messages.begin(); it != s.messages.end();)
    it = alive.count(it->first) ? std::next(it) : s.messages.erase(it);
  if (terminal) in.terminal_phase = init_failed ? "Failed" : "";
  in.terminal = terminal;
  publish(obs, sandbox_id);
  return terminal && next == now + options_.resync_period ? now + kFarAway
                                                          : next;
}

// ---------------------------------------------------------------------------
// Ending a pod.

Clock::MonoTime PodSyncer::SyncTerminating(Worker& w, const Json& pod,
                                           bool in_api, bool* finished) {
  PodState& s = w.state;
  const std::string uid = w.uid;
  auto now = clock_.Monotonic();
  auto retry = [&]() {
    auto d = options_.retry_min * (1LL << std::min(s.api_failures++, 10));
    return now + std::min<milliseconds>(d, options_.retry_max);
  };

  if (!s.killed) {
    auto observed = Observe(uid);
    if (!observed.ok()) return retry();
    int64_t grace = GracePeriod(pod);
    std::map<std::string, Json> specs;
    for (const char* list : {"initContainers", "containers"})
      if (const Json* cs = Containers(pod, list))
        for (const Json& c : *cs) specs[api::GetString(c, {"name"})] = c;
    std::vector<std::thread> killers;
    std::mutex result_mu;
    bool failed = false;
    for (const auto& c : observed->containers) {
      if (c.state != cri::ContainerState::kRunning &&
          c.state != cri::ContainerState::kCreated)
        continue;
      Json spec = specs.count(c.name) ? specs[c.name] : Json::object();
      std::string fp = "spec.containers{" + c.name + "}";
      Event(pod, "Normal", "Killing", "Stopping container " + c.name, fp);
      killers.emplace_back([this, c, spec, grace, fp, &pod, &result_mu, &failed,
                            ip = s.pod_ip] {
        auto begin = clock_.Monotonic();
        if (const Json* hook = api::FieldPath(spec, {"lifecycle", "preStop"});
            hook && c.state == cri::ContainerState::kRunning) {
          ProbeResult r = RunHandler(*hook, c.id, spec, ip, seconds(grace));
          if (!r.success)
            Event(pod, "Warning", "FailedPreStopHook", r.message, fp);
        }
        auto used =
            std::chrono::duration_cast<seconds>(clock_.Monotonic() - begin);
        // As kubelet: at least 2 s for the container to stop after SIGTERM.
        int64_t left = std::max<int64_t>(grace - used.count(), 2);
        Status st = runtime_.StopContainer(c.id, left);
        if (!st.ok() && st.code() != Code::kNotFound) {
          std::lock_guard<std::mutex> lock(result_mu);
          failed = true;
        }
      });
    }
    for (auto& t : killers) t.join();
    if (failed) return retry();
    for (const auto& sbx : observed->sandboxes)
      if (sbx.state == cri::SandboxState::kReady)
        runtime_.StopPodSandbox(sbx.id).IgnoreError();
    s.killed = true;
  }

  if (in_api && !s.deleted) {
    auto ns = api::Namespace(pod);
    client::DeleteOptions del;
    del.grace_period_seconds = 0;
    del.precondition_uid = uid;
    auto r = client_.Delete(kPods.In(ns), api::Name(pod), del);
    if (!r.ok() && r.status().code() != Code::kNotFound &&
        r.status().code() != Code::kConflict) {
      log::Warn(kTag, "pod delete failed")("pod", PodDesc(pod))(
          "error", r.status().ToString());
      return retry();
    }
    s.deleted = true;
  }
  if (!s.cleaned) {
    RemovePodLeftovers(uid);
    s.cleaned = true;
  }
  // A cgroup keeps its directory while the last task in it is still
  // exiting (the runtime may answer before its shim is gone): look again
  // a few times; the housekeeper's periodic scan gets what is left after.
  if (!RemoveCgroups(uid)) {
    if (s.cgroup_retries++ < 10) return now + options_.retry_min;
  } else {
    RemoveCheckpoint(uid);
  }
  *finished = true;
  return now + kFarAway;
}

ProbeResult PodSyncer::RunHandler(const Json& handler,
                                  const std::string& container_id,
                                  const Json& container,
                                  const std::string& pod_ip, seconds timeout) {
  if (const Json* exec = api::Field(handler, "exec")) {
    std::vector<std::string> cmd;
    if (const Json* c = api::Field(*exec, "command"); c && c->is_array())
      for (const Json& a : *c)
        if (a.is_string()) cmd.push_back(a.get<std::string>());
    auto r = runtime_.ExecSync(container_id, cmd, timeout);
    if (!r.ok()) {
      if (r.status().code() == Code::kDeadlineExceeded)
        return {false, "command timed out"};
      return {false, r.status().message()};
    }
    if (r->exit_code == 0) return {true, ""};
    std::string out = Trim(r->stdout_bytes + r->stderr_bytes);
    return {false, out.empty()
                       ? "command exited with " + std::to_string(r->exit_code)
                       : out};
  }
  auto port_of = [&](const Json* p) -> int {
    if (p == nullptr) return 0;
    if (p->is_number_integer()) return p->get<int>();
    if (!p->is_string()) return 0;
    std::string name = p->get<std::string>();
    if (const Json* ports = api::Field(container, "ports");
        ports && ports->is_array())
      for (const Json& cp : *ports)
        if (api::GetString(cp, {"name"}) == name)
          return static_cast<int>(api::GetInt(cp, {"containerPort"}));
    return std::atoi(name.c_str());
  };
  if (const Json* http = api::Field(handler, "httpGet")) {
    HttpGetProbe p;
    p.host = api::GetString(*http, {"host"}, pod_ip);
    p.port = port_of(api::Field(*http, "port"));
    p.path = api::GetString(*http, {"path"}, "/");
    p.scheme = api::GetString(*http, {"scheme"}, "HTTP");
    if (const Json* hs = api::Field(*http, "httpHeaders"); hs && hs->is_array())
      for (const Json& h : *hs)
        p.headers.push_back(
            {api::GetString(h, {"name"}), api::GetString(h, {"value"})});
    if (p.host.empty()) return {false, "the pod has no IP yet"};
    return prober_.HttpGet(p, timeout);
  }
  if (const Json* tcp = api::Field(handler, "tcpSocket")) {
    std::string host = api::GetString(*tcp, {"host"}, pod_ip);
    if (host.empty()) return {false, "the pod has no IP yet"};
    return prober_.TcpConnect(host, port_of(api::Field(*tcp, "port")), timeout);
  }
  return {false, "the handler has no exec, httpGet or tcpSocket"};
}

// ---------------------------------------------------------------------------
// Housekeeping: relist, orphans, reaping.

void PodSyncer::RunHousekeeper() {
  uint64_t seen_gen = 0;
  Clock::MonoTime due = clock_.Monotonic();
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      while (!stopping_ && wake_generation_ == seen_gen) {
        bool reap = false;
        for (const auto& [uid, w] : workers_)
          if (w->finished) reap = true;
        if (reap) break;
        auto now = clock_.Monotonic();
        if (now >= due) break;
        cv_.wait_for(lock,
                     std::min<nanoseconds>(due - now, std::chrono::hours(1)));
      }
      if (stopping_) return;
      seen_gen = wake_generation_;
    }
    Housekeep();
    due = clock_.Monotonic() + options_.relist_period;
  }
}

void PodSyncer::Housekeep() {
  // Reap finished workers.
  std::vector<std::unique_ptr<Worker>> done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = workers_.begin(); it != workers_.end();) {
      if (it->second->finished) {
        done.push_back(std::move(it->second));
        it = workers_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& w : done)
    if (w->thread.joinable()) w->thread.join();
  done.clear();

  bool synced = HasSynced();
  if (synced && !checkpoints_reconciled_) {
    // Pods known only from a checkpoint that the API does not hold are gone.
    std::set<std::string> in_api;
    for (const auto& p : informer_->List()) in_api.insert(Uid(*p));
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& [uid, w] : workers_) {
        if (w->from_checkpoint && !in_api.count(uid)) {
          w->in_api = false;
          w->dirty = true;
        }
      }
    }
    cv_.notify_all();
    checkpoints_reconciled_ = true;
  }

  auto sandboxes = runtime_.ListPodSandbox({});
  auto containers = runtime_.ListContainers({});
  if (!sandboxes.ok() || !containers.ok()) return;
  std::map<std::string, std::string> signature;  // uid -> states
  std::map<std::string, Json> identity;          // uid -> a minimal pod
  auto note = [&](const cri::Labels& labels, const cri::Labels& annotations) {
    auto uid = labels.find(kPodUidLabel);
    if (uid == labels.end()) return std::string();
    Json& pod = identity[uid->second];
    if (pod.is_null()) {
      auto get = [&](const char* key) {
        auto it = labels.find(key);
        return it == labels.end() ? std::string() : it->second;
      };
      pod = {{"metadata",
              {{"name", get(kPodNameLabel)},
               {"namespace", get(kPodNamespaceLabel)},
               {"uid", uid->second}}},
             {"spec", Json::object()}};
    }
    auto grace = annotations.find("io.kubernetes.pod.terminationGracePeriod");
    if (grace != annotations.end())
      pod["spec"]["terminationGracePeriodSeconds"] =
          std::atoll(grace->second.c_str());
    return uid->second;
  };
  for (const auto& sb : *sandboxes) {
    std::string uid = note(sb.labels, sb.annotations);
    if (uid.empty()) continue;
    signature[uid] +=
        sb.id + ":" + std::to_string(static_cast<int>(sb.state)) + ";";
  }
  for (const auto& c : *containers) {
    std::string uid = note(c.labels, c.annotations);
    if (uid.empty()) continue;
    signature[uid] +=
        c.id + ":" + std::to_string(static_cast<int>(c.state)) + ";";
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [uid, sig] : signature) {
      auto w = workers_.find(uid);
      if (w == workers_.end()) {
        // A pod nobody knows (deleted while the agent was away): a worker
        // of its own ends it as it would a pod the API deleted, without
        // holding up the relist for its grace period.
        if (synced && checkpoints_reconciled_ && !stopping_) {
          log::Info(kTag, "ending a pod that is gone")("uid", uid);
          auto nw = std::make_unique<Worker>();
          nw->uid = uid;
          nw->pod = identity[uid];
          nw->in_api = false;
          Worker* raw = nw.get();
          workers_[uid] = std::move(nw);
          raw->thread = std::thread([this, raw] { RunWorker(raw); });
        }
        continue;
      }
      auto old = signatures_.find(uid);
      if (old == signatures_.end() || old->second != sig)
        w->second->dirty = true;
    }
    signatures_ = std::move(signature);
  }
  cv_.notify_all();
  // Cgroup directories this agent's pods left (their checkpoint is kept
  // until they are gone), now and then. Pod cgroups without a checkpoint
  // of ours are not ours to judge (another kubelet's on a test machine).
  if (synced && checkpoints_reconciled_ && !options_.cgroup_root.empty() &&
      clock_.Monotonic() >= next_cgroup_scan_) {
    next_cgroup_scan_ = clock_.Monotonic() + options_.resync_period;
    std::set<std::string> known;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [uid, w] : workers_) known.insert(uid);
      for (const auto& [uid, sig] : signatures_) known.insert(uid);
    }
    std::error_code ec;
    for (const std::string& uid : CgroupPodUids()) {
      if (known.count(uid) ||
          !fs::exists(options_.data_dir + "/agent/checkpoints/" + uid + ".json",
                      ec))
        continue;
      volumes_.TearDown(uid).IgnoreError();
      if (RemoveCgroups(uid)) RemoveCheckpoint(uid);
    }
  }
}

void PodSyncer::RemovePodLeftovers(const std::string& uid) {
  cri::ContainerFilter cf;
  cf.label_selector = {{kPodUidLabel, uid}};
  if (auto cs = runtime_.ListContainers(cf); cs.ok()) {
    for (const auto& c : *cs) {
      if (c.state == cri::ContainerState::kRunning) {
        int64_t grace = 30;
        if (auto it =
                c.annotations.find("io.kubernetes.pod.terminationGracePeriod");
            it != c.annotations.end())
          grace = std::atoll(it->second.c_str());
        runtime_.StopContainer(c.id, std::max<int64_t>(grace, 2)).IgnoreError();
      }
      runtime_.RemoveContainer(c.id).IgnoreError();
    }
  }
  cri::PodSandboxFilter sf;
  sf.label_selector = {{kPodUidLabel, uid}};
  if (auto sbs = runtime_.ListPodSandbox(sf); sbs.ok()) {
    for (const auto& sb : *sbs) {
      runtime_.StopPodSandbox(sb.id).IgnoreError();
      Status st = runtime_.RemovePodSandbox(sb.id);
      if (!st.ok())
        log::Warn(kTag, "sandbox removal failed")("uid", uid)("error",
                                                              st.ToString());
    }
  }
  Status st = volumes_.TearDown(uid);
  if (!st.ok())
    log::Warn(kTag, "volume teardown failed")("uid", uid)("error",
                                                          st.ToString());
  std::error_code tec;
  fs::remove_all(options_.data_dir + "/agent/termination/" + uid, tec);
  // The checkpoint stays while cgroup directories do: the terminating
  // worker and the housekeeper's scan look again.
  if (RemoveCgroups(uid)) RemoveCheckpoint(uid);
  restart_backoff_.ForgetPrefix(uid + "/");
  image_backoff_.ForgetPrefix(uid + "/");
  events_.Forget(uid);
}

namespace {

// The directories that hold pod<uid> cgroups under `root`: for every
// controller (v1) and the unified hierarchy (v2).
std::vector<fs::path> PodCgroupParents(const std::string& root) {
  std::vector<fs::path> out;
  std::vector<fs::path> bases = {root};
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    if (e.is_symlink(ec) || !e.is_directory(ec)) continue;
    bases.push_back(e.path());
  }
  for (const auto& b : bases)
    for (const char* sub :
         {"kubepods", "kubepods/burstable", "kubepods/besteffort"})
      if (fs::is_directory(b / sub, ec)) out.push_back(b / sub);
  return out;
}

// rmdir depth-first; cgroup directories go once they hold no tasks.
void RemoveCgroupTree(const fs::path& dir) {
  std::error_code ec;
  std::vector<fs::path> children;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (!e.is_symlink(ec) && e.is_directory(ec)) children.push_back(e.path());
  for (const auto& c : children) RemoveCgroupTree(c);
  if (rmdir(dir.c_str()) != 0 && errno != ENOENT)
    log::Debug(kTag, "cgroup not removed")("dir", dir.string())(
        "error", std::strerror(errno));
}

}  // namespace

bool PodSyncer::RemoveCgroups(const std::string& uid) {
  if (options_.cgroup_root.empty() || uid.empty()) return true;
  std::error_code ec;
  bool gone = true;
  for (const auto& parent : PodCgroupParents(options_.cgroup_root)) {
    fs::path dir = parent / ("pod" + uid);
    if (!fs::is_directory(dir, ec)) continue;
    RemoveCgroupTree(dir);
    if (fs::is_directory(dir, ec)) gone = false;
  }
  return gone;
}

std::set<std::string> PodSyncer::CgroupPodUids() {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& parent : PodCgroupParents(options_.cgroup_root))
    for (const auto& e : fs::directory_iterator(parent, ec)) {
      std::string name = e.path().filename().string();
      if (name.size() > 3 && name.rfind("pod", 0) == 0 && e.is_directory(ec))
        out.insert(name.substr(3));
    }
  return out;
}

std::string PodSyncer::TerminationMessageFile(const std::string& uid,
                                              const std::string& container,
                                              uint32_t attempt) const {
  return options_.data_dir + "/agent/termination/" + uid + "/" + container +
         "." + std::to_string(attempt);
}

std::string PodSyncer::TerminationMessage(const Json& pod,
                                          const std::string& uid,
                                          const cri::ContainerStatus& c) const {
  constexpr size_t kMaxMessage = 4096;
  std::string text;
  {
    std::ifstream in(TerminationMessageFile(uid, c.name, c.attempt));
    char buf[kMaxMessage];
    in.read(buf, sizeof(buf));
    text.assign(buf, static_cast<size_t>(in.gcount()));
  }
  if (!text.empty() || c.exit_code == 0 || c.log_path.empty()) return text;
  std::string policy;
  for (const char* list : {"containers", "initContainers"})
    if (const Json* cs = Containers(pod, list))
      for (const Json& spec : *cs)
        if (api::GetString(spec, {"name"}) == c.name)
          policy = api::GetString(spec, {"terminationMessagePolicy"});
  if (policy != "FallbackToLogsOnError") return text;
  // The last 80 lines, at most 2048 bytes, without the CRI prefix
  // "<time> <stream> <F|P> ".
  constexpr size_t kMaxLines = 80, kMaxBytes = 2048;
  std::ifstream in(c.log_path);
  std::deque<std::string> lines;
  std::string line;
  bool open = false;  // the last line so far was partial
  while (std::getline(in, line)) {
    size_t a = line.find(' ');
    size_t b = a == std::string::npos ? a : line.find(' ', a + 1);
    size_t d = b == std::string::npos ? b : line.find(' ', b + 1);
    std::string body = d == std::string::npos ? line : line.substr(d + 1);
    bool partial = b != std::string::npos && line.compare(b + 1, 1, "P") == 0;
    if (open && !lines.empty())
      lines.back() += body + (partial ? "" : "\n");
    else
      lines.push_back(body + (partial ? "" : "\n"));
    open = partial;
    if (lines.size() > kMaxLines) lines.pop_front();
  }
  for (const auto& l : lines) text += l;
  if (text.size() > kMaxBytes) text = text.substr(text.size() - kMaxBytes);
  return text;
}

void PodSyncer::WriteCheckpoint(const Json& pod) {
  std::string dir = options_.data_dir + "/agent/checkpoints";
  std::string path = dir + "/" + Uid(pod) + ".json";
  std::error_code ec;
  fs::create_directories(dir, ec);
  {
    std::ofstream out(path + ".tmp", std::ios::trunc);
    out << pod.dump();
    if (!out) {
      log::Warn(kTag, "checkpoint not written")("path", path);
      return;
    }
  }
  fs::rename(path + ".tmp", path, ec);
}

void PodSyncer::RemoveCheckpoint(const std::string& uid) {
  std::error_code ec;
  fs::remove(options_.data_dir + "/agent/checkpoints/" + uid + ".json", ec);
}

std::vector<Json> PodSyncer::LoadCheckpoints() {
  std::vector<Json> out;
  std::error_code ec;
  for (const auto& e :
       fs::directory_iterator(options_.data_dir + "/agent/checkpoints", ec)) {
    if (e.path().extension() != ".json") continue;
    std::ifstream in(e.path());
    Json pod = Json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (pod.is_discarded() || !pod.is_object()) continue;
    out.push_back(std::move(pod));
  }
  return out;
}

std::string PodSyncer::NodeIp() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!node_ip_.empty()) return node_ip_;
  }
  auto node = client_.Get(kNodes, options_.node_name, {});
  if (!node.ok()) return "";
  std::string ip;
  if (const Json* addrs = api::FieldPath(*node, {"status", "addresses"});
      addrs && addrs->is_array())
    for (const Json& a : *addrs)
      if (api::GetString(a, {"type"}) == "InternalIP") {
        ip = api::GetString(a, {"address"});
        break;
      }
  std::lock_guard<std::mutex> lock(mu_);
  node_ip_ = ip;
  return ip;
}

void PodSyncer::Event(const Json& pod, const std::string& type,
                      const std::string& reason, const std::string& message,
                      const std::string& field_path) {
  events_.Record(pod, type, reason, message, field_path);
}

}  // namespace kite::kubelet

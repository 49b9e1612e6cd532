#include "agent/kubelet/pod_status.h"

#include <vector>

#include "agent/kubelet/pod_spec.h"
#include "api/object.h"

namespace kite::kubelet {
namespace {

std::string NanosToTime(int64_t ns) {
  if (ns <= 0) return "";
  return api::FormatTime(
      Clock::WallTime(std::chrono::duration_cast<Clock::WallTime::duration>(
          std::chrono::nanoseconds(ns))));
}

Json Terminated(const cri::ContainerStatus& c, const std::string& prefix) {
  Json t = {
      {"exitCode", c.exit_code},
      {"reason", c.reason.empty() ? (c.exit_code == 0 ? "Completed" : "Error")
                                  : c.reason},
      {"containerID", prefix + c.id}};
  if (!c.message.empty()) t["message"] = c.message;
  if (std::string s = NanosToTime(c.started_at); !s.empty()) t["startedAt"] = s;
  if (std::string f = NanosToTime(c.finished_at); !f.empty())
    t["finishedAt"] = f;
  return {{"terminated", t}};
}

struct Counts {
  int running = 0, waiting = 0, stopped = 0, succeeded = 0;
};

}  // namespace

Json BuildPodStatus(const PodStatusInput& in, Clock::WallTime now) {
  const Json& pod = *in.pod;
  const Json* prev_status = in.previous_status;
  if (prev_status == nullptr) prev_status = api::Field(pod, "status");
  std::string now_text = api::FormatTime(now);
  std::string policy = api::GetString(pod, {"spec", "restartPolicy"}, "Always");

  auto container_status = [&](const Json& spec, bool init,
                              Counts* counts) -> Json {
    std::string name = api::GetString(spec, {"name"});
    const cri::ContainerStatus* cur = nullptr;
    const cri::ContainerStatus* prev = nullptr;
    if (auto it = in.current.find(name); it != in.current.end())
      cur = &it->second;
    if (auto it = in.previous.find(name); it != in.previous.end())
      prev = &it->second;
    auto override_it = in.waiting.find(name);
    Json cs = {{"name", name}};
    Json state, last = Json::object();
    bool running = false;
    if (override_it != in.waiting.end()) {
      Json w = {{"reason", override_it->second.first}};
      if (!override_it->second.second.empty())
        w["message"] = override_it->second.second;
      state = {{"waiting", w}};
      if (cur && cur->state == cri::ContainerState::kExited) {
        last = Terminated(*cur, in.runtime_prefix);
        if (counts) ++counts->stopped;
      } else if (prev && prev->state == cri::ContainerState::kExited) {
        last = Terminated(*prev, in.runtime_prefix);
        if (counts) ++counts->stopped;
      } else if (counts) {
        ++counts->waiting;
      }
    } else if (cur && cur->state == cri::ContainerState::kRunning) {
      Json r = Json::object();
      if (std::string s = NanosToTime(cur->started_at); !s.empty())
        r["startedAt"] = s;
      state = {{"running", r}};
      running = true;
      if (counts) ++counts->running;
    } else if (cur && cur->state == cri::ContainerState::kExited) {
      state = Terminated(*cur, in.runtime_prefix);
      if (counts) {
        ++counts->stopped;
        if (cur->exit_code == 0) ++counts->succeeded;
      }
    } else {
      std::string reason =
          init || !in.init_done ? "PodInitializing" : "ContainerCreating";
      state = {{"waiting", {{"reason", reason}}}};
      if (counts) ++counts->waiting;
    }
    if (last.empty() && prev && prev->state == cri::ContainerState::kExited &&
        (cur == nullptr || prev->id != cur->id))
      last = Terminated(*prev, in.runtime_prefix);
    cs["state"] = state;
    cs["lastState"] = last;
    bool ready = false, started = false;
    if (cur) {
      if (running) {
        auto r = in.ready.find(cur->id);
        ready = r != in.ready.end() && r->second;
        auto s = in.started.find(cur->id);
        started = s != in.started.end() && s->second;
      } else if (init && cur->state == cri::ContainerState::kExited &&
                 cur->exit_code == 0) {
        ready = true;
      }
    }
    cs["ready"] = ready;
    cs["started"] = started;
    cs["restartCount"] = cur ? cur->attempt : (prev ? prev->attempt : 0);
    std::string image = api::GetString(spec, {"image"});
    if (cur && !cur->image.empty()) image = cur->image;
    cs["image"] = image;
    cs["imageID"] = cur ? cur->image_ref : "";
    if (cur) cs["containerID"] = in.runtime_prefix + cur->id;
    return cs;
  };

  Json status = Json::object();
  Json init_statuses = Json::array();
  std::vector<std::string> incomplete;
  if (const Json* inits = api::FieldPath(pod, {"spec", "initContainers"});
      inits && inits->is_array()) {
    for (const Json& spec : *inits) {
      Json cs = container_status(spec, true, nullptr);
      bool done = cs["state"].contains("terminated") &&
                  cs["state"]["terminated"].value("exitCode", -1) == 0;
      if (!done) incomplete.push_back(cs["name"]);
      init_statuses.push_back(std::move(cs));
    }
  }
  Counts counts;
  Json statuses = Json::array();
  std::vector<std::string> unready;
  if (const Json* cs = api::FieldPath(pod, {"spec", "containers"});
      cs && cs->is_array()) {
    for (const Json& spec : *cs) {
      Json s = container_status(spec, false, &counts);
      if (!s["ready"].get<bool>()) unready.push_back(s["name"]);
      statuses.push_back(std::move(s));
    }
  }

  std::string phase = in.terminal_phase;
  if (phase.empty()) {
    if (!in.init_done) {
      phase = "Pending";
    } else if (counts.waiting > 0) {
      phase = "Pending";
    } else if (counts.running > 0) {
      phase = "Running";
    } else if (counts.stopped > 0) {
      if (policy == "Always")
        phase = "Running";
      else if (counts.stopped == counts.succeeded)
        phase = "Succeeded";
      else if (policy == "Never" || in.terminal)
        phase = "Failed";
      else
        phase = "Running";
    } else {
      phase = "Pending";
    }
  }
  bool finished = phase == "Succeeded" || phase == "Failed";

  auto join = [](const std::vector<std::string>& names) {
    std::string out = "[";
    for (size_t i = 0; i < names.size(); ++i) out += (i ? " " : "") + names[i];
    return out + "]";
  };
  auto condition = [&](const std::string& type, bool ok,
                       const std::string& reason, const std::string& message) {
    std::string ts = now_text;
    if (prev_status)
      if (const Json* conds = api::Field(*prev_status, "conditions");
          conds && conds->is_array())
        for (const Json& c : *conds)
          if (api::GetString(c, {"type"}) == type &&
              api::GetString(c, {"status"}) == (ok ? "True" : "False"))
            ts = api::GetString(c, {"lastTransitionTime"}, now_text);
    Json c = {{"type", type},
              {"status", ok ? "True" : "False"},
              {"lastProbeTime", nullptr},
              {"lastTransitionTime", ts}};
    if (!reason.empty()) c["reason"] = reason;
    if (!message.empty()) c["message"] = message;
    return c;
  };
  Json conditions = Json::array();
  conditions.push_back(
      condition("PodReadyToStartContainers", in.sandbox_ready, "", ""));
  if (finished && phase == "Succeeded")
    conditions.push_back(condition("Initialized", true, "PodCompleted", ""));
  else if (incomplete.empty())
    conditions.push_back(condition("Initialized", true, "", ""));
  else
    conditions.push_back(
        condition("Initialized", false, "ContainersNotInitialized",
                  "containers with incomplete status: " + join(incomplete)));
  for (const char* type : {"Ready", "ContainersReady"}) {
    if (finished)
      conditions.push_back(condition(type, false, "PodCompleted", ""));
    else if (unready.empty())
      conditions.push_back(condition(type, true, "", ""));
    else
      conditions.push_back(
          condition(type, false, "ContainersNotReady",
                    "containers with unready status: " + join(unready)));
  }
  Json scheduled;
  if (const Json* conds = api::FieldPath(pod, {"status", "conditions"});
      conds && conds->is_array())
    for (const Json& c : *conds)
      if (api::GetString(c, {"type"}) == "PodScheduled") scheduled = c;
  if (scheduled.is_null()) scheduled = condition("PodScheduled", true, "", "");
  conditions.push_back(scheduled);

  status["phase"] = phase;
  status["conditions"] = conditions;
  if (!in.host_ip.empty()) {
    status["hostIP"] = in.host_ip;
    status["hostIPs"] = Json::array({{{"ip", in.host_ip}}});
  }
  if (!in.pod_ip.empty()) {
    status["podIP"] = in.pod_ip;
    status["podIPs"] = Json::array({{{"ip", in.pod_ip}}});
  }
  if (!in.start_time.empty()) status["startTime"] = in.start_time;
  status["qosClass"] = PodQosClass(pod);
  if (!init_statuses.empty()) status["initContainerStatuses"] = init_statuses;
  status["containerStatuses"] = statuses;
  return status;
}

bool StatusMatches(const Json& pod, const Json& status) {
  const Json* have = api::Field(pod, "status");
  if (have == nullptr || !have->is_object()) return false;
  for (auto it = status.begin(); it != status.end(); ++it) {
    auto h = have->find(it.key());
    if (h == have->end() || *h != it.value()) return false;
  }
  return true;
}

}  // namespace kite::kubelet

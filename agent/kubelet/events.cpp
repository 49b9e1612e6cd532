#include "agent/kubelet/events.h"

#include <cstdio>
#include <utility>

#include "api/object.h"
#include "common/log.h"

namespace kite::kubelet {
namespace {

const client::ResourceRef kEvents{"", "v1", "events", ""};
constexpr size_t kMaxQueued = 1000;

}  // namespace

EventRecorder::EventRecorder(client::Interface& client, Clock& clock,
                             std::string node_name)
    : client_(client), clock_(clock), node_name_(std::move(node_name)) {}

EventRecorder::~EventRecorder() { Stop(); }

void EventRecorder::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_) return;
  started_ = true;
  thread_ = std::thread([this] { Run(); });
}

void EventRecorder::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!started_ || stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void EventRecorder::Record(const nlohmann::json& pod, const std::string& type,
                           const std::string& reason,
                           const std::string& message,
                           const std::string& field_path) {
  std::string uid = api::GetString(pod, {"metadata", "uid"});
  std::string ns = api::Namespace(pod);
  std::string now = api::FormatTime(clock_.Now());
  nlohmann::json involved = {{"kind", "Pod"},
                             {"namespace", ns},
                             {"name", api::Name(pod)},
                             {"uid", uid},
                             {"apiVersion", "v1"}};
  if (!field_path.empty()) involved["fieldPath"] = field_path;
  if (const nlohmann::json* rv =
          api::FieldPath(pod, {"metadata", "resourceVersion"}))
    involved["resourceVersion"] = *rv;
  Pending p;
  p.key = uid + "|" + type + "|" + reason + "|" + field_path + "|" + message;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || queue_.size() >= kMaxQueued) return;
    // Kubernetes names events <object>.<hex of the time>; a counter keeps
    // names unique under a fixed (fake) clock.
    char suffix[40];
    uint64_t nanos = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(
            clock_.Now().time_since_epoch())
            .count());
    std::snprintf(suffix, sizeof(suffix), "%llx",
                  static_cast<unsigned long long>(nanos + counter_++));
    p.event = {{"apiVersion", "v1"},
               {"kind", "Event"},
               {"metadata",
                {{"name", api::Name(pod) + "." + suffix}, {"namespace", ns}}},
               {"involvedObject", involved},
               {"reason", reason},
               {"message", message},
               {"type", type},
               {"source", {{"component", "kubelet"}, {"host", node_name_}}},
               {"firstTimestamp", now},
               {"lastTimestamp", now},
               {"count", 1},
               {"reportingComponent", "kubelet"},
               {"reportingInstance", node_name_}};
    queue_.push_back(std::move(p));
  }
  cv_.notify_all();
}

void EventRecorder::Forget(const std::string& pod_uid) {
  std::lock_guard<std::mutex> lock(posted_mu_);
  std::string prefix = pod_uid + "|";
  for (auto it = posted_.lower_bound(prefix);
       it != posted_.end() && it->first.rfind(prefix, 0) == 0;)
    it = posted_.erase(it);
}

void EventRecorder::Run() {
  while (true) {
    Pending p;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      p = std::move(queue_.front());
      queue_.pop_front();
    }
    Post(p);
  }
}

void EventRecorder::Post(const Pending& p) {
  std::string ns = api::Namespace(p.event);
  Posted known;
  bool have = false;
  {
    std::lock_guard<std::mutex> lock(posted_mu_);
    auto it = posted_.find(p.key);
    if (it != posted_.end()) {
      known = it->second;
      have = true;
    }
  }
  if (have) {
    nlohmann::json patch = {{"count", known.count + 1},
                            {"lastTimestamp", p.event["lastTimestamp"]}};
    auto r = client_.Patch(kEvents.In(known.ns), known.name,
                           client::PatchType::kMerge, patch.dump(), {});
    if (r.ok()) {
      std::lock_guard<std::mutex> lock(posted_mu_);
      posted_[p.key].count = known.count + 1;
      return;
    }
    if (r.status().code() != Code::kNotFound) {
      log::Debug("kubelet", "event not recorded")(
          "reason", p.event.value("reason", ""))("error",
                                                 r.status().ToString());
      return;
    }
    // Expired (event TTL): post it anew.
  }
  auto r = client_.Create(kEvents.In(ns), p.event, {});
  if (!r.ok()) {
    log::Debug("kubelet", "event not recorded")(
        "reason", p.event.value("reason", ""))("error", r.status().ToString());
    return;
  }
  std::lock_guard<std::mutex> lock(posted_mu_);
  posted_[p.key] = {ns, api::Name(*r), 1};
}

}  // namespace kite::kubelet

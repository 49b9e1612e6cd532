#include "server/controllers/pod_gc_controller.h"

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "api/object.h"
#include "common/log.h"

namespace kite::controllers {
namespace {

using client::Json;

const client::ResourceRef kPods{"", "v1", "pods", ""};
const client::ResourceRef kNodes{"", "v1", "nodes", ""};
constexpr char kPassKey[] = "collect";

}  // namespace

PodGcController::PodGcController(client::Interface& client,
                                 client::SharedInformerFactory& informers,
                                 PodGcControllerOptions options)
    : client_(client),
      options_(options),
      clock_(options.clock != nullptr ? *options.clock : RealClock()),
      pods_(informers.For(kPods)),
      nodes_(informers.For(kNodes)),
      queue_(std::make_unique<client::WorkQueue>("pod-gc", clock_)) {}

PodGcController::~PodGcController() { Stop(); }

Status PodGcController::Start() {
  if (started_) return FailedPreconditionError("pod GC started");
  started_ = true;
  queue_->Add(kPassKey);
  worker_ = std::thread([this] { Worker(); });
  return Status::Ok();
}

void PodGcController::Stop() {
  queue_->ShutDown();
  if (worker_.joinable()) worker_.join();
}

void PodGcController::Worker() {
  while (!queue_->ShuttingDown() &&
         !(pods_.WaitForSync(std::chrono::milliseconds(100)) &&
           nodes_.WaitForSync(std::chrono::milliseconds(100)))) {
  }
  while (std::optional<std::string> key = queue_->Get()) {
    StatusOr<int> n = Collect();
    if (!n.ok()) {
      log::Warn("pod-gc", "pass failed")("error", n.status().ToString());
    }
    queue_->AddAfter(kPassKey, options_.period);
    queue_->Done(*key);
  }
}

StatusOr<int> PodGcController::Collect() {
  std::set<std::string> nodes;
  for (const auto& n : nodes_.List()) nodes.insert(api::Name(*n));
  std::vector<std::shared_ptr<const Json>> terminated;
  std::vector<std::pair<std::shared_ptr<const Json>, const char*>> doomed;
  std::set<std::string> confirmed_missing;
  for (const auto& p : pods_.List()) {
    std::string phase = api::GetString(*p, {"status", "phase"});
    std::string node = api::GetString(*p, {"spec", "nodeName"});
    if (phase == "Succeeded" || phase == "Failed") terminated.push_back(p);
    if (node.empty()) {
      if (api::Has(*p, {"metadata", "deletionTimestamp"})) {
        doomed.push_back({p, "unscheduled and terminating"});
      }
      continue;
    }
    if (nodes.count(node)) continue;
    if (!confirmed_missing.count(node)) {
      auto got = client_.Get(kNodes, node, {});
      if (got.ok()) continue;
      if (got.status().code() != Code::kNotFound) return got.status();
      confirmed_missing.insert(node);
    }
    doomed.push_back({p, "orphaned (its node is gone)"});
  }
  if (options_.terminated_threshold > 0 &&
      static_cast<int>(terminated.size()) > options_.terminated_threshold) {
    std::sort(terminated.begin(), terminated.end(),
              [](const auto& a, const auto& b) {
                return api::GetString(*a, {"metadata", "creationTimestamp"}) <
                       api::GetString(*b, {"metadata", "creationTimestamp"});
              });
    size_t excess = terminated.size() - options_.terminated_threshold;
    for (size_t i = 0; i < excess; ++i) {
      doomed.push_back({terminated[i], "terminated, above the threshold"});
    }
  }
  int deleted = 0;
  std::set<std::string> seen;
  client::DeleteOptions force;
  force.grace_period_seconds = 0;
  for (const auto& [p, why] : doomed) {
    if (!seen.insert(client::KeyOf(*p)).second) continue;
    force.precondition_uid = api::GetString(*p, {"metadata", "uid"});
    auto r = client_.Delete(kPods.In(api::Namespace(*p)), api::Name(*p), force);
    if (!r.ok() && r.status().code() != Code::kNotFound &&
        r.status().code() != Code::kConflict) {
      return r.status();
    }
    if (r.ok()) {
      ++deleted;
      log::Info("pod-gc", "pod deleted")("pod", client::KeyOf(*p))("why", why);
    }
  }
  return deleted;
}

}  // namespace kite::controllers

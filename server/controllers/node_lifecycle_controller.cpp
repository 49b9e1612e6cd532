#include "server/controllers/node_lifecycle_controller.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "api/object.h"
#include "common/log.h"

namespace kite::controllers {
namespace {

using client::Json;

const client::ResourceRef kNodes{"", "v1", "nodes", ""};
const client::ResourceRef kLeases{"coordination.k8s.io", "v1", "leases", ""};
const client::ResourceRef kPods{"", "v1", "pods", ""};
constexpr char kMonitorKey[] = "monitor";
constexpr char kComponent[] = "node-controller";
constexpr char kLeaseNamespace[] = "kube-node-lease";

const Json* FindCond(const Json& obj, const std::string& type) {
  const Json* conds = api::FieldPath(obj, {"status", "conditions"});
  if (conds == nullptr || !conds->is_array()) return nullptr;
  for (const Json& c : *conds) {
    if (api::GetString(c, {"type"}) == type) return &c;
  }
  return nullptr;
}

bool Tolerates(const Json& tol, const Json& taint) {
  std::string effect = api::GetString(tol, {"effect"});
  if (!effect.empty() && effect != api::GetString(taint, {"effect"})) {
    return false;
  }
  std::string key = api::GetString(tol, {"key"});
  std::string op = api::GetString(tol, {"operator"}, "Equal");
  if (key.empty()) return op == "Exists";
  if (key != api::GetString(taint, {"key"})) return false;
  if (op == "Exists") return true;
  return api::GetString(tol, {"value"}) == api::GetString(taint, {"value"});
}

void RecordEvent(client::Interface& client, Clock& clock, const Json& obj,
                 const std::string& type, const std::string& reason,
                 const std::string& message) {
  std::string ns = api::Namespace(obj);
  std::string when = api::FormatTime(clock.Now());
  Json ev = {{"apiVersion", "v1"},
             {"kind", "Event"},
             {"metadata",
              {{"generateName", api::Name(obj) + "."},
               {"namespace", ns.empty() ? "default" : ns}}},
             {"involvedObject",
              {{"apiVersion", api::GetString(obj, {"apiVersion"}, "v1")},
               {"kind", api::GetString(obj, {"kind"})},
               {"name", api::Name(obj)},
               {"namespace", ns},
               {"uid", api::GetString(obj, {"metadata", "uid"})}}},
             {"reason", reason},
             {"message", message},
             {"type", type},
             {"source", {{"component", kComponent}}},
             {"firstTimestamp", when},
             {"lastTimestamp", when},
             {"count", 1},
             {"reportingComponent", kComponent}};
  auto r =
      client.Create({"", "v1", "events", ns.empty() ? "default" : ns}, ev, {});
  if (!r.ok()) {
    log::Debug(kComponent, "event not recorded")("reason", reason)(
        "error", r.status().ToString());
  }
}

}  // namespace

NodeLifecycleController::NodeLifecycleController(
    client::Interface& client, client::SharedInformerFactory& informers,
    NodeLifecycleControllerOptions options)
    : client_(client),
      options_(options),
      clock_(options.clock != nullptr ? *options.clock : RealClock()),
      nodes_(informers.For(kNodes)),
      leases_(informers.For(kLeases)),
      pods_(informers.For(kPods)),
      queue_(std::make_unique<client::WorkQueue>("node-lifecycle", clock_)) {
  client::EventHandlers h;
  h.on_delete = [this](const Json& n) {
    std::lock_guard<std::mutex> lock(mu_);
    health_.erase(api::Name(n));
  };
  nodes_.AddEventHandler(std::move(h));
}

NodeLifecycleController::~NodeLifecycleController() { Stop(); }

Status NodeLifecycleController::Start() {
  if (started_) {
    return FailedPreconditionError("node lifecycle controller started");
  }
  started_ = true;
  queue_->Add(kMonitorKey);
  worker_ = std::thread([this] { Worker(); });
  return Status::Ok();
}

void NodeLifecycleController::Stop() {
  queue_->ShutDown();
  if (worker_.joinable()) worker_.join();
}

void NodeLifecycleController::Worker() {
  while (!queue_->ShuttingDown() &&
         !(nodes_.WaitForSync(std::chrono::milliseconds(100)) &&
           leases_.WaitForSync(std::chrono::milliseconds(100)) &&
           pods_.WaitForSync(std::chrono::milliseconds(100)))) {
  }
  while (std::optional<std::string> key = queue_->Get()) {
    Status s = Monitor();
    if (!s.ok()) {
      log::Warn(kComponent, "monitor pass failed")("error", s.ToString());
    }
    queue_->AddAfter(kMonitorKey, options_.monitor_period);
    queue_->Done(*key);
  }
}

Status NodeLifecycleController::Monitor() {
  Status result = Status::Ok();
  for (const auto& n : nodes_.List()) {
    Status s = MonitorNode(*n);
    if (!s.ok() && s.code() != Code::kNotFound) result = s;
  }
  return result;
}

Status NodeLifecycleController::MonitorNode(const Json& cached) {
  std::string name = api::Name(cached);
  Clock::MonoTime now = clock_.Monotonic();
  std::string renew;
  if (auto lease = leases_.Get(kLeaseNamespace, name); lease != nullptr) {
    renew = api::GetString(*lease, {"spec", "renewTime"});
  }
  const Json* ready_cond = FindCond(cached, "Ready");
  std::string heartbeat =
      ready_cond ? api::GetString(*ready_cond, {"lastHeartbeatTime"}) : "";
  std::string ready = ready_cond ? api::GetString(*ready_cond, {"status"}) : "";
  bool silent = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto [it, fresh] = health_.try_emplace(name);
    Health& h = it->second;
    if (fresh || h.renew != renew || h.heartbeat != heartbeat) {
      h.renew = renew;
      h.heartbeat = heartbeat;
      h.probe = now;
    }
    silent = now - h.probe > options_.grace_period;
  }
  Json node = cached;
  if (silent && ready != "Unknown") {
    KITE_ASSIGN_OR_RETURN(node, MarkUnknown(std::move(node)));
    ready = "Unknown";
    log::Warn(kComponent, "node stopped posting status")("node", name);
    RecordEvent(client_, clock_, node, "Normal", "NodeNotReady",
                "Node " + name + " status is now: NodeNotReady");
  }
  if (ready.empty()) return Status::Ok();  // not reported yet
  KITE_RETURN_IF_ERROR(SyncTaints(std::move(node), ready));
  return SyncPods(cached, ready);
}

StatusOr<Json> NodeLifecycleController::MarkUnknown(Json node) {
  std::string now = api::FormatTime(clock_.Now());
  Json& conds = api::Ensure(api::Ensure(node, "status"), "conditions");
  if (!conds.is_array()) conds = Json::array();
  for (const char* type :
       {"Ready", "MemoryPressure", "DiskPressure", "PIDPressure"}) {
    Json* c = nullptr;
    for (Json& x : conds) {
      if (api::GetString(x, {"type"}) == type) c = &x;
    }
    if (c == nullptr) {
      conds.push_back({{"type", type}});
      c = &conds.back();
    }
    if (api::GetString(*c, {"status"}) != "Unknown") {
      (*c)["lastTransitionTime"] = now;
    }
    (*c)["status"] = "Unknown";
    (*c)["reason"] = "NodeStatusUnknown";
    (*c)["message"] = "Kubelet stopped posting node status.";
    if (!c->contains("lastHeartbeatTime")) (*c)["lastHeartbeatTime"] = now;
  }
  client::UpdateOptions uo;
  uo.subresource = "status";
  return client_.Update(kNodes, node, uo);
}

Status NodeLifecycleController::SyncTaints(Json node,
                                           const std::string& ready) {
  const char* want = ready == "Unknown" ? kUnreachableTaint
                     : ready == "False" ? kNotReadyTaint
                                        : nullptr;
  Json& spec = api::Ensure(node, "spec");
  Json taints = spec.contains("taints") && spec["taints"].is_array()
                    ? spec["taints"]
                    : Json::array();
  Json next = Json::array();
  bool have_ns = false, have_ne = false;
  for (const Json& t : taints) {
    std::string key = api::GetString(t, {"key"});
    if (key == kUnreachableTaint || key == kNotReadyTaint) {
      if (want == nullptr || key != want) continue;  // drop stale ones
      std::string effect = api::GetString(t, {"effect"});
      if (effect == "NoSchedule") have_ns = true;
      if (effect == "NoExecute") have_ne = true;
    }
    next.push_back(t);
  }
  if (want != nullptr && !have_ns) {
    next.push_back({{"key", want}, {"effect", "NoSchedule"}});
  }
  if (want != nullptr && !have_ne) {
    next.push_back({{"key", want},
                    {"effect", "NoExecute"},
                    {"timeAdded", api::FormatTime(clock_.Now())}});
  }
  if (next == taints) return Status::Ok();
  if (next.empty()) {
    spec.erase("taints");
  } else {
    spec["taints"] = std::move(next);
  }
  log::Info(kComponent, "node taints changed")("node", api::Name(node))("ready",
                                                                        ready);
  auto r = client_.Update(kNodes, node, {});
  return r.ok() ? Status::Ok() : r.status();
}

Status NodeLifecycleController::SyncPods(const Json& node,
                                         const std::string& ready) {
  if (ready == "True") return Status::Ok();
  std::string name = api::Name(node);
  // The NoExecute taints as they are now (from the live node).
  KITE_ASSIGN_OR_RETURN(Json live, client_.Get(kNodes, name, {}));
  std::vector<Json> no_execute;
  if (const Json* ts = api::FieldPath(live, {"spec", "taints"});
      ts != nullptr && ts->is_array()) {
    for (const Json& t : *ts) {
      if (api::GetString(t, {"effect"}) == "NoExecute") no_execute.push_back(t);
    }
  }
  api::Time now = clock_.Now();
  Status result = Status::Ok();
  for (const auto& p : pods_.List()) {
    const Json& pod = *p;
    if (api::GetString(pod, {"spec", "nodeName"}) != name) continue;
    if (api::Has(pod, {"metadata", "deletionTimestamp"})) continue;
    std::string ns = api::Namespace(pod);
    // Evict when a NoExecute taint is not tolerated (long enough).
    std::optional<api::Time> evict_at;
    for (const Json& taint : no_execute) {
      std::optional<int64_t> seconds;  // nullopt: forever
      bool tolerated = false;
      const Json* tols = api::FieldPath(pod, {"spec", "tolerations"});
      if (tols != nullptr && tols->is_array()) {
        for (const Json& tol : *tols) {
          if (!Tolerates(tol, taint)) continue;
          const Json* s = api::Field(tol, "tolerationSeconds");
          if (!tolerated) {
            seconds = s && s->is_number_integer()
                          ? std::optional<int64_t>(s->get<int64_t>())
                          : std::nullopt;
          } else if (s && s->is_number_integer()) {
            seconds = seconds ? std::min(*seconds, s->get<int64_t>())
                              : s->get<int64_t>();
          }
          tolerated = true;
        }
      }
      std::optional<api::Time> since =
          api::ParseTime(api::GetString(taint, {"timeAdded"}));
      api::Time at = since.value_or(now);
      if (!tolerated) {
        evict_at = now;
      } else if (seconds) {
        at += std::chrono::seconds(std::max<int64_t>(*seconds, 0));
        if (!evict_at || at < *evict_at) evict_at = at;
      }
    }
    if (evict_at && *evict_at <= now) {
      RecordEvent(client_, clock_, pod, "Normal", "TaintManagerEviction",
                  "Marking for deletion Pod " + ns + "/" + api::Name(pod));
      auto r = client_.Delete(kPods.In(ns), api::Name(pod), {});
      if (!r.ok() && r.status().code() != Code::kNotFound) result = r.status();
      continue;
    }
    // Not evicted (yet): not Ready either.
    const Json* c = FindCond(pod, "Ready");
    if (c == nullptr || api::GetString(*c, {"status"}) == "False") continue;
    Json updated = pod;
    for (Json& x : updated["status"]["conditions"]) {
      if (api::GetString(x, {"type"}) == "Ready") {
        x["status"] = "False";
        x["lastTransitionTime"] = api::FormatTime(now);
      }
    }
    client::UpdateOptions uo;
    uo.subresource = "status";
    auto r = client_.Update(kPods.In(ns), updated, uo);
    if (!r.ok() && r.status().code() != Code::kNotFound &&
        r.status().code() != Code::kConflict) {
      result = r.status();
    }
  }
  return result;
}

}  // namespace kite::controllers

#include "tests/simnode/simnode.h"

#include <algorithm>
#include <utility>

#include "api/object.h"
#include "common/log.h"

namespace kite::simnode {
namespace {

using client::Json;
using Steady = std::chrono::steady_clock;

const client::ResourceRef kNodes{"", "v1", "nodes", ""};
const client::ResourceRef kPods{"", "v1", "pods", ""};
const client::ResourceRef kLeases{"coordination.k8s.io", "v1", "leases",
                                  "kube-node-lease"};
constexpr char kExitCodeAnnotation[] = "simnode.kite.io/exit-code";

std::string Now() { return api::FormatTime(std::chrono::system_clock::now()); }

Json Condition(const std::string& type, const std::string& status,
               const std::string& reason, const std::string& message,
               const std::string& now) {
  return Json{{"type", type},
              {"status", status},
              {"reason", reason},
              {"message", message},
              {"lastHeartbeatTime", now},
              {"lastTransitionTime", now}};
}

Json PodCondition(const std::string& type, const std::string& now) {
  return Json{{"type", type},
              {"status", "True"},
              {"lastProbeTime", nullptr},
              {"lastTransitionTime", now}};
}

}  // namespace

SimNodes::SimNodes(client::Interface& shared, SimNodesOptions options,
                   NodeClientFactory node_client)
    : shared_(shared),
      options_(std::move(options)),
      node_client_(std::move(node_client)) {}

SimNodes::~SimNodes() { Stop(); }

std::string SimNodes::NodeIp(int index) const {
  // 127.0.0.2 ... 127.0.0.254, then 127.0.1.x, ...
  return "127.0." + std::to_string(index / 253) + "." +
         std::to_string(index % 253 + 2);
}

Status SimNodes::Register(Node& node) {
  Json n = {{"apiVersion", "v1"},
            {"kind", "Node"},
            {"metadata",
             {{"name", node.name},
              {"labels",
               {{"kubernetes.io/hostname", node.name},
                {"kubernetes.io/os", "linux"},
                {"kubernetes.io/arch", "amd64"},
                {"beta.kubernetes.io/os", "linux"},
                {"beta.kubernetes.io/arch", "amd64"},
                {"node.kubernetes.io/instance-type", "simulated"}}},
              {"annotations", {{"kite.io/simulated", "true"}}}}},
            {"spec", Json::object()}};
  for (const auto& [k, v] : options_.labels) n["metadata"]["labels"][k] = v;
  Json status = {{"capacity",
                  {{"cpu", options_.cpu},
                   {"memory", options_.memory},
                   {"pods", std::to_string(options_.pods)},
                   {"ephemeral-storage", "100Gi"}}},
                 {"allocatable",
                  {{"cpu", options_.cpu},
                   {"memory", options_.memory},
                   {"pods", std::to_string(options_.pods)},
                   {"ephemeral-storage", "100Gi"}}},
                 {"addresses",
                  {{{"type", "InternalIP"}, {"address", NodeIp(node.index)}},
                   {{"type", "Hostname"}, {"address", node.name}}}},
                 {"daemonEndpoints", {{"kubeletEndpoint", {{"Port", 10250}}}}},
                 {"nodeInfo",
                  {{"machineID", "sim" + std::to_string(node.index)},
                   {"systemUUID", "sim-" + node.name},
                   {"bootID", "sim-boot-" + node.name},
                   {"kernelVersion", "simulated"},
                   {"osImage", "kite simulated node"},
                   {"containerRuntimeVersion", "sim://1.0.0"},
                   {"kubeletVersion", "v1.32.0-kite-sim"},
                   {"kubeProxyVersion", "v1.32.0-kite-sim"},
                   {"operatingSystem", "linux"},
                   {"architecture", "amd64"}}}};
  n["status"] = status;
  auto created = node.api->Create(kNodes, n, {});
  if (!created.ok() && created.status().code() != Code::kAlreadyExists)
    return created.status();
  KITE_RETURN_IF_ERROR(PostStatus(node));

  Json lease = {
      {"apiVersion", "coordination.k8s.io/v1"},
      {"kind", "Lease"},
      {"metadata", {{"name", node.name}, {"namespace", "kube-node-lease"}}},
      {"spec",
       {{"holderIdentity", node.name},
        {"leaseDurationSeconds", options_.lease_duration_seconds},
        {"renewTime",
         api::FormatMicroTime(std::chrono::system_clock::now())}}}};
  if (created.ok()) {
    lease["metadata"]["ownerReferences"] =
        Json::array({{{"apiVersion", "v1"},
                      {"kind", "Node"},
                      {"name", node.name},
                      {"uid", api::GetString(*created, {"metadata", "uid"})}}});
  }
  auto l = node.api->Create(kLeases, lease, {});
  if (!l.ok() && l.status().code() == Code::kAlreadyExists)
    return RenewLease(node);
  return l.status();
}

Status SimNodes::PostStatus(Node& node) {
  std::string now = Now();
  Json patch = {
      {"status",
       {{"conditions",
         {Condition("MemoryPressure", "False", "KubeletHasSufficientMemory",
                    "kubelet has sufficient memory available", now),
          Condition("DiskPressure", "False", "KubeletHasNoDiskPressure",
                    "kubelet has no disk pressure", now),
          Condition("PIDPressure", "False", "KubeletHasSufficientPID",
                    "kubelet has sufficient PID available", now),
          Condition("Ready", "True", "KubeletReady",
                    "kubelet is posting ready status", now)}}}}};
  client::PatchOptions opts;
  opts.subresource = "status";
  return node.api
      ->Patch(kNodes, node.name, client::PatchType::kMerge, patch.dump(), opts)
      .status();
}

Status SimNodes::RenewLease(Node& node) {
  Json patch = {{"spec",
                 {{"holderIdentity", node.name},
                  {"leaseDurationSeconds", options_.lease_duration_seconds},
                  {"renewTime",
                   api::FormatMicroTime(std::chrono::system_clock::now())}}}};
  return node.api
      ->Patch(kLeases, node.name, client::PatchType::kMerge, patch.dump(), {})
      .status();
}

Status SimNodes::Start() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (started_flag_) return FailedPreconditionError("already started");
    started_flag_ = true;
  }
  for (int i = 0; i < options_.nodes; ++i) {
    auto name = AddNode();
    if (!name.ok()) return name.status();
  }
  client::InformerOptions io;
  io.ref = kPods;
  io.field_selector = "spec.nodeName!=";
  informer_ = std::make_unique<client::Informer>(shared_, io);
  queue_ = std::make_unique<client::WorkQueue>("simnode-pods");
  auto enqueue = [this](const Json& pod) {
    std::string node = api::GetString(pod, {"spec", "nodeName"});
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!by_name_.count(node)) return;
    }
    queue_->Add(client::KeyOf(pod));
  };
  client::EventHandlers h;
  h.on_add = enqueue;
  h.on_update = [enqueue](const Json&, const Json& pod) { enqueue(pod); };
  h.on_delete = [this](const Json& pod) {
    std::lock_guard<std::mutex> lock(mu_);
    pods_.erase(client::KeyOf(pod));
  };
  informer_->AddEventHandler(std::move(h));
  KITE_RETURN_IF_ERROR(informer_->Start());
  for (int i = 0; i < std::max(1, options_.workers); ++i)
    threads_.emplace_back([this] { Worker(); });
  threads_.emplace_back([this] { LeaseLoop(); });
  log::Info("simnode", "started")("nodes", options_.nodes);
  return Status::Ok();
}

void SimNodes::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (queue_) queue_->ShutDown();
  if (informer_) informer_->Stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

StatusOr<std::string> SimNodes::AddNode() {
  auto node = std::make_unique<Node>();
  {
    std::lock_guard<std::mutex> lock(mu_);
    node->index = static_cast<int>(nodes_.size());
  }
  node->name = options_.prefix + "-" + std::to_string(node->index);
  if (node_client_) {
    auto c = node_client_(node->name);
    if (!c.ok()) return c.status();
    node->own = std::move(*c);
    node->api = node->own.get();
  } else {
    node->api = &shared_;
  }
  KITE_RETURN_IF_ERROR(Register(*node));
  std::string name = node->name;
  {
    std::lock_guard<std::mutex> lock(mu_);
    by_name_[name] = node.get();
    nodes_.push_back(std::move(node));
  }
  // Pods bound to the node between its registration and now (a DaemonSet
  // binds at once) were skipped by the handler: look at them again.
  if (informer_ != nullptr && queue_ != nullptr) {
    for (const auto& pod : informer_->List()) {
      if (api::GetString(*pod, {"spec", "nodeName"}) == name) {
        queue_->Add(client::KeyOf(*pod));
      }
    }
  }
  return name;
}

Status SimNodes::SetLeaseRenewal(const std::string& node, bool renew) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_name_.find(node);
  if (it == by_name_.end()) return NotFoundError("no simulated node " + node);
  it->second->renew = renew;
  cv_.notify_all();
  return Status::Ok();
}

std::vector<std::string> SimNodes::NodeNames() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const auto& n : nodes_) out.push_back(n->name);
  return out;
}

SimNodes::Node* SimNodes::FindNode(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

void SimNodes::LeaseLoop() {
  auto next_status = Steady::now() + options_.status_period;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    // Wake at the lease period, or at once when a node's renewal is
    // switched (so a resumed node reports Ready again promptly).
    cv_.wait_for(lock, options_.lease_period, [&] {
      if (stopping_) return true;
      for (const auto& n : nodes_)
        if (n->renew != n->was_renewing) return true;
      return false;
    });
    if (stopping_) break;
    bool post_all = Steady::now() >= next_status;
    if (post_all) next_status = Steady::now() + options_.status_period;
    std::vector<std::pair<Node*, bool>> work;  // node, post status
    for (const auto& n : nodes_) {
      bool resumed = n->renew && !n->was_renewing;
      n->was_renewing = n->renew;
      if (n->renew) work.push_back({n.get(), post_all || resumed});
    }
    lock.unlock();
    for (auto& [n, post] : work) {
      Status st = RenewLease(*n);
      if (st.ok() && post) st = PostStatus(*n);
      if (!st.ok())
        log::Warn("simnode", "renewal failed")("node", n->name)("error",
                                                                st.ToString());
    }
    lock.lock();
  }
}

void SimNodes::Worker() {
  while (auto key = queue_->Get()) {
    std::chrono::milliseconds again = Sync(*key);
    if (again.count() > 0)
      queue_->AddAfter(*key, again);
    else if (again.count() < 0)
      queue_->AddRateLimited(*key);
    else
      queue_->Forget(*key);
    queue_->Done(*key);
  }
}

std::chrono::milliseconds SimNodes::Sync(const std::string& key) {
  using std::chrono::milliseconds;
  auto pod_ptr = informer_->Get(key);
  if (!pod_ptr) return milliseconds(0);
  const Json& pod = *pod_ptr;
  Node* node = FindNode(api::GetString(pod, {"spec", "nodeName"}));
  if (!node) return milliseconds(0);
  auto [ns, name] = client::SplitKey(key);
  std::string uid = api::GetString(pod, {"metadata", "uid"});

  if (api::Has(pod, {"metadata", "deletionTimestamp"})) {
    // The containers "stop" at once; then the pod object goes.
    client::DeleteOptions del;
    del.grace_period_seconds = 0;
    del.precondition_uid = uid;
    auto r = node->api->Delete(kPods.In(ns), name, del);
    if (!r.ok() && r.status().code() != Code::kNotFound &&
        r.status().code() != Code::kConflict) {
      log::Warn("simnode", "pod delete failed")("pod", key)(
          "error", r.status().ToString());
      return milliseconds(-1);
    }
    ++deleted_;
    std::lock_guard<std::mutex> lock(mu_);
    pods_.erase(key);
    return milliseconds(0);
  }
  std::string phase = api::GetString(pod, {"status", "phase"});
  if (phase == "Succeeded" || phase == "Failed") return milliseconds(0);

  auto now = Steady::now();
  PodState state;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto [it, inserted] = pods_.try_emplace(key);
    if (inserted) it->second.seen = now;
    state = it->second;
  }
  std::string restart =
      api::GetString(pod, {"spec", "restartPolicy"}, "Always");
  const Json* containers = api::FieldPath(pod, {"spec", "containers"});
  std::string started_at = Now();

  if (!state.running) {
    auto due = state.seen + options_.ready_delay;
    if (now < due)
      return std::chrono::ceil<milliseconds>(due - now) + milliseconds(1);
    std::string prefix;
    {
      std::lock_guard<std::mutex> lock(mu_);
      prefix = node->cidr_prefix;
    }
    if (prefix.empty()) {
      // The node's spec.podCIDR (from the node IPAM controller), e.g.
      // "10.42.3.0/24" -> "10.42.3."; until it has one: 10.42.<index>.
      auto n = node->api->Get(kNodes, node->name, {});
      std::string cidr = n.ok() ? api::GetString(*n, {"spec", "podCIDR"}) : "";
      size_t dot = cidr.rfind('.');
      if (cidr.find('/') != std::string::npos && dot != std::string::npos) {
        prefix = cidr.substr(0, dot + 1);
        std::lock_guard<std::mutex> lock(mu_);
        node->cidr_prefix = prefix;
      } else {
        prefix = "10.42." + std::to_string(node->index % 256) + ".";
      }
    }
    std::string pod_ip;
    {
      std::lock_guard<std::mutex> lock(mu_);
      pod_ip = prefix + std::to_string(node->next_ip);
      node->next_ip = node->next_ip >= 254 ? 2 : node->next_ip + 1;
    }
    // A pod that is Running already (a restart of the simulator) keeps its
    // address.
    std::string old_ip = api::GetString(pod, {"status", "podIP"});
    if (phase == "Running" && !old_ip.empty()) pod_ip = old_ip;
    Json statuses = Json::array();
    if (containers && containers->is_array()) {
      for (const Json& c : *containers) {
        std::string cname = api::GetString(c, {"name"});
        statuses.push_back(
            {{"name", cname},
             {"image", api::GetString(c, {"image"})},
             {"imageID", "sim://" + api::GetString(c, {"image"})},
             {"containerID", "sim://" + uid + "/" + cname},
             {"ready", true},
             {"started", true},
             {"restartCount", 0},
             {"state", {{"running", {{"startedAt", started_at}}}}},
             {"lastState", Json::object()}});
      }
    }
    std::string host_ip = NodeIp(node->index);
    Json status = {
        {"phase", "Running"},
        {"hostIP", host_ip},
        {"hostIPs", {{{"ip", host_ip}}}},
        {"podIP", pod_ip},
        {"podIPs", {{{"ip", pod_ip}}}},
        {"startTime", started_at},
        {"qosClass", api::GetString(pod, {"status", "qosClass"}, "BestEffort")},
        {"conditions",
         {PodCondition("PodReadyToStartContainers", started_at),
          PodCondition("Initialized", started_at),
          PodCondition("Ready", started_at),
          PodCondition("ContainersReady", started_at),
          PodCondition("PodScheduled", started_at)}},
        {"containerStatuses", statuses}};
    client::PatchOptions opts;
    opts.subresource = "status";
    auto r = node->api->Patch(kPods.In(ns), name, client::PatchType::kMerge,
                              Json{{"status", status}}.dump(), opts);
    if (!r.ok()) {
      if (r.status().code() == Code::kNotFound) return milliseconds(0);
      log::Warn("simnode", "pod status failed")("pod", key)(
          "error", r.status().ToString());
      return milliseconds(-1);
    }
    ++started_;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pods_.find(key);
    if (it != pods_.end()) {
      it->second.running = true;
      it->second.running_since = Steady::now();
      state = it->second;
    }
    if (restart == "Always") return milliseconds(0);
    return options_.run_duration + milliseconds(1);
  }

  if (restart == "Always") return milliseconds(0);
  auto due = state.running_since + options_.run_duration;
  if (now < due)
    return std::chrono::ceil<milliseconds>(due - now) + milliseconds(1);
  // The containers of a run-to-completion pod exit.
  int code = 0;
  try {
    code = std::stoi(api::GetString(
        pod, {"metadata", "annotations", kExitCodeAnnotation}, "0"));
  } catch (...) {
    code = 1;
  }
  std::string finished = Now();
  Json statuses = Json::array();
  if (containers && containers->is_array()) {
    for (const Json& c : *containers) {
      std::string cname = api::GetString(c, {"name"});
      statuses.push_back(
          {{"name", cname},
           {"image", api::GetString(c, {"image"})},
           {"imageID", "sim://" + api::GetString(c, {"image"})},
           {"containerID", "sim://" + uid + "/" + cname},
           {"ready", false},
           {"started", false},
           {"restartCount", 0},
           {"state",
            {{"terminated",
              {{"exitCode", code},
               {"reason", code == 0 ? "Completed" : "Error"},
               {"startedAt",
                api::GetString(pod, {"status", "startTime"}, finished)},
               {"finishedAt", finished},
               {"containerID", "sim://" + uid + "/" + cname}}}}},
           {"lastState", Json::object()}});
    }
  }
  auto not_ready = [&](const std::string& type) {
    return Json{{"type", type},
                {"status", "False"},
                {"reason", "PodCompleted"},
                {"lastProbeTime", nullptr},
                {"lastTransitionTime", finished}};
  };
  Json status = {
      {"phase", code == 0 ? "Succeeded" : "Failed"},
      {"conditions",
       {not_ready("PodReadyToStartContainers"),
        PodCondition("Initialized", finished), not_ready("Ready"),
        not_ready("ContainersReady"), PodCondition("PodScheduled", finished)}},
      {"containerStatuses", statuses}};
  client::PatchOptions opts;
  opts.subresource = "status";
  auto r = node->api->Patch(kPods.In(ns), name, client::PatchType::kMerge,
                            Json{{"status", status}}.dump(), opts);
  if (!r.ok() && r.status().code() != Code::kNotFound) return milliseconds(-1);
  return milliseconds(0);
}

}  // namespace kite::simnode

#include "server/scheduler/scheduler.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "api/object.h"
#include "api/quantity.h"
#include "common/log.h"

namespace kite::scheduler {
namespace {

const client::ResourceRef kPods{"", "v1", "pods", ""};
const client::ResourceRef kNodes{"", "v1", "nodes", ""};
const client::ResourceRef kEvents{"", "v1", "events", ""};
const client::ResourceRef kClaims{"", "v1", "persistentvolumeclaims", ""};
const client::ResourceRef kVolumes{"", "v1", "persistentvolumes", ""};
const client::ResourceRef kClasses{"storage.k8s.io", "v1", "storageclasses",
                                   ""};

std::vector<std::string> StringList(const Json* j) {
  std::vector<std::string> out;
  if (j == nullptr || !j->is_array()) return out;
  for (const Json& s : *j)
    if (s.is_string()) out.push_back(s.get<std::string>());
  return out;
}

// Whether the unbound `claim` could take the Available `pv` (class, mode,
// access modes, size, selector), leaving node affinity to the filter.
bool VolumeFits(const Json& pv, const Json& claim, const std::string& cls) {
  if (api::Has(pv, {"metadata", "deletionTimestamp"})) return false;
  if (const Json* ref = api::FieldPath(pv, {"spec", "claimRef"});
      ref != nullptr && ref->is_object() &&
      !api::GetString(*ref, {"name"}).empty()) {
    if (api::GetString(*ref, {"namespace"}) != api::Namespace(claim) ||
        api::GetString(*ref, {"name"}) != api::Name(claim))
      return false;
    std::string uid = api::GetString(*ref, {"uid"});
    if (!uid.empty() && uid != api::GetString(claim, {"metadata", "uid"}))
      return false;
  }
  std::string phase = api::GetString(pv, {"status", "phase"});
  if (phase == "Released" || phase == "Failed") return false;
  if (api::GetString(pv, {"spec", "storageClassName"}) != cls) return false;
  if (api::GetString(pv, {"spec", "volumeMode"}, "Filesystem") !=
      api::GetString(claim, {"spec", "volumeMode"}, "Filesystem"))
    return false;
  std::vector<std::string> has =
      StringList(api::FieldPath(pv, {"spec", "accessModes"}));
  for (const std::string& m :
       StringList(api::FieldPath(claim, {"spec", "accessModes"})))
    if (std::find(has.begin(), has.end(), m) == has.end()) return false;
  auto size = api::Quantity::Parse(
      api::GetString(pv, {"spec", "capacity", "storage"}, "0"));
  auto want = api::Quantity::Parse(
      api::GetString(claim, {"spec", "resources", "requests", "storage"}, "0"));
  if (!size.ok() || !want.ok() || size->Compare(*want) < 0) return false;
  if (const Json* s = api::FieldPath(claim, {"spec", "selector"});
      s != nullptr && s->is_object()) {
    auto sel = api::LabelSelector::FromJson(*s);
    if (!sel.ok() || !sel->MatchesObject(pv)) return false;
  }
  return true;
}

std::string NowText() {
  return api::FormatTime(std::chrono::system_clock::now());
}

bool Terminal(const Json& pod) {
  std::string phase = api::GetString(pod, {"status", "phase"});
  return phase == "Succeeded" || phase == "Failed";
}

// What a scheduling retry depends on of an unschedulable pod itself.
bool SchedulingInputsChanged(const Json& a, const Json& b) {
  return a.value("spec", Json()) != b.value("spec", Json()) ||
         api::Labels(a) != api::Labels(b);
}

}  // namespace

Scheduler::Scheduler(client::Interface& client,
                     client::SharedInformerFactory& informers,
                     SchedulerOptions options)
    : client_(client),
      pods_(informers.For(kPods)),
      nodes_informer_(informers.For(kNodes)),
      claims_(informers.For(kClaims)),
      volumes_(informers.For(kVolumes)),
      classes_(informers.For(kClasses)),
      options_(std::move(options)),
      clock_(options_.clock ? *options_.clock : RealClock()),
      queue_("scheduler", clock_,
             client::ControllerRateLimiter(clock_, std::chrono::seconds(1),
                                           std::chrono::seconds(10))) {
  client::EventHandlers ph;
  ph.on_add = [this](const Json& pod) { OnPod(pod); };
  ph.on_update = [this](const Json& old_pod, const Json& pod) {
    if (!api::Has(pod, {"spec", "nodeName"}) ||
        api::GetString(pod, {"spec", "nodeName"}).empty()) {
      std::lock_guard<std::mutex> lock(mu_);
      std::string key = client::KeyOf(pod);
      if (unschedulable_.count(key) && !SchedulingInputsChanged(old_pod, pod) &&
          !api::Has(pod, {"metadata", "deletionTimestamp"}))
        return;  // e.g. our own condition update
    }
    OnPod(pod);
  };
  ph.on_delete = [this](const Json& pod) { OnPodDelete(pod); };
  pods_.AddEventHandler(std::move(ph));
  client::EventHandlers nh;
  nh.on_add = [this](const Json& node) { OnNode(nullptr, node); };
  nh.on_update = [this](const Json& old_node, const Json& node) {
    OnNode(&old_node, node);
  };
  nh.on_delete = [this](const Json& node) { OnNodeDelete(node); };
  nodes_informer_.AddEventHandler(std::move(nh));
  // Claims, volumes and classes decide VolumeBinding: their changes retry
  // the unschedulable pods.
  for (client::Informer* inf : {&claims_, &volumes_, &classes_}) {
    client::EventHandlers vh;
    auto retry = [this] {
      std::lock_guard<std::mutex> lock(mu_);
      if (!unschedulable_.empty()) MoveAllToActiveLocked();
    };
    vh.on_add = [retry](const Json&) { retry(); };
    vh.on_update = [retry](const Json&, const Json&) { retry(); };
    vh.on_delete = [retry](const Json&) { retry(); };
    inf->AddEventHandler(std::move(vh));
  }
}

VolumeBindingInfo Scheduler::VolumesOf(const Json& pod) {
  VolumeBindingInfo out;
  const Json* vols = api::FieldPath(pod, {"spec", "volumes"});
  if (vols == nullptr || !vols->is_array()) return out;
  std::string ns = api::Namespace(pod);
  for (const Json& v : *vols) {
    std::string name =
        api::GetString(v, {"persistentVolumeClaim", "claimName"});
    if (name.empty()) continue;
    std::shared_ptr<const Json> claim = claims_.Get(ns, name);
    if (claim == nullptr) {
      out.unresolvable = "persistentvolumeclaim \"" + name + "\" not found";
      return out;
    }
    if (api::Has(*claim, {"metadata", "deletionTimestamp"})) {
      out.unresolvable =
          "persistentvolumeclaim \"" + name + "\" is being deleted";
      return out;
    }
    std::string pv_name = api::GetString(*claim, {"spec", "volumeName"});
    if (!pv_name.empty()) {
      std::shared_ptr<const Json> pv = volumes_.Get(pv_name);
      if (pv == nullptr) {
        out.unresolvable =
            "node(s) unavailable due to one or more pvc(s) bound to "
            "non-existent pv(s)";
        return out;
      }
      out.bound.push_back(ParseNodeSelectorTerms(
          api::FieldPath(*pv, {"spec", "nodeAffinity", "required"})));
      continue;
    }
    std::string cls = api::GetString(*claim, {"spec", "storageClassName"});
    std::shared_ptr<const Json> sc = cls.empty() ? nullptr : classes_.Get(cls);
    if (sc == nullptr ||
        api::GetString(*sc, {"volumeBindingMode"}) != "WaitForFirstConsumer") {
      out.unresolvable = "pod has unbound immediate PersistentVolumeClaims";
      return out;
    }
    // A node chosen earlier for this claim (by a decision for this or
    // another pod) holds: pods sharing the claim must meet where its
    // volume is being made.
    std::string selected = api::GetString(
        *claim,
        {"metadata", "annotations", "volume.kubernetes.io/selected-node"});
    if (!selected.empty()) {
      NodeSelectorTerm on_selected;
      on_selected.fields.push_back({"metadata.name", "In", {selected}});
      out.bound.push_back({on_selected});
    }
    VolumeBindingInfo::Unbound u;
    u.claim = name;
    std::string provisioner = api::GetString(*sc, {"provisioner"});
    u.provisionable = !provisioner.empty() &&
                      provisioner != "kubernetes.io/no-provisioner" &&
                      !api::Has(*claim, {"spec", "selector"});
    if (!u.provisionable) {
      for (const auto& pv : volumes_.List()) {
        if (VolumeFits(*pv, *claim, cls))
          u.candidates.push_back(ParseNodeSelectorTerms(
              api::FieldPath(*pv, {"spec", "nodeAffinity", "required"})));
      }
    }
    out.unbound.push_back(std::move(u));
  }
  return out;
}

Scheduler::~Scheduler() { Stop(); }

bool Scheduler::Ours(const Json& pod) const {
  return api::GetString(pod, {"spec", "nodeName"}).empty() &&
         api::GetString(pod, {"spec", "schedulerName"}, "default-scheduler") ==
             options_.scheduler_name &&
         !api::Has(pod, {"metadata", "deletionTimestamp"}) && !Terminal(pod);
}

void Scheduler::AddPodLocked(std::shared_ptr<const PodInfo> info,
                             bool assumed) {
  RemovePodLocked(info->key);
  auto it = nodes_.find(info->node_name);
  if (it != nodes_.end()) {
    NodeInfo& n = *it->second;
    n.pods[info->key] = info;
    n.requested.Add(info->requests);
    n.nonzero_requested.Add(info->nonzero);
  }
  std::string key = info->key;
  pods_by_key_[key] = CachedPod{std::move(info), assumed};
}

void Scheduler::RemovePodLocked(const std::string& key) {
  auto it = pods_by_key_.find(key);
  if (it == pods_by_key_.end()) return;
  const PodInfo& info = *it->second.info;
  auto n = nodes_.find(info.node_name);
  if (n != nodes_.end() && n->second->pods.erase(key)) {
    n->second->requested.Sub(info.requests);
    n->second->nonzero_requested.Sub(info.nonzero);
  }
  pods_by_key_.erase(it);
}

void Scheduler::MoveAllToActiveLocked() {
  ++move_epoch_;
  auto now = clock_.Monotonic();
  for (const auto& key : unschedulable_) {
    auto b = backoff_.find(key);
    if (b == backoff_.end()) {
      queue_.Add(key);
      continue;
    }
    std::chrono::nanoseconds wait = std::min<std::chrono::nanoseconds>(
        std::chrono::seconds(1LL << std::clamp(b->second.attempts - 1, 0, 4)),
        std::chrono::seconds(10));
    auto due = b->second.last + wait;
    if (due > now)
      queue_.AddAfter(key, due - now);
    else
      queue_.Add(key);
  }
  unschedulable_.clear();
}

void Scheduler::OnPod(const Json& pod) {
  std::string key = client::KeyOf(pod);
  std::string node = api::GetString(pod, {"spec", "nodeName"});
  if (!node.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    unschedulable_.erase(key);
    backoff_.erase(key);
    if (Terminal(pod)) {
      if (pods_by_key_.count(key)) {
        RemovePodLocked(key);
        MoveAllToActiveLocked();
      }
      return;
    }
    auto info = ParsePod(pod);
    if (!info.ok()) {
      PodInfo bare;
      bare.key = key;
      bare.ns = api::Namespace(pod);
      bare.name = api::Name(pod);
      bare.node_name = node;
      info = std::move(bare);
    }
    AddPodLocked(std::make_shared<const PodInfo>(std::move(*info)), false);
    return;
  }
  if (!Ours(pod)) {
    std::lock_guard<std::mutex> lock(mu_);
    unschedulable_.erase(key);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    unschedulable_.erase(key);
  }
  queue_.Add(key);
}

void Scheduler::OnPodDelete(const Json& pod) {
  std::string key = client::KeyOf(pod);
  {
    std::lock_guard<std::mutex> lock(mu_);
    unschedulable_.erase(key);
    backoff_.erase(key);
    if (pods_by_key_.count(key)) {
      RemovePodLocked(key);
      MoveAllToActiveLocked();
    }
  }
  std::lock_guard<std::mutex> lock(events_mu_);
  failure_events_.erase(key);
}

void Scheduler::OnNode(const Json* old_node, const Json& node) {
  (void)old_node;
  std::string name = api::Name(node);
  std::string sig = NodeSchedulingKey(node);
  std::lock_guard<std::mutex> lock(mu_);
  auto k = node_keys_.find(name);
  if (k != node_keys_.end() && k->second == sig) return;  // a heartbeat
  node_keys_[name] = sig;
  auto fresh = std::make_shared<NodeInfo>(ParseNode(node));
  auto it = nodes_.find(name);
  if (it != nodes_.end()) {
    fresh->pods = std::move(it->second->pods);
    fresh->requested = it->second->requested;
    fresh->nonzero_requested = it->second->nonzero_requested;
    it->second = fresh;
  } else {
    for (const auto& [key, cached] : pods_by_key_) {
      if (cached.info->node_name != name) continue;
      fresh->pods[key] = cached.info;
      fresh->requested.Add(cached.info->requests);
      fresh->nonzero_requested.Add(cached.info->nonzero);
    }
    nodes_[name] = fresh;
  }
  MoveAllToActiveLocked();
}

void Scheduler::OnNodeDelete(const Json& node) {
  std::lock_guard<std::mutex> lock(mu_);
  nodes_.erase(api::Name(node));
  node_keys_.erase(api::Name(node));
}

Status Scheduler::Start() {
  if (started_) return FailedPreconditionError("scheduler already started");
  started_ = true;
  threads_.emplace_back([this] { ScheduleLoop(); });
  for (int i = 0; i < std::max(1, options_.binders); ++i)
    threads_.emplace_back([this] { BinderLoop(); });
  log::Info("scheduler", "started")("name", options_.scheduler_name);
  return Status::Ok();
}

void Scheduler::Stop() {
  {
    std::lock_guard<std::mutex> lock(tasks_mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  tasks_cv_.notify_all();
  queue_.ShutDown();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void Scheduler::Submit(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(tasks_mu_);
    if (stopping_) return;
    tasks_.push_back(std::move(task));
  }
  tasks_cv_.notify_one();
}

void Scheduler::SubmitFailure(std::shared_ptr<const Json> pod,
                              std::string message) {
  std::string key = client::KeyOf(*pod);
  {
    std::lock_guard<std::mutex> lock(tasks_mu_);
    if (stopping_) return;
    auto [it, inserted] = pending_failures_.try_emplace(key);
    it->second = {std::move(pod), std::move(message)};
    if (!inserted) return;  // already waiting: it will write the latest
    failure_order_.push_back(key);
  }
  tasks_cv_.notify_one();
}

void Scheduler::BinderLoop() {
  for (;;) {
    std::function<void()> task;
    std::shared_ptr<const Json> failed_pod;
    std::string message;
    {
      std::unique_lock<std::mutex> lock(tasks_mu_);
      tasks_cv_.wait(lock, [&] {
        return stopping_ || !tasks_.empty() || !failure_order_.empty();
      });
      if (stopping_) return;
      if (!tasks_.empty()) {
        task = std::move(tasks_.front());
        tasks_.pop_front();
      } else {
        std::string key = std::move(failure_order_.front());
        failure_order_.pop_front();
        auto it = pending_failures_.find(key);
        failed_pod = std::move(it->second.first);
        message = std::move(it->second.second);
        pending_failures_.erase(it);
      }
    }
    if (task) {
      task();
      continue;
    }
    {
      // Bound (or being bound) meanwhile: the failure is history.
      std::lock_guard<std::mutex> lock(mu_);
      if (pods_by_key_.count(client::KeyOf(*failed_pod))) continue;
    }
    RecordFailure(*failed_pod, message);
  }
}

void Scheduler::ScheduleLoop() {
  // Decisions need the whole cluster: wait for both caches.
  while (!queue_.ShuttingDown()) {
    if (pods_.WaitForSync(std::chrono::milliseconds(200)) &&
        nodes_informer_.WaitForSync(std::chrono::milliseconds(200)) &&
        claims_.WaitForSync(std::chrono::milliseconds(200)) &&
        volumes_.WaitForSync(std::chrono::milliseconds(200)) &&
        classes_.WaitForSync(std::chrono::milliseconds(200)))
      break;
  }
  while (auto key = queue_.Get()) {
    ScheduleOne(*key);
    queue_.Done(*key);
  }
}

Decision Scheduler::DecideLocked(const PodInfo& pod,
                                 const VolumeBindingInfo* volumes) {
  ++attempts_;
  Decision d;
  Evaluator ev(pod, nodes_, volumes);
  std::vector<const NodeInfo*> feasible;
  std::map<std::string, int> reasons;
  int unresolvable = 0;
  for (const auto& [name, node] : nodes_) {
    FilterResult r = ev.Filter(*node);
    if (r.reasons.empty()) {
      feasible.push_back(node.get());
      continue;
    }
    for (const auto& reason : r.reasons) ++reasons[reason];
    if (r.unresolvable) ++unresolvable;
  }
  if (feasible.empty()) {
    d.message =
        FitErrorMessage(static_cast<int>(nodes_.size()), reasons, unresolvable);
    return d;
  }
  std::vector<int64_t> scores = ev.Score(feasible);
  int64_t best = -1;
  int ties = 0;
  for (size_t i = 0; i < feasible.size(); ++i) {
    if (scores[i] > best) {
      best = scores[i];
      d.node = feasible[i]->name;
      ties = 1;
    } else if (scores[i] == best) {
      // Reservoir sampling among equals.
      ++ties;
      if (std::uniform_int_distribution<int>(0, ties - 1)(rng_) == 0)
        d.node = feasible[i]->name;
    }
  }
  return d;
}

Decision Scheduler::Evaluate(const Json& pod) {
  auto info = ParsePod(pod);
  if (!info.ok()) return Decision{"", info.status().message()};
  VolumeBindingInfo volumes = VolumesOf(pod);
  std::lock_guard<std::mutex> lock(mu_);
  return DecideLocked(*info, &volumes);
}

void Scheduler::ScheduleOne(const std::string& key) {
  auto pod = pods_.Get(key);
  if (!pod || !Ours(*pod)) return;
  auto parsed = ParsePod(*pod);
  if (!parsed.ok()) {
    ++failed_;
    SubmitFailure(pod, parsed.status().message());
    std::lock_guard<std::mutex> lock(mu_);
    unschedulable_.insert(key);
    return;
  }
  Decision d;
  std::shared_ptr<const PodInfo> assumed;
  VolumeBindingInfo volumes = VolumesOf(*pod);
  std::vector<std::string> select_claims;
  for (const auto& u : volumes.unbound) select_claims.push_back(u.claim);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (pods_by_key_.count(key)) return;  // bound or being bound
    d = DecideLocked(*parsed, &volumes);
    if (!d.node.empty()) {
      parsed->node_name = d.node;
      assumed = std::make_shared<const PodInfo>(std::move(*parsed));
      AddPodLocked(assumed, true);
    } else {
      unschedulable_.insert(key);
      Backoff& b = backoff_[key];
      ++b.attempts;
      b.last = clock_.Monotonic();
    }
  }
  if (assumed) {
    Submit([this, assumed, node = d.node,
            claims = std::move(select_claims)]() mutable {
      Bind(assumed, node, std::move(claims));
    });
    return;
  }
  ++failed_;
  queue_.AddAfter(key, options_.unschedulable_retry);
  SubmitFailure(pod, d.message);
}

void Scheduler::Bind(std::shared_ptr<const PodInfo> pod, std::string node,
                     std::vector<std::string> select_claims) {
  // Unbound WaitForFirstConsumer claims learn the node first: the PV
  // controller provisions or binds their volumes there.
  Status claims_ok = Status::Ok();
  for (const std::string& claim : select_claims) {
    Json patch = {
        {"metadata",
         {{"annotations", {{"volume.kubernetes.io/selected-node", node}}}}}};
    auto r = client_.Patch(kClaims.In(pod->ns), claim,
                           client::PatchType::kMerge, patch.dump(), {});
    if (!r.ok()) {
      claims_ok = r.status();
      break;
    }
  }
  if (!claims_ok.ok()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = pods_by_key_.find(pod->key);
      if (it != pods_by_key_.end() && it->second.assumed)
        RemovePodLocked(pod->key);
    }
    log::Warn("scheduler", "selecting the node of a claim failed")(
        "pod", pod->key)("node", node)("error", claims_ok.ToString());
    queue_.AddRateLimited(pod->key);
    return;
  }
  Json binding = {
      {"apiVersion", "v1"},
      {"kind", "Binding"},
      {"metadata",
       {{"name", pod->name}, {"namespace", pod->ns}, {"uid", pod->uid}}},
      {"target", {{"apiVersion", "v1"}, {"kind", "Node"}, {"name", node}}}};
  client::CreateOptions opts;
  opts.subresource = "binding";
  auto r = client_.Create(kPods.In(pod->ns), binding, opts);
  if (r.ok()) {
    ++bound_;
    queue_.Forget(pod->key);
    Json ref = {
        {"metadata",
         {{"name", pod->name}, {"namespace", pod->ns}, {"uid", pod->uid}}}};
    RecordEvent(
        ref, "Normal", "Scheduled",
        "Successfully assigned " + pod->ns + "/" + pod->name + " to " + node);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pods_by_key_.find(pod->key);
    if (it != pods_by_key_.end() && it->second.assumed)
      RemovePodLocked(pod->key);
  }
  Code code = r.status().code();
  if (code == Code::kNotFound) return;  // the pod is gone
  log::Warn("scheduler", "binding failed")("pod", pod->key)("node", node)(
      "error", r.status().ToString());
  queue_.AddRateLimited(pod->key);
}

void Scheduler::RecordEvent(const Json& pod, const std::string& type,
                            const std::string& reason,
                            const std::string& message) {
  std::string now = NowText();
  char suffix[32];
  std::snprintf(suffix, sizeof(suffix), ".%llx",
                static_cast<unsigned long long>(
                    std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count()));
  std::string ns = api::Namespace(pod);
  Json ev = {
      {"apiVersion", "v1"},
      {"kind", "Event"},
      {"metadata", {{"name", api::Name(pod) + suffix}, {"namespace", ns}}},
      {"involvedObject",
       {{"apiVersion", "v1"},
        {"kind", "Pod"},
        {"namespace", ns},
        {"name", api::Name(pod)},
        {"uid", api::GetString(pod, {"metadata", "uid"})}}},
      {"reason", reason},
      {"message", message},
      {"type", type},
      {"source", {{"component", options_.scheduler_name}}},
      {"reportingComponent", options_.scheduler_name},
      {"reportingInstance", options_.scheduler_name},
      {"firstTimestamp", now},
      {"lastTimestamp", now},
      {"count", 1}};
  auto r = client_.Create(kEvents.In(ns), ev, {});
  if (!r.ok())
    log::Debug("scheduler", "event not recorded")("error",
                                                  r.status().ToString());
}

void Scheduler::RecordFailure(const Json& pod, const std::string& message) {
  std::string ns = api::Namespace(pod);
  std::string name = api::Name(pod);
  // PodScheduled=False, unless it says so already.
  bool same = false;
  if (const Json* cs = api::FieldPath(pod, {"status", "conditions"});
      cs && cs->is_array()) {
    for (const Json& c : *cs)
      if (api::GetString(c, {"type"}) == "PodScheduled" &&
          api::GetString(c, {"status"}) == "False" &&
          api::GetString(c, {"reason"}) == "Unschedulable" &&
          api::GetString(c, {"message"}) == message)
        same = true;
  }
  if (!same) {
    Json patch = {{"status",
                   {{"conditions",
                     {{{"type", "PodScheduled"},
                       {"status", "False"},
                       {"reason", "Unschedulable"},
                       {"message", message},
                       {"lastProbeTime", nullptr},
                       {"lastTransitionTime", NowText()}}}}}}};
    client::PatchOptions opts;
    opts.subresource = "status";
    auto r =
        client_.Patch(kPods.In(ns), name, client::PatchType::kStrategicMerge,
                      patch.dump(), opts);
    if (!r.ok() && r.status().code() != Code::kNotFound)
      log::Warn("scheduler", "pod condition not recorded")(
          "pod", ns + "/" + name)("error", r.status().ToString());
  }
  // FailedScheduling: a new Event, or the count of the last one raised.
  std::string key = client::KeyOf(pod);
  EventRecord rec;
  {
    std::lock_guard<std::mutex> lock(events_mu_);
    rec = failure_events_[key];
  }
  if (!rec.name.empty() && rec.message == message) {
    Json patch = {{"count", rec.count + 1}, {"lastTimestamp", NowText()}};
    auto r = client_.Patch(kEvents.In(ns), rec.name, client::PatchType::kMerge,
                           patch.dump(), {});
    if (r.ok()) {
      std::lock_guard<std::mutex> lock(events_mu_);
      failure_events_[key].count = rec.count + 1;
      return;
    }
  }
  std::string now = NowText();
  char suffix[32];
  std::snprintf(suffix, sizeof(suffix), ".%llx",
                static_cast<unsigned long long>(
                    std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count()));
  Json ev = {{"apiVersion", "v1"},
             {"kind", "Event"},
             {"metadata", {{"name", name + suffix}, {"namespace", ns}}},
             {"involvedObject",
              {{"apiVersion", "v1"},
               {"kind", "Pod"},
               {"namespace", ns},
               {"name", name},
               {"uid", api::GetString(pod, {"metadata", "uid"})},
               {"resourceVersion",
                api::GetString(pod, {"metadata", "resourceVersion"})}}},
             {"reason", "FailedScheduling"},
             {"message", message},
             {"type", "Warning"},
             {"source", {{"component", options_.scheduler_name}}},
             {"reportingComponent", options_.scheduler_name},
             {"reportingInstance", options_.scheduler_name},
             {"firstTimestamp", now},
             {"lastTimestamp", now},
             {"count", 1}};
  auto r = client_.Create(kEvents.In(ns), ev, {});
  if (r.ok()) {
    std::lock_guard<std::mutex> lock(events_mu_);
    failure_events_[key] = EventRecord{name + suffix, 1, message};
  }
}

}  // namespace kite::scheduler

#include "server/controllers/daemonset_controller.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <utility>

#include "api/selectors.h"
#include "common/log.h"
#include "server/controllers/replicaset_controller.h"

namespace kite::controllers {
namespace {

constexpr char kComponent[] = "daemonset-controller";
constexpr char kHashLabel[] = "controller-revision-hash";

bool Tolerates(const Json& toleration, const Json& taint) {
  std::string effect = api::GetString(toleration, {"effect"});
  if (!effect.empty() && effect != api::GetString(taint, {"effect"})) {
    return false;
  }
  std::string key = api::GetString(toleration, {"key"});
  std::string op = api::GetString(toleration, {"operator"}, "Equal");
  if (op == "Exists") {
    return key.empty() || key == api::GetString(taint, {"key"});
  }
  return key == api::GetString(taint, {"key"}) &&
         api::GetString(toleration, {"value"}) ==
             api::GetString(taint, {"value"});
}

Json DefaultTolerations(const Json& spec) {
  Json t = Json::array();
  if (const Json* own = api::Field(spec, "tolerations");
      own != nullptr && own->is_array()) {
    t = *own;
  }
  auto add = [&](const char* key, const char* effect) {
    t.push_back({{"key", key}, {"operator", "Exists"}, {"effect", effect}});
  };
  add("node.kubernetes.io/not-ready", "NoExecute");
  add("node.kubernetes.io/unreachable", "NoExecute");
  add("node.kubernetes.io/disk-pressure", "NoSchedule");
  add("node.kubernetes.io/memory-pressure", "NoSchedule");
  add("node.kubernetes.io/pid-pressure", "NoSchedule");
  add("node.kubernetes.io/unschedulable", "NoSchedule");
  if (api::GetBool(spec, {"hostNetwork"})) {
    add("node.kubernetes.io/network-unavailable", "NoSchedule");
  }
  return t;
}

bool MatchExpression(const Json& req, const std::string& value, bool present) {
  std::string op = api::GetString(req, {"operator"});
  std::vector<std::string> values;
  if (const Json* v = api::Field(req, "values");
      v != nullptr && v->is_array()) {
    for (const Json& x : *v) {
      if (x.is_string()) values.push_back(x.get<std::string>());
    }
  }
  auto in = [&] {
    return std::find(values.begin(), values.end(), value) != values.end();
  };
  if (op == "In") return present && in();
  if (op == "NotIn") return !present || !in();
  if (op == "Exists") return present;
  if (op == "DoesNotExist") return !present;
  if ((op == "Gt" || op == "Lt") && present && values.size() == 1) {
    try {
      long long a = std::stoll(value), b = std::stoll(values[0]);
      return op == "Gt" ? a > b : a < b;
    } catch (...) {
      return false;
    }
  }
  return false;
}

bool TermMatches(const Json& term, const Json& node) {
  std::map<std::string, std::string> labels = api::Labels(node);
  bool any = false;
  if (const Json* exprs = api::Field(term, "matchExpressions");
      exprs != nullptr && exprs->is_array()) {
    for (const Json& e : *exprs) {
      any = true;
      auto it = labels.find(api::GetString(e, {"key"}));
      if (!MatchExpression(e, it != labels.end() ? it->second : "",
                           it != labels.end())) {
        return false;
      }
    }
  }
  if (const Json* fields = api::Field(term, "matchFields");
      fields != nullptr && fields->is_array()) {
    for (const Json& f : *fields) {
      any = true;
      if (api::GetString(f, {"key"}) != "metadata.name") return false;
      if (!MatchExpression(f, api::Name(node), true)) return false;
    }
  }
  return any;  // an empty term matches nothing
}

int64_t ResolveMaxUnavailable(const Json& ds, int64_t desired) {
  const Json* v = api::FieldPath(
      ds, {"spec", "updateStrategy", "rollingUpdate", "maxUnavailable"});
  int64_t n = 1;
  if (v != nullptr && v->is_number_integer()) {
    n = v->get<int64_t>();
  } else if (v != nullptr && v->is_string()) {
    std::string s = v->get<std::string>();
    try {
      if (!s.empty() && s.back() == '%') {
        n = static_cast<int64_t>(
            std::floor(std::stod(s.substr(0, s.size() - 1)) * desired / 100.0));
      } else {
        n = std::stoll(s);
      }
    } catch (...) {
      n = 1;
    }
  }
  return std::max<int64_t>(n, 1);
}

}  // namespace

bool DaemonPodFitsNode(const Json& pod_spec, const Json& node,
                       bool already_running) {
  if (api::Has(node, {"metadata", "deletionTimestamp"})) return false;
  std::map<std::string, std::string> labels = api::Labels(node);
  for (const auto& [k, v] :
       api::StringMap(api::Field(pod_spec, "nodeSelector"))) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  if (const Json* terms = api::FieldPath(
          pod_spec, {"affinity", "nodeAffinity",
                     "requiredDuringSchedulingIgnoredDuringExecution",
                     "nodeSelectorTerms"});
      terms != nullptr && terms->is_array()) {
    bool ok = false;
    for (const Json& t : *terms) ok = ok || TermMatches(t, node);
    if (!ok) return false;
  }
  Json tolerations = DefaultTolerations(pod_spec);
  if (const Json* taints = api::FieldPath(node, {"spec", "taints"});
      taints != nullptr && taints->is_array()) {
    for (const Json& taint : *taints) {
      std::string effect = api::GetString(taint, {"effect"});
      if (effect != "NoExecute" &&
          (effect != "NoSchedule" || already_running)) {
        continue;
      }
      bool tolerated = false;
      for (const Json& t : tolerations)
        tolerated = tolerated || Tolerates(t, taint);
      if (!tolerated) return false;
    }
  }
  return true;
}

DaemonSetController::DaemonSetController(
    client::Interface& client, client::SharedInformerFactory& informers,
    DaemonSetControllerOptions options)
    : client_(client),
      sets_(informers.For(kDaemonSetsRef)),
      nodes_(informers.For(kNodesRef)),
      pods_(informers.For(kPodsRef)),
      revisions_(informers.For(kControllerRevisionsRef)),
      options_(options),
      clock_(options.clock != nullptr ? *options.clock : RealClock()),
      expectations_(clock_),
      queue_(std::make_unique<client::WorkQueue>("daemonset", clock_)) {
  client::EventHandlers ds;
  ds.on_add = [this](const Json& o) { queue_->Add(client::KeyOf(o)); };
  ds.on_update = [this](const Json&, const Json& o) {
    queue_->Add(client::KeyOf(o));
  };
  ds.on_delete = [this](const Json& o) {
    expectations_.Forget(client::KeyOf(o));
  };
  sets_.AddEventHandler(std::move(ds));
  client::EventHandlers nodes;
  nodes.on_add = [this](const Json&) { EnqueueAll(); };
  nodes.on_update = [this](const Json& old, const Json& n) {
    if (api::Labels(old) != api::Labels(n) ||
        api::FieldPath(old, {"spec"}) == nullptr ||
        *api::FieldPath(old, {"spec"}) != *api::FieldPath(n, {"spec"}) ||
        api::Has(old, {"metadata", "deletionTimestamp"}) !=
            api::Has(n, {"metadata", "deletionTimestamp"})) {
      EnqueueAll();
    }
  };
  nodes.on_delete = [this](const Json&) { EnqueueAll(); };
  nodes_.AddEventHandler(std::move(nodes));
  client::EventHandlers pods;
  pods.on_add = [this](const Json& p) { OnPod(p, PodEvent::kAdded); };
  pods.on_update = [this](const Json& old, const Json& p) {
    if (old != p) OnPod(p, PodEvent::kUpdated);
  };
  pods.on_delete = [this](const Json& p) { OnPod(p, PodEvent::kDeleted); };
  pods_.AddEventHandler(std::move(pods));
}

DaemonSetController::~DaemonSetController() { Stop(); }

Status DaemonSetController::Start() {
  if (started_) return FailedPreconditionError("daemonset controller started");
  started_ = true;
  for (int i = 0; i < std::max(1, options_.workers); ++i) {
    workers_.emplace_back([this] { Worker(); });
  }
  return Status::Ok();
}

void DaemonSetController::Stop() {
  queue_->ShutDown();
  for (std::thread& t : workers_) {
    if (t.joinable()) t.join();
  }
  workers_.clear();
}

void DaemonSetController::EnqueueAll() {
  for (const std::string& k : sets_.ListKeys()) queue_->Add(k);
}

void DaemonSetController::OnPod(const Json& pod, PodEvent ev) {
  const Json* ref = ControllerRef(pod);
  if (ref == nullptr || api::GetString(*ref, {"kind"}) != "DaemonSet") return;
  std::string key = api::Namespace(pod) + "/" + api::GetString(*ref, {"name"});
  if (ev == PodEvent::kAdded && !IsPodTerminating(pod)) {
    expectations_.CreationObserved(key);
  } else if (ev == PodEvent::kDeleted || IsPodTerminating(pod)) {
    expectations_.DeletionObserved(key, client::KeyOf(pod));
  }
  queue_->Add(key);
}

void DaemonSetController::Worker() {
  while (!queue_->ShuttingDown() &&
         !(sets_.WaitForSync(std::chrono::milliseconds(200)) &&
           nodes_.WaitForSync(std::chrono::milliseconds(200)) &&
           pods_.WaitForSync(std::chrono::milliseconds(200)) &&
           revisions_.WaitForSync(std::chrono::milliseconds(200)))) {
  }
  while (std::optional<std::string> key = queue_->Get()) {
    Status s = Sync(*key);
    if (s.ok()) {
      queue_->Forget(*key);
    } else {
      log::Debug(kComponent, "sync failed")("daemonset", *key)("error",
                                                               s.ToString());
      queue_->AddRateLimited(*key);
    }
    queue_->Done(*key);
  }
}

Status DaemonSetController::Sync(const std::string& key) {
  std::shared_ptr<const Json> cached = sets_.Get(key);
  if (cached == nullptr) {
    expectations_.Forget(key);
    return Status::Ok();
  }
  const Json& ds = *cached;
  const std::string ns = api::Namespace(ds);
  const Json* tmpl = api::FieldPath(ds, {"spec", "template"});
  if (tmpl == nullptr) return Status::Ok();
  const Json pod_spec = tmpl->value("spec", Json::object());
  const std::string hash = ShortHash(tmpl->dump());
  if (!api::Has(ds, {"metadata", "deletionTimestamp"})) {
    auto rev = EnsureControllerRevision(client_, revisions_, ds, "DaemonSet",
                                        *tmpl, hash);
    if (!rev.ok()) return rev.status();
  }
  const int64_t min_ready = api::GetInt(ds, {"spec", "minReadySeconds"});
  api::Time now = clock_.Now();

  // The pods it controls, by node.
  std::vector<std::shared_ptr<const Json>> candidates = pods_.ListNamespace(ns);
  std::vector<Json> owned =
      ClaimObjects(client_, kPodsRef, ds, "apps/v1", "DaemonSet", candidates);
  std::map<std::string, std::vector<Json>> by_node;
  for (Json& p : owned) {
    if (IsPodTerminating(p)) continue;
    by_node[api::GetString(p, {"spec", "nodeName"})].push_back(std::move(p));
  }

  std::vector<std::string> create_on;
  std::vector<Json> to_delete;
  int64_t desired = 0, current = 0, misscheduled = 0, ready = 0, updated = 0,
          available = 0;
  std::vector<Json> old_available, old_unavailable;
  int64_t unavailable_nodes = 0;
  for (const auto& node : nodes_.List()) {
    std::string name = api::Name(*node);
    bool fits = DaemonPodFitsNode(pod_spec, *node);
    auto it = by_node.find(name);
    std::vector<Json> pods;
    if (it != by_node.end()) {
      pods = std::move(it->second);
      by_node.erase(it);
    }
    if (!fits) {
      // Kept where only a NoSchedule taint now stands in the way.
      if (!pods.empty() && DaemonPodFitsNode(pod_spec, *node, true)) continue;
      if (!pods.empty()) ++misscheduled;
      for (Json& p : pods) to_delete.push_back(std::move(p));
      continue;
    }
    ++desired;
    // Failed pods go; the next pass creates a fresh one.
    std::vector<Json> live;
    bool failed = false;
    for (Json& p : pods) {
      if (api::GetString(p, {"status", "phase"}) == "Failed") {
        to_delete.push_back(std::move(p));
        failed = true;
      } else {
        live.push_back(std::move(p));
      }
    }
    if (live.empty()) {
      if (!failed) create_on.push_back(name);
      ++unavailable_nodes;
      continue;
    }
    ++current;
    std::sort(live.begin(), live.end(), [](const Json& a, const Json& b) {
      return api::GetString(a, {"metadata", "creationTimestamp"}) <
             api::GetString(b, {"metadata", "creationTimestamp"});
    });
    // Keep the oldest; extras go.
    for (size_t i = 1; i < live.size(); ++i) to_delete.push_back(live[i]);
    const Json& p = live[0];
    bool is_new = api::GetString(p, {"metadata", "labels", kHashLabel}) == hash;
    bool avail = IsPodAvailable(p, min_ready, now);
    if (IsPodReady(p)) ++ready;
    if (avail) ++available;
    if (is_new) ++updated;
    if (!avail) ++unavailable_nodes;
    if (!is_new) (avail ? old_available : old_unavailable).push_back(p);
  }
  // Pods on nodes that no longer exist.
  for (auto& [node, pods] : by_node) {
    for (Json& p : pods) to_delete.push_back(std::move(p));
  }

  bool rolling = api::GetString(ds, {"spec", "updateStrategy", "type"},
                                "RollingUpdate") == "RollingUpdate";
  if (rolling) {
    for (Json& p : old_unavailable) to_delete.push_back(p);
    int64_t budget = ResolveMaxUnavailable(ds, desired) - unavailable_nodes;
    for (Json& p : old_available) {
      if (budget <= 0) break;
      to_delete.push_back(p);
      --budget;
    }
  }

  Status result = Status::Ok();
  if (expectations_.Satisfied(key) &&
      !api::Has(ds, {"metadata", "deletionTimestamp"})) {
    Json ref = MakeControllerRef(ds, "apps/v1", "DaemonSet");
    Json tmpl_with_hash = *tmpl;
    Json& labels =
        api::Ensure(api::Ensure(tmpl_with_hash, "metadata"), "labels");
    labels[kHashLabel] = hash;
    labels["pod-template-generation"] =
        std::to_string(api::GetInt(ds, {"metadata", "generation"}));
    Json& spec = api::Ensure(tmpl_with_hash, "spec");
    spec["tolerations"] = DefaultTolerations(spec);
    expectations_.ExpectCreations(key, static_cast<int>(create_on.size()));
    for (const std::string& node : create_on) {
      Json pod =
          PodFromTemplate(tmpl_with_hash, ns, ref, "", api::Name(ds) + "-");
      pod["spec"]["nodeName"] = node;
      auto r = client_.Create(kPodsRef.In(ns), pod, {});
      if (!r.ok()) expectations_.CreationObserved(key);  // never seen
      if (r.ok()) {
        RecordEvent(client_, clock_, ds, kComponent, "Normal",
                    "SuccessfulCreate", "Created pod: " + api::Name(*r));
      } else if (result.ok()) {
        result = r.status();
        RecordEvent(client_, clock_, ds, kComponent, "Warning", "FailedCreate",
                    "Error creating: " + r.status().message());
      }
    }
    for (const Json& p : to_delete) {
      expectations_.ExpectDeletion(key, client::KeyOf(p));
      auto r = client_.Delete(kPodsRef.In(ns), api::Name(p), {});
      if (r.ok()) {
        RecordEvent(client_, clock_, ds, kComponent, "Normal",
                    "SuccessfulDelete", "Deleted pod: " + api::Name(p));
      } else {
        expectations_.DeletionObserved(key, client::KeyOf(p));
        if (r.status().code() != Code::kNotFound && result.ok()) {
          result = r.status();
        }
      }
    }
  }

  Json status = ds.value("status", Json::object());
  if (!status.is_object()) status = Json::object();
  Json old_status = status;
  status["desiredNumberScheduled"] = desired;
  status["currentNumberScheduled"] = current;
  status["numberMisscheduled"] = misscheduled;
  status["numberReady"] = ready;
  status["updatedNumberScheduled"] = updated;
  status["numberAvailable"] = available;
  status["numberUnavailable"] = std::max<int64_t>(0, desired - available);
  status["observedGeneration"] = api::GetInt(ds, {"metadata", "generation"});
  if (min_ready > 0 && ready > available) {
    queue_->AddAfter(key, std::chrono::seconds(1));
  }
  if (status != old_status) {
    Status s = UpdateStatus(ds, status);
    if (result.ok()) result = s;
  }
  if (result.ok()) {
    // Revisions some pod still runs stay, as does the template's own.
    std::set<std::string> keep = {api::Name(ds) + "-" + hash};
    for (const auto& p : candidates) {
      std::string h = api::GetString(*p, {"metadata", "labels", kHashLabel});
      if (!h.empty()) keep.insert(api::Name(ds) + "-" + h);
    }
    result = CleanupControllerRevisions(client_, revisions_, ds, keep);
  }
  return result;
}

Status DaemonSetController::UpdateStatus(const Json& ds, const Json& status) {
  Json updated = ds;
  updated["status"] = status;
  auto r = client_.Update(kDaemonSetsRef.In(api::Namespace(ds)), updated,
                          {.subresource = "status"});
  if (r.status().code() == Code::kNotFound) return Status::Ok();
  return r.status();
}

}  // namespace kite::controllers

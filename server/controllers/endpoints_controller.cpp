#include "server/controllers/endpoints_controller.h"

#include <algorithm>
#include <map>
#include <utility>

#include "api/object.h"
#include "common/log.h"

namespace kite::controllers {
namespace {

using client::Json;

const client::ResourceRef kServices{"", "v1", "services", ""};
const client::ResourceRef kPods{"", "v1", "pods", ""};
const client::ResourceRef kEndpoints{"", "v1", "endpoints", ""};
const client::ResourceRef kSlices{"discovery.k8s.io", "v1", "endpointslices",
                                  ""};
constexpr char kServiceNameLabel[] = "kubernetes.io/service-name";
constexpr char kManagedByLabel[] = "endpointslice.kubernetes.io/managed-by";
constexpr char kHeadlessLabel[] = "service.kubernetes.io/headless";

bool PodReady(const Json& pod) {
  const Json* conds = api::FieldPath(pod, {"status", "conditions"});
  if (conds == nullptr || !conds->is_array()) return false;
  for (const Json& c : *conds) {
    if (api::GetString(c, {"type"}) == "Ready") {
      return api::GetString(c, {"status"}) == "True";
    }
  }
  return false;
}

// The Service's selector matches the pod's labels (equality on every key;
// an empty selector matches nothing here: such Services are skipped).
bool Selects(const Json& svc, const Json& pod) {
  const Json* sel = api::FieldPath(svc, {"spec", "selector"});
  if (sel == nullptr || !sel->is_object() || sel->empty()) return false;
  const Json* labels = api::FieldPath(pod, {"metadata", "labels"});
  if (labels == nullptr || !labels->is_object()) return false;
  for (const auto& [k, v] : sel->items()) {
    auto it = labels->find(k);
    if (it == labels->end() || *it != v) return false;
  }
  return true;
}

bool Managed(const Json& svc) {
  if (api::Namespace(svc) == "default" && api::Name(svc) == "kubernetes") {
    return false;
  }
  const Json* sel = api::FieldPath(svc, {"spec", "selector"});
  return sel != nullptr && sel->is_object() && !sel->empty();
}

// The container port a service port targets on `pod`; nullopt when the
// named port is not there.
std::optional<int64_t> TargetPort(const Json& sp, const Json& pod) {
  const Json* tp = api::Field(sp, "targetPort");
  if (tp == nullptr || tp->is_null()) return api::GetInt(sp, {"port"});
  if (tp->is_number_integer()) return tp->get<int64_t>();
  if (!tp->is_string()) return std::nullopt;
  const std::string& want = tp->get_ref<const std::string&>();
  if (!want.empty() && std::all_of(want.begin(), want.end(), ::isdigit)) {
    return std::stoll(want);
  }
  std::string proto = api::GetString(sp, {"protocol"}, "TCP");
  const Json* containers = api::FieldPath(pod, {"spec", "containers"});
  if (containers == nullptr || !containers->is_array()) return std::nullopt;
  for (const Json& c : *containers) {
    const Json* ports = api::Field(c, "ports");
    if (ports == nullptr || !ports->is_array()) continue;
    for (const Json& p : *ports) {
      if (api::GetString(p, {"name"}) == want &&
          api::GetString(p, {"protocol"}, "TCP") == proto) {
        return api::GetInt(p, {"containerPort"});
      }
    }
  }
  return std::nullopt;
}

struct PodEndpoint {
  Json pod;
  std::string ip;
  bool ready = false;
  bool serving = false;
  bool terminating = false;
  Json ports = Json::array();  // [{name, port, protocol[, appProtocol]}]
};

Json TargetRef(const Json& pod) {
  return {{"kind", "Pod"},
          {"namespace", api::Namespace(pod)},
          {"name", api::Name(pod)},
          {"uid", api::GetString(pod, {"metadata", "uid"})}};
}

std::string Hostname(const Json& svc, const Json& pod) {
  std::string host = api::GetString(pod, {"spec", "hostname"});
  if (!host.empty() &&
      api::GetString(pod, {"spec", "subdomain"}) == api::Name(svc)) {
    return host;
  }
  return "";
}

bool Headless(const Json& svc) {
  return api::GetString(svc, {"spec", "clusterIP"}) == "None";
}

Json ServiceLabels(const Json& svc) {
  Json labels = Json::object();
  if (const Json* l = api::FieldPath(svc, {"metadata", "labels"});
      l != nullptr && l->is_object()) {
    labels = *l;
  }
  if (Headless(svc)) labels[kHeadlessLabel] = "";
  return labels;
}

}  // namespace

EndpointsController::EndpointsController(
    client::Interface& client, client::SharedInformerFactory& informers,
    EndpointsControllerOptions options)
    : client_(client),
      options_(options),
      clock_(options.clock != nullptr ? *options.clock : RealClock()),
      services_(informers.For(kServices)),
      pods_(informers.For(kPods)),
      slices_(informers.For(kSlices)),
      queue_(std::make_unique<client::WorkQueue>("endpoints", clock_)) {
  client::EventHandlers sh;
  sh.on_add = [this](const Json& s) { queue_->Add(client::KeyOf(s)); };
  sh.on_update = [this](const Json&, const Json& s) {
    queue_->Add(client::KeyOf(s));
  };
  sh.on_delete = [this](const Json& s) { queue_->Add(client::KeyOf(s)); };
  services_.AddEventHandler(std::move(sh));

  client::EventHandlers ph;
  ph.on_add = [this](const Json& p) { EnqueueServicesOf(p); };
  ph.on_update = [this](const Json& old_pod, const Json& p) {
    EnqueueServicesOf(old_pod);
    EnqueueServicesOf(p);
  };
  ph.on_delete = [this](const Json& p) { EnqueueServicesOf(p); };
  pods_.AddEventHandler(std::move(ph));

  // Someone else changed or removed one of our slices: put it right.
  auto slice_owner = [this](const Json& s) {
    const Json* l = api::FieldPath(s, {"metadata", "labels"});
    if (l == nullptr || !l->is_object()) return;
    if (api::GetString(*l, {kManagedByLabel}) != kManagedBy) return;
    std::string svc = api::GetString(*l, {kServiceNameLabel});
    if (!svc.empty()) queue_->Add(api::Namespace(s) + "/" + svc);
  };
  client::EventHandlers lh;
  lh.on_update = [slice_owner](const Json&, const Json& s) { slice_owner(s); };
  lh.on_delete = slice_owner;
  slices_.AddEventHandler(std::move(lh));
}

EndpointsController::~EndpointsController() { Stop(); }

Status EndpointsController::Start() {
  if (started_) return FailedPreconditionError("endpoints controller started");
  started_ = true;
  for (int i = 0; i < std::max(1, options_.workers); ++i) {
    workers_.emplace_back([this] { Worker(); });
  }
  return Status::Ok();
}

void EndpointsController::Stop() {
  queue_->ShutDown();
  for (std::thread& t : workers_) {
    if (t.joinable()) t.join();
  }
  workers_.clear();
}

void EndpointsController::EnqueueServicesOf(const Json& pod) {
  for (const auto& svc : services_.ListNamespace(api::Namespace(pod))) {
    if (Selects(*svc, pod)) queue_->Add(client::KeyOf(*svc));
  }
}

void EndpointsController::Worker() {
  while (!queue_->ShuttingDown() &&
         !(services_.WaitForSync(std::chrono::milliseconds(100)) &&
           pods_.WaitForSync(std::chrono::milliseconds(100)) &&
           slices_.WaitForSync(std::chrono::milliseconds(100)))) {
  }
  while (std::optional<std::string> key = queue_->Get()) {
    Status s = Sync(*key);
    if (s.ok()) {
      queue_->Forget(*key);
    } else {
      log::Warn("endpoints-controller", "sync failed")("service", *key)(
          "error", s.ToString());
      queue_->AddRateLimited(*key);
    }
    queue_->Done(*key);
  }
}

Status EndpointsController::Sync(const std::string& key) {
  auto [ns, name] = client::SplitKey(key);
  std::shared_ptr<const Json> cached = services_.Get(key);
  if (cached == nullptr) {
    if (ns == "default" && name == "kubernetes") return Status::Ok();
    // The Service is gone: so are its Endpoints (slices follow through
    // their ownerReference; delete ours now anyway).
    auto r = client_.Delete(kEndpoints.In(ns), name, {});
    if (!r.ok() && r.status().code() != Code::kNotFound) return r.status();
    for (const auto& s : slices_.ListNamespace(ns)) {
      const Json* l = api::FieldPath(*s, {"metadata", "labels"});
      if (l == nullptr || api::GetString(*l, {kServiceNameLabel}) != name ||
          api::GetString(*l, {kManagedByLabel}) != kManagedBy) {
        continue;
      }
      auto d = client_.Delete(kSlices.In(ns), api::Name(*s), {});
      if (!d.ok() && d.status().code() != Code::kNotFound) return d.status();
    }
    return Status::Ok();
  }
  const Json& svc = *cached;
  if (!Managed(svc)) return Status::Ok();
  bool publish_not_ready =
      api::GetBool(svc, {"spec", "publishNotReadyAddresses"});
  const Json* svc_ports = api::FieldPath(svc, {"spec", "ports"});

  std::vector<PodEndpoint> eps;
  for (const auto& p : pods_.ListNamespace(ns)) {
    if (!Selects(svc, *p)) continue;
    std::string ip = api::GetString(*p, {"status", "podIP"});
    std::string phase = api::GetString(*p, {"status", "phase"});
    if (ip.empty() || phase == "Succeeded" || phase == "Failed") continue;
    PodEndpoint e;
    e.pod = *p;
    e.ip = ip;
    e.terminating = api::Has(*p, {"metadata", "deletionTimestamp"});
    e.serving = publish_not_ready || PodReady(*p);
    e.ready = e.serving && !e.terminating;
    if (svc_ports != nullptr && svc_ports->is_array()) {
      for (const Json& sp : *svc_ports) {
        std::optional<int64_t> port = TargetPort(sp, *p);
        if (!port) continue;
        Json ep = {{"name", api::GetString(sp, {"name"})},
                   {"port", *port},
                   {"protocol", api::GetString(sp, {"protocol"}, "TCP")}};
        if (api::Has(sp, {"appProtocol"}))
          ep["appProtocol"] = sp["appProtocol"];
        e.ports.push_back(std::move(ep));
      }
    }
    // A Service with ports needs at least one on the pod (headless ones
    // without ports list bare addresses).
    bool has_ports =
        svc_ports != nullptr && svc_ports->is_array() && !svc_ports->empty();
    if (has_ports && e.ports.empty()) continue;
    eps.push_back(std::move(e));
  }
  std::sort(
      eps.begin(), eps.end(), [](const PodEndpoint& a, const PodEndpoint& b) {
        return a.ip != b.ip ? a.ip < b.ip : api::Name(a.pod) < api::Name(b.pod);
      });

  // Endpoints: one subset per port set.
  std::map<std::string, Json> subsets;  // ports dump -> subset
  for (const PodEndpoint& e : eps) {
    if (e.terminating && !publish_not_ready) continue;
    Json& sub = subsets[e.ports.dump()];
    Json addr = {{"ip", e.ip}, {"targetRef", TargetRef(e.pod)}};
    std::string node = api::GetString(e.pod, {"spec", "nodeName"});
    if (!node.empty()) addr["nodeName"] = node;
    std::string host = Hostname(svc, e.pod);
    if (!host.empty()) addr["hostname"] = host;
    sub[e.ready ? "addresses" : "notReadyAddresses"].push_back(std::move(addr));
    if (!e.ports.empty()) {
      Json ports = e.ports;
      for (Json& p : ports) {
        if (p["name"] == "") p.erase("name");
      }
      sub["ports"] = std::move(ports);
    }
  }
  Json subset_list = Json::array();
  for (auto& [k, sub] : subsets) subset_list.push_back(std::move(sub));
  KITE_RETURN_IF_ERROR(SyncEndpoints(svc, subset_list));

  // EndpointSlices: per port set, chunks of max_endpoints_per_slice.
  std::map<std::string, std::vector<const PodEndpoint*>> by_ports;
  for (const PodEndpoint& e : eps) by_ports[e.ports.dump()].push_back(&e);
  std::vector<Json> slices;
  for (const auto& [ports_dump, members] : by_ports) {
    Json ports = Json::parse(ports_dump);
    size_t per =
        static_cast<size_t>(std::max(1, options_.max_endpoints_per_slice));
    for (size_t i = 0; i < members.size(); i += per) {
      Json slice = {{"addressType", "IPv4"},
                    {"ports", ports},
                    {"endpoints", Json::array()}};
      for (size_t j = i; j < std::min(members.size(), i + per); ++j) {
        const PodEndpoint& e = *members[j];
        Json ep = {{"addresses", Json::array({e.ip})},
                   {"conditions",
                    {{"ready", e.ready},
                     {"serving", e.serving},
                     {"terminating", e.terminating}}},
                   {"targetRef", TargetRef(e.pod)}};
        std::string node = api::GetString(e.pod, {"spec", "nodeName"});
        if (!node.empty()) ep["nodeName"] = node;
        std::string host = Hostname(svc, e.pod);
        if (!host.empty()) ep["hostname"] = host;
        slice["endpoints"].push_back(std::move(ep));
      }
      slices.push_back(std::move(slice));
    }
  }
  if (slices.empty()) {
    // No endpoints: one empty slice (a placeholder, as Kubernetes keeps).
    slices.push_back({{"addressType", "IPv4"},
                      {"ports", Json::array()},
                      {"endpoints", Json::array()}});
  }
  return SyncSlices(svc, slices);
}

Status EndpointsController::SyncEndpoints(const Json& svc,
                                          const Json& subsets) {
  std::string ns = api::Namespace(svc), name = api::Name(svc);
  Json labels = ServiceLabels(svc);
  StatusOr<Json> cur = client_.Get(kEndpoints.In(ns), name, {});
  if (!cur.ok() && cur.status().code() != Code::kNotFound) return cur.status();
  if (!cur.ok()) {
    Json ep = {
        {"apiVersion", "v1"},
        {"kind", "Endpoints"},
        {"metadata", {{"name", name}, {"namespace", ns}, {"labels", labels}}}};
    if (!subsets.empty()) ep["subsets"] = subsets;
    auto r = client_.Create(kEndpoints.In(ns), ep, {});
    if (!r.ok() && r.status().code() != Code::kAlreadyExists) {
      return r.status();
    }
    return r.ok() ? Status::Ok() : UnavailableError("endpoints raced");
  }
  Json ep = std::move(cur).value();
  const Json* old_subsets = api::Field(ep, "subsets");
  bool same_subsets = old_subsets == nullptr || old_subsets->is_null()
                          ? subsets.empty()
                          : *old_subsets == subsets;
  const Json* old_labels = api::FieldPath(ep, {"metadata", "labels"});
  bool same_labels = old_labels == nullptr || old_labels->is_null()
                         ? labels.empty()
                         : *old_labels == labels;
  if (same_subsets && same_labels) return Status::Ok();
  if (subsets.empty()) {
    ep.erase("subsets");
  } else {
    ep["subsets"] = subsets;
  }
  if (labels.empty()) {
    ep["metadata"].erase("labels");
  } else {
    ep["metadata"]["labels"] = labels;
  }
  auto r = client_.Update(kEndpoints.In(ns), ep, {});
  return r.ok() ? Status::Ok() : r.status();
}

Status EndpointsController::SyncSlices(const Json& svc,
                                       const std::vector<Json>& desired) {
  std::string ns = api::Namespace(svc), name = api::Name(svc);
  Json labels = ServiceLabels(svc);
  labels[kServiceNameLabel] = name;
  labels[kManagedByLabel] = kManagedBy;
  Json owner = {
      {"apiVersion", "v1"}, {"kind", "Service"},
      {"name", name},       {"uid", api::GetString(svc, {"metadata", "uid"})},
      {"controller", true}, {"blockOwnerDeletion", true}};
  // Read live, not from the cache: a slice created by the last sync may
  // not be cached yet, and must not be created twice.
  client::ListOptions lo;
  lo.label_selector = std::string(kServiceNameLabel) + "=" + name + "," +
                      kManagedByLabel + "=" + kManagedBy;
  KITE_ASSIGN_OR_RETURN(Json list, client_.List(kSlices.In(ns), lo));
  std::vector<Json> existing;
  if (const Json* items = api::Field(list, "items");
      items != nullptr && items->is_array()) {
    for (const Json& s : *items) {
      if (!api::Has(s, {"metadata", "deletionTimestamp"})) {
        existing.push_back(s);
      }
    }
  }
  std::vector<bool> used(existing.size(), false);
  auto content_equal = [&](const Json& have, const Json& want) {
    auto field = [](const Json& j, const char* k) {
      const Json* v = api::Field(j, k);
      return v == nullptr || v->is_null() ? Json::array() : *v;
    };
    const Json* hl = api::FieldPath(have, {"metadata", "labels"});
    return field(have, "endpoints") == field(want, "endpoints") &&
           field(have, "ports") == field(want, "ports") &&
           api::GetString(have, {"addressType"}) == "IPv4" && hl != nullptr &&
           *hl == labels;
  };
  std::vector<const Json*> to_place;
  // Reuse slices that already hold exactly what is wanted.
  for (const Json& want : desired) {
    bool placed = false;
    for (size_t i = 0; i < existing.size() && !placed; ++i) {
      if (!used[i] && content_equal(existing[i], want)) {
        used[i] = placed = true;
      }
    }
    if (!placed) to_place.push_back(&want);
  }
  for (const Json* want : to_place) {
    size_t i = 0;
    while (i < existing.size() && used[i]) ++i;
    if (i < existing.size()) {
      used[i] = true;
      Json s = existing[i];
      s["endpoints"] = (*want)["endpoints"];
      s["ports"] = (*want)["ports"];
      s["metadata"]["labels"] = labels;
      auto r = client_.Update(kSlices.In(ns), s, {});
      if (!r.ok()) return r.status();
      continue;
    }
    Json s = *want;
    s["apiVersion"] = "discovery.k8s.io/v1";
    s["kind"] = "EndpointSlice";
    s["metadata"] = {{"generateName", name + "-"},
                     {"namespace", ns},
                     {"labels", labels},
                     {"ownerReferences", Json::array({owner})}};
    auto r = client_.Create(kSlices.In(ns), s, {});
    if (!r.ok()) return r.status();
  }
  for (size_t i = 0; i < existing.size(); ++i) {
    if (used[i]) continue;
    auto r = client_.Delete(kSlices.In(ns), api::Name(existing[i]), {});
    if (!r.ok() && r.status().code() != Code::kNotFound) return r.status();
  }
  return Status::Ok();
}

}  // namespace kite::controllers

#include "server/controllers/servicelb_controller.h"

#include <algorithm>
#include <set>
#include <tuple>
#include <utility>

#include "api/object.h"
#include "common/log.h"
#include "server/controllers/workload.h"

namespace kite::controllers {
namespace {

using client::Json;

const client::ResourceRef kServices{"", "v1", "services", ""};
// One key for everything: a pass covers all Services.
constexpr char kKey[] = "all";

bool IsReady(const Json& node) {
  const Json* c = FindCondition(node, "Ready");
  return c != nullptr && api::GetString(*c, {"status"}) == "True";
}

// What of a node the addresses depend on; a node update that leaves it
// alone (a heartbeat) needs no pass.
std::string NodeSignature(const Json& node) {
  std::map<std::string, std::string> labels = api::Labels(node);
  std::string sig = IsReady(node) ? "R" : "-";
  sig += labels.count(ServiceLbController::kExcludeLabel) ? "X" : "-";
  auto it = labels.find(ServiceLbController::kEnableLbLabel);
  sig += it == labels.end() ? "-" : "E" + it->second;
  if (const Json* a = api::FieldPath(node, {"status", "addresses"})) {
    sig += a->dump();
  }
  return sig;
}

bool Managed(const Json& svc) {
  return api::GetString(svc, {"spec", "type"}) == "LoadBalancer" &&
         api::GetString(svc, {"spec", "loadBalancerClass"}).empty();
}

std::string KeyOf(const Json& obj) {
  return api::Namespace(obj) + "/" + api::Name(obj);
}

Json IngressOf(const std::vector<std::string>& ips) {
  Json out = Json::array();
  for (const std::string& ip : ips) {
    out.push_back({{"ip", ip}, {"ipMode", "VIP"}});
  }
  return out;
}

// The addresses of the Service's spec.ipFamilies (IPv4, IPv6); all of them
// when it names none.
std::vector<std::string> OfFamilies(const Json& svc,
                                    const std::vector<std::string>& ips) {
  const Json* fams = api::FieldPath(svc, {"spec", "ipFamilies"});
  if (fams == nullptr || !fams->is_array() || fams->empty()) return ips;
  bool v4 = false, v6 = false;
  for (const Json& f : *fams) {
    if (f == "IPv4") v4 = true;
    if (f == "IPv6") v6 = true;
  }
  std::vector<std::string> out;
  for (const std::string& ip : ips) {
    bool is_v6 = ip.find(':') != std::string::npos;
    if (is_v6 ? v6 : v4) out.push_back(ip);
  }
  return out;
}

Json CurrentIngress(const Json& svc) {
  const Json* in = api::FieldPath(svc, {"status", "loadBalancer", "ingress"});
  return in != nullptr && in->is_array() ? *in : Json::array();
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

ServiceLbController::ServiceLbController(
    client::Interface& client, client::SharedInformerFactory& informers,
    ServiceLbControllerOptions options)
    : client_(client),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : RealClock()),
      services_(informers.For(kServices)),
      nodes_(informers.For(kNodesRef)),
      queue_(std::make_unique<client::WorkQueue>("service-lb", clock_)) {
  client::EventHandlers s;
  s.on_add = [this](const Json&) { Enqueue(); };
  s.on_update = [this](const Json&, const Json&) { Enqueue(); };
  s.on_delete = [this](const Json&) { Enqueue(); };
  services_.AddEventHandler(std::move(s));
  client::EventHandlers n;
  n.on_add = [this](const Json&) { Enqueue(); };
  n.on_update = [this](const Json& old, const Json& cur) {
    if (NodeSignature(old) != NodeSignature(cur)) Enqueue();
  };
  n.on_delete = [this](const Json&) { Enqueue(); };
  nodes_.AddEventHandler(std::move(n));
}

ServiceLbController::~ServiceLbController() { Stop(); }

void ServiceLbController::Enqueue() { queue_->Add(kKey); }

Status ServiceLbController::Start() {
  if (started_) return FailedPreconditionError("service LB controller started");
  started_ = true;
  worker_ = std::thread([this] { Worker(); });
  return Status::Ok();
}

void ServiceLbController::Stop() {
  queue_->ShutDown();
  if (worker_.joinable()) worker_.join();
}

void ServiceLbController::Worker() {
  // The port assignment needs every Service, the addresses every Node.
  while (!queue_->ShuttingDown() &&
         !(services_.WaitForSync(std::chrono::milliseconds(100)) &&
           nodes_.WaitForSync(std::chrono::milliseconds(100)))) {
  }
  while (std::optional<std::string> key = queue_->Get()) {
    Status s = Sync();
    if (s.ok()) {
      queue_->Forget(*key);
    } else {
      log::Warn(kComponent, "sync failed")("error", s.ToString());
      queue_->AddRateLimited(*key);
    }
    queue_->Done(*key);
  }
}

std::vector<std::string> ServiceLbController::NodeAddresses(
    const std::vector<std::shared_ptr<const Json>>& nodes) {
  bool only_enabled = false;
  for (const auto& n : nodes) {
    std::map<std::string, std::string> labels = api::Labels(*n);
    auto it = labels.find(kEnableLbLabel);
    if (it != labels.end() && it->second == "true") only_enabled = true;
  }
  std::set<std::string> out;
  for (const auto& n : nodes) {
    if (!IsReady(*n)) continue;
    std::map<std::string, std::string> labels = api::Labels(*n);
    if (labels.count(kExcludeLabel)) continue;
    auto it = labels.find(kEnableLbLabel);
    if (only_enabled && (it == labels.end() || it->second != "true")) continue;
    std::vector<std::string> external, internal;
    if (const Json* as = api::FieldPath(*n, {"status", "addresses"});
        as != nullptr && as->is_array()) {
      for (const Json& a : *as) {
        std::string type = api::GetString(a, {"type"});
        std::string ip = api::GetString(a, {"address"});
        if (ip.empty()) continue;
        if (type == "ExternalIP") external.push_back(ip);
        if (type == "InternalIP") internal.push_back(ip);
      }
    }
    for (const std::string& ip : external.empty() ? internal : external) {
      out.insert(ip);
    }
  }
  return {out.begin(), out.end()};
}

Status ServiceLbController::Sync() {
  const std::vector<std::string> addresses = NodeAddresses(nodes_.List());
  std::vector<std::shared_ptr<const Json>> services = services_.List();
  // Oldest first: the first to ask for a port keeps it.
  std::sort(services.begin(), services.end(), [](const auto& a, const auto& b) {
    return std::make_tuple(
               api::GetString(*a, {"metadata", "creationTimestamp"}),
               api::Namespace(*a), api::Name(*a)) <
           std::make_tuple(
               api::GetString(*b, {"metadata", "creationTimestamp"}),
               api::Namespace(*b), api::Name(*b));
  });

  std::map<std::pair<int64_t, std::string>, std::string> held;  // -> "ns/name"
  Status first_error = Status::Ok();
  std::set<std::string> seen;
  for (const auto& sp : services) {
    const Json& svc = *sp;
    const std::string key = KeyOf(svc);
    seen.insert(key);
    Json desired;
    std::string conflict;  // why the Service is pending
    if (Managed(svc)) {
      std::vector<std::pair<int64_t, std::string>> wanted;
      if (const Json* ports = api::FieldPath(svc, {"spec", "ports"});
          ports != nullptr && ports->is_array()) {
        for (const Json& p : *ports) {
          std::pair<int64_t, std::string> pp{
              api::GetInt(p, {"port"}), api::GetString(p, {"protocol"}, "TCP")};
          wanted.push_back(pp);
          auto it = held.find(pp);
          if (conflict.empty() && it != held.end() && it->second != key) {
            conflict = "port " + std::to_string(pp.first) + "/" + pp.second +
                       " is already used by LoadBalancer Service " +
                       it->second + "; no ingress until it is free";
          }
        }
      }
      if (conflict.empty()) {
        for (const auto& pp : wanted) held.emplace(pp, key);
        desired = IngressOf(OfFamilies(svc, addresses));
      } else {
        desired = Json::array();
      }
    } else if (!api::GetString(svc, {"spec", "loadBalancerClass"}).empty() ||
               api::GetString(svc, {"spec", "type"}) == "LoadBalancer") {
      continue;  // another implementation's Service
    } else {
      // Not (or no longer) a LoadBalancer: no ingress.
      desired = Json::array();
    }

    if (conflict.empty()) {
      reported_.erase(key);
    } else if (reported_[key] != conflict) {
      reported_[key] = conflict;
      RecordEvent(client_, clock_, svc, kComponent, "Warning", "PortInUse",
                  conflict);
    }

    const Json current = CurrentIngress(svc);
    if (current == desired) continue;
    const Json* lb = api::FieldPath(svc, {"status", "loadBalancer"});
    if (desired.empty() && (lb == nullptr || lb->empty())) continue;
    Json patch = {{"status", {{"loadBalancer", Json::object()}}}};
    patch["status"]["loadBalancer"]["ingress"] =
        desired.empty() ? Json(nullptr) : desired;
    auto r = client_.Patch(kServices.In(api::Namespace(svc)), api::Name(svc),
                           client::PatchType::kMerge, patch.dump(),
                           {.subresource = "status"});
    if (!r.ok()) {
      if (r.status().code() == Code::kNotFound) continue;
      log::Warn(kComponent, "status not written")("service", key)(
          "error", r.status().ToString());
      if (first_error.ok()) first_error = r.status();
      continue;
    }
    std::vector<std::string> ips;
    for (const Json& i : desired) ips.push_back(api::GetString(i, {"ip"}));
    log::Info(kComponent, "ingress updated")("service", key)("ingress",
                                                             Join(ips));
    if (!ips.empty()) {
      RecordEvent(
          client_, clock_, svc, kComponent, "Normal", "UpdatedLoadBalancer",
          "LoadBalancer ingress set to the node addresses " + Join(ips));
    }
  }
  for (auto it = reported_.begin(); it != reported_.end();) {
    it = seen.count(it->first) ? std::next(it) : reported_.erase(it);
  }
  return first_error;
}

}  // namespace kite::controllers

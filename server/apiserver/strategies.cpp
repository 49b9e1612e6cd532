#include "server/apiserver/strategies.h"

#include <algorithm>
#include <set>

#include "api/field_error.h"
#include "api/object.h"
#include "common/log.h"

namespace kite::apiserver {

using api::Json;
using nlohmann::json;

namespace {

bool Is(const api::Kind& kind, std::string_view group, std::string_view name) {
  return kind.group == group && kind.kind == name;
}

constexpr int64_t kEventTtlSeconds = 3600;

bool HasToleration(const json& tolerations, std::string_view key) {
  if (!tolerations.is_array()) return false;
  for (const json& t : tolerations) {
    if (api::GetString(t, {"key"}) != key) continue;
    std::string effect = api::GetString(t, {"effect"});
    if (effect.empty() || effect == "NoExecute") return true;
  }
  return false;
}

}  // namespace

void Txn::Commit() {
  if (done_) return;
  done_ = true;
  for (auto& f : commit_) f();
  commit_.clear();
  abort_.clear();
}

void Txn::Abort() {
  if (done_) return;
  done_ = true;
  for (auto it = abort_.rbegin(); it != abort_.rend(); ++it) (*it)();
  commit_.clear();
  abort_.clear();
}

Strategies::Strategies(ObjectStore& store, api::Registry& registry,
                       ServiceAllocator& services)
    : store_(store), registry_(registry), services_(services) {}

ApiStatus Strategies::AdmitCreate(const api::Kind& kind, json& obj, Txn& txn) {
  if (Is(kind, "", "Service")) return AllocateService(kind, obj, nullptr, txn);
  if (Is(kind, "", "Pod")) return AdmitPod(kind, obj);
  return ApiStatus::Ok();
}

ApiStatus Strategies::AdmitUpdate(const api::Kind& kind, json& obj,
                                  const json& old, Txn& txn) {
  if (Is(kind, "", "Service")) return AllocateService(kind, obj, &old, txn);
  return ApiStatus::Ok();
}

int64_t Strategies::TtlSeconds(const api::Kind& kind) const {
  return kind.storage_resource == "events" && kind.kind == "Event"
             ? kEventTtlSeconds
             : 0;
}

ApiStatus Strategies::AllocateService(const api::Kind& kind, json& obj,
                                      const json* old, Txn& txn) {
  json& spec = api::Ensure(obj, "spec");
  std::string type = api::GetString(spec, {"type"}, "ClusterIP");
  std::vector<std::string> old_ips =
      old ? ServiceAllocator::IpsOf(*old) : std::vector<std::string>{};
  std::vector<int> old_ports =
      old ? ServiceAllocator::NodePortsOf(*old) : std::vector<int>{};
  auto had_ip = [&](const std::string& ip) {
    return std::find(old_ips.begin(), old_ips.end(), ip) != old_ips.end();
  };
  auto had_port = [&](int p) {
    return std::find(old_ports.begin(), old_ports.end(), p) != old_ports.end();
  };
  api::FieldErrors errs;

  if (type == "ExternalName") {
    // No cluster IP for ExternalName; a type change drops the old one.
    std::string ip = api::GetString(spec, {"clusterIP"});
    if (ip.empty() || had_ip(ip)) {
      spec.erase("clusterIP");
      spec.erase("clusterIPs");
      spec.erase("ipFamilies");
      spec.erase("ipFamilyPolicy");
    }
  } else {
    std::string ip = api::GetString(spec, {"clusterIP"});
    if (ip.empty()) {
      if (const json* ips = api::Field(spec, "clusterIPs");
          ips && ips->is_array() && !ips->empty() && (*ips)[0].is_string()) {
        ip = (*ips)[0].get<std::string>();
      }
    }
    if (ip == "None") {
      spec["clusterIP"] = "None";
      spec["clusterIPs"] = json::array({"None"});
    } else if (ip.empty()) {
      auto got = services_.AllocateIp();
      if (!got.ok()) return ApiError(got.status());
      std::string allocated = *got;
      txn.OnAbort(
          [this, allocated] { services_.ReleaseIp(allocated).IgnoreError(); });
      spec["clusterIP"] = allocated;
      spec["clusterIPs"] = json::array({allocated});
    } else if (!had_ip(ip)) {
      Status st = services_.AllocateIpExact(ip);
      if (!st.ok()) {
        if (st.code() != Code::kInvalidArgument &&
            st.code() != Code::kAlreadyExists)
          return ApiError(st);
        errs.push_back(api::InvalidRendered(
            "spec.clusterIPs", "[]string{" + api::GoQuote(ip) + "}",
            st.message()));
      } else {
        txn.OnAbort([this, ip] { services_.ReleaseIp(ip).IgnoreError(); });
      }
      spec["clusterIP"] = ip;
      if (!spec.contains("clusterIPs") || !spec["clusterIPs"].is_array() ||
          spec["clusterIPs"].empty()) {
        spec["clusterIPs"] = json::array({ip});
      }
    }
    if (!spec.contains("ipFamilies"))
      spec["ipFamilies"] = json::array({"IPv4"});
    if (!spec.contains("ipFamilyPolicy"))
      spec["ipFamilyPolicy"] = "SingleStack";
  }

  // NodePort and LoadBalancer Services have node ports: allocated for the
  // ports that have none, unless a LoadBalancer says
  // allocateLoadBalancerNodePorts: false (then only those the client names
  // or the Service already holds are kept and reserved).
  bool has_ports = type == "NodePort" || type == "LoadBalancer";
  bool needs_ports =
      type == "NodePort" ||
      (type == "LoadBalancer" &&
       api::GetBool(spec, {"allocateLoadBalancerNodePorts"}, true));
  if (json* ports = spec.contains("ports") && spec["ports"].is_array()
                        ? &spec["ports"]
                        : nullptr) {
    std::set<int> seen;
    for (size_t i = 0; i < ports->size(); ++i) {
      json& p = (*ports)[i];
      if (!p.is_object()) continue;
      int np = static_cast<int>(api::GetInt(p, {"nodePort"}));
      if (!has_ports) {
        if (np != 0 && had_port(np))
          p.erase("nodePort");  // type change drops them
        continue;
      }
      if (np == 0 && !needs_ports) continue;
      if (np == 0) {
        auto got = services_.AllocatePort();
        if (!got.ok()) return ApiError(got.status());
        int allocated = *got;
        txn.OnAbort([this, allocated] {
          services_.ReleasePort(allocated).IgnoreError();
        });
        p["nodePort"] = allocated;
        continue;
      }
      if (had_port(np) || seen.count(np)) {
        seen.insert(np);
        continue;  // kept, or the same port for two protocols
      }
      seen.insert(np);
      Status st = services_.AllocatePortExact(np);
      if (!st.ok()) {
        if (st.code() != Code::kInvalidArgument &&
            st.code() != Code::kAlreadyExists)
          return ApiError(st);
        errs.push_back(
            api::Invalid("spec.ports[" + std::to_string(i) + "].nodePort", np,
                         st.message()));
      } else {
        txn.OnAbort([this, np] { services_.ReleasePort(np).IgnoreError(); });
      }
    }
  }
  bool needs_health =
      type == "LoadBalancer" &&
      api::GetString(spec, {"externalTrafficPolicy"}) == "Local";
  const int hc = static_cast<int>(api::GetInt(spec, {"healthCheckNodePort"}));
  if (needs_health && hc == 0) {
    auto got = services_.AllocatePort();
    if (!got.ok()) return ApiError(got.status());
    int allocated = *got;
    txn.OnAbort(
        [this, allocated] { services_.ReleasePort(allocated).IgnoreError(); });
    spec["healthCheckNodePort"] = allocated;
  } else if (needs_health && !had_port(hc)) {
    // The client's own port: reserved like a nodePort, or refused.
    Status st = services_.AllocatePortExact(hc);
    if (!st.ok()) {
      if (st.code() != Code::kInvalidArgument &&
          st.code() != Code::kAlreadyExists)
        return ApiError(st);
      errs.push_back(
          api::Invalid("spec.healthCheckNodePort", hc, st.message()));
    } else {
      txn.OnAbort([this, hc] { services_.ReleasePort(hc).IgnoreError(); });
    }
  } else if (!needs_health && api::GetInt(spec, {"healthCheckNodePort"}) != 0 &&
             had_port(static_cast<int>(
                 api::GetInt(spec, {"healthCheckNodePort"})))) {
    spec.erase("healthCheckNodePort");
  }
  if (!errs.empty()) return Invalid(kind, api::Name(obj), errs);

  // What the old object held and the new one does not goes when the write
  // is stored.
  std::vector<std::string> new_ips = ServiceAllocator::IpsOf(obj);
  std::vector<int> new_ports = ServiceAllocator::NodePortsOf(obj);
  for (const std::string& ip : old_ips) {
    if (std::find(new_ips.begin(), new_ips.end(), ip) == new_ips.end()) {
      txn.OnCommit([this, ip] { services_.ReleaseIp(ip).IgnoreError(); });
    }
  }
  for (int p : old_ports) {
    if (std::find(new_ports.begin(), new_ports.end(), p) == new_ports.end()) {
      txn.OnCommit([this, p] { services_.ReleasePort(p).IgnoreError(); });
    }
  }
  return ApiStatus::Ok();
}

ApiStatus Strategies::AdmitPod(const api::Kind& kind, json& obj) {
  json& spec = api::Ensure(obj, "spec");
  if (api::GetString(spec, {"serviceAccountName"}).empty()) {
    std::string sa = api::GetString(spec, {"serviceAccount"}, "default");
    spec["serviceAccountName"] = sa;
  }
  spec["serviceAccount"] = spec["serviceAccountName"];

  std::string pc_name = api::GetString(spec, {"priorityClassName"});
  if (!pc_name.empty()) {
    auto pc_kind =
        registry_.Lookup("scheduling.k8s.io", "v1", "priorityclasses");
    auto pc = pc_kind ? store_.Get(*pc_kind, "", pc_name)
                      : StatusOr<StoredObject>(NotFoundError(""));
    if (!pc.ok()) {
      if (pc.status().code() != Code::kNotFound) return ApiError(pc.status());
      return Forbidden(kind, api::Name(obj),
                       "no PriorityClass with name " + pc_name + " was found");
    }
    spec["priority"] = api::GetInt(pc->object, {"value"});
    spec["preemptionPolicy"] = api::GetString(pc->object, {"preemptionPolicy"},
                                              "PreemptLowerPriority");
  } else {
    if (!spec.contains("priority")) spec["priority"] = 0;
    if (!spec.contains("preemptionPolicy"))
      spec["preemptionPolicy"] = "PreemptLowerPriority";
  }

  json& tolerations = spec["tolerations"];
  if (!tolerations.is_array()) tolerations = json::array();
  for (const char* key :
       {"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"}) {
    if (!HasToleration(tolerations, key)) {
      tolerations.push_back({{"key", key},
                             {"operator", "Exists"},
                             {"effect", "NoExecute"},
                             {"tolerationSeconds", 300}});
    }
  }
  return ApiStatus::Ok();
}

DeletePlan Strategies::PlanDelete(const api::Kind& kind, json& obj,
                                  std::optional<int64_t> requested) const {
  DeletePlan plan;
  if (Is(kind, "", "Pod")) {
    std::string phase = api::GetString(obj, {"status", "phase"});
    bool scheduled = !api::GetString(obj, {"spec", "nodeName"}).empty();
    int64_t grace = requested.value_or(
        api::GetInt(obj, {"spec", "terminationGracePeriodSeconds"}, 30));
    if (!scheduled || phase == "Succeeded" || phase == "Failed") grace = 0;
    if (grace < 0) grace = 0;
    plan.graceful = grace > 0;
    plan.grace_seconds = grace;
    return plan;
  }
  if (Is(kind, "", "Namespace")) {
    const json* fin = api::FieldPath(obj, {"spec", "finalizers"});
    if (fin && fin->is_array() && !fin->empty()) {
      api::Ensure(obj, "status")["phase"] = "Terminating";
      plan.graceful = true;
    }
  }
  return plan;
}

bool Strategies::ReadyToRemove(const api::Kind& kind, const json& obj) const {
  if (api::GetInt(obj, {"metadata", "deletionGracePeriodSeconds"}) > 0)
    return false;
  if (Is(kind, "", "Namespace")) {
    const json* fin = api::FieldPath(obj, {"spec", "finalizers"});
    if (fin && fin->is_array() && !fin->empty()) return false;
  }
  return true;
}

bool Strategies::AfterWrite(const api::Kind& kind, json& obj) {
  if (!Is(kind, "apiextensions.k8s.io", "CustomResourceDefinition"))
    return false;
  if (api::Has(obj, {"metadata", "deletionTimestamp"})) return false;
  Status st = registry_.ApplyCustomResourceDefinition(obj);
  json& status = api::Ensure(obj, "status");
  json conds = status.value("conditions", json::array());
  auto set_cond = [&](const std::string& type, bool ok,
                      const std::string& reason, const std::string& message) {
    json c = {{"type", type},
              {"status", ok ? "True" : "False"},
              {"reason", reason},
              {"message", message},
              {"lastTransitionTime",
               api::GetString(obj, {"metadata", "creationTimestamp"})}};
    for (json& old : conds) {
      if (api::GetString(old, {"type"}) == type) {
        if (api::GetString(old, {"status"}) == c["status"]) return false;
        old = c;
        return true;
      }
    }
    conds.push_back(c);
    return true;
  };
  bool changed = false;
  if (st.ok()) {
    changed |=
        set_cond("NamesAccepted", true, "NoConflicts", "no conflicts found");
    changed |= set_cond("Established", true, "InitialNamesAccepted",
                        "the initial names have been accepted");
    if (changed || !status.contains("acceptedNames")) {
      status["acceptedNames"] = api::FieldPath(obj, {"spec", "names"})
                                    ? obj["spec"]["names"]
                                    : json::object();
      changed = true;
    }
  } else {
    log::Warn("apiserver", "custom resource definition not served")(
        "name", api::Name(obj))("reason", st.message());
    changed |= set_cond("NamesAccepted", false, "NameConflict", st.message());
    changed |= set_cond("Established", false, "NotAccepted",
                        "not all names are accepted");
  }
  status["conditions"] = std::move(conds);
  return changed;
}

void Strategies::AfterDelete(const api::Kind& kind, const json& obj) {
  if (Is(kind, "", "Service")) {
    for (const std::string& ip : ServiceAllocator::IpsOf(obj))
      services_.ReleaseIp(ip).IgnoreError();
    for (int p : ServiceAllocator::NodePortsOf(obj))
      services_.ReleasePort(p).IgnoreError();
    return;
  }
  if (Is(kind, "apiextensions.k8s.io", "CustomResourceDefinition")) {
    std::string name = api::Name(obj);
    registry_.RemoveCustomResourceDefinition(name);
    DeleteCustomResources(name, obj);
  }
}

void Strategies::DeleteCustomResources(const std::string& crd_name,
                                       const json& crd) {
  std::string group = api::GetString(crd, {"spec", "group"});
  std::string plural = api::GetString(crd, {"spec", "names", "plural"});
  if (group.empty() || plural.empty()) return;
  std::string prefix = "/registry/" + group + "/" + plural + "/";
  datastore::ListOptions opts;
  opts.limit = 500;
  int deleted = 0;
  for (;;) {
    auto page = store_.backend().List(prefix, opts);
    if (!page.ok()) {
      log::Error("apiserver",
                 "cannot list custom resources of a deleted definition")(
          "crd", crd_name)("error", page.status().ToString());
      return;
    }
    for (const auto& kv : page->kvs) {
      if (store_.backend().Delete(kv.key, 0).ok()) ++deleted;
    }
    if (!page->more || page->kvs.empty()) break;
    opts.start_after = page->kvs.back().key;
  }
  log::Info("apiserver", "custom resource definition removed")("crd", crd_name)(
      "deleted", deleted);
}

}  // namespace kite::apiserver

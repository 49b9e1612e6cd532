#include "api/printers.h"

#include <algorithm>
#include <set>

#include "api/quantity.h"
#include "api/selectors.h"
#include "api/table.h"

namespace kite::api::printers {

using Json = nlohmann::json;

namespace {

constexpr char kNameDesc[] =
    "Name must be unique within a namespace. Is required when creating "
    "resources, although some "
    "resources may allow a client to request the generation of an appropriate "
    "name "
    "automatically. Name is primarily intended for creation idempotence and "
    "configuration "
    "definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/"
    "names#names";
constexpr char kAgeDesc[] =
    "CreationTimestamp is a timestamp representing the server time when this "
    "object was created. "
    "It is not guaranteed to be set in happens-before order across separate "
    "operations. Clients "
    "may not set this value. It is represented in RFC3339 form and is in "
    "UTC.\n\nPopulated by the "
    "system. Read-only. Null for lists. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/"
    "api-conventions.md#metadata";

ColumnDefinition NameCol() { return {"Name", "string", "name", kNameDesc, 0}; }
ColumnDefinition AgeCol() { return {"Age", "string", "", kAgeDesc, 0}; }
ColumnDefinition Col(const char* name, const char* type, const char* desc,
                     int priority = 0) {
  return {name, type, "", desc, priority};
}

std::string Age(const Json& obj, Time now) {
  return TranslateTimestampSince(
      FieldPath(obj, {"metadata", "creationTimestamp"}), now);
}

const Json& Arr(const Json* j) {
  static const Json kEmpty = Json::array();
  return j != nullptr && j->is_array() ? *j : kEmpty;
}

size_t MapSize(const Json* j) {
  return j != nullptr && j->is_object() ? j->size() : 0;
}

std::string Join(const std::vector<std::string>& v, std::string_view sep) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += sep;
    s += v[i];
  }
  return s;
}

// (names, images) of a container list, comma separated.
std::pair<std::string, std::string> ContainerCells(const Json* containers) {
  std::vector<std::string> names, images;
  for (const Json& c : Arr(containers)) {
    names.push_back(GetString(c, {"name"}));
    images.push_back(GetString(c, {"image"}));
  }
  return {Join(names, ","), Join(images, ",")};
}

// metav1.LabelSelectorAsSelector(sel).String(), "<invalid>" on error.
std::string SelectorString(const Json* sel) {
  auto s = LabelSelector::FromJson(sel == nullptr ? Json() : *sel);
  if (!s.ok()) return "<invalid>";
  return s->String();
}

std::string QuantityString(const Json* q) {
  if (q == nullptr || q->is_null()) return "0";
  std::string text = q->is_string() ? q->get<std::string>() : q->dump();
  auto parsed = Quantity::Parse(text);
  return parsed.ok() ? parsed->String() : text;
}

bool HasCondition(const Json& obj, std::string_view type,
                  std::string_view status = "True") {
  for (const Json& c : Arr(FieldPath(obj, {"status", "conditions"}))) {
    if (GetString(c, {"type"}) == type && GetString(c, {"status"}) == status)
      return true;
  }
  return false;
}

std::string IntOrStringText(const Json* v, std::string_view none) {
  if (v == nullptr || v->is_null()) return std::string(none);
  if (v->is_string()) return v->get<std::string>();
  if (v->is_number_integer()) return std::to_string(v->get<int64_t>());
  return v->dump();
}

std::string AccessModes(const Json* modes) {
  std::set<std::string> m;
  for (const Json& v : Arr(modes)) {
    if (v.is_string()) m.insert(v.get<std::string>());
  }
  std::vector<std::string> out;
  if (m.count("ReadWriteOnce")) out.push_back("RWO");
  if (m.count("ReadOnlyMany")) out.push_back("ROX");
  if (m.count("ReadWriteMany")) out.push_back("RWX");
  if (m.count("ReadWriteOncePod")) out.push_back("RWOP");
  return Join(out, ",");
}

std::string ListWithMore(const std::vector<std::string>& list, bool more,
                         size_t count, size_t max, std::string_view empty) {
  std::string ret = Join(list, ",");
  if (more) return ret + " + " + std::to_string(count - max) + " more...";
  if (ret.empty()) return std::string(empty);
  return ret;
}

std::string JoinHostPort(const std::string& host, int64_t port) {
  if (host.find(':') != std::string::npos)
    return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

// ---- pods ----

bool IsRestartableInit(const Json& spec, const std::string& name) {
  for (const Json& c : Arr(Field(spec, "initContainers"))) {
    if (GetString(c, {"name"}) == name)
      return GetString(c, {"restartPolicy"}) == "Always";
  }
  return false;
}

Json PodRow(const Kind&, const Json& pod, Time now) {
  const Json empty = Json::object();
  const Json* spec_p = Field(pod, "spec");
  const Json& spec = spec_p ? *spec_p : empty;
  int64_t restarts = 0, restartable_init_restarts = 0;
  int64_t total = static_cast<int64_t>(Arr(Field(spec, "containers")).size());
  int64_t ready = 0;
  std::optional<Time> last_restart, last_restartable_init_restart;
  std::string phase = GetString(pod, {"status", "phase"});
  std::string reason = phase;
  std::string status_reason = GetString(pod, {"status", "reason"});
  if (!status_reason.empty()) reason = status_reason;
  for (const Json& c : Arr(FieldPath(pod, {"status", "conditions"}))) {
    if (GetString(c, {"type"}) == "PodScheduled" &&
        GetString(c, {"reason"}) == "SchedulingGated") {
      reason = "SchedulingGated";
    }
  }
  const Json& init_specs = Arr(Field(spec, "initContainers"));
  for (const Json& c : init_specs) {
    if (GetString(c, {"restartPolicy"}) == "Always") ++total;
  }
  auto later = [](std::optional<Time>& slot, const Json& cs) {
    const Json* fin = FieldPath(cs, {"lastState", "terminated", "finishedAt"});
    if (fin == nullptr || !fin->is_string()) return;
    std::optional<Time> t = ParseTime(fin->get<std::string>());
    if (t && (!slot || *slot < *t)) slot = t;
  };

  bool initializing = false;
  const Json& init_statuses =
      Arr(FieldPath(pod, {"status", "initContainerStatuses"}));
  for (size_t i = 0; i < init_statuses.size(); ++i) {
    const Json& cs = init_statuses[i];
    std::string name = GetString(cs, {"name"});
    bool restartable = IsRestartableInit(spec, name);
    restarts += GetInt(cs, {"restartCount"});
    later(last_restart, cs);
    if (restartable) {
      restartable_init_restarts += GetInt(cs, {"restartCount"});
      later(last_restartable_init_restart, cs);
    }
    const Json* term = FieldPath(cs, {"state", "terminated"});
    const Json* wait = FieldPath(cs, {"state", "waiting"});
    if (term != nullptr && term->is_object() &&
        GetInt(*term, {"exitCode"}) == 0)
      continue;
    if (restartable && GetBool(cs, {"started"})) {
      if (GetBool(cs, {"ready"})) ++ready;
      continue;
    }
    if (term != nullptr && term->is_object()) {
      std::string r = GetString(*term, {"reason"});
      if (r.empty()) {
        int64_t sig = GetInt(*term, {"signal"});
        reason = sig != 0 ? "Init:Signal:" + std::to_string(sig)
                          : "Init:ExitCode:" +
                                std::to_string(GetInt(*term, {"exitCode"}));
      } else {
        reason = "Init:" + r;
      }
      initializing = true;
    } else if (wait != nullptr && wait->is_object() &&
               !GetString(*wait, {"reason"}).empty() &&
               GetString(*wait, {"reason"}) != "PodInitializing") {
      reason = "Init:" + GetString(*wait, {"reason"});
      initializing = true;
    } else {
      reason =
          "Init:" + std::to_string(i) + "/" + std::to_string(init_specs.size());
      initializing = true;
    }
    break;
  }

  if (!initializing || HasCondition(pod, "Initialized")) {
    restarts = restartable_init_restarts;
    last_restart = last_restartable_init_restart;
    bool has_running = false;
    const Json& statuses = Arr(FieldPath(pod, {"status", "containerStatuses"}));
    for (size_t k = statuses.size(); k-- > 0;) {
      const Json& cs = statuses[k];
      restarts += GetInt(cs, {"restartCount"});
      later(last_restart, cs);
      const Json* term = FieldPath(cs, {"state", "terminated"});
      const Json* wait = FieldPath(cs, {"state", "waiting"});
      const Json* run = FieldPath(cs, {"state", "running"});
      bool is_term = term != nullptr && term->is_object();
      if (wait != nullptr && wait->is_object() &&
          !GetString(*wait, {"reason"}).empty()) {
        reason = GetString(*wait, {"reason"});
      } else if (is_term && !GetString(*term, {"reason"}).empty()) {
        reason = GetString(*term, {"reason"});
      } else if (is_term) {
        int64_t sig = GetInt(*term, {"signal"});
        reason = sig != 0 ? "Signal:" + std::to_string(sig)
                          : "ExitCode:" +
                                std::to_string(GetInt(*term, {"exitCode"}));
      } else if (GetBool(cs, {"ready"}) && run != nullptr && run->is_object()) {
        has_running = true;
        ++ready;
      }
    }
    if (reason == "Completed" && has_running) {
      reason = HasCondition(pod, "Ready") ? "Running" : "NotReady";
    }
  }

  if (Has(pod, {"metadata", "deletionTimestamp"})) {
    if (status_reason == "NodeLost") {
      reason = "Unknown";
    } else if (phase != "Succeeded" && phase != "Failed") {
      reason = "Terminating";
    }
  }

  std::string restarts_str = std::to_string(restarts);
  if (restarts != 0 && last_restart) {
    restarts_str +=
        " (" +
        HumanDuration(std::chrono::duration_cast<std::chrono::nanoseconds>(
            now - *last_restart)) +
        " ago)";
  }

  std::string node = GetString(spec, {"nodeName"});
  std::string nominated = GetString(pod, {"status", "nominatedNodeName"});
  std::string ip;
  const Json& ips = Arr(FieldPath(pod, {"status", "podIPs"}));
  if (!ips.empty()) ip = GetString(ips[0], {"ip"});
  if (ip.empty()) ip = GetString(pod, {"status", "podIP"});
  std::string gates = "<none>";
  const Json& rg = Arr(Field(spec, "readinessGates"));
  if (!rg.empty()) {
    int trues = 0;
    for (const Json& g : rg) {
      std::string type = GetString(g, {"conditionType"});
      for (const Json& c : Arr(FieldPath(pod, {"status", "conditions"}))) {
        if (GetString(c, {"type"}) == type) {
          if (GetString(c, {"status"}) == "True") ++trues;
          break;
        }
      }
    }
    gates = std::to_string(trues) + "/" + std::to_string(rg.size());
  }
  return Json::array(
      {Name(pod), std::to_string(ready) + "/" + std::to_string(total), reason,
       restarts_str, Age(pod, now), ip.empty() ? "<none>" : ip,
       node.empty() ? "<none>" : node, nominated.empty() ? "<none>" : nominated,
       gates});
}

// ---- services and networking ----

std::string ServiceExternalIP(const Json& svc) {
  std::string type = GetString(svc, {"spec", "type"});
  std::vector<std::string> external;
  for (const Json& v : Arr(FieldPath(svc, {"spec", "externalIPs"}))) {
    if (v.is_string()) external.push_back(v.get<std::string>());
  }
  if (type == "ClusterIP" || type == "NodePort" || type.empty()) {
    return external.empty() ? "<none>" : Join(external, ",");
  }
  if (type == "LoadBalancer") {
    std::set<std::string> lb;
    for (const Json& in :
         Arr(FieldPath(svc, {"status", "loadBalancer", "ingress"}))) {
      std::string ip = GetString(in, {"ip"});
      if (!ip.empty()) {
        lb.insert(ip);
      } else if (std::string h = GetString(in, {"hostname"}); !h.empty()) {
        lb.insert(h);
      }
    }
    std::vector<std::string> all(lb.begin(), lb.end());
    if (!external.empty()) {
      all.insert(all.end(), external.begin(), external.end());
      return Join(all, ",");
    }
    return all.empty() ? "<pending>" : Join(all, ",");
  }
  if (type == "ExternalName") return GetString(svc, {"spec", "externalName"});
  return "<unknown>";
}

std::string ServicePorts(const Json& svc) {
  std::vector<std::string> pieces;
  for (const Json& p : Arr(FieldPath(svc, {"spec", "ports"}))) {
    std::string proto = GetString(p, {"protocol"});
    int64_t node_port = GetInt(p, {"nodePort"});
    std::string s = std::to_string(GetInt(p, {"port"}));
    if (node_port > 0) s += ":" + std::to_string(node_port);
    pieces.push_back(s + "/" + proto);
  }
  std::string out = Join(pieces, ",");
  return out.empty() ? "<none>" : out;
}

Json ServiceRow(const Kind&, const Json& svc, Time now) {
  std::string cluster_ip = "<none>";
  const Json& ips = Arr(FieldPath(svc, {"spec", "clusterIPs"}));
  if (!ips.empty() && ips[0].is_string()) {
    cluster_ip = ips[0].get<std::string>();
  } else if (std::string ip = GetString(svc, {"spec", "clusterIP"});
             !ip.empty()) {
    cluster_ip = ip;
  }
  return Json::array({Name(svc), GetString(svc, {"spec", "type"}), cluster_ip,
                      ServiceExternalIP(svc), ServicePorts(svc), Age(svc, now),
                      FormatLabels(FieldPath(svc, {"spec", "selector"}))});
}

std::string FormatEndpoints(const Json& ep) {
  const Json& subsets = Arr(Field(ep, "subsets"));
  if (subsets.empty()) return "<none>";
  std::vector<std::string> list;
  const size_t max = 3;
  bool more = false;
  size_t count = 0;
  for (const Json& ss : subsets) {
    const Json& addrs = Arr(Field(ss, "addresses"));
    const Json& ports = Arr(Field(ss, "ports"));
    if (ports.empty()) {
      count += addrs.size();
      for (const Json& a : addrs) {
        if (list.size() == max) {
          more = true;
          break;
        }
        list.push_back(GetString(a, {"ip"}));
      }
      continue;
    }
    for (const Json& p : ports) {
      count += addrs.size();
      for (const Json& a : addrs) {
        if (list.size() == max) {
          more = true;
          break;
        }
        list.push_back(JoinHostPort(GetString(a, {"ip"}), GetInt(p, {"port"})));
      }
    }
  }
  std::string ret = Join(list, ",");
  if (more) return ret + " + " + std::to_string(count - max) + " more...";
  return ret.empty() ? "<none>" : ret;
}

Json EndpointsRow(const Kind&, const Json& ep, Time now) {
  return Json::array({Name(ep), FormatEndpoints(ep), Age(ep, now)});
}

Json EndpointSliceRow(const Kind&, const Json& es, Time now) {
  std::vector<std::string> ports;
  size_t pcount = 0;
  bool pmore = false;
  for (const Json& p : Arr(Field(es, "ports"))) {
    if (ports.size() < 3) {
      std::string n = "*";
      if (const Json* port = Field(p, "port");
          port && port->is_number_integer()) {
        n = std::to_string(port->get<int64_t>());
      } else if (const Json* name = Field(p, "name");
                 name && name->is_string()) {
        n = name->get<std::string>();
      }
      ports.push_back(n);
    } else if (ports.size() == 3) {
      pmore = true;
    }
    ++pcount;
  }
  std::vector<std::string> addrs;
  size_t acount = 0;
  bool amore = false;
  for (const Json& e : Arr(Field(es, "endpoints"))) {
    for (const Json& a : Arr(Field(e, "addresses"))) {
      if (addrs.size() < 3) {
        addrs.push_back(a.is_string() ? a.get<std::string>() : "");
      } else if (addrs.size() == 3) {
        amore = true;
      }
      ++acount;
    }
  }
  return Json::array({Name(es), GetString(es, {"addressType"}),
                      ListWithMore(ports, pmore, pcount, 3, "<unset>"),
                      ListWithMore(addrs, amore, acount, 3, "<unset>"),
                      Age(es, now)});
}

Json IngressRow(const Kind&, const Json& ing, Time now) {
  std::string cls = GetString(ing, {"spec", "ingressClassName"}, "<none>");
  const Json& rules = Arr(FieldPath(ing, {"spec", "rules"}));
  std::vector<std::string> hosts;
  bool more = false;
  for (const Json& r : rules) {
    if (hosts.size() == 3) more = true;
    std::string h = GetString(r, {"host"});
    if (!more && !h.empty()) hosts.push_back(h);
  }
  std::string host_cell;
  if (hosts.empty()) {
    host_cell = "*";
  } else {
    host_cell = Join(hosts, ",");
    if (more)
      host_cell += " + " + std::to_string(rules.size() - 3) + " more...";
  }
  std::set<std::string> addrs;
  for (const Json& in :
       Arr(FieldPath(ing, {"status", "loadBalancer", "ingress"}))) {
    std::string ip = GetString(in, {"ip"});
    if (!ip.empty()) {
      addrs.insert(ip);
    } else if (std::string h = GetString(in, {"hostname"}); !h.empty()) {
      addrs.insert(h);
    }
  }
  std::string ports =
      Arr(FieldPath(ing, {"spec", "tls"})).empty() ? "80" : "80, 443";
  return Json::array({Name(ing), cls, host_cell,
                      Join({addrs.begin(), addrs.end()}, ","), ports,
                      Age(ing, now)});
}

// ---- workloads ----

Json DeploymentRow(const Kind&, const Json& d, Time now) {
  int64_t desired = GetInt(d, {"spec", "replicas"});
  auto [names, images] =
      ContainerCells(FieldPath(d, {"spec", "template", "spec", "containers"}));
  return Json::array({Name(d),
                      std::to_string(GetInt(d, {"status", "readyReplicas"})) +
                          "/" + std::to_string(desired),
                      GetInt(d, {"status", "updatedReplicas"}),
                      GetInt(d, {"status", "availableReplicas"}), Age(d, now),
                      names, images,
                      SelectorString(FieldPath(d, {"spec", "selector"}))});
}

Json ReplicaSetRow(const Kind&, const Json& rs, Time now) {
  auto [names, images] =
      ContainerCells(FieldPath(rs, {"spec", "template", "spec", "containers"}));
  return Json::array({Name(rs), GetInt(rs, {"spec", "replicas"}),
                      GetInt(rs, {"status", "replicas"}),
                      GetInt(rs, {"status", "readyReplicas"}), Age(rs, now),
                      names, images,
                      SelectorString(FieldPath(rs, {"spec", "selector"}))});
}

Json StatefulSetRow(const Kind&, const Json& ss, Time now) {
  auto [names, images] =
      ContainerCells(FieldPath(ss, {"spec", "template", "spec", "containers"}));
  return Json::array({Name(ss),
                      std::to_string(GetInt(ss, {"status", "readyReplicas"})) +
                          "/" +
                          std::to_string(GetInt(ss, {"spec", "replicas"})),
                      Age(ss, now), names, images});
}

Json DaemonSetRow(const Kind&, const Json& ds, Time now) {
  auto [names, images] =
      ContainerCells(FieldPath(ds, {"spec", "template", "spec", "containers"}));
  return Json::array({Name(ds),
                      GetInt(ds, {"status", "desiredNumberScheduled"}),
                      GetInt(ds, {"status", "currentNumberScheduled"}),
                      GetInt(ds, {"status", "numberReady"}),
                      GetInt(ds, {"status", "updatedNumberScheduled"}),
                      GetInt(ds, {"status", "numberAvailable"}),
                      FormatLabels(FieldPath(
                          ds, {"spec", "template", "spec", "nodeSelector"})),
                      Age(ds, now), names, images,
                      SelectorString(FieldPath(ds, {"spec", "selector"}))});
}

Json ControllerRevisionRow(const Kind&, const Json& cr, Time now) {
  std::string controller = "<none>";
  for (const Json& o : Arr(FieldPath(cr, {"metadata", "ownerReferences"}))) {
    if (!GetBool(o, {"controller"})) continue;
    std::string api_version = GetString(o, {"apiVersion"});
    std::string group;
    if (size_t slash = api_version.find('/'); slash != std::string::npos)
      group = api_version.substr(0, slash);
    std::string gk = GetString(o, {"kind"});
    if (!group.empty()) gk += "." + group;
    std::transform(gk.begin(), gk.end(), gk.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    controller = gk + "/" + GetString(o, {"name"});
    break;
  }
  return Json::array(
      {Name(cr), controller, GetInt(cr, {"revision"}), Age(cr, now)});
}

Json JobRow(const Kind&, const Json& job, Time now) {
  int64_t succeeded = GetInt(job, {"status", "succeeded"});
  std::string completions;
  if (const Json* c = FieldPath(job, {"spec", "completions"});
      c && c->is_number()) {
    completions =
        std::to_string(succeeded) + "/" + std::to_string(c->get<int64_t>());
  } else {
    int64_t parallelism = GetInt(job, {"spec", "parallelism"});
    completions = parallelism > 1 ? std::to_string(succeeded) + "/1 of " +
                                        std::to_string(parallelism)
                                  : std::to_string(succeeded) + "/1";
  }
  std::string duration;
  std::optional<Time> start =
      ParseTime(GetString(job, {"status", "startTime"}));
  std::optional<Time> done =
      ParseTime(GetString(job, {"status", "completionTime"}));
  if (start) {
    Time end = done ? *done : now;
    duration = HumanDuration(
        std::chrono::duration_cast<std::chrono::nanoseconds>(end - *start));
  }
  std::string status;
  if (HasCondition(job, "Complete")) {
    status = "Complete";
  } else if (HasCondition(job, "Failed")) {
    status = "Failed";
  } else if (Has(job, {"metadata", "deletionTimestamp"})) {
    status = "Terminating";
  } else if (HasCondition(job, "Suspended")) {
    status = "Suspended";
  } else if (HasCondition(job, "FailureTarget")) {
    status = "FailureTarget";
  } else if (HasCondition(job, "SuccessCriteriaMet")) {
    status = "SuccessCriteriaMet";
  } else {
    status = "Running";
  }
  auto [names, images] = ContainerCells(
      FieldPath(job, {"spec", "template", "spec", "containers"}));
  return Json::array({Name(job), status, completions, duration, Age(job, now),
                      names, images,
                      SelectorString(FieldPath(job, {"spec", "selector"}))});
}

Json CronJobRow(const Kind&, const Json& cj, Time now) {
  std::string last = "<none>";
  if (const Json* t = FieldPath(cj, {"status", "lastScheduleTime"});
      t && t->is_string()) {
    last = TranslateTimestampSince(t, now);
  }
  std::string suspend = "<unset>";
  if (const Json* s = FieldPath(cj, {"spec", "suspend"});
      s && s->is_boolean()) {
    suspend = s->get<bool>() ? "True" : "False";
  }
  auto [names, images] = ContainerCells(FieldPath(
      cj, {"spec", "jobTemplate", "spec", "template", "spec", "containers"}));
  return Json::array(
      {Name(cj), GetString(cj, {"spec", "schedule"}),
       GetString(cj, {"spec", "timeZone"}, "<none>"), suspend,
       static_cast<int64_t>(Arr(FieldPath(cj, {"status", "active"})).size()),
       last, Age(cj, now), names, images,
       SelectorString(
           FieldPath(cj, {"spec", "jobTemplate", "spec", "selector"}))});
}

// ---- core misc ----

Json NodeRow(const Kind&, const Json& node, Time now) {
  std::vector<std::string> status;
  for (const Json& c : Arr(FieldPath(node, {"status", "conditions"}))) {
    if (GetString(c, {"type"}) == "Ready") {
      status = {GetString(c, {"status"}) == "True" ? "Ready" : "NotReady"};
    }
  }
  if (status.empty()) status.push_back("Unknown");
  if (GetBool(node, {"spec", "unschedulable"}))
    status.push_back("SchedulingDisabled");
  std::set<std::string> roles;
  for (const auto& [k, v] : Labels(node)) {
    static const std::string kPrefix = "node-role.kubernetes.io/";
    if (k.rfind(kPrefix, 0) == 0) {
      if (k.size() > kPrefix.size()) roles.insert(k.substr(kPrefix.size()));
    } else if (k == "kubernetes.io/role" && !v.empty()) {
      roles.insert(v);
    }
  }
  std::string roles_cell = Join({roles.begin(), roles.end()}, ",");
  std::string internal = "<none>", external = "<none>";
  for (const Json& a : Arr(FieldPath(node, {"status", "addresses"}))) {
    std::string type = GetString(a, {"type"});
    if (type == "InternalIP" && internal == "<none>")
      internal = GetString(a, {"address"});
    if (type == "ExternalIP" && external == "<none>")
      external = GetString(a, {"address"});
  }
  auto info = [&](const char* key) {
    std::string v = GetString(node, {"status", "nodeInfo", key});
    return v.empty() ? std::string("<unknown>") : v;
  };
  return Json::array({Name(node), Join(status, ","),
                      roles_cell.empty() ? "<none>" : roles_cell,
                      Age(node, now),
                      GetString(node, {"status", "nodeInfo", "kubeletVersion"}),
                      internal, external, info("osImage"),
                      info("kernelVersion"), info("containerRuntimeVersion")});
}

Json NamespaceRow(const Kind&, const Json& ns, Time now) {
  return Json::array(
      {Name(ns), GetString(ns, {"status", "phase"}), Age(ns, now)});
}

Json ConfigMapRow(const Kind&, const Json& cm, Time now) {
  return Json::array({Name(cm),
                      static_cast<int64_t>(MapSize(Field(cm, "data")) +
                                           MapSize(Field(cm, "binaryData"))),
                      Age(cm, now)});
}

Json SecretRow(const Kind&, const Json& s, Time now) {
  return Json::array({Name(s), GetString(s, {"type"}),
                      static_cast<int64_t>(MapSize(Field(s, "data"))),
                      Age(s, now)});
}

Json ServiceAccountRow(const Kind&, const Json& sa, Time now) {
  return Json::array({Name(sa),
                      static_cast<int64_t>(Arr(Field(sa, "secrets")).size()),
                      Age(sa, now)});
}

std::string EventTime(const Json& ev,
                      std::initializer_list<std::string_view> path, Time now) {
  const Json* t = FieldPath(ev, path);
  if (t == nullptr || !t->is_string() || t->get<std::string>().empty())
    return "";
  return TranslateTimestampSince(t, now);
}

Json EventRow(const Kind&, const Json& ev, Time now) {
  bool v1 = Has(ev, {"involvedObject"}) || !Has(ev, {"regarding"});
  std::string first = v1 ? EventTime(ev, {"firstTimestamp"}, now)
                         : EventTime(ev, {"deprecatedFirstTimestamp"}, now);
  if (first.empty()) first = EventTime(ev, {"eventTime"}, now);
  if (first.empty()) first = "<unknown>";
  std::string last = v1 ? EventTime(ev, {"lastTimestamp"}, now)
                        : EventTime(ev, {"deprecatedLastTimestamp"}, now);
  if (last.empty()) last = first;
  int64_t count = v1 ? GetInt(ev, {"count"}) : GetInt(ev, {"deprecatedCount"});
  if (Has(ev, {"series"})) {
    std::string s = EventTime(ev, {"series", "lastObservedTime"}, now);
    last = s.empty() ? "<unknown>" : s;
    count = GetInt(ev, {"series", "count"});
  } else if (count == 0) {
    count = 1;
  }
  const char* obj_key = v1 ? "involvedObject" : "regarding";
  std::string kind = GetString(ev, {obj_key, "kind"});
  std::transform(kind.begin(), kind.end(), kind.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  std::string name = GetString(ev, {obj_key, "name"});
  std::string target = name.empty() ? kind : kind + "/" + name;
  std::string component =
      GetString(ev, {v1 ? "source" : "deprecatedSource", "component"});
  if (component.empty()) component = GetString(ev, {"reportingController"});
  if (v1 && component.empty())
    component = GetString(ev, {"reportingComponent"});
  std::string host =
      GetString(ev, {v1 ? "source" : "deprecatedSource", "host"});
  if (host.empty()) host = GetString(ev, {"reportingInstance"});
  std::string source = host.empty() ? component : component + ", " + host;
  std::string message = GetString(ev, {v1 ? "message" : "note"});
  size_t b = message.find_first_not_of(" \t\r\n");
  size_t e = message.find_last_not_of(" \t\r\n");
  message = b == std::string::npos ? "" : message.substr(b, e - b + 1);
  return Json::array({last, GetString(ev, {"type"}), GetString(ev, {"reason"}),
                      target, GetString(ev, {obj_key, "fieldPath"}), source,
                      message, first, count, Name(ev)});
}

std::string StorageClassOf(const Json& obj) {
  std::string beta = GetString(
      obj,
      {"metadata", "annotations", "volume.beta.kubernetes.io/storage-class"});
  if (!beta.empty()) return beta;
  return GetString(obj, {"spec", "storageClassName"});
}

Json PersistentVolumeRow(const Kind&, const Json& pv, Time now) {
  std::string claim;
  if (Has(pv, {"spec", "claimRef"})) {
    claim = GetString(pv, {"spec", "claimRef", "namespace"}) + "/" +
            GetString(pv, {"spec", "claimRef", "name"});
  }
  std::string phase = GetString(pv, {"status", "phase"});
  if (Has(pv, {"metadata", "deletionTimestamp"})) phase = "Terminating";
  std::string vac = GetString(pv, {"spec", "volumeAttributesClassName"});
  return Json::array(
      {Name(pv), QuantityString(FieldPath(pv, {"spec", "capacity", "storage"})),
       AccessModes(FieldPath(pv, {"spec", "accessModes"})),
       GetString(pv, {"spec", "persistentVolumeReclaimPolicy"}), phase, claim,
       StorageClassOf(pv), vac.empty() ? "<unset>" : vac,
       GetString(pv, {"status", "reason"}), Age(pv, now),
       GetString(pv, {"spec", "volumeMode"}, "<unset>")});
}

Json PersistentVolumeClaimRow(const Kind&, const Json& pvc, Time now) {
  std::string phase = GetString(pvc, {"status", "phase"});
  if (Has(pvc, {"metadata", "deletionTimestamp"})) phase = "Terminating";
  std::string capacity, modes;
  std::string volume = GetString(pvc, {"spec", "volumeName"});
  if (!volume.empty()) {
    modes = AccessModes(FieldPath(pvc, {"status", "accessModes"}));
    capacity =
        QuantityString(FieldPath(pvc, {"status", "capacity", "storage"}));
  }
  std::string vac = GetString(pvc, {"spec", "volumeAttributesClassName"});
  return Json::array({Name(pvc), phase, volume, capacity, modes,
                      StorageClassOf(pvc), vac.empty() ? "<unset>" : vac,
                      Age(pvc, now),
                      GetString(pvc, {"spec", "volumeMode"}, "<unset>")});
}

Json ResourceQuotaRow(const Kind&, const Json& rq, Time now) {
  std::string request, limit;
  const Json* hard = FieldPath(rq, {"spec", "hard"});
  if (hard != nullptr && hard->is_object()) {
    for (auto it = hard->begin(); it != hard->end(); ++it) {  // sorted by name
      std::string piece =
          it.key() + ": " +
          QuantityString(FieldPath(rq, {"status", "used", it.key()})) + "/" +
          QuantityString(&it.value());
      std::string& col = it.key().rfind("limits.", 0) == 0 ? limit : request;
      if (!col.empty()) col += ", ";
      col += piece;
    }
  }
  return Json::array({Name(rq), Age(rq, now), request, limit});
}

Json LeaseRow(const Kind&, const Json& l, Time now) {
  return Json::array(
      {Name(l), GetString(l, {"spec", "holderIdentity"}), Age(l, now)});
}

Json RoleBindingRow(const Kind&, const Json& rb, Time now) {
  std::vector<std::string> users, groups, sas;
  for (const Json& s : Arr(Field(rb, "subjects"))) {
    std::string kind = GetString(s, {"kind"});
    if (kind == "ServiceAccount") {
      sas.push_back(GetString(s, {"namespace"}) + "/" + GetString(s, {"name"}));
    } else if (kind == "User") {
      users.push_back(GetString(s, {"name"}));
    } else if (kind == "Group") {
      groups.push_back(GetString(s, {"name"}));
    }
  }
  return Json::array({Name(rb),
                      GetString(rb, {"roleRef", "kind"}) + "/" +
                          GetString(rb, {"roleRef", "name"}),
                      Age(rb, now), Join(users, ", "), Join(groups, ", "),
                      Join(sas, ", ")});
}

Json StorageClassRow(const Kind&, const Json& sc, Time now) {
  std::string name = Name(sc);
  if (GetString(sc, {"metadata", "annotations",
                     "storageclass.kubernetes.io/is-default-class"}) ==
          "true" ||
      GetString(sc, {"metadata", "annotations",
                     "storageclass.beta.kubernetes.io/is-default-class"}) ==
          "true") {
    name += " (default)";
  }
  return Json::array({name, GetString(sc, {"provisioner"}),
                      GetString(sc, {"reclaimPolicy"}, "Delete"),
                      GetString(sc, {"volumeBindingMode"}, "Immediate"),
                      GetBool(sc, {"allowVolumeExpansion"}), Age(sc, now)});
}

Json IngressClassRow(const Kind&, const Json& ic, Time now) {
  std::string params = "<none>";
  if (const Json* p = FieldPath(ic, {"spec", "parameters"});
      p && p->is_object()) {
    params = GetString(*p, {"kind"});
    if (Has(*p, {"apiGroup"})) params += "." + GetString(*p, {"apiGroup"});
    params += "/" + GetString(*p, {"name"});
  }
  return Json::array(
      {Name(ic), GetString(ic, {"spec", "controller"}), params, Age(ic, now)});
}

Json NetworkPolicyRow(const Kind&, const Json& np, Time now) {
  return Json::array(
      {Name(np), FormatLabelSelector(FieldPath(np, {"spec", "podSelector"})),
       Age(np, now)});
}

Json PodDisruptionBudgetRow(const Kind&, const Json& pdb, Time now) {
  return Json::array(
      {Name(pdb),
       IntOrStringText(FieldPath(pdb, {"spec", "minAvailable"}), "N/A"),
       IntOrStringText(FieldPath(pdb, {"spec", "maxUnavailable"}), "N/A"),
       GetInt(pdb, {"status", "disruptionsAllowed"}), Age(pdb, now)});
}

std::string HpaTargets(const Json& hpa) {
  const Json& specs = Arr(FieldPath(hpa, {"spec", "metrics"}));
  if (specs.empty()) return "<none>";
  const Json& statuses = Arr(FieldPath(hpa, {"status", "currentMetrics"}));
  std::vector<std::string> list;
  for (size_t i = 0; i < specs.size(); ++i) {
    const Json& s = specs[i];
    const Json* st = i < statuses.size() ? &statuses[i] : nullptr;
    std::string type = GetString(s, {"type"});
    std::string current = "<unknown>";
    if (type == "Resource" || type == "ContainerResource") {
      const char* key = type == "Resource" ? "resource" : "containerResource";
      std::string rname = GetString(s, {key, "name"});
      if (Has(s, {key, "target", "averageValue"})) {
        if (st && Has(*st, {key, "current", "averageValue"})) {
          current =
              QuantityString(FieldPath(*st, {key, "current", "averageValue"}));
        }
        list.push_back(
            rname + ": " + current + "/" +
            QuantityString(FieldPath(s, {key, "target", "averageValue"})));
      } else {
        if (st && Has(*st, {key, "current", "averageUtilization"})) {
          current = std::to_string(
                        GetInt(*st, {key, "current", "averageUtilization"})) +
                    "%";
        }
        std::string target = "<auto>";
        if (Has(s, {key, "target", "averageUtilization"})) {
          target =
              std::to_string(GetInt(s, {key, "target", "averageUtilization"})) +
              "%";
        }
        list.push_back(rname + ": " + current + "/" + target);
      }
    } else if (type == "Pods") {
      if (st && Has(*st, {"pods", "current", "averageValue"})) {
        current =
            QuantityString(FieldPath(*st, {"pods", "current", "averageValue"}));
      }
      list.push_back(
          current + "/" +
          QuantityString(FieldPath(s, {"pods", "target", "averageValue"})));
    } else if (type == "Object" || type == "External") {
      const char* key = type == "Object" ? "object" : "external";
      bool avg = Has(s, {key, "target", "averageValue"});
      const char* which = avg ? "averageValue" : "value";
      if (st && Has(*st, {key, "current", which}))
        current = QuantityString(FieldPath(*st, {key, "current", which}));
      list.push_back(current + "/" +
                     QuantityString(FieldPath(s, {key, "target", which})) +
                     (avg ? " (avg)" : ""));
    } else {
      list.push_back("<unknown type>");
    }
  }
  if (list.size() > 2) {
    size_t extra = list.size() - 2;
    list.resize(2);
    return Join(list, ", ") + " + " + std::to_string(extra) + " more...";
  }
  return Join(list, ", ");
}

Json HorizontalPodAutoscalerRow(const Kind&, const Json& hpa, Time now) {
  std::string ref = GetString(hpa, {"spec", "scaleTargetRef", "kind"}) + "/" +
                    GetString(hpa, {"spec", "scaleTargetRef", "name"});
  Json min_pods = "<unset>";
  if (const Json* m = FieldPath(hpa, {"spec", "minReplicas"});
      m && m->is_number_integer()) {
    min_pods = std::to_string(m->get<int64_t>());
  }
  return Json::array({Name(hpa), ref, HpaTargets(hpa), min_pods,
                      GetInt(hpa, {"spec", "maxReplicas"}),
                      GetInt(hpa, {"status", "currentReplicas"}),
                      Age(hpa, now)});
}

Json PriorityClassRow(const Kind&, const Json& pc, Time now) {
  return Json::array({Name(pc), GetInt(pc, {"value"}),
                      GetBool(pc, {"globalDefault"}), Age(pc, now),
                      GetString(pc, {"preemptionPolicy"})});
}

Json CertificateSigningRequestRow(const Kind&, const Json& csr, Time now) {
  bool approved = false, denied = false, failed = false;
  for (const Json& c : Arr(FieldPath(csr, {"status", "conditions"}))) {
    std::string t = GetString(c, {"type"});
    approved |= t == "Approved";
    denied |= t == "Denied";
    failed |= t == "Failed";
  }
  std::string status = denied ? "Denied" : (approved ? "Approved" : "Pending");
  if (failed) status += ",Failed";
  if (!GetString(csr, {"status", "certificate"}).empty()) status += ",Issued";
  std::string duration = "<none>";
  if (const Json* e = FieldPath(csr, {"spec", "expirationSeconds"});
      e && e->is_number_integer()) {
    duration = HumanDuration(std::chrono::seconds(e->get<int64_t>()));
  }
  return Json::array({Name(csr), Age(csr, now),
                      GetString(csr, {"spec", "signerName"}, "<none>"),
                      GetString(csr, {"spec", "username"}), duration, status});
}

const char kContainersDesc[] = "Names of each container in the template.";
const char kImagesDesc[] =
    "Images referenced by each container in the template.";

}  // namespace

Printer Pod() {
  return {
      {NameCol(),
       Col("Ready", "string",
           "The aggregate readiness state of this pod for accepting traffic."),
       Col("Status", "string",
           "The aggregate status of the containers in this pod."),
       Col("Restarts", "string",
           "The number of times the containers in this pod have been restarted "
           "and when the last container "
           "in this pod has restarted."),
       AgeCol(), Col("IP", "string", "IP address allocated to the pod.", 1),
       Col("Node", "string",
           "NodeName indicates in which node this pod is scheduled.", 1),
       Col("Nominated Node", "string",
           "nominatedNodeName is set when this pod preempts other pods on the "
           "node.",
           1),
       Col("Readiness Gates", "string",
           "If specified, all readiness gates will be evaluated for pod "
           "readiness.",
           1)},
      PodRow};
}

Printer Node() {
  return {{NameCol(), Col("Status", "string", "The status of the node"),
           Col("Roles", "string", "The roles of the node"), AgeCol(),
           Col("Version", "string", "Kubelet Version reported by the node."),
           Col("Internal-IP", "string",
               "List of addresses reachable to the node.", 1),
           Col("External-IP", "string",
               "List of addresses reachable to the node.", 1),
           Col("OS-Image", "string",
               "OS Image reported by the node from /etc/os-release.", 1),
           Col("Kernel-Version", "string",
               "Kernel Version reported by the node from 'uname -r'.", 1),
           Col("Container-Runtime", "string",
               "ContainerRuntime Version reported by the node through runtime "
               "remote API.",
               1)},
          NodeRow};
}

Printer Namespace() {
  return {{NameCol(), Col("Status", "string", "The status of the namespace"),
           AgeCol()},
          NamespaceRow};
}

Printer Service() {
  return {{NameCol(),
           Col("Type", "string", "type determines how the Service is exposed."),
           Col("Cluster-IP", "string",
               "clusterIP is the IP address of the service."),
           Col("External-IP", "string",
               "externalIPs is a list of IP addresses for which nodes in the "
               "cluster will also accept traffic for this service."),
           Col("Port(s)", "string",
               "The list of ports that are exposed by this service."),
           AgeCol(),
           Col("Selector", "string",
               "Route service traffic to pods with label keys and values "
               "matching this selector.",
               1)},
          ServiceRow};
}

Printer Endpoints() {
  return {{NameCol(),
           Col("Endpoints", "string",
               "The set of all endpoints is the union of all subsets."),
           AgeCol()},
          EndpointsRow};
}

Printer EndpointSlice() {
  return {
      {NameCol(),
       Col("AddressType", "string",
           "The type of address carried by this EndpointSlice."),
       Col("Ports", "string", "Ports of the endpoint slice"),
       Col("Endpoints", "string", "Endpoints of the endpoint slice"), AgeCol()},
      EndpointSliceRow};
}

Printer ConfigMap() {
  return {{NameCol(),
           Col("Data", "string", "Data contains the configuration data."),
           AgeCol()},
          ConfigMapRow};
}

Printer Secret() {
  return {{NameCol(),
           Col("Type", "string",
               "Used to facilitate programmatic handling of secret data."),
           Col("Data", "string", "Data contains the secret data."), AgeCol()},
          SecretRow};
}

Printer ServiceAccount() {
  return {{NameCol(),
           Col("Secrets", "string",
               "Secrets is a list of the secrets in the same namespace that "
               "pods running using this ServiceAccount are allowed to use."),
           AgeCol()},
          ServiceAccountRow};
}

Printer Event() {
  return {{Col("Last Seen", "string",
               "Deprecated field assuring backward compatibility with core.v1 "
               "Event type"),
           Col("Type", "string",
               "Type of this event (Normal, Warning), new types could be added "
               "in the future."),
           Col("Reason", "string", "Why the action was taken."),
           Col("Object", "string", "The object this Event is about."),
           Col("Subobject", "string",
               "The field of the object this Event is about.", 1),
           Col("Source", "string", "The component reporting this event.", 1),
           Col("Message", "string",
               "A human-readable description of the status of this operation."),
           Col("First Seen", "string",
               "Deprecated field assuring backward compatibility with core.v1 "
               "Event type",
               1),
           Col("Count", "string",
               "Deprecated field assuring backward compatibility with core.v1 "
               "Event type",
               1),
           ColumnDefinition{"Name", "string", "name", kNameDesc, 1}},
          EventRow};
}

Printer PersistentVolume() {
  return {
      {NameCol(),
       Col("Capacity", "string",
           "capacity is the description of the persistent volume's resources "
           "and capacity."),
       Col("Access Modes", "string",
           "accessModes contains all ways the volume can be mounted."),
       Col("Reclaim Policy", "string",
           "persistentVolumeReclaimPolicy defines what happens to a persistent "
           "volume when released from its claim."),
       Col("Status", "string",
           "phase indicates if a volume is available, bound to a claim, or "
           "released by a claim."),
       Col("Claim", "string",
           "claimRef is part of a bi-directional binding between "
           "PersistentVolume and PersistentVolumeClaim."),
       Col("StorageClass", "string", "StorageClass of the pv"),
       Col("VolumeAttributesClass", "string",
           "VolumeAttributesClass of the pv"),
       Col("Reason", "string",
           "reason is a brief CamelCase string that describes any failure."),
       AgeCol(),
       Col("VolumeMode", "string",
           "Defines if a volume is intended to be used with a formatted "
           "filesystem or to remain in raw block state.",
           1)},
      PersistentVolumeRow};
}

Printer PersistentVolumeClaim() {
  return {
      {NameCol(),
       Col("Status", "string",
           "phase represents the current phase of PersistentVolumeClaim."),
       Col("Volume", "string",
           "volumeName is the binding reference to the PersistentVolume "
           "backing this claim."),
       Col("Capacity", "string",
           "capacity represents the actual resources of the underlying "
           "volume."),
       Col("Access Modes", "string",
           "accessModes contains the actual access modes the volume backing "
           "the PVC has."),
       Col("StorageClass", "string", "StorageClass of the pvc"),
       Col("VolumeAttributesClass", "string",
           "VolumeAttributesClass of the pvc"),
       AgeCol(),
       Col("VolumeMode", "string",
           "volumeMode defines what type of volume is required by the claim.",
           1)},
      PersistentVolumeClaimRow};
}

Printer ResourceQuota() {
  return {{NameCol(), AgeCol(),
           Col("Request", "string",
               "Request represents a minimum amount of cpu/memory that a "
               "container may consume."),
           Col("Limit", "string",
               "Limits control the maximum amount of cpu/memory that a "
               "container may use independent of contention on the node.")},
          ResourceQuotaRow};
}

Printer Deployment() {
  return {
      {NameCol(), Col("Ready", "string", "Number of the pod with ready state"),
       Col("Up-to-date", "string",
           "Total number of non-terminated pods targeted by this deployment "
           "that have the desired template spec."),
       Col("Available", "string",
           "Total number of available pods (ready for at least "
           "minReadySeconds) targeted by this deployment."),
       AgeCol(), Col("Containers", "string", kContainersDesc, 1),
       Col("Images", "string", kImagesDesc, 1),
       Col("Selector", "string", "Label selector for pods.", 1)},
      DeploymentRow};
}

Printer ReplicaSet() {
  return {
      {NameCol(),
       Col("Desired", "integer", "Replicas is the number of desired replicas."),
       Col("Current", "integer",
           "Replicas is the most recently observed number of replicas."),
       Col("Ready", "integer",
           "readyReplicas is the number of pods targeted by this ReplicaSet "
           "with a Ready Condition."),
       AgeCol(), Col("Containers", "string", kContainersDesc, 1),
       Col("Images", "string", kImagesDesc, 1),
       Col("Selector", "string",
           "Selector is a label query over pods that should match the replica "
           "count.",
           1)},
      ReplicaSetRow};
}

Printer StatefulSet() {
  return {
      {NameCol(), Col("Ready", "string", "Number of the pod with ready state"),
       AgeCol(), Col("Containers", "string", kContainersDesc, 1),
       Col("Images", "string", kImagesDesc, 1)},
      StatefulSetRow};
}

Printer DaemonSet() {
  return {
      {NameCol(),
       Col("Desired", "integer",
           "The total number of nodes that should be running the daemon pod."),
       Col("Current", "integer",
           "The number of nodes that are running at least 1 daemon pod and are "
           "supposed to run the daemon pod."),
       Col("Ready", "integer",
           "numberReady is the number of nodes that should be running the "
           "daemon pod and have one or more of the daemon pod running with a "
           "Ready Condition."),
       Col("Up-to-date", "integer",
           "The total number of nodes that are running updated daemon pod"),
       Col("Available", "integer",
           "The number of nodes that should be running the daemon pod and have "
           "one or more of the daemon pod running and available."),
       Col("Node Selector", "string",
           "NodeSelector is a selector which must be true for the pod to fit "
           "on a node."),
       AgeCol(), Col("Containers", "string", kContainersDesc, 1),
       Col("Images", "string", kImagesDesc, 1),
       Col("Selector", "string",
           "A label query over pods that are managed by the daemon set.", 1)},
      DaemonSetRow};
}

Printer ControllerRevision() {
  return {
      {NameCol(), Col("Controller", "string", "Controller of the object"),
       Col("Revision", "string",
           "Revision indicates the revision of the state represented by Data."),
       AgeCol()},
      ControllerRevisionRow};
}

Printer Job() {
  return {{NameCol(), Col("Status", "string", "Status of the job."),
           Col("Completions", "string", "The completion status of the job."),
           Col("Duration", "string", "Time required to complete the job."),
           AgeCol(), Col("Containers", "string", kContainersDesc, 1),
           Col("Images", "string", kImagesDesc, 1),
           Col("Selector", "string",
               "A label query over pods that should match the pod count.", 1)},
          JobRow};
}

Printer CronJob() {
  return {
      {NameCol(),
       Col("Schedule", "string",
           "The schedule in Cron format, see "
           "https://en.wikipedia.org/wiki/Cron."),
       Col("Timezone", "string", "The time zone name for the given schedule."),
       Col("Suspend", "boolean",
           "This flag tells the controller to suspend subsequent executions."),
       Col("Active", "integer",
           "A list of pointers to currently running jobs."),
       Col("Last Schedule", "string",
           "Information when was the last time the job was successfully "
           "scheduled."),
       AgeCol(), Col("Containers", "string", kContainersDesc, 1),
       Col("Images", "string", kImagesDesc, 1),
       Col("Selector", "string",
           "A label query over pods that should match the pod count.", 1)},
      CronJobRow};
}

Printer Lease() {
  return {{NameCol(),
           Col("Holder", "string",
               "holderIdentity contains the identity of the holder of a "
               "current lease."),
           AgeCol()},
          LeaseRow};
}

Printer RoleBinding() {
  return {{NameCol(),
           Col("Role", "string",
               "RoleRef can reference a Role in the current namespace or a "
               "ClusterRole in the global namespace."),
           AgeCol(), Col("Users", "string", "Users in the roleBinding", 1),
           Col("Groups", "string", "Groups in the roleBinding", 1),
           Col("ServiceAccounts", "string",
               "ServiceAccounts in the roleBinding", 1)},
          RoleBindingRow};
}

Printer StorageClass() {
  return {
      {NameCol(),
       Col("Provisioner", "string", "Indicates the type of the provisioner."),
       Col("ReclaimPolicy", "string",
           "Dynamically provisioned PersistentVolumes of this storage class "
           "are created with this reclaimPolicy."),
       Col("VolumeBindingMode", "string",
           "VolumeBindingMode indicates how PersistentVolumeClaims should be "
           "provisioned and bound."),
       Col("AllowVolumeExpansion", "string",
           "AllowVolumeExpansion shows whether the storage class allow volume "
           "expand."),
       AgeCol()},
      StorageClassRow};
}

Printer Ingress() {
  return {
      {NameCol(),
       Col("Class", "string",
           "The name of the IngressClass resource that should be used."),
       Col("Hosts", "string",
           "Hosts that incoming requests are matched against before the "
           "ingress rule"),
       Col("Address", "string",
           "Address is a list containing ingress points for the load-balancer"),
       Col("Ports", "string", "Ports of TLS configurations that open"),
       AgeCol()},
      IngressRow};
}

Printer IngressClass() {
  return {{NameCol(),
           Col("Controller", "string",
               "Controller that is responsible for handling this class"),
           Col("Parameters", "string",
               "A reference to a resource with additional parameters"),
           AgeCol()},
          IngressClassRow};
}

Printer NetworkPolicy() {
  return {{NameCol(),
           Col("Pod-Selector", "string",
               "podSelector selects the pods to which this NetworkPolicy "
               "object applies."),
           AgeCol()},
          NetworkPolicyRow};
}

Printer PodDisruptionBudget() {
  return {{NameCol(),
           Col("Min Available", "string",
               "The minimum number of pods that must be available."),
           Col("Max Unavailable", "string",
               "The maximum number of pods that may be unavailable."),
           Col("Allowed Disruptions", "integer",
               "Calculated number of pods that may be disrupted at this time."),
           AgeCol()},
          PodDisruptionBudgetRow};
}

Printer HorizontalPodAutoscaler() {
  return {{NameCol(),
           Col("Reference", "string",
               "reference to scaled resource; horizontal pod autoscaler will "
               "learn the current resource consumption and will set the "
               "desired number of pods by using its Scale subresource."),
           Col("Targets", "string",
               "metrics contains the specifications for which to use to "
               "calculate the desired replica count."),
           Col("MinPods", "string",
               "minReplicas is the lower limit for the number of replicas to "
               "which the autoscaler can scale down."),
           Col("MaxPods", "integer",
               "maxReplicas is the upper limit for the number of replicas to "
               "which the autoscaler can scale up."),
           Col("Replicas", "integer",
               "currentReplicas is current number of replicas of pods managed "
               "by this autoscaler."),
           AgeCol()},
          HorizontalPodAutoscalerRow};
}

Printer PriorityClass() {
  return {{NameCol(),
           Col("Value", "integer",
               "value represents the integer value of this priority class."),
           Col("Global-Default", "boolean",
               "globalDefault specifies whether this PriorityClass should be "
               "considered as the default priority."),
           AgeCol(),
           Col("PreemptionPolicy", "string",
               "preemptionPolicy is the Policy for preempting pods with lower "
               "priority.")},
          PriorityClassRow};
}

Printer CertificateSigningRequest() {
  return {
      {NameCol(), AgeCol(), Col("SignerName", "string", "Name of the signer"),
       Col("Requestor", "string", "Request originator"),
       Col("RequestedDuration", "string",
           "Requested duration for the signed certificate"),
       Col("Condition", "string", "Approved/Denied/Pending/Issued/Failed")},
      CertificateSigningRequestRow};
}

Printer NameCreatedAt() {
  return {{NameCol(), ColumnDefinition{"Created At", "date", "", kAgeDesc, 0}},
          nullptr};
}

}  // namespace kite::api::printers

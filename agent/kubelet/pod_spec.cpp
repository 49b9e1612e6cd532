#include "agent/kubelet/pod_spec.h"

#include <algorithm>
#include <sstream>

#include "agent/kubelet/expansion.h"
#include "api/object.h"
#include "api/quantity.h"
#include "api/rules.h"

namespace kite::kubelet {
namespace {

constexpr int64_t kCpuPeriod = 100000;  // 100 ms in microseconds
constexpr int64_t kMinShares = 2;
constexpr int64_t kMinQuota = 1000;

int64_t QuantityMilli(const Json& c, const char* kind, const char* res) {
  const Json* q = api::FieldPath(c, {"resources", kind, res});
  if (q == nullptr) return 0;
  auto parsed =
      api::Quantity::Parse(q->is_string() ? q->get<std::string>() : q->dump());
  return parsed.ok() ? parsed->MilliValue() : 0;
}

int64_t QuantityValue(const Json& c, const char* kind, const char* res) {
  const Json* q = api::FieldPath(c, {"resources", kind, res});
  if (q == nullptr) return 0;
  auto parsed =
      api::Quantity::Parse(q->is_string() ? q->get<std::string>() : q->dump());
  return parsed.ok() ? parsed->Value() : 0;
}

std::optional<int64_t> OptInt(const Json* sc, const char* key) {
  if (sc == nullptr) return std::nullopt;
  const Json* v = api::Field(*sc, key);
  if (v == nullptr || !v->is_number_integer()) return std::nullopt;
  return v->get<int64_t>();
}

std::vector<std::string> Strings(const Json* arr) {
  std::vector<std::string> out;
  if (arr == nullptr || !arr->is_array()) return out;
  for (const Json& s : *arr)
    if (s.is_string()) out.push_back(s.get<std::string>());
  return out;
}

void AddUnique(std::vector<std::string>& v, const std::string& s) {
  if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
}

}  // namespace

cri::DnsConfig ParseResolvConf(const std::string& text) {
  cri::DnsConfig out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    size_t hash = line.find_first_of("#;");
    if (hash != std::string::npos) line.resize(hash);
    std::istringstream words(line);
    std::string key, word;
    if (!(words >> key)) continue;
    if (key == "nameserver") {
      if (words >> word) out.servers.push_back(word);
    } else if (key == "search" || key == "domain") {
      out.searches.clear();
      while (words >> word) out.searches.push_back(word);
    } else if (key == "options") {
      while (words >> word) out.options.push_back(word);
    }
  }
  return out;
}

cri::Labels PodIdentityLabels(const Json& pod) {
  return {{kPodNameLabel, api::Name(pod)},
          {kPodNamespaceLabel, api::Namespace(pod)},
          {kPodUidLabel, api::GetString(pod, {"metadata", "uid"})}};
}

std::string PodLogDirectory(const NodeSettings& node, const Json& pod) {
  return node.data_dir + "/agent/pods/" + api::Namespace(pod) + "_" +
         api::Name(pod) + "_" + api::GetString(pod, {"metadata", "uid"});
}

std::string PodQosClass(const Json& pod) {
  std::string q = api::GetString(pod, {"status", "qosClass"});
  return q.empty() ? api::rules::PodQOSClass(pod) : q;
}

std::string PodCgroupParent(const Json& pod) {
  std::string qos = PodQosClass(pod);
  std::string uid = api::GetString(pod, {"metadata", "uid"});
  if (qos == "Guaranteed") return "/kubepods/pod" + uid;
  if (qos == "Burstable") return "/kubepods/burstable/pod" + uid;
  return "/kubepods/besteffort/pod" + uid;
}

bool IsHostNetwork(const Json& pod) {
  return api::GetBool(pod, {"spec", "hostNetwork"});
}

cri::DnsConfig PodDnsConfig(const NodeSettings& node, const Json& pod) {
  std::string policy =
      api::GetString(pod, {"spec", "dnsPolicy"}, "ClusterFirst");
  bool cluster = policy == "ClusterFirstWithHostNet" ||
                 (policy == "ClusterFirst" && !IsHostNetwork(pod));
  cri::DnsConfig dns;
  if (policy == "None") {
    // only spec.dnsConfig
  } else if (cluster) {
    std::string ns = api::Namespace(pod);
    const std::string& d = node.cluster_domain;
    dns.servers = {node.cluster_dns};
    dns.searches = {ns + ".svc." + d, "svc." + d, d};
    for (const auto& s : node.host_dns.searches) AddUnique(dns.searches, s);
    dns.options = {"ndots:5"};
  } else {
    dns = node.host_dns;
  }
  if (const Json* cfg = api::FieldPath(pod, {"spec", "dnsConfig"})) {
    for (const auto& s : Strings(api::Field(*cfg, "nameservers")))
      AddUnique(dns.servers, s);
    for (const auto& s : Strings(api::Field(*cfg, "searches")))
      AddUnique(dns.searches, s);
    if (const Json* opts = api::Field(*cfg, "options");
        opts && opts->is_array()) {
      for (const Json& o : *opts) {
        std::string name = api::GetString(o, {"name"});
        if (name.empty()) continue;
        std::string value = api::GetString(o, {"value"});
        std::string text = value.empty() ? name : name + ":" + value;
        // An option of the same name replaces the earlier one.
        std::erase_if(dns.options, [&](const std::string& have) {
          return have == name || have.rfind(name + ":", 0) == 0;
        });
        dns.options.push_back(text);
      }
    }
  }
  if (dns.servers.size() > 3) dns.servers.resize(3);
  if (dns.searches.size() > 32) dns.searches.resize(32);
  return dns;
}

cri::PodSandboxConfig BuildSandboxConfig(const NodeSettings& node,
                                         const Json& pod, uint32_t attempt) {
  cri::PodSandboxConfig c;
  c.metadata.name = api::Name(pod);
  c.metadata.namespace_ = api::Namespace(pod);
  c.metadata.uid = api::GetString(pod, {"metadata", "uid"});
  c.metadata.attempt = attempt;
  bool host_net = IsHostNetwork(pod);
  std::string hostname = api::GetString(pod, {"spec", "hostname"});
  if (hostname.empty()) hostname = api::Name(pod);
  if (hostname.size() > 63) hostname.resize(63);
  while (!hostname.empty() &&
         (hostname.back() == '-' || hostname.back() == '.'))
    hostname.pop_back();
  c.hostname = host_net ? node.node_name : hostname;
  c.log_directory = PodLogDirectory(node, pod);
  c.dns_config = PodDnsConfig(node, pod);
  c.labels = api::Labels(pod);
  for (const auto& [k, v] : PodIdentityLabels(pod)) c.labels[k] = v;
  c.annotations =
      api::StringMap(api::FieldPath(pod, {"metadata", "annotations"}));
  c.cgroup_parent = PodCgroupParent(pod);
  c.namespace_options.network =
      host_net ? cri::NamespaceMode::kNode : cri::NamespaceMode::kPod;
  if (api::GetBool(pod, {"spec", "hostPID"}))
    c.namespace_options.pid = cri::NamespaceMode::kNode;
  else if (api::GetBool(pod, {"spec", "shareProcessNamespace"}))
    c.namespace_options.pid = cri::NamespaceMode::kPod;
  else
    c.namespace_options.pid = cri::NamespaceMode::kContainer;
  c.namespace_options.ipc = api::GetBool(pod, {"spec", "hostIPC"})
                                ? cri::NamespaceMode::kNode
                                : cri::NamespaceMode::kPod;
  const Json* psc = api::FieldPath(pod, {"spec", "securityContext"});
  c.run_as_user = OptInt(psc, "runAsUser");
  if (psc)
    if (const Json* sysctls = api::Field(*psc, "sysctls");
        sysctls && sysctls->is_array())
      for (const Json& s : *sysctls)
        c.sysctls[api::GetString(s, {"name"})] = api::GetString(s, {"value"});
  for (const char* list : {"initContainers", "containers"}) {
    const Json* cs = api::FieldPath(pod, {"spec", list});
    if (cs == nullptr || !cs->is_array()) continue;
    for (const Json& ctr : *cs) {
      if (api::GetBool(ctr, {"securityContext", "privileged"}))
        c.privileged = true;
      const Json* ports = api::Field(ctr, "ports");
      if (ports == nullptr || !ports->is_array()) continue;
      for (const Json& p : *ports) {
        int64_t host_port = api::GetInt(p, {"hostPort"});
        if (host_port <= 0) continue;
        cri::PortMapping m;
        std::string proto = api::GetString(p, {"protocol"}, "TCP");
        m.protocol = proto == "UDP"    ? cri::Protocol::kUdp
                     : proto == "SCTP" ? cri::Protocol::kSctp
                                       : cri::Protocol::kTcp;
        m.container_port =
            static_cast<int32_t>(api::GetInt(p, {"containerPort"}));
        m.host_port = static_cast<int32_t>(host_port);
        m.host_ip = api::GetString(p, {"hostIP"});
        c.port_mappings.push_back(m);
      }
    }
  }
  return c;
}

cri::LinuxContainerResources ContainerResources(const NodeSettings& node,
                                                const Json& pod,
                                                const Json& container) {
  cri::LinuxContainerResources r;
  int64_t cpu_req = QuantityMilli(container, "requests", "cpu");
  int64_t cpu_lim = QuantityMilli(container, "limits", "cpu");
  if (cpu_req == 0 && cpu_lim > 0) cpu_req = cpu_lim;
  r.cpu_shares = std::max(kMinShares, cpu_req * 1024 / 1000);
  if (cpu_lim > 0) {
    r.cpu_period = kCpuPeriod;
    r.cpu_quota = std::max(kMinQuota, cpu_lim * kCpuPeriod / 1000);
  }
  r.memory_limit_in_bytes = QuantityValue(container, "limits", "memory");
  std::string qos = PodQosClass(pod);
  if (qos == "Guaranteed") {
    r.oom_score_adj = -997;
  } else if (qos == "BestEffort") {
    r.oom_score_adj = 1000;
  } else {
    int64_t mem_req = QuantityValue(container, "requests", "memory");
    int64_t adj = 999;
    if (node.node_memory_bytes > 0)
      adj = 1000 - (1000 * mem_req) / node.node_memory_bytes;
    r.oom_score_adj = std::clamp<int64_t>(adj, 2, 999);
  }
  return r;
}

cri::ContainerConfig BuildContainerConfig(const NodeSettings& node,
                                          const Json& pod,
                                          const Json& container,
                                          uint32_t attempt,
                                          std::vector<cri::KeyValue> env,
                                          std::vector<cri::Mount> mounts) {
  cri::ContainerConfig c;
  c.name = api::GetString(container, {"name"});
  c.attempt = attempt;
  c.image = api::GetString(container, {"image"});
  for (const auto& s : Strings(api::Field(container, "command")))
    c.command.push_back(ExpandVars(s, env));
  for (const auto& s : Strings(api::Field(container, "args")))
    c.args.push_back(ExpandVars(s, env));
  c.working_dir = api::GetString(container, {"workingDir"});
  c.envs = std::move(env);
  c.mounts = std::move(mounts);
  c.labels = PodIdentityLabels(pod);
  c.labels[kContainerNameLabel] = c.name;
  c.annotations[kImageAnnotation] = c.image;
  c.annotations["io.kubernetes.container.restartCount"] =
      std::to_string(attempt);
  c.annotations["io.kubernetes.pod.terminationGracePeriod"] = std::to_string(
      api::GetInt(pod, {"spec", "terminationGracePeriodSeconds"}, 30));
  c.log_path = c.name + "/" + std::to_string(attempt) + ".log";
  c.stdin_open = api::GetBool(container, {"stdin"});
  c.stdin_once = api::GetBool(container, {"stdinOnce"});
  c.tty = api::GetBool(container, {"tty"});
  c.resources = ContainerResources(node, pod, container);

  const Json* psc = api::FieldPath(pod, {"spec", "securityContext"});
  const Json* sc = api::Field(container, "securityContext");
  auto& s = c.security_context;
  s.run_as_user = OptInt(sc, "runAsUser");
  if (!s.run_as_user) s.run_as_user = OptInt(psc, "runAsUser");
  s.run_as_group = OptInt(sc, "runAsGroup");
  if (!s.run_as_group) s.run_as_group = OptInt(psc, "runAsGroup");
  if (psc) {
    if (auto fs = OptInt(psc, "fsGroup")) s.supplemental_groups.push_back(*fs);
    if (const Json* g = api::Field(*psc, "supplementalGroups");
        g && g->is_array())
      for (const Json& v : *g)
        if (v.is_number_integer())
          s.supplemental_groups.push_back(v.get<int64_t>());
  }
  if (sc) {
    s.privileged = api::GetBool(*sc, {"privileged"});
    s.readonly_rootfs = api::GetBool(*sc, {"readOnlyRootFilesystem"});
    s.add_capabilities = Strings(api::FieldPath(*sc, {"capabilities", "add"}));
    s.drop_capabilities =
        Strings(api::FieldPath(*sc, {"capabilities", "drop"}));
    const Json* ape = api::Field(*sc, "allowPrivilegeEscalation");
    s.no_new_privs = ape && ape->is_boolean() && !ape->get<bool>();
  }
  s.namespace_options.network =
      IsHostNetwork(pod) ? cri::NamespaceMode::kNode : cri::NamespaceMode::kPod;
  if (api::GetBool(pod, {"spec", "hostPID"}))
    s.namespace_options.pid = cri::NamespaceMode::kNode;
  else if (api::GetBool(pod, {"spec", "shareProcessNamespace"}))
    s.namespace_options.pid = cri::NamespaceMode::kPod;
  else
    s.namespace_options.pid = cri::NamespaceMode::kContainer;
  s.namespace_options.ipc = api::GetBool(pod, {"spec", "hostIPC"})
                                ? cri::NamespaceMode::kNode
                                : cri::NamespaceMode::kPod;
  return c;
}

}  // namespace kite::kubelet

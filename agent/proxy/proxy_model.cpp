// BuildSnapshot and the small helpers of proxy_model.h.
#include "agent/proxy/proxy_model.h"

#include <algorithm>
#include <set>
#include <tuple>
#include <utility>

namespace kite::proxy {
namespace {

constexpr const char* kServiceNameLabel = "kubernetes.io/service-name";

// The string at obj[key] or "" when absent or not a string.
std::string StringAt(const Json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

// The object at obj[key] or nullptr when absent or not an object.
const Json* ObjectAt(const Json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_object()) return nullptr;
  return &*it;
}

// The array at obj[key] or nullptr when absent or not an array.
const Json* ArrayAt(const Json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_array()) return nullptr;
  return &*it;
}

// The integer at obj[key]; `fallback` when absent or null;
// `ok` is false when present but not an integer.
int64_t IntAt(const Json& obj, const char* key, int64_t fallback, bool* ok) {
  *ok = true;
  if (!obj.is_object()) return fallback;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  if (!it->is_number_integer()) {
    *ok = false;
    return fallback;
  }
  return it->get<int64_t>();
}

// The tri-state condition obj[key]: true/false when a boolean, `fallback`
// when absent or null.
bool BoolAt(const Json& obj, const char* key, bool fallback) {
  if (!obj.is_object()) return fallback;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_boolean()) return fallback;
  return it->get<bool>();
}

bool ParseProtocol(const Json& obj, Protocol* out) {
  auto it = obj.find("protocol");
  if (it == obj.end() || it->is_null()) {
    *out = Protocol::kTcp;
    return true;
  }
  if (!it->is_string()) return false;
  const std::string& p = it->get_ref<const std::string&>();
  if (p == "TCP") {
    *out = Protocol::kTcp;
  } else if (p == "UDP") {
    *out = Protocol::kUdp;
  } else if (p == "SCTP") {
    *out = Protocol::kSctp;
  } else {
    return false;
  }
  return true;
}

std::vector<std::string> StringList(const Json* arr) {
  std::vector<std::string> out;
  if (arr == nullptr) return out;
  for (const Json& v : *arr) {
    if (v.is_string() && !v.get_ref<const std::string&>().empty()) {
      out.push_back(v.get<std::string>());
    }
  }
  return out;
}

// One endpoint as an EndpointSlice lists it, before the ready filter.
struct Candidate {
  Endpoint endpoint;
  bool ready = true;
  bool serving = true;
  bool terminating = false;
};

// Candidates of one slice for one (port name, protocol): one per address.
void AddSliceCandidates(const Json& slice, const std::string& port_name,
                        Protocol protocol, const SnapshotOptions& options,
                        std::vector<Candidate>* out) {
  std::string address_type = StringAt(slice, "addressType");
  if (address_type != "IPv4" && address_type != "IPv6") return;
  const Json* ports = ArrayAt(slice, "ports");
  const Json* endpoints = ArrayAt(slice, "endpoints");
  if (ports == nullptr || endpoints == nullptr) return;
  int port = 0;
  for (const Json& p : *ports) {
    if (!p.is_object()) continue;
    Protocol proto;
    if (!ParseProtocol(p, &proto) || proto != protocol) continue;
    if (StringAt(p, "name") != port_name) continue;
    bool ok;
    int64_t n = IntAt(p, "port", 0, &ok);
    if (!ok || n < 1 || n > 65535) continue;
    port = static_cast<int>(n);
    break;
  }
  if (port == 0) return;
  for (const Json& ep : *endpoints) {
    if (!ep.is_object()) continue;
    const Json* addresses = ArrayAt(ep, "addresses");
    if (addresses == nullptr) continue;
    Candidate c;
    const Json* conditions = ObjectAt(ep, "conditions");
    static const Json kEmpty = Json::object();
    const Json& cond = conditions != nullptr ? *conditions : kEmpty;
    // Kubernetes: a missing ready means ready; a missing serving means
    // the same as ready; a missing terminating means not terminating.
    c.ready = BoolAt(cond, "ready", true);
    c.serving = BoolAt(cond, "serving", c.ready);
    c.terminating = BoolAt(cond, "terminating", false);
    c.endpoint.port = port;
    c.endpoint.node_name = StringAt(ep, "nodeName");
    c.endpoint.local =
        !options.node_name.empty() && c.endpoint.node_name == options.node_name;
    for (const Json& a : *addresses) {
      if (!a.is_string() || a.get_ref<const std::string&>().empty()) continue;
      c.endpoint.ip = a.get<std::string>();
      out->push_back(c);
    }
  }
}

// The ready endpoints among `candidates` (or the serving and terminating
// ones when none is ready), sorted by (ip, port), without duplicates.
std::vector<Endpoint> SelectEndpoints(
    const std::vector<Candidate>& candidates) {
  std::vector<Endpoint> out;
  for (const Candidate& c : candidates) {
    if (c.ready) out.push_back(c.endpoint);
  }
  if (out.empty()) {
    for (const Candidate& c : candidates) {
      if (c.serving && c.terminating) out.push_back(c.endpoint);
    }
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const Endpoint& a, const Endpoint& b) {
                     return std::tie(a.ip, a.port) < std::tie(b.ip, b.port);
                   });
  out.erase(std::unique(out.begin(), out.end(),
                        [](const Endpoint& a, const Endpoint& b) {
                          return a.ip == b.ip && a.port == b.port;
                        }),
            out.end());
  return out;
}

}  // namespace

const char* ProtocolName(Protocol p) {
  switch (p) {
    case Protocol::kTcp:
      return "tcp";
    case Protocol::kUdp:
      return "udp";
    case Protocol::kSctp:
      return "sctp";
  }
  return "tcp";
}

std::string ServicePort::Key() const {
  return ns + "/" + name + ":" + port_name + "/" + ProtocolName(protocol);
}

ProxySnapshot BuildSnapshot(
    const std::vector<std::shared_ptr<const Json>>& services,
    const std::vector<std::shared_ptr<const Json>>& endpoint_slices,
    const SnapshotOptions& options) {
  // Slices by "ns/service-name".
  std::map<std::string, std::vector<const Json*>> slices_by_service;
  for (const auto& slice : endpoint_slices) {
    if (slice == nullptr || !slice->is_object()) continue;
    const Json* meta = ObjectAt(*slice, "metadata");
    if (meta == nullptr) continue;
    const Json* labels = ObjectAt(*meta, "labels");
    if (labels == nullptr) continue;
    std::string service = StringAt(*labels, kServiceNameLabel);
    if (service.empty()) continue;
    slices_by_service[StringAt(*meta, "namespace") + "/" + service].push_back(
        slice.get());
  }

  ProxySnapshot snapshot;
  for (const auto& svc : services) {
    if (svc == nullptr || !svc->is_object()) continue;
    const Json* meta = ObjectAt(*svc, "metadata");
    const Json* spec = ObjectAt(*svc, "spec");
    if (meta == nullptr || spec == nullptr) continue;
    std::string ns = StringAt(*meta, "namespace");
    std::string name = StringAt(*meta, "name");
    if (name.empty()) continue;
    std::string type = StringAt(*spec, "type");
    if (type.empty()) type = "ClusterIP";
    if (type == "ExternalName") continue;

    std::vector<std::string> cluster_ips =
        StringList(ArrayAt(*spec, "clusterIPs"));
    if (cluster_ips.empty()) {
      std::string ip = StringAt(*spec, "clusterIP");
      if (!ip.empty()) cluster_ips.push_back(ip);
    }
    cluster_ips.erase(
        std::remove(cluster_ips.begin(), cluster_ips.end(), "None"),
        cluster_ips.end());
    if (cluster_ips.empty()) continue;  // headless

    const Json* ports = ArrayAt(*spec, "ports");
    if (ports == nullptr) continue;

    std::vector<std::string> external_ips =
        StringList(ArrayAt(*spec, "externalIPs"));
    std::vector<std::string> lb_ips;
    if (type == "LoadBalancer") {
      const Json* status = ObjectAt(*svc, "status");
      const Json* lb = status ? ObjectAt(*status, "loadBalancer") : nullptr;
      const Json* ingress = lb ? ArrayAt(*lb, "ingress") : nullptr;
      if (ingress != nullptr) {
        for (const Json& in : *ingress) {
          std::string ip = StringAt(in, "ip");
          if (!ip.empty()) lb_ips.push_back(ip);
        }
      }
    }
    bool affinity = StringAt(*spec, "sessionAffinity") == "ClientIP";
    int affinity_timeout = 10800;
    if (affinity) {
      const Json* cfg = ObjectAt(*spec, "sessionAffinityConfig");
      const Json* client_ip = cfg ? ObjectAt(*cfg, "clientIP") : nullptr;
      if (client_ip != nullptr) {
        bool ok;
        int64_t t = IntAt(*client_ip, "timeoutSeconds", 10800, &ok);
        if (ok && t >= 1 && t <= 86400) affinity_timeout = static_cast<int>(t);
      }
    }
    bool external_local = StringAt(*spec, "externalTrafficPolicy") == "Local";
    bool internal_local = StringAt(*spec, "internalTrafficPolicy") == "Local";
    bool has_node_ports = type == "NodePort" || type == "LoadBalancer";
    bool is_cluster_dns = !options.local_dns_address.empty() &&
                          std::find(cluster_ips.begin(), cluster_ips.end(),
                                    options.cluster_dns) != cluster_ips.end();

    auto slices_it = slices_by_service.find(ns + "/" + name);
    for (const Json& p : *ports) {
      if (!p.is_object()) continue;
      ServicePort sp;
      sp.ns = ns;
      sp.name = name;
      sp.port_name = StringAt(p, "name");
      if (!ParseProtocol(p, &sp.protocol)) continue;
      bool ok;
      int64_t port = IntAt(p, "port", 0, &ok);
      if (!ok || port < 1 || port > 65535) continue;
      sp.port = static_cast<int>(port);
      if (has_node_ports) {
        int64_t node_port = IntAt(p, "nodePort", 0, &ok);
        if (ok && node_port >= 1 && node_port <= 65535) {
          sp.node_port = static_cast<int>(node_port);
        }
      }
      sp.cluster_ips = cluster_ips;
      sp.external_ips = external_ips;
      sp.load_balancer_ips = lb_ips;
      sp.session_affinity = affinity;
      sp.affinity_timeout_seconds = affinity_timeout;
      sp.external_policy_local = external_local;
      sp.internal_policy_local = internal_local;
      if (is_cluster_dns && sp.port == 53 &&
          (sp.protocol == Protocol::kUdp || sp.protocol == Protocol::kTcp)) {
        sp.endpoints.push_back(Endpoint{options.local_dns_address,
                                        options.local_dns_port,
                                        options.node_name, true});
      } else if (slices_it != slices_by_service.end()) {
        std::vector<Candidate> candidates;
        for (const Json* slice : slices_it->second) {
          AddSliceCandidates(*slice, sp.port_name, sp.protocol, options,
                             &candidates);
        }
        sp.endpoints = SelectEndpoints(candidates);
      }
      std::string key = sp.Key();
      // Two ports with one name and protocol: invalid; the first wins.
      snapshot.ports.emplace(std::move(key), std::move(sp));
    }
  }
  return snapshot;
}

StatusOr<ProxyMode> ParseProxyMode(std::string_view mode) {
  if (mode.empty() || mode == "auto") return ProxyMode::kAuto;
  if (mode == "nftables") return ProxyMode::kNftables;
  if (mode == "iptables") return ProxyMode::kIptables;
  if (mode == "userspace") return ProxyMode::kUserspace;
  return InvalidArgumentError("unknown proxy mode \"" + std::string(mode) +
                              "\": want auto, nftables, iptables or userspace");
}

}  // namespace kite::proxy

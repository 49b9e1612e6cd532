#include "agent/kubelet/env.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <utility>

#include "api/object.h"
#include "api/quantity.h"
#include "client/https_client.h"
#include "common/log.h"

namespace kite::kubelet {
namespace {

using Json = nlohmann::json;

const client::ResourceRef kConfigMaps{"", "v1", "configmaps", ""};
const client::ResourceRef kSecrets{"", "v1", "secrets", ""};
const client::ResourceRef kServices{"", "v1", "services", ""};
const client::ResourceRef kEvents{"", "v1", "events", ""};

std::string Upper(std::string s) {
  for (char& c : s) {
    if (c == '-') c = '_';
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return s;
}

std::string Lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

// Keeps the first position of a name; a redefinition replaces the value.
class OrderedEnv {
 public:
  void Set(const std::string& k, std::string v) {
    auto it = index_.find(k);
    if (it != index_.end()) {
      vars_[it->second].value = std::move(v);
      return;
    }
    index_[k] = vars_.size();
    vars_.push_back({k, std::move(v)});
  }
  bool Get(const std::string& k, std::string* v) const {
    auto it = index_.find(k);
    if (it == index_.end()) return false;
    *v = vars_[it->second].value;
    return true;
  }
  bool Has(const std::string& k) const { return index_.count(k) > 0; }
  std::vector<cri::KeyValue> Take() { return std::move(vars_); }

 private:
  std::map<std::string, size_t> index_;
  std::vector<cri::KeyValue> vars_;
};

// A configMap's or secret's data as strings (secrets decoded). nullopt with
// `err` set when it cannot be had.
struct Source {
  bool found = false;
  std::map<std::string, std::string> data;
};

StatusOr<Source> Fetch(client::Interface& c, bool secret, const std::string& ns,
                       const std::string& name) {
  Source s;
  auto r = c.Get((secret ? kSecrets : kConfigMaps).In(ns), name, {});
  if (!r.ok()) {
    if (r.status().code() == Code::kNotFound) return s;
    return Status(Code::kUnavailable, r.status().message());
  }
  s.found = true;
  if (const Json* d = api::Field(*r, "data"); d != nullptr && d->is_object()) {
    for (const auto& [k, v] : d->items()) {
      if (!v.is_string()) continue;
      if (!secret) {
        s.data[k] = v.get<std::string>();
        continue;
      }
      auto dec = client::Base64Decode(v.get<std::string>());
      if (dec.ok()) s.data[k] = std::move(*dec);
    }
  }
  return s;
}

int64_t CeilDiv(double a, double b) {
  if (b <= 0) return 0;
  double q = a / b;
  int64_t i = static_cast<int64_t>(q);
  return (static_cast<double>(i) < q) ? i + 1 : i;
}

}  // namespace

bool IsEnvVarName(const std::string& name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    bool digit = c >= '0' && c <= '9';
    if (!(alpha || c == '-' || c == '.' || c == '_' || (digit && i > 0)))
      return false;
  }
  return true;
}

std::string ExpandEnv(
    const std::string& in,
    const std::function<bool(const std::string&, std::string*)>& lookup) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '$' || i + 1 >= in.size()) {
      out += in[i];
      continue;
    }
    char n = in[i + 1];
    if (n == '$') {  // $$ -> $
      out += '$';
      ++i;
      continue;
    }
    if (n != '(') {
      out += in[i];
      continue;
    }
    size_t close = in.find(')', i + 2);
    if (close == std::string::npos) {  // unterminated: as written
      out += in.substr(i);
      break;
    }
    std::string name = in.substr(i + 2, close - i - 2);
    std::string value;
    if (!name.empty() && lookup(name, &value)) {
      out += value;
    } else {
      out += in.substr(i, close - i + 1);
    }
    i = close;
  }
  return out;
}

std::vector<cri::KeyValue> ServiceEnv(const std::vector<Json>& services) {
  std::vector<const Json*> sorted;
  for (const Json& s : services) sorted.push_back(&s);
  std::sort(sorted.begin(), sorted.end(), [](const Json* a, const Json* b) {
    return api::Name(*a) < api::Name(*b);
  });
  std::vector<cri::KeyValue> out;
  for (const Json* svc : sorted) {
    std::string ip = api::GetString(*svc, {"spec", "clusterIP"});
    if (ip.empty() || ip == "None") continue;
    const Json* ports = api::FieldPath(*svc, {"spec", "ports"});
    if (ports == nullptr || !ports->is_array() || ports->empty()) continue;
    std::string prefix = Upper(api::Name(*svc));
    out.push_back({prefix + "_SERVICE_HOST", ip});
    auto port_of = [](const Json& p) {
      return std::to_string(api::GetInt(p, {"port"}));
    };
    out.push_back({prefix + "_SERVICE_PORT", port_of((*ports)[0])});
    for (const Json& p : *ports) {
      std::string name = api::GetString(p, {"name"});
      if (!name.empty())
        out.push_back({prefix + "_SERVICE_PORT_" + Upper(name), port_of(p)});
    }
    std::string host = ip.find(':') != std::string::npos ? "[" + ip + "]" : ip;
    auto proto_of = [](const Json& p) {
      return Lower(api::GetString(p, {"protocol"}, "TCP"));
    };
    out.push_back({prefix + "_PORT", proto_of((*ports)[0]) + "://" + host +
                                         ":" + port_of((*ports)[0])});
    for (const Json& p : *ports) {
      std::string proto = proto_of(p);
      std::string base = prefix + "_PORT_" + port_of(p) + "_" + Upper(proto);
      out.push_back({base, proto + "://" + host + ":" + port_of(p)});
      out.push_back({base + "_PROTO", proto});
      out.push_back({base + "_PORT", port_of(p)});
      out.push_back({base + "_ADDR", ip});
    }
  }
  return out;
}

StatusOr<std::string> ResourceFieldValue(const Json& container,
                                         const std::string& resource,
                                         const std::string& divisor_text,
                                         const Json& allocatable) {
  size_t dot = resource.find('.');
  if (dot == std::string::npos)
    return InvalidArgumentError("unsupported container resource: " + resource);
  std::string kind = resource.substr(0, dot);  // limits / requests
  std::string name = resource.substr(dot + 1);
  if ((kind != "limits" && kind != "requests") ||
      (name != "cpu" && name != "memory" && name != "ephemeral-storage" &&
       name.rfind("hugepages-", 0) != 0))
    return InvalidArgumentError("unsupported container resource: " + resource);
  std::string value = api::GetString(container, {"resources", kind, name});
  if (value.empty() && kind == "limits")
    value = api::GetString(allocatable, {name});
  if (value.empty()) value = "0";
  auto q = api::Quantity::Parse(value);
  if (!q.ok()) return q.status();
  auto d = api::Quantity::Parse(divisor_text.empty() ? "1" : divisor_text);
  if (!d.ok()) return d.status();
  if (d->IsZero()) return InvalidArgumentError("divisor must not be zero");
  if (name == "cpu") {
    return std::to_string(CeilDiv(static_cast<double>(q->MilliValue()),
                                  static_cast<double>(d->MilliValue())));
  }
  return std::to_string(CeilDiv(static_cast<double>(q->Value()),
                                static_cast<double>(d->Value())));
}

StatusOr<std::string> PodFieldValue(const Json& pod, const std::string& path,
                                    const std::vector<std::string>& host_ips) {
  auto subscript = [&](const std::string& prefix, std::string* key) -> bool {
    // metadata.labels['k'] (also with "").
    if (path.rfind(prefix + "[", 0) != 0 || path.size() < prefix.size() + 4 ||
        path.back() != ']')
      return false;
    std::string inner =
        path.substr(prefix.size() + 1, path.size() - prefix.size() - 2);
    if (inner.size() < 2 || (inner.front() != '\'' && inner.front() != '"') ||
        inner.back() != inner.front())
      return false;
    *key = inner.substr(1, inner.size() - 2);
    return true;
  };
  std::string key;
  if (path == "metadata.name") return api::Name(pod);
  if (path == "metadata.namespace") return api::Namespace(pod);
  if (path == "metadata.uid") return api::GetString(pod, {"metadata", "uid"});
  if (subscript("metadata.labels", &key))
    return api::GetString(pod, {"metadata", "labels", key});
  if (subscript("metadata.annotations", &key))
    return api::GetString(pod, {"metadata", "annotations", key});
  if (path == "spec.nodeName") return api::GetString(pod, {"spec", "nodeName"});
  if (path == "spec.serviceAccountName")
    return api::GetString(pod, {"spec", "serviceAccountName"});
  auto ips = [&](const char* single, const char* plural,
                 const std::vector<std::string>& fallback) {
    std::vector<std::string> out;
    if (const Json* l = api::FieldPath(pod, {"status", plural});
        l != nullptr && l->is_array()) {
      for (const Json& e : *l) {
        std::string ip = api::GetString(e, {"ip"});
        if (!ip.empty()) out.push_back(ip);
      }
    }
    if (out.empty()) {
      std::string ip = api::GetString(pod, {"status", single});
      if (!ip.empty()) out.push_back(ip);
    }
    if (out.empty()) out = fallback;
    return out;
  };
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& e : v) s += (s.empty() ? "" : ",") + e;
    return s;
  };
  if (path == "status.podIP") {
    auto v = ips("podIP", "podIPs", {});
    return v.empty() ? "" : v[0];
  }
  if (path == "status.podIPs") return join(ips("podIP", "podIPs", {}));
  if (path == "status.hostIP") {
    auto v = ips("hostIP", "hostIPs", host_ips);
    return v.empty() ? "" : v[0];
  }
  if (path == "status.hostIPs") return join(ips("hostIP", "hostIPs", host_ips));
  if (path == "metadata.labels" || path == "metadata.annotations") {
    // The downward API volume's form: k="v" lines, sorted.
    std::string out;
    std::map<std::string, std::string> m =
        api::StringMap(api::FieldPath(pod, {"metadata", path.substr(9)}));
    for (const auto& [k, v] : m) {
      Json quoted = v;
      out += k + "=" + quoted.dump() + "\n";
    }
    return out;
  }
  return InvalidArgumentError("unsupported fieldRef fieldPath: " + path);
}

Env::Env(client::Interface& client, EnvOptions options)
    : client_(client), options_(std::move(options)) {}

StatusOr<std::vector<Json>> Env::Services(const std::string& ns) {
  std::vector<Json> out;
  if (options_.services != nullptr) {
    for (const auto& s : options_.services->List()) {
      std::string sns = api::Namespace(*s);
      if (sns == ns || (sns == "default" && api::Name(*s) == "kubernetes"))
        out.push_back(*s);
    }
    return out;
  }
  auto l = client_.List(kServices.In(ns), {});
  if (!l.ok()) return Status(Code::kUnavailable, l.status().message());
  for (const Json& s : (*l)["items"]) out.push_back(s);
  if (ns != "default") {
    auto k = client_.Get(kServices.In("default"), "kubernetes", {});
    if (k.ok()) {
      out.push_back(*k);
    } else if (k.status().code() != Code::kNotFound) {
      return Status(Code::kUnavailable, k.status().message());
    }
  }
  return out;
}

StatusOr<std::vector<cri::KeyValue>> Env::Build(const Json& pod,
                                                const Json& container) {
  std::string ns = api::Namespace(pod);
  bool links = api::GetBool(pod, {"spec", "enableServiceLinks"}, true);
  KITE_ASSIGN_OR_RETURN(std::vector<Json> services, Services(ns));
  std::vector<Json> visible;
  for (Json& s : services) {
    bool master =
        api::Namespace(s) == "default" && api::Name(s) == "kubernetes";
    if (master || (links && api::Namespace(s) == ns))
      visible.push_back(std::move(s));
  }
  OrderedEnv service_env;
  for (auto& kv : ServiceEnv(visible)) service_env.Set(kv.key, kv.value);

  OrderedEnv env;
  // Fetched once per Build: the same object may be referenced many times.
  std::map<std::pair<bool, std::string>, Source> cache;
  auto source = [&](bool secret, const std::string& name) -> StatusOr<Source*> {
    auto key = std::make_pair(secret, name);
    auto it = cache.find(key);
    if (it == cache.end()) {
      KITE_ASSIGN_OR_RETURN(Source s, Fetch(client_, secret, ns, name));
      it = cache.emplace(key, std::move(s)).first;
    }
    return &it->second;
  };

  if (const Json* from = api::Field(container, "envFrom");
      from != nullptr && from->is_array()) {
    for (const Json& f : *from) {
      bool secret = api::Has(f, {"secretRef"});
      const Json* ref = api::Field(f, secret ? "secretRef" : "configMapRef");
      if (ref == nullptr) continue;
      std::string name = api::GetString(*ref, {"name"});
      bool optional = api::GetBool(*ref, {"optional"}, false);
      KITE_ASSIGN_OR_RETURN(Source * s, source(secret, name));
      if (!s->found) {
        if (optional) continue;
        return Status(Code::kUnavailable,
                      std::string(secret ? "secret" : "configmap") + " \"" +
                          name + "\" not found");
      }
      std::string prefix = api::GetString(f, {"prefix"});
      std::vector<std::string> invalid;
      for (const auto& [k, v] : s->data) {
        std::string var = prefix + k;
        if (!IsEnvVarName(var)) {
          invalid.push_back(var);
          continue;
        }
        env.Set(var, v);
      }
      if (!invalid.empty() && options_.record_events) {
        std::string keys;
        for (const auto& k : invalid) keys += (keys.empty() ? "" : ", ") + k;
        std::string now = api::FormatTime(std::chrono::system_clock::now());
        char suffix[24];
        std::snprintf(
            suffix, sizeof(suffix), ".%llx",
            static_cast<unsigned long long>(
                std::chrono::system_clock::now().time_since_epoch().count()));
        Json ev = {{"apiVersion", "v1"},
                   {"kind", "Event"},
                   {"metadata",
                    {{"name", api::Name(pod) + suffix}, {"namespace", ns}}},
                   {"involvedObject",
                    {{"apiVersion", "v1"},
                     {"kind", "Pod"},
                     {"namespace", ns},
                     {"name", api::Name(pod)},
                     {"uid", api::GetString(pod, {"metadata", "uid"})}}},
                   {"reason", "InvalidEnvironmentVariableNames"},
                   {"message",
                    "Keys [" + keys + "] from the EnvFrom " +
                        (secret ? "secret " : "configMap ") + ns + "/" + name +
                        " were skipped since they are considered invalid "
                        "environment variable names."},
                   {"type", "Warning"},
                   {"source",
                    {{"component", "kubelet"},
                     {"host", api::GetString(pod, {"spec", "nodeName"})}}},
                   {"firstTimestamp", now},
                   {"lastTimestamp", now},
                   {"count", 1}};
        auto r = client_.Create(kEvents.In(ns), ev, {});
        if (!r.ok())
          log::Debug("kubelet", "event not recorded")("error",
                                                      r.status().ToString());
      }
    }
  }

  Json allocatable =
      options_.node_allocatable ? options_.node_allocatable() : Json::object();
  if (const Json* vars = api::Field(container, "env");
      vars != nullptr && vars->is_array()) {
    for (const Json& e : *vars) {
      std::string name = api::GetString(e, {"name"});
      if (name.empty()) continue;
      const Json* from = api::Field(e, "valueFrom");
      if (from == nullptr || !from->is_object()) {
        std::string value = api::GetString(e, {"value"});
        env.Set(name,
                ExpandEnv(value, [&](const std::string& k, std::string* v) {
                  return env.Get(k, v) || service_env.Get(k, v);
                }));
        continue;
      }
      if (const Json* f = api::Field(*from, "fieldRef")) {
        KITE_ASSIGN_OR_RETURN(
            std::string v, PodFieldValue(pod, api::GetString(*f, {"fieldPath"}),
                                         options_.host_ips));
        env.Set(name, std::move(v));
        continue;
      }
      if (const Json* r = api::Field(*from, "resourceFieldRef")) {
        const Json* target = &container;
        std::string cname = api::GetString(*r, {"containerName"});
        if (!cname.empty() && cname != api::GetString(container, {"name"})) {
          target = nullptr;
          for (const char* list : {"containers", "initContainers"}) {
            const Json* cs = api::FieldPath(pod, {"spec", list});
            if (cs == nullptr || !cs->is_array()) continue;
            for (const Json& c : *cs)
              if (api::GetString(c, {"name"}) == cname) target = &c;
          }
          if (target == nullptr)
            return InvalidArgumentError("container " + cname + " not found");
        }
        const Json* div = api::Field(*r, "divisor");
        std::string divisor =
            div != nullptr && div->is_string() ? div->get<std::string>() : "";
        KITE_ASSIGN_OR_RETURN(
            std::string v,
            ResourceFieldValue(*target, api::GetString(*r, {"resource"}),
                               divisor, allocatable));
        env.Set(name, std::move(v));
        continue;
      }
      bool secret = api::Has(*from, {"secretKeyRef"});
      const Json* ref =
          api::Field(*from, secret ? "secretKeyRef" : "configMapKeyRef");
      if (ref == nullptr) continue;
      std::string obj = api::GetString(*ref, {"name"});
      std::string key = api::GetString(*ref, {"key"});
      bool optional = api::GetBool(*ref, {"optional"}, false);
      KITE_ASSIGN_OR_RETURN(Source * s, source(secret, obj));
      if (!s->found) {
        if (optional) continue;
        return Status(Code::kUnavailable,
                      std::string(secret ? "secret" : "configmap") + " \"" +
                          obj + "\" not found");
      }
      auto it = s->data.find(key);
      if (it == s->data.end()) {
        if (optional) continue;
        return Status(Code::kUnavailable,
                      "couldn't find key " + key + " in " +
                          (secret ? "Secret " : "ConfigMap ") + ns + "/" + obj);
      }
      env.Set(name, it->second);
    }
  }

  std::vector<cri::KeyValue> services_left;
  for (auto& kv : service_env.Take())
    if (!env.Has(kv.key)) services_left.push_back(std::move(kv));
  std::vector<cri::KeyValue> out = env.Take();
  for (auto& kv : services_left) out.push_back(std::move(kv));
  return out;
}

}  // namespace kite::kubelet

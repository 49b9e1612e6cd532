// core/v1 kinds other than pods: services, namespaces, config maps, secrets,
// volumes, quotas.
#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <vector>

#include "api/quantity.h"
#include "api/rules.h"
#include "api/rules_util.h"
#include "api/selectors.h"
#include "api/validation.h"

namespace kite::api::rules {

namespace {

constexpr char kB64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string Base64Encode(std::string_view in) {
  std::string out;
  size_t i = 0;
  while (i + 2 < in.size()) {
    uint32_t v =
        (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += kB64[v & 63];
    i += 3;
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

// Decodes standard padded base64 as Go's encoding/base64.StdEncoding does;
// the error names the first bad byte like Go ("illegal base64 data at input
// byte 4"). Newlines are skipped, as Go does.
StatusOr<std::string> Base64Decode(std::string_view in) {
  std::string clean;
  std::vector<size_t> pos;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '\n' || in[i] == '\r') continue;
    clean.push_back(in[i]);
    pos.push_back(i);
  }
  auto bad = [&](size_t at) {
    size_t p = at < pos.size() ? pos[at] : in.size();
    return InvalidArgumentError("illegal base64 data at input byte " +
                                std::to_string(p));
  };
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  size_t i = 0;
  for (; i < clean.size(); ++i) {
    char c = clean[i];
    if (c == '=') break;
    const char* p = std::strchr(kB64, c);
    if (p == nullptr || c == 0) return bad(i);
    acc = (acc << 6) | static_cast<uint32_t>(p - kB64);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  size_t data_len = i;
  size_t pad = 0;
  for (; i < clean.size(); ++i) {
    if (clean[i] != '=') return bad(i);
    ++pad;
  }
  size_t rem = data_len % 4;
  if (rem == 1) return bad(data_len);
  if ((rem == 0 && pad != 0) || (rem == 2 && pad != 2) ||
      (rem == 3 && pad != 1)) {
    return bad(rem == 0 ? data_len : data_len + std::min(pad, size_t(4 - rem)));
  }
  return out;
}

bool ValidIPv4(const std::string& s) {
  int parts = 0;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find('.', i);
    std::string p =
        s.substr(i, j == std::string::npos ? std::string::npos : j - i);
    if (p.empty() || p.size() > 3 ||
        !std::all_of(p.begin(), p.end(),
                     [](char c) { return c >= '0' && c <= '9'; })) {
      return false;
    }
    if (std::stoi(p) > 255 || (p.size() > 1 && p[0] == '0')) return false;
    ++parts;
    if (j == std::string::npos) break;
    i = j + 1;
  }
  return parts == 4;
}

// LoadBalancer, NodePort, or ClusterIP with externalIPs (`spec` given).
bool ExternallyAccessible(const Json& spec) {
  std::string type = GetString(spec, {"type"});
  const Json* ext = Field(spec, "externalIPs");
  return type == "LoadBalancer" || type == "NodePort" ||
         (type == "ClusterIP" && ext && ext->is_array() && !ext->empty());
}

bool ValidIP(const std::string& s) {
  if (s.find(':') != std::string::npos) {
    return s.find_first_not_of("0123456789abcdefABCDEF:.") ==
               std::string::npos &&
           s.size() >= 2;
  }
  return ValidIPv4(s);
}

std::string GoServicePortKey(const std::string& protocol, int64_t port,
                             int64_t node_port) {
  return "core.ServicePort{Name:\"\", Protocol:" + GoQuote(protocol) +
         ", AppProtocol:(*string)(nil), Port:" + std::to_string(port) +
         ", TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}, "
         "NodePort:" +
         std::to_string(node_port) + "}";
}

void ValidateDataKeys(const Json& obj, const char* member, FieldErrors* errs,
                      size_t* total) {
  const Json* data = Field(obj, member);
  if (data == nullptr || !data->is_object()) return;
  for (auto it = data->begin(); it != data->end(); ++it) {
    AppendInvalid(errs, Key(member, it.key()), it.key(),
                  IsConfigMapKey(it.key()));
    if (it.value().is_string()) *total += it.value().get<std::string>().size();
  }
}

void ImmutableData(const Json& obj, const Json* old, FieldErrors* errs) {
  if (old == nullptr || !GetBool(*old, {"immutable"})) return;
  if (!GetBool(obj, {"immutable"})) {
    errs->push_back(
        Forbidden("immutable", "field is immutable when `immutable` is set"));
  }
  for (const char* f : {"data", "binaryData"}) {
    const Json* a = Field(obj, f);
    const Json* b = Field(*old, f);
    if ((a ? *a : Json()) != (b ? *b : Json())) {
      errs->push_back(
          Forbidden(f, "field is immutable when `immutable` is set"));
    }
  }
}

}  // namespace

// ---- Service ----

Status DefaultService(Json& obj) {
  Json& spec = Obj(obj, "spec");
  DefaultString(spec, "sessionAffinity", "None");
  std::string affinity = GetString(spec, {"sessionAffinity"});
  if (affinity == "None") spec.erase("sessionAffinityConfig");
  if (affinity == "ClientIP") {
    Json& cfg = Obj(Obj(spec, "sessionAffinityConfig"), "clientIP");
    DefaultValue(cfg, "timeoutSeconds", 10800);
  }
  DefaultString(spec, "type", "ClusterIP");
  ForEach(spec, "ports", [](Json& p) {
    DefaultString(p, "protocol", "TCP");
    const Json* tp = Field(p, "targetPort");
    bool unset = tp == nullptr || tp->is_null() ||
                 (tp->is_number_integer() && tp->get<int64_t>() == 0) ||
                 (tp->is_string() && tp->get<std::string>().empty());
    if (unset && p.contains("port")) p["targetPort"] = p["port"];
  });
  std::string type = GetString(spec, {"type"});
  const Json* ext = Field(spec, "externalIPs");
  bool externally =
      type == "LoadBalancer" || type == "NodePort" ||
      (type == "ClusterIP" && ext && ext->is_array() && !ext->empty());
  if (externally) DefaultString(spec, "externalTrafficPolicy", "Cluster");
  if (type == "NodePort" || type == "LoadBalancer" || type == "ClusterIP") {
    DefaultString(spec, "internalTrafficPolicy", "Cluster");
  }
  if (type == "LoadBalancer")
    DefaultValue(spec, "allocateLoadBalancerNodePorts", true);
  return Status::Ok();
}

void OnCreateService(Json& obj) {
  obj["status"] = {{"loadBalancer", Json::object()}};
}

void OnUpdateService(Json& obj, const Json& old) {
  Json& spec = Obj(obj, "spec");
  const Json* old_spec = Field(old, "spec");
  if (old_spec == nullptr) return;
  std::string old_type = GetString(*old_spec, {"type"});
  std::string new_type = GetString(spec, {"type"});
  bool old_needs_ip = old_type != "ExternalName";
  bool new_needs_ip = new_type != "ExternalName";
  // Keep the allocated cluster IP when the client left it out.
  if (old_needs_ip && new_needs_ip) {
    std::string old_ip = GetString(*old_spec, {"clusterIP"});
    std::string new_ip = GetString(spec, {"clusterIP"});
    const Json* old_ips = Field(*old_spec, "clusterIPs");
    const Json* new_ips = Field(spec, "clusterIPs");
    bool ips_same =
        (old_ips ? *old_ips : Json()) == (new_ips ? *new_ips : Json());
    if (new_ip.empty() &&
        (new_ips == nullptr || new_ips->is_null() || new_ips->empty())) {
      if (!old_ip.empty()) spec["clusterIP"] = old_ip;
      if (old_ips) spec["clusterIPs"] = *old_ips;
    } else if (new_ip != old_ip && ips_same && old_ips && old_ips->is_array() &&
               !old_ips->empty()) {
      // clusterIP changed alone: clusterIPs follow it.
      spec["clusterIPs"][0] = new_ip;
    } else if (new_ip.empty() && new_ips && new_ips->is_array() &&
               !new_ips->empty() && (*new_ips)[0].is_string()) {
      spec["clusterIP"] = (*new_ips)[0];
    }
    for (const char* f : {"ipFamilies", "ipFamilyPolicy"}) {
      if (!Has(spec, {f}) && Has(*old_spec, {f})) spec[f] = (*old_spec)[f];
    }
  }
  // Keep allocated node ports (matched by port name) when left out.
  auto needs_node_port = [](const std::string& t) {
    return t == "NodePort" || t == "LoadBalancer";
  };
  if (needs_node_port(old_type) && needs_node_port(new_type)) {
    std::map<std::string, int64_t> by_name;
    std::set<int64_t> used_old, used_new;
    ForEachConst(*old_spec, "ports", [&](const Json& p, size_t) {
      by_name[GetString(p, {"name"})] = GetInt(p, {"nodePort"});
      used_old.insert(GetInt(p, {"nodePort"}));
    });
    ForEachConst(spec, "ports", [&](const Json& p, size_t) {
      used_new.insert(GetInt(p, {"nodePort"}));
    });
    ForEach(spec, "ports", [&](Json& p) {
      if (GetInt(p, {"nodePort"}) != 0) return;
      auto it = by_name.find(GetString(p, {"name"}));
      if (it == by_name.end() || it->second == 0) return;
      if (used_old.count(it->second) && used_new.count(it->second)) return;
      p["nodePort"] = it->second;
      used_new.insert(it->second);
    });
  }
  if (GetInt(spec, {"healthCheckNodePort"}) == 0 &&
      GetInt(*old_spec, {"healthCheckNodePort"}) != 0 &&
      new_type == "LoadBalancer" &&
      GetString(spec, {"externalTrafficPolicy"}) == "Local") {
    spec["healthCheckNodePort"] = (*old_spec)["healthCheckNodePort"];
  }
  // A type change drops the fields only the old type had, when the client
  // left them as they were (a changed value is the client's and gets
  // validated), as Kubernetes does.
  auto same = [&](const char* f) {
    const Json* a = Field(*old_spec, f);
    const Json* b = Field(spec, f);
    return a != nullptr && b != nullptr && *a == *b;
  };
  if (old_type == "LoadBalancer" && new_type != "LoadBalancer") {
    if (same("allocateLoadBalancerNodePorts"))
      spec.erase("allocateLoadBalancerNodePorts");
    if (same("loadBalancerClass")) spec.erase("loadBalancerClass");
  }
  if (ExternallyAccessible(*old_spec) && !ExternallyAccessible(spec) &&
      same("externalTrafficPolicy")) {
    spec.erase("externalTrafficPolicy");
  }
}

void ValidateService(const Json& obj, const Json* old, FieldErrors* errs) {
  static const Json kEmpty = Json::object();
  const Json* sp = Field(obj, "spec");
  const Json& spec = sp ? *sp : kEmpty;
  std::string type = GetString(spec, {"type"});
  std::string cluster_ip = GetString(spec, {"clusterIP"});
  bool headless = cluster_ip == "None";
  const Json* ports = Field(spec, "ports");
  size_t nports = ports && ports->is_array() ? ports->size() : 0;
  if (type.empty()) {
    errs->push_back(Required("spec.type", ""));
  } else if (!OneOf(type, {"ClusterIP", "ExternalName", "LoadBalancer",
                           "NodePort"})) {
    errs->push_back(NotSupported(
        "spec.type", type,
        {"ClusterIP", "ExternalName", "LoadBalancer", "NodePort"}));
  }
  if (nports == 0 && !headless && type != "ExternalName")
    errs->push_back(Required("spec.ports", ""));
  if (type == "ExternalName") {
    std::string en = GetString(spec, {"externalName"});
    if (!cluster_ip.empty())
      errs->push_back(Forbidden("spec.clusterIPs",
                                "may not be set for ExternalName services"));
    if (en.empty()) {
      errs->push_back(Required("spec.externalName", ""));
    } else {
      std::string trimmed = en.back() == '.' ? en.substr(0, en.size() - 1) : en;
      AppendInvalid(errs, "spec.externalName", en, IsDNS1123Subdomain(trimmed));
    }
  }
  std::set<std::string> names;
  std::set<std::pair<std::string, int64_t>> seen_ports, seen_node_ports;
  ForEachConst(spec, "ports", [&](const Json& p, size_t i) {
    std::string pp = Index("spec.ports", i);
    std::string name = GetString(p, {"name"});
    if (nports > 1 && name.empty()) {
      errs->push_back(Required(Child(pp, "name"), ""));
    } else if (!name.empty()) {
      AppendInvalid(errs, Child(pp, "name"), name, IsDNS1123Label(name));
      if (!names.insert(name).second)
        errs->push_back(Duplicate(Child(pp, "name"), name));
    }
    int64_t port = GetInt(p, {"port"});
    AppendInvalid(errs, Child(pp, "port"), port, IsValidPortNum(port));
    std::string proto = GetString(p, {"protocol"});
    if (proto.empty()) {
      errs->push_back(Required(Child(pp, "protocol"), ""));
    } else if (!OneOf(proto, {"SCTP", "TCP", "UDP"})) {
      errs->push_back(
          NotSupported(Child(pp, "protocol"), proto, {"SCTP", "TCP", "UDP"}));
    }
    if (const Json* tp = Field(p, "targetPort"); tp && !tp->is_null()) {
      if (tp->is_number_integer()) {
        AppendInvalid(errs, Child(pp, "targetPort"), *tp,
                      IsValidPortNum(tp->get<int64_t>()));
      } else if (tp->is_string()) {
        AppendInvalid(errs, Child(pp, "targetPort"), *tp,
                      IsValidPortName(tp->get<std::string>()));
      }
    }
    int64_t node_port = GetInt(p, {"nodePort"});
    if (node_port != 0) {
      if (type == "ClusterIP") {
        errs->push_back(
            Forbidden(Child(pp, "nodePort"),
                      "may not be used when `type` is 'ClusterIP'"));
      } else {
        AppendInvalid(errs, Child(pp, "nodePort"), node_port,
                      IsValidPortNum(node_port));
        if (!seen_node_ports.insert({proto, node_port}).second) {
          errs->push_back({FieldErrorType::kDuplicate, Child(pp, "nodePort"),
                           GoServicePortKey(proto, 0, node_port), true, ""});
        }
      }
    }
    if (!seen_ports.insert({proto, port}).second) {
      errs->push_back({FieldErrorType::kDuplicate, pp,
                       GoServicePortKey(proto, port, 0), true, ""});
    }
  });
  std::string affinity = GetString(spec, {"sessionAffinity"});
  if (affinity.empty()) {
    errs->push_back(Required("spec.sessionAffinity", ""));
  } else if (!OneOf(affinity, {"ClientIP", "None"})) {
    errs->push_back(
        NotSupported("spec.sessionAffinity", affinity, {"ClientIP", "None"}));
  }
  ValidateLabels(Field(spec, "selector"), "spec.selector", errs);
  if (!cluster_ip.empty() && !headless && !ValidIP(cluster_ip)) {
    errs->push_back(Invalid(
        "spec.clusterIPs[0]", cluster_ip,
        "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"));
  }
  if (headless && (type == "LoadBalancer" || type == "NodePort")) {
    errs->push_back(
        Invalid("spec.clusterIPs[0]", cluster_ip,
                "may not be set to 'None' for " + type + " services"));
  }
  std::string etp = GetString(spec, {"externalTrafficPolicy"});
  if (!ExternallyAccessible(spec)) {
    if (!etp.empty()) {
      errs->push_back(
          Invalid("spec.externalTrafficPolicy", etp,
                  "may only be set for externally-accessible services"));
    }
  } else if (etp.empty()) {
    errs->push_back(Required("spec.externalTrafficPolicy", ""));
  } else if (!OneOf(etp, {"Cluster", "Local"})) {
    errs->push_back(
        NotSupported("spec.externalTrafficPolicy", etp, {"Cluster", "Local"}));
  }
  const bool needs_health = type == "LoadBalancer" && etp == "Local";
  const int64_t hc = GetInt(spec, {"healthCheckNodePort"});
  if (!needs_health) {
    if (hc != 0) {
      errs->push_back(Invalid("spec.healthCheckNodePort", hc,
                              "may only be set when `type` is "
                              "'LoadBalancer' and `externalTrafficPolicy` is "
                              "'Local'"));
    }
  } else if (hc == 0) {
    errs->push_back(Required("spec.healthCheckNodePort", ""));
  } else {
    AppendInvalid(errs, "spec.healthCheckNodePort", hc, IsValidPortNum(hc));
  }
  if (Has(spec, {"allocateLoadBalancerNodePorts"}) && type != "LoadBalancer") {
    errs->push_back(Forbidden("spec.allocateLoadBalancerNodePorts",
                              "may only be used when `type` is "
                              "'LoadBalancer'"));
  }
  if (type == "LoadBalancer" && !Has(spec, {"allocateLoadBalancerNodePorts"}))
    errs->push_back(Required("allocateLoadBalancerNodePorts", ""));
  const Json* lb_class = Field(spec, "loadBalancerClass");
  if (lb_class != nullptr && !lb_class->is_null()) {
    if (type != "LoadBalancer") {
      errs->push_back(Forbidden("spec.loadBalancerClass",
                                "may only be used when `type` is "
                                "'LoadBalancer'"));
    } else {
      std::string c = lb_class->is_string() ? lb_class->get<std::string>() : "";
      AppendInvalid(errs, "spec.loadBalancerClass", c, IsQualifiedName(c));
    }
  }
  if (const Json* ranges = Field(spec, "loadBalancerSourceRanges");
      ranges != nullptr && ranges->is_array() && !ranges->empty() &&
      type != "LoadBalancer") {
    errs->push_back(Forbidden("spec.LoadBalancerSourceRanges",
                              "may only be used when `type` is "
                              "'LoadBalancer'"));
  }
  const Json* lb_status = FieldPath(obj, {"status", "loadBalancer"});
  ForEachConst(
      lb_status ? *lb_status : kEmpty, "ingress",
      [&](const Json& in, size_t i) {
        std::string p = Index("status.loadBalancer.ingress", i);
        std::string ip = GetString(in, {"ip"});
        if (!ip.empty() && !ValidIP(ip)) {
          errs->push_back(
              Invalid(Child(p, "ip"), ip, "must be a valid IP address"));
        }
        std::string mode = GetString(in, {"ipMode"});
        if (mode.empty()) return;
        if (ip.empty()) {
          errs->push_back(Forbidden(Child(p, "ipMode"),
                                    "may not be specified when `ip` is not"));
        } else if (!OneOf(mode, {"Proxy", "VIP"})) {
          errs->push_back(
              NotSupported(Child(p, "ipMode"), mode, {"Proxy", "VIP"}));
        }
      });
  std::string itp = GetString(spec, {"internalTrafficPolicy"});
  if (!itp.empty() && !OneOf(itp, {"Cluster", "Local"})) {
    errs->push_back(
        NotSupported("spec.internalTrafficPolicy", itp, {"Cluster", "Local"}));
  }
  if (old == nullptr) return;
  const Json* old_spec = Field(*old, "spec");
  if (old_spec != nullptr) {
    std::string old_t = GetString(*old_spec, {"type"});
    if (old_t == "LoadBalancer" && type == "LoadBalancer") {
      const Json* oc = Field(*old_spec, "loadBalancerClass");
      Json a = oc ? *oc : Json(), b = lb_class ? *lb_class : Json();
      if (a != b) {
        errs->push_back(
            Invalid("spec.loadBalancerClass", b, "may not change once set"));
      }
      if (needs_health &&
          GetString(*old_spec, {"externalTrafficPolicy"}) == "Local" &&
          GetInt(*old_spec, {"healthCheckNodePort"}) != hc) {
        errs->push_back(
            Forbidden("spec.healthCheckNodePort", "field is immutable"));
      }
    }
  }
  // An allocated cluster IP may not change (unless the type changes to or
  // from ExternalName).
  std::string old_ip = GetString(*old, {"spec", "clusterIP"});
  std::string old_type = GetString(*old, {"spec", "type"});
  if (!old_ip.empty() && old_type != "ExternalName" && type != "ExternalName" &&
      cluster_ip != old_ip) {
    const Json* ips = Field(spec, "clusterIPs");
    errs->push_back(InvalidRendered(
        "spec.clusterIPs[0]",
        ips && ips->is_array() ? GoValue(*ips) : "[]string(nil)",
        cluster_ip.empty() ? "primary clusterIP can not be unset"
                           : "may not change once set"));
  }
}

// ---- Namespace ----

Status DefaultNamespace(Json& obj) {
  std::string name = Name(obj);
  if (!name.empty())
    Obj(Obj(obj, "metadata"), "labels")["kubernetes.io/metadata.name"] = name;
  return Status::Ok();
}

void OnCreateNamespace(Json& obj) {
  obj["status"] = {{"phase", "Active"}};
  Json& spec = Obj(obj, "spec");
  Json& fin = spec["finalizers"];
  if (!fin.is_array()) fin = Json::array();
  if (std::find(fin.begin(), fin.end(), Json("kubernetes")) == fin.end())
    fin.push_back("kubernetes");
}

void OnUpdateNamespace(Json& obj, const Json& old) {
  // spec.finalizers only change through the finalize subresource.
  if (const Json* f = FieldPath(old, {"spec", "finalizers"})) {
    Obj(obj, "spec")["finalizers"] = *f;
  } else if (obj.contains("spec") && obj["spec"].is_object()) {
    obj["spec"].erase("finalizers");
  }
}

void ValidateNamespace(const Json& obj, const Json*, FieldErrors* errs) {
  ForEachConst(
      obj.value("spec", Json::object()), "finalizers",
      [&](const Json& f, size_t i) {
        std::string name = f.is_string() ? f.get<std::string>() : "";
        std::string path = Index("spec.finalizers", i);
        AppendInvalid(errs, path, name, IsQualifiedName(name));
        if (name.find('/') == std::string::npos &&
            !OneOf(name, {"kubernetes", "orphan", "foregroundDeletion"})) {
          errs->push_back(Invalid(path, name,
                                  "name is neither a standard finalizer name "
                                  "nor is it fully qualified"));
        }
      });
}

// ---- ConfigMap / Secret ----

void ValidateConfigMap(const Json& obj, const Json* old, FieldErrors* errs) {
  size_t total = 0;
  ValidateDataKeys(obj, "data", errs, &total);
  if (const Json* data = Field(obj, "data"); data && data->is_object()) {
    if (const Json* bin = Field(obj, "binaryData"); bin && bin->is_object()) {
      for (auto it = data->begin(); it != data->end(); ++it) {
        if (bin->contains(it.key())) {
          errs->push_back(Invalid(Key("data", it.key()), it.key(),
                                  "duplicate of key present in binaryData"));
        }
      }
    }
  }
  size_t bin_total = 0;
  ValidateDataKeys(obj, "binaryData", errs, &bin_total);
  total += bin_total * 3 / 4;
  if (total > 1024 * 1024)
    errs->push_back(TooLong("", "may not be more than 1048576 bytes"));
  ImmutableData(obj, old, errs);
}

Status DefaultSecret(Json& obj) {
  DefaultString(obj, "type", "Opaque");
  // stringData is write-only: merged into data (base64), as the v1->internal
  // conversion does.
  if (const Json* sd = Field(obj, "stringData"); sd && sd->is_object()) {
    Json& data = Obj(obj, "data");
    for (auto it = sd->begin(); it != sd->end(); ++it) {
      if (it.value().is_string())
        data[it.key()] = Base64Encode(it.value().get<std::string>());
    }
  }
  obj.erase("stringData");
  if (const Json* data = Field(obj, "data"); data && data->is_object()) {
    for (auto it = data->begin(); it != data->end(); ++it) {
      if (it.value().is_null()) continue;
      if (!it.value().is_string())
        return InvalidArgumentError("illegal base64 data at input byte 0");
      KITE_RETURN_IF_ERROR(
          Base64Decode(it.value().get<std::string>()).status());
    }
  }
  return Status::Ok();
}

void ValidateSecret(const Json& obj, const Json* old, FieldErrors* errs) {
  size_t total = 0;
  ValidateDataKeys(obj, "data", errs, &total);
  if (total * 3 / 4 > 1024 * 1024)
    errs->push_back(TooLong("data", "may not be more than 1048576 bytes"));
  std::string type = GetString(obj, {"type"});
  const Json* data = Field(obj, "data");
  auto has = [&](const char* k) {
    return data && data->is_object() && data->contains(k);
  };
  if (type == "kubernetes.io/service-account-token") {
    if (GetString(obj, {"metadata", "annotations",
                        "kubernetes.io/service-account.name"})
            .empty()) {
      errs->push_back(Required(
          "metadata.annotations[kubernetes.io/service-account.name]", ""));
    }
  } else if (type == "kubernetes.io/dockercfg" ||
             type == "kubernetes.io/dockerconfigjson") {
    const char* key =
        type == "kubernetes.io/dockercfg" ? ".dockercfg" : ".dockerconfigjson";
    if (!has(key)) {
      errs->push_back(Required(Key("data", key), ""));
    } else {
      auto raw = Base64Decode(
          (*data)[key].is_string() ? (*data)[key].get<std::string>() : "");
      if (raw.ok()) {
        Json parsed = Json::parse(*raw, nullptr, false);
        if (parsed.is_discarded() || !parsed.is_object()) {
          errs->push_back(InvalidRendered(Key("data", key),
                                          "\"<secret contents redacted>\"",
                                          "invalid character in JSON"));
        }
      }
    }
  } else if (type == "kubernetes.io/basic-auth") {
    if (!has("username") && !has("password")) {
      errs->push_back(Required("data[username]", ""));
      errs->push_back(Required("data[password]", ""));
    }
  } else if (type == "kubernetes.io/ssh-auth") {
    if (!has("ssh-privatekey"))
      errs->push_back(Required("data[ssh-privatekey]", ""));
  } else if (type == "kubernetes.io/tls") {
    if (!has("tls.crt")) errs->push_back(Required("data[tls.crt]", ""));
    if (!has("tls.key")) errs->push_back(Required("data[tls.key]", ""));
  }
  if (old != nullptr) {
    std::string old_type = GetString(*old, {"type"});
    if (old_type != type)
      errs->push_back(Invalid("type", type, "field is immutable"));
    ImmutableData(obj, old, errs);
  }
}

// ---- volumes ----

Status DefaultPersistentVolumeClaim(Json& obj) {
  Json& spec = Obj(obj, "spec");
  DefaultString(spec, "volumeMode", "Filesystem");
  if (spec.contains("resources") && spec["resources"].is_object()) {
    for (const char* k : {"requests", "limits"}) {
      if (spec["resources"].contains(k))
        KITE_RETURN_IF_ERROR(CanonicalizeQuantities(&spec["resources"][k]));
    }
  }
  if (obj.contains("status") && obj["status"].is_object() &&
      obj["status"].contains("capacity")) {
    KITE_RETURN_IF_ERROR(CanonicalizeQuantities(&obj["status"]["capacity"]));
  }
  return Status::Ok();
}

void OnCreatePersistentVolumeClaim(Json& obj) {
  obj["status"] = {{"phase", "Pending"}};
}

void ValidatePersistentVolumeClaim(const Json& obj, const Json* old,
                                   FieldErrors* errs) {
  static const Json kEmpty = Json::object();
  const Json* sp = Field(obj, "spec");
  const Json& spec = sp ? *sp : kEmpty;
  const Json* modes = Field(spec, "accessModes");
  if (modes == nullptr || !modes->is_array() || modes->empty()) {
    errs->push_back(
        Required("spec.accessModes", "at least 1 access mode is required"));
  } else {
    for (size_t i = 0; i < modes->size(); ++i) {
      std::string m =
          (*modes)[i].is_string() ? (*modes)[i].get<std::string>() : "";
      if (!OneOf(m, {"ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce",
                     "ReadWriteOncePod"})) {
        errs->push_back(NotSupported(Index("spec.accessModes", i), m,
                                     {"ReadOnlyMany", "ReadWriteMany",
                                      "ReadWriteOnce", "ReadWriteOncePod"}));
      }
    }
  }
  if (!Has(spec, {"resources", "requests", "storage"})) {
    errs->push_back(Required("spec.resources[storage]", ""));
  }
  std::string vm = GetString(spec, {"volumeMode"});
  if (!vm.empty() && !OneOf(vm, {"Block", "Filesystem"})) {
    errs->push_back(
        NotSupported("spec.volumeMode", vm, {"Block", "Filesystem"}));
  }
  if (old != nullptr && GetString(*old, {"status", "phase"}) == "Bound") {
    // Once bound, the spec may only grow its storage request.
    Json a = spec, b = old->value("spec", Json::object());
    for (Json* s : {&a, &b}) {
      if (s->contains("resources") && (*s)["resources"].is_object())
        (*s)["resources"].erase("requests");
      s->erase("volumeAttributesClassName");
      if (!(*s).contains("volumeName") || (*s)["volumeName"].is_null())
        s->erase("volumeName");
    }
    if (!GetString(b, {"volumeName"}).empty() &&
        GetString(a, {"volumeName"}).empty())
      a["volumeName"] = b["volumeName"];
    if (a != b) {
      errs->push_back(Forbidden(
          "spec",
          "spec is immutable after creation except resources.requests and "
          "volumeAttributesClassName for bound claims"));
    }
  }
}

Status DefaultPersistentVolume(Json& obj) {
  Json& spec = Obj(obj, "spec");
  DefaultString(spec, "persistentVolumeReclaimPolicy", "Retain");
  DefaultString(spec, "volumeMode", "Filesystem");
  if (spec.contains("capacity"))
    KITE_RETURN_IF_ERROR(CanonicalizeQuantities(&spec["capacity"]));
  return Status::Ok();
}

void OnCreatePersistentVolume(Json& obj) {
  obj["status"] = {{"phase", "Pending"}};
}

void ValidatePersistentVolume(const Json& obj, const Json*, FieldErrors* errs) {
  static const Json kEmpty = Json::object();
  const Json* sp = Field(obj, "spec");
  const Json& spec = sp ? *sp : kEmpty;
  const Json* modes = Field(spec, "accessModes");
  if (modes == nullptr || !modes->is_array() || modes->empty()) {
    errs->push_back(Required("spec.accessModes", ""));
  }
  if (!Has(spec, {"capacity", "storage"}))
    errs->push_back(Required("spec.capacity", ""));
  std::string rp = GetString(spec, {"persistentVolumeReclaimPolicy"});
  if (!rp.empty() && !OneOf(rp, {"Delete", "Recycle", "Retain"})) {
    errs->push_back(NotSupported("spec.persistentVolumeReclaimPolicy", rp,
                                 {"Delete", "Recycle", "Retain"}));
  }
}

// ---- quotas, nodes, misc ----

Status DefaultResourceQuota(Json& obj) {
  if (obj.contains("spec") && obj["spec"].is_object() &&
      obj["spec"].contains("hard")) {
    KITE_RETURN_IF_ERROR(CanonicalizeQuantities(&obj["spec"]["hard"]));
  }
  if (obj.contains("status") && obj["status"].is_object()) {
    for (const char* k : {"hard", "used"}) {
      if (obj["status"].contains(k))
        KITE_RETURN_IF_ERROR(CanonicalizeQuantities(&obj["status"][k]));
    }
  }
  return Status::Ok();
}

Status DefaultLimitRange(Json& obj) {
  Status st = Status::Ok();
  if (obj.contains("spec") && obj["spec"].is_object()) {
    ForEach(obj["spec"], "limits", [&](Json& l) {
      for (const char* k : {"max", "min", "default", "defaultRequest",
                            "maxLimitRequestRatio"}) {
        if (l.contains(k)) {
          Status s = CanonicalizeQuantities(&l[k]);
          if (!s.ok() && st.ok()) st = s;
        }
      }
    });
  }
  return st;
}

Status DefaultNode(Json& obj) {
  if (obj.contains("status") && obj["status"].is_object()) {
    for (const char* k : {"capacity", "allocatable"}) {
      if (obj["status"].contains(k))
        KITE_RETURN_IF_ERROR(CanonicalizeQuantities(&obj["status"][k]));
    }
  }
  return Status::Ok();
}

Status DefaultEndpoints(Json& obj) {
  ForEach(obj, "subsets", [](Json& s) {
    ForEach(s, "ports", [](Json& p) { DefaultString(p, "protocol", "TCP"); });
  });
  return Status::Ok();
}

}  // namespace kite::api::rules

// Pods and pod templates: v1 defaults (SetDefaults_Pod/PodSpec/Container...)
// and the common part of pkg/apis/core/validation.ValidatePodSpec.
#include <algorithm>
#include <map>
#include <set>

#include "api/quantity.h"
#include "api/rules.h"
#include "api/rules_util.h"
#include "api/selectors.h"
#include "api/validation.h"

namespace kite::api::rules {

namespace {

// The tag of an image reference; "latest" when neither tag nor digest.
std::string ImageTag(const std::string& image) {
  std::string ref = image;
  bool has_digest = false;
  if (size_t at = ref.find('@'); at != std::string::npos) {
    ref = ref.substr(0, at);
    has_digest = true;
  }
  size_t slash = ref.rfind('/');
  std::string last = slash == std::string::npos ? ref : ref.substr(slash + 1);
  size_t colon = last.rfind(':');
  if (colon != std::string::npos) return last.substr(colon + 1);
  return has_digest ? "" : "latest";
}

void DefaultProbe(Json* probe) {
  if (probe == nullptr || !probe->is_object()) return;
  DefaultValue(*probe, "timeoutSeconds", 1);
  DefaultValue(*probe, "periodSeconds", 10);
  DefaultValue(*probe, "successThreshold", 1);
  DefaultValue(*probe, "failureThreshold", 3);
  if (auto it = probe->find("httpGet"); it != probe->end() && it->is_object()) {
    DefaultString(*it, "path", "/");
    DefaultString(*it, "scheme", "HTTP");
  }
}

void DefaultHandler(Json* h) {
  if (h == nullptr || !h->is_object()) return;
  if (auto it = h->find("httpGet"); it != h->end() && it->is_object()) {
    DefaultString(*it, "path", "/");
    DefaultString(*it, "scheme", "HTTP");
  }
}

Json* Member(Json& o, const char* key) {
  auto it = o.find(key);
  return it == o.end() ? nullptr : &*it;
}

Status DefaultContainer(Json& c, bool host_network) {
  DefaultString(c, "imagePullPolicy",
                ImageTag(GetString(c, {"image"})) == "latest" ? "Always"
                                                              : "IfNotPresent");
  DefaultString(c, "terminationMessagePath", "/dev/termination-log");
  DefaultString(c, "terminationMessagePolicy", "File");
  ForEach(c, "ports", [&](Json& p) {
    DefaultString(p, "protocol", "TCP");
    if (host_network && !Has(p, {"hostPort"})) {
      if (const Json* cp = Field(p, "containerPort")) p["hostPort"] = *cp;
    }
  });
  ForEach(c, "env", [](Json& e) {
    if (Json* vf = Member(e, "valueFrom"); vf != nullptr && vf->is_object()) {
      if (Json* fr = Member(*vf, "fieldRef"); fr != nullptr && fr->is_object())
        DefaultString(*fr, "apiVersion", "v1");
    }
  });
  DefaultProbe(Member(c, "livenessProbe"));
  DefaultProbe(Member(c, "readinessProbe"));
  DefaultProbe(Member(c, "startupProbe"));
  if (Json* lc = Member(c, "lifecycle"); lc != nullptr && lc->is_object()) {
    DefaultHandler(Member(*lc, "postStart"));
    DefaultHandler(Member(*lc, "preStop"));
  }
  if (!Has(c, {"resources"})) c["resources"] = Json::object();
  Json& res = c["resources"];
  if (res.is_object()) {
    KITE_RETURN_IF_ERROR(CanonicalizeQuantities(Member(res, "limits")));
    KITE_RETURN_IF_ERROR(CanonicalizeQuantities(Member(res, "requests")));
  }
  return Status::Ok();
}

void DefaultVolume(Json& v) {
  bool has_source = false;
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (it.key() != "name" && !it.value().is_null()) has_source = true;
  }
  if (!has_source) v["emptyDir"] = Json::object();
  for (const char* src : {"secret", "configMap", "downwardAPI", "projected"}) {
    if (Json* s = Member(v, src); s != nullptr && s->is_object())
      DefaultValue(*s, "defaultMode", 420);
  }
  if (Json* hp = Member(v, "hostPath"); hp != nullptr && hp->is_object())
    DefaultValue(*hp, "type", "");
  if (Json* pj = Member(v, "projected"); pj != nullptr && pj->is_object()) {
    ForEach(*pj, "sources", [](Json& s) {
      if (Json* t = Member(s, "serviceAccountToken");
          t != nullptr && t->is_object()) {
        DefaultValue(*t, "expirationSeconds", 3600);
      }
    });
  }
  if (Json* ed = Member(v, "emptyDir"); ed != nullptr && ed->is_object()) {
    if (Json* sl = Member(*ed, "sizeLimit"); sl != nullptr && !sl->is_null()) {
      auto q = Quantity::Parse(sl->is_string() ? sl->get<std::string>()
                                               : sl->dump());
      if (q.ok()) *sl = q->String();
    }
  }
}

// ---- validation helpers ----

void ValidatePortNumOrName(const Json& port, const std::string& path,
                           FieldErrors* errs) {
  if (port.is_number_integer()) {
    AppendInvalid(errs, path, port, IsValidPortNum(port.get<int64_t>()));
  } else if (port.is_string()) {
    AppendInvalid(errs, path, port, IsValidPortName(port.get<std::string>()));
  } else {
    errs->push_back(Invalid(path, port, "must be an integer or a string"));
  }
}

void ValidateHandler(const Json& h, const std::string& path, bool probe,
                     FieldErrors* errs) {
  std::vector<std::string> kinds;
  for (const char* k : {"exec", "httpGet", "tcpSocket", "grpc", "sleep"}) {
    if (Has(h, {k})) kinds.push_back(k);
  }
  if (kinds.empty()) {
    errs->push_back(Required(path, "must specify a handler type"));
    return;
  }
  if (kinds.size() > 1) {
    errs->push_back(Forbidden(Child(path, kinds[1]),
                              "may not specify more than 1 handler type"));
  }
  if (const Json* hg = Field(h, "httpGet"); hg && hg->is_object()) {
    if (const Json* p = Field(*hg, "port")) {
      ValidatePortNumOrName(*p, Child(Child(path, "httpGet"), "port"), errs);
    } else {
      errs->push_back(Required(Child(Child(path, "httpGet"), "port"), ""));
    }
    std::string scheme = GetString(*hg, {"scheme"});
    if (!scheme.empty() && !OneOf(scheme, {"HTTP", "HTTPS"})) {
      errs->push_back(NotSupported(Child(Child(path, "httpGet"), "scheme"),
                                   scheme, {"HTTP", "HTTPS"}));
    }
  }
  if (const Json* ts = Field(h, "tcpSocket"); ts && ts->is_object()) {
    if (const Json* p = Field(*ts, "port")) {
      ValidatePortNumOrName(*p, Child(Child(path, "tcpSocket"), "port"), errs);
    } else {
      errs->push_back(Required(Child(Child(path, "tcpSocket"), "port"), ""));
    }
  }
  if (probe) {
    for (const char* f :
         {"initialDelaySeconds", "timeoutSeconds", "periodSeconds",
          "successThreshold", "failureThreshold"}) {
      NonNegative(h, f, path, errs);
    }
  }
}

bool OvercommitAllowed(const std::string& name) {
  if (name.rfind("hugepages-", 0) == 0) return false;
  size_t slash = name.find('/');
  if (slash == std::string::npos) return true;
  std::string prefix = name.substr(0, slash);
  return prefix == "kubernetes.io" ||
         (prefix.size() > 14 &&
          prefix.compare(prefix.size() - 14, 14, ".kubernetes.io") == 0);
}

void ValidateResourceName(const std::string& name, const std::string& path,
                          FieldErrors* errs) {
  if (name.find('/') == std::string::npos) {
    if (!OneOf(name, {"cpu", "memory", "ephemeral-storage"}) &&
        name.rfind("hugepages-", 0) != 0) {
      errs->push_back(
          Invalid(path, name, "must be a standard resource for containers"));
    }
    return;
  }
  AppendInvalid(errs, path, name, IsQualifiedName(name));
}

void ValidateResources(const Json& res, const std::string& path,
                       FieldErrors* errs) {
  std::map<std::string, Quantity> limits;
  const std::string lim_path = Child(path, "limits"),
                    req_path = Child(path, "requests");
  if (const Json* l = Field(res, "limits"); l && l->is_object()) {
    for (auto it = l->begin(); it != l->end(); ++it) {
      std::string p = Key(lim_path, it.key());
      ValidateResourceName(it.key(), p, errs);
      auto q =
          Quantity::Parse(it.value().is_string() ? it.value().get<std::string>()
                                                 : it.value().dump());
      if (!q.ok()) continue;  // caught at decode (Default)
      if (q->Sign() < 0)
        errs->push_back(
            Invalid(p, q->String(), "must be greater than or equal to 0"));
      limits[it.key()] = *q;
    }
  }
  if (const Json* r = Field(res, "requests"); r && r->is_object()) {
    for (auto it = r->begin(); it != r->end(); ++it) {
      std::string p = Key(req_path, it.key());
      ValidateResourceName(it.key(), p, errs);
      auto q =
          Quantity::Parse(it.value().is_string() ? it.value().get<std::string>()
                                                 : it.value().dump());
      if (!q.ok()) continue;
      if (q->Sign() < 0)
        errs->push_back(
            Invalid(p, q->String(), "must be greater than or equal to 0"));
      auto lim = limits.find(it.key());
      if (lim != limits.end()) {
        int cmp = q->Compare(lim->second);
        if (cmp != 0 && !OvercommitAllowed(it.key())) {
          errs->push_back(Invalid(req_path, q->String(),
                                  "must be equal to " + it.key() +
                                      " limit of " + lim->second.String()));
        } else if (cmp > 0) {
          errs->push_back(Invalid(req_path, q->String(),
                                  "must be less than or equal to " + it.key() +
                                      " limit of " + lim->second.String()));
        }
      } else if (!OvercommitAllowed(it.key())) {
        errs->push_back(Required(
            lim_path, "Limit must be set for non overcommitable resources"));
      }
    }
  }
}

void ValidateContainer(const Json& c, const std::string& path, bool init,
                       std::set<std::string>* names,
                       const std::set<std::string>& volumes,
                       FieldErrors* errs) {
  std::string name = GetString(c, {"name"});
  if (name.empty()) {
    errs->push_back(Required(Child(path, "name"), ""));
  } else {
    AppendInvalid(errs, Child(path, "name"), name, IsDNS1123Label(name));
    if (!names->insert(name).second)
      errs->push_back(Duplicate(Child(path, "name"), name));
  }
  std::string image = GetString(c, {"image"});
  if (image.empty()) {
    errs->push_back(Required(Child(path, "image"), ""));
  } else if (image.find_first_of(" \t\n") == 0 ||
             image.find_last_of(" \t\n") == image.size() - 1) {
    errs->push_back(Invalid(Child(path, "image"), image,
                            "must not have leading or trailing whitespace"));
  }
  std::string pull = GetString(c, {"imagePullPolicy"});
  if (pull.empty()) {
    errs->push_back(Required(Child(path, "imagePullPolicy"), ""));
  } else if (!OneOf(pull, {"Always", "IfNotPresent", "Never"})) {
    errs->push_back(NotSupported(Child(path, "imagePullPolicy"), pull,
                                 {"Always", "IfNotPresent", "Never"}));
  }
  std::string tmp = GetString(c, {"terminationMessagePolicy"});
  if (!tmp.empty() && !OneOf(tmp, {"File", "FallbackToLogsOnError"})) {
    errs->push_back(NotSupported(Child(path, "terminationMessagePolicy"), tmp,
                                 {"File", "FallbackToLogsOnError"}));
  }
  if (const Json* rp = Field(c, "restartPolicy"); rp && rp->is_string()) {
    if (!init) {
      errs->push_back(Forbidden(Child(path, "restartPolicy"),
                                "may not be set for non-init containers"));
    } else if (rp->get<std::string>() != "Always") {
      errs->push_back(
          NotSupported(Child(path, "restartPolicy"), *rp, {"Always"}));
    }
  }
  std::set<std::string> port_names;
  ForEachConst(c, "ports", [&](const Json& p, size_t i) {
    std::string pp = Index(Child(path, "ports"), i);
    std::string pname = GetString(p, {"name"});
    if (!pname.empty()) {
      AppendInvalid(errs, Child(pp, "name"), pname, IsValidPortName(pname));
      if (!port_names.insert(pname).second)
        errs->push_back(Duplicate(Child(pp, "name"), pname));
    }
    int64_t cp = GetInt(p, {"containerPort"});
    if (cp == 0) {
      errs->push_back(Required(Child(pp, "containerPort"), ""));
    } else {
      AppendInvalid(errs, Child(pp, "containerPort"), cp, IsValidPortNum(cp));
    }
    int64_t hp = GetInt(p, {"hostPort"});
    if (hp != 0)
      AppendInvalid(errs, Child(pp, "hostPort"), hp, IsValidPortNum(hp));
    std::string proto = GetString(p, {"protocol"});
    if (proto.empty()) {
      errs->push_back(Required(Child(pp, "protocol"), ""));
    } else if (!OneOf(proto, {"SCTP", "TCP", "UDP"})) {
      errs->push_back(
          NotSupported(Child(pp, "protocol"), proto, {"SCTP", "TCP", "UDP"}));
    }
  });
  ForEachConst(c, "env", [&](const Json& e, size_t i) {
    std::string ep = Index(Child(path, "env"), i);
    std::string ename = GetString(e, {"name"});
    if (ename.empty()) {
      errs->push_back(Required(Child(ep, "name"), ""));
    } else {
      AppendInvalid(errs, Child(ep, "name"), ename, IsEnvVarName(ename));
    }
    if (Has(e, {"valueFrom"}) && !GetString(e, {"value"}).empty()) {
      errs->push_back(
          Invalid(Child(ep, "valueFrom"), "",
                  "may not be specified when `value` is not empty"));
    }
  });
  std::set<std::string> mount_paths;
  ForEachConst(c, "volumeMounts", [&](const Json& m, size_t i) {
    std::string mp = Index(Child(path, "volumeMounts"), i);
    std::string mname = GetString(m, {"name"});
    if (mname.empty()) {
      errs->push_back(Required(Child(mp, "name"), ""));
    } else if (!volumes.count(mname)) {
      errs->push_back(NotFound(Child(mp, "name"), mname));
    }
    std::string mpath = GetString(m, {"mountPath"});
    if (mpath.empty()) {
      errs->push_back(Required(Child(mp, "mountPath"), ""));
    } else if (!mount_paths.insert(mpath).second) {
      errs->push_back(Invalid(Child(mp, "mountPath"), mpath, "must be unique"));
    }
  });
  if (const Json* res = Field(c, "resources"); res && res->is_object()) {
    ValidateResources(*res, Child(path, "resources"), errs);
  }
  for (const char* probe :
       {"livenessProbe", "readinessProbe", "startupProbe"}) {
    if (const Json* p = Field(c, probe); p && p->is_object()) {
      ValidateHandler(*p, Child(path, probe), true, errs);
      if (std::string_view(probe) != "readinessProbe" &&
          GetInt(*p, {"successThreshold"}, 1) != 1) {
        errs->push_back(Invalid(Child(Child(path, probe), "successThreshold"),
                                GetInt(*p, {"successThreshold"}), "must be 1"));
      }
    }
  }
  if (const Json* lc = Field(c, "lifecycle"); lc && lc->is_object()) {
    for (const char* h : {"postStart", "preStop"}) {
      if (const Json* hh = Field(*lc, h); hh && hh->is_object()) {
        ValidateHandler(*hh, Child(Child(path, "lifecycle"), h), false, errs);
      }
    }
  }
}

void ValidateTolerations(const Json& spec, const std::string& path,
                         FieldErrors* errs) {
  ForEachConst(spec, "tolerations", [&](const Json& t, size_t i) {
    std::string tp = Index(path, i);
    std::string key = GetString(t, {"key"});
    if (!key.empty())
      AppendInvalid(errs, Child(tp, "key"), key, IsQualifiedName(key));
    std::string op = GetString(t, {"operator"});
    if (key.empty() && op != "Exists") {
      errs->push_back(Invalid(Child(tp, "operator"), op,
                              "operator must be Exists when `key` is empty, "
                              "which means \"match all values and all keys\""));
    }
    if (!op.empty() && !OneOf(op, {"Equal", "Exists"})) {
      errs->push_back(
          NotSupported(Child(tp, "operator"), op, {"Equal", "Exists"}));
    }
    if (op == "Exists" && !GetString(t, {"value"}).empty()) {
      errs->push_back(
          Invalid(Child(tp, "operator"), GetString(t, {"value"}),
                  "value must be empty when `operator` is 'Exists'"));
    }
    std::string effect = GetString(t, {"effect"});
    if (!effect.empty() &&
        !OneOf(effect, {"NoExecute", "NoSchedule", "PreferNoSchedule"})) {
      errs->push_back(
          NotSupported(Child(tp, "effect"), effect,
                       {"NoExecute", "NoSchedule", "PreferNoSchedule"}));
    }
  });
}

}  // namespace

Status CanonicalizeQuantities(Json* list) {
  if (list == nullptr || !list->is_object()) return Status::Ok();
  for (auto it = list->begin(); it != list->end(); ++it) {
    Json& v = it.value();
    if (v.is_null()) continue;
    std::string text;
    if (v.is_string()) {
      text = v.get<std::string>();
    } else if (v.is_number()) {
      text =
          v.is_number_integer() ? std::to_string(v.get<int64_t>()) : v.dump();
    } else {
      return InvalidArgumentError(
          "quantities must match the regular expression "
          "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
    }
    KITE_ASSIGN_OR_RETURN(Quantity q, Quantity::Parse(text));
    v = q.String();
  }
  return Status::Ok();
}

std::string GoIntOrString(const Json& v) {
  if (v.is_string()) {
    return "intstr.IntOrString{Type:1, IntVal:0, StrVal:" +
           GoQuote(v.get<std::string>()) + "}";
  }
  if (v.is_number_integer()) {
    return "intstr.IntOrString{Type:0, IntVal:" +
           std::to_string(v.get<int64_t>()) + ", StrVal:\"\"}";
  }
  return "intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}";
}

Status DefaultPodSpec(Json& spec, bool is_pod) {
  if (!spec.is_object()) return Status::Ok();
  DefaultString(spec, "dnsPolicy", "ClusterFirst");
  DefaultString(spec, "restartPolicy", "Always");
  DefaultValue(spec, "securityContext", Json::object());
  DefaultValue(spec, "terminationGracePeriodSeconds", 30);
  DefaultString(spec, "schedulerName", "default-scheduler");
  bool host_network = GetBool(spec, {"hostNetwork"});
  Status st = Status::Ok();
  for (const char* list : {"initContainers", "containers"}) {
    ForEach(spec, list, [&](Json& c) {
      Status s = DefaultContainer(c, host_network);
      if (!s.ok() && st.ok()) st = s;
      if (is_pod) {
        // Requests default to limits (Pod only, not templates).
        Json& res = c["resources"];
        if (res.is_object()) {
          if (const Json* lim = Field(res, "limits");
              lim && lim->is_object() && !lim->empty()) {
            Json& req = Obj(res, "requests");
            for (auto it = lim->begin(); it != lim->end(); ++it) {
              if (!req.contains(it.key())) req[it.key()] = it.value();
            }
          }
        }
      }
    });
  }
  KITE_RETURN_IF_ERROR(st);
  ForEach(spec, "volumes", [](Json& v) { DefaultVolume(v); });
  if (Json* ov = Member(spec, "overhead"); ov != nullptr)
    KITE_RETURN_IF_ERROR(CanonicalizeQuantities(ov));
  if (is_pod) DefaultValue(spec, "enableServiceLinks", true);
  return Status::Ok();
}

void ValidatePodSpec(const Json& spec, const std::string& path,
                     FieldErrors* errs) {
  std::set<std::string> volumes;
  ForEachConst(spec, "volumes", [&](const Json& v, size_t i) {
    std::string vp = Index(Child(path, "volumes"), i);
    std::string name = GetString(v, {"name"});
    if (name.empty()) {
      errs->push_back(Required(Child(vp, "name"), ""));
    } else {
      AppendInvalid(errs, Child(vp, "name"), name, IsDNS1123Label(name));
      if (!volumes.insert(name).second)
        errs->push_back(Duplicate(Child(vp, "name"), name));
    }
    std::vector<std::string> sources;
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (it.key() != "name" && !it.value().is_null())
        sources.push_back(it.key());
    }
    if (sources.empty()) {
      errs->push_back(Required(vp, "must specify a volume type"));
    } else if (sources.size() > 1) {
      errs->push_back(Forbidden(Child(vp, sources[1]),
                                "may not specify more than 1 volume type"));
    }
  });
  std::set<std::string> names;
  const Json* containers = Field(spec, "containers");
  if (containers == nullptr || !containers->is_array() || containers->empty()) {
    errs->push_back(Required(Child(path, "containers"), ""));
  }
  ForEachConst(spec, "initContainers", [&](const Json& c, size_t i) {
    ValidateContainer(c, Index(Child(path, "initContainers"), i), true, &names,
                      volumes, errs);
  });
  ForEachConst(spec, "containers", [&](const Json& c, size_t i) {
    ValidateContainer(c, Index(Child(path, "containers"), i), false, &names,
                      volumes, errs);
  });
  std::string rp = GetString(spec, {"restartPolicy"});
  if (rp.empty()) {
    errs->push_back(Required(Child(path, "restartPolicy"), ""));
  } else if (!OneOf(rp, {"Always", "OnFailure", "Never"})) {
    errs->push_back(NotSupported(Child(path, "restartPolicy"), rp,
                                 {"Always", "OnFailure", "Never"}));
  }
  std::string dns = GetString(spec, {"dnsPolicy"});
  if (dns.empty()) {
    errs->push_back(Required(Child(path, "dnsPolicy"), ""));
  } else if (!OneOf(dns, {"ClusterFirst", "ClusterFirstWithHostNet", "Default",
                          "None"})) {
    errs->push_back(NotSupported(
        Child(path, "dnsPolicy"), dns,
        {"ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"}));
  } else if (dns == "None" && !Has(spec, {"dnsConfig"})) {
    errs->push_back(
        Required(Child(path, "dnsConfig"),
                 "must provide `dnsConfig` when `dnsPolicy` is None"));
  }
  ValidateLabels(Field(spec, "nodeSelector"), Child(path, "nodeSelector"),
                 errs);
  for (const char* f :
       {"serviceAccountName", "nodeName", "priorityClassName"}) {
    std::string v = GetString(spec, {f});
    if (!v.empty())
      AppendInvalid(errs, Child(path, f), v, IsDNS1123Subdomain(v));
  }
  for (const char* f : {"hostname", "subdomain"}) {
    std::string v = GetString(spec, {f});
    if (!v.empty()) AppendInvalid(errs, Child(path, f), v, IsDNS1123Label(v));
  }
  int64_t ads;
  if (IntField(spec, "activeDeadlineSeconds", &ads) &&
      (ads < 1 || ads > 2147483647)) {
    errs->push_back(Invalid(Child(path, "activeDeadlineSeconds"), ads,
                            "must be between 1 and 2147483647, inclusive"));
  }
  ValidateTolerations(spec, Child(path, "tolerations"), errs);
}

void ValidatePodTemplate(const Json* tmpl, const std::string& path,
                         FieldErrors* errs) {
  if (tmpl == nullptr || !tmpl->is_object()) {
    errs->push_back(Required(path, ""));
    return;
  }
  ValidateLabels(FieldPath(*tmpl, {"metadata", "labels"}),
                 Child(path, "metadata.labels"), errs);
  ValidateAnnotations(FieldPath(*tmpl, {"metadata", "annotations"}),
                      Child(path, "metadata.annotations"), errs);
  const Json* spec = Field(*tmpl, "spec");
  static const Json kEmpty = Json::object();
  ValidatePodSpec(spec ? *spec : kEmpty, Child(path, "spec"), errs);
}

void ValidateLabelSelectorJson(const Json& sel, const std::string& path,
                               FieldErrors* errs) {
  if (!sel.is_object()) return;
  ValidateLabels(Field(sel, "matchLabels"), Child(path, "matchLabels"), errs);
  ForEachConst(sel, "matchExpressions", [&](const Json& e, size_t i) {
    std::string ep = Index(Child(path, "matchExpressions"), i);
    std::string op = GetString(e, {"operator"});
    const Json* vals = Field(e, "values");
    size_t n = vals && vals->is_array() ? vals->size() : 0;
    if (op == "In" || op == "NotIn") {
      if (n == 0)
        errs->push_back(
            Required(Child(ep, "values"),
                     "must be specified when `operator` is 'In' or 'NotIn'"));
    } else if (op == "Exists" || op == "DoesNotExist") {
      if (n > 0)
        errs->push_back(Forbidden(Child(ep, "values"),
                                  "may not be specified when `operator` is "
                                  "'Exists' or 'DoesNotExist'"));
    } else {
      errs->push_back(
          Invalid(Child(ep, "operator"), op, "not a valid selector operator"));
    }
    std::string key = GetString(e, {"key"});
    AppendInvalid(errs, Child(ep, "key"), key, IsQualifiedName(key));
    if (vals && vals->is_array()) {
      for (size_t j = 0; j < vals->size(); ++j) {
        if ((*vals)[j].is_string()) {
          AppendInvalid(errs, Index(Child(ep, "values"), j), (*vals)[j],
                        IsValidLabelValue((*vals)[j].get<std::string>()));
        }
      }
    }
  });
}

std::string PodQOSClass(const Json& pod) {
  std::map<std::string, int64_t> requests, limits;
  bool guaranteed = true;
  for (const char* list : {"containers", "initContainers"}) {
    ForEachConst(
        pod.value("spec", Json::object()), list, [&](const Json& c, size_t) {
          std::set<std::string> limits_found;
          for (const char* kind : {"requests", "limits"}) {
            const Json* m = FieldPath(c, {"resources", kind});
            if (m == nullptr || !m->is_object()) continue;
            for (auto it = m->begin(); it != m->end(); ++it) {
              if (it.key() != "cpu" && it.key() != "memory") continue;
              auto q = Quantity::Parse(it.value().is_string()
                                           ? it.value().get<std::string>()
                                           : it.value().dump());
              if (!q.ok() || q->Sign() <= 0) continue;
              auto& sum =
                  std::string_view(kind) == "requests" ? requests : limits;
              sum[it.key()] += q->MilliValue();
              if (std::string_view(kind) == "limits")
                limits_found.insert(it.key());
            }
          }
          if (!limits_found.count("cpu") || !limits_found.count("memory"))
            guaranteed = false;
        });
  }
  if (requests.empty() && limits.empty()) return "BestEffort";
  if (guaranteed) {
    for (const auto& [name, req] : requests) {
      auto it = limits.find(name);
      if (it == limits.end() || it->second != req) {
        guaranteed = false;
        break;
      }
    }
  }
  if (guaranteed && requests.size() == limits.size()) return "Guaranteed";
  return "Burstable";
}

Status DefaultPod(Json& obj) {
  if (!obj.contains("spec") || obj["spec"].is_null())
    obj["spec"] = Json::object();
  return DefaultPodSpec(obj["spec"], true);
}

Status DefaultPodTemplate(Json& obj) {
  Json& tmpl = Obj(obj, "template");
  return DefaultPodSpec(Obj(tmpl, "spec"), false);
}

void OnCreatePod(Json& obj) {
  obj["status"] = {{"phase", "Pending"}, {"qosClass", PodQOSClass(obj)}};
}

void ValidatePod(const Json& obj, const Json* old, FieldErrors* errs) {
  static const Json kEmpty = Json::object();
  const Json* spec = Field(obj, "spec");
  ValidatePodSpec(spec ? *spec : kEmpty, "spec", errs);
  if (old == nullptr) return;
  // Only images, activeDeadlineSeconds, added tolerations and
  // terminationGracePeriodSeconds may change on a pod.
  Json a = spec ? *spec : kEmpty;
  const Json* old_spec_p = Field(*old, "spec");
  Json b = old_spec_p ? *old_spec_p : kEmpty;
  for (const char* list : {"containers", "initContainers"}) {
    if (a.contains(list) && b.contains(list) && a[list].is_array() &&
        b[list].is_array() && a[list].size() == b[list].size()) {
      for (size_t i = 0; i < a[list].size(); ++i) {
        if (a[list][i].is_object() && b[list][i].is_object() &&
            b[list][i].contains("image")) {
          a[list][i]["image"] = b[list][i]["image"];
        }
      }
    }
  }
  for (const char* f : {"activeDeadlineSeconds",
                        "terminationGracePeriodSeconds", "schedulingGates"}) {
    if (b.contains(f)) {
      a[f] = b[f];
    } else {
      a.erase(f);
    }
  }
  // Tolerations may only be added.
  if (b.contains("tolerations") && b["tolerations"].is_array() &&
      a.contains("tolerations") && a["tolerations"].is_array()) {
    bool kept = std::all_of(
        b["tolerations"].begin(), b["tolerations"].end(), [&](const Json& t) {
          return std::find(a["tolerations"].begin(), a["tolerations"].end(),
                           t) != a["tolerations"].end();
        });
    if (kept) a["tolerations"] = b["tolerations"];
  } else if (!b.contains("tolerations") && a.contains("tolerations")) {
    a.erase("tolerations");
  }
  if (a != b) {
    errs->push_back(
        Forbidden("spec",
                  "pod updates may not change fields other than "
                  "`spec.containers[*].image`,`spec.initContainers[*].image`,"
                  "`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
                  "additions to existing tolerations),"
                  "`spec.terminationGracePeriodSeconds` (allow it to be set to "
                  "1 if it was previously negative)"));
  }
}

}  // namespace kite::api::rules

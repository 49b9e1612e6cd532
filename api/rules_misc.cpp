// Defaults and validation of the smaller groups: RBAC, networking, policy,
// autoscaling, scheduling, storage, apiextensions, certificates,
// coordination.
#include <algorithm>
#include <cctype>
#include <set>

#include "api/kinds.h"
#include "api/quantity.h"
#include "api/rules.h"
#include "api/rules_util.h"
#include "api/selectors.h"
#include "api/validation.h"

namespace kite::api::rules {

namespace {

constexpr char kRbacGroup[] = "rbac.authorization.k8s.io";

std::string GoRoleRef(const Json* ref) {
  auto s = [&](const char* k) {
    return GoQuote(ref ? GetString(*ref, {k}) : "");
  };
  return "rbac.RoleRef{APIGroup:" + s("apiGroup") + ", Kind:" + s("kind") +
         ", Name:" + s("name") + "}";
}

}  // namespace

// ---- RBAC ----

Status DefaultRoleBinding(Json& obj) {
  Json& ref = Obj(obj, "roleRef");
  DefaultString(ref, "apiGroup", kRbacGroup);
  ForEach(obj, "subjects", [](Json& s) {
    if (!GetString(s, {"apiGroup"}).empty()) return;
    std::string kind = GetString(s, {"kind"});
    if (kind == "User" || kind == "Group") s["apiGroup"] = kRbacGroup;
  });
  return Status::Ok();
}

void ValidateRole(const Json& obj, const Json*, FieldErrors* errs) {
  bool namespaced = !GetString(obj, {"metadata", "namespace"}).empty() ||
                    GetString(obj, {"kind"}) == "Role";
  ForEachConst(obj, "rules", [&](const Json& r, size_t i) {
    std::string path = Index("rules", i);
    auto size = [&](const char* k) {
      const Json* v = Field(r, k);
      return v && v->is_array() ? v->size() : 0;
    };
    if (size("verbs") == 0)
      errs->push_back(Required(Child(path, "verbs"),
                               "verbs must contain at least one value"));
    if (size("nonResourceURLs") > 0) {
      if (namespaced) {
        errs->push_back(
            Invalid(Child(path, "nonResourceURLs"), r["nonResourceURLs"],
                    "namespaced rules cannot apply to non-resource URLs"));
      }
      if (size("apiGroups") > 0 || size("resources") > 0 ||
          size("resourceNames") > 0) {
        errs->push_back(Invalid(Child(path, "nonResourceURLs"),
                                r["nonResourceURLs"],
                                "rules cannot apply to both regular resources "
                                "and non-resource URLs"));
      }
      return;
    }
    if (size("apiGroups") == 0) {
      errs->push_back(
          Required(Child(path, "apiGroups"),
                   "resource rules must supply at least one api group"));
    }
    if (size("resources") == 0) {
      errs->push_back(
          Required(Child(path, "resources"),
                   "resource rules must supply at least one resource"));
    }
  });
}

void ValidateRoleBinding(const Json& obj, const Json* old, FieldErrors* errs) {
  const Json* ref = Field(obj, "roleRef");
  bool namespaced = GetString(obj, {"kind"}) != "ClusterRoleBinding" &&
                    !GetString(obj, {"metadata", "namespace"}).empty();
  std::string group = ref ? GetString(*ref, {"apiGroup"}) : "";
  if (group != kRbacGroup)
    errs->push_back(NotSupported("roleRef.apiGroup", group, {kRbacGroup}));
  std::string kind = ref ? GetString(*ref, {"kind"}) : "";
  if (namespaced) {
    if (!OneOf(kind, {"Role", "ClusterRole"}))
      errs->push_back(
          NotSupported("roleRef.kind", kind, {"Role", "ClusterRole"}));
  } else if (kind != "ClusterRole") {
    errs->push_back(NotSupported("roleRef.kind", kind, {"ClusterRole"}));
  }
  std::string name = ref ? GetString(*ref, {"name"}) : "";
  if (name.empty()) {
    errs->push_back(Required("roleRef.name", ""));
  } else {
    AppendInvalid(errs, "roleRef.name", name, IsValidPathSegmentName(name));
  }
  ForEachConst(obj, "subjects", [&](const Json& s, size_t i) {
    std::string path = Index("subjects", i);
    std::string sname = GetString(s, {"name"});
    if (sname.empty()) errs->push_back(Required(Child(path, "name"), ""));
    std::string skind = GetString(s, {"kind"});
    if (skind == "ServiceAccount") {
      if (!sname.empty())
        AppendInvalid(errs, Child(path, "name"), sname,
                      IsDNS1123Subdomain(sname));
      std::string sg = GetString(s, {"apiGroup"});
      if (!sg.empty())
        errs->push_back(NotSupported(Child(path, "apiGroup"), sg, {""}));
      if (!namespaced && GetString(s, {"namespace"}).empty())
        errs->push_back(Required(Child(path, "namespace"), ""));
    } else if (skind == "User" || skind == "Group") {
      std::string sg = GetString(s, {"apiGroup"});
      if (sg != kRbacGroup)
        errs->push_back(
            NotSupported(Child(path, "apiGroup"), sg, {kRbacGroup}));
    } else {
      errs->push_back(NotSupported(Child(path, "kind"), skind,
                                   {"ServiceAccount", "User", "Group"}));
    }
  });
  if (old != nullptr) {
    const Json* old_ref = Field(*old, "roleRef");
    if ((ref ? *ref : Json()) != (old_ref ? *old_ref : Json())) {
      errs->push_back(
          InvalidRendered("roleRef", GoRoleRef(ref), "cannot change roleRef"));
    }
  }
}

// ---- networking ----

Status DefaultNetworkPolicy(Json& obj) {
  Json& spec = Obj(obj, "spec");
  DefaultValue(spec, "podSelector", Json::object());
  const Json* types = Field(spec, "policyTypes");
  if (types == nullptr || !types->is_array() || types->empty()) {
    Json t = Json::array({"Ingress"});
    const Json* eg = Field(spec, "egress");
    if (eg && eg->is_array() && !eg->empty()) t.push_back("Egress");
    spec["policyTypes"] = t;
  }
  for (const char* dir : {"ingress", "egress"}) {
    ForEach(spec, dir, [](Json& rule) {
      ForEach(rule, "ports",
              [](Json& p) { DefaultString(p, "protocol", "TCP"); });
    });
  }
  return Status::Ok();
}

void ValidateIngress(const Json& obj, const Json*, FieldErrors* errs) {
  auto check_backend = [&](const Json& b, const std::string& path) {
    bool svc = Has(b, {"service"});
    bool res = Has(b, {"resource"});
    if (svc && res) {
      errs->push_back(
          Invalid(path, "", "cannot set both resource and service backends"));
    } else if (!svc && !res) {
      errs->push_back(
          Invalid(path, "", "resource or service backend is required"));
    } else if (svc) {
      std::string name = GetString(b, {"service", "name"});
      if (name.empty()) {
        errs->push_back(Required(Child(path, "service.name"), ""));
      } else {
        AppendInvalid(errs, Child(path, "service.name"), name,
                      IsDNS1035Label(name));
      }
      bool has_name = !GetString(b, {"service", "port", "name"}).empty();
      bool has_num = GetInt(b, {"service", "port", "number"}) != 0;
      if (has_name && has_num) {
        errs->push_back(Invalid(Child(path, "service.port"), "",
                                "cannot set both port name & port number"));
      } else if (!has_name && !has_num) {
        errs->push_back(Invalid(Child(path, "service.port"), "",
                                "port name or number is required"));
      } else if (has_num) {
        int64_t n = GetInt(b, {"service", "port", "number"});
        AppendInvalid(errs, Child(path, "service.port.number"), n,
                      IsValidPortNum(n));
      }
    }
  };
  static const Json kEmpty = Json::object();
  const Json* sp = Field(obj, "spec");
  const Json& spec = sp ? *sp : kEmpty;
  const Json* rules = Field(spec, "rules");
  if (!Has(spec, {"defaultBackend"}) &&
      (rules == nullptr || !rules->is_array() || rules->empty())) {
    errs->push_back(
        Invalid("spec.rules", Json::array(),
                "either `defaultBackend` or `rules` must be specified"));
  }
  if (const Json* db = Field(spec, "defaultBackend"); db && db->is_object())
    check_backend(*db, "spec.defaultBackend");
  ForEachConst(spec, "rules", [&](const Json& r, size_t i) {
    std::string rp = Index("spec.rules", i);
    std::string host = GetString(r, {"host"});
    if (!host.empty()) {
      std::string h = host.rfind("*.", 0) == 0 ? host.substr(2) : host;
      AppendInvalid(errs, Child(rp, "host"), host, IsDNS1123Subdomain(h));
    }
    const Json* http = Field(r, "http");
    if (http == nullptr) return;
    const Json* paths = Field(*http, "paths");
    if (paths == nullptr || !paths->is_array() || paths->empty()) {
      errs->push_back(Required(Child(rp, "http.paths"), ""));
      return;
    }
    for (size_t j = 0; j < paths->size(); ++j) {
      const Json& p = (*paths)[j];
      std::string pp = Index(Child(rp, "http.paths"), j);
      std::string type = GetString(p, {"pathType"});
      if (type.empty()) {
        errs->push_back(
            Required(Child(pp, "pathType"), "pathType must be specified"));
      } else if (!OneOf(type, {"Exact", "ImplementationSpecific", "Prefix"})) {
        errs->push_back(
            NotSupported(Child(pp, "pathType"), type,
                         {"Exact", "ImplementationSpecific", "Prefix"}));
      }
      std::string path = GetString(p, {"path"});
      if (type != "ImplementationSpecific" || !path.empty()) {
        if (path.empty() || path[0] != '/')
          errs->push_back(
              Invalid(Child(pp, "path"), path, "must be an absolute path"));
      }
      const Json* b = Field(p, "backend");
      check_backend(b ? *b : kEmpty, Child(pp, "backend"));
    }
  });
  std::string cls = GetString(spec, {"ingressClassName"});
  if (!cls.empty())
    AppendInvalid(errs, "spec.ingressClassName", cls, IsDNS1123Subdomain(cls));
}

void ValidateIngressClass(const Json& obj, const Json* old, FieldErrors* errs) {
  std::string controller = GetString(obj, {"spec", "controller"});
  if (controller.empty()) {
    errs->push_back(Required("spec.controller", ""));
  } else if (controller.size() > 250) {
    errs->push_back(
        TooLong("spec.controller", "may not be more than 250 bytes"));
  }
  if (old != nullptr && controller != GetString(*old, {"spec", "controller"})) {
    errs->push_back(
        Invalid("spec.controller", controller, "field is immutable"));
  }
}

// ---- policy ----

void ValidatePodDisruptionBudget(const Json& obj, const Json*,
                                 FieldErrors* errs) {
  static const Json kEmpty = Json::object();
  const Json* sp = Field(obj, "spec");
  const Json& spec = sp ? *sp : kEmpty;
  const Json* min = Field(spec, "minAvailable");
  const Json* max = Field(spec, "maxUnavailable");
  if (min && !min->is_null() && max && !max->is_null()) {
    errs->push_back(
        InvalidRendered("spec.minAvailable", GoIntOrString(*min),
                        "minAvailable and maxUnavailable cannot be both set"));
  }
  for (auto [v, name] : {std::pair{min, "spec.minAvailable"},
                         std::pair{max, "spec.maxUnavailable"}}) {
    if (v == nullptr || v->is_null()) continue;
    if (v->is_number_integer() && v->get<int64_t>() < 0) {
      errs->push_back(Invalid(name, *v, "must be greater than or equal to 0"));
    } else if (v->is_string()) {
      std::string s = v->get<std::string>();
      bool ok = s.size() >= 2 && s.back() == '%' &&
                std::all_of(s.begin(), s.end() - 1,
                            [](char c) { return c >= '0' && c <= '9'; });
      if (!ok) {
        errs->push_back(InvalidRendered(
            name, GoIntOrString(*v),
            "a valid percent string must be a numeric string followed by an "
            "ending '%' "
            "(e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"));
      } else if (std::stoll(s.substr(0, s.size() - 1)) > 100) {
        errs->push_back(InvalidRendered(name, GoIntOrString(*v),
                                        "must not be greater than 100%"));
      }
    }
  }
  if (const Json* sel = Field(spec, "selector"); sel && sel->is_object()) {
    ValidateLabelSelectorJson(*sel, "spec.selector", errs);
  }
  std::string upe = GetString(spec, {"unhealthyPodEvictionPolicy"});
  if (!upe.empty() && !OneOf(upe, {"AlwaysAllow", "IfHealthyBudget"})) {
    errs->push_back(NotSupported("spec.unhealthyPodEvictionPolicy", upe,
                                 {"AlwaysAllow", "IfHealthyBudget"}));
  }
}

// ---- autoscaling ----

Status DefaultHorizontalPodAutoscaler(Json& obj) {
  Json& spec = Obj(obj, "spec");
  DefaultValue(spec, "minReplicas", 1);
  const Json* metrics = Field(spec, "metrics");
  if (metrics == nullptr || !metrics->is_array() || metrics->empty()) {
    spec["metrics"] = Json::array(
        {{{"type", "Resource"},
          {"resource",
           {{"name", "cpu"},
            {"target",
             {{"type", "Utilization"}, {"averageUtilization", 80}}}}}}});
  }
  return Status::Ok();
}

void ValidateHorizontalPodAutoscaler(const Json& obj, const Json*,
                                     FieldErrors* errs) {
  static const Json kEmpty = Json::object();
  const Json* sp = Field(obj, "spec");
  const Json& spec = sp ? *sp : kEmpty;
  int64_t min = GetInt(spec, {"minReplicas"}, 1);
  int64_t max = GetInt(spec, {"maxReplicas"});
  if (min < 1)
    errs->push_back(
        Invalid("spec.minReplicas", min, "must be greater than or equal to 1"));
  if (max < 1)
    errs->push_back(Invalid("spec.maxReplicas", max, "must be greater than 0"));
  if (max < min)
    errs->push_back(Invalid("spec.maxReplicas", max,
                            "must be greater than or equal to `minReplicas`"));
  if (GetString(spec, {"scaleTargetRef", "kind"}).empty())
    errs->push_back(Required("spec.scaleTargetRef.kind", ""));
  std::string name = GetString(spec, {"scaleTargetRef", "name"});
  if (name.empty()) {
    errs->push_back(Required("spec.scaleTargetRef.name", ""));
  } else {
    AppendInvalid(errs, "spec.scaleTargetRef.name", name,
                  IsValidPathSegmentName(name));
  }
}

// ---- scheduling ----

Status DefaultPriorityClass(Json& obj) {
  DefaultString(obj, "preemptionPolicy", "PreemptLowerPriority");
  return Status::Ok();
}

void ValidatePriorityClass(const Json& obj, const Json* old,
                           FieldErrors* errs) {
  std::string name = Name(obj);
  int64_t value = GetInt(obj, {"value"});
  if (name.rfind("system-", 0) == 0) {
    if (!OneOf(name, {"system-node-critical", "system-cluster-critical"})) {
      errs->push_back(
          Forbidden("metadata.name",
                    "priority class names with 'system-' prefix are reserved"));
    }
  } else if (value > 1000000000) {
    errs->push_back(Forbidden(
        "value",
        "maximum allowed value of a user defined priority is 1000000000"));
  }
  std::string pp = GetString(obj, {"preemptionPolicy"});
  if (!pp.empty() && !OneOf(pp, {"Never", "PreemptLowerPriority"})) {
    errs->push_back(NotSupported("preemptionPolicy", pp,
                                 {"Never", "PreemptLowerPriority"}));
  }
  if (old != nullptr) {
    if (value != GetInt(*old, {"value"}))
      errs->push_back(Forbidden("value", "may not be changed in an update."));
    if (pp != GetString(*old, {"preemptionPolicy"})) {
      errs->push_back(Invalid("preemptionPolicy", pp, "field is immutable"));
    }
  }
}

// ---- storage ----

Status DefaultStorageClass(Json& obj) {
  DefaultString(obj, "reclaimPolicy", "Delete");
  DefaultString(obj, "volumeBindingMode", "Immediate");
  return Status::Ok();
}

void ValidateStorageClass(const Json& obj, const Json* old, FieldErrors* errs) {
  std::string prov = GetString(obj, {"provisioner"});
  if (prov.empty()) {
    errs->push_back(Required("provisioner", ""));
  } else {
    AppendInvalid(errs, "provisioner", prov, IsQualifiedName(prov));
  }
  std::string rp = GetString(obj, {"reclaimPolicy"});
  if (!OneOf(rp, {"Delete", "Retain"}))
    errs->push_back(NotSupported("reclaimPolicy", rp, {"Delete", "Retain"}));
  std::string bm = GetString(obj, {"volumeBindingMode"});
  if (!OneOf(bm, {"Immediate", "WaitForFirstConsumer"})) {
    errs->push_back(NotSupported("volumeBindingMode", bm,
                                 {"Immediate", "WaitForFirstConsumer"}));
  }
  if (old != nullptr) {
    for (const char* f :
         {"parameters", "provisioner", "reclaimPolicy", "volumeBindingMode"}) {
      const Json* a = Field(obj, f);
      const Json* b = Field(*old, f);
      if ((a ? *a : Json()) != (b ? *b : Json())) {
        errs->push_back(
            Forbidden(f, "updates to " + std::string(f) + " are forbidden."));
      }
    }
  }
}

// ---- apiextensions ----

Status DefaultCustomResourceDefinition(Json& obj) {
  Json& spec = Obj(obj, "spec");
  Json& names = Obj(spec, "names");
  std::string kind = GetString(names, {"kind"});
  if (!kind.empty()) {
    std::string lower = kind;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    DefaultString(names, "singular", lower.c_str());
    DefaultString(names, "listKind", (kind + "List").c_str());
  }
  Json& conv = Obj(spec, "conversion");
  DefaultString(conv, "strategy", "None");
  ForEach(spec, "versions", [](Json& v) {
    if (v.contains("additionalPrinterColumns") &&
        v["additionalPrinterColumns"].is_array()) {
      for (Json& c : v["additionalPrinterColumns"]) {
        if (c.is_object()) DefaultValue(c, "priority", 0);
      }
    }
  });
  return Status::Ok();
}

void ValidateCustomResourceDefinition(const Json& obj, const Json* old,
                                      FieldErrors* errs) {
  static const Json kEmpty = Json::object();
  const Json* sp = Field(obj, "spec");
  const Json& spec = sp ? *sp : kEmpty;
  std::string group = GetString(spec, {"group"});
  if (group.empty()) {
    errs->push_back(Required("spec.group", ""));
  } else {
    AppendInvalid(errs, "spec.group", group, IsDNS1123Subdomain(group));
    if (group.find('.') == std::string::npos) {
      errs->push_back(Invalid("spec.group", group,
                              "should be a domain with at least one dot"));
    }
  }
  std::string plural = GetString(spec, {"names", "plural"});
  std::string kind = GetString(spec, {"names", "kind"});
  if (plural.empty()) {
    errs->push_back(Required("spec.names.plural", ""));
  } else {
    AppendInvalid(errs, "spec.names.plural", plural, IsDNS1035Label(plural));
  }
  std::string singular = GetString(spec, {"names", "singular"});
  if (!singular.empty())
    AppendInvalid(errs, "spec.names.singular", singular,
                  IsDNS1035Label(singular));
  if (kind.empty()) errs->push_back(Required("spec.names.kind", ""));
  if (Name(obj) != plural + "." + group) {
    errs->push_back(Invalid("metadata.name", Name(obj),
                            "must be spec.names.plural+\".\"+spec.group"));
  }
  std::string scope = GetString(spec, {"scope"});
  if (!OneOf(scope, {"Cluster", "Namespaced"}))
    errs->push_back(
        NotSupported("spec.scope", scope, {"Cluster", "Namespaced"}));
  const Json* versions = Field(spec, "versions");
  if (versions == nullptr || !versions->is_array() || versions->empty()) {
    errs->push_back(
        Invalid("spec.versions", Json::array(),
                "must have exactly one version marked as storage version"));
  } else {
    int storage = 0;
    std::set<std::string> seen;
    for (size_t i = 0; i < versions->size(); ++i) {
      const Json& v = (*versions)[i];
      std::string vp = Index("spec.versions", i);
      std::string name = GetString(v, {"name"});
      AppendInvalid(errs, Child(vp, "name"), name, IsDNS1035Label(name));
      if (!seen.insert(name).second)
        errs->push_back(Invalid(Child(vp, "name"), name, "must be unique"));
      if (GetBool(v, {"storage"})) ++storage;
      if (!Has(v, {"schema", "openAPIV3Schema"})) {
        errs->push_back(Required(Child(vp, "schema.openAPIV3Schema"),
                                 "schemas are required"));
      }
      ForEachConst(v, "additionalPrinterColumns", [&](const Json& c, size_t j) {
        std::string cp = Index(Child(vp, "additionalPrinterColumns"), j);
        if (GetString(c, {"name"}).empty())
          errs->push_back(Required(Child(cp, "name"), ""));
        std::string type = GetString(c, {"type"});
        if (!OneOf(type, {"boolean", "date", "integer", "number", "string"})) {
          errs->push_back(
              NotSupported(Child(cp, "type"), type,
                           {"boolean", "date", "integer", "number", "string"}));
        }
        std::string jp = GetString(c, {"jsonPath"});
        if (jp.empty()) {
          errs->push_back(Required(Child(cp, "jsonPath"), ""));
        } else if (jp[0] != '.') {
          errs->push_back(
              Invalid(Child(cp, "jsonPath"), jp,
                      "must be a simple json path starting with ."));
        }
      });
    }
    if (storage != 1) {
      errs->push_back(
          Invalid("spec.versions", *versions,
                  "must have exactly one version marked as storage version"));
    }
    if (errs->empty()) {
      auto kinds = KindsFromCustomResourceDefinition(obj);
      if (!kinds.ok())
        errs->push_back(Invalid("spec", "", kinds.status().message()));
    }
  }
  if (old != nullptr) {
    if (GetString(*old, {"spec", "group"}) != group)
      errs->push_back(Invalid("spec.group", group, "field is immutable"));
    std::string old_scope = GetString(*old, {"spec", "scope"});
    if (old_scope != scope)
      errs->push_back(Invalid("spec.scope", scope, "field is immutable"));
  }
}

void OnCreateCustomResourceDefinition(Json& obj) {
  std::string ts = GetString(obj, {"metadata", "creationTimestamp"});
  Json names = obj.contains("spec") && obj["spec"].is_object() &&
                       obj["spec"].contains("names")
                   ? obj["spec"]["names"]
                   : Json::object();
  Json stored = Json::array();
  ForEachConst(obj.value("spec", Json::object()), "versions",
               [&](const Json& v, size_t) {
                 if (GetBool(v, {"storage"}))
                   stored.push_back(GetString(v, {"name"}));
               });
  auto cond = [&](const char* type, const char* reason, const char* message) {
    Json c = {{"type", type},
              {"status", "True"},
              {"reason", reason},
              {"message", message}};
    c["lastTransitionTime"] = ts.empty() ? Json() : Json(ts);
    return c;
  };
  obj["status"] = {
      {"acceptedNames", names},
      {"conditions",
       Json::array({cond("NamesAccepted", "NoConflicts", "no conflicts found"),
                    cond("Established", "InitialNamesAccepted",
                         "the initial names have been accepted")})},
      {"storedVersions", stored}};
}

// ---- certificates, coordination ----

void ValidateCertificateSigningRequest(const Json& obj, const Json*,
                                       FieldErrors* errs) {
  if (GetString(obj, {"spec", "request"}).empty())
    errs->push_back(Required("spec.request", ""));
  std::string signer = GetString(obj, {"spec", "signerName"});
  if (signer.empty()) {
    errs->push_back(Required("spec.signerName", ""));
  } else if (signer.find('/') == std::string::npos) {
    errs->push_back(Invalid("spec.signerName", signer,
                            "must be a fully qualified domain and path of the "
                            "form 'example.com/signer-name'"));
  }
  const Json* usages = FieldPath(obj, {"spec", "usages"});
  if (usages == nullptr || !usages->is_array() || usages->empty()) {
    errs->push_back(Required("spec.usages", ""));
  }
  int64_t exp;
  if (const Json* spec = Field(obj, "spec");
      spec && IntField(*spec, "expirationSeconds", &exp) && exp < 600) {
    errs->push_back(Invalid(
        "spec.expirationSeconds", exp,
        "may not specify a duration less than 600 seconds (10 minutes)"));
  }
}

void ValidateLease(const Json& obj, const Json*, FieldErrors* errs) {
  int64_t v;
  if (const Json* spec = Field(obj, "spec")) {
    if (IntField(*spec, "leaseDurationSeconds", &v) && v <= 0) {
      errs->push_back(
          Invalid("spec.leaseDurationSeconds", v, "must be greater than 0"));
    }
    if (IntField(*spec, "leaseTransitions", &v) && v < 0) {
      errs->push_back(Invalid("spec.leaseTransitions", v,
                              "must be greater than or equal to 0"));
    }
  }
}

}  // namespace kite::api::rules

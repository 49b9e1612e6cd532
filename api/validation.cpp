#include "api/validation.h"

#include <set>

#include "api/rules_util.h"
#include "api/schema.h"

namespace kite::api {

using Json = nlohmann::json;
using rules::Child;
using rules::Index;

Status Default(const Kind& kind, Json& obj) {
  if (!obj.is_object())
    return InvalidArgumentError("the object must be a JSON object");
  if (kind.IsCustom() && kind.schema.is_object())
    ApplySchemaDefaults(kind.schema, obj);
  if (kind.defaulter) return kind.defaulter(obj);
  return Status::Ok();
}

namespace {

std::vector<std::string> NameProblems(NameRule rule, const std::string& name) {
  switch (rule) {
    case NameRule::kDNSSubdomain:
      return IsDNS1123Subdomain(name);
    case NameRule::kDNSLabel:
      return IsDNS1123Label(name);
    case NameRule::kDNS1035Label:
      return IsDNS1035Label(name);
    case NameRule::kPathSegment:
      return IsValidPathSegmentName(name);
    case NameRule::kCRDName:
      return IsDNS1123Subdomain(name);
  }
  return {};
}

void ImmutableString(const Json& obj, const Json& old, const char* key,
                     FieldErrors* errs) {
  std::string a = GetString(obj, {"metadata", key});
  std::string b = GetString(old, {"metadata", key});
  if (a != b && !(std::string_view(key) == "uid" && a.empty())) {
    errs->push_back(Invalid(Child("metadata", key), a, "field is immutable"));
  }
}

}  // namespace

FieldErrors ValidateObjectMeta(const Kind& kind, const Json& obj,
                               const Json* old) {
  FieldErrors errs;
  const Json* md = Field(obj, "metadata");
  static const Json kEmpty = Json::object();
  const Json& meta = md && md->is_object() ? *md : kEmpty;
  std::string generate = GetString(meta, {"generateName"});
  if (!generate.empty()) {
    // A trailing '-' is fine in a prefix.
    std::string masked = generate;
    if (masked.back() == '-') masked.back() = 'a';
    AppendInvalid(&errs, "metadata.generateName", generate,
                  NameProblems(kind.name_rule, masked));
  }
  std::string name = GetString(meta, {"name"});
  if (name.empty()) {
    errs.push_back(
        Required("metadata.name", "name or generateName is required"));
  } else {
    AppendInvalid(&errs, "metadata.name", name,
                  NameProblems(kind.name_rule, name));
  }
  std::string ns = GetString(meta, {"namespace"});
  if (kind.Namespaced()) {
    if (ns.empty()) {
      errs.push_back(Required("metadata.namespace", ""));
    } else {
      AppendInvalid(&errs, "metadata.namespace", ns, IsDNS1123Label(ns));
    }
  } else if (!ns.empty()) {
    errs.push_back(Forbidden("metadata.namespace", "not allowed on this type"));
  }
  rules::NonNegative(meta, "generation", "metadata", &errs);
  ValidateLabels(Field(meta, "labels"), "metadata.labels", &errs);
  ValidateAnnotations(Field(meta, "annotations"), "metadata.annotations",
                      &errs);
  int controllers = 0;
  rules::ForEachConst(meta, "ownerReferences", [&](const Json& r, size_t) {
    const std::string path = "metadata.ownerReferences";
    std::string api_version = GetString(r, {"apiVersion"});
    std::string version = api_version.substr(
        api_version.find('/') == std::string::npos ? 0
                                                   : api_version.find('/') + 1);
    if (version.empty())
      errs.push_back(Invalid(Child(path, "apiVersion"), api_version,
                             "version must not be empty"));
    if (GetString(r, {"kind"}).empty())
      errs.push_back(
          Invalid(Child(path, "kind"), "", "kind must not be empty"));
    if (GetString(r, {"name"}).empty())
      errs.push_back(
          Invalid(Child(path, "name"), "", "name must not be empty"));
    if (GetString(r, {"uid"}).empty())
      errs.push_back(Invalid(Child(path, "uid"), "", "uid must not be empty"));
    if (GetBool(r, {"controller"})) ++controllers;
  });
  if (controllers > 1) {
    errs.push_back(
        Invalid("metadata.ownerReferences", *Field(meta, "ownerReferences"),
                "Only one reference can have Controller set to true"));
  }
  std::set<std::string> finalizers;
  rules::ForEachConst(meta, "finalizers", [&](const Json& f, size_t) {
    std::string v = f.is_string() ? f.get<std::string>() : "";
    AppendInvalid(&errs, "metadata.finalizers", v, IsQualifiedName(v));
    finalizers.insert(v);
  });
  if (finalizers.count("orphan") && finalizers.count("foregroundDeletion")) {
    errs.push_back(
        Invalid("metadata.finalizers", *Field(meta, "finalizers"),
                "finalizer orphan and foregroundDeletion cannot be both set"));
  }
  if (old != nullptr) {
    ImmutableString(obj, *old, "name", &errs);
    ImmutableString(obj, *old, "namespace", &errs);
    ImmutableString(obj, *old, "uid", &errs);
  }
  return errs;
}

FieldErrors Validate(const Kind& kind, const Json& obj, const Json* old) {
  FieldErrors errs = ValidateObjectMeta(kind, obj, old);
  if (kind.IsCustom() && kind.schema.is_object())
    ValidateAgainstSchema(kind.schema, obj, &errs);
  if (kind.validator) kind.validator(obj, old, &errs);
  return errs;
}

void PrepareForCreate(const Kind& kind, Json& obj) {
  if (kind.HasStatus() && !kind.status_on_create)
    obj["status"] = Json::object();
  if (kind.tracks_generation) Ensure(obj, "metadata")["generation"] = 1;
  if (kind.on_create) kind.on_create(obj);
}

namespace {

// The object without metadata and status: what a generation bump looks at.
Json SpecPart(const Json& obj, bool drop_status) {
  Json out = obj;
  if (out.is_object()) {
    out.erase("metadata");
    if (drop_status) out.erase("status");
    out.erase("apiVersion");
    out.erase("kind");
  }
  return out;
}

}  // namespace

void PrepareForUpdate(const Kind& kind, Json& obj, const Json& old) {
  if (kind.HasStatus()) {
    if (const Json* s = Field(old, "status")) {
      obj["status"] = *s;
    } else {
      obj.erase("status");
    }
  }
  if (kind.tracks_generation) {
    int64_t gen = GetInt(old, {"metadata", "generation"}, 1);
    if (SpecPart(obj, kind.HasStatus()) != SpecPart(old, kind.HasStatus()))
      ++gen;
    Ensure(obj, "metadata")["generation"] = gen;
  }
  if (kind.on_update) kind.on_update(obj, old);
}

void PrepareForStatusUpdate(const Kind&, Json& obj, const Json& old) {
  Json status = obj.contains("status") ? obj["status"] : Json();
  Json next = old;
  // Only .status comes from the request; metadata (resourceVersion for the
  // precondition) is kept from the request for the REST layer to compare.
  if (status.is_null()) {
    next.erase("status");
  } else {
    next["status"] = status;
  }
  if (const Json* rv = FieldPath(obj, {"metadata", "resourceVersion"}))
    Ensure(next, "metadata")["resourceVersion"] = *rv;
  obj = std::move(next);
}

std::string GoLabelSelector(const Json* sel) {
  if (sel == nullptr || !sel->is_object()) return "nil";
  std::string s = "v1.LabelSelector{MatchLabels:";
  const Json* ml = Field(*sel, "matchLabels");
  s += ml && ml->is_object() ? GoValue(*ml) : "map[string]string(nil)";
  s += ", MatchExpressions:";
  const Json* me = Field(*sel, "matchExpressions");
  if (me == nullptr || !me->is_array()) {
    s += "[]v1.LabelSelectorRequirement(nil)";
  } else {
    s += "[]v1.LabelSelectorRequirement{";
    for (size_t i = 0; i < me->size(); ++i) {
      const Json& e = (*me)[i];
      if (i) s += ", ";
      s += "v1.LabelSelectorRequirement{Key:" + GoQuote(GetString(e, {"key"})) +
           ", Operator:" + GoQuote(GetString(e, {"operator"})) + ", Values:";
      const Json* vals = Field(e, "values");
      s += vals && vals->is_array() ? GoValue(*vals) : "[]string(nil)";
      s += "}";
    }
    s += "}";
  }
  return s + "}";
}

}  // namespace kite::api

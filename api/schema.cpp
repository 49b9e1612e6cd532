#include "api/schema.h"

#include <algorithm>
#include <cctype>

namespace kite::api {

using Json = nlohmann::json;

namespace {

constexpr std::string_view kRefPrefix = "#/components/schemas/";

// Follows "$ref" and single-element "allOf: [{$ref}]" to the schema meant.
const Json& Resolve(const Json& s) {
  const Json* cur = &s;
  for (int depth = 0; depth < 8; ++depth) {
    const Json* ref = nullptr;
    if (const Json* r = Field(*cur, "$ref"); r && r->is_string()) {
      ref = r;
    } else if (const Json* all = Field(*cur, "allOf");
               all && all->is_array() && all->size() == 1 &&
               !cur->contains("properties")) {
      if (const Json* r2 = Field((*all)[0], "$ref"); r2 && r2->is_string())
        ref = r2;
    }
    if (ref == nullptr) return *cur;
    std::string name = ref->get<std::string>();
    if (name.rfind(kRefPrefix, 0) != 0) return *cur;
    const auto& table = BuiltinSchemas();
    auto it = table.find(name.substr(kRefPrefix.size()));
    if (it == table.end()) return *cur;
    cur = &it->second;
  }
  return *cur;
}

std::string ChildPath(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

// Walks `value` along `schema`; reports (and, with prune, erases) members of
// closed objects the schema does not describe.
void Walk(const Json& schema_in, Json* mutable_value, const Json& value,
          const std::string& path, std::vector<std::string>* out, bool prune,
          bool root) {
  const Json& schema = Resolve(schema_in);
  if (!schema.is_object()) return;
  bool open = schema.value("x-kubernetes-preserve-unknown-fields", false);
  if (value.is_object()) {
    const Json* props = Field(schema, "properties");
    const Json* addl = Field(schema, "additionalProperties");
    std::vector<std::string> drop;
    for (auto it = value.begin(); it != value.end(); ++it) {
      const std::string& key = it.key();
      if (root && (key == "apiVersion" || key == "kind")) continue;
      Json* child_mut = mutable_value ? &(*mutable_value)[key] : nullptr;
      if (props && props->is_object() && props->contains(key)) {
        Walk((*props)[key], child_mut, it.value(), ChildPath(path, key), out,
             prune, false);
      } else if (addl && addl->is_object()) {
        Walk(*addl, child_mut, it.value(), ChildPath(path, key), out, prune,
             false);
      } else if (addl && addl->is_boolean() && addl->get<bool>()) {
        continue;
      } else if (!open && props && props->is_object()) {
        if (out) out->push_back(ChildPath(path, key));
        drop.push_back(key);
      }
    }
    if (prune && mutable_value) {
      for (const std::string& k : drop) mutable_value->erase(k);
    }
  } else if (value.is_array()) {
    const Json* items = Field(schema, "items");
    if (items == nullptr) return;
    for (size_t i = 0; i < value.size(); ++i) {
      Json* child_mut = mutable_value ? &(*mutable_value)[i] : nullptr;
      Walk(*items, child_mut, value[i], path + "[" + std::to_string(i) + "]",
           out, prune, false);
    }
  }
}

std::string GroupPackage(const std::string& group) {
  if (group.empty()) return "core";
  return group.substr(0, group.find('.'));
}

}  // namespace

std::string SchemaName(const Kind& kind) {
  if (kind.IsCustom()) {
    std::vector<std::string> parts;
    size_t start = 0;
    while (true) {
      size_t dot = kind.group.find('.', start);
      parts.push_back(kind.group.substr(
          start, dot == std::string::npos ? std::string::npos : dot - start));
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    std::reverse(parts.begin(), parts.end());
    std::string name;
    for (const std::string& p : parts) name += p + ".";
    return name + kind.version + "." + kind.kind;
  }
  if (kind.group == "apiextensions.k8s.io") {
    return "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions." +
           kind.version + "." + kind.kind;
  }
  return "io.k8s.api." + GroupPackage(kind.group) + "." + kind.version + "." +
         kind.kind;
}

Json KindSchema(const Kind& kind) {
  Json s;
  if (kind.IsCustom()) {
    if (!kind.schema.is_object()) return nullptr;
    s = kind.schema;
    // metadata is always an ObjectMeta, whatever the CRD says.
    Json& props = s["properties"];
    if (!props.is_object()) props = Json::object();
    props["metadata"] = {
        {"allOf",
         Json::array({{{"$ref",
                        "#/components/schemas/"
                        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}}})},
        {"description", "Standard object's metadata."}};
    if (!props.contains("apiVersion"))
      props["apiVersion"] = {{"type", "string"}};
    if (!props.contains("kind")) props["kind"] = {{"type", "string"}};
  } else {
    const auto& table = BuiltinSchemas();
    auto it = table.find(SchemaName(kind));
    if (it == table.end()) return nullptr;
    s = it->second;
  }
  s["x-kubernetes-group-version-kind"] =
      Json::array({{{"group", kind.group},
                    {"kind", kind.kind},
                    {"version", kind.version}}});
  return s;
}

std::vector<std::string> UnknownFields(const Kind& kind, const Json& obj) {
  std::vector<std::string> out;
  Json schema = KindSchema(kind);
  if (schema.is_null()) return out;
  Walk(schema, nullptr, obj, "", &out, false, true);
  return out;
}

std::string StrictDecodingMessage(const std::vector<std::string>& unknown) {
  std::string s = "strict decoding error: ";
  for (size_t i = 0; i < unknown.size(); ++i) {
    if (i) s += ", ";
    s += "unknown field \"" + unknown[i] + "\"";
  }
  return s;
}

void PruneUnknownFields(const Kind& kind, Json& obj) {
  Json schema = KindSchema(kind);
  if (schema.is_null()) return;
  const Json snapshot = obj;
  Walk(schema, &obj, snapshot, "", nullptr, true, true);
}

// ---- custom resources ----

void ApplySchemaDefaults(const Json& schema_in, Json& obj) {
  const Json& schema = Resolve(schema_in);
  if (obj.is_object()) {
    if (const Json* props = Field(schema, "properties");
        props && props->is_object()) {
      for (auto it = props->begin(); it != props->end(); ++it) {
        if (!obj.contains(it.key())) {
          if (const Json* d = Field(it.value(), "default")) {
            if (!(it.value().contains("allOf") && d->is_object() && d->empty()))
              obj[it.key()] = *d;
          }
        }
        if (obj.contains(it.key()))
          ApplySchemaDefaults(it.value(), obj[it.key()]);
      }
    }
    if (const Json* addl = Field(schema, "additionalProperties");
        addl && addl->is_object()) {
      for (auto it = obj.begin(); it != obj.end(); ++it)
        ApplySchemaDefaults(*addl, it.value());
    }
  } else if (obj.is_array()) {
    if (const Json* items = Field(schema, "items")) {
      for (Json& e : obj) ApplySchemaDefaults(*items, e);
    }
  }
}

namespace {

std::string JsonTypeName(const Json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "boolean";
  if (v.is_number_integer()) return "integer";
  if (v.is_number()) return "number";
  if (v.is_string()) return "string";
  if (v.is_array()) return "array";
  return "object";
}

void Check(const Json& schema_in, const Json& v, const std::string& path,
           FieldErrors* errs, bool root) {
  const Json& schema = Resolve(schema_in);
  if (!schema.is_object() || v.is_null()) return;
  std::string shown = path.empty() ? "body" : path;
  std::string type = schema.value("type", "");
  bool int_or_string = schema.value("x-kubernetes-int-or-string", false);
  if (int_or_string) {
    if (!v.is_string() && !v.is_number_integer()) {
      errs->push_back(Invalid(path, JsonTypeName(v),
                              shown +
                                  " in body must be of type integer,string: " +
                                  GoQuote(JsonTypeName(v))));
      return;
    }
  } else if (!type.empty()) {
    bool ok =
        (type == "object" && v.is_object()) ||
        (type == "array" && v.is_array()) ||
        (type == "string" && v.is_string()) ||
        (type == "boolean" && v.is_boolean()) ||
        (type == "integer" &&
         (v.is_number_integer() ||
          (v.is_number_float() &&
           v.get<double>() ==
               static_cast<double>(static_cast<int64_t>(v.get<double>()))))) ||
        (type == "number" && v.is_number());
    if (!ok) {
      errs->push_back(Invalid(path, JsonTypeName(v),
                              shown + " in body must be of type " + type +
                                  ": " + GoQuote(JsonTypeName(v))));
      return;
    }
  }
  if (const Json* en = Field(schema, "enum"); en && en->is_array()) {
    if (std::find(en->begin(), en->end(), v) == en->end()) {
      std::vector<std::string> vals;
      for (const Json& e : *en)
        vals.push_back(e.is_string() ? e.get<std::string>() : e.dump());
      errs->push_back(NotSupported(path, v, vals));
    }
  }
  if (v.is_number()) {
    double d = v.get<double>();
    auto num = [](const Json& j) {
      return j.is_number_integer() ? std::to_string(j.get<int64_t>())
                                   : j.dump();
    };
    if (const Json* mn = Field(schema, "minimum"); mn && mn->is_number()) {
      bool excl = schema.value("exclusiveMinimum", false);
      if (excl ? d <= mn->get<double>() : d < mn->get<double>()) {
        errs->push_back(Invalid(path, v,
                                shown + " in body should be greater than " +
                                    std::string(excl ? "" : "or equal to ") +
                                    num(*mn)));
      }
    }
    if (const Json* mx = Field(schema, "maximum"); mx && mx->is_number()) {
      bool excl = schema.value("exclusiveMaximum", false);
      if (excl ? d >= mx->get<double>() : d > mx->get<double>()) {
        errs->push_back(Invalid(path, v,
                                shown + " in body should be less than " +
                                    std::string(excl ? "" : "or equal to ") +
                                    num(*mx)));
      }
    }
  }
  if (v.is_string()) {
    size_t len = v.get<std::string>().size();
    if (const Json* mn = Field(schema, "minLength");
        mn && mn->is_number_integer() && len < mn->get<size_t>()) {
      errs->push_back(Invalid(path, v,
                              shown + " in body should be at least " +
                                  std::to_string(mn->get<size_t>()) +
                                  " chars long"));
    }
    if (const Json* mx = Field(schema, "maxLength");
        mx && mx->is_number_integer() && len > mx->get<size_t>()) {
      errs->push_back(TooLong(path, "may not be more than " +
                                        std::to_string(mx->get<size_t>()) +
                                        " bytes"));
    }
  }
  if (v.is_array()) {
    if (const Json* mn = Field(schema, "minItems");
        mn && mn->is_number_integer() && v.size() < mn->get<size_t>()) {
      errs->push_back(Invalid(path, v.size(),
                              shown + " in body should have at least " +
                                  std::to_string(mn->get<size_t>()) +
                                  " items"));
    }
    if (const Json* mx = Field(schema, "maxItems");
        mx && mx->is_number_integer() && v.size() > mx->get<size_t>()) {
      errs->push_back({FieldErrorType::kTooMany, path, "", false,
                       "must have at most " +
                           std::to_string(mx->get<size_t>()) + " items"});
    }
    if (const Json* items = Field(schema, "items")) {
      for (size_t i = 0; i < v.size(); ++i)
        Check(*items, v[i], path + "[" + std::to_string(i) + "]", errs, false);
    }
  }
  if (v.is_object()) {
    if (const Json* req = Field(schema, "required"); req && req->is_array()) {
      for (const Json& r : *req) {
        if (r.is_string() && !v.contains(r.get<std::string>())) {
          if (root && (r == "metadata" || r == "apiVersion" || r == "kind"))
            continue;
          errs->push_back(Required(ChildPath(path, r.get<std::string>()), ""));
        }
      }
    }
    const Json* props = Field(schema, "properties");
    const Json* addl = Field(schema, "additionalProperties");
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (root && (it.key() == "metadata" || it.key() == "apiVersion" ||
                   it.key() == "kind"))
        continue;
      if (props && props->is_object() && props->contains(it.key())) {
        Check((*props)[it.key()], it.value(), ChildPath(path, it.key()), errs,
              false);
      } else if (addl && addl->is_object()) {
        Check(*addl, it.value(), ChildPath(path, it.key()), errs, false);
      }
    }
  }
}

}  // namespace

void ValidateAgainstSchema(const Json& schema, const Json& obj,
                           FieldErrors* errs) {
  Check(schema, obj, "", errs, true);
}

}  // namespace kite::api

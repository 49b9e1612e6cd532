#include "api/scale.h"

#include "api/jsonpath.h"
#include "api/selectors.h"

namespace kite::api {

using Json = nlohmann::json;

namespace {

// ".spec.replicas" -> {"spec", "replicas"}; only plain dotted paths, which is
// what CRD scale paths are.
std::vector<std::string> DottedKeys(const std::string& path) {
  std::vector<std::string> keys;
  size_t start = path.empty() || path[0] != '.' ? 0 : 1;
  while (start < path.size()) {
    size_t dot = path.find('.', start);
    keys.push_back(path.substr(
        start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return keys;
}

const Json* AtPath(const Json& obj, const std::string& path) {
  auto p = JsonPath::Parse(path);
  if (!p.ok()) return nullptr;
  auto found = p->Find(obj);
  return found.empty() ? nullptr : found[0];
}

}  // namespace

StatusOr<Json> ScaleOf(const Kind& kind, const Json& obj) {
  if (!kind.HasSubresource("scale")) {
    return FailedPreconditionError(kind.GroupResource() +
                                   " has no scale subresource");
  }
  Json md = Json::object();
  for (const char* k :
       {"name", "namespace", "uid", "resourceVersion", "creationTimestamp"}) {
    if (const Json* v = FieldPath(obj, {"metadata", k}); v && !v->is_null())
      md[k] = *v;
  }
  int64_t spec_replicas = 0, status_replicas = 0;
  std::string selector;
  if (kind.IsCustom()) {
    if (const Json* v = AtPath(obj, kind.scale.spec_replicas);
        v && v->is_number())
      spec_replicas = v->get<int64_t>();
    if (const Json* v = AtPath(obj, kind.scale.status_replicas);
        v && v->is_number())
      status_replicas = v->get<int64_t>();
    if (!kind.scale.label_selector.empty()) {
      if (const Json* v = AtPath(obj, kind.scale.label_selector);
          v && v->is_string())
        selector = v->get<std::string>();
    }
  } else {
    spec_replicas = GetInt(obj, {"spec", "replicas"});
    status_replicas = GetInt(obj, {"status", "replicas"});
    auto sel =
        LabelSelector::FromJson(FieldPath(obj, {"spec", "selector"})
                                    ? *FieldPath(obj, {"spec", "selector"})
                                    : Json());
    if (sel.ok()) selector = sel->String();
  }
  Json status = {{"replicas", status_replicas}};
  if (!selector.empty()) status["selector"] = selector;
  return Json{{"kind", "Scale"},
              {"apiVersion", "autoscaling/v1"},
              {"metadata", md},
              {"spec", {{"replicas", spec_replicas}}},
              {"status", status}};
}

Status ApplyScale(const Kind& kind, Json& obj, const Json& scale,
                  FieldErrors* errs) {
  if (!kind.HasSubresource("scale")) {
    return FailedPreconditionError(kind.GroupResource() +
                                   " has no scale subresource");
  }
  const Json* r = FieldPath(scale, {"spec", "replicas"});
  int64_t replicas = 0;
  if (r != nullptr && !r->is_null()) {
    if (!r->is_number_integer()) {
      errs->push_back(Invalid("spec.replicas", *r, "must be an integer"));
      return Status::Ok();
    }
    replicas = r->get<int64_t>();
  }
  if (replicas < 0) {
    errs->push_back(Invalid("spec.replicas", replicas,
                            "must be greater than or equal to 0"));
    return Status::Ok();
  }
  std::vector<std::string> keys =
      kind.IsCustom() ? DottedKeys(kind.scale.spec_replicas)
                      : std::vector<std::string>{"spec", "replicas"};
  if (keys.empty()) return InternalError("empty specReplicasPath");
  Json* cur = &obj;
  for (size_t i = 0; i + 1 < keys.size(); ++i) cur = &Ensure(*cur, keys[i]);
  (*cur)[keys.back()] = replicas;
  return Status::Ok();
}

}  // namespace kite::api

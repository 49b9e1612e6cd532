// The write verbs of the request path: create, update, patch (JSON, merge,
// strategic merge, server-side apply), and the read-modify-write loop they
// share with the subresources.
#include <random>

#include "api/managed_fields.h"
#include "api/patch.h"
#include "api/schema.h"
#include "api/validation.h"
#include "common/log.h"
#include "server/apiserver/handler.h"

namespace kite::apiserver {

using nlohmann::json;

namespace {

constexpr int kMaxUpdateAttempts = 20;
constexpr int kMaxGenerateNameAttempts = 8;
// The characters Kubernetes uses for generated name suffixes.
constexpr char kNameChars[] = "bcdfghjklmnpqrstvwxz2456789";

std::mt19937_64& Rng() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return rng;
}

std::string RandomSuffix() {
  std::string s;
  for (int i = 0; i < 5; ++i)
    s += kNameChars[Rng()() % (sizeof(kNameChars) - 1)];
  return s;
}

std::string NewUid() {
  uint64_t a = Rng()(), b = Rng()();
  unsigned char bytes[16];
  for (int i = 0; i < 8; ++i) {
    bytes[i] = static_cast<unsigned char>(a >> (8 * i));
    bytes[8 + i] = static_cast<unsigned char>(b >> (8 * i));
  }
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0f) | 0x40);  // version 4
  bytes[8] =
      static_cast<unsigned char>((bytes[8] & 0x3f) | 0x80);  // RFC 4122 variant
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += hex[bytes[i] >> 4];
    out += hex[bytes[i] & 15];
  }
  return out;
}

std::string Rv(const json& obj) {
  return api::GetString(obj, {"metadata", "resourceVersion"});
}

// Whether a merge or strategic patch names a resourceVersion (a
// precondition), or a JSON patch touches it.
bool PatchNamesResourceVersion(const json& patch) {
  if (patch.is_object())
    return api::Has(patch, {"metadata", "resourceVersion"});
  if (patch.is_array()) {
    for (const json& op : patch) {
      if (api::GetString(op, {"path"}) == "/metadata/resourceVersion")
        return true;
    }
  }
  return false;
}

ApiError PatchError(const Status& st) {
  switch (st.code()) {
    case Code::kResourceExhausted:
      return RequestEntityTooLarge(st.message());
    case Code::kFailedPrecondition:
      return UnsupportedMediaType(st.message());
    case Code::kInvalidArgument:
      // As Kubernetes: 422 Invalid without details, so kubectl prints the
      // patch error itself.
      return ApiError(422, "Invalid", st.message());
    default:
      return ApiError(st);
  }
}

}  // namespace

ApiStatus Handler::CheckTypeMeta(Ctx& ctx, json& obj, const api::Kind& expect) {
  (void)ctx;
  if (!obj.is_object())
    return BadRequest("the body of the request must be a JSON object");
  std::string av = api::GetString(obj, {"apiVersion"});
  std::string kind = api::GetString(obj, {"kind"});
  if (av.empty()) obj["apiVersion"] = av = expect.ApiVersion();
  if (kind.empty()) obj["kind"] = kind = expect.kind;
  if (av == expect.ApiVersion() && kind == expect.kind) return ApiStatus::Ok();
  size_t slash = av.find('/');
  std::string group = slash == std::string::npos ? "" : av.substr(0, slash);
  std::string version = slash == std::string::npos ? av : av.substr(slash + 1);
  if (kind == expect.kind && group == expect.group &&
      registry_.LookupKind(group, version, kind)) {
    // Another served version of the same kind (custom resources share one
    // schema-less conversion).
    obj["apiVersion"] = expect.ApiVersion();
    return ApiStatus::Ok();
  }
  if (kind == expect.kind) {
    return BadRequest("the API version in the data (" + av +
                      ") does not match the expected API version (" +
                      expect.ApiVersion() + ")");
  }
  return BadRequest(kind + " in version \"" + version +
                    "\" cannot be handled as a " + expect.kind +
                    ": the body's kind does not match the resource (" +
                    expect.GroupResource() + ")");
}

ApiStatus Handler::CheckUnknownFields(Ctx& ctx, const api::Kind& kind,
                                      json& obj, Response*) {
  std::string mode = ctx.req.Param("fieldValidation");
  if (mode.empty()) mode = "Warn";
  if (mode != "Strict" && mode != "Warn" && mode != "Ignore") {
    return BadRequest("fieldValidation: Unsupported value: \"" + mode +
                      "\": supported values: \"Ignore\", \"Strict\", \"Warn\"");
  }
  std::vector<std::string> unknown = api::UnknownFields(kind, obj);
  if (unknown.empty()) return ApiStatus::Ok();
  if (mode == "Strict") return BadRequest(api::StrictDecodingMessage(unknown));
  if (mode == "Warn") {
    for (const std::string& f : unknown)
      ctx.warnings.push_back("299 - \"unknown field \\\"" + f + "\\\"\"");
  }
  api::PruneUnknownFields(kind, obj);
  return ApiStatus::Ok();
}

api::PatchMeta Handler::PatchMetaFor(const api::Kind& kind) {
  if (!kind.IsCustom()) return patch_meta_.Find(kind.group, kind.kind);
  if (kind.schema.is_object()) {
    auto meta = api::PatchMetaFromOpenAPISchema(kind.schema);
    if (meta.ok()) return std::move(meta).value();
  }
  return api::PatchMeta();
}

ApiOr<json> Handler::ManagedFieldsFor(Ctx& ctx, const json* old,
                                      const json& updated) {
  api::FieldManagerOptions opts;
  opts.manager = ctx.field_manager;
  opts.api_version = ctx.kind->ApiVersion();
  opts.subresource = ctx.info.subresource;
  opts.now = api::FormatTime(ctx.now);
  if (ctx.kind->HasStatus() && ctx.info.subresource.empty())
    opts.ignored_fields = {"status"};
  auto out =
      api::UpdateManagedFields(old, updated, opts, PatchMetaFor(*ctx.kind));
  if (!out.ok()) return BadRequest(out.status().message());
  return std::move(out).value();
}

// ---- create ----

ApiOr<Response> Handler::Create(Ctx& ctx) {
  API_ASSIGN_OR_RETURN(
      json obj, DecodeBody(ctx.req, ctx.kind->ApiVersion(), ctx.kind->kind));
  return CreateObject(ctx, std::move(obj), true);
}

ApiOr<Response> Handler::CreateObject(Ctx& ctx, json obj,
                                      bool track_managed_fields) {
  const api::Kind& kind = *ctx.kind;
  API_RETURN_IF_ERROR(CheckTypeMeta(ctx, obj, kind));
  json& md = api::Ensure(obj, "metadata");
  if (kind.Namespaced()) {
    std::string body_ns = api::GetString(md, {"namespace"});
    if (body_ns.empty()) {
      md["namespace"] = ctx.ns;
    } else if (body_ns != ctx.ns) {
      return BadRequest(
          "the namespace of the provided object does not match the namespace "
          "sent on the request");
    }
  } else {
    md.erase("namespace");
  }
  if (!api::GetString(md, {"resourceVersion"}).empty()) {
    return BadRequest(
        "resourceVersion should not be set on objects to be created");
  }
  API_RETURN_IF_ERROR(CheckUnknownFields(ctx, kind, obj, nullptr));
  std::string generate_name = api::GetString(md, {"generateName"});
  bool generated =
      api::GetString(md, {"name"}).empty() && !generate_name.empty();

  if (Status st = api::Default(kind, obj); !st.ok())
    return BadRequest(st.message());
  json& meta = obj["metadata"];
  meta["uid"] = NewUid();
  meta["creationTimestamp"] = api::FormatTime(ctx.now);
  meta.erase("deletionTimestamp");
  meta.erase("deletionGracePeriodSeconds");
  meta.erase("selfLink");
  if (generated) meta["name"] = generate_name + RandomSuffix();
  api::PrepareForCreate(kind, obj);
  if (kind.group == "certificates.k8s.io" &&
      kind.kind == "CertificateSigningRequest") {
    // Who asked is the server's to say, never the client's (approvers and
    // signers decide on it).
    json& spec = api::Ensure(obj, "spec");
    spec["username"] = ctx.req.user.name;
    spec["groups"] = ctx.req.user.groups;
    spec.erase("uid");
    spec.erase("extra");
  }

  std::string name = api::Name(obj);
  if (kind.Namespaced() && !name.empty())
    API_RETURN_IF_ERROR(CheckNamespaceOpen(ctx, ctx.ns, name));
  Txn txn;
  API_RETURN_IF_ERROR(strategies_.AdmitCreate(kind, obj, txn));
  api::FieldErrors errs = api::Validate(kind, obj, nullptr);
  if (!errs.empty())
    return Invalid(kind, name.empty() ? generate_name : name, errs);
  if (track_managed_fields) {
    API_ASSIGN_OR_RETURN(obj, ManagedFieldsFor(ctx, nullptr, obj));
  }
  if (ctx.dry_run) {
    txn.Abort();
    return Shape(ctx, 201, std::move(obj), false);
  }
  int64_t ttl = strategies_.TtlSeconds(kind);
  for (int attempt = 0;; ++attempt) {
    auto created = store_.Create(kind, obj, ttl);
    if (created.ok()) {
      txn.Commit();
      json out = std::move(created).value();
      if (strategies_.AfterWrite(kind, out)) {
        auto again = store_.Update(kind, out, std::stoll(Rv(out)), ttl);
        if (again.ok()) out = std::move(again).value();
      }
      return Shape(ctx, 201, std::move(out), false);
    }
    Code code = created.status().code();
    if (code == Code::kAlreadyExists && generated &&
        attempt + 1 < kMaxGenerateNameAttempts) {
      obj["metadata"]["name"] = generate_name + RandomSuffix();
      continue;
    }
    if (code == Code::kAlreadyExists)
      return AlreadyExists(kind, api::Name(obj));
    if (code == Code::kResourceExhausted)
      return RequestEntityTooLarge(created.status().message());
    return ApiError(created.status());
  }
}

// ---- update ----

ApiOr<json> Handler::UpdateLoop(Ctx& ctx, const Mutator& mutate) {
  const api::Kind& kind = *ctx.kind;
  const std::string& name = ctx.info.name;
  int64_t ttl = strategies_.TtlSeconds(kind);
  for (int attempt = 0; attempt < kMaxUpdateAttempts; ++attempt) {
    auto got = store_.Get(kind, ctx.ns, name);
    if (!got.ok()) {
      if (got.status().code() == Code::kNotFound) return NotFound(kind, name);
      return ApiError(got.status());
    }
    const json& current = got->object;
    Txn txn;
    bool precondition = false;
    API_ASSIGN_OR_RETURN(json next, mutate(current, txn, &precondition));
    next["metadata"]["resourceVersion"] = Rv(current);
    if (next == current) {
      txn.Commit();
      return next;  // nothing changed: no write, same resourceVersion
    }
    // An object being deleted goes once its last finalizer is removed.
    const json* fin = api::FieldPath(next, {"metadata", "finalizers"});
    bool no_finalizers = fin == nullptr || (fin->is_array() && fin->empty());
    bool remove = api::Has(next, {"metadata", "deletionTimestamp"}) &&
                  no_finalizers && strategies_.ReadyToRemove(kind, next);
    if (ctx.dry_run) {
      txn.Abort();
      return next;
    }
    if (remove) {
      Status st = RemoveObject(kind, current, got->mod_revision);
      if (st.code() == Code::kConflict && !precondition) continue;
      if (st.code() == Code::kConflict) return Conflict(kind, name);
      if (st.code() == Code::kNotFound) return NotFound(kind, name);
      if (!st.ok()) return ApiError(st);
      txn.Commit();
      return next;
    }
    auto updated = store_.Update(kind, next, got->mod_revision, ttl);
    if (!updated.ok()) {
      Code code = updated.status().code();
      if (code == Code::kConflict && !precondition) continue;
      if (code == Code::kConflict) return Conflict(kind, name);
      if (code == Code::kNotFound) return NotFound(kind, name);
      if (code == Code::kResourceExhausted)
        return RequestEntityTooLarge(updated.status().message());
      return ApiError(updated.status());
    }
    txn.Commit();
    json out = std::move(updated).value();
    if (strategies_.AfterWrite(kind, out)) {
      auto again = store_.Update(kind, out, std::stoll(Rv(out)), ttl);
      if (again.ok()) out = std::move(again).value();
    }
    return out;
  }
  return Conflict(kind, name,
                  "the object is being changed too often; try again");
}

ApiOr<json> Handler::FinishUpdate(Ctx& ctx, json obj, const json& current,
                                  Txn& txn, bool track_managed_fields) {
  const api::Kind& kind = *ctx.kind;
  API_RETURN_IF_ERROR(CheckTypeMeta(ctx, obj, kind));
  json& md = api::Ensure(obj, "metadata");
  const json& cur_md = current["metadata"];
  if (api::Name(obj).empty()) md["name"] = ctx.info.name;
  if (api::Name(obj) != ctx.info.name) {
    return BadRequest("the name of the object (" + api::Name(obj) +
                      ") does not match the name on the URL (" + ctx.info.name +
                      ")");
  }
  if (kind.Namespaced()) {
    if (api::Namespace(obj).empty()) md["namespace"] = ctx.ns;
    if (api::Namespace(obj) != ctx.ns) {
      return BadRequest(
          "the namespace of the provided object does not match the namespace "
          "sent on the request");
    }
  } else {
    md.erase("namespace");
  }
  for (const char* k : {"uid", "creationTimestamp"}) {
    if (api::GetString(md, {k}).empty() && cur_md.contains(k))
      md[k] = cur_md[k];
  }
  for (const char* k : {"deletionTimestamp", "deletionGracePeriodSeconds"}) {
    if (cur_md.contains(k)) {
      md[k] = cur_md[k];
    } else {
      md.erase(k);
    }
  }
  md.erase("selfLink");
  if (Status st = api::Default(kind, obj); !st.ok())
    return BadRequest(st.message());
  const std::string& sub = ctx.info.subresource;
  if (sub == "status" || sub == "approval") {
    api::PrepareForStatusUpdate(kind, obj, current);
  } else {
    api::PrepareForUpdate(kind, obj, current);
    API_RETURN_IF_ERROR(strategies_.AdmitUpdate(kind, obj, current, txn));
  }
  api::FieldErrors errs = api::Validate(kind, obj, &current);
  if (!errs.empty()) return Invalid(kind, ctx.info.name, errs);
  if (!track_managed_fields) return obj;
  return ManagedFieldsFor(ctx, &current, obj);
}

ApiOr<Response> Handler::Update(Ctx& ctx) {
  API_ASSIGN_OR_RETURN(
      json body, DecodeBody(ctx.req, ctx.kind->ApiVersion(), ctx.kind->kind));
  API_RETURN_IF_ERROR(CheckTypeMeta(ctx, body, *ctx.kind));
  if (api::Name(body) != ctx.info.name) {
    return BadRequest("the name of the object (" + api::Name(body) +
                      ") does not match the name on the URL (" + ctx.info.name +
                      ")");
  }
  API_RETURN_IF_ERROR(CheckUnknownFields(ctx, *ctx.kind, body, nullptr));
  std::string want_rv = Rv(body);
  API_ASSIGN_OR_RETURN(
      json out,
      UpdateLoop(ctx,
                 [&](const json& current, Txn& txn, bool* pre) -> ApiOr<json> {
                   if (!want_rv.empty()) {
                     *pre = true;
                     if (want_rv != Rv(current))
                       return Conflict(*ctx.kind, ctx.info.name);
                   }
                   return FinishUpdate(ctx, body, current, txn, true);
                 }));
  return Shape(ctx, 200, std::move(out), false);
}

// ---- patch ----

ApiOr<Response> Handler::Patch(Ctx& ctx) {
  const api::Kind& kind = *ctx.kind;
  std::string type = MediaTypeOf(ctx.req.content_type);
  if (ctx.req.body.size() > kMaxBodyBytes) {
    return RequestEntityTooLarge("the request body is larger than " +
                                 std::to_string(kMaxBodyBytes) + " bytes");
  }
  bool apply = type == "application/apply-patch+yaml" ||
               type == "application/apply-patch+cbor";
  if (apply) {
    StatusOr<json> config = ctx.req.object.has_value()
                                ? StatusOr<json>(*ctx.req.object)
                                : YamlToJson(ctx.req.body);
    if (!config.ok())
      return BadRequest("the body of the request could not be decoded: " +
                        config.status().message());
    if (!config->is_object())
      return BadRequest("the body of an apply patch must be an object");
    std::string manager = ctx.req.Param("fieldManager");
    if (manager.empty())
      return BadRequest(
          "PATCH, application/apply-patch+yaml: fieldManager: Required value: "
          "is required for apply patch");
    bool force = ctx.req.HasParam("force") && IsTrue(ctx.req.Param("force"));
    json cfg = std::move(config).value();
    if (api::Name(cfg).empty()) cfg["metadata"]["name"] = ctx.info.name;
    if (api::Name(cfg) != ctx.info.name) {
      return BadRequest("the name of the object (" + api::Name(cfg) +
                        ") does not match the name on the URL (" +
                        ctx.info.name + ")");
    }
    API_RETURN_IF_ERROR(CheckUnknownFields(ctx, kind, cfg, nullptr));
    api::FieldManagerOptions opts;
    opts.manager = manager;
    opts.api_version = kind.ApiVersion();
    opts.kind = kind.kind;
    opts.subresource = ctx.info.subresource;
    opts.now = api::FormatTime(ctx.now);
    if (kind.HasStatus() && ctx.info.subresource.empty())
      opts.ignored_fields = {"status"};
    api::PatchMeta meta = PatchMetaFor(kind);
    auto apply_to = [&](const json* live) -> ApiOr<json> {
      std::vector<api::ApplyConflict> conflicts;
      auto res = api::Apply(live, cfg, opts, force, meta, &conflicts);
      if (!res.ok()) {
        if (res.status().code() == Code::kConflict) {
          json causes = json::array();
          for (const auto& c : conflicts) {
            causes.push_back({{"reason", api::kFieldManagerConflictReason},
                              {"message", c.message},
                              {"field", c.field}});
          }
          json details = Details(kind, ctx.info.name);
          details["causes"] = std::move(causes);
          return ApiError(409, "Conflict", res.status().message(),
                          std::move(details));
        }
        return BadRequest(res.status().message());
      }
      return std::move(res->object);
    };
    auto existing = store_.Get(kind, ctx.ns, ctx.info.name);
    if (!existing.ok() && existing.status().code() != Code::kNotFound)
      return ApiError(existing.status());
    if (!existing.ok()) {
      if (!ctx.info.subresource.empty()) return NotFound(kind, ctx.info.name);
      API_ASSIGN_OR_RETURN(json created, apply_to(nullptr));
      // Apply recorded its manager; the create adds no Update entry.
      return CreateObject(ctx, std::move(created), false);
    }
    bool precondition = api::Has(cfg, {"metadata", "resourceVersion"});
    API_ASSIGN_OR_RETURN(
        json out,
        UpdateLoop(
            ctx, [&](const json& current, Txn& txn, bool* pre) -> ApiOr<json> {
              *pre = precondition;
              if (precondition && Rv(cfg) != Rv(current))
                return Conflict(kind, ctx.info.name);
              API_ASSIGN_OR_RETURN(json applied, apply_to(&current));
              return FinishUpdate(ctx, std::move(applied), current, txn, false);
            }));
    return Shape(ctx, 200, std::move(out), false);
  }

  enum { kJson, kMerge, kStrategic } kind_of_patch;
  if (type == "application/json-patch+json") {
    kind_of_patch = kJson;
  } else if (type == "application/merge-patch+json") {
    kind_of_patch = kMerge;
  } else if (type == "application/strategic-merge-patch+json") {
    kind_of_patch = kStrategic;
  } else {
    return UnsupportedMediaType(
        "the body of the request was in an unknown format - accepted media "
        "types include: "
        "application/json-patch+json, application/merge-patch+json, "
        "application/apply-patch+yaml, "
        "application/strategic-merge-patch+json");
  }
  api::PatchMeta meta = PatchMetaFor(kind);
  if (kind_of_patch == kStrategic && !meta.supports_strategic_merge()) {
    return UnsupportedMediaType(
        std::string(api::kStrategicMergeUnsupportedMessage));
  }
  StatusOr<json> parsed = ctx.req.object.has_value()
                              ? StatusOr<json>(*ctx.req.object)
                              : ParseJson(ctx.req.body);
  if (!parsed.ok())
    return BadRequest("the body of the request could not be decoded: " +
                      parsed.status().message());
  json patch = std::move(parsed).value();
  bool precondition = PatchNamesResourceVersion(patch);
  API_ASSIGN_OR_RETURN(
      json out,
      UpdateLoop(
          ctx, [&](const json& current, Txn& txn, bool* pre) -> ApiOr<json> {
            StatusOr<json> patched =
                kind_of_patch == kJson ? api::ApplyJsonPatch(current, patch)
                : kind_of_patch == kMerge
                    ? api::ApplyMergePatch(current, patch)
                    : api::ApplyStrategicMergePatch(current, patch, meta);
            if (!patched.ok()) return PatchError(patched.status());
            json next = std::move(patched).value();
            if (precondition) {
              *pre = true;
              if (Rv(next) != Rv(current)) return Conflict(kind, ctx.info.name);
            }
            API_RETURN_IF_ERROR(CheckUnknownFields(ctx, kind, next, nullptr));
            return FinishUpdate(ctx, std::move(next), current, txn, true);
          }));
  return Shape(ctx, 200, std::move(out), false);
}

}  // namespace kite::apiserver

// The delete verbs of the request path: delete and deletecollection, with
// preconditions, grace periods, finalizers and propagation-policy
// bookkeeping (the garbage collector acts on the finalizers set here).
#include <algorithm>
#include <charconv>

#include "common/log.h"
#include "server/apiserver/handler.h"

namespace kite::apiserver {

using nlohmann::json;

namespace {

constexpr int kMaxDeleteAttempts = 20;
constexpr char kOrphanFinalizer[] = "orphan";
constexpr char kForegroundFinalizer[] = "foregroundDeletion";

void SetFinalizer(json& md, const std::string& name, bool present) {
  json& fins = md["finalizers"];
  if (!fins.is_array()) fins = json::array();
  auto it = std::find(fins.begin(), fins.end(), json(name));
  if (present && it == fins.end()) fins.push_back(name);
  if (!present && it != fins.end()) fins.erase(it);
  if (fins.empty()) md.erase("finalizers");
}

bool HasFinalizers(const json& obj) {
  const json* f = api::FieldPath(obj, {"metadata", "finalizers"});
  return f != nullptr && f->is_array() && !f->empty();
}

}  // namespace

Status Handler::RemoveObject(const api::Kind& kind, const json& obj,
                             int64_t revision) {
  auto st = store_.Delete(kind, api::Namespace(obj), api::Name(obj), revision);
  if (!st.ok()) return st.status();
  strategies_.AfterDelete(kind, obj);
  return Status::Ok();
}

ApiOr<Handler::DeleteOptions> Handler::ParseDeleteOptions(Ctx& ctx) {
  DeleteOptions opts;
  opts.dry_run = ctx.dry_run;
  json body = json::object();
  if (!ctx.req.body.empty() || ctx.req.object.has_value()) {
    API_ASSIGN_OR_RETURN(body, DecodeBody(ctx.req, "v1", "DeleteOptions"));
    if (!body.is_object())
      return BadRequest("the body of a delete must be a DeleteOptions object");
  }
  if (const json* g = api::Field(body, "gracePeriodSeconds");
      g && g->is_number_integer()) {
    opts.grace_period = g->get<int64_t>();
  }
  opts.propagation = api::GetString(body, {"propagationPolicy"});
  if (const json* o = api::Field(body, "orphanDependents");
      o && o->is_boolean() && opts.propagation.empty()) {
    opts.propagation = o->get<bool>() ? "Orphan" : "Background";
  }
  opts.precondition_uid = api::GetString(body, {"preconditions", "uid"});
  opts.precondition_rv =
      api::GetString(body, {"preconditions", "resourceVersion"});
  if (const json* d = api::Field(body, "dryRun"); d && d->is_array()) {
    for (const json& v : *d) {
      if (v != "All")
        return BadRequest("Invalid dryRun value: " + v.dump() +
                          ", supported values: \"All\"");
      opts.dry_run = true;
    }
  }
  // Query parameters win over nothing; the body wins over them.
  if (!opts.grace_period && ctx.req.HasParam("gracePeriodSeconds")) {
    int64_t g = 0;
    std::string text = ctx.req.Param("gracePeriodSeconds");
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), g);
    if (ec != std::errc() || p != text.data() + text.size()) {
      return BadRequest("gracePeriodSeconds: Invalid value: \"" + text + "\"");
    }
    opts.grace_period = g;
  }
  if (opts.propagation.empty())
    opts.propagation = ctx.req.Param("propagationPolicy");
  if (opts.propagation.empty() && ctx.req.HasParam("orphanDependents")) {
    opts.propagation =
        IsTrue(ctx.req.Param("orphanDependents")) ? "Orphan" : "Background";
  }
  if (!opts.propagation.empty() && opts.propagation != "Background" &&
      opts.propagation != "Foreground" && opts.propagation != "Orphan") {
    return BadRequest(
        "propagationPolicy: Unsupported value: \"" + opts.propagation +
        "\": supported values: \"Foreground\", \"Background\", \"Orphan\"");
  }
  if (opts.grace_period && *opts.grace_period < 0) opts.grace_period = 0;
  return opts;
}

ApiOr<json> Handler::DeleteObject(Ctx& ctx, const std::string& ns,
                                  const std::string& name,
                                  const DeleteOptions& opts) {
  const api::Kind& kind = *ctx.kind;
  for (int attempt = 0; attempt < kMaxDeleteAttempts; ++attempt) {
    auto got = store_.Get(kind, ns, name);
    if (!got.ok()) {
      if (got.status().code() == Code::kNotFound) return NotFound(kind, name);
      return ApiError(got.status());
    }
    const json& obj = got->object;
    std::string uid = api::GetString(obj, {"metadata", "uid"});
    std::string rv = api::GetString(obj, {"metadata", "resourceVersion"});
    if (!opts.precondition_uid.empty() && opts.precondition_uid != uid) {
      return Conflict(
          kind, name,
          "Precondition failed: UID in precondition: " + opts.precondition_uid +
              ", UID in object meta: " + uid);
    }
    if (!opts.precondition_rv.empty() && opts.precondition_rv != rv) {
      return Conflict(kind, name,
                      "Precondition failed: ResourceVersion in precondition: " +
                          opts.precondition_rv +
                          ", ResourceVersion in object meta: " + rv);
    }
    bool precondition =
        !opts.precondition_uid.empty() || !opts.precondition_rv.empty();

    json next = obj;
    json& md = next["metadata"];
    if (opts.propagation == "Orphan") {
      SetFinalizer(md, kOrphanFinalizer, true);
      SetFinalizer(md, kForegroundFinalizer, false);
    } else if (opts.propagation == "Foreground") {
      SetFinalizer(md, kForegroundFinalizer, true);
      SetFinalizer(md, kOrphanFinalizer, false);
    } else if (opts.propagation == "Background") {
      SetFinalizer(md, kForegroundFinalizer, false);
      SetFinalizer(md, kOrphanFinalizer, false);
    }
    DeletePlan plan = strategies_.PlanDelete(kind, next, opts.grace_period);
    bool already = api::Has(obj, {"metadata", "deletionTimestamp"});
    if (already) {
      // A second delete may shorten a grace period (the kubelet's final
      // delete with 0) or change the propagation finalizers.
      int64_t current_grace =
          api::GetInt(obj, {"metadata", "deletionGracePeriodSeconds"});
      if (!plan.graceful || plan.grace_seconds < current_grace) {
        md["deletionGracePeriodSeconds"] =
            plan.graceful ? plan.grace_seconds : 0;
        if (plan.graceful) {
          md["deletionTimestamp"] = api::FormatTime(
              ctx.now + std::chrono::seconds(plan.grace_seconds));
        }
      }
    } else if (HasFinalizers(next) || plan.graceful) {
      md["deletionTimestamp"] =
          api::FormatTime(ctx.now + std::chrono::seconds(plan.grace_seconds));
      md["deletionGracePeriodSeconds"] = plan.grace_seconds;
    }

    bool pending = api::Has(next, {"metadata", "deletionTimestamp"});
    bool remove = !pending || (!HasFinalizers(next) &&
                               strategies_.ReadyToRemove(kind, next));
    if (remove) {
      if (opts.dry_run) return obj;
      Status st = RemoveObject(kind, obj, got->mod_revision);
      if (st.ok()) return obj;
      if (st.code() == Code::kConflict && !precondition) continue;
      if (st.code() == Code::kConflict) return Conflict(kind, name);
      if (st.code() == Code::kNotFound) return NotFound(kind, name);
      return ApiError(st);
    }
    if (next == obj) return obj;
    if (opts.dry_run) return next;
    auto updated = store_.Update(kind, next, got->mod_revision,
                                 strategies_.TtlSeconds(kind));
    if (updated.ok()) return std::move(updated).value();
    Code code = updated.status().code();
    if (code == Code::kConflict && !precondition) continue;
    if (code == Code::kConflict) return Conflict(kind, name);
    if (code == Code::kNotFound) return NotFound(kind, name);
    return ApiError(updated.status());
  }
  return Conflict(kind, name,
                  "the object is being changed too often; try again");
}

ApiOr<Response> Handler::Delete(Ctx& ctx) {
  API_ASSIGN_OR_RETURN(DeleteOptions opts, ParseDeleteOptions(ctx));
  ctx.dry_run = opts.dry_run;
  API_ASSIGN_OR_RETURN(json obj,
                       DeleteObject(ctx, ctx.ns, ctx.info.name, opts));
  return Shape(ctx, 200, std::move(obj), false);
}

ApiOr<Response> Handler::DeleteCollection(Ctx& ctx) {
  API_ASSIGN_OR_RETURN(DeleteOptions opts, ParseDeleteOptions(ctx));
  ctx.dry_run = opts.dry_run;
  API_ASSIGN_OR_RETURN(Selection sel, ParseSelection(ctx));
  Request list_req = ctx.req;
  list_req.query.erase("resourceVersion");
  list_req.query.erase("resourceVersionMatch");
  Ctx list_ctx{list_req, ctx.info, ctx.kind, ctx.ns};
  API_ASSIGN_OR_RETURN(json list, ListObjects(list_ctx, sel, 0, "", nullptr));
  json deleted = json::array();
  for (const json& item : list["items"]) {
    auto r = DeleteObject(ctx, api::Namespace(item), api::Name(item), opts);
    if (r.ok()) {
      deleted.push_back(std::move(r).value());
    } else if (r.error().code() != 404) {
      return r.error();
    }
  }
  list["items"] = std::move(deleted);
  return Shape(ctx, 200, std::move(list), true);
}

}  // namespace kite::apiserver

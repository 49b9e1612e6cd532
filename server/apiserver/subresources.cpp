// Subresources (status, scale, namespaces/finalize, pods/binding,
// pods/eviction) and the create-only kinds that are answered without being
// stored (bindings, access reviews).
#include <algorithm>

#include "api/patch.h"
#include "api/scale.h"
#include "api/selectors.h"
#include "api/validation.h"
#include "client/wire.h"
#include "common/log.h"
#include "server/apiserver/handler.h"
#include "server/apiserver/service_account.h"

namespace kite::apiserver {

using nlohmann::json;

namespace {

std::string Rv(const json& obj) {
  return api::GetString(obj, {"metadata", "resourceVersion"});
}

// Subresources served by the node agent's kubelet API (exec, logs ...).
bool NeedsAgent(const std::string& sub) {
  return sub == "log" || sub == "exec" || sub == "attach" ||
         sub == "portforward" || sub == "proxy";
}

}  // namespace

ApiOr<Response> Handler::ServeSubresource(Ctx& ctx) {
  const api::Kind& kind = *ctx.kind;
  const std::string& sub = ctx.info.subresource;
  const api::Subresource* sr = kind.FindSubresource(sub);
  if (sr == nullptr || ctx.info.name.empty()) return PathNotFound();
  const std::string& verb = ctx.info.verb;
  if (std::find(sr->verbs.begin(), sr->verbs.end(), verb) == sr->verbs.end()) {
    return MethodNotSupported(kind, verb + " " + sub);
  }
  // certificatesigningrequests/approval writes status.conditions like
  // status does (kubectl certificate approve/deny).
  if (sub == "status" || sub == "approval") {
    if (verb == "get") return Get(ctx);
    if (verb == "update") return Update(ctx);
    return Patch(ctx);
  }
  if (sub == "scale") return Scale(ctx);
  if (sub == "finalize") return Finalize(ctx);
  if (sub == "binding") {
    API_ASSIGN_OR_RETURN(json body, DecodeBody(ctx.req, "v1", "Binding"));
    return Binding(ctx, ctx.info.name, std::move(body));
  }
  if (sub == "eviction") return Eviction(ctx);
  if (sub == "token" && tokens_ != nullptr) return IssueToken(ctx);
  if (sub == "token") {
    return ApiError(405, "MethodNotAllowed",
                    "kite does not issue ServiceAccount tokens yet: "
                    "serviceaccounts/token is not served",
                    Details(kind, ctx.info.name));
  }
  if (NeedsAgent(sub) && !(kind.resource == "pods" && sub == "proxy"))
    return KubeletProxy(ctx);
  if (NeedsAgent(sub)) {
    return ApiError(
        503, "ServiceUnavailable",
        kind.GroupResource() + "/" + sub + " is not served by kite yet",
        Details(kind, ctx.info.name));
  }
  return ApiError(
      405, "MethodNotAllowed",
      "the subresource " + kind.resource + "/" + sub + " is not served",
      Details(kind, ctx.info.name));
}

namespace {

// The names of a pod's containers of one list ("containers", ...).
std::vector<std::string> ContainerNames(const json& pod, const char* list) {
  std::vector<std::string> names;
  const json* cs = api::FieldPath(pod, {"spec", list});
  if (cs == nullptr || !cs->is_array()) return names;
  for (const json& c : *cs) names.push_back(api::GetString(c, {"name"}));
  return names;
}

// The query parameters of `req` named in `keep`, percent-encoded again.
std::string PassQuery(const Request& req,
                      std::initializer_list<const char*> keep) {
  std::string q;
  for (const char* name : keep) {
    for (const std::string& v : req.Params(name)) {
      q += q.empty() ? "?" : "&";
      q += std::string(name) + "=" + client::QueryEscape(v);
    }
  }
  return q;
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : " ") + s;
  return out;
}

}  // namespace

ApiOr<Response> Handler::KubeletProxy(Ctx& ctx) {
  const api::Kind& kind = *ctx.kind;
  const std::string& sub = ctx.info.subresource;
  const std::string& name = ctx.info.name;
  auto node_kind = registry_.Lookup("", "v1", "nodes");
  std::string node_name;
  std::string path;
  if (kind.resource == "nodes") {
    // nodes/<name>/proxy/<rest>: <rest> on the node's kubelet.
    node_name = name;
    std::string marker = "/nodes/" + name + "/proxy";
    size_t at = ctx.req.path.find(marker);
    path =
        at == std::string::npos ? "/" : ctx.req.path.substr(at + marker.size());
    if (path.empty()) path = "/";
    std::string q;
    for (const auto& [k, v] : ctx.req.query) {
      q += q.empty() ? "?" : "&";
      q += client::QueryEscape(k) + "=" + client::QueryEscape(v);
    }
    path += q;
  } else {
    auto got = store_.Get(kind, ctx.ns, name);
    if (!got.ok()) {
      if (got.status().code() == Code::kNotFound) return NotFound(kind, name);
      return ApiError(got.status());
    }
    const json& pod = got->object;
    node_name = api::GetString(pod, {"spec", "nodeName"});
    if (node_name.empty()) {
      return BadRequest("pod " + name + " does not have a host assigned");
    }
    std::string container;
    if (sub != "portforward") {
      container = ctx.req.Param("container");
      std::vector<std::string> main = ContainerNames(pod, "containers");
      if (container.empty()) {
        if (main.size() != 1) {
          std::vector<std::string> init = ContainerNames(pod, "initContainers");
          std::string msg = "a container name must be specified for pod " +
                            name + ", choose one of: [" + Join(main) + "]";
          if (!init.empty())
            msg += " or one of the init containers: [" + Join(init) + "]";
          return BadRequest(msg);
        }
        container = main.front();
      }
      bool known = false;
      for (const char* list :
           {"containers", "initContainers", "ephemeralContainers"}) {
        for (const std::string& n : ContainerNames(pod, list))
          known = known || n == container;
      }
      if (!known) {
        return BadRequest("container " + container + " is not valid for pod " +
                          name);
      }
      // A container that has not started has no log and runs nothing.
      bool previous =
          ctx.req.HasParam("previous") && IsTrue(ctx.req.Param("previous"));
      for (const char* list : {"containerStatuses", "initContainerStatuses"}) {
        const json* st = api::FieldPath(pod, {"status", list});
        if (st == nullptr || !st->is_array()) continue;
        for (const json& cs : *st) {
          if (api::GetString(cs, {"name"}) != container) continue;
          const json* waiting = api::FieldPath(cs, {"state", "waiting"});
          bool has_last = api::Has(cs, {"lastState", "terminated"});
          if (waiting != nullptr && !(previous && has_last)) {
            return BadRequest(
                "container \"" + container + "\" in pod \"" + name +
                "\" is waiting to start: " +
                api::GetString(*waiting, {"reason"}, "ContainerCreating"));
          }
        }
      }
    }
    const std::string where = "/" + ctx.ns + "/" + name;
    if (sub == "log") {
      path =
          "/containerLogs" + where + "/" + container +
          PassQuery(ctx.req, {"follow", "previous", "sinceSeconds", "sinceTime",
                              "timestamps", "tailLines", "limitBytes"});
    } else if (sub == "exec") {
      path =
          "/exec" + where + "/" + container +
          PassQuery(ctx.req, {"command", "stdin", "stdout", "stderr", "tty"});
    } else if (sub == "attach") {
      path = "/attach" + where + "/" + container +
             PassQuery(ctx.req, {"stdin", "stdout", "stderr", "tty"});
    } else {
      path = "/portForward" + where + PassQuery(ctx.req, {"ports"});
    }
  }
  auto node = store_.Get(*node_kind, "", node_name);
  if (!node.ok()) {
    if (node.status().code() == Code::kNotFound)
      return NotFound(*node_kind, node_name);
    return ApiError(node.status());
  }
  auto target = std::make_shared<KubeletTarget>();
  target->node = node_name;
  target->path = std::move(path);
  // The address kubelets are reached at: InternalIP first, as the API
  // server's default --kubelet-preferred-address-types.
  for (const char* type : {"InternalIP", "ExternalIP", "Hostname"}) {
    const json* addrs = api::FieldPath(node->object, {"status", "addresses"});
    if (addrs == nullptr || !addrs->is_array()) break;
    for (const json& a : *addrs) {
      if (api::GetString(a, {"type"}) == type && target->host.empty())
        target->host = api::GetString(a, {"address"});
    }
  }
  if (target->host.empty()) {
    return ApiError(503, "ServiceUnavailable",
                    "node \"" + node_name +
                        "\" reports no address to reach "
                        "its kubelet at");
  }
  int64_t port = api::GetInt(
      node->object, {"status", "daemonEndpoints", "kubeletEndpoint", "Port"});
  if (port > 0 && port < 65536) target->port = static_cast<int>(port);
  Response r;
  r.kubelet = std::move(target);
  return r;
}

ApiOr<Response> Handler::Scale(Ctx& ctx) {
  const api::Kind& kind = *ctx.kind;
  if (ctx.info.verb == "get") {
    auto got = store_.Get(kind, ctx.ns, ctx.info.name);
    if (!got.ok()) {
      if (got.status().code() == Code::kNotFound)
        return NotFound(kind, ctx.info.name);
      return ApiError(got.status());
    }
    auto scale = api::ScaleOf(kind, got->object);
    if (!scale.ok()) return PathNotFound();
    return Response::Json(200, std::move(scale).value());
  }
  std::string type = MediaTypeOf(ctx.req.content_type);
  json input;
  bool is_put = ctx.info.verb == "update";
  if (is_put) {
    API_ASSIGN_OR_RETURN(input, DecodeBody(ctx.req, "autoscaling/v1", "Scale"));
    if (!input.is_object() ||
        api::GetString(input, {"kind"}, "Scale") != "Scale") {
      return BadRequest(
          "the body of a scale update must be an autoscaling/v1 Scale");
    }
  } else {
    if (type != "application/json-patch+json" &&
        type != "application/merge-patch+json" &&
        type != "application/strategic-merge-patch+json") {
      return UnsupportedMediaType(
          "the body of the request was in an unknown format - accepted media "
          "types include: "
          "application/json-patch+json, application/merge-patch+json, "
          "application/strategic-merge-patch+json");
    }
    StatusOr<json> parsed = ctx.req.object.has_value()
                                ? StatusOr<json>(*ctx.req.object)
                                : ParseJson(ctx.req.body);
    if (!parsed.ok())
      return BadRequest("the body of the request could not be decoded: " +
                        parsed.status().message());
    input = std::move(parsed).value();
  }
  api::Kind scale_kind;
  scale_kind.group = "autoscaling";
  scale_kind.kind = "Scale";
  scale_kind.resource = "scale";
  API_ASSIGN_OR_RETURN(
      json out,
      UpdateLoop(
          ctx, [&](const json& current, Txn& txn, bool* pre) -> ApiOr<json> {
            auto scale = api::ScaleOf(kind, current);
            if (!scale.ok()) return ApiError(scale.status());
            json wanted;
            if (is_put) {
              wanted = input;
            } else {
              StatusOr<json> patched =
                  type == "application/json-patch+json"
                      ? api::ApplyJsonPatch(*scale, input)
                      : api::ApplyMergePatch(*scale, input);
              if (!patched.ok())
                return ApiError(422, "Invalid", patched.status().message());
              wanted = std::move(patched).value();
            }
            std::string want_rv = Rv(wanted);
            if (!want_rv.empty() && (is_put || want_rv != Rv(*scale))) {
              *pre = true;
              if (want_rv != Rv(current)) return Conflict(kind, ctx.info.name);
            }
            json next = current;
            api::FieldErrors errs;
            if (Status st = api::ApplyScale(kind, next, wanted, &errs);
                !st.ok())
              return ApiError(st);
            if (!errs.empty()) return Invalid(scale_kind, ctx.info.name, errs);
            return FinishUpdate(ctx, std::move(next), current, txn, true);
          }));
  auto scale = api::ScaleOf(kind, out);
  if (!scale.ok()) return ApiError(scale.status());
  return Response::Json(200, std::move(scale).value());
}

ApiOr<Response> Handler::Finalize(Ctx& ctx) {
  const api::Kind& kind = *ctx.kind;
  API_ASSIGN_OR_RETURN(json body,
                       DecodeBody(ctx.req, kind.ApiVersion(), kind.kind));
  API_RETURN_IF_ERROR(CheckTypeMeta(ctx, body, kind));
  if (api::Name(body) != ctx.info.name) {
    return BadRequest("the name of the object (" + api::Name(body) +
                      ") does not match the name on the URL (" + ctx.info.name +
                      ")");
  }
  json finalizers = api::FieldPath(body, {"spec", "finalizers"})
                        ? body["spec"]["finalizers"]
                        : json::array();
  std::string want_rv = Rv(body);
  API_ASSIGN_OR_RETURN(
      json out,
      UpdateLoop(ctx, [&](const json& current, Txn&, bool* pre) -> ApiOr<json> {
        if (!want_rv.empty()) {
          *pre = true;
          if (want_rv != Rv(current)) return Conflict(kind, ctx.info.name);
        }
        json next = current;
        json& spec = api::Ensure(next, "spec");
        if (finalizers.is_array() && !finalizers.empty()) {
          spec["finalizers"] = finalizers;
        } else {
          spec.erase("finalizers");
        }
        api::FieldErrors errs = api::Validate(kind, next, &current);
        if (!errs.empty()) return Invalid(kind, ctx.info.name, errs);
        return ManagedFieldsFor(ctx, &current, next);
      }));
  return Shape(ctx, 200, std::move(out), false);
}

ApiOr<Response> Handler::Binding(Ctx& ctx, const std::string& pod_name,
                                 json binding) {
  auto pod_kind = registry_.Lookup("", "v1", "pods");
  if (!binding.is_object())
    return BadRequest("the body of a binding must be a Binding object");
  std::string node = api::GetString(binding, {"target", "name"});
  std::string target_kind = api::GetString(binding, {"target", "kind"}, "Node");
  if (node.empty() || (target_kind != "Node" && !target_kind.empty())) {
    api::Kind binding_kind;
    binding_kind.kind = "Binding";
    binding_kind.resource = "bindings";
    return Invalid(binding_kind, pod_name,
                   {node.empty() ? api::Required("target.name", "")
                                 : api::NotSupported("target.kind", target_kind,
                                                     {"Node"})});
  }
  RequestInfo info = ctx.info;
  info.resource = "pods";
  info.name = pod_name;
  info.subresource = "binding";
  Ctx pod_ctx{ctx.req,           info,   pod_kind, ctx.ns, ctx.dry_run,
              ctx.field_manager, ctx.now};
  json annotations = api::FieldPath(binding, {"metadata", "annotations"})
                         ? binding["metadata"]["annotations"]
                         : json::object();
  API_ASSIGN_OR_RETURN(
      json out,
      UpdateLoop(pod_ctx, [&](const json& current, Txn&, bool*) -> ApiOr<json> {
        if (api::Has(current, {"metadata", "deletionTimestamp"})) {
          return Conflict(
              *pod_kind, pod_name,
              "pod " + pod_name +
                  " is being deleted, cannot be assigned to a host");
        }
        std::string bound = api::GetString(current, {"spec", "nodeName"});
        if (!bound.empty()) {
          return Conflict(*pod_kind, pod_name,
                          "pod " + pod_name +
                              " is already assigned to node \"" + bound + "\"");
        }
        json next = current;
        next["spec"]["nodeName"] = node;
        if (annotations.is_object()) {
          for (auto it = annotations.begin(); it != annotations.end(); ++it) {
            next["metadata"]["annotations"][it.key()] = it.value();
          }
        }
        json& status = api::Ensure(next, "status");
        json& conds = status["conditions"];
        if (!conds.is_array()) conds = json::array();
        json cond = {{"type", "PodScheduled"},
                     {"status", "True"},
                     {"lastProbeTime", nullptr},
                     {"lastTransitionTime", api::FormatTime(ctx.now)}};
        bool found = false;
        for (json& c : conds) {
          if (api::GetString(c, {"type"}) == "PodScheduled") {
            c = cond;
            found = true;
          }
        }
        if (!found) conds.push_back(cond);
        return ManagedFieldsFor(pod_ctx, &current, next);
      }));
  (void)out;
  return Response::Json(201, SuccessStatus());
}

ApiOr<Response> Handler::Eviction(Ctx& ctx) {
  API_ASSIGN_OR_RETURN(json eviction,
                       DecodeBody(ctx.req, "policy/v1", "Eviction"));
  if (!eviction.is_object())
    return BadRequest("the body of an eviction must be an Eviction object");
  std::string name =
      api::Name(eviction).empty() ? ctx.info.name : api::Name(eviction);
  if (name != ctx.info.name) {
    return BadRequest("name in URL does not match name in Eviction object");
  }
  const api::Kind& pod_kind = *ctx.kind;
  auto pod = store_.Get(pod_kind, ctx.ns, name);
  if (!pod.ok()) {
    if (pod.status().code() == Code::kNotFound) return NotFound(pod_kind, name);
    return ApiError(pod.status());
  }
  // Pods that are done or not yet running may always go.
  std::string phase = api::GetString(pod->object, {"status", "phase"});
  bool protected_phase =
      phase != "Succeeded" && phase != "Failed" && phase != "Pending";
  auto pdb_kind = registry_.Lookup("policy", "v1", "poddisruptionbudgets");
  if (protected_phase && pdb_kind) {
    auto page = backend_.List(ObjectStore::Prefix(*pdb_kind, ctx.ns));
    if (!page.ok()) return ApiError(page.status());
    for (const auto& kv : page->kvs) {
      auto pdb = ObjectStore::Decode(*pdb_kind, kv.value, kv.mod_revision);
      if (!pdb.ok()) continue;
      const json* sel = api::FieldPath(*pdb, {"spec", "selector"});
      auto selector = api::LabelSelector::FromJson(sel ? *sel : json());
      if (!selector.ok() || !selector->MatchesObject(pod->object)) continue;
      int64_t allowed = api::GetInt(*pdb, {"status", "disruptionsAllowed"});
      if (allowed <= 0) {
        json details = Details(pod_kind, name);
        details["causes"] = json::array(
            {{{"reason", "DisruptionBudget"},
              {"message",
               "The disruption budget " + api::Name(*pdb) + " needs " +
                   std::to_string(
                       api::GetInt(*pdb, {"status", "desiredHealthy"})) +
                   " healthy pods and has " +
                   std::to_string(
                       api::GetInt(*pdb, {"status", "currentHealthy"})) +
                   " currently"}}});
        return ApiError(
            429, "TooManyRequests",
            "Cannot evict pod as it would violate the pod's disruption budget.",
            std::move(details));
      }
      if (!ctx.dry_run) {
        json next = *pdb;
        next["status"]["disruptionsAllowed"] = allowed - 1;
        auto st = store_.Update(*pdb_kind, next, kv.mod_revision);
        if (!st.ok()) {
          return ApiError(429, "TooManyRequests",
                          "Cannot evict pod as it would violate the pod's "
                          "disruption budget: the budget "
                          "changed meanwhile; try again");
        }
      }
    }
  }
  DeleteOptions opts;
  opts.dry_run = ctx.dry_run;
  if (const json* d = api::Field(eviction, "deleteOptions");
      d && d->is_object()) {
    if (const json* g = api::Field(*d, "gracePeriodSeconds");
        g && g->is_number_integer()) {
      opts.grace_period = g->get<int64_t>();
    }
    opts.precondition_uid = api::GetString(*d, {"preconditions", "uid"});
    opts.precondition_rv =
        api::GetString(*d, {"preconditions", "resourceVersion"});
  }
  API_ASSIGN_OR_RETURN(json gone, DeleteObject(ctx, ctx.ns, name, opts));
  (void)gone;
  return Response::Json(201, SuccessStatus());
}

ApiOr<Response> Handler::Virtual(Ctx& ctx) {
  const api::Kind& kind = *ctx.kind;
  API_ASSIGN_OR_RETURN(json body,
                       DecodeBody(ctx.req, kind.ApiVersion(), kind.kind));
  API_RETURN_IF_ERROR(CheckTypeMeta(ctx, body, kind));
  if (kind.group.empty() && kind.kind == "Binding") {
    std::string pod = api::Name(body);
    if (pod.empty())
      return BadRequest("a Binding needs metadata.name (the pod)");
    return Binding(ctx, pod, std::move(body));
  }
  if (kind.group == "authentication.k8s.io" && kind.kind == "TokenReview") {
    auto review = AnswerTokenReview(authenticator_, std::move(body));
    if (!review.ok()) return BadRequest(review.status().message());
    return Response::Json(201, std::move(review).value());
  }
  auto review = AnswerReview(*authorizer_, ctx.req.user, kind.kind, ctx.ns,
                             std::move(body));
  if (!review.ok()) return MethodNotSupported(kind, "create");
  return Response::Json(201, std::move(review).value());
}

}  // namespace kite::apiserver

namespace kite::apiserver {

ApiOr<Response> Handler::IssueToken(Ctx& ctx) {
  const api::Kind& kind = *ctx.kind;
  const std::string& name = ctx.info.name;
  API_ASSIGN_OR_RETURN(
      json body,
      DecodeBody(ctx.req, "authentication.k8s.io/v1", "TokenRequest"));
  if (!body.is_object() ||
      api::GetString(body, {"kind"}, "TokenRequest") != "TokenRequest") {
    return BadRequest("the body of a token request must be a TokenRequest");
  }
  auto sa = store_.Get(kind, ctx.ns, name);
  if (!sa.ok()) {
    if (sa.status().code() == Code::kNotFound) return NotFound(kind, name);
    return ApiError(sa.status());
  }
  api::Kind tr_kind;
  tr_kind.group = "authentication.k8s.io";
  tr_kind.kind = "TokenRequest";
  tr_kind.resource = "tokenrequests";
  json spec = body.value("spec", json::object());
  if (!spec.is_object()) spec = json::object();
  TokenSpec ts;
  ts.namespace_ = ctx.ns;
  ts.service_account = name;
  ts.service_account_uid = api::GetString(sa->object, {"metadata", "uid"});
  api::FieldErrors errs;
  if (spec.contains("expirationSeconds")) {
    const json& e = spec["expirationSeconds"];
    if (!e.is_number_integer()) {
      errs.push_back({api::FieldErrorType::kInvalid, "spec.expirationSeconds",
                      e.dump(), true, "must be an integer"});
    } else if (e.get<int64_t>() < 600) {
      errs.push_back({api::FieldErrorType::kInvalid, "spec.expirationSeconds",
                      e.dump(), true,
                      "may not specify a duration less than 10 minutes"});
    } else if (e.get<int64_t>() > (int64_t{1} << 32)) {
      errs.push_back({api::FieldErrorType::kInvalid, "spec.expirationSeconds",
                      e.dump(), true,
                      "may not specify a duration larger than 2^32 seconds"});
    } else {
      ts.expiration = std::chrono::seconds(e.get<int64_t>());
    }
  }
  if (const json* aud = api::Field(spec, "audiences"); aud && aud->is_array()) {
    for (const json& a : *aud) {
      if (a.is_string() && !a.get<std::string>().empty())
        ts.audiences.push_back(a.get<std::string>());
    }
  }
  const json* ref = api::Field(spec, "boundObjectRef");
  if (ref != nullptr && ref->is_object()) {
    ts.bound_kind = api::GetString(*ref, {"kind"});
    ts.bound_name = api::GetString(*ref, {"name"});
    std::string want_uid = api::GetString(*ref, {"uid"});
    std::string resource = ts.bound_kind == "Pod"      ? "pods"
                           : ts.bound_kind == "Secret" ? "secrets"
                           : ts.bound_kind == "Node"   ? "nodes"
                                                       : "";
    if (resource.empty()) {
      errs.push_back({api::FieldErrorType::kNotSupported,
                      "spec.boundObjectRef.kind", "\"" + ts.bound_kind + "\"",
                      true, "supported values: \"Pod\", \"Secret\", \"Node\""});
    } else if (ts.bound_name.empty()) {
      errs.push_back({api::FieldErrorType::kRequired,
                      "spec.boundObjectRef.name", "", false, ""});
    } else {
      auto bound_kind = registry_.Lookup("", "v1", resource);
      auto bound = store_.Get(*bound_kind, resource == "nodes" ? "" : ctx.ns,
                              ts.bound_name);
      if (!bound.ok()) {
        if (bound.status().code() == Code::kNotFound)
          return NotFound(*bound_kind, ts.bound_name);
        return ApiError(bound.status());
      }
      ts.bound_uid = api::GetString(bound->object, {"metadata", "uid"});
      if (!want_uid.empty() && want_uid != ts.bound_uid) {
        return Conflict(*bound_kind, ts.bound_name,
                        "the UID in the bound object reference (" + want_uid +
                            ") does not match the UID in record (" +
                            ts.bound_uid +
                            "). The object might have been "
                            "deleted and then recreated");
      }
    }
  }
  if (!errs.empty()) return Invalid(tr_kind, name, errs);
  auto issued = tokens_->Issue(ts);
  if (!issued.ok()) return ApiError(issued.status());
  json out = {{"apiVersion", "authentication.k8s.io/v1"},
              {"kind", "TokenRequest"},
              {"metadata",
               {{"name", name},
                {"namespace", ctx.ns},
                {"creationTimestamp", api::FormatTime(ctx.now)}}}};
  spec["audiences"] = ts.audiences.empty()
                          ? std::vector<std::string>{kServiceAccountIssuer}
                          : ts.audiences;
  spec["expirationSeconds"] = ts.expiration.count();
  if (!ts.bound_kind.empty()) {
    spec["boundObjectRef"]["uid"] = ts.bound_uid;
    if (!spec["boundObjectRef"].contains("apiVersion"))
      spec["boundObjectRef"]["apiVersion"] = "v1";
  }
  out["spec"] = std::move(spec);
  out["status"] = {{"token", issued->token},
                   {"expirationTimestamp", api::FormatTime(issued->expires)}};
  return Response::Json(201, std::move(out));
}

}  // namespace kite::apiserver

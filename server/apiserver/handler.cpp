#include "server/apiserver/handler.h"

#include <algorithm>

#include "api/discovery.h"
#include "api/table.h"
#include "common/log.h"
#include "common/version.h"
#include "server/apiserver/node_authorizer.h"

namespace kite::apiserver {

using nlohmann::json;

namespace {

constexpr size_t kMaxFieldManagerLength = 128;

json VersionDocument() {
  return {{"major", KubeMajor()},
          {"minor", KubeMinor()},
          {"gitVersion", KubeGitVersion()},
          {"gitCommit", GitCommit()},
          {"gitTreeState", "clean"},
          {"buildDate", "1970-01-01T00:00:00Z"},
          {"goVersion", "none (kite is C++)"},
          {"compiler", "gcc"},
          {"platform", Platform()}};
}

// /openapi/v2 holds no definitions, only what makes it a valid document.
// kubectl reads it for kinds the v3 documents cannot vouch for (those
// without a PATCH operation, such as TokenReview) to decide about
// client-side validation; finding nothing there it leaves validation to the
// server. (A 404 instead made `kubectl create -f` fail for such kinds.)
// kubectl asks for gnostic's protobuf form: Document {swagger = 1, info = 2
// {title = 1, version = 2}}, sent as application/octet-stream (Go's MIME
// parser refuses the '@' of the media type kubectl asks for).
Response OpenApiV2(const Request& req) {
  if (req.accept.find("protobuf") == std::string::npos) {
    return Response::Json(
        200,
        {{"swagger", "2.0"},
         {"info", {{"title", "Kubernetes"}, {"version", KubeGitVersion()}}},
         {"paths", json::object()},
         {"definitions", json::object()}});
  }
  auto field = [](int number, const std::string& bytes) {
    std::string out(1, static_cast<char>((number << 3) | 2));
    for (size_t n = bytes.size();; n >>= 7) {  // varint length
      out += static_cast<char>((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
      if (n <= 0x7f) break;
    }
    return out + bytes;
  };
  return Response::Text(
      200,
      field(1, "2.0") +
          field(2, field(1, "Kubernetes") + field(2, KubeGitVersion())),
      "application/octet-stream");
}

// kubectl's user agent "kubectl/v1.32.4 (linux/amd64) kubernetes/..." gives
// the field manager "kubectl" when none is named.
std::string ManagerFromUserAgent(const std::string& ua) {
  std::string m = ua.substr(0, ua.find('/'));
  if (m.size() > kMaxFieldManagerLength) m.resize(kMaxFieldManagerLength);
  return m;
}

}  // namespace

StatusOr<std::unique_ptr<Handler>> Handler::Create(
    datastore::Backend& backend, Clock& clock, HandlerConfig config,
    std::unique_ptr<Authorizer> authorizer) {
  KITE_ASSIGN_OR_RETURN(std::unique_ptr<ServiceAllocator> services,
                        ServiceAllocator::Create(backend, config.services));
  if (!authorizer) authorizer = std::make_unique<AllowAuthenticated>();
  return std::unique_ptr<Handler>(new Handler(backend, clock, std::move(config),
                                              std::move(authorizer),
                                              std::move(services)));
}

Handler::Handler(datastore::Backend& backend, Clock& clock,
                 HandlerConfig config, std::unique_ptr<Authorizer> authorizer,
                 std::unique_ptr<ServiceAllocator> services)
    : backend_(backend),
      clock_(clock),
      config_(std::move(config)),
      authorizer_(std::move(authorizer)),
      openapi_(registry_),
      store_(backend),
      services_(std::move(services)),
      strategies_(store_, registry_, *services_) {}

Handler::~Handler() { CancelWatches(); }

Status Handler::Init() {
  // Custom resource definitions first: their kinds must be served before
  // anything else is.
  auto crd_kind = registry_.Lookup("apiextensions.k8s.io", "v1",
                                   "customresourcedefinitions");
  if (crd_kind) {
    auto page = backend_.List(ObjectStore::Prefix(*crd_kind, ""));
    if (!page.ok()) return page.status();
    for (const auto& kv : page->kvs) {
      auto crd = ObjectStore::Decode(*crd_kind, kv.value, kv.mod_revision);
      if (!crd.ok()) continue;
      if (Status st = registry_.ApplyCustomResourceDefinition(*crd); !st.ok()) {
        log::Warn("apiserver", "stored custom resource definition not served")(
            "name", api::Name(*crd))("reason", st.message());
      }
    }
  }
  auto svc_kind = registry_.Lookup("", "v1", "services");
  std::vector<json> services;
  auto page = backend_.List(ObjectStore::Prefix(*svc_kind, ""));
  if (!page.ok()) return page.status();
  for (const auto& kv : page->kvs) {
    auto svc = ObjectStore::Decode(*svc_kind, kv.value, kv.mod_revision);
    if (svc.ok()) services.push_back(std::move(svc).value());
  }
  return services_->Repair(services);
}

void Handler::CancelWatches() {
  std::vector<std::shared_ptr<WatchStream>> open;
  {
    std::lock_guard<std::mutex> lock(watches_mu_);
    shutting_down_ = true;
    for (auto& [ptr, weak] : watches_) {
      if (auto s = weak.lock()) open.push_back(std::move(s));
    }
  }
  for (auto& s : open) s->Cancel();
}

std::optional<Response> Handler::Impersonate(const Request& req, UserInfo* as) {
  if (req.impersonate_user.empty()) {
    if (req.impersonate_groups.empty()) return std::nullopt;
    ApiError e = BadRequest(
        "requested impersonation of groups without impersonating a user");
    return Response::Json(e.code(), e.status());
  }
  // May the requester impersonate the user and each group?
  auto check = [&](const std::string& resource, const std::string& ns,
                   const std::string& name) -> std::optional<Response> {
    Attributes a;
    a.user = &req.user;
    a.verb = "impersonate";
    a.resource_request = true;
    a.resource = resource;
    a.namespace_ = ns;
    a.name = name;
    if (authorizer_->Authorize(a).ok()) return std::nullopt;
    ApiError e(403, "Forbidden",
               resource + " \"" + name + "\" is forbidden: User \"" +
                   req.user.name + "\" cannot impersonate resource \"" +
                   resource + "\" in API group \"\"" +
                   (ns.empty() ? std::string(" at the cluster scope")
                               : " in the namespace \"" + ns + "\""),
               json{{"name", name}, {"kind", resource}});
    return Response::Json(e.code(), e.status());
  };
  const std::string& name = req.impersonate_user;
  UserInfo u;
  u.name = name;
  u.authenticated = true;
  const std::string sa_prefix = "system:serviceaccount:";
  if (name.rfind(sa_prefix, 0) == 0 &&
      name.find(':', sa_prefix.size()) != std::string::npos) {
    size_t colon = name.find(':', sa_prefix.size());
    std::string ns = name.substr(sa_prefix.size(), colon - sa_prefix.size());
    if (auto r = check("serviceaccounts", ns, name.substr(colon + 1))) return r;
    u.groups = {"system:serviceaccounts", "system:serviceaccounts:" + ns};
  } else if (auto r = check("users", "", name)) {
    return r;
  }
  for (const std::string& g : req.impersonate_groups) {
    if (auto r = check("groups", "", g)) return r;
    u.groups.push_back(g);
  }
  if (name != "system:anonymous" &&
      std::find(u.groups.begin(), u.groups.end(), "system:authenticated") ==
          u.groups.end()) {
    u.groups.push_back("system:authenticated");
  }
  *as = std::move(u);
  return std::nullopt;
}

Response Handler::Serve(const Request& original) {
  // Impersonation swaps the user for the rest of the request.
  std::optional<Request> swapped;
  if (!original.impersonate_user.empty() ||
      !original.impersonate_groups.empty()) {
    UserInfo as;
    if (auto refused = Impersonate(original, &as)) return std::move(*refused);
    swapped = original;
    swapped->user = std::move(as);
    swapped->impersonate_user.clear();
    swapped->impersonate_groups.clear();
  }
  const Request& req = swapped ? *swapped : original;
  RequestInfo info = ParseRequestInfo(req);
  if (!IsPublicPath(req.path)) {
    Attributes attrs = AttributesOf(req.user, info);
    attrs.field_selector = req.Param("fieldSelector");
    attrs.label_selector = req.Param("labelSelector");
    Status st = authorizer_->Authorize(attrs);
    if (st.ok() && info.verb == "create" && info.subresource.empty() &&
        (info.resource == "nodes" || info.resource == "pods" ||
         info.resource == "leases") &&
        !NodeNameOf(req.user).empty()) {
      // NodeRestriction: what a node creates must be its own.
      json body =
          req.object ? *req.object : json::parse(req.body, nullptr, false);
      st = AdmitNodeWrite(req.user, info.resource, info.verb,
                          body.is_object() ? body : json::object());
    }
    if (!st.ok()) {
      // Worded as upstream's, which kubectl prints as is.
      std::string msg;
      json details = json::object();
      if (info.is_resource_request) {
        std::string res =
            info.resource +
            (info.subresource.empty() ? "" : "/" + info.subresource);
        msg = info.resource + (info.group.empty() ? "" : "." + info.group) +
              (info.name.empty() ? "" : " \"" + info.name + "\"") +
              " is forbidden: User \"" + req.user.name + "\" cannot " +
              info.verb + " resource \"" + res + "\" in API group \"" +
              info.group + "\"" +
              (info.namespace_.empty()
                   ? std::string(" at the cluster scope")
                   : " in the namespace \"" + info.namespace_ + "\"");
        if (!info.name.empty()) details["name"] = info.name;
        details["group"] = info.group;
        details["kind"] = info.resource;
      } else {
        msg = "forbidden: User \"" + req.user.name + "\" cannot " + info.verb +
              " path \"" + info.path + "\"";
      }
      if (!st.message().empty()) msg += ": " + st.message();
      ApiError e(403, "Forbidden", msg, details);
      return Response::Json(e.code(), e.status());
    }
  }
  return Dispatch(req, info);
}

Response Handler::Dispatch(const Request& req, const RequestInfo& info) {
  ApiOr<Response> r = [&]() -> ApiOr<Response> {
    if (!info.is_resource_request) return ServeNonResource(req, info);
    Ctx ctx{req, info};
    return ServeResource(ctx);
  }();
  if (r.ok()) return std::move(r).value();
  const ApiError& e = r.error();
  if (e.code() >= 500) {
    log::Error("apiserver", "request failed")("method", req.method)(
        "path", req.path)("code", e.code())("message", e.message());
  }
  return Response::Json(e.code(), e.status());
}

ApiOr<Response> Handler::ServeNonResource(const Request& req,
                                          const RequestInfo& info) {
  const std::string& path = req.path;
  if (req.method != "GET" && req.method != "HEAD") {
    if (info.discovery_depth >= 0 || path.rfind("/openapi", 0) == 0 ||
        IsPublicPath(path)) {
      return ApiError(
          405, "MethodNotAllowed",
          "the server does not allow this method on the requested resource");
    }
    return PathNotFound();
  }
  if (path == "/healthz" || path == "/livez" ||
      path.rfind("/healthz/", 0) == 0 || path.rfind("/livez/", 0) == 0) {
    return Response::Text(200, "ok");
  }
  if (path == "/readyz" || path.rfind("/readyz/", 0) == 0) {
    // A read through the datastore's read path proves it answers.
    auto probe = backend_.Get("/registry/health");
    if (probe.ok() || probe.status().code() == Code::kNotFound)
      return Response::Text(200, "ok");
    return Response::Text(503,
                          "[-]datastore failed: " + probe.status().ToString() +
                              "\nreadyz check failed");
  }
  if (path == "/version" || path == "/version/")
    return Response::Json(200, VersionDocument());
  if (info.discovery_depth >= 0) return ServeDiscovery(req, info);
  if (path == "/openapi/v3" || path == "/openapi/v3/")
    return Response::Json(200, openapi_.Index());
  if (path == "/openapi/v2" || path == "/openapi/v2/") return OpenApiV2(req);
  if (path.rfind("/openapi/v3/", 0) == 0) {
    auto doc = openapi_.Get(path.substr(std::string("/openapi/v3/").size()));
    if (!doc.ok()) return PathNotFound();
    Response r;
    r.raw = doc->body;
    std::string hash = req.Param("hash");
    if (!hash.empty() && hash == doc->hash) {
      r.headers.emplace_back("Cache-Control", "public, immutable");
    } else {
      r.headers.emplace_back("Cache-Control", "no-cache, private");
    }
    r.headers.emplace_back("Etag", "\"" + doc->hash + "\"");
    return r;
  }
  if (path == "/" || path.empty()) {
    json paths = json::array({"/api", "/api/v1", "/apis", "/healthz", "/livez",
                              "/openapi/v3", "/readyz", "/version"});
    for (const api::ApiGroup& g : registry_.Groups()) {
      if (g.name.empty()) continue;
      paths.push_back("/apis/" + g.name);
      for (const std::string& v : g.versions)
        paths.push_back("/apis/" + g.name + "/" + v);
    }
    std::sort(paths.begin(), paths.end());
    return Response::Json(200, json{{"paths", paths}});
  }
  return PathNotFound();
}

ApiOr<Response> Handler::ServeDiscovery(const Request& req,
                                        const RequestInfo& info) {
  bool aggregated = api::WantsAggregatedDiscovery(req.accept);
  if (info.api_prefix == "api" && info.discovery_depth == 0) {
    if (aggregated) {
      Response r =
          Response::Json(200, api::AggregatedDiscovery(registry_, true));
      r.content_type = api::kAggregatedDiscoveryContentType;
      return r;
    }
    return Response::Json(200, api::ApiVersions(config_.server_address));
  }
  if (info.api_prefix == "apis" && info.discovery_depth == 0) {
    if (aggregated) {
      Response r =
          Response::Json(200, api::AggregatedDiscovery(registry_, false));
      r.content_type = api::kAggregatedDiscoveryContentType;
      return r;
    }
    return Response::Json(200, api::ApiGroupList(registry_));
  }
  if (info.api_prefix == "apis" && info.discovery_depth == 1) {
    auto doc = api::ApiGroupDocument(registry_, info.group);
    if (!doc.ok()) return PathNotFound();
    return Response::Json(200, std::move(doc).value());
  }
  auto doc = api::ApiResourceList(registry_, info.group, info.version);
  if (!doc.ok()) return PathNotFound();
  return Response::Json(200, std::move(doc).value());
}

ApiOr<Response> Handler::ServeResource(Ctx& ctx) {
  const RequestInfo& info = ctx.info;
  ctx.kind = registry_.Lookup(info.group, info.version, info.resource);
  if (!ctx.kind) return PathNotFound();
  const api::Kind& kind = *ctx.kind;

  // Scope: a namespaced kind needs a namespace except to list and watch
  // across all of them; a cluster-scoped one never has one (a Namespace's
  // own name parses as its namespace).
  if (kind.Namespaced()) {
    ctx.ns = info.namespace_;
    bool collection_read =
        info.name.empty() && (info.verb == "list" || info.verb == "watch");
    if (ctx.ns.empty() && !collection_read) return PathNotFound();
  } else if (!info.namespace_.empty() && info.resource != "namespaces") {
    return PathNotFound();
  }

  for (const std::string& v : ctx.req.Params("dryRun")) {
    if (v != "All")
      return BadRequest("Invalid dryRun value: \"" + v +
                        "\", supported values: \"All\"");
    ctx.dry_run = true;
  }
  ctx.field_manager = ctx.req.Param("fieldManager");
  if (ctx.field_manager.size() > kMaxFieldManagerLength) {
    return BadRequest("fieldManager: Too long: may not be more than 128 bytes");
  }
  if (ctx.field_manager.empty())
    ctx.field_manager = ManagerFromUserAgent(ctx.req.user_agent);
  ctx.now = clock_.Now();
  ctx.shape = NegotiateOutput(ctx.req.accept);
  if (ctx.req.HasParam("includeObject")) {
    auto inc = api::ParseIncludeObject(ctx.req.Param("includeObject"));
    if (!inc.ok()) return BadRequest(inc.status().message());
    ctx.include_object = *inc;
  }

  if (!info.subresource.empty()) return ServeSubresource(ctx);
  if (!kind.stored) {
    if (info.verb == "create") return Virtual(ctx);
    return MethodNotSupported(kind, info.verb);
  }
  if (!kind.HasVerb(info.verb)) return MethodNotSupported(kind, info.verb);
  if (info.verb == "get") return Get(ctx);
  if (info.verb == "list") return List(ctx);
  if (info.verb == "watch") return Watch(ctx);
  if (info.verb == "create") {
    if (!info.name.empty())
      return MethodNotSupported(kind, "create with a name in the URL");
    return Create(ctx);
  }
  if (info.verb == "update") return Update(ctx);
  if (info.verb == "patch") return Patch(ctx);
  if (info.verb == "delete") return Delete(ctx);
  if (info.verb == "deletecollection") return DeleteCollection(ctx);
  return MethodNotSupported(kind, info.verb);
}

ApiStatus Handler::CheckNamespaceOpen(Ctx& ctx, const std::string& ns,
                                      const std::string& name) {
  auto ns_kind = registry_.Lookup("", "v1", "namespaces");
  auto got = store_.Get(*ns_kind, "", ns);
  if (!got.ok()) {
    if (got.status().code() == Code::kNotFound)
      return NotFoundResource("", "namespaces", ns);
    return ApiError(got.status());
  }
  if (api::Has(got->object, {"metadata", "deletionTimestamp"}) ||
      api::GetString(got->object, {"status", "phase"}) == "Terminating") {
    ApiError e = Forbidden(*ctx.kind, name,
                           "unable to create new content in namespace " + ns +
                               " because it is being terminated");
    json status = e.status();
    status["details"]["causes"] =
        json::array({{{"reason", "NamespaceTerminating"},
                      {"message", "namespace " + ns + " is being terminated"},
                      {"field", "metadata.namespace"}}});
    return ApiError(403, "Forbidden", e.message(), status["details"]);
  }
  return ApiStatus::Ok();
}

}  // namespace kite::apiserver

#include "server/apiserver/bootstrap.h"

#include "api/object.h"
#include "common/log.h"

namespace kite::apiserver {

using nlohmann::json;

namespace {

Response Call(Handler& h, const std::string& method, const std::string& path,
              json body, const std::string& content_type = "application/json") {
  Request req;
  req.method = method;
  req.path = path;
  req.content_type = content_type;
  req.user_agent = "kite-apiserver";
  req.user = SystemUser();
  req.query.emplace("fieldManager", "kite-apiserver");
  if (!body.is_null()) req.object = std::move(body);
  return h.Serve(req);
}

Status Check(const Response& r, const std::string& what, bool allow_exists) {
  if (r.status < 300) return Status::Ok();
  if (allow_exists && r.status == 409 &&
      r.json.value("reason", "") == "AlreadyExists")
    return Status::Ok();
  return InternalError(
      "bootstrap " + what + ": " +
      r.json.value("message", "HTTP " + std::to_string(r.status)));
}

// Creates the object at `collection`, or replaces `name` under it when it
// exists but differs in what `same` compares.
Status Ensure(Handler& h, const std::string& collection,
              const std::string& name, json want, bool replace) {
  Response created = Call(h, "POST", collection, want);
  if (created.status < 300 || !replace)
    return Check(created, collection + "/" + name, true);
  if (created.status != 409)
    return Check(created, collection + "/" + name, false);
  Response got = Call(h, "GET", collection + "/" + name, nullptr);
  KITE_RETURN_IF_ERROR(Check(got, collection + "/" + name, false));
  json next = got.json;
  bool changed = false;
  for (const char* field : {"subsets", "endpoints", "ports", "addressType"}) {
    if (want.contains(field) && next.value(field, json()) != want[field]) {
      next[field] = want[field];
      changed = true;
    }
  }
  if (!changed) return Status::Ok();
  return Check(Call(h, "PUT", collection + "/" + name, next),
               collection + "/" + name, false);
}

}  // namespace

UserInfo SystemUser() {
  UserInfo u;
  u.name = "system:apiserver";
  u.groups = {"system:masters", "system:authenticated"};
  u.authenticated = true;
  return u;
}

Status Bootstrap(Handler& handler, const BootstrapConfig& config) {
  for (const char* ns :
       {"default", "kube-system", "kube-public", "kube-node-lease"}) {
    json obj = {{"apiVersion", "v1"},
                {"kind", "Namespace"},
                {"metadata", {{"name", ns}}}};
    KITE_RETURN_IF_ERROR(Check(Call(handler, "POST", "/api/v1/namespaces", obj),
                               std::string("namespace ") + ns, true));
  }
  for (auto [name, value] :
       {std::pair<const char*, int64_t>{"system-node-critical", 2000001000},
        std::pair<const char*, int64_t>{"system-cluster-critical",
                                        2000000000}}) {
    json pc = {
        {"apiVersion", "scheduling.k8s.io/v1"},
        {"kind", "PriorityClass"},
        {"metadata", {{"name", name}}},
        {"value", value},
        {"description",
         std::string("Used for system critical pods that must ") +
             (value == 2000001000 ? "not be moved from their current node."
                                  : "run in the cluster, but can be moved to "
                                    "another node if necessary.")}};
    KITE_RETURN_IF_ERROR(Check(
        Call(handler, "POST", "/apis/scheduling.k8s.io/v1/priorityclasses", pc),
        name, true));
  }

  // The `kubernetes` Service: created once; its target port follows the
  // server's port.
  const std::string svc_path = "/api/v1/namespaces/default/services";
  json labels = {{"component", "apiserver"}, {"provider", "kubernetes"}};
  json port = {{"name", "https"},
               {"port", 443},
               {"protocol", "TCP"},
               {"targetPort", config.port}};
  json svc = {{"apiVersion", "v1"},
              {"kind", "Service"},
              {"metadata", {{"name", "kubernetes"}, {"labels", labels}}},
              {"spec",
               {{"type", "ClusterIP"},
                {"clusterIP", handler.service_allocator().FirstIp()},
                {"ports", json::array({port})},
                {"sessionAffinity", "None"}}}};
  Response got = Call(handler, "GET", svc_path + "/kubernetes", nullptr);
  if (got.status == 200) {
    const json* ports = api::FieldPath(got.json, {"spec", "ports"});
    if (ports == nullptr || !ports->is_array() || ports->size() != 1 ||
        api::GetInt((*ports)[0], {"targetPort"}) != config.port) {
      json patch = {{"spec", {{"ports", json::array({port})}}}};
      KITE_RETURN_IF_ERROR(
          Check(Call(handler, "PATCH", svc_path + "/kubernetes", patch,
                     "application/merge-patch+json"),
                "service kubernetes", false));
    }
  } else {
    KITE_RETURN_IF_ERROR(Check(Call(handler, "POST", svc_path, svc),
                               "service kubernetes", false));
  }

  json ep_port = {
      {"name", "https"}, {"port", config.port}, {"protocol", "TCP"}};
  json endpoints = {
      {"apiVersion", "v1"},
      {"kind", "Endpoints"},
      {"metadata",
       {{"name", "kubernetes"},
        {"labels", {{"endpointslice.kubernetes.io/skip-mirror", "true"}}}}},
      {"subsets",
       json::array(
           {{{"addresses", json::array({{{"ip", config.advertise_address}}})},
             {"ports", json::array({ep_port})}}})}};
  KITE_RETURN_IF_ERROR(Ensure(handler, "/api/v1/namespaces/default/endpoints",
                              "kubernetes", endpoints, true));
  json slice = {
      {"apiVersion", "discovery.k8s.io/v1"},
      {"kind", "EndpointSlice"},
      {"metadata",
       {{"name", "kubernetes"},
        {"labels", {{"kubernetes.io/service-name", "kubernetes"}}}}},
      {"addressType", "IPv4"},
      {"endpoints",
       json::array({{{"addresses", json::array({config.advertise_address})},
                     {"conditions", {{"ready", true}}}}})},
      {"ports", json::array({ep_port})}};
  KITE_RETURN_IF_ERROR(Ensure(
      handler, "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices",
      "kubernetes", slice, true));
  log::Info("apiserver", "bootstrap objects in place")(
      "advertise-address", config.advertise_address)("port", config.port);
  return Status::Ok();
}

}  // namespace kite::apiserver

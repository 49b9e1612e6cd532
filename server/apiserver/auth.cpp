#include "server/apiserver/auth.h"

#include <algorithm>

#include "api/object.h"

namespace kite::apiserver {

using nlohmann::json;

StatusOr<UserInfo> CertificateAuthenticator::Authenticate(
    const Credentials& c) const {
  if (c.cert_verified && !c.cert_common_name.empty()) {
    UserInfo u;
    u.name = c.cert_common_name;
    u.groups = c.cert_organizations;
    if (std::find(u.groups.begin(), u.groups.end(), "system:authenticated") ==
        u.groups.end()) {
      u.groups.push_back("system:authenticated");
    }
    u.authenticated = true;
    return u;
  }
  if (!c.cert_error.empty()) {
    return Status(Code::kUnauthenticated,
                  "client certificate refused: " + c.cert_error);
  }
  if (!c.bearer_token.empty()) {
    return Status(Code::kUnauthenticated, "bearer tokens are not accepted yet");
  }
  return Status(Code::kUnauthenticated, "no credentials");
}

Attributes AttributesOf(const UserInfo& user, const RequestInfo& info) {
  Attributes a;
  a.user = &user;
  a.verb = info.verb;
  a.resource_request = info.is_resource_request;
  a.group = info.group;
  a.version = info.version;
  a.resource = info.resource;
  a.subresource = info.subresource;
  a.namespace_ = info.namespace_;
  a.name = info.name;
  a.path = info.path;
  return a;
}

Status AllowAuthenticated::Authorize(const Attributes& a) const {
  if (a.user != nullptr && a.user->authenticated) return Status::Ok();
  return Status(Code::kPermissionDenied, "anonymous requests are not allowed");
}

json AllowAuthenticated::RulesFor(const UserInfo& user,
                                  std::string_view) const {
  if (!user.authenticated) {
    return {{"resourceRules", json::array()},
            {"nonResourceRules", json::array()}};
  }
  return {
      {"resourceRules",
       json::array(
           {{{"verbs", {"*"}}, {"apiGroups", {"*"}}, {"resources", {"*"}}}})},
      {"nonResourceRules",
       json::array({{{"verbs", {"*"}}, {"nonResourceURLs", {"*"}}}})}};
}

bool IsPublicPath(std::string_view path) {
  for (std::string_view p : {"/healthz", "/livez", "/readyz"}) {
    if (path == p || (path.size() > p.size() && path.substr(0, p.size()) == p &&
                      path[p.size()] == '/')) {
      return true;
    }
  }
  return path == "/version" || path == "/version/";
}

namespace {

UserInfo UserFromSpec(const json& spec) {
  UserInfo u;
  u.name = api::GetString(spec, {"user"});
  if (const json* g = api::Field(spec, "groups"); g && g->is_array()) {
    for (const json& x : *g) {
      if (x.is_string()) u.groups.push_back(x.get<std::string>());
    }
  }
  u.authenticated = !u.name.empty();
  return u;
}

json Decide(const Authorizer& authz, const UserInfo& user, const json& spec,
            std::string_view force_namespace) {
  Attributes a;
  a.user = &user;
  if (const json* ra = api::Field(spec, "resourceAttributes");
      ra && ra->is_object()) {
    a.resource_request = true;
    a.verb = api::GetString(*ra, {"verb"});
    a.group = api::GetString(*ra, {"group"});
    a.version = api::GetString(*ra, {"version"});
    a.resource = api::GetString(*ra, {"resource"});
    a.subresource = api::GetString(*ra, {"subresource"});
    a.name = api::GetString(*ra, {"name"});
    a.namespace_ = force_namespace.empty() ? api::GetString(*ra, {"namespace"})
                                           : std::string(force_namespace);
  } else if (const json* nr = api::Field(spec, "nonResourceAttributes");
             nr && nr->is_object()) {
    a.verb = api::GetString(*nr, {"verb"});
    a.path = api::GetString(*nr, {"path"});
  }
  Status st = authz.Authorize(a);
  json status = {{"allowed", st.ok()}};
  if (st.ok()) {
    status["reason"] = "kite allows every authenticated user";
  } else {
    status["reason"] = st.message();
  }
  return status;
}

}  // namespace

StatusOr<json> AnswerReview(const Authorizer& authz, const UserInfo& requester,
                            std::string_view kind,
                            std::string_view url_namespace, json review) {
  json spec = review.value("spec", json::object());
  if (kind == "SelfSubjectAccessReview") {
    review["status"] = Decide(authz, requester, spec, "");
  } else if (kind == "SubjectAccessReview") {
    review["status"] = Decide(authz, UserFromSpec(spec), spec, "");
  } else if (kind == "LocalSubjectAccessReview") {
    review["status"] = Decide(authz, UserFromSpec(spec), spec, url_namespace);
  } else if (kind == "SelfSubjectRulesReview") {
    json rules = authz.RulesFor(requester, api::GetString(spec, {"namespace"}));
    rules["incomplete"] = false;
    review["status"] = std::move(rules);
  } else if (kind == "SelfSubjectReview") {
    json groups = json::array();
    for (const auto& g : requester.groups) groups.push_back(g);
    review["status"] = {
        {"userInfo", {{"username", requester.name}, {"groups", groups}}}};
  } else if (kind == "TokenReview") {
    review["status"] = {{"authenticated", false},
                        {"error", "kite does not issue bearer tokens yet"}};
  } else {
    return NotFoundError(std::string(kind) + " is not a review kind");
  }
  return review;
}

}  // namespace kite::apiserver

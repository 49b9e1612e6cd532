// Authentication and authorization: the two steps every request passes
// before the REST handlers (DESIGN.md §5).
//
// Authenticator turns what the client proved (a verified client
// certificate, a bearer token) into a UserInfo, or refuses with 401. The
// server runs a chain (ChainAuthenticator): client certificates, the static
// token file, ServiceAccount tokens, and room for bootstrap (join) tokens;
// the first that recognises the credential decides. Authorizer decides
// whether a user may do what a RequestInfo describes, or refuses with 403:
// the server chains system:masters, the node authorizer and RBAC
// (ChainAuthorizer, rbac.h); AllowAuthenticated remains for unit tests of
// the request path.
//
// The access-review kinds (SelfSubjectAccessReview, SubjectAccessReview,
// LocalSubjectAccessReview, SelfSubjectRulesReview, SelfSubjectReview) are
// answered from the same Authorizer, so `kubectl auth can-i` and `kubectl
// auth whoami` tell the truth about the policy in force.
//
// Paths anyone may read without credentials: /healthz, /livez, /readyz,
// /version (IsPublicPath).
//
// Thread safety: implementations are immutable after construction and safe
// for concurrent use.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "server/apiserver/request.h"
#include "server/apiserver/request_info.h"

namespace kite::apiserver {

// What a client presented.
struct Credentials {
  bool cert_verified = false;  // a client certificate chained to the client CA
  std::string cert_common_name;
  std::vector<std::string> cert_organizations;
  std::string cert_error;    // why a presented certificate was refused
  std::string bearer_token;  // from "Authorization: Bearer ..."
  // The audiences a bearer token must be meant for (TokenReview's
  // spec.audiences); empty: the API server's own.
  std::vector<std::string> audiences;
};

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // The user, or Unauthenticated (401) with a message for the log.
  virtual StatusOr<UserInfo> Authenticate(
      const Credentials& credentials) const = 0;
};

// x509 client certificates signed by the cluster's client CA: CN is the
// user, O the groups, plus system:authenticated. NotFound when no
// certificate was presented.
class CertificateAuthenticator : public Authenticator {
 public:
  StatusOr<UserInfo> Authenticate(
      const Credentials& credentials) const override;
};

// Static bearer tokens, the --token-file of kube-apiserver: one CSV line per
// token, `token,user,uid[,"group1,group2"]` (blank lines and lines starting
// with # ignored). NotFound for a request without a bearer token or with
// one not in the file.
class TokenFileAuthenticator : public Authenticator {
 public:
  // InvalidArgument naming the line for a malformed file.
  static StatusOr<std::unique_ptr<TokenFileAuthenticator>> Parse(
      std::string_view csv);
  StatusOr<UserInfo> Authenticate(
      const Credentials& credentials) const override;

 private:
  std::vector<std::pair<std::string, UserInfo>> tokens_;
};

// Asks each authenticator in turn: the first answer other than NotFound
// ("not my kind of credential") decides. Nothing recognised: 401 with the
// reasons. Authenticated users always carry system:authenticated.
class ChainAuthenticator : public Authenticator {
 public:
  void Add(std::unique_ptr<Authenticator> authenticator);
  StatusOr<UserInfo> Authenticate(
      const Credentials& credentials) const override;

 private:
  std::vector<std::unique_ptr<Authenticator>> chain_;
};

// The attributes an authorization decision looks at (the resource ones
// empty for non-resource paths).
struct Attributes {
  const UserInfo* user = nullptr;
  std::string verb;  // get, list, create ... for resources; lower-case HTTP
                     // method otherwise
  bool resource_request = false;
  std::string group, version, resource, subresource, namespace_, name;
  std::string path;            // non-resource requests
  std::string field_selector;  // list/watch ?fieldSelector= (node authorizer)
  std::string label_selector;  // list/watch ?labelSelector= (node authorizer)
};
Attributes AttributesOf(const UserInfo& user, const RequestInfo& info);

class Authorizer {
 public:
  virtual ~Authorizer() = default;
  // OK when allowed; PermissionDenied with the reason otherwise.
  virtual Status Authorize(const Attributes& attributes) const = 0;
  // The rules `user` holds in `namespace_` (SelfSubjectRulesReview):
  // resourceRules and nonResourceRules as JSON arrays.
  virtual nlohmann::json RulesFor(const UserInfo& user,
                                  std::string_view namespace_) const = 0;
};

// Every authenticated user may do anything (until RBAC).
class AllowAuthenticated : public Authorizer {
 public:
  Status Authorize(const Attributes& attributes) const override;
  nlohmann::json RulesFor(const UserInfo& user,
                          std::string_view namespace_) const override;
};

// The server's authorizer: members of system:masters may do anything;
// otherwise the first authorizer that allows decides (node, then RBAC).
// RulesFor unions the members' rules.
class ChainAuthorizer : public Authorizer {
 public:
  void Add(std::unique_ptr<Authorizer> authorizer);
  Status Authorize(const Attributes& attributes) const override;
  nlohmann::json RulesFor(const UserInfo& user,
                          std::string_view namespace_) const override;

 private:
  std::vector<std::unique_ptr<Authorizer>> chain_;
};

// /healthz, /livez, /readyz (and their sub-paths), /version.
bool IsPublicPath(std::string_view path);

// Answers an access review kind (create of authorization.k8s.io or
// authentication.k8s.io reviews): the object with .status filled in.
// NotFound when `kind` is not one of them.
StatusOr<nlohmann::json> AnswerReview(const Authorizer& authorizer,
                                      const UserInfo& requester,
                                      std::string_view kind,
                                      std::string_view url_namespace,
                                      nlohmann::json review);

// Answers a TokenReview (authentication.k8s.io/v1, create), as
// kube-apiserver does for webhook token authenticators: spec.token is
// authenticated as a bearer token by `authenticator` (never the requester's
// own credentials) for spec.audiences (default: the API server's). Valid:
// status.authenticated true, status.user {username, uid, groups, extra} and
// status.audiences (those of the asked for that the token is meant for).
// Refused (unknown, tampered, expired, revoked, bound to a deleted object,
// meant for other audiences): status.authenticated omitted (false),
// status.user {} and status.error saying why. InvalidArgument (400) for a
// review without a token or with malformed audiences. A null authenticator
// refuses every token.
StatusOr<nlohmann::json> AnswerTokenReview(const Authenticator* authenticator,
                                           nlohmann::json review);

}  // namespace kite::apiserver

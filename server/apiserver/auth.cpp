#include "server/apiserver/auth.h"

#include <algorithm>

#include "api/object.h"
#include "server/apiserver/service_account.h"

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
  return Status(Code::kNotFound, "no client certificate");
}

namespace {

// Splits one CSV line (fields may be double-quoted, "" inside quotes is a
// quote). False for an unterminated quote.
bool SplitCsv(std::string_view line, std::vector<std::string>* fields) {
  fields->clear();
  std::string cur;
  bool quoted = false, was_quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char ch = line[i];
    if (quoted) {
      if (ch == '"') {
        if (i + 1 < line.size() && line[i + 1] == '"') {
          cur += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        cur += ch;
      }
    } else if (ch == '"' && cur.empty() && !was_quoted) {
      quoted = was_quoted = true;
    } else if (ch == ',') {
      fields->push_back(std::move(cur));
      cur.clear();
      was_quoted = false;
    } else {
      cur += ch;
    }
  }
  if (quoted) return false;
  fields->push_back(std::move(cur));
  return true;
}

std::string Trim(std::string s) {
  size_t b = s.find_first_not_of(" \t\r");
  size_t e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

void AddAuthenticatedGroup(UserInfo& u) {
  if (std::find(u.groups.begin(), u.groups.end(), "system:authenticated") ==
      u.groups.end()) {
    u.groups.push_back("system:authenticated");
  }
}

// Compares without leaking where the first difference is.
bool SameSecret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= a[i] ^ b[i];
  return diff == 0;
}

}  // namespace

StatusOr<std::unique_ptr<TokenFileAuthenticator>> TokenFileAuthenticator::Parse(
    std::string_view csv) {
  auto out =
      std::unique_ptr<TokenFileAuthenticator>(new TokenFileAuthenticator);
  size_t pos = 0;
  int line_no = 0;
  std::vector<std::string> f;
  while (pos < csv.size()) {
    size_t eol = csv.find('\n', pos);
    if (eol == std::string_view::npos) eol = csv.size();
    std::string line = Trim(std::string(csv.substr(pos, eol - pos)));
    pos = eol + 1;
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    std::string where = "token file line " + std::to_string(line_no);
    if (!SplitCsv(line, &f))
      return InvalidArgumentError(where + ": unterminated quote");
    if (f.size() < 3)
      return InvalidArgumentError(where + ": want token,user,uid[,groups]");
    for (std::string& x : f) x = Trim(std::move(x));
    if (f[0].empty()) return InvalidArgumentError(where + ": empty token");
    if (f[1].empty()) return InvalidArgumentError(where + ": empty user name");
    UserInfo u;
    u.name = f[1];
    u.uid = f[2];
    for (size_t i = 3; i < f.size(); ++i) {
      std::string_view groups = f[i];
      size_t start = 0;
      while (start <= groups.size()) {
        size_t comma = groups.find(',', start);
        if (comma == std::string_view::npos) comma = groups.size();
        std::string g = Trim(std::string(groups.substr(start, comma - start)));
        if (!g.empty()) u.groups.push_back(g);
        start = comma + 1;
      }
    }
    u.authenticated = true;
    AddAuthenticatedGroup(u);
    for (const auto& [tok, existing] : out->tokens_) {
      if (tok == f[0])
        return InvalidArgumentError(where + ": token listed twice");
    }
    out->tokens_.emplace_back(f[0], std::move(u));
  }
  return out;
}

StatusOr<UserInfo> TokenFileAuthenticator::Authenticate(
    const Credentials& c) const {
  if (c.bearer_token.empty()) return Status(Code::kNotFound, "no bearer token");
  for (const auto& [tok, user] : tokens_) {
    if (SameSecret(tok, c.bearer_token)) return user;
  }
  return Status(Code::kNotFound, "token not in the token file");
}

void ChainAuthenticator::Add(std::unique_ptr<Authenticator> authenticator) {
  chain_.push_back(std::move(authenticator));
}

StatusOr<UserInfo> ChainAuthenticator::Authenticate(
    const Credentials& c) const {
  std::string reasons;
  for (const auto& a : chain_) {
    auto user = a->Authenticate(c);
    if (user.ok()) {
      AddAuthenticatedGroup(*user);
      user->authenticated = true;
      return user;
    }
    if (user.status().code() != Code::kNotFound) return user.status();
    if (!reasons.empty()) reasons += "; ";
    reasons += user.status().message();
  }
  if (c.bearer_token.empty() && !c.cert_verified && c.cert_error.empty())
    return Status(Code::kUnauthenticated, "no credentials");
  return Status(Code::kUnauthenticated,
                reasons.empty() ? "no authenticator" : reasons);
}

void ChainAuthorizer::Add(std::unique_ptr<Authorizer> authorizer) {
  chain_.push_back(std::move(authorizer));
}

Status ChainAuthorizer::Authorize(const Attributes& a) const {
  if (a.user == nullptr || !a.user->authenticated) {
    // Anonymous requests reach only the public paths, which the request
    // path serves before asking.
    return Status(Code::kPermissionDenied, "anonymous requests are refused");
  }
  for (const std::string& g : a.user->groups) {
    if (g == "system:masters") return Status::Ok();
  }
  std::string reasons;
  for (const auto& z : chain_) {
    Status st = z->Authorize(a);
    if (st.ok()) return st;
    if (!st.message().empty()) {
      if (!reasons.empty()) reasons += "; ";
      reasons += st.message();
    }
  }
  return Status(Code::kPermissionDenied, reasons);
}

json ChainAuthorizer::RulesFor(const UserInfo& user,
                               std::string_view namespace_) const {
  json out = {{"resourceRules", json::array()},
              {"nonResourceRules", json::array()}};
  for (const auto& z : chain_) {
    json r = z->RulesFor(user, namespace_);
    for (const char* k : {"resourceRules", "nonResourceRules"}) {
      if (r.contains(k) && r[k].is_array()) {
        for (json& x : r[k]) out[k].push_back(std::move(x));
      }
    }
  }
  return out;
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
  u.uid = api::GetString(spec, {"uid"});
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
  if (!st.ok() && !st.message().empty()) status["reason"] = st.message();
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
    json info = {{"username", requester.name}, {"groups", groups}};
    if (!requester.uid.empty()) info["uid"] = requester.uid;
    if (!requester.extra.empty()) info["extra"] = requester.extra;
    review["status"] = {{"userInfo", std::move(info)}};
  } else {
    return NotFoundError(std::string(kind) + " is not a review kind");
  }
  return review;
}

StatusOr<json> AnswerTokenReview(const Authenticator* authenticator,
                                 json review) {
  if (!review.is_object())
    return InvalidArgumentError("a TokenReview must be an object");
  const json spec = review.value("spec", json::object());
  if (!spec.is_object())
    return InvalidArgumentError("TokenReview spec must be an object");
  const json& token = spec.value("token", json());
  if (!token.is_string() || token.get<std::string>().empty()) {
    return InvalidArgumentError(
        "token is required for TokenReview in authentication.k8s.io");
  }
  Credentials c;
  c.bearer_token = token.get<std::string>();
  if (const json* auds = api::Field(spec, "audiences");
      auds != nullptr && !auds->is_null()) {
    if (!auds->is_array())
      return InvalidArgumentError("spec.audiences must be a list of strings");
    for (const json& a : *auds) {
      if (!a.is_string() || a.get<std::string>().empty())
        return InvalidArgumentError(
            "spec.audiences must be a list of non-empty strings");
      c.audiences.push_back(a.get<std::string>());
    }
  }
  auto quoted = [](const std::vector<std::string>& v) {
    return json(v).dump();
  };
  json status = {{"user", json::object()}};
  StatusOr<UserInfo> user =
      authenticator != nullptr
          ? authenticator->Authenticate(c)
          : StatusOr<UserInfo>(
                Status(Code::kUnauthenticated, "no token authenticator"));
  if (!user.ok()) {
    status["error"] = "invalid bearer token: " + user.status().message();
    review["status"] = std::move(status);
    return review;
  }
  // Credentials that know no audiences (static and bootstrap tokens) are
  // for the API server only.
  std::vector<std::string> token_auds = user->audiences;
  if (token_auds.empty()) token_auds = {kServiceAccountIssuer};
  std::vector<std::string> matched;
  if (c.audiences.empty()) {
    matched = token_auds;
  } else {
    for (const std::string& a : token_auds) {
      if (std::find(c.audiences.begin(), c.audiences.end(), a) !=
          c.audiences.end())
        matched.push_back(a);
    }
  }
  if (matched.empty()) {
    status["error"] = "token audiences " + quoted(token_auds) +
                      " is invalid for the target audiences " +
                      quoted(c.audiences);
    review["status"] = std::move(status);
    return review;
  }
  json info = {{"username", user->name}, {"groups", user->groups}};
  if (!user->uid.empty()) info["uid"] = user->uid;
  if (!user->extra.empty()) info["extra"] = user->extra;
  status = {{"authenticated", true},
            {"user", std::move(info)},
            {"audiences", matched}};
  review["status"] = std::move(status);
  return review;
}

}  // namespace kite::apiserver

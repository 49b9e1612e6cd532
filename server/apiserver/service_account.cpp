#include "server/apiserver/service_account.h"

#include <algorithm>

#include "api/object.h"
#include "common/env.h"
#include "common/log.h"

namespace kite::apiserver {

using nlohmann::json;

namespace {

int64_t Seconds(Clock::WallTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch())
      .count();
}

std::string StorageKey(const std::string& kind, const std::string& ns,
                       const std::string& name) {
  if (kind == "Pod") return "/registry/pods/" + ns + "/" + name;
  if (kind == "Secret") return "/registry/secrets/" + ns + "/" + name;
  if (kind == "Node") return "/registry/nodes/" + name;
  return "/registry/serviceaccounts/" + ns + "/" + name;
}

}  // namespace

StatusOr<std::string> LoadOrCreateServiceAccountKey(const std::string& path) {
  Env& env = RealEnv();
  auto existing = env.ReadFile(path);
  if (existing.ok()) return existing;
  if (existing.status().code() != Code::kNotFound) return existing.status();
  KITE_ASSIGN_OR_RETURN(std::unique_ptr<tls::Random> random,
                        tls::Random::Create());
  KITE_ASSIGN_OR_RETURN(std::string pem, tls::GenerateRsaKey(*random));
  KITE_RETURN_IF_ERROR(env.WriteFileAtomic(path, pem, 0600));
  log::Info("apiserver", "created the ServiceAccount signing key")("path",
                                                                   path);
  return pem;
}

ServiceAccountTokens::ServiceAccountTokens(std::unique_ptr<tls::JwtKey> key,
                                           std::unique_ptr<tls::Random> random,
                                           datastore::Backend& backend,
                                           Clock& clock)
    : key_(std::move(key)),
      random_(std::move(random)),
      backend_(backend),
      clock_(clock) {}

StatusOr<std::unique_ptr<ServiceAccountTokens>> ServiceAccountTokens::Create(
    const std::string& key_pem, datastore::Backend& backend, Clock& clock) {
  KITE_ASSIGN_OR_RETURN(std::unique_ptr<tls::JwtKey> key,
                        tls::JwtKey::Load(key_pem));
  KITE_ASSIGN_OR_RETURN(std::unique_ptr<tls::Random> random,
                        tls::Random::Create());
  return std::unique_ptr<ServiceAccountTokens>(new ServiceAccountTokens(
      std::move(key), std::move(random), backend, clock));
}

StatusOr<ServiceAccountTokens::Issued> ServiceAccountTokens::Issue(
    const TokenSpec& spec) {
  Clock::WallTime now = clock_.Now();
  Clock::WallTime exp = now + spec.expiration;
  json k8s = {
      {"namespace", spec.namespace_},
      {"serviceaccount",
       {{"name", spec.service_account}, {"uid", spec.service_account_uid}}}};
  if (!spec.bound_kind.empty()) {
    std::string field = spec.bound_kind == "Pod"      ? "pod"
                        : spec.bound_kind == "Secret" ? "secret"
                                                      : "node";
    k8s[field] = {{"name", spec.bound_name}, {"uid", spec.bound_uid}};
  }
  KITE_ASSIGN_OR_RETURN(std::string jti, random_->Bytes(16));
  json claims = {{"iss", kServiceAccountIssuer},
                 {"sub", "system:serviceaccount:" + spec.namespace_ + ":" +
                             spec.service_account},
                 {"aud", spec.audiences.empty()
                             ? std::vector<std::string>{kServiceAccountIssuer}
                             : spec.audiences},
                 {"iat", Seconds(now)},
                 {"nbf", Seconds(now)},
                 {"exp", Seconds(exp)},
                 {"jti", tls::Base64UrlEncode(jti)},
                 {"kubernetes.io", std::move(k8s)}};
  KITE_ASSIGN_OR_RETURN(std::string token, key_->Sign(*random_, claims.dump()));
  return Issued{std::move(token), exp};
}

StatusOr<std::string> ServiceAccountTokens::UidOf(
    const std::string& key) const {
  KITE_ASSIGN_OR_RETURN(datastore::KeyValue kv, backend_.Get(key));
  json obj = json::parse(kv.value, nullptr, false);
  if (obj.is_discarded()) return InternalError("stored object unreadable");
  return api::GetString(obj, {"metadata", "uid"});
}

StatusOr<UserInfo> ServiceAccountTokens::Authenticate(
    const Credentials& c) const {
  const std::string& token = c.bearer_token;
  if (token.empty()) return Status(Code::kNotFound, "no bearer token");
  // A JWT has two dots; anything else is some other authenticator's.
  if (std::count(token.begin(), token.end(), '.') != 2)
    return Status(Code::kNotFound, "not a ServiceAccount token");
  auto payload = key_->Verify(token);
  if (!payload.ok()) {
    // Our issuer's claims with a signature that does not hold: refuse.
    auto text = tls::Base64UrlDecode(token.substr(
        token.find('.') + 1, token.rfind('.') - token.find('.') - 1));
    json claims = text.ok() ? json::parse(*text, nullptr, false) : json();
    if (claims.is_object() &&
        claims.value("iss", json()) == kServiceAccountIssuer) {
      return Status(Code::kUnauthenticated,
                    "ServiceAccount token: " + payload.status().message());
    }
    return Status(Code::kNotFound, "not a ServiceAccount token");
  }
  json claims = json::parse(*payload, nullptr, false);
  if (!claims.is_object())
    return Status(Code::kUnauthenticated, "ServiceAccount token: bad claims");
  auto refuse = [](const std::string& why) {
    return Status(Code::kUnauthenticated, "ServiceAccount token: " + why);
  };
  if (claims.value("iss", json()) != kServiceAccountIssuer)
    return refuse("unknown issuer");
  int64_t now = Seconds(clock_.Now());
  // A minute of leeway for clock skew, as upstream.
  const json& exp = claims.value("exp", json());
  if (!exp.is_number_integer() || exp.get<int64_t>() + 60 < now)
    return refuse("expired");
  if (const json& nbf = claims.value("nbf", json());
      nbf.is_number_integer() && nbf.get<int64_t>() - 60 > now)
    return refuse("not valid yet");
  // The token must be meant for one of the audiences asked for (a
  // TokenReview's), by default the API server's.
  const std::vector<std::string> wanted =
      c.audiences.empty() ? std::vector<std::string>{kServiceAccountIssuer}
                          : c.audiences;
  std::vector<std::string> matched;
  const json& aud = claims.value("aud", json());
  for (const json& a : aud.is_array() ? aud : json::array({aud})) {
    if (a.is_string() &&
        std::find(wanted.begin(), wanted.end(), a.get<std::string>()) !=
            wanted.end() &&
        std::find(matched.begin(), matched.end(), a.get<std::string>()) ==
            matched.end())
      matched.push_back(a.get<std::string>());
  }
  if (matched.empty()) return refuse("wrong audience");
  const json k8s = claims.value("kubernetes.io", json::object());
  std::string ns = api::GetString(k8s, {"namespace"});
  std::string sa = api::GetString(k8s, {"serviceaccount", "name"});
  std::string sa_uid = api::GetString(k8s, {"serviceaccount", "uid"});
  if (ns.empty() || sa.empty()) return refuse("no ServiceAccount named");
  auto uid = UidOf(StorageKey("ServiceAccount", ns, sa));
  if (!uid.ok() || *uid != sa_uid)
    return refuse("the ServiceAccount " + ns + "/" + sa + " no longer exists");
  UserInfo u;
  u.name = "system:serviceaccount:" + ns + ":" + sa;
  u.uid = sa_uid;
  u.groups = {"system:serviceaccounts", "system:serviceaccounts:" + ns,
              "system:authenticated"};
  u.authenticated = true;
  u.audiences = std::move(matched);
  for (const char* field : {"pod", "secret", "node"}) {
    if (!k8s.contains(field)) continue;
    std::string kind = std::string(field) == "pod"      ? "Pod"
                       : std::string(field) == "secret" ? "Secret"
                                                        : "Node";
    std::string name = api::GetString(k8s, {field, "name"});
    std::string want = api::GetString(k8s, {field, "uid"});
    auto bound = UidOf(StorageKey(kind, ns, name));
    if (!bound.ok() || *bound != want)
      return refuse("the " + kind + " " + name +
                    " the token is bound to no longer exists");
    u.extra["authentication.kubernetes.io/" + std::string(field) + "-name"] = {
        name};
    u.extra["authentication.kubernetes.io/" + std::string(field) + "-uid"] = {
        want};
  }
  u.extra["authentication.kubernetes.io/credential-id"] = {
      "JTI=" + claims.value("jti", std::string())};
  return u;
}

}  // namespace kite::apiserver

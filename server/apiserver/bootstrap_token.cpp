#include "server/apiserver/bootstrap_token.h"

#include "api/object.h"
#include "server/apiserver/encoding.h"
#include "tls/join_token.h"

namespace kite::apiserver {

using nlohmann::json;

json BootstrapTokenSecret(const std::string& id, const std::string& secret,
                          const std::string& description,
                          std::optional<Clock::WallTime> expiration) {
  json data = {
      {"token-id", Base64Encode(id)},
      {"token-secret", Base64Encode(secret)},
      {"usage-bootstrap-authentication", Base64Encode("true")},
      {"usage-bootstrap-signing", Base64Encode("true")},
  };
  if (!description.empty()) data["description"] = Base64Encode(description);
  if (expiration)
    data["expiration"] = Base64Encode(api::FormatTime(*expiration));
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata",
           {{"name", std::string(kBootstrapTokenSecretPrefix) + id},
            {"namespace", kBootstrapTokenNamespace}}},
          {"type", kBootstrapTokenSecretType},
          {"data", std::move(data)}};
}

StatusOr<BootstrapTokenInfo> ReadBootstrapTokenSecret(const json& secret) {
  if (api::GetString(secret, {"type"}) != kBootstrapTokenSecretType) {
    return InvalidArgumentError("not of type bootstrap.kubernetes.io/token");
  }
  const json* data = api::Field(secret, "data");
  if (data == nullptr || !data->is_object()) {
    return InvalidArgumentError("the Secret has no data");
  }
  auto get = [&](const char* key) {
    std::string out;
    auto it = data->find(key);
    if (it == data->end() || !it->is_string() ||
        !Base64Decode(it->get<std::string>(), &out)) {
      return std::string();
    }
    return out;
  };
  BootstrapTokenInfo t;
  t.id = get("token-id");
  t.secret = get("token-secret");
  t.description = get("description");
  t.expiration = get("expiration");
  t.authentication = get("usage-bootstrap-authentication") == "true";
  std::string groups = get("auth-extra-groups");
  size_t start = 0;
  while (start < groups.size()) {
    size_t comma = groups.find(',', start);
    if (comma == std::string::npos) comma = groups.size();
    std::string g = groups.substr(start, comma - start);
    if (!g.empty()) t.extra_groups.push_back(g);
    start = comma + 1;
  }
  std::string name = api::GetString(secret, {"metadata", "name"});
  if (!tls::IsBootstrapTokenId(t.id) ||
      name != kBootstrapTokenSecretPrefix + t.id) {
    return InvalidArgumentError("token-id does not match the Secret's name");
  }
  if (!tls::IsBootstrapToken(t.id + "." + t.secret)) {
    return InvalidArgumentError("token-secret is not 16 of [a-z0-9]");
  }
  return t;
}

StatusOr<UserInfo> BootstrapTokenAuthenticator::Authenticate(
    const Credentials& c) const {
  if (c.cert_verified || !tls::IsBootstrapToken(c.bearer_token)) {
    if (next_ != nullptr) return next_->Authenticate(c);
    return NotFoundError("not a bootstrap token");
  }
  std::string id = c.bearer_token.substr(0, 6);
  auto unauthenticated = [&](const std::string& why) {
    return Status(Code::kUnauthenticated,
                  "bootstrap token " + id + " refused: " + why);
  };
  auto secret = lookup_(kBootstrapTokenSecretPrefix + id);
  if (!secret.ok()) {
    return unauthenticated(secret.status().code() == Code::kNotFound
                               ? "no such token"
                               : secret.status().message());
  }
  auto info = ReadBootstrapTokenSecret(*secret);
  if (!info.ok()) return unauthenticated(info.status().message());
  if (!tls::ConstantTimeEquals(info->secret, c.bearer_token.substr(7))) {
    return unauthenticated("wrong secret");
  }
  if (!info->authentication) {
    return unauthenticated("not usable for authentication");
  }
  if (!info->expiration.empty()) {
    auto when = api::ParseTime(info->expiration);
    if (!when) return unauthenticated("unreadable expiration");
    if (clock_.Now() >= *when) return unauthenticated("expired");
  }
  UserInfo u;
  u.name = kBootstrapUserPrefix + id;
  u.groups = {kBootstrappersGroup};
  for (const std::string& g : info->extra_groups) {
    if (g.rfind(std::string(kBootstrappersGroup) + ":", 0) == 0) {
      u.groups.push_back(g);
    }
  }
  u.groups.push_back("system:authenticated");
  u.authenticated = true;
  return u;
}

}  // namespace kite::apiserver

// ServiceAccount tokens: issued by the TokenRequest API
// (serviceaccounts/<name>/token, `kubectl create token`) and accepted as
// bearer tokens (DESIGN.md §5).
//
// Tokens are RS256 JWTs (tls/jwt.h) signed with the server's key
// (<data-dir>/server/tls/service-account.key, made at first start). Claims:
// iss, sub (system:serviceaccount:NS:NAME), aud, iat, nbf, exp, jti and
// kubernetes.io {namespace, serviceaccount {name, uid}, pod|secret|node
// {name, uid}} when bound to an object. A token is accepted when its
// signature holds, it is within nbf..exp, one of its audiences is the
// server's, and the ServiceAccount (and the bound object) still exists with
// the same uid, so deleting either revokes it. (A TokenReview may ask for
// other audiences: Credentials::audiences; UserInfo::audiences says which
// of them the token is for.) The user is
// system:serviceaccount:NS:NAME in groups system:serviceaccounts and
// system:serviceaccounts:NS; bound pods show in extra
// (authentication.kubernetes.io/pod-name, pod-uid) as upstream.
//
// Thread safety: safe for concurrent use.
#pragma once

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "datastore/backend.h"
#include "server/apiserver/auth.h"
#include "tls/jwt.h"
#include "tls/pki.h"

namespace kite::apiserver {

// The issuer and default audience of kite's tokens (as upstream's default).
inline constexpr char kServiceAccountIssuer[] =
    "https://kubernetes.default.svc.cluster.local";

// What a TokenRequest asks for, after validation.
struct TokenSpec {
  std::string namespace_, service_account, service_account_uid;
  std::vector<std::string> audiences;  // empty: the server's
  std::chrono::seconds expiration{3600};
  // Bound object (kind Pod, Secret or Node; empty kind: unbound).
  std::string bound_kind, bound_name, bound_uid;
};

class ServiceAccountTokens : public Authenticator {
 public:
  // `key_pem`: the RSA signing key. The backend is read to check that
  // ServiceAccounts and bound objects still exist.
  static StatusOr<std::unique_ptr<ServiceAccountTokens>> Create(
      const std::string& key_pem, datastore::Backend& backend, Clock& clock);

  // A signed token and its expiry.
  struct Issued {
    std::string token;
    Clock::WallTime expires;
  };
  StatusOr<Issued> Issue(const TokenSpec& spec);

  // NotFound for tokens that are not JWTs from kite's issuer (the next
  // authenticator may know them); Unauthenticated for ones that are but do
  // not hold.
  StatusOr<UserInfo> Authenticate(
      const Credentials& credentials) const override;

 private:
  ServiceAccountTokens(std::unique_ptr<tls::JwtKey> key,
                       std::unique_ptr<tls::Random> random,
                       datastore::Backend& backend, Clock& clock);
  // The stored object's uid; NotFound when it does not exist.
  StatusOr<std::string> UidOf(const std::string& key) const;

  std::unique_ptr<tls::JwtKey> key_;
  std::unique_ptr<tls::Random> random_;
  datastore::Backend& backend_;
  Clock& clock_;
};

// Loads the signing key at `path`, creating an RSA 2048 key there (mode
// 0600) when there is none.
StatusOr<std::string> LoadOrCreateServiceAccountKey(const std::string& path);

}  // namespace kite::apiserver

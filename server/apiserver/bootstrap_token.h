// Bootstrap tokens: the join tokens of `kite agent --token` as the API server
// sees them (docs/join.md).
//
// A bootstrap token "<id>.<secret>" lives in the Secret
// kube-system/bootstrap-token-<id> of type bootstrap.kubernetes.io/token, as
// in Kubernetes: data token-id, token-secret, usage-bootstrap-authentication
// "true", usage-bootstrap-signing "true", optional expiration (RFC 3339),
// description and auth-extra-groups. BootstrapTokenAuthenticator accepts
// such a bearer token while its Secret exists, matches and has not expired:
// user system:bootstrap:<id>, groups system:bootstrappers, the extra groups
// (each must start with system:bootstrappers:) and system:authenticated.
// Every other request goes to `next` when one is given, or is answered
// NotFound ("not a bootstrap token": the convention of a chain member).
//
// Thread safety: the authenticator is immutable after construction; its
// lookup function must be safe to call concurrently.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "server/apiserver/auth.h"

namespace kite::apiserver {

inline constexpr char kBootstrapTokenSecretType[] =
    "bootstrap.kubernetes.io/token";
inline constexpr char kBootstrapTokenNamespace[] = "kube-system";
inline constexpr char kBootstrapTokenSecretPrefix[] = "bootstrap-token-";
inline constexpr char kBootstrappersGroup[] = "system:bootstrappers";
inline constexpr char kBootstrapUserPrefix[] = "system:bootstrap:";

// The Secret for token `id`.`secret` (data base64-encoded, as stored).
// `expiration`: none when empty.
nlohmann::json BootstrapTokenSecret(
    const std::string& id, const std::string& secret,
    const std::string& description,
    std::optional<Clock::WallTime> expiration = std::nullopt);

// Reads a Secret (the served JSON) as a bootstrap token. `data` decoded.
struct BootstrapTokenInfo {
  std::string id;
  std::string secret;
  std::string description;
  std::string expiration;  // RFC 3339, "" for none
  std::vector<std::string> extra_groups;
  bool authentication = false;  // usage-bootstrap-authentication == "true"
};
// InvalidArgument when `secret` is not a well-formed bootstrap-token Secret.
StatusOr<BootstrapTokenInfo> ReadBootstrapTokenSecret(
    const nlohmann::json& secret);

class BootstrapTokenAuthenticator : public Authenticator {
 public:
  // Fetches kube-system/<name> (the served Secret); NotFound when absent.
  using SecretLookup =
      std::function<StatusOr<nlohmann::json>(const std::string& name)>;

  // `next` (may be null) handles everything that is not a bootstrap token;
  // `clock` and `next` must outlive this.
  BootstrapTokenAuthenticator(SecretLookup lookup, Clock& clock,
                              const Authenticator* next = nullptr)
      : lookup_(std::move(lookup)), clock_(clock), next_(next) {}

  StatusOr<UserInfo> Authenticate(
      const Credentials& credentials) const override;

 private:
  SecretLookup lookup_;
  Clock& clock_;
  const Authenticator* next_;
};

}  // namespace kite::apiserver

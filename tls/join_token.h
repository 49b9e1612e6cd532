// JoinToken: the credential `kite agent --token` takes (docs/join.md).
//
// Text form, like k3s's secure tokens:
//   K10<sha256>::<id>.<secret>
// where <sha256> is CertSha256 of the cluster's server CA (64 lower-case hex
// digits), <id> is 6 and <secret> 16 characters of [a-z0-9]. "<id>.<secret>"
// alone is a Kubernetes bootstrap token: the API server authenticates it as
// user system:bootstrap:<id> in group system:bootstrappers while the Secret
// kube-system/bootstrap-token-<id> exists and has not expired. The CA hash
// lets a joining agent check the server before it sends the secret.
//
// Thread safety: plain values and reentrant functions.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "tls/pki.h"

namespace kite::tls {

struct JoinToken {
  std::string ca_hash;  // lower-case hex SHA-256 of the server CA's DER
  std::string id;       // [a-z0-9]{6}
  std::string secret;   // [a-z0-9]{16}

  // "<id>.<secret>": the bearer token sent to the API server.
  std::string BearerToken() const { return id + "." + secret; }
  // "K10<ca_hash>::<id>.<secret>".
  std::string ToString() const;
};

// True if `text` is a bootstrap token "<id>.<secret>" of the right shape.
bool IsBootstrapToken(std::string_view text);
// True if `id` is 6 characters of [a-z0-9].
bool IsBootstrapTokenId(std::string_view id);

// Parses "K10<hash>::<id>.<secret>". InvalidArgument with what is wrong
// (the message never repeats the secret).
StatusOr<JoinToken> ParseJoinToken(std::string_view text);

// A fresh id and secret for `ca_hash`.
StatusOr<JoinToken> GenerateJoinToken(Random& random,
                                      const std::string& ca_hash);

// Constant-time comparison (for secrets).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace kite::tls

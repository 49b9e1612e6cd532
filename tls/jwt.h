// jwt: RS256 JSON Web Signatures on mbedTLS, the format of ServiceAccount
// tokens (header.payload.signature, each base64url without padding).
//
// JwtKey holds an RSA key pair: it signs with the private key and verifies
// with the public one. Claims (the payload) are opaque JSON text here; the
// API server decides what they say and whether they hold (issuer, expiry,
// audience). Verify only proves the token was signed by this key and is an
// RS256 token.
//
// Thread safety: a JwtKey is safe for concurrent use (operations on the
// mbedTLS context are serialized inside).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "common/status.h"
#include "tls/pki.h"

namespace kite::tls {

// A fresh RSA private key (PKCS#1 PEM) of `bits` bits.
StatusOr<std::string> GenerateRsaKey(Random& random, int bits = 2048);

std::string Base64UrlEncode(std::string_view data);
// InvalidArgument for characters outside the base64url alphabet.
StatusOr<std::string> Base64UrlDecode(std::string_view text);

class JwtKey {
 public:
  // InvalidArgument when `private_key_pem` is not an RSA private key.
  static StatusOr<std::unique_ptr<JwtKey>> Load(
      const std::string& private_key_pem);
  ~JwtKey();
  JwtKey(const JwtKey&) = delete;
  JwtKey& operator=(const JwtKey&) = delete;

  // The key id ("kid"): base64url of the SHA-256 of the public key's DER.
  const std::string& key_id() const { return key_id_; }
  // The public key, PEM (SubjectPublicKeyInfo).
  const std::string& public_key_pem() const { return public_pem_; }

  // header {"alg":"RS256","kid":...} . payload_json . signature.
  StatusOr<std::string> Sign(Random& random, std::string_view payload_json);
  // The payload JSON text of a token this key signed. Unauthenticated for a
  // malformed token, another algorithm or a bad signature.
  StatusOr<std::string> Verify(std::string_view token) const;

 private:
  JwtKey();
  struct State;
  std::unique_ptr<State> state_;
  std::string key_id_;
  std::string public_pem_;
  mutable std::mutex mu_;
};

}  // namespace kite::tls

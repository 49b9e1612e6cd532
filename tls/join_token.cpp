#include "tls/join_token.h"

namespace kite::tls {

namespace {

constexpr std::string_view kPrefix = "K10";
constexpr size_t kIdLength = 6;
constexpr size_t kSecretLength = 16;
constexpr size_t kHashLength = 64;

bool AllOf(std::string_view s, bool (*pred)(char)) {
  for (char c : s) {
    if (!pred(c)) return false;
  }
  return true;
}
bool LowerAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool LowerHex(char c) {
  return (c >= 'a' && c <= 'f') || (c >= '0' && c <= '9');
}

}  // namespace

std::string JoinToken::ToString() const {
  return std::string(kPrefix) + ca_hash + "::" + BearerToken();
}

bool IsBootstrapTokenId(std::string_view id) {
  return id.size() == kIdLength && AllOf(id, LowerAlnum);
}

bool IsBootstrapToken(std::string_view text) {
  if (text.size() != kIdLength + 1 + kSecretLength) return false;
  if (text[kIdLength] != '.') return false;
  return IsBootstrapTokenId(text.substr(0, kIdLength)) &&
         AllOf(text.substr(kIdLength + 1), LowerAlnum);
}

StatusOr<JoinToken> ParseJoinToken(std::string_view text) {
  while (!text.empty() &&
         (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.remove_suffix(1);
  }
  const std::string kShape =
      "a join token looks like K10<sha256 of the server CA, 64 hex "
      "digits>::<6-character id>.<16-character secret> (the server writes "
      "it to <data-dir>/server/token; `kite token create` makes more)";
  if (text.substr(0, kPrefix.size()) != kPrefix) {
    if (IsBootstrapToken(text)) {
      return InvalidArgumentError(
          "the token has no CA hash, so the server cannot be verified: " +
          kShape);
    }
    return InvalidArgumentError("the token does not start with K10: " + kShape);
  }
  text.remove_prefix(kPrefix.size());
  size_t sep = text.find("::");
  if (sep == std::string_view::npos) {
    return InvalidArgumentError("the token has no \"::\": " + kShape);
  }
  std::string_view hash = text.substr(0, sep);
  std::string_view rest = text.substr(sep + 2);
  if (hash.size() != kHashLength || !AllOf(hash, LowerHex)) {
    return InvalidArgumentError(
        "the token's CA hash is not 64 lower-case hex digits: " + kShape);
  }
  if (!IsBootstrapToken(rest)) {
    return InvalidArgumentError(
        "the token's credential is not <id>.<secret>: " + kShape);
  }
  JoinToken t;
  t.ca_hash = std::string(hash);
  t.id = std::string(rest.substr(0, kIdLength));
  t.secret = std::string(rest.substr(kIdLength + 1));
  return t;
}

StatusOr<JoinToken> GenerateJoinToken(Random& random,
                                      const std::string& ca_hash) {
  constexpr std::string_view kAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  auto pick = [&](size_t n) -> StatusOr<std::string> {
    std::string out;
    while (out.size() < n) {
      KITE_ASSIGN_OR_RETURN(std::string bytes, random.Bytes(32));
      for (unsigned char b : bytes) {
        // 252 = 7 * 36: reject the rest so every character is equally likely.
        if (b < 252 && out.size() < n) out.push_back(kAlphabet[b % 36]);
      }
    }
    return out;
  };
  JoinToken t;
  t.ca_hash = ca_hash;
  KITE_ASSIGN_OR_RETURN(t.id, pick(kIdLength));
  KITE_ASSIGN_OR_RETURN(t.secret, pick(kSecretLength));
  return t;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

}  // namespace kite::tls

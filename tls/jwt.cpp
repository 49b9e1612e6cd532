#include "tls/jwt.h"

#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>
#include <mbedtls/sha256.h>

#include <vector>

#include "tls/mbed_util.h"

namespace kite::tls {

namespace {

constexpr char kAlphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string Sha256(std::string_view data) {
  unsigned char out[32];
  mbedtls_sha256_ret(reinterpret_cast<const unsigned char*>(data.data()),
                     data.size(), out, 0);
  return std::string(reinterpret_cast<char*>(out), sizeof(out));
}

}  // namespace

std::string Base64UrlEncode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v =
        (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

StatusOr<std::string> Base64UrlDecode(std::string_view in) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '-') {
      v = 62;
    } else if (c == '_') {
      v = 63;
    } else {
      return InvalidArgumentError("not base64url");
    }
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += char((acc >> bits) & 0xff);
    }
  }
  if (bits >= 6) return InvalidArgumentError("truncated base64url");
  return out;
}

StatusOr<std::string> GenerateRsaKey(Random& random, int bits) {
  internal::Pk pk;
  int ret =
      mbedtls_pk_setup(pk.get(), mbedtls_pk_info_from_type(MBEDTLS_PK_RSA));
  if (ret != 0) return InternalError("pk setup: " + internal::MbedError(ret));
  ret = mbedtls_rsa_gen_key(mbedtls_pk_rsa(*pk.get()), &Random::Generate,
                            &random, bits, 65537);
  if (ret != 0)
    return InternalError("RSA key generation: " + internal::MbedError(ret));
  std::vector<unsigned char> buf(16000);
  ret = mbedtls_pk_write_key_pem(pk.get(), buf.data(), buf.size());
  if (ret != 0)
    return InternalError("writing the RSA key: " + internal::MbedError(ret));
  return std::string(reinterpret_cast<char*>(buf.data()));
}

struct JwtKey::State {
  internal::Pk pk;
};

JwtKey::JwtKey() : state_(std::make_unique<State>()) {}
JwtKey::~JwtKey() = default;

StatusOr<std::unique_ptr<JwtKey>> JwtKey::Load(const std::string& pem) {
  std::unique_ptr<JwtKey> key(new JwtKey());
  KITE_RETURN_IF_ERROR(key->state_->pk.ParsePrivate(pem, "signing key"));
  if (mbedtls_pk_get_type(key->state_->pk.get()) != MBEDTLS_PK_RSA)
    return InvalidArgumentError("the signing key is not an RSA key");
  std::vector<unsigned char> der(4096);
  int len = mbedtls_pk_write_pubkey_der(key->state_->pk.get(), der.data(),
                                        der.size());
  if (len < 0) return InternalError("public key: " + internal::MbedError(len));
  // mbedTLS writes DER at the end of the buffer.
  std::string_view spki(reinterpret_cast<char*>(der.data() + der.size() - len),
                        size_t(len));
  key->key_id_ = Base64UrlEncode(Sha256(spki));
  std::vector<unsigned char> pub(4096);
  int ret = mbedtls_pk_write_pubkey_pem(key->state_->pk.get(), pub.data(),
                                        pub.size());
  if (ret != 0) return InternalError("public key: " + internal::MbedError(ret));
  key->public_pem_ = reinterpret_cast<char*>(pub.data());
  return key;
}

StatusOr<std::string> JwtKey::Sign(Random& random, std::string_view payload) {
  std::string header = "{\"alg\":\"RS256\",\"kid\":\"" + key_id_ + "\"}";
  std::string signing_input =
      Base64UrlEncode(header) + "." + Base64UrlEncode(payload);
  std::string hash = Sha256(signing_input);
  unsigned char sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
  size_t sig_len = 0;
  int ret;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ret =
        mbedtls_pk_sign(state_->pk.get(), MBEDTLS_MD_SHA256,
                        reinterpret_cast<const unsigned char*>(hash.data()),
                        hash.size(), sig, &sig_len, &Random::Generate, &random);
  }
  if (ret != 0) return InternalError("signing: " + internal::MbedError(ret));
  return signing_input + "." +
         Base64UrlEncode(
             std::string_view(reinterpret_cast<char*>(sig), sig_len));
}

StatusOr<std::string> JwtKey::Verify(std::string_view token) const {
  size_t dot1 = token.find('.');
  size_t dot2 =
      dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos ||
      token.find('.', dot2 + 1) != std::string_view::npos)
    return Status(Code::kUnauthenticated, "not a JWT");
  auto header = Base64UrlDecode(token.substr(0, dot1));
  auto payload = Base64UrlDecode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  auto sig = Base64UrlDecode(token.substr(dot2 + 1));
  if (!header.ok() || !payload.ok() || !sig.ok())
    return Status(Code::kUnauthenticated, "malformed JWT");
  // The only algorithm accepted (no "none", no HMAC with the public key).
  if (header->find("\"alg\":\"RS256\"") == std::string::npos)
    return Status(Code::kUnauthenticated, "the token is not RS256");
  std::string hash = Sha256(token.substr(0, dot2));
  int ret;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ret = mbedtls_pk_verify(
        state_->pk.get(), MBEDTLS_MD_SHA256,
        reinterpret_cast<const unsigned char*>(hash.data()), hash.size(),
        reinterpret_cast<const unsigned char*>(sig->data()), sig->size());
  }
  if (ret != 0) return Status(Code::kUnauthenticated, "invalid signature");
  return std::move(payload).value();
}

}  // namespace kite::tls

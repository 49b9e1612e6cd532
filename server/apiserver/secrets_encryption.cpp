#include "server/apiserver/secrets_encryption.h"

#include <mbedtls/gcm.h>

#include "server/apiserver/encoding.h"

namespace kite::apiserver {
namespace {

constexpr char kKeyName[] = "key1";
constexpr char kSecretsPrefix[] = "/registry/secrets/";
constexpr size_t kKeyBytes = 32;
constexpr size_t kNonceBytes = 12;
constexpr size_t kTagBytes = 16;

const unsigned char* U(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

class Gcm {
 public:
  explicit Gcm(const std::string& key) {
    mbedtls_gcm_init(&ctx_);
    ok_ = mbedtls_gcm_setkey(&ctx_, MBEDTLS_CIPHER_ID_AES, U(key),
                             kKeyBytes * 8) == 0;
  }
  ~Gcm() { mbedtls_gcm_free(&ctx_); }
  bool ok() const { return ok_; }
  mbedtls_gcm_context* get() { return &ctx_; }

 private:
  mbedtls_gcm_context ctx_;
  bool ok_ = false;
};

class DecryptingWatcher : public datastore::Watcher {
 public:
  DecryptingWatcher(std::shared_ptr<datastore::Watcher> inner,
                    const EncryptingBackend& backend)
      : inner_(std::move(inner)), backend_(backend) {}
  StatusOr<datastore::WatchBatch> Next(
      std::chrono::milliseconds timeout) override {
    KITE_ASSIGN_OR_RETURN(datastore::WatchBatch batch, inner_->Next(timeout));
    for (datastore::Event& ev : batch.events) {
      KITE_RETURN_IF_ERROR(backend_.Open(&ev.kv));
      KITE_RETURN_IF_ERROR(backend_.Open(&ev.prev_kv));
    }
    return batch;
  }
  void Cancel() override { inner_->Cancel(); }

 private:
  std::shared_ptr<datastore::Watcher> inner_;
  const EncryptingBackend& backend_;
};

}  // namespace

StatusOr<std::string> LoadEncryptionKey(Env& env, tls::Random& random,
                                        const std::string& path, bool create) {
  if (!env.Exists(path)) {
    if (!create) return NotFoundError("no encryption key at " + path);
    KITE_ASSIGN_OR_RETURN(std::string key, random.Bytes(kKeyBytes));
    size_t slash = path.rfind('/');
    if (slash != std::string::npos) {
      KITE_RETURN_IF_ERROR(env.MakeDirs(path.substr(0, slash), 0700));
    }
    KITE_RETURN_IF_ERROR(
        env.WriteFileAtomic(path, Base64Encode(key) + "\n", 0600));
    return key;
  }
  KITE_ASSIGN_OR_RETURN(std::string text, env.ReadFile(path));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
    text.pop_back();
  }
  std::string key;
  if (!Base64Decode(text, &key) || key.size() != kKeyBytes) {
    return InvalidArgumentError(path +
                                " does not hold 32 base64-encoded bytes");
  }
  return key;
}

EncryptingBackend::EncryptingBackend(datastore::Backend& inner,
                                     tls::Random& random, std::string key,
                                     bool encrypt)
    : inner_(inner), random_(random), key_(std::move(key)), encrypt_(encrypt) {}

StatusOr<std::string> EncryptingBackend::Seal(std::string_view key,
                                              std::string_view value) {
  if (!encrypt_ ||
      key.substr(0, sizeof(kSecretsPrefix) - 1) != kSecretsPrefix) {
    return std::string(value);
  }
  KITE_ASSIGN_OR_RETURN(std::string nonce, random_.Bytes(kNonceBytes));
  Gcm gcm(key_);
  if (!gcm.ok()) return InternalError("AES-256-GCM: cannot set the key");
  std::string out = std::string(kEncryptionPrefix) + kKeyName + ":" + nonce;
  size_t header = out.size();
  out.resize(header + value.size() + kTagBytes);
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  if (mbedtls_gcm_crypt_and_tag(gcm.get(), MBEDTLS_GCM_ENCRYPT, value.size(),
                                U(nonce), kNonceBytes, U(key), key.size(),
                                U(value), p + header, kTagBytes,
                                p + header + value.size()) != 0) {
    return InternalError("AES-256-GCM: encryption failed");
  }
  return out;
}

Status EncryptingBackend::Open(datastore::KeyValue* kv) const {
  std::string_view v = kv->value;
  constexpr size_t kPrefixLen = sizeof(kEncryptionPrefix) - 1;
  if (v.substr(0, kPrefixLen) != kEncryptionPrefix) return Status::Ok();
  v.remove_prefix(kPrefixLen);
  size_t colon = v.find(':');
  if (colon == std::string_view::npos || v.substr(0, colon) != kKeyName) {
    return InternalError("cannot decrypt " + kv->key +
                         ": encrypted with an unknown key");
  }
  v.remove_prefix(colon + 1);
  if (v.size() < kNonceBytes + kTagBytes) {
    return InternalError("cannot decrypt " + kv->key + ": truncated value");
  }
  std::string_view nonce = v.substr(0, kNonceBytes);
  std::string_view body =
      v.substr(kNonceBytes, v.size() - kNonceBytes - kTagBytes);
  std::string_view tag = v.substr(v.size() - kTagBytes);
  Gcm gcm(key_);
  if (!gcm.ok()) return InternalError("AES-256-GCM: cannot set the key");
  std::string plain(body.size(), '\0');
  if (mbedtls_gcm_auth_decrypt(
          gcm.get(), body.size(), U(nonce), kNonceBytes, U(kv->key),
          kv->key.size(), U(tag), kTagBytes, U(body),
          reinterpret_cast<unsigned char*>(plain.data())) != 0) {
    return InternalError("cannot decrypt " + kv->key +
                         ": wrong key or tampered value");
  }
  kv->value = std::move(plain);
  return Status::Ok();
}

StatusOr<int64_t> EncryptingBackend::Create(std::string_view key,
                                            std::string_view value,
                                            int64_t ttl_seconds) {
  KITE_ASSIGN_OR_RETURN(std::string sealed, Seal(key, value));
  return inner_.Create(key, sealed, ttl_seconds);
}

StatusOr<int64_t> EncryptingBackend::Update(std::string_view key,
                                            std::string_view value,
                                            int64_t expected_mod_revision,
                                            int64_t ttl_seconds) {
  KITE_ASSIGN_OR_RETURN(std::string sealed, Seal(key, value));
  return inner_.Update(key, sealed, expected_mod_revision, ttl_seconds);
}

StatusOr<datastore::DeleteResult> EncryptingBackend::Delete(
    std::string_view key, int64_t expected_mod_revision) {
  KITE_ASSIGN_OR_RETURN(datastore::DeleteResult r,
                        inner_.Delete(key, expected_mod_revision));
  KITE_RETURN_IF_ERROR(Open(&r.prev_kv));
  return r;
}

StatusOr<datastore::KeyValue> EncryptingBackend::Get(std::string_view key,
                                                     int64_t revision) {
  KITE_ASSIGN_OR_RETURN(datastore::KeyValue kv, inner_.Get(key, revision));
  KITE_RETURN_IF_ERROR(Open(&kv));
  return kv;
}

StatusOr<datastore::ListResult> EncryptingBackend::List(
    std::string_view prefix, const datastore::ListOptions& options) {
  KITE_ASSIGN_OR_RETURN(datastore::ListResult r, inner_.List(prefix, options));
  for (datastore::KeyValue& kv : r.kvs) KITE_RETURN_IF_ERROR(Open(&kv));
  return r;
}

StatusOr<std::shared_ptr<datastore::Watcher>> EncryptingBackend::Watch(
    std::string_view prefix, int64_t after_revision) {
  KITE_ASSIGN_OR_RETURN(std::shared_ptr<datastore::Watcher> w,
                        inner_.Watch(prefix, after_revision));
  return std::shared_ptr<datastore::Watcher>(
      std::make_shared<DecryptingWatcher>(std::move(w), *this));
}

}  // namespace kite::apiserver

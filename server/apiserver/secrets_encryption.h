// SecretsEncryption: Secret values encrypted at rest (kite server
// --secrets-encryption), as Kubernetes' aesgcm encryption provider does.
//
// EncryptingBackend decorates the datastore Backend the request path uses:
//  - writes of keys under /registry/secrets/ store
//      "k8s:enc:aesgcm:v1:<key name>:" + nonce (12 bytes) + AES-256-GCM
//      ciphertext + tag (16 bytes)
//    with the datastore key as additional authenticated data (a value
//    copied to another key does not decrypt); other keys pass through;
//  - every value read (Get, List, Watch events, previous values) that
//    carries the prefix is decrypted; plaintext values pass through, so
//    secrets written before encryption was turned on stay readable (and are
//    encrypted by their next write), and turning it off again leaves what is
//    encrypted readable as long as the key file exists.
// A value that does not decrypt (another key, tampering) is an Internal
// error naming the datastore key.
//
// The key: 32 random bytes, base64 on one line in
// <data-dir>/server/cred/encryption-key (mode 0600), made on first use.
//
// Thread safety: safe for concurrent use, as the wrapped backend is.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/env.h"
#include "common/status.h"
#include "datastore/backend.h"
#include "tls/pki.h"

namespace kite::apiserver {

inline constexpr char kEncryptionPrefix[] = "k8s:enc:aesgcm:v1:";

// Reads the key at `path`, or (when `create`) makes and writes one when the
// file does not exist. NotFound when absent and !create; InvalidArgument
// when the file does not hold 32 base64-encoded bytes.
StatusOr<std::string> LoadEncryptionKey(Env& env, tls::Random& random,
                                        const std::string& path, bool create);

class EncryptingBackend : public datastore::Backend {
 public:
  // `inner` and `random` must outlive this. `key` is 32 bytes; `encrypt`
  // false only decrypts (encryption turned off, old values readable).
  EncryptingBackend(datastore::Backend& inner, tls::Random& random,
                    std::string key, bool encrypt);

  StatusOr<int64_t> Create(std::string_view key, std::string_view value,
                           int64_t ttl_seconds = 0) override;
  StatusOr<int64_t> Update(std::string_view key, std::string_view value,
                           int64_t expected_mod_revision,
                           int64_t ttl_seconds = 0) override;
  StatusOr<datastore::DeleteResult> Delete(
      std::string_view key, int64_t expected_mod_revision = 0) override;
  StatusOr<datastore::KeyValue> Get(std::string_view key,
                                    int64_t revision = 0) override;
  StatusOr<datastore::ListResult> List(
      std::string_view prefix,
      const datastore::ListOptions& options = {}) override;
  StatusOr<std::shared_ptr<datastore::Watcher>> Watch(
      std::string_view prefix, int64_t after_revision = 0) override;
  int64_t CurrentRevision() override { return inner_.CurrentRevision(); }
  int64_t CompactRevision() override { return inner_.CompactRevision(); }
  Status Compact(int64_t revision) override { return inner_.Compact(revision); }

  // The stored form of `value` at `key` (encrypted when it is a Secret).
  StatusOr<std::string> Seal(std::string_view key, std::string_view value);
  // Decrypts `kv->value` in place when it carries the prefix.
  Status Open(datastore::KeyValue* kv) const;

 private:
  datastore::Backend& inner_;
  tls::Random& random_;
  std::string key_;
  bool encrypt_;
};

}  // namespace kite::apiserver

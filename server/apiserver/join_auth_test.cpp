// Bootstrap-token authentication and Secrets encryption at rest.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <map>

#include "api/object.h"
#include "common/clock.h"
#include "datastore/memory_backend.h"
#include "server/apiserver/bootstrap_token.h"
#include "server/apiserver/secrets_encryption.h"

namespace kite::apiserver {
namespace {

using nlohmann::json;

class BootstrapTokenTest : public ::testing::Test {
 protected:
  BootstrapTokenTest()
      : auth_(
            [this](const std::string& name) -> StatusOr<json> {
              auto it = secrets_.find(name);
              if (it == secrets_.end()) return NotFoundError(name);
              return it->second;
            },
            clock_, &certs_) {}

  StatusOr<UserInfo> Bearer(const std::string& token) {
    Credentials c;
    c.bearer_token = token;
    return auth_.Authenticate(c);
  }

  std::map<std::string, json> secrets_;
  FakeClock clock_;
  CertificateAuthenticator certs_;
  BootstrapTokenAuthenticator auth_;
};

TEST_F(BootstrapTokenTest, ValidTokenIsTheBootstrapUser) {
  json s = BootstrapTokenSecret("abcdef", "0123456789abcdef", "test");
  secrets_[api::Name(s)] = s;
  auto u = Bearer("abcdef.0123456789abcdef");
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(u->name, "system:bootstrap:abcdef");
  EXPECT_EQ(u->groups, (std::vector<std::string>{"system:bootstrappers",
                                                 "system:authenticated"}));
  EXPECT_EQ(api::GetString(s, {"type"}), "bootstrap.kubernetes.io/token");
  EXPECT_EQ(api::GetString(s, {"metadata", "namespace"}), "kube-system");
}

TEST_F(BootstrapTokenTest, WrongMissingOrExpiredTokensAre401) {
  json s = BootstrapTokenSecret("abcdef", "0123456789abcdef", "",
                                clock_.Now() + std::chrono::hours(1));
  secrets_[api::Name(s)] = s;
  EXPECT_TRUE(Bearer("abcdef.0123456789abcdef").ok());
  EXPECT_EQ(Bearer("abcdef.0123456789abcdee").status().code(),
            Code::kUnauthenticated);
  EXPECT_EQ(Bearer("zzzzzz.0123456789abcdef").status().code(),
            Code::kUnauthenticated);
  clock_.Advance(std::chrono::hours(1));
  auto expired = Bearer("abcdef.0123456789abcdef");
  EXPECT_EQ(expired.status().code(), Code::kUnauthenticated);
  EXPECT_NE(expired.status().message().find("expired"), std::string::npos);
}

TEST_F(BootstrapTokenTest, TokenNotForAuthenticationIsRefused) {
  json s = BootstrapTokenSecret("abcdef", "0123456789abcdef", "");
  s["data"].erase("usage-bootstrap-authentication");
  secrets_[api::Name(s)] = s;
  EXPECT_EQ(Bearer("abcdef.0123456789abcdef").status().code(),
            Code::kUnauthenticated);
}

TEST_F(BootstrapTokenTest, OtherCredentialsGoToTheNextAuthenticator) {
  Credentials cert;
  cert.cert_verified = true;
  cert.cert_common_name = "alice";
  auto u = auth_.Authenticate(cert);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->name, "alice");
  // What the next one answers: the certificate authenticator does not know
  // bearer tokens (NotFound: "not my kind of credential").
  EXPECT_EQ(Bearer("not-a-bootstrap-token").status().code(), Code::kNotFound);
  // Alone (a member of a chain), it leaves other credentials alone.
  BootstrapTokenAuthenticator alone(
      [](const std::string& n) -> StatusOr<json> { return NotFoundError(n); },
      clock_);
  EXPECT_EQ(alone.Authenticate(cert).status().code(), Code::kNotFound);
  Credentials other;
  other.bearer_token = "some-other-token";
  EXPECT_EQ(alone.Authenticate(other).status().code(), Code::kNotFound);
  other.bearer_token = "abcdef.0123456789abcdef";
  EXPECT_EQ(alone.Authenticate(other).status().code(), Code::kUnauthenticated);
}

class EncryptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = tls::Random::Create();
    ASSERT_TRUE(r.ok());
    random_ = std::move(r).value();
    auto k = random_->Bytes(32);
    ASSERT_TRUE(k.ok());
    key_ = *k;
  }
  datastore::MemoryBackend raw_;
  std::unique_ptr<tls::Random> random_;
  std::string key_;
};

TEST_F(EncryptionTest, SecretsAreSealedAndReadBackOthersPassThrough) {
  EncryptingBackend enc(raw_, *random_, key_, true);
  const std::string secret = R"({"data":{"password":"aHVudGVyMg=="}})";
  auto rev = enc.Create("/registry/secrets/default/s", secret);
  ASSERT_TRUE(rev.ok());
  ASSERT_TRUE(enc.Create("/registry/configmaps/default/c", "{\"a\":1}").ok());
  auto stored = raw_.Get("/registry/secrets/default/s");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->value.rfind("k8s:enc:aesgcm:v1:key1:", 0), 0u);
  EXPECT_EQ(stored->value.find("aHVudGVyMg=="), std::string::npos);
  EXPECT_EQ(raw_.Get("/registry/configmaps/default/c")->value, "{\"a\":1}");

  EXPECT_EQ(enc.Get("/registry/secrets/default/s")->value, secret);
  auto list = enc.List("/registry/secrets/");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->kvs.size(), 1u);
  EXPECT_EQ(list->kvs[0].value, secret);

  auto w = enc.Watch("/registry/secrets/", raw_.CurrentRevision());
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(
      enc.Update("/registry/secrets/default/s", "{\"v\":2}", *rev).ok());
  auto batch = (*w)->Next(std::chrono::seconds(5));
  ASSERT_TRUE(batch.ok());
  ASSERT_EQ(batch->events.size(), 1u);
  EXPECT_EQ(batch->events[0].kv.value, "{\"v\":2}");
  EXPECT_EQ(batch->events[0].prev_kv.value, secret);
  auto del = enc.Delete("/registry/secrets/default/s");
  ASSERT_TRUE(del.ok());
  EXPECT_EQ(del->prev_kv.value, "{\"v\":2}");
}

TEST_F(EncryptionTest, PlaintextStaysReadableAndTamperingIsAnError) {
  ASSERT_TRUE(raw_.Create("/registry/secrets/default/old", "{\"p\":1}").ok());
  EncryptingBackend enc(raw_, *random_, key_, true);
  EXPECT_EQ(enc.Get("/registry/secrets/default/old")->value, "{\"p\":1}");

  ASSERT_TRUE(enc.Create("/registry/secrets/default/new", "{\"n\":1}").ok());
  // Another key cannot read it.
  auto other_key = random_->Bytes(32);
  ASSERT_TRUE(other_key.ok());
  EncryptingBackend other(raw_, *random_, *other_key, true);
  EXPECT_EQ(other.Get("/registry/secrets/default/new").status().code(),
            Code::kInternal);
  // A sealed value moved to another key does not open (the key is AAD).
  std::string sealed = raw_.Get("/registry/secrets/default/new")->value;
  ASSERT_TRUE(raw_.Create("/registry/secrets/default/copy", sealed).ok());
  EXPECT_EQ(enc.Get("/registry/secrets/default/copy").status().code(),
            Code::kInternal);
  // Decrypt-only mode (encryption turned off) still reads it, writes plain.
  EncryptingBackend off(raw_, *random_, key_, false);
  EXPECT_EQ(off.Get("/registry/secrets/default/new")->value, "{\"n\":1}");
  ASSERT_TRUE(off.Create("/registry/secrets/default/plain", "{\"x\":1}").ok());
  EXPECT_EQ(raw_.Get("/registry/secrets/default/plain")->value, "{\"x\":1}");
}

TEST(EncryptionKeyTest, CreatedOnceWithMode0600) {
  auto r = tls::Random::Create();
  ASSERT_TRUE(r.ok());
  std::string dir = ::testing::TempDir() + "/kite_enc_key_test";
  std::string path = dir + "/cred/encryption-key";
  std::remove(path.c_str());
  EXPECT_EQ(LoadEncryptionKey(RealEnv(), **r, path, false).status().code(),
            Code::kNotFound);
  auto k1 = LoadEncryptionKey(RealEnv(), **r, path, true);
  ASSERT_TRUE(k1.ok()) << k1.status().ToString();
  EXPECT_EQ(k1->size(), 32u);
  auto k2 = LoadEncryptionKey(RealEnv(), **r, path, true);
  ASSERT_TRUE(k2.ok());
  EXPECT_EQ(*k1, *k2);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace kite::apiserver

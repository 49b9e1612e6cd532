// The HTTPS front door: authentication, health, watch streaming, limits.
#include "server/apiserver/api_server.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "common/env.h"
#include "datastore/memory_backend.h"
#include "server/apiserver/bootstrap.h"
#include "tls/cluster_pki.h"
#include "tls/pki.h"
#include "tls/tls_client.h"

namespace kite::apiserver {
namespace {

using nlohmann::json;

class ApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    random_ = std::move(tls::Random::Create()).value();
    tls::ClusterPkiOptions opts;
    opts.dir = "/pki";
    auto pki = tls::ClusterPki::Load(env_, RealClock(), *random_, opts);
    ASSERT_TRUE(pki.ok()) << pki.status().ToString();
    pki_ = std::make_unique<tls::ClusterPki>(std::move(pki).value());
    handler_ = std::move(Handler::Create(store_, RealClock(), HandlerConfig{},
                                         nullptr))
                   .value();
    ASSERT_TRUE(handler_->Init().ok());
    ASSERT_TRUE(
        Bootstrap(*handler_, {.advertise_address = "127.0.0.1", .port = 6443})
            .ok());
    ServingConfig sc;
    sc.bind_address = "127.0.0.1";
    sc.port = 0;
    sc.cert_pem = pki_->serving().cert_pem;
    sc.key_pem = pki_->serving().key_pem;
    sc.client_ca_pem = pki_->client_ca().cert_pem;
    server_ = std::make_unique<ApiServer>(sc, *handler_, authn_);
    ASSERT_TRUE(server_->Start().ok());
  }
  void TearDown() override { server_->Stop(); }

  std::unique_ptr<tls::TlsClient> Client(bool with_cert) {
    tls::TlsClientOptions o;
    o.host = "127.0.0.1";
    o.port = server_->port();
    o.ca_pem = pki_->server_ca().cert_pem;
    if (with_cert) {
      o.cert_pem = pki_->admin().cert_pem;
      o.key_pem = pki_->admin().key_pem;
    }
    return std::move(tls::TlsClient::Create(o)).value();
  }

  FakeEnv env_;
  std::unique_ptr<tls::Random> random_;
  std::unique_ptr<tls::ClusterPki> pki_;
  datastore::MemoryBackend store_;
  std::unique_ptr<Handler> handler_;
  CertificateAuthenticator authn_;
  std::unique_ptr<ApiServer> server_;
};

TEST_F(ApiServerTest, HealthAndVersionNeedNoCredentials) {
  auto c = Client(false);
  for (const char* path : {"/healthz", "/livez", "/readyz"}) {
    auto r = c->Request("GET", path);
    ASSERT_TRUE(r.ok()) << path;
    EXPECT_EQ(r->status, 200) << path;
    EXPECT_EQ(r->body, "ok");
  }
  auto v = c->Request("GET", "/version");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(json::parse(v->body)["minor"], "32");
}

TEST_F(ApiServerTest, EverythingElseNeedsAClientCertificate) {
  auto anon = Client(false);
  auto r = anon->Request("GET", "/api/v1/namespaces");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 401);
  json s = json::parse(r->body);
  EXPECT_EQ(s["kind"], "Status");
  EXPECT_EQ(s["reason"], "Unauthorized");

  auto admin = Client(true);
  auto ok = admin->Request("GET", "/api/v1/namespaces/default");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(json::parse(ok->body)["metadata"]["name"], "default");
  auto whoami = admin->Request(
      "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
      {{"Content-Type", "application/json"}},
      R"({"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"})");
  ASSERT_TRUE(whoami.ok());
  EXPECT_EQ(json::parse(whoami->body)["status"]["userInfo"]["username"],
            "system:admin");
  auto missing = admin->Request("GET", "/no/such/path");
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(json::parse(missing->body)["kind"], "Status");
}

TEST_F(ApiServerTest, OversizeBodiesAre413) {
  auto admin = Client(true);
  std::string big(kMaxBodyBytes + 10, 'x');
  auto r = admin->Request("POST", "/api/v1/namespaces/default/configmaps",
                          {{"Content-Type", "application/json"}}, big);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(json::parse(r->body)["reason"], "RequestEntityTooLarge");
}

TEST_F(ApiServerTest, WatchStreamsEventsAsTheyHappen) {
  auto watcher = Client(true);
  auto writer = Client(true);
  std::vector<std::string> lines;
  std::thread t([&] {
    auto r = watcher->Stream(
        "GET",
        "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=1",
        {}, "", [&](std::string_view line) {
          lines.emplace_back(line);
          return lines.size() < 2;
        });
    EXPECT_TRUE(r.ok()) << r.status().ToString();
  });
  for (const char* name : {"a", "b"}) {
    json cm = {{"apiVersion", "v1"},
               {"kind", "ConfigMap"},
               {"metadata", {{"name", name}}}};
    auto r = writer->Request("POST", "/api/v1/namespaces/default/configmaps",
                             {{"Content-Type", "application/json"}}, cm.dump());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 201);
  }
  t.join();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(json::parse(lines[0])["type"], "ADDED");
  EXPECT_EQ(json::parse(lines[1])["object"]["metadata"]["name"], "b");
  // A server stop ends open watches promptly.
  auto w2 = Client(true);
  std::thread t2([&] {
    auto r = w2->Stream(
        "GET",
        "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=1",
        {}, "", [](std::string_view) { return true; });
    (void)r;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto start = std::chrono::steady_clock::now();
  server_->Stop();
  t2.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

}  // namespace
}  // namespace kite::apiserver

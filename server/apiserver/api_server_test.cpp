#include "server/apiserver/api_server.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>

#include "datastore/memory_backend.h"

namespace kite::apiserver {
namespace {

class ApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ApiServer>(Config{.bind_address = "127.0.0.1", .port = 0}, store_);
    ASSERT_TRUE(server_->Start().ok());
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
  }
  void TearDown() override { server_->Stop(); }

  datastore::MemoryBackend store_;
  std::unique_ptr<ApiServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(ApiServerTest, HealthEndpointsSayOk) {
  for (const char* path : {"/healthz", "/livez", "/readyz"}) {
    auto res = client_->Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 200) << path;
    EXPECT_EQ(res->body, "ok") << path;
  }
}

TEST_F(ApiServerTest, VersionIsWhatKubectlChecks) {
  auto res = client_->Get("/version");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  auto v = nlohmann::json::parse(res->body);
  EXPECT_EQ(v["major"], "1");
  EXPECT_EQ(v["minor"], "32");
  EXPECT_EQ(v["gitVersion"].get<std::string>().rfind("v1.32.", 0), 0u);
}

TEST_F(ApiServerTest, UnknownPathIsAKubernetesStatus404) {
  auto res = client_->Get("/api/v1/nothing");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  auto s = nlohmann::json::parse(res->body);
  EXPECT_EQ(s["kind"], "Status");
  EXPECT_EQ(s["reason"], "NotFound");
  EXPECT_EQ(s["code"], 404);
}

TEST(ApiServerBindTest, TakenPortIsAClearError) {
  datastore::MemoryBackend store;
  ApiServer first(Config{.bind_address = "127.0.0.1", .port = 0}, store);
  ASSERT_TRUE(first.Start().ok());
  ApiServer second(Config{.bind_address = "127.0.0.1", .port = first.port()}, store);
  Status st = second.Start();
  EXPECT_EQ(st.code(), Code::kFailedPrecondition);
  EXPECT_NE(st.message().find(std::to_string(first.port())), std::string::npos);
}

}  // namespace
}  // namespace kite::apiserver

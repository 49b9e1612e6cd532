// The loopback client::Interface against the real request path.
#include "server/apiserver/loopback_client.h"

#include <gtest/gtest.h>

#include "datastore/memory_backend.h"
#include "server/apiserver/bootstrap.h"

namespace kite::apiserver {
namespace {

using client::Json;

class LoopbackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    handler_ = std::move(Handler::Create(store_, RealClock(), HandlerConfig{},
                                         nullptr))
                   .value();
    ASSERT_TRUE(handler_->Init().ok());
    ASSERT_TRUE(
        Bootstrap(*handler_, {.advertise_address = "127.0.0.1", .port = 6443})
            .ok());
    client_ =
        std::make_unique<LoopbackClient>(*handler_, ControllerManagerUser());
  }
  datastore::MemoryBackend store_;
  std::unique_ptr<Handler> handler_;
  std::unique_ptr<LoopbackClient> client_;
  const client::ResourceRef cms_{"", "v1", "configmaps", "default"};
};

TEST_F(LoopbackTest, CrudWithKubernetesErrorCodes) {
  Json cm = {{"apiVersion", "v1"},
             {"kind", "ConfigMap"},
             {"metadata", {{"name", "a"}}},
             {"data", {{"k", "v"}}}};
  auto created = client_->Create(cms_, cm, {.field_manager = "test"});
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(client_->Create(cms_, cm, {}).status().code(),
            Code::kAlreadyExists);
  auto got = client_->Get(cms_, "a", {});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)["data"]["k"], "v");
  EXPECT_EQ(client_->Get(cms_, "nope", {}).status().code(), Code::kNotFound);
  EXPECT_EQ(client_->Get(cms_, "nope", {}).status().message(),
            "configmaps \"nope\" not found");

  Json stale = *created;
  (*got)["data"]["k"] = "w";
  ASSERT_TRUE(client_->Update(cms_, *got, {}).ok());
  stale["data"]["k"] = "x";
  EXPECT_EQ(client_->Update(cms_, stale, {}).status().code(), Code::kConflict);

  auto patched = client_->Patch(cms_, "a", client::PatchType::kMerge,
                                R"({"data":{"p":"1"}})", {});
  ASSERT_TRUE(patched.ok());
  EXPECT_EQ((*patched)["data"]["p"], "1");
  auto list = client_->List(cms_, {.label_selector = ""});
  ASSERT_TRUE(list.ok());
  EXPECT_EQ((*list)["items"].size(), 1u);
  EXPECT_EQ(client_->List(cms_, {.label_selector = "a in (("}).status().code(),
            Code::kInvalidArgument);

  auto del = client_->Delete(cms_, "a", {});
  ASSERT_TRUE(del.ok());
  EXPECT_EQ(client_->Get(cms_, "a", {}).status().code(), Code::kNotFound);

  auto raw =
      client_->Do({.method = "GET", .path = "/api/v1/namespaces/default"});
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw->code, 200);
}

TEST_F(LoopbackTest, WatchDeliversEventsAndEndsOnCancel) {
  auto list = client_->List(cms_, {});
  ASSERT_TRUE(list.ok());
  std::string rv = (*list)["metadata"]["resourceVersion"];
  auto w = client_->Watch(cms_, {.resource_version = rv});
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  auto none = (*w)->Next(std::chrono::milliseconds(20));
  EXPECT_EQ(none.status().code(), Code::kDeadlineExceeded);
  Json cm = {{"apiVersion", "v1"},
             {"kind", "ConfigMap"},
             {"metadata", {{"name", "w"}}}};
  ASSERT_TRUE(client_->Create(cms_, cm, {}).ok());
  auto ev = (*w)->Next(std::chrono::seconds(5));
  ASSERT_TRUE(ev.ok()) << ev.status().ToString();
  EXPECT_EQ(ev->type, client::EventType::kAdded);
  EXPECT_EQ(ev->object["metadata"]["name"], "w");
  (*w)->Cancel();
  EXPECT_EQ((*w)->Next(std::chrono::milliseconds(10)).status().code(),
            Code::kCancelled);
}

}  // namespace
}  // namespace kite::apiserver

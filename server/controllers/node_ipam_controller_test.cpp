#include "server/controllers/node_ipam_controller.h"

#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <thread>

#include "api/object.h"
#include "client/fake_client.h"

namespace kite::controllers {
namespace {

using client::FakeClient;
using client::Json;
using client::ResourceRef;

const ResourceRef kNodes{"", "v1", "nodes", ""};

bool Eventually(const std::function<bool()>& cond) {
  for (int i = 0; i < 1000; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

class NodeIpamControllerTest : public ::testing::Test {
 protected:
  void Run(NodeIpamControllerOptions o = {}) {
    o.clock = &clock_;
    ic_ = std::make_unique<NodeIpamController>(fake_, informers_, o);
    ASSERT_TRUE(informers_.Start().ok());
    ASSERT_TRUE(informers_.WaitForSync(std::chrono::seconds(10)));
    ASSERT_TRUE(ic_->Start().ok());
  }
  void TearDown() override {
    if (ic_) ic_->Stop();
    informers_.Stop();
  }
  void Node(const std::string& name, const std::string& cidr = "") {
    Json n = {{"apiVersion", "v1"},
              {"kind", "Node"},
              {"metadata", {{"name", name}}},
              {"spec", Json::object()}};
    if (!cidr.empty()) n["spec"]["podCIDR"] = cidr;
    ASSERT_TRUE(fake_.Create(kNodes, n, {}).ok());
  }
  std::string Cidr(const std::string& name) {
    auto n = fake_.Get(kNodes, name, {});
    return n.ok() ? api::GetString(*n, {"spec", "podCIDR"}) : "";
  }

  FakeClock clock_;
  FakeClient fake_{clock_};
  client::SharedInformerFactory informers_{fake_};
  std::unique_ptr<NodeIpamController> ic_;
};

TEST_F(NodeIpamControllerTest, DistinctBlocksAroundExistingOnes) {
  Node("old", "10.42.1.0/24");  // e.g. from before a restart
  Run();
  for (const char* n : {"a", "b", "c"}) Node(n);
  ASSERT_TRUE(Eventually([&] {
    return !Cidr("a").empty() && !Cidr("b").empty() && !Cidr("c").empty();
  }));
  std::set<std::string> all = {Cidr("old"), Cidr("a"), Cidr("b"), Cidr("c")};
  EXPECT_EQ(all.size(), 4u);
  EXPECT_TRUE(all.count("10.42.0.0/24"));
  EXPECT_TRUE(all.count("10.42.2.0/24"));
  EXPECT_TRUE(all.count("10.42.3.0/24"));
  Json a = *fake_.Get(kNodes, "a", {});
  EXPECT_EQ(a["spec"]["podCIDRs"], Json::array({Cidr("a")}));
}

TEST_F(NodeIpamControllerTest, FullRangeIsAnErrorWithAnEvent) {
  NodeIpamControllerOptions o;
  o.cluster_cidr = "10.42.0.0/23";  // two /24s
  Run(o);
  Node("a");
  Node("b");
  ASSERT_TRUE(
      Eventually([&] { return !Cidr("a").empty() && !Cidr("b").empty(); }));
  Node("c");
  ASSERT_TRUE(Eventually([&] { return ic_->queue().NumRequeues("c") > 0; }));
  EXPECT_EQ(Cidr("c"), "");
  auto evs = fake_.List({"", "v1", "events", "default"}, {});
  ASSERT_TRUE(evs.ok());
  ASSERT_FALSE((*evs)["items"].empty());
  EXPECT_EQ((*evs)["items"][0]["reason"], "CIDRNotAvailable");
  // A node going frees its block.
  ASSERT_TRUE(fake_.Delete(kNodes, "a", {}).ok());
  ASSERT_TRUE(Eventually([&] { return informers_.For(kNodes).Size() == 2; }));
  ic_->Stop();
  ASSERT_TRUE(ic_->Sync("c").ok());
  EXPECT_FALSE(Cidr("c").empty());
  EXPECT_NE(Cidr("c"), Cidr("b"));
}

TEST_F(NodeIpamControllerTest, BadCidrFailsToStart) {
  NodeIpamControllerOptions o;
  o.cluster_cidr = "10.42.0.0";
  NodeIpamController bad(fake_, informers_, o);
  EXPECT_EQ(bad.Start().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace kite::controllers

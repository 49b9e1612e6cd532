#include "server/controllers/servicelb_controller.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "api/object.h"
#include "client/fake_client.h"
#include "server/controllers/test_util.h"

namespace kite::controllers {
namespace {

using client::FakeClient;
using client::Json;
using client::ResourceRef;

const ResourceRef kNodes{"", "v1", "nodes", ""};
const ResourceRef kServices{"", "v1", "services", "default"};

Json Ingress(std::initializer_list<const char*> ips) {
  Json out = Json::array();
  for (const char* ip : ips) out.push_back({{"ip", ip}, {"ipMode", "VIP"}});
  return out;
}

class ServiceLbControllerTest : public ::testing::Test {
 protected:
  void Run() {
    c_ = std::make_unique<ServiceLbController>(
        fake_, informers_, ServiceLbControllerOptions{.clock = &clock_});
    ASSERT_TRUE(informers_.Start().ok());
    ASSERT_TRUE(informers_.WaitForSync(std::chrono::seconds(10)));
    ASSERT_TRUE(c_->Start().ok());
  }
  void TearDown() override {
    if (c_) c_->Stop();
    informers_.Stop();
  }
  // Waits until the informers reflect the fake's latest write and the
  // controller has nothing left to do.
  void Settle() {
    const int64_t rv = fake_.ResourceVersion();
    ASSERT_TRUE(Eventually([&] {
      fake_.SendBookmarks();
      for (const ResourceRef& r : {kNodes, ResourceRef{"", "v1", "services"}}) {
        if (std::stoll("0" + informers_.For(r).LastResourceVersion()) < rv)
          return false;
      }
      return true;
    }));
    ASSERT_TRUE(Eventually([&] { return c_->queue().Len() == 0; }));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_TRUE(Eventually([&] { return c_->queue().Len() == 0; }));
  }
  // A node with these addresses ({type, address}), Ready or not.
  Json MakeNode(const std::string& name,
                std::vector<std::pair<std::string, std::string>> addresses,
                bool ready = true) {
    Json as = Json::array();
    for (const auto& [t, a] : addresses)
      as.push_back({{"type", t}, {"address", a}});
    return {{"apiVersion", "v1"},
            {"kind", "Node"},
            {"metadata", {{"name", name}}},
            {"spec", Json::object()},
            {"status",
             {{"addresses", as},
              {"conditions",
               {{{"type", "Ready"},
                 {"status", ready ? "True" : "False"},
                 {"lastHeartbeatTime", api::FormatTime(clock_.Now())}}}}}}};
  }
  void AddNode(const Json& n) { ASSERT_TRUE(fake_.Create(kNodes, n, {}).ok()); }
  void AddNode(const std::string& name, const std::string& internal_ip,
               bool ready = true) {
    AddNode(MakeNode(name, {{"InternalIP", internal_ip}}, ready));
  }
  void SetReady(const std::string& name, bool ready) {
    Json n = *fake_.Get(kNodes, name, {});
    n["status"]["conditions"][0]["status"] = ready ? "True" : "False";
    ASSERT_TRUE(fake_.Update(kNodes, n, {.subresource = "status"}).ok());
  }
  // A Service with these ports ({port, protocol}).
  void AddService(const std::string& name, const std::string& type,
                  std::vector<std::pair<int, std::string>> ports = {{80,
                                                                     "TCP"}},
                  const std::string& lb_class = "") {
    Json ps = Json::array();
    for (const auto& [port, proto] : ports) {
      ps.push_back({{"name", "p" + std::to_string(port) + proto},
                    {"port", port},
                    {"protocol", proto}});
    }
    Json s = {{"apiVersion", "v1"},
              {"kind", "Service"},
              {"metadata", {{"name", name}, {"namespace", "default"}}},
              {"spec", {{"type", type}, {"ports", ps}}}};
    if (!lb_class.empty()) s["spec"]["loadBalancerClass"] = lb_class;
    ASSERT_TRUE(fake_.Create(kServices, s, {}).ok());
  }
  Json IngressOf(const std::string& svc) {
    auto s = fake_.Get(kServices, svc, {});
    if (!s.ok()) return Json();
    const Json* in = api::FieldPath(*s, {"status", "loadBalancer", "ingress"});
    return in != nullptr ? *in : Json::array();
  }
  int StatusWrites() {
    int n = 0;
    for (const auto& a : fake_.Actions()) {
      // The controller only patches; the tests create and update.
      if (a.ref.resource == "services" && a.verb == "patch") {
        EXPECT_EQ(a.subresource, "status") << a.verb << " " << a.name;
        ++n;
      }
    }
    return n;
  }

  FakeClock clock_;
  FakeClient fake_{clock_};
  client::SharedInformerFactory informers_{fake_};
  std::unique_ptr<ServiceLbController> c_;
};

TEST_F(ServiceLbControllerTest, IngressIsTheServingNodesAddressesSorted) {
  AddNode("b", "10.0.0.3");
  AddNode(MakeNode("a", {{"InternalIP", "10.0.0.2"},
                         {"ExternalIP", "203.0.113.7"},
                         {"Hostname", "a"}}));
  AddNode("not-ready", "10.0.0.4", /*ready=*/false);
  Json cordoned = MakeNode("cordoned", {{"InternalIP", "10.0.0.10"}});
  cordoned["spec"]["unschedulable"] = true;
  AddNode(cordoned);
  Json excluded = MakeNode("excluded", {{"InternalIP", "10.0.0.6"}});
  excluded["metadata"]["labels"] = {{ServiceLbController::kExcludeLabel, ""}};
  AddNode(excluded);
  AddNode(MakeNode("no-address", {}));
  AddService("web", "LoadBalancer");
  AddService("internal", "ClusterIP");
  Run();
  ASSERT_TRUE(Eventually([&] { return !IngressOf("web").empty(); }));
  // ExternalIP over InternalIP; string order, as kubectl lists them.
  EXPECT_EQ(IngressOf("web"),
            Ingress({"10.0.0.10", "10.0.0.3", "203.0.113.7"}));
  Settle();
  EXPECT_EQ(IngressOf("internal"), Json::array());
  EXPECT_EQ(StatusWrites(), 1);  // web's, nothing for the ClusterIP one
  EXPECT_EQ(CountEvents(fake_, "default", "web", "UpdatedLoadBalancer"), 1);
}

TEST_F(ServiceLbControllerTest, FollowsNodesComingGoingAndTurningNotReady) {
  AddNode("a", "10.0.0.1");
  AddService("web", "LoadBalancer");
  Run();
  ASSERT_TRUE(
      Eventually([&] { return IngressOf("web") == Ingress({"10.0.0.1"}); }));
  AddNode("b", "10.0.0.2");
  ASSERT_TRUE(Eventually([&] {
    return IngressOf("web") == Ingress({"10.0.0.1", "10.0.0.2"});
  }));
  SetReady("a", false);
  ASSERT_TRUE(
      Eventually([&] { return IngressOf("web") == Ingress({"10.0.0.2"}); }));
  SetReady("a", true);
  ASSERT_TRUE(Eventually([&] {
    return IngressOf("web") == Ingress({"10.0.0.1", "10.0.0.2"});
  }));
  ASSERT_TRUE(fake_.Delete(kNodes, "b", {}).ok());
  ASSERT_TRUE(
      Eventually([&] { return IngressOf("web") == Ingress({"10.0.0.1"}); }));
  ASSERT_TRUE(fake_.Delete(kNodes, "a", {}).ok());
  ASSERT_TRUE(Eventually([&] { return IngressOf("web") == Json::array(); }));
  // No node left: status.loadBalancer is empty, as for a pending Service.
  EXPECT_EQ((*fake_.Get(kServices, "web", {}))["status"]["loadBalancer"],
            Json::object());
}

TEST_F(ServiceLbControllerTest, EnableLbLabelLimitsToTheLabelledNodes) {
  AddNode("a", "10.0.0.1");
  Json b = MakeNode("b", {{"InternalIP", "10.0.0.2"}});
  b["metadata"]["labels"] = {{ServiceLbController::kEnableLbLabel, "true"}};
  AddNode(b);
  Json c = MakeNode("c", {{"InternalIP", "10.0.0.3"}});
  c["metadata"]["labels"] = {{ServiceLbController::kEnableLbLabel, "false"}};
  AddNode(c);
  AddService("web", "LoadBalancer");
  Run();
  ASSERT_TRUE(Eventually([&] { return !IngressOf("web").empty(); }));
  Settle();
  EXPECT_EQ(IngressOf("web"), Ingress({"10.0.0.2"}));
  // The label gone: every node again.
  Json cur = *fake_.Get(kNodes, "b", {});
  cur["metadata"].erase("labels");
  ASSERT_TRUE(fake_.Update(kNodes, cur, {}).ok());
  ASSERT_TRUE(Eventually([&] {
    return IngressOf("web") == Ingress({"10.0.0.1", "10.0.0.2", "10.0.0.3"});
  }));
}

TEST_F(ServiceLbControllerTest, ServicesWithALoadBalancerClassAreLeftAlone) {
  AddNode("a", "10.0.0.1");
  AddService("other", "LoadBalancer", {{80, "TCP"}}, "example.com/lb");
  AddService("mine", "LoadBalancer", {{80, "TCP"}});
  Run();
  // "mine" is younger only by name; the classed one holds no port here.
  ASSERT_TRUE(Eventually([&] { return !IngressOf("mine").empty(); }));
  Settle();
  EXPECT_EQ(IngressOf("other"), Json::array());
  EXPECT_EQ(StatusWrites(), 1);
  EXPECT_EQ(CountEvents(fake_, "default", "mine", "PortInUse"), 0);
}

TEST_F(ServiceLbControllerTest, ThePortGoesToTheOldestServiceTheOtherWaits) {
  AddNode("a", "10.0.0.1");
  AddService("young", "LoadBalancer", {{80, "TCP"}});  // name sorts last...
  clock_.Advance(std::chrono::seconds(5));
  AddService("b-newer", "LoadBalancer", {{443, "TCP"}, {80, "TCP"}});
  AddService("a-newer", "LoadBalancer", {{8080, "TCP"}, {80, "TCP"}});
  AddService("udp", "LoadBalancer", {{80, "UDP"}});  // another protocol
  Run();
  ASSERT_TRUE(Eventually([&] {
    return CountEvents(fake_, "default", "a-newer", "PortInUse") == 1 &&
           CountEvents(fake_, "default", "b-newer", "PortInUse") == 1;
  }));
  Settle();
  // ...but "young" was created first.
  EXPECT_EQ(IngressOf("young"), Ingress({"10.0.0.1"}));
  EXPECT_EQ(IngressOf("udp"), Ingress({"10.0.0.1"}));
  EXPECT_EQ(IngressOf("a-newer"), Json::array());
  EXPECT_EQ(IngressOf("b-newer"), Json::array());
  auto events = fake_.List(kEventsRef.In("default"), {});
  ASSERT_TRUE(events.ok());
  for (const Json& e : (*events)["items"]) {
    if (api::GetString(e, {"reason"}) != "PortInUse") continue;
    EXPECT_EQ(api::GetString(e, {"type"}), "Warning");
    EXPECT_EQ(api::GetString(e, {"involvedObject", "kind"}), "Service");
    EXPECT_NE(api::GetString(e, {"message"})
                  .find("port 80/TCP is already used by LoadBalancer Service "
                        "default/young"),
              std::string::npos)
        << e.dump();
  }

  // More passes (a node comes) report the conflict no second time.
  AddNode("b", "10.0.0.2");
  ASSERT_TRUE(Eventually([&] {
    return IngressOf("young") == Ingress({"10.0.0.1", "10.0.0.2"});
  }));
  Settle();
  EXPECT_EQ(CountEvents(fake_, "default", "a-newer", "PortInUse"), 1);

  // The holder goes: the next oldest (same time: by name) takes port 80,
  // and the last one now waits for it, held by a-newer.
  ASSERT_TRUE(fake_.Delete(kServices, "young", {}).ok());
  ASSERT_TRUE(Eventually([&] {
    return IngressOf("a-newer") == Ingress({"10.0.0.1", "10.0.0.2"});
  }));
  Settle();
  EXPECT_EQ(IngressOf("b-newer"), Json::array());
  EXPECT_EQ(CountEvents(fake_, "default", "b-newer", "PortInUse"), 2);

  // a-newer stops being a LoadBalancer: its status is cleared and b-newer
  // gets the port.
  Json a = *fake_.Get(kServices, "a-newer", {});
  a["spec"]["type"] = "ClusterIP";
  ASSERT_TRUE(fake_.Update(kServices, a, {}).ok());
  ASSERT_TRUE(Eventually([&] {
    return IngressOf("b-newer") == Ingress({"10.0.0.1", "10.0.0.2"});
  }));
  ASSERT_TRUE(
      Eventually([&] { return IngressOf("a-newer") == Json::array(); }));
  EXPECT_EQ((*fake_.Get(kServices, "a-newer", {}))["status"]["loadBalancer"],
            Json::object());
}

TEST_F(ServiceLbControllerTest, OnlyTheServicesIpFamilies) {
  AddNode(MakeNode("dual",
                   {{"InternalIP", "10.0.0.1"}, {"InternalIP", "fd00::1"}}));
  AddService("v4", "LoadBalancer", {{80, "TCP"}});
  Json v6 = {{"apiVersion", "v1"},
             {"kind", "Service"},
             {"metadata", {{"name", "v6"}, {"namespace", "default"}}},
             {"spec",
              {{"type", "LoadBalancer"},
               {"ipFamilies", {"IPv6"}},
               {"ports", {{{"port", 81}, {"protocol", "TCP"}}}}}}};
  ASSERT_TRUE(fake_.Create(kServices, v6, {}).ok());
  Json dual = v6;
  dual["metadata"]["name"] = "dual";
  dual["spec"]["ipFamilies"] = {"IPv4", "IPv6"};
  dual["spec"]["ports"][0]["port"] = 82;
  ASSERT_TRUE(fake_.Create(kServices, dual, {}).ok());
  Run();
  ASSERT_TRUE(Eventually([&] {
    return !IngressOf("v4").empty() && !IngressOf("v6").empty() &&
           !IngressOf("dual").empty();
  }));
  // "v4" names no family (as the fake stores it): every address.
  EXPECT_EQ(IngressOf("v4"), Ingress({"10.0.0.1", "fd00::1"}));
  EXPECT_EQ(IngressOf("v6"), Ingress({"fd00::1"}));
  EXPECT_EQ(IngressOf("dual"), Ingress({"10.0.0.1", "fd00::1"}));
  Json only4 = *fake_.Get(kServices, "v4", {});
  only4["spec"]["ipFamilies"] = {"IPv4"};
  ASSERT_TRUE(fake_.Update(kServices, only4, {}).ok());
  ASSERT_TRUE(
      Eventually([&] { return IngressOf("v4") == Ingress({"10.0.0.1"}); }));
}

TEST_F(ServiceLbControllerTest, NoWriteWhenNothingChanges) {
  AddNode("a", "10.0.0.1");
  AddService("web", "LoadBalancer");
  Run();
  ASSERT_TRUE(Eventually([&] { return !IngressOf("web").empty(); }));
  Settle();
  ASSERT_EQ(StatusWrites(), 1);
  // Heartbeats, a label on the Service, a resync of everything: no write.
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(std::chrono::seconds(10));
    Json n = *fake_.Get(kNodes, "a", {});
    n["status"]["conditions"][0]["lastHeartbeatTime"] =
        api::FormatTime(clock_.Now());
    ASSERT_TRUE(fake_.Update(kNodes, n, {.subresource = "status"}).ok());
  }
  Json s = *fake_.Get(kServices, "web", {});
  s["metadata"]["labels"] = {{"x", "y"}};
  ASSERT_TRUE(fake_.Update(kServices, s, {}).ok());
  Settle();
  ASSERT_TRUE(c_->Sync().ok());
  EXPECT_EQ(StatusWrites(), 1);
  EXPECT_EQ(IngressOf("web"), Ingress({"10.0.0.1"}));
}

TEST_F(ServiceLbControllerTest, AFailedWriteIsRetried) {
  AddNode("a", "10.0.0.1");
  AddService("web", "LoadBalancer");
  fake_.InjectError("patch", "services", UnavailableError("injected"), 1);
  Run();
  // The retry waits out its back-off on the controller's clock.
  ASSERT_TRUE(Eventually([&] {
    clock_.Advance(std::chrono::seconds(1));
    return IngressOf("web") == Ingress({"10.0.0.1"});
  }));
}

TEST_F(ServiceLbControllerTest, NodeAddressesRules) {
  auto node = [&](Json n) {
    return std::make_shared<const Json>(std::move(n));
  };
  EXPECT_TRUE(ServiceLbController::NodeAddresses({}).empty());
  Json two_external = MakeNode("x", {{"InternalIP", "10.0.0.1"},
                                     {"ExternalIP", "198.51.100.2"},
                                     {"ExternalIP", "198.51.100.1"}});
  EXPECT_EQ(ServiceLbController::NodeAddresses({node(two_external)}),
            (std::vector<std::string>{"198.51.100.1", "198.51.100.2"}));
  // The same address on two nodes is listed once.
  EXPECT_EQ(ServiceLbController::NodeAddresses(
                {node(MakeNode("p", {{"InternalIP", "10.0.0.1"}})),
                 node(MakeNode("q", {{"InternalIP", "10.0.0.1"}}))}),
            (std::vector<std::string>{"10.0.0.1"}));
  // enablelb=true on a node that is not Ready: no address at all.
  Json off = MakeNode("off", {{"InternalIP", "10.0.0.9"}}, /*ready=*/false);
  off["metadata"]["labels"] = {{ServiceLbController::kEnableLbLabel, "true"}};
  EXPECT_TRUE(
      ServiceLbController::NodeAddresses(
          {node(off), node(MakeNode("p", {{"InternalIP", "10.0.0.1"}}))})
          .empty());
}

}  // namespace
}  // namespace kite::controllers

#include "server/controllers/endpoints_controller.h"

#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include "api/object.h"
#include "client/fake_client.h"

namespace kite::controllers {
namespace {

using client::FakeClient;
using client::Json;
using client::ResourceRef;

const ResourceRef kServices{"", "v1", "services", ""};
const ResourceRef kPods{"", "v1", "pods", ""};
const ResourceRef kEndpoints{"", "v1", "endpoints", ""};
const ResourceRef kSlices{"discovery.k8s.io", "v1", "endpointslices", ""};

bool Eventually(const std::function<bool()>& cond) {
  for (int i = 0; i < 1000; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

class EndpointsControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    EndpointsControllerOptions o;
    o.clock = &clock_;
    ec_ = std::make_unique<EndpointsController>(fake_, informers_, o);
    ASSERT_TRUE(informers_.Start().ok());
    ASSERT_TRUE(informers_.WaitForSync(std::chrono::seconds(10)));
    ASSERT_TRUE(ec_->Start().ok());
  }
  void TearDown() override {
    ec_->Stop();
    informers_.Stop();
  }

  void Service(const std::string& name, Json spec) {
    Json svc = {{"apiVersion", "v1"},
                {"kind", "Service"},
                {"metadata",
                 {{"name", name},
                  {"namespace", "demo"},
                  {"labels", {{"tier", "front"}}}}},
                {"spec", std::move(spec)}};
    ASSERT_TRUE(fake_.Create(kServices.In("demo"), svc, {}).ok());
  }
  void Pod(const std::string& name, const std::string& ip, bool ready,
           Json extra_spec = Json::object()) {
    Json spec = {
        {"nodeName", "node-1"},
        {"containers",
         {{{"name", "web"},
           {"ports", {{{"name", "http"}, {"containerPort", 8080}}}}}}}};
    spec.update(extra_spec);
    Json pod = {
        {"apiVersion", "v1"},
        {"kind", "Pod"},
        {"metadata",
         {{"name", name}, {"namespace", "demo"}, {"labels", {{"app", "web"}}}}},
        {"spec", spec},
        {"status",
         {{"phase", "Running"},
          {"podIP", ip},
          {"conditions",
           {{{"type", "Ready"}, {"status", ready ? "True" : "False"}}}}}}};
    ASSERT_TRUE(fake_.Create(kPods.In("demo"), pod, {}).ok());
  }
  Json Endpoints(const std::string& name) {
    auto r = fake_.Get(kEndpoints.In("demo"), name, {});
    return r.ok() ? *r : Json();
  }
  std::vector<Json> Slices(const std::string& svc) {
    client::ListOptions lo;
    lo.label_selector = "kubernetes.io/service-name=" + svc;
    auto l = fake_.List(kSlices.In("demo"), lo);
    return l.ok() ? (*l)["items"].get<std::vector<Json>>()
                  : std::vector<Json>();
  }

  FakeClock clock_;
  FakeClient fake_{clock_};
  client::SharedInformerFactory informers_{fake_};
  std::unique_ptr<EndpointsController> ec_;
};

TEST_F(EndpointsControllerTest, ReadyAndNotReadyAddressesWithNamedPorts) {
  Pod("web-a", "10.42.0.5", true);
  Pod("web-b", "10.42.0.6", false);
  Pod("no-ip", "", true);
  Service("web", {{"selector", {{"app", "web"}}},
                  {"ports",
                   {{{"name", "http"},
                     {"port", 80},
                     {"targetPort", "http"},
                     {"protocol", "TCP"}}}}});
  ASSERT_TRUE(Eventually([&] {
    Json ep = Endpoints("web");
    return ep.contains("subsets") &&
           ep["subsets"][0].contains("notReadyAddresses");
  }));
  Json sub = Endpoints("web")["subsets"][0];
  ASSERT_EQ(sub["addresses"].size(), 1u);
  EXPECT_EQ(sub["addresses"][0]["ip"], "10.42.0.5");
  EXPECT_EQ(sub["addresses"][0]["nodeName"], "node-1");
  EXPECT_EQ(sub["addresses"][0]["targetRef"]["name"], "web-a");
  EXPECT_EQ(sub["addresses"][0]["targetRef"]["kind"], "Pod");
  ASSERT_EQ(sub["notReadyAddresses"].size(), 1u);
  EXPECT_EQ(sub["notReadyAddresses"][0]["ip"], "10.42.0.6");
  EXPECT_EQ(sub["ports"][0]["port"], 8080);  // "http" resolved
  EXPECT_EQ(sub["ports"][0]["name"], "http");
  EXPECT_EQ(Endpoints("web")["metadata"]["labels"]["tier"], "front");

  std::vector<Json> slices = Slices("web");
  ASSERT_EQ(slices.size(), 1u);
  const Json& s = slices[0];
  EXPECT_EQ(s["addressType"], "IPv4");
  EXPECT_EQ(s["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"],
            "endpointslice-controller.k8s.io");
  EXPECT_EQ(s["metadata"]["ownerReferences"][0]["kind"], "Service");
  EXPECT_EQ(api::Name(s).rfind("web-", 0), 0u);
  ASSERT_EQ(s["endpoints"].size(), 2u);
  EXPECT_EQ(s["endpoints"][0]["addresses"][0], "10.42.0.5");
  EXPECT_EQ(s["endpoints"][0]["conditions"]["ready"], true);
  EXPECT_EQ(s["endpoints"][1]["conditions"]["ready"], false);
  EXPECT_EQ(s["endpoints"][1]["conditions"]["serving"], false);
  EXPECT_EQ(s["ports"][0]["port"], 8080);
}

TEST_F(EndpointsControllerTest, FollowsPodChangesAndTerminatingPods) {
  Service("web", {{"selector", {{"app", "web"}}},
                  {"ports", {{{"port", 80}, {"targetPort", 8080}}}}});
  ASSERT_TRUE(Eventually([&] { return Slices("web").size() == 1; }));
  EXPECT_FALSE(Endpoints("web").contains("subsets"));
  Pod("web-a", "10.42.0.5", true);
  ASSERT_TRUE(Eventually([&] {
    return Endpoints("web").contains("subsets") &&
           Slices("web")[0]["endpoints"].size() == 1;
  }));
  // Terminating: out of Endpoints, in the slice with terminating=true.
  Json p = *fake_.Get(kPods.In("demo"), "web-a", {});
  p["metadata"]["finalizers"] = {"example.com/hold"};
  ASSERT_TRUE(fake_.Update(kPods.In("demo"), p, {}).ok());
  ASSERT_TRUE(fake_.Delete(kPods.In("demo"), "web-a", {}).ok());
  ASSERT_TRUE(Eventually([&] {
    auto s = Slices("web");
    return !Endpoints("web").contains("subsets") && s.size() == 1 &&
           s[0]["endpoints"].size() == 1 &&
           s[0]["endpoints"][0]["conditions"]["terminating"] == true;
  }));
  EXPECT_EQ(Slices("web")[0]["endpoints"][0]["conditions"]["serving"], true);
  EXPECT_EQ(Slices("web")[0]["endpoints"][0]["conditions"]["ready"], false);
}

TEST_F(EndpointsControllerTest, HostnameNeedsTheSubdomainOfTheService) {
  Pod("db-0", "10.42.0.7", true, {{"hostname", "db-0"}, {"subdomain", "db"}});
  Pod("other", "10.42.0.8", true,
      {{"hostname", "other"}, {"subdomain", "elsewhere"}});
  Service("db", {{"selector", {{"app", "web"}}},
                 {"clusterIP", "None"},
                 {"ports", {{{"port", 5432}}}}});
  ASSERT_TRUE(Eventually([&] {
    Json ep = Endpoints("db");
    return ep.contains("subsets") && ep["subsets"][0]["addresses"].size() == 2;
  }));
  Json addrs = Endpoints("db")["subsets"][0]["addresses"];
  EXPECT_EQ(addrs[0]["hostname"], "db-0");
  EXPECT_FALSE(addrs[1].contains("hostname"));
  EXPECT_EQ(Endpoints("db")["metadata"]["labels"].count(
                "service.kubernetes.io/headless"),
            1u);
}

TEST_F(EndpointsControllerTest, LeavesSelectorlessAndKubernetesServicesAlone) {
  Json ep = {{"apiVersion", "v1"},
             {"kind", "Endpoints"},
             {"metadata", {{"name", "external"}, {"namespace", "demo"}}},
             {"subsets", {{{"addresses", {{{"ip", "192.0.2.1"}}}}}}}};
  ASSERT_TRUE(fake_.Create(kEndpoints.In("demo"), ep, {}).ok());
  Service("external", {{"ports", {{{"port", 80}}}}});
  Pod("web-a", "10.42.0.5", true);
  Service("web", {{"selector", {{"app", "web"}}}, {"ports", {{{"port", 80}}}}});
  ASSERT_TRUE(Eventually([&] { return Endpoints("web").contains("subsets"); }));
  EXPECT_EQ(Endpoints("external")["subsets"][0]["addresses"][0]["ip"],
            "192.0.2.1");
  EXPECT_TRUE(Slices("external").empty());
}

TEST_F(EndpointsControllerTest, ServiceDeletionRemovesItsEndpoints) {
  Pod("web-a", "10.42.0.5", true);
  Service("web", {{"selector", {{"app", "web"}}}, {"ports", {{{"port", 80}}}}});
  ASSERT_TRUE(Eventually([&] { return !Endpoints("web").is_null(); }));
  ASSERT_TRUE(fake_.Delete(kServices.In("demo"), "web", {}).ok());
  EXPECT_TRUE(Eventually(
      [&] { return Endpoints("web").is_null() && Slices("web").empty(); }));
}

}  // namespace
}  // namespace kite::controllers

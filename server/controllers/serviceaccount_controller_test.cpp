#include "server/controllers/serviceaccount_controller.h"

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

const ResourceRef kNamespaces{"", "v1", "namespaces", ""};
const ResourceRef kAccounts{"", "v1", "serviceaccounts", ""};
const ResourceRef kConfigMaps{"", "v1", "configmaps", ""};
constexpr char kPem[] =
    "-----BEGIN CERTIFICATE-----\nMIIB\n-----END "
    "CERTIFICATE-----\n";

bool Eventually(const std::function<bool()>& cond) {
  for (int i = 0; i < 1000; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

class ServiceAccountControllerTest : public ::testing::Test {
 protected:
  void Run(std::string pem) {
    ServiceAccountControllerOptions o;
    o.root_ca_pem = std::move(pem);
    o.clock = &clock_;
    sc_ = std::make_unique<ServiceAccountController>(fake_, informers_, o);
    ASSERT_TRUE(informers_.Start().ok());
    ASSERT_TRUE(informers_.WaitForSync(std::chrono::seconds(10)));
    ASSERT_TRUE(sc_->Start().ok());
  }
  void TearDown() override {
    if (sc_) sc_->Stop();
    informers_.Stop();
  }
  void Namespace(const std::string& name) {
    Json ns = {{"apiVersion", "v1"},
               {"kind", "Namespace"},
               {"metadata", {{"name", name}}}};
    ASSERT_TRUE(fake_.Create(kNamespaces, ns, {}).ok());
  }
  bool Has(const ResourceRef& ref, const std::string& ns,
           const std::string& name) {
    return fake_.Get(ref.In(ns), name, {}).ok();
  }

  FakeClock clock_;
  FakeClient fake_{clock_};
  client::SharedInformerFactory informers_{fake_};
  std::unique_ptr<ServiceAccountController> sc_;
};

TEST_F(ServiceAccountControllerTest, DefaultAccountAndRootCaInEveryNamespace) {
  Namespace("before");
  Run(kPem);
  Namespace("after");
  for (const char* ns : {"before", "after"}) {
    EXPECT_TRUE(Eventually([&] { return Has(kAccounts, ns, "default"); }))
        << ns;
    EXPECT_TRUE(Eventually([&] {
      return Has(kConfigMaps, ns, "kube-root-ca.crt");
    })) << ns;
  }
  Json cm = *fake_.Get(kConfigMaps.In("after"), "kube-root-ca.crt", {});
  EXPECT_EQ(cm["data"]["ca.crt"], kPem);
}

TEST_F(ServiceAccountControllerTest, RecreatesAndRepairs) {
  Namespace("demo");
  Run(kPem);
  ASSERT_TRUE(Eventually([&] {
    return Has(kAccounts, "demo", "default") &&
           Has(kConfigMaps, "demo", "kube-root-ca.crt");
  }));
  ASSERT_TRUE(fake_.Delete(kAccounts.In("demo"), "default", {}).ok());
  Json cm = *fake_.Get(kConfigMaps.In("demo"), "kube-root-ca.crt", {});
  cm["data"]["ca.crt"] = "tampered";
  ASSERT_TRUE(fake_.Update(kConfigMaps.In("demo"), cm, {}).ok());
  EXPECT_TRUE(Eventually([&] {
    auto c = fake_.Get(kConfigMaps.In("demo"), "kube-root-ca.crt", {});
    return Has(kAccounts, "demo", "default") && c.ok() &&
           (*c)["data"]["ca.crt"] == kPem;
  }));
}

TEST_F(ServiceAccountControllerTest, NoCaMeansNoConfigMapAndTerminatingIsLeft) {
  Namespace("demo");
  Namespace("going");
  // Kept by its "kubernetes" finalizer: Terminating.
  ASSERT_TRUE(fake_.Delete(kNamespaces, "going", {}).ok());
  Run("");
  ASSERT_TRUE(Eventually([&] { return Has(kAccounts, "demo", "default"); }));
  EXPECT_TRUE(sc_->Sync("going").ok());
  EXPECT_FALSE(Has(kAccounts, "going", "default"));
  EXPECT_FALSE(Has(kConfigMaps, "demo", "kube-root-ca.crt"));
}

}  // namespace
}  // namespace kite::controllers

#include "server/controllers/csr_controller.h"

#include <gtest/gtest.h>

#include <thread>

#include "api/object.h"
#include "client/fake_client.h"

namespace kite::controllers {
namespace {

using client::Json;

const client::ResourceRef kCsrs{"certificates.k8s.io", "v1",
                                "certificatesigningrequests", ""};

Json Csr(const std::string& name, const std::string& signer,
         const std::string& user, const std::vector<std::string>& groups,
         const std::string& request = "R") {
  return {{"apiVersion", "certificates.k8s.io/v1"},
          {"kind", "CertificateSigningRequest"},
          {"metadata", {{"name", name}}},
          {"spec",
           {{"signerName", signer},
            {"request", request},
            {"username", user},
            {"groups", groups},
            {"usages", {"client auth"}}}}};
}

class CsrControllerTest : public ::testing::Test {
 protected:
  CsrControllerTest() : informers_(fake_) {
    CsrCallbacks cb;
    cb.check = [this](const CsrRequest& r) {
      checked_.push_back(r.name);
      return r.request == "bad" ? InvalidArgumentError("CN is not a node")
                                : Status::Ok();
    };
    cb.sign = [](const CsrRequest& r) -> StatusOr<std::string> {
      return "CERT-" + r.name;
    };
    controller_ = std::make_unique<CsrController>(fake_, informers_, cb);
  }

  Json Get(const std::string& name) {
    auto got = fake_.Get(kCsrs, name, {});
    EXPECT_TRUE(got.ok());
    return got.ok() ? *got : Json();
  }
  std::string Condition(const Json& csr) {
    const Json* c = api::FieldPath(csr, {"status", "conditions"});
    if (c == nullptr || c->empty()) return "";
    return api::GetString(c->back(), {"type"});
  }

  client::FakeClient fake_;
  client::SharedInformerFactory informers_;
  std::vector<std::string> checked_;
  std::unique_ptr<CsrController> controller_;
};

TEST_F(CsrControllerTest, BootstrapClientRequestIsApprovedThenSigned) {
  ASSERT_TRUE(
      fake_
          .Create(kCsrs,
                  Csr("a", kKubeletClientSigner, "system:bootstrap:abcdef",
                      {"system:bootstrappers", "system:authenticated"}),
                  {})
          .ok());
  ASSERT_TRUE(controller_->Sync("a").ok());
  Json a = Get("a");
  EXPECT_EQ(Condition(a), "Approved");
  EXPECT_EQ(api::GetString(a, {"status", "certificate"}), "");
  ASSERT_TRUE(controller_->Sync("a").ok());
  a = Get("a");
  EXPECT_EQ(api::GetString(a, {"status", "certificate"}), "CERT-a");
  EXPECT_EQ(Condition(a), "Approved");
  // Done: a further sync changes nothing.
  std::string rv = api::GetString(a, {"metadata", "resourceVersion"});
  ASSERT_TRUE(controller_->Sync("a").ok());
  EXPECT_EQ(api::GetString(Get("a"), {"metadata", "resourceVersion"}), rv);
}

TEST_F(CsrControllerTest, NodeRenewsAndAsksForServing) {
  ASSERT_TRUE(fake_
                  .Create(kCsrs,
                          Csr("s", kKubeletServingSigner, "system:node:n1",
                              {"system:nodes", "system:authenticated"}),
                          {})
                  .ok());
  ASSERT_TRUE(controller_->Sync("s").ok());
  ASSERT_TRUE(controller_->Sync("s").ok());
  EXPECT_EQ(api::GetString(Get("s"), {"status", "certificate"}), "CERT-s");
}

TEST_F(CsrControllerTest, OthersWaitForAHumanAndBadRequestsAreDenied) {
  // A plain user's request, and a bootstrap token asking for serving.
  ASSERT_TRUE(fake_
                  .Create(kCsrs,
                          Csr("user", kKubeletClientSigner, "alice",
                              {"system:authenticated"}),
                          {})
                  .ok());
  ASSERT_TRUE(
      fake_
          .Create(kCsrs,
                  Csr("boot-serving", kKubeletServingSigner,
                      "system:bootstrap:abcdef", {"system:bootstrappers"}),
                  {})
          .ok());
  ASSERT_TRUE(
      fake_
          .Create(kCsrs,
                  Csr("other", "example.com/signer", "system:bootstrap:abcdef",
                      {"system:bootstrappers"}),
                  {})
          .ok());
  ASSERT_TRUE(
      fake_
          .Create(kCsrs,
                  Csr("bad", kKubeletClientSigner, "system:bootstrap:abcdef",
                      {"system:bootstrappers"}, "bad"),
                  {})
          .ok());
  for (const char* n : {"user", "boot-serving", "other", "bad"}) {
    ASSERT_TRUE(controller_->Sync(n).ok()) << n;
  }
  EXPECT_EQ(Condition(Get("user")), "");
  EXPECT_EQ(Condition(Get("boot-serving")), "");
  EXPECT_EQ(Condition(Get("other")), "");
  EXPECT_EQ(Condition(Get("bad")), "Denied");
  EXPECT_EQ(checked_, std::vector<std::string>{"bad"});

  // A human approves alice's request: it is signed, not re-checked.
  Json user = Get("user");
  user["status"]["conditions"] = {{{"type", "Approved"}, {"status", "True"}}};
  client::UpdateOptions approval;
  approval.subresource = "approval";
  ASSERT_TRUE(fake_.Update(kCsrs, user, approval).ok());
  ASSERT_TRUE(controller_->Sync("user").ok());
  EXPECT_EQ(api::GetString(Get("user"), {"status", "certificate"}),
            "CERT-user");
  // Denied stays denied.
  ASSERT_TRUE(controller_->Sync("bad").ok());
  EXPECT_EQ(api::GetString(Get("bad"), {"status", "certificate"}), "");
}

TEST_F(CsrControllerTest, RunsThroughTheInformer) {
  ASSERT_TRUE(informers_.Start().ok());
  ASSERT_TRUE(controller_->Start().ok());
  ASSERT_TRUE(
      fake_
          .Create(kCsrs,
                  Csr("live", kKubeletClientSigner, "system:bootstrap:abcdef",
                      {"system:bootstrappers"}),
                  {})
          .ok());
  std::string cert;
  for (int i = 0; i < 500 && cert.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    cert = api::GetString(Get("live"), {"status", "certificate"});
  }
  EXPECT_EQ(cert, "CERT-live");
  controller_->Stop();
  informers_.Stop();
}

}  // namespace
}  // namespace kite::controllers

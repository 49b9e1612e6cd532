#include "tls/cluster_pki.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

namespace kite::tls {
namespace {

using std::chrono::hours;

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::string Base64Decode(const std::string& in) {
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0, bits = -8;
  for (char c : in) {
    if (c == '=') break;
    auto pos = kAlphabet.find(c);
    if (pos == std::string::npos) return "<bad base64>";
    val = (val << 6) + static_cast<int>(pos);
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((val >> bits) & 0xff));
      bits -= 8;
    }
  }
  return out;
}

class ClusterPkiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = Random::Create();
    ASSERT_TRUE(r.ok());
    random_ = std::move(r).value();
    options_.dir = "/data/server/tls";
    options_.hostname = "pi-1";
    options_.node_ips = {"192.168.1.10"};
  }

  StatusOr<ClusterPki> Load() {
    return ClusterPki::Load(env_, clock_, *random_, options_);
  }

  FakeEnv env_;
  FakeClock clock_;
  std::unique_ptr<Random> random_;
  ClusterPkiOptions options_;
};

TEST_F(ClusterPkiTest, FirstLoadCreatesEverything) {
  auto pki = Load();
  ASSERT_TRUE(pki.ok()) << pki.status().ToString();
  EXPECT_EQ(pki->changes().size(), 5u);
  for (const char* f : {"server-ca.crt", "server-ca.key", "client-ca.crt",
                        "client-ca.key", "serving-kube-apiserver.crt",
                        "serving-kube-apiserver.key", "client-admin.crt",
                        "client-admin.key", "client-kube-apiserver-kubelet.crt",
                        "client-kube-apiserver-kubelet.key"}) {
    EXPECT_TRUE(env_.Exists(options_.dir + "/" + f)) << f;
  }
  auto ca = ParseCert(pki->server_ca().cert_pem);
  ASSERT_TRUE(ca.ok());
  EXPECT_EQ(ca->common_name.rfind("kite-server-ca@", 0), 0u) << ca->common_name;
  EXPECT_TRUE(ca->is_ca);

  auto serving = ParseCert(pki->serving().cert_pem);
  ASSERT_TRUE(serving.ok());
  for (const char* n :
       {"localhost", "pi-1", "kubernetes", "kubernetes.default",
        "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}) {
    EXPECT_TRUE(Contains(serving->dns_names, n)) << n;
  }
  for (const char* ip : {"127.0.0.1", "10.43.0.1", "192.168.1.10", "::1"}) {
    EXPECT_TRUE(Contains(serving->ip_addresses, ip)) << ip;
  }
  EXPECT_TRUE(VerifyCert(pki->serving().cert_pem, pki->server_ca().cert_pem,
                         clock_.Now(), Usage::kServerAuth)
                  .ok());
  // The serving certificate is not trusted as a client (other CA).
  EXPECT_FALSE(VerifyCert(pki->serving().cert_pem, pki->client_ca().cert_pem,
                          clock_.Now())
                   .ok());

  auto admin = ParseCert(pki->admin().cert_pem);
  ASSERT_TRUE(admin.ok());
  EXPECT_EQ(admin->common_name, "system:admin");
  EXPECT_EQ(admin->organizations, std::vector<std::string>{"system:masters"});
  EXPECT_TRUE(VerifyCert(pki->admin().cert_pem, pki->client_ca().cert_pem,
                         clock_.Now(), Usage::kClientAuth)
                  .ok());
  EXPECT_EQ(pki->server_ca_hash(), *CertSha256(pki->server_ca().cert_pem));

  // What the API server presents to kubelets.
  auto kubelet = ParseCert(pki->kubelet_client().cert_pem);
  ASSERT_TRUE(kubelet.ok());
  EXPECT_EQ(kubelet->common_name, "kube-apiserver-kubelet-client");
  EXPECT_EQ(kubelet->organizations, std::vector<std::string>{"system:masters"});
  EXPECT_TRUE(VerifyCert(pki->kubelet_client().cert_pem,
                         pki->client_ca().cert_pem, clock_.Now(),
                         Usage::kClientAuth)
                  .ok());
  EXPECT_FALSE(VerifyCert(pki->kubelet_client().cert_pem,
                          pki->client_ca().cert_pem, clock_.Now(),
                          Usage::kServerAuth)
                   .ok());
}

TEST_F(ClusterPkiTest, SecondLoadReusesEverything) {
  auto first = Load();
  ASSERT_TRUE(first.ok());
  clock_.Advance(hours(24 * 30));
  auto second = Load();
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_TRUE(second->changes().empty()) << second->changes()[0];
  EXPECT_EQ(second->server_ca().cert_pem, first->server_ca().cert_pem);
  EXPECT_EQ(second->server_ca().key_pem, first->server_ca().key_pem);
  EXPECT_EQ(second->client_ca().cert_pem, first->client_ca().cert_pem);
  EXPECT_EQ(second->serving().cert_pem, first->serving().cert_pem);
  EXPECT_EQ(second->admin().cert_pem, first->admin().cert_pem);
  EXPECT_EQ(second->kubelet_client().cert_pem,
            first->kubelet_client().cert_pem);
  EXPECT_EQ(second->server_ca_hash(), first->server_ca_hash());
}

TEST_F(ClusterPkiTest, NewNodeIpReissuesOnlyTheServingCert) {
  auto first = Load();
  ASSERT_TRUE(first.ok());
  options_.node_ips.push_back("10.0.0.7");
  auto second = Load();
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->changes().size(), 1u);
  EXPECT_EQ(second->changes()[0],
            "issued serving-kube-apiserver: SANs changed");
  EXPECT_EQ(second->server_ca().cert_pem, first->server_ca().cert_pem);
  EXPECT_EQ(second->admin().cert_pem, first->admin().cert_pem);
  EXPECT_NE(second->serving().cert_pem, first->serving().cert_pem);
  auto info = ParseCert(second->serving().cert_pem);
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(Contains(info->ip_addresses, "10.0.0.7"));
  // And it stays put on the next start.
  auto third = Load();
  ASSERT_TRUE(third.ok());
  EXPECT_TRUE(third->changes().empty());
  // Extra SANs (--tls-san) count too; the same IP written differently does not.
  options_.extra_sans = {"kite.example.com", "0:0:0:0:0:0:0:1"};
  auto fourth = Load();
  ASSERT_TRUE(fourth.ok());
  ASSERT_EQ(fourth->changes().size(), 1u);
  info = ParseCert(fourth->serving().cert_pem);
  EXPECT_TRUE(Contains(info->dns_names, "kite.example.com"));
}

TEST_F(ClusterPkiTest, LeavesRenewWithin90DaysOfExpiry) {
  auto first = Load();
  ASSERT_TRUE(first.ok());
  clock_.Advance(hours(24 * 270));  // 95 days left: kept
  auto kept = Load();
  ASSERT_TRUE(kept.ok());
  EXPECT_TRUE(kept->changes().empty());
  clock_.Advance(hours(24 * 10));  // 85 days left: renewed
  auto renewed = Load();
  ASSERT_TRUE(renewed.ok());
  EXPECT_EQ(renewed->changes().size(), 3u);
  EXPECT_NE(renewed->kubelet_client().cert_pem,
            first->kubelet_client().cert_pem);
  EXPECT_NE(renewed->serving().cert_pem, first->serving().cert_pem);
  EXPECT_NE(renewed->admin().cert_pem, first->admin().cert_pem);
  EXPECT_EQ(renewed->server_ca().cert_pem, first->server_ca().cert_pem);
  auto info = ParseCert(renewed->serving().cert_pem);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->not_after, clock_.Now() + kLeafValidity);
}

TEST_F(ClusterPkiTest, RotateReissuesLeavesButKeepsCas) {
  auto first = Load();
  ASSERT_TRUE(first.ok());
  options_.rotate = true;
  auto rotated = Load();
  ASSERT_TRUE(rotated.ok());
  EXPECT_EQ(rotated->changes().size(), 3u);
  EXPECT_EQ(rotated->server_ca().cert_pem, first->server_ca().cert_pem);
  EXPECT_EQ(rotated->client_ca().cert_pem, first->client_ca().cert_pem);
  EXPECT_NE(rotated->serving().key_pem, first->serving().key_pem);
}

TEST_F(ClusterPkiTest, BrokenLeafIsReissuedBrokenCaIsAnError) {
  auto first = Load();
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(
      env_.WriteFileAtomic(options_.dir + "/client-admin.crt", "garbage", 0600)
          .ok());
  auto fixed = Load();
  ASSERT_TRUE(fixed.ok());
  ASSERT_EQ(fixed->changes().size(), 1u);
  EXPECT_EQ(fixed->changes()[0], "issued client-admin: unreadable");

  // A leaf key that belongs to another certificate.
  ASSERT_TRUE(env_.WriteFileAtomic(options_.dir + "/serving-kube-apiserver.key",
                                   first->admin().key_pem, 0600)
                  .ok());
  auto fixed2 = Load();
  ASSERT_TRUE(fixed2.ok());
  EXPECT_EQ(fixed2->changes()[0],
            "issued serving-kube-apiserver: key does not match");

  ASSERT_TRUE(
      env_.WriteFileAtomic(options_.dir + "/server-ca.crt", "garbage", 0600)
          .ok());
  auto broken = Load();
  EXPECT_EQ(broken.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(broken.status().message().find("server-ca.crt"), std::string::npos);

  ASSERT_TRUE(env_.WriteFileAtomic(options_.dir + "/server-ca.crt",
                                   first->server_ca().cert_pem, 0600)
                  .ok());
  ASSERT_TRUE(env_.RemoveFile(options_.dir + "/server-ca.key").ok());
  EXPECT_EQ(Load().status().code(), Code::kFailedPrecondition);
}

TEST_F(ClusterPkiTest, MissingCaCertificateStartsANewCaAndReissuesItsLeaves) {
  auto first = Load();
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(env_.RemoveFile(options_.dir + "/client-ca.crt").ok());
  auto second = Load();
  ASSERT_TRUE(second.ok());
  EXPECT_NE(second->client_ca().cert_pem, first->client_ca().cert_pem);
  EXPECT_EQ(second->server_ca().cert_pem, first->server_ca().cert_pem);
  EXPECT_EQ(second->serving().cert_pem, first->serving().cert_pem);
  EXPECT_NE(second->admin().cert_pem, first->admin().cert_pem);
  EXPECT_TRUE(VerifyCert(second->admin().cert_pem, second->client_ca().cert_pem,
                         clock_.Now())
                  .ok());
}

TEST_F(ClusterPkiTest, BadOptionsAreRefused) {
  options_.node_ips = {"not-an-ip"};
  EXPECT_EQ(Load().status().code(), Code::kInvalidArgument);
  options_.node_ips = {};
  options_.extra_sans = {"bad name!"};
  EXPECT_EQ(Load().status().code(), Code::kInvalidArgument);
  options_.extra_sans = {};
  options_.dir = "";
  EXPECT_EQ(Load().status().code(), Code::kInvalidArgument);
}

TEST(Kubeconfig, RefusesOddUrls) {
  CertAndKey c{"cert", "key"};
  EXPECT_FALSE(KubeconfigYaml("http://127.0.0.1:6443", "ca", c).ok());
  EXPECT_FALSE(KubeconfigYaml("https://x\n  evil: 1", "ca", c).ok());
  EXPECT_TRUE(KubeconfigYaml("https://[::1]:6443", "ca", c).ok());
}

// On the real filesystem: directory and file modes, and the YAML parses.
TEST(KubeconfigOnDisk, WrittenWithMode0600AndParses) {
  char tmpl[] = "/tmp/kite-tls-test-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string root = tmpl;
  auto random = Random::Create();
  ASSERT_TRUE(random.ok());
  ClusterPkiOptions options;
  options.dir = root + "/server/tls";
  options.hostname = "node-a";
  auto pki = ClusterPki::Load(RealEnv(), RealClock(), **random, options);
  ASSERT_TRUE(pki.ok()) << pki.status().ToString();

  struct stat st;
  ASSERT_EQ(stat(options.dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(stat((options.dir + "/server-ca.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  std::string path = root + "/etc/kite/kite.yaml";
  ASSERT_TRUE(
      WriteAdminKubeconfig(RealEnv(), path, "https://127.0.0.1:6443", *pki)
          .ok());
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  YAML::Node doc = YAML::LoadFile(path);
  EXPECT_EQ(doc["current-context"].as<std::string>(), "default");
  const YAML::Node cluster = doc["clusters"][0];
  EXPECT_EQ(cluster["name"].as<std::string>(), "default");
  EXPECT_EQ(cluster["cluster"]["server"].as<std::string>(),
            "https://127.0.0.1:6443");
  EXPECT_EQ(
      Base64Decode(
          cluster["cluster"]["certificate-authority-data"].as<std::string>()),
      pki->server_ca().cert_pem);
  const YAML::Node user = doc["users"][0];
  EXPECT_EQ(user["name"].as<std::string>(), "default");
  EXPECT_EQ(
      Base64Decode(user["user"]["client-certificate-data"].as<std::string>()),
      pki->admin().cert_pem);
  EXPECT_EQ(Base64Decode(user["user"]["client-key-data"].as<std::string>()),
            pki->admin().key_pem);
  EXPECT_EQ(doc["contexts"][0]["context"]["user"].as<std::string>(), "default");

  // Rewriting over a looser file tightens it.
  chmod(path.c_str(), 0644);
  ASSERT_TRUE(
      WriteAdminKubeconfig(RealEnv(), path, "https://10.0.0.1:6443", *pki)
          .ok());
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace kite::tls

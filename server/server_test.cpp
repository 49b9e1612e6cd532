#include "server/server.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstdlib>
#include <string>

#include "common/env.h"
#include "client/https_client.h"
#include "common/clock.h"
#include "server/agent_credentials.h"
#include "server/datastore_admin.h"
#include "tls/cluster_pki.h"

namespace kite::server {
namespace {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/kite-server-test-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::string cmd = "rm -rf " + path_;
    EXPECT_EQ(std::system(cmd.c_str()), 0);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A server on a free loopback port whose files all stay in `dir`.
Config TestConfig(const std::string& dir) {
  Config c;
  c.data_dir = dir;
  c.bind_address = "127.0.0.1";
  c.https_listen_port = 0;
  c.write_kubeconfig = dir + "/kite.yaml";
  c.disable_agent = true;  // no containers here (tests/agent_e2e.sh runs one)
  return c;
}

TEST(ServerTest, DefaultDatastoreIsSqliteUnderTheDataDir) {
  Config c{.data_dir = "/var/lib/kite"};
  EXPECT_EQ(DatastoreEndpoint(c), "sqlite:///var/lib/kite/server/db/state.db");
  c.datastore_endpoint = "sqlite:///elsewhere/x.db";
  EXPECT_EQ(DatastoreEndpoint(c), "sqlite:///elsewhere/x.db");
  EXPECT_EQ(*SqlitePath(c), "/elsewhere/x.db");
  c.datastore_endpoint = "etcd://127.0.0.1:2379";
  EXPECT_EQ(SqlitePath(c).status().code(), Code::kInvalidArgument);
}

TEST(ServerTest, StartsOnTheSqliteDefaultAndRefusesASecondServerOnTheSameData) {
  TempDir dir;
  Server a(TestConfig(dir.path()));
  ASSERT_TRUE(a.Start().ok());
  EXPECT_GT(a.port(), 0);

  Server b(TestConfig(dir.path()));
  Status st = b.Start();
  EXPECT_EQ(st.code(), Code::kFailedPrecondition) << st.ToString();

  // Restore must refuse while `a` holds the datastore; a snapshot works online.
  Config c{.data_dir = dir.path()};
  std::string snap = dir.path() + "/snap.db";
  ASSERT_TRUE(SnapshotDatastore(c, snap).ok());
  EXPECT_EQ(RestoreDatastore(c, snap).code(), Code::kFailedPrecondition);
  a.Stop();
  EXPECT_TRUE(RestoreDatastore(c, snap).ok());

  Server again(TestConfig(dir.path()));
  EXPECT_TRUE(again.Start().ok());
}

TEST(ServerTest, WritesAnAdminKubeconfigAndReusesThePki) {
  TempDir dir;
  std::string ca;
  {
    Server s(TestConfig(dir.path()));
    ASSERT_TRUE(s.Start().ok());
    auto text = RealEnv().ReadFile(dir.path() + "/kite.yaml");
    ASSERT_TRUE(text.ok());
    EXPECT_NE(text->find("https://127.0.0.1:" + std::to_string(s.port())),
              std::string::npos)
        << *text;
    struct stat st {};
    ASSERT_EQ(::stat((dir.path() + "/kite.yaml").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    ca = *RealEnv().ReadFile(dir.path() + "/server/tls/server-ca.crt");
  }
  Server again(TestConfig(dir.path()));
  ASSERT_TRUE(again.Start().ok());
  EXPECT_EQ(*RealEnv().ReadFile(dir.path() + "/server/tls/server-ca.crt"), ca);
}

TEST(ServerTest, UnsupportedEndpointIsAClearError) {
  TempDir dir;
  Config c = TestConfig(dir.path());
  c.datastore_endpoint = "mysql://x";
  Server s(c);
  Status st = s.Start();
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("mysql://x"), std::string::npos);
}

TEST(AgentCredentialsTest, SignsNodeCertificatesAndKeepsThemWhileTheyFit) {
  FakeEnv env;
  FakeClock clock;
  auto random = tls::Random::Create();
  ASSERT_TRUE(random.ok());
  tls::ClusterPkiOptions po;
  po.dir = "/d/server/tls";
  auto pki = tls::ClusterPki::Load(env, clock, **random, po);
  ASSERT_TRUE(pki.ok()) << pki.status().ToString();
  AgentCredentialsOptions o{.data_dir = "/d",
                            .node_name = "n1",
                            .node_ips = {"10.0.0.9"},
                            .server_url = "https://127.0.0.1:6443"};
  auto kubeconfig = WriteAgentCredentials(env, clock, **random, *pki, o);
  ASSERT_TRUE(kubeconfig.ok()) << kubeconfig.status().ToString();
  EXPECT_EQ(*kubeconfig, "/d/agent/kubelet.kubeconfig");

  std::string client = *env.ReadFile("/d/agent/tls/client-kubelet.crt");
  EXPECT_TRUE(tls::VerifyCert(client, pki->client_ca().cert_pem, clock.Now(),
                              tls::Usage::kClientAuth)
                  .ok());
  auto info = tls::ParseCert(client);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->common_name, "system:node:n1");
  EXPECT_EQ(info->organizations, std::vector<std::string>{"system:nodes"});
  std::string serving = *env.ReadFile("/d/agent/tls/serving-kubelet.crt");
  EXPECT_TRUE(tls::VerifyCert(serving, pki->server_ca().cert_pem, clock.Now(),
                              tls::Usage::kServerAuth)
                  .ok());
  info = tls::ParseCert(serving);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->dns_names, std::vector<std::string>{"n1"});
  EXPECT_EQ(info->ip_addresses,
            (std::vector<std::string>{"10.0.0.9", "127.0.0.1"}));
  EXPECT_EQ(*env.ReadFile("/d/agent/tls/client-ca.crt"),
            pki->client_ca().cert_pem);
  auto cfg = client::ConfigFromKubeconfig(*env.ReadFile(*kubeconfig), env);
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->server, "https://127.0.0.1:6443");
  EXPECT_EQ(cfg->cert_pem, client);
  EXPECT_EQ(cfg->ca_pem, pki->server_ca().cert_pem);

  // Again: kept. A new address: a new serving certificate, the same client.
  ASSERT_TRUE(WriteAgentCredentials(env, clock, **random, *pki, o).ok());
  EXPECT_EQ(*env.ReadFile("/d/agent/tls/client-kubelet.crt"), client);
  EXPECT_EQ(*env.ReadFile("/d/agent/tls/serving-kubelet.crt"), serving);
  o.node_ips = {"10.0.0.10"};
  ASSERT_TRUE(WriteAgentCredentials(env, clock, **random, *pki, o).ok());
  EXPECT_EQ(*env.ReadFile("/d/agent/tls/client-kubelet.crt"), client);
  EXPECT_NE(*env.ReadFile("/d/agent/tls/serving-kubelet.crt"), serving);
}

}  // namespace
}  // namespace kite::server

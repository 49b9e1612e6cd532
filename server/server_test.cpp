#include "server/server.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstdlib>
#include <string>

#include "common/env.h"
#include "server/datastore_admin.h"

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

}  // namespace
}  // namespace kite::server

#include "server/server.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdlib>
#include <string>

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
  Server a(Config{.data_dir = dir.path(), .https_listen_port = 0});
  ASSERT_TRUE(a.Start().ok());
  EXPECT_GT(a.port(), 0);

  Server b(Config{.data_dir = dir.path(), .https_listen_port = 0});
  Status st = b.Start();
  EXPECT_EQ(st.code(), Code::kFailedPrecondition) << st.ToString();

  // Restore must refuse while `a` holds the datastore; a snapshot works online.
  Config c{.data_dir = dir.path()};
  std::string snap = dir.path() + "/snap.db";
  ASSERT_TRUE(SnapshotDatastore(c, snap).ok());
  EXPECT_EQ(RestoreDatastore(c, snap).code(), Code::kFailedPrecondition);
  a.Stop();
  EXPECT_TRUE(RestoreDatastore(c, snap).ok());

  Server again(Config{.data_dir = dir.path(), .https_listen_port = 0});
  EXPECT_TRUE(again.Start().ok());
}

TEST(ServerTest, UnsupportedEndpointIsAClearError) {
  TempDir dir;
  Server s(Config{.data_dir = dir.path(), .datastore_endpoint = "mysql://x", .https_listen_port = 0});
  Status st = s.Start();
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("mysql://x"), std::string::npos);
}

}  // namespace
}  // namespace kite::server

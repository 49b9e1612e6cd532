#include "cmd/flags.h"

#include <gtest/gtest.h>

namespace kite::cmd {
namespace {

struct Fixture {
  std::string data_dir = "/var/lib/kite";
  int port = 6443;
  bool disable = false;
  std::vector<std::string> names;
  FlagSet flags{"server"};
  Fixture() {
    flags.String("data-dir", &data_dir, "data");
    flags.Int("https-listen-port", &port, "port");
    flags.Bool("disable-agent", &disable, "no agent");
    flags.StringList("disable", &names, "skip");
  }
};

TEST(FlagsTest, DefaultsHoldWithoutFlagsOrConfig) {
  Fixture f;
  FakeEnv env;
  ASSERT_TRUE(f.flags.Parse({}, env, "/etc/kite/config.yaml", false).ok());
  EXPECT_EQ(f.data_dir, "/var/lib/kite");
  EXPECT_EQ(f.port, 6443);
  EXPECT_FALSE(f.disable);
}

TEST(FlagsTest, CommandLineFormsAndPositionals) {
  Fixture f;
  FakeEnv env;
  ASSERT_TRUE(f.flags.Parse({"snap.db", "--data-dir=/d", "--https-listen-port", "7443", "--disable-agent",
                             "--disable", "a", "--disable=b"},
                            env, "", false)
                  .ok());
  EXPECT_EQ(f.data_dir, "/d");
  EXPECT_EQ(f.port, 7443);
  EXPECT_TRUE(f.disable);
  EXPECT_EQ(f.names, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(f.flags.positional(), (std::vector<std::string>{"snap.db"}));
}

TEST(FlagsTest, ConfigFileKeysAreLongFlagNamesAndCommandLineWins) {
  Fixture f;
  FakeEnv env;
  ASSERT_TRUE(env.WriteFileAtomic("/etc/kite/config.yaml",
                                  "data-dir: /from/config\nhttps-listen-port: 8443\ndisable: [x, y]\n", 0644)
                  .ok());
  ASSERT_TRUE(f.flags.Parse({"--https-listen-port=9443"}, env, "/etc/kite/config.yaml", false).ok());
  EXPECT_EQ(f.data_dir, "/from/config");
  EXPECT_EQ(f.port, 9443);
  EXPECT_EQ(f.names, (std::vector<std::string>{"x", "y"}));
}

TEST(FlagsTest, BadInputIsAClearError) {
  FakeEnv env;
  {
    Fixture f;
    Status st = f.flags.Parse({"--no-such-flag"}, env, "", false);
    EXPECT_EQ(st.code(), Code::kInvalidArgument);
    EXPECT_NE(st.message().find("--no-such-flag"), std::string::npos);
  }
  {
    Fixture f;
    Status st = f.flags.Parse({"--https-listen-port=abc"}, env, "", false);
    EXPECT_NE(st.message().find("whole number"), std::string::npos);
  }
  {
    Fixture f;
    Status st = f.flags.Parse({"--data-dir"}, env, "", false);
    EXPECT_NE(st.message().find("needs a value"), std::string::npos);
  }
  {
    Fixture f;
    ASSERT_TRUE(env.WriteFileAtomic("/c.yaml", "datadir: /x\n", 0644).ok());
    Status st = f.flags.Parse({}, env, "/c.yaml", false);
    EXPECT_NE(st.message().find("unknown key \"datadir\""), std::string::npos);
  }
  {
    Fixture f;
    ASSERT_TRUE(env.WriteFileAtomic("/bad.yaml", "data-dir: [unclosed\n", 0644).ok());
    Status st = f.flags.Parse({}, env, "/bad.yaml", false);
    EXPECT_NE(st.message().find("not valid YAML"), std::string::npos);
  }
  {
    Fixture f;
    Status st = f.flags.Parse({}, env, "/missing.yaml", true);
    EXPECT_EQ(st.code(), Code::kNotFound);
  }
}

}  // namespace
}  // namespace kite::cmd

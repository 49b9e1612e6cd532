// HostGw against the real kernel (root only), in a network namespace this
// test creates and deletes; every command runs there through the command
// prefix (nsenter --net=...), nothing touches the machine's own namespace:
// the real `ip route` output is parsed, routes of other protocols survive,
// and the masquerade rules load into nftables and, without nft, iptables.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "agent/podnet/host_gw.h"
#include "agent/runtime/host.h"

namespace kite::podnet {
namespace {

namespace fs = std::filesystem;

class HostGwKernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces)";
    for (const char* p : {"/usr/bin/nsenter", "/usr/sbin/ip"})
      if (!fs::exists(p)) GTEST_SKIP() << "no " << p;
    ns_ = "kite-podnet-k-" + std::to_string(::getpid());
    dir_ = fs::temp_directory_path() / ns_;
    fs::create_directories(dir_);
    ASSERT_EQ(Sh("ip netns add " + ns_), "");
    created_ = true;
    // A node address on a link of its own (the other nodes' addresses are
    // on it), and a route that is not kite's.
    // (A veth pair kept inside where there is no dummy module.)
    ASSERT_EQ(
        Sh(In() + "sh -ec 'ip link set lo up; "
                  "ip link add kite0 type dummy 2>/dev/null || "
                  "ip link add kite0 type veth peer name kite0p; "
                  "ip link set kite0p up 2>/dev/null || true; "
                  "ip addr add 10.77.0.2/24 dev kite0; "
                  "ip link set kite0 up; "
                  "ip route add 10.99.0.0/24 via 10.77.0.9 proto static'"),
        "");
    options_.command_prefix = {"/usr/bin/nsenter",
                               "--net=/var/run/netns/" + ns_};
    options_.state_dir = dir_ + "/state";
  }
  void TearDown() override {
    if (created_) Sh("ip netns delete " + ns_);
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  std::string In() { return "nsenter --net=/var/run/netns/" + ns_ + " "; }
  // Runs a shell command; its output (stdout and stderr).
  std::string Sh(const std::string& cmd) {
    auto r = runtime::RealHost().Run({"/bin/sh", "-c", cmd},
                                     std::chrono::milliseconds(10000));
    if (!r.ok()) return r.status().ToString();
    return r->output;
  }

  std::string ns_, dir_;
  bool created_ = false;
  HostGwOptions options_;
};

TEST_F(HostGwKernelTest, RoutesFollowTheWantedSetOthersUntouched) {
  HostGw gw(runtime::RealHost(), options_);
  ASSERT_TRUE(
      gw.Sync({{"10.42.1.0/24", "10.77.0.3"}, {"10.42.2.0/24", "10.77.0.4"}})
          .ok());
  std::string routes = Sh(In() + "ip route show proto 107");
  EXPECT_NE(routes.find("10.42.1.0/24 via 10.77.0.3 dev kite0"),
            std::string::npos)
      << routes;
  EXPECT_NE(routes.find("10.42.2.0/24 via 10.77.0.4 dev kite0"),
            std::string::npos)
      << routes;
  auto current = gw.CurrentRoutes();
  ASSERT_TRUE(current.ok()) << current.status().ToString();
  EXPECT_EQ(*current,
            (std::map<std::string, std::string>{
                {"10.42.1.0/24", "10.77.0.3"}, {"10.42.2.0/24", "10.77.0.4"}}));
  // A node moves, another goes; then a restart (a new HostGw) with nothing
  // wanted removes the rest. The static route stays throughout.
  ASSERT_TRUE(gw.Sync({{"10.42.1.0/24", "10.77.0.5"}}).ok());
  routes = Sh(In() + "ip route show proto 107");
  EXPECT_NE(routes.find("10.42.1.0/24 via 10.77.0.5"), std::string::npos)
      << routes;
  EXPECT_EQ(routes.find("10.42.2.0/24"), std::string::npos) << routes;
  HostGw again(runtime::RealHost(), options_);
  ASSERT_TRUE(again.Sync({}).ok());
  EXPECT_EQ(Sh(In() + "ip route show proto 107"), "");
  EXPECT_NE(Sh(In() + "ip route").find("10.99.0.0/24 via 10.77.0.9"),
            std::string::npos);
  // A next hop that is not on a link of ours: an error, nothing installed.
  EXPECT_FALSE(again.Sync({{"10.42.3.0/24", "192.0.2.1"}}).ok());
  EXPECT_EQ(Sh(In() + "ip route show proto 107"), "");
}

TEST_F(HostGwKernelTest, MasqueradeLoadsIntoNftables) {
  if (!fs::exists("/usr/sbin/nft")) GTEST_SKIP() << "no nft";
  HostGw gw(runtime::RealHost(), options_);
  ASSERT_TRUE(gw.EnsureMasquerade({"10.42.0.0/16"}).ok());
  // Twice: the table is replaced, not doubled.
  ASSERT_TRUE(gw.EnsureMasquerade({"10.42.0.0/16"}).ok());
  std::string table = Sh(In() + "nft list table ip kite-podnet");
  EXPECT_NE(table.find("ip saddr 10.42.0.0/16 ip daddr != 10.42.0.0/16 ip "
                       "daddr != 224.0.0.0/4 masquerade"),
            std::string::npos)
      << table;
  EXPECT_EQ(table.find("masquerade"), table.rfind("masquerade")) << table;
  // Several pod networks (a node's podCIDR outside the cluster CIDR).
  ASSERT_TRUE(gw.EnsureMasquerade({"10.42.0.0/16", "10.50.3.0/24"}).ok());
  table = Sh(In() + "nft list table ip kite-podnet");
  EXPECT_NE(table.find("ip daddr != { 10.42.0.0/16, 10.50.3.0/24 }"),
            std::string::npos)
      << table;
}

TEST_F(HostGwKernelTest, MasqueradeWithIptablesWhereNftIsMissing) {
  // A search path with ip and iptables but no nft.
  fs::create_directories(dir_ + "/bin");
  for (const char* p : {"iptables", "iptables-restore"}) {
    std::string target = "/usr/sbin/" + std::string(p);
    if (!fs::exists(target)) GTEST_SKIP() << "no " << target;
    fs::create_symlink(target, dir_ + "/bin/" + p);
  }
  options_.search_path = {dir_ + "/bin"};
  HostGw gw(runtime::RealHost(), options_);
  ASSERT_TRUE(gw.EnsureMasquerade({"10.42.0.0/16"}).ok());
  ASSERT_TRUE(gw.EnsureMasquerade({"10.42.0.0/16"}).ok());
  std::string rules = Sh(In() + "iptables -t nat -S");
  EXPECT_NE(rules.find("-A POSTROUTING -s 10.42.0.0/16 -j KITE-PODNET-MASQ"),
            std::string::npos)
      << rules;
  EXPECT_EQ(rules.find("-A POSTROUTING -s 10.42.0.0/16"),
            rules.rfind("-A POSTROUTING -s 10.42.0.0/16"))
      << rules;  // one jump after two calls
  EXPECT_NE(rules.find("-A KITE-PODNET-MASQ -d 10.42.0.0/16 -j RETURN"),
            std::string::npos)
      << rules;
  EXPECT_NE(rules.find("-A KITE-PODNET-MASQ -j MASQUERADE"), std::string::npos)
      << rules;
}

}  // namespace
}  // namespace kite::podnet

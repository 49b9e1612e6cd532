// Unit tests of the pod network: RoutesFromNodes, HostGw against a fake
// kernel routing table (FakeHost's command handler), and PodNetwork driven
// by Node objects in a FakeClient.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>

#include "agent/podnet/host_gw.h"
#include "agent/podnet/pod_network.h"
#include "agent/runtime/fake_host.h"
#include "client/fake_client.h"

namespace kite::podnet {
namespace {

namespace fs = std::filesystem;
using client::Json;
using runtime::RunResult;

Json Node(const std::string& name, const std::vector<std::string>& cidrs,
          const std::vector<std::pair<std::string, std::string>>& addrs) {
  Json n = {{"apiVersion", "v1"},
            {"kind", "Node"},
            {"metadata", {{"name", name}}},
            {"spec", Json::object()},
            {"status", {{"addresses", Json::array()}}}};
  if (!cidrs.empty()) {
    n["spec"]["podCIDR"] = cidrs.front();
    n["spec"]["podCIDRs"] = cidrs;
  }
  for (const auto& [type, ip] : addrs)
    n["status"]["addresses"].push_back({{"type", type}, {"address", ip}});
  return n;
}

TEST(RoutesFromNodesTest, OtherNodesWithCidrAndAddress) {
  std::vector<Json> nodes = {
      Node("self", {"10.42.0.0/24"}, {{"InternalIP", "10.77.0.2"}}),
      Node("b", {"10.42.1.0/24"},
           {{"Hostname", "b"}, {"InternalIP", "10.77.0.3"}}),
      Node("c", {"10.42.2.0/24", "fd00:42:2::/64"},
           {{"InternalIP", "10.77.0.4"},
            {"InternalIP", "10.77.0.44"},
            {"InternalIP", "fd00:77::4"}}),
      Node("no-cidr", {}, {{"InternalIP", "10.77.0.5"}}),
      Node("no-address", {"10.42.6.0/24"}, {{"Hostname", "x"}}),
      Node("external-only", {"10.42.7.0/24"}, {{"ExternalIP", "192.0.2.7"}}),
  };
  std::vector<PodRoute> want = {{"10.42.1.0/24", "10.77.0.3"},
                                {"10.42.2.0/24", "10.77.0.4"},
                                {"10.42.7.0/24", "192.0.2.7"},
                                {"fd00:42:2::/64", "fd00:77::4"}};
  EXPECT_EQ(RoutesFromNodes(nodes, "self"), want);
  // podCIDR alone (an older writer) counts too.
  Json old = Node("d", {}, {{"InternalIP", "10.77.0.9"}});
  old["spec"]["podCIDR"] = "10.42.9.0/24";
  EXPECT_EQ(RoutesFromNodes({old}, "self"),
            (std::vector<PodRoute>{{"10.42.9.0/24", "10.77.0.9"}}));
}

TEST(PodNetworksTest, ClusterAndNodeCidrsWithoutOverlaps) {
  std::vector<Json> nodes = {
      Node("a", {"10.42.0.0/24"}, {}),
      Node("b", {"10.50.1.0/24", "fd00:42:0:1::/64"}, {}),
      Node("c", {"10.50.1.0/24"}, {}),  // the same twice: once
      Node("d", {"not-a-cidr"}, {}),
  };
  EXPECT_EQ(PodNetworks({"10.42.0.0/16", "fd00:42::/56"}, nodes),
            (std::vector<std::string>{"10.42.0.0/16", "10.50.1.0/24",
                                      "fd00:42::/56"}));
  // No cluster CIDR known (a joined agent): the nodes' own.
  EXPECT_EQ(PodNetworks({}, nodes),
            (std::vector<std::string>{"10.42.0.0/24", "10.50.1.0/24",
                                      "fd00:42:0:1::/64"}));
  EXPECT_EQ(PodNetworks({"10.42.0.0/16", "10.0.0.0/8"}, {}),
            (std::vector<std::string>{"10.0.0.0/8"}));
}

// A routing table behind `ip route` (both families), `nft -f` and
// iptables, as FakeHost's command handler.
class FakeKernel {
 public:
  // Routes of other protocols: `ip route show proto 107` never lists them,
  // and the test checks nothing names them.
  std::map<std::string, std::string> kite;  // cidr -> via
  std::vector<std::string> foreign = {"default", "10.42.0.0/24",
                                      "10.77.0.0/24"};
  std::vector<std::string> nft_inputs;
  std::vector<std::vector<std::string>> commands;  // without the prefix
  bool fail_replace = false;

  StatusOr<RunResult> Handle(const std::vector<std::string>& full) {
    std::lock_guard<std::mutex> lock(mu_);
    // Skip the prefix: the program is the first absolute path after it.
    size_t i = 0;
    while (i < full.size() && full[i].rfind("/nsenter") != std::string::npos)
      ++i;
    while (i < full.size() && full[i].rfind("--", 0) == 0) ++i;
    std::vector<std::string> argv(full.begin() + i, full.end());
    commands.push_back(argv);
    std::string prog = fs::path(argv[0]).filename();
    RunResult r;
    if (prog == "ip") {
      // ip -4|-6 route show|replace|del CIDR [via V] proto 107
      const std::string& verb = argv[3];
      if (verb == "show") {
        for (const auto& [cidr, via] : kite) {
          bool v6 = cidr.find(':') != std::string::npos;
          if (v6 != (argv[1] == "-6")) continue;
          std::string shown = cidr;
          if (!v6 && shown.size() > 3 && shown.ends_with("/32"))
            shown.resize(shown.size() - 3);
          r.output += shown + " via " + via + " dev kite0 proto 107 \n";
        }
      } else if (verb == "replace") {
        if (fail_replace) return RunResult{2, "Nexthop has invalid gateway."};
        kite[argv[4]] = argv[6];
      } else if (verb == "del") {
        if (!kite.erase(argv[4])) return RunResult{2, "No such process"};
      }
    } else if (prog == "nft") {
      std::ifstream in(argv[2]);
      nft_inputs.push_back(std::string(std::istreambuf_iterator<char>(in), {}));
    } else if (prog == "iptables") {
      if (argv[3] == "-C") return RunResult{1, "Bad rule"};
    }
    return r;
  }

  std::vector<std::vector<std::string>> Commands() {
    std::lock_guard<std::mutex> lock(mu_);
    return commands;
  }
  std::vector<std::string> NftInputs() {
    std::lock_guard<std::mutex> lock(mu_);
    return nft_inputs;
  }
  std::map<std::string, std::string> Kite() {
    std::lock_guard<std::mutex> lock(mu_);
    return kite;
  }

 private:
  std::mutex mu_;
};

class HostGwTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("kite-podnet-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ + "/bin");
    fs::create_directories(dir_ + "/proc/net/ipv4");
    for (const char* p : {"ip", "nft", "iptables", "iptables-restore"})
      std::ofstream(dir_ + "/bin/" + p) << "";
    host_.SetRunHandler([this](const std::vector<std::string>& argv) {
      return kernel_.Handle(argv);
    });
    options_.search_path = {dir_ + "/bin"};
    options_.proc_sys = dir_ + "/proc";
    options_.state_dir = dir_ + "/state";
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Read(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  bool Names(const std::vector<std::string>& argv, const std::string& what) {
    return std::find(argv.begin(), argv.end(), what) != argv.end();
  }

  std::string dir_;
  runtime::FakeHost host_;
  FakeKernel kernel_;
  HostGwOptions options_;
};

TEST_F(HostGwTest, SyncReplacesChangedAddsMissingRemovesStaleOnly) {
  kernel_.kite = {{"10.42.1.0/24", "10.77.0.3"},   // its node's IP changed
                  {"10.42.9.0/24", "10.77.0.9"},   // its node is gone
                  {"10.42.5.0/24", "10.77.0.5"}};  // unchanged
  HostGw gw(host_, options_);
  ASSERT_TRUE(gw.Sync({{"10.42.1.0/24", "10.77.0.33"},
                       {"10.42.2.0/24", "10.77.0.4"},
                       {"10.42.5.0/24", "10.77.0.5"}})
                  .ok());
  EXPECT_EQ(kernel_.Kite(), (std::map<std::string, std::string>{
                                {"10.42.1.0/24", "10.77.0.33"},
                                {"10.42.2.0/24", "10.77.0.4"},
                                {"10.42.5.0/24", "10.77.0.5"}}));
  EXPECT_EQ(gw.changes(), 3);  // two replaces, one delete
  for (const auto& argv : kernel_.Commands()) {
    // Every command is limited to kite's protocol, and no other route is
    // named.
    EXPECT_TRUE(Names(argv, "proto") && Names(argv, "107"));
    for (const auto& f : kernel_.foreign) EXPECT_FALSE(Names(argv, f)) << f;
    EXPECT_FALSE(Names(argv, "10.42.5.0/24"));
  }
  // In sync: a second round only looks.
  size_t before = kernel_.Commands().size();
  ASSERT_TRUE(gw.Sync({{"10.42.1.0/24", "10.77.0.33"},
                       {"10.42.2.0/24", "10.77.0.4"},
                       {"10.42.5.0/24", "10.77.0.5"}})
                  .ok());
  auto cmds = kernel_.Commands();
  for (size_t i = before; i < cmds.size(); ++i) EXPECT_EQ(cmds[i][3], "show");
  EXPECT_EQ(gw.changes(), 3);
  // Nothing wanted: every kite route goes.
  ASSERT_TRUE(gw.Sync({}).ok());
  EXPECT_TRUE(kernel_.Kite().empty());
}

TEST_F(HostGwTest, IPv6AndHostRoutesAreParsed) {
  kernel_.kite = {{"fd00:42:1::/64", "fd00:77::3"},
                  {"10.42.3.7/32", "10.77.0.3"}};
  HostGw gw(host_, options_);
  auto cur = gw.CurrentRoutes();
  ASSERT_TRUE(cur.ok()) << cur.status().ToString();
  EXPECT_EQ(*cur, (std::map<std::string, std::string>{
                      {"10.42.3.7/32", "10.77.0.3"},
                      {"fd00:42:1::/64", "fd00:77::3"}}));
  ASSERT_TRUE(
      gw.Sync({{"fd00:42:1::/64", "fd00:77::3"}, {"10.42.3.7/32", "10.77.0.3"}})
          .ok());
  EXPECT_EQ(gw.changes(), 0);
}

TEST_F(HostGwTest, FailedRouteIsReportedOthersStillTried) {
  kernel_.kite = {{"10.42.9.0/24", "10.77.0.9"}};
  kernel_.fail_replace = true;
  HostGw gw(host_, options_);
  Status st = gw.Sync({{"10.42.1.0/24", "10.77.0.3"}});
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("invalid gateway"), std::string::npos);
  EXPECT_TRUE(kernel_.Kite().empty());  // the stale one went anyway
}

TEST_F(HostGwTest, CommandPrefix) {
  options_.command_prefix = {"/usr/bin/nsenter", "--net=/var/run/netns/x"};
  HostGw gw(host_, options_);
  ASSERT_TRUE(gw.Sync({{"10.42.1.0/24", "10.77.0.3"}}).ok());
  auto runs = host_.runs();
  ASSERT_FALSE(runs.empty());
  for (const auto& argv : runs) {
    EXPECT_EQ(argv[0], "/usr/bin/nsenter");
    EXPECT_EQ(argv[1], "--net=/var/run/netns/x");
    EXPECT_EQ(argv[2], dir_ + "/bin/ip");
  }
}

TEST_F(HostGwTest, ForwardingSysctls) {
  HostGw gw(host_, options_);
  // No bridge netfilter module: only ip_forward.
  ASSERT_TRUE(gw.EnableForwarding(false).ok());
  EXPECT_EQ(Read(dir_ + "/proc/net/ipv4/ip_forward"), "1\n");
  EXPECT_FALSE(fs::exists(dir_ + "/proc/net/bridge/bridge-nf-call-iptables"));
  fs::create_directories(dir_ + "/proc/net/bridge");
  std::ofstream(dir_ + "/proc/net/bridge/bridge-nf-call-iptables") << "0\n";
  ASSERT_TRUE(gw.EnableForwarding(false).ok());
  EXPECT_EQ(Read(dir_ + "/proc/net/bridge/bridge-nf-call-iptables"), "1\n");
  // IPv6 wanted but no such file: an error, IPv4 still set.
  fs::remove(dir_ + "/proc/net/ipv4/ip_forward");
  EXPECT_FALSE(gw.EnableForwarding(true).ok());
  EXPECT_EQ(Read(dir_ + "/proc/net/ipv4/ip_forward"), "1\n");
}

TEST_F(HostGwTest, MasqueradeWithNftExceptInsideTheCluster) {
  HostGw gw(host_, options_);
  ASSERT_TRUE(gw.EnsureMasquerade({"10.42.0.0/16"}).ok());
  ASSERT_EQ(kernel_.NftInputs().size(), 1u);
  const std::string nft = kernel_.NftInputs()[0];
  EXPECT_NE(nft.find("delete table ip kite-podnet"), std::string::npos) << nft;
  EXPECT_NE(nft.find("type nat hook postrouting priority srcnat"),
            std::string::npos);
  EXPECT_NE(nft.find("ip saddr { 10.42.0.0/16 } ip daddr != { 10.42.0.0/16 } "
                     "ip daddr != 224.0.0.0/4 masquerade"),
            std::string::npos)
      << nft;
  EXPECT_EQ(nft.find("ip6"), std::string::npos);
}

TEST_F(HostGwTest, MasqueradeFallsBackToIptables) {
  fs::remove(dir_ + "/bin/nft");
  HostGw gw(host_, options_);
  ASSERT_TRUE(gw.EnsureMasquerade({"10.42.0.0/16"}).ok());
  EXPECT_TRUE(kernel_.NftInputs().empty());
  std::string restore = Read(options_.state_dir + "/podnet.iptables");
  EXPECT_NE(restore.find("-A KITE-PODNET-MASQ -d 10.42.0.0/16 -j RETURN"),
            std::string::npos)
      << restore;
  EXPECT_NE(restore.find("-A KITE-PODNET-MASQ -j MASQUERADE"),
            std::string::npos);
  auto cmds = kernel_.Commands();
  ASSERT_EQ(cmds.size(), 3u);  // restore, -C (absent), -A
  EXPECT_EQ(fs::path(cmds[0][0]).filename(), "iptables-restore");
  EXPECT_EQ(cmds[0][1], "--noflush");
  EXPECT_EQ(cmds[2],
            (std::vector<std::string>{dir_ + "/bin/iptables", "-t", "nat", "-A",
                                      "POSTROUTING", "-s", "10.42.0.0/16", "-j",
                                      "KITE-PODNET-MASQ"}));
}

class PodNetworkTest : public HostGwTest {
 protected:
  bool Eventually(const std::function<bool()>& pred) {
    for (int i = 0; i < 500; ++i) {
      if (pred()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return pred();
  }
  const client::ResourceRef kNodes{"", "v1", "nodes", ""};
  client::FakeClient api_;
};

TEST_F(PodNetworkTest, FollowsNodes) {
  // A route of a previous run whose node is gone, found at start.
  kernel_.kite = {{"10.42.8.0/24", "10.77.0.8"}};
  ASSERT_TRUE(
      api_.Create(kNodes,
                  Node("self", {"10.42.0.0/24"}, {{"InternalIP", "10.77.0.2"}}),
                  {})
          .ok());
  ASSERT_TRUE(
      api_.Create(kNodes,
                  Node("b", {"10.42.1.0/24"}, {{"InternalIP", "10.77.0.3"}}),
                  {})
          .ok());
  PodNetworkOptions o;
  o.node_name = "self";
  o.host_gw = options_;
  PodNetwork net(api_, host_, o);
  ASSERT_TRUE(net.Start().ok());
  using Routes = std::map<std::string, std::string>;
  EXPECT_TRUE(Eventually([&] {
    return kernel_.Kite() == Routes{{"10.42.1.0/24", "10.77.0.3"}};
  }));
  EXPECT_EQ(Read(dir_ + "/proc/net/ipv4/ip_forward"), "1\n");
  EXPECT_EQ(kernel_.NftInputs().size(), 1u);

  // A node joins without a CIDR (no route), then gets one.
  Json c = Node("c", {}, {{"InternalIP", "10.77.0.4"}});
  auto created = api_.Create(kNodes, c, {});
  ASSERT_TRUE(created.ok());
  (*created)["spec"]["podCIDR"] = "10.42.2.0/24";
  (*created)["spec"]["podCIDRs"] = {"10.42.2.0/24"};
  ASSERT_TRUE(api_.Update(kNodes, *created, {}).ok());
  EXPECT_TRUE(Eventually([&] {
    return kernel_.Kite() ==
           Routes{{"10.42.1.0/24", "10.77.0.3"}, {"10.42.2.0/24", "10.77.0.4"}};
  }));
  // b moves to another address; c goes.
  auto b = api_.Get(kNodes, "b", {});
  ASSERT_TRUE(b.ok());
  (*b)["status"]["addresses"][0]["address"] = "10.77.0.33";
  client::UpdateOptions status;
  status.subresource = "status";
  ASSERT_TRUE(api_.Update(kNodes, *b, status).ok());
  ASSERT_TRUE(api_.Delete(kNodes, "c", {}).ok());
  EXPECT_TRUE(Eventually([&] {
    return kernel_.Kite() == Routes{{"10.42.1.0/24", "10.77.0.33"}};
  }));
  EXPECT_EQ(kernel_.NftInputs().size(), 1u);  // all inside 10.42.0.0/16
  // A node whose podCIDR is outside the cluster CIDR this agent was told
  // (a server with another --cluster-cidr): its pods are not masqueraded
  // either.
  ASSERT_TRUE(
      api_.Create(kNodes,
                  Node("far", {"10.50.3.0/24"}, {{"InternalIP", "10.77.0.50"}}),
                  {})
          .ok());
  EXPECT_TRUE(Eventually([&] { return kernel_.NftInputs().size() == 2; }));
  EXPECT_NE(kernel_.NftInputs().back().find(
                "ip saddr { 10.42.0.0/16, 10.50.3.0/24 } ip daddr != { "
                "10.42.0.0/16, 10.50.3.0/24 }"),
            std::string::npos)
      << kernel_.NftInputs().back();
  ASSERT_TRUE(api_.Delete(kNodes, "far", {}).ok());
  EXPECT_TRUE(Eventually([&] {
    return kernel_.Kite() == Routes{{"10.42.1.0/24", "10.77.0.33"}} &&
           kernel_.NftInputs().size() == 3;
  }));
  // A heartbeat (conditions only) syncs nothing.
  int syncs = net.syncs();
  b = api_.Get(kNodes, "b", {});
  (*b)["status"]["conditions"] = {{{"type", "Ready"}, {"status", "True"}}};
  ASSERT_TRUE(api_.Update(kNodes, *b, status).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(net.syncs(), syncs);
  net.Stop();
  // Stopping leaves the routes (the pods still need them).
  EXPECT_EQ(kernel_.Kite(), (Routes{{"10.42.1.0/24", "10.77.0.33"}}));
}

TEST_F(PodNetworkTest, NoSyncBeforeTheFirstList) {
  kernel_.kite = {{"10.42.1.0/24", "10.77.0.3"}};
  api_.InjectError("list", "nodes", UnavailableError("down"), 1000000);
  PodNetworkOptions o;
  o.node_name = "self";
  o.host_gw = options_;
  PodNetwork net(api_, host_, o);
  ASSERT_TRUE(net.Start().ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(net.syncs(), 0);
  // The route the kernel has survives an API server that cannot list.
  EXPECT_EQ(kernel_.Kite().size(), 1u);
  net.Stop();
}

}  // namespace
}  // namespace kite::podnet

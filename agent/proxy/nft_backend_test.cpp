// Unit tests of the nftables backend: the generated scripts (a pure
// function of the previous and the next snapshot) and the backend's use of
// nft through a fake runner. The real-kernel test is nft_kernel_test.cpp.
#include "agent/proxy/nft_backend.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace kite::proxy {
namespace {

ServicePort Web(std::vector<Endpoint> eps = {
                    {"10.42.0.5", 8080, "n1", true},
                    {"10.42.1.7", 8080, "n2", false}}) {
  ServicePort sp;
  sp.ns = "default";
  sp.name = "web";
  sp.port_name = "http";
  sp.protocol = Protocol::kTcp;
  sp.cluster_ips = {"10.43.0.20"};
  sp.port = 80;
  sp.endpoints = std::move(eps);
  return sp;
}

ProxySnapshot Snap(std::vector<ServicePort> ports) {
  ProxySnapshot s;
  for (ServicePort& p : ports) {
    s.ports[p.Key()] = std::move(p);
  }
  return s;
}

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

int Count(const std::string& text, const std::string& part) {
  int n = 0;
  for (size_t pos = text.find(part); pos != std::string::npos;
       pos = text.find(part, pos + 1))
    ++n;
  return n;
}

// The one chain of `state` whose name starts with `prefix`.
std::string Chain(const NftState& state, const std::string& prefix) {
  std::string found;
  for (const auto& [name, rules] : state.chains) {
    if (name.rfind(prefix, 0) == 0) {
      EXPECT_TRUE(found.empty()) << "two chains start with " << prefix;
      found = name;
    }
  }
  EXPECT_FALSE(found.empty()) << "no chain starts with " << prefix;
  return found;
}

std::string Rules(const NftState& state, const std::string& chain) {
  std::string out;
  for (const std::string& r : state.chains.at(chain)) out += r + "\n";
  return out;
}

TEST(NftRender, ClusterIpPicksAnEndpointAtRandom) {
  NftState st = RenderNftState(Snap({Web()}), NftConfig{});
  std::string svc = Chain(st, "svc-");
  EXPECT_TRUE(Has(svc, "default/web/http/tcp")) << svc;
  ASSERT_EQ(st.chains.size(), 3u);  // svc and two endpoints, no ext
  EXPECT_EQ(st.elements.at("service-ips").at("10.43.0.20 . tcp . 80"),
            "goto " + svc);
  EXPECT_FALSE(st.elements.count("service-nodeports"));
  std::string rules = Rules(st, svc);
  EXPECT_TRUE(Has(rules,
                  "ip saddr != 10.42.0.0/16 meta mark set meta mark | "
                  "0x00004000"))
      << rules;
  std::string ep = "ep-" + svc.substr(4);
  EXPECT_TRUE(Has(
      rules, "numgen random mod 2 == 0 goto " + ep + "/0\ngoto " + ep + "/1\n"))
      << rules;
  bool dnat5 = false, dnat7 = false;
  for (const auto& [name, r] : st.chains) {
    if (name.rfind("ep-", 0) != 0) continue;
    std::string text = Rules(st, name);
    dnat5 |= Has(text,
                 "ip saddr 10.42.0.5 meta mark set meta mark | "
                 "0x00004000\ncounter meta l4proto tcp dnat to "
                 "10.42.0.5:8080");
    dnat7 |= Has(text, "dnat to 10.42.1.7:8080");
  }
  EXPECT_TRUE(dnat5 && dnat7);
  EXPECT_TRUE(st.sets.empty());
}

TEST(NftRender, NoEndpointMarksForReject) {
  ServicePort sp = Web({});
  sp.node_port = 30080;
  NftState st = RenderNftState(Snap({sp}), NftConfig{});
  EXPECT_TRUE(Has(Rules(st, Chain(st, "svc-")),
                  "meta mark set meta mark | 0x00008000"));
  std::string ext = Chain(st, "ext-");
  EXPECT_TRUE(Has(Rules(st, ext), "meta mark set meta mark | 0x00008000"));
  EXPECT_EQ(st.elements.at("service-nodeports").at("tcp . 30080"),
            "goto " + ext);
}

TEST(NftRender, NodePortExternalAndLoadBalancerIpsGoToTheExternalChain) {
  ServicePort sp = Web();
  sp.protocol = Protocol::kUdp;
  sp.node_port = 31000;
  sp.external_ips = {"192.0.2.10"};
  sp.load_balancer_ips = {"192.168.50.1"};
  NftState st = RenderNftState(Snap({sp}), NftConfig{});
  std::string ext = Chain(st, "ext-");
  std::string svc = Chain(st, "svc-");
  const auto& ips = st.elements.at("service-ips");
  EXPECT_EQ(ips.at("192.0.2.10 . udp . 80"), "goto " + ext);
  EXPECT_EQ(ips.at("192.168.50.1 . udp . 80"), "goto " + ext);
  EXPECT_EQ(st.elements.at("service-nodeports").at("udp . 31000"),
            "goto " + ext);
  // Cluster policy: masquerade, then any endpoint.
  std::string rules = Rules(st, ext);
  EXPECT_EQ(rules.find("meta mark set meta mark | 0x00004000\n"), 0u) << rules;
  EXPECT_TRUE(Has(rules, "numgen random mod 2")) << rules;
  EXPECT_TRUE(Has(Rules(st, "ep-" + svc.substr(4) + "/0"),
                  "meta l4proto udp dnat to 10.42.0.5:8080"));
}

TEST(NftRender, TrafficPolicyLocalUsesLocalEndpointsOnly) {
  ServicePort sp = Web();
  sp.node_port = 30080;
  sp.external_policy_local = true;
  sp.internal_policy_local = true;
  NftState st = RenderNftState(Snap({sp}), NftConfig{});
  std::string svc = Chain(st, "svc-");
  std::string ext = Chain(st, "ext-");
  std::string svc_rules = Rules(st, svc);
  std::string ext_rules = Rules(st, ext);
  EXPECT_FALSE(Has(svc_rules, "numgen")) << svc_rules;
  std::string ep = "ep-" + svc.substr(4);
  EXPECT_TRUE(Has(svc_rules, "goto " + ep + "/0\n")) << svc_rules;
  EXPECT_FALSE(Has(svc_rules, ep + "/1")) << svc_rules;
  // Pods and the node itself get ClusterIP behaviour; others no masquerade.
  EXPECT_TRUE(Has(ext_rules, "ip saddr 10.42.0.0/16 goto " + svc));
  EXPECT_TRUE(Has(ext_rules, "fib saddr type local goto " + svc));
  EXPECT_EQ(Count(ext_rules, "0x00004000"), 1) << ext_rules;
  EXPECT_FALSE(Has(ext_rules, ep + "/1")) << ext_rules;

  // No local endpoint: rejected.
  sp.endpoints = {{"10.42.1.7", 8080, "n2", false}};
  st = RenderNftState(Snap({sp}), NftConfig{});
  EXPECT_TRUE(Has(Rules(st, svc), "0x00008000"));
  EXPECT_TRUE(Has(Rules(st, ext), "0x00008000"));
}

TEST(NftRender, SessionAffinityKeepsAClientOnItsEndpoint) {
  ServicePort sp = Web();
  sp.session_affinity = true;
  sp.affinity_timeout_seconds = 30;
  NftState st = RenderNftState(Snap({sp}), NftConfig{});
  ASSERT_EQ(st.sets.size(), 2u);
  for (const auto& [name, decl] : st.sets) {
    EXPECT_EQ(decl, "type ipv4_addr; flags dynamic,timeout; timeout 30s;");
    std::string svc_rules = Rules(st, Chain(st, "svc-"));
    EXPECT_TRUE(Has(svc_rules, "ip saddr @" + name + " goto ep-")) << svc_rules;
  }
  int updates = 0;
  for (const auto& [name, r] : st.chains) {
    if (name.rfind("ep-", 0) == 0 && Has(Rules(st, name), "update @aff-"))
      ++updates;
  }
  EXPECT_EQ(updates, 2);
}

TEST(NftRender, BadAddressesAndIpv6AreLeftOut) {
  ServicePort sp = Web({{"10.42.0.5", 8080, "", false},
                        {"fd00::5", 8080, "", false},
                        {"10.42.0.6; flush ruleset", 8080, "", false},
                        {"10.42.0.7", 0, "", false}});
  sp.cluster_ips = {"10.43.0.20", "fd00:43::20"};
  sp.external_ips = {"not-an-ip"};
  ServicePort v6only = Web();
  v6only.name = "six";
  v6only.cluster_ips = {"fd00:43::21"};
  NftState st = RenderNftState(Snap({sp, v6only}), NftConfig{});
  ASSERT_EQ(st.chains.size(), 2u);  // svc and the one good endpoint
  EXPECT_EQ(st.elements.at("service-ips").size(), 1u);
  std::string script = NftFullScript(st, NftConfig{});
  EXPECT_FALSE(Has(script, "flush ruleset"));
  EXPECT_FALSE(Has(script, "fd00"));
}

TEST(NftRender, Ipv6GoesToTheIp6Table) {
  ServicePort sp = Web({{"10.42.0.5", 8080, "n1", true},
                        {"fd42::0005", 8080, "n1", true},
                        {"fd42::6", 8080, "n2", false}});
  sp.cluster_ips = {"10.43.0.20", "fd43::20"};
  sp.node_port = 30080;
  sp.session_affinity = true;
  NftConfig config;
  config.ipv6 = true;
  config.cluster_cidr = "fd42::/64";
  config.node_ips = {"192.168.50.1", "fd50::1"};
  NftState st = RenderNftState(Snap({sp}), config);
  EXPECT_EQ(st.elements.at("service-ips").size(), 1u);
  EXPECT_TRUE(st.elements.at("service-ips").count("fd43::20 . tcp . 80"));
  std::string svc = Chain(st, "svc-");
  std::string rules = Rules(st, svc);
  EXPECT_TRUE(Has(rules, "ip6 saddr != fd42::/64 meta mark")) << rules;
  EXPECT_TRUE(Has(rules, "ip6 saddr @aff-")) << rules;
  std::string ep0 = Rules(st, "ep-" + svc.substr(4) + "/0");
  EXPECT_TRUE(Has(ep0, "ip6 saddr fd42::5 meta mark")) << ep0;  // canonical
  EXPECT_TRUE(Has(ep0, "update @aff-")) << ep0;
  EXPECT_TRUE(Has(ep0, "{ ip6 saddr }")) << ep0;
  EXPECT_TRUE(Has(ep0, "dnat to [fd42::5]:8080")) << ep0;
  for (const auto& [name, decl] : st.sets) {
    EXPECT_TRUE(Has(decl, "type ipv6_addr;")) << decl;
  }
  std::string full = NftFullScript(st, config);
  EXPECT_EQ(full.rfind("add table ip6 kite-proxy\ndelete table ip6 "
                       "kite-proxy\n",
                       0),
            0u);
  EXPECT_FALSE(Has(full, " ip kite-proxy")) << full;
  EXPECT_TRUE(Has(full, "node-ips { fd50::1 }")) << full;
  EXPECT_TRUE(Has(full, "type ipv6_addr . inet_proto . inet_service"));
  EXPECT_TRUE(Has(NftDiffScript(NftState{}, st, true),
                  "add chain ip6 kite-proxy svc-"));
  // Without node IPs: every local address but ::1.
  config.node_ips.clear();
  EXPECT_TRUE(Has(NftFullScript(st, config), "ip6 daddr != ::1"));
  // The IPv4 state of the same snapshot has none of it.
  NftState v4 = RenderNftState(Snap({sp}), NftConfig{});
  EXPECT_TRUE(v4.elements.at("service-ips").count("10.43.0.20 . tcp . 80"));
  EXPECT_FALSE(Has(NftFullScript(v4, NftConfig{}), "fd4"));
}

TEST(NftRender, NamesAreSafeIdentifiers) {
  ServicePort sp = Web();
  sp.name = "we b\"}";
  NftState st = RenderNftState(Snap({sp}), NftConfig{});
  for (const auto& [name, r] : st.chains) {
    for (char c : name) {
      EXPECT_TRUE(isalnum(static_cast<unsigned char>(c)) || c == '-' ||
                  c == '/' || c == '.' || c == '_')
          << name;
    }
  }
}

TEST(NftRender, TwoServicesClaimingOneAddressDoNotBreakTheTable) {
  ServicePort a = Web();
  a.external_ips = {"192.0.2.10"};
  ServicePort b = Web();
  b.name = "zeta";
  b.cluster_ips = {"10.43.0.21"};
  b.external_ips = {"192.0.2.10"};
  NftState st = RenderNftState(Snap({a, b}), NftConfig{});
  // The first by key wins; the other keeps its ClusterIP.
  EXPECT_TRUE(Has(st.elements.at("service-ips").at("192.0.2.10 . tcp . 80"),
                  "default/web/"));
  EXPECT_TRUE(Has(st.elements.at("service-ips").at("10.43.0.21 . tcp . 80"),
                  "default/zeta/"));
}

TEST(NftScript, FullScriptReplacesTheTable) {
  NftConfig config;
  config.node_ips = {"192.168.50.1", "fd00::1"};
  std::string s = NftFullScript(RenderNftState(Snap({Web()}), config), config);
  EXPECT_EQ(s.rfind("add table ip kite-proxy\ndelete table ip kite-proxy\n"
                    "add table ip kite-proxy\n",
                    0),
            0u)
      << s;
  EXPECT_TRUE(Has(s, "add element ip kite-proxy node-ips { 192.168.50.1 }"));
  EXPECT_TRUE(Has(s,
                  "services ip daddr @node-ips meta l4proto . th dport "
                  "vmap @service-nodeports"));
  EXPECT_TRUE(Has(s, "nat-postrouting masquerade"));
  EXPECT_EQ(Count(s, "jump reject-packet"), 3);
  // No node IPs: every local address but loopback.
  s = NftFullScript(NftState{}, NftConfig{});
  EXPECT_TRUE(Has(s, "fib daddr type local ip daddr != 127.0.0.0/8"));
}

TEST(NftScript, DiffTouchesOnlyWhatChanged) {
  ServicePort web = Web();
  ServicePort db = Web({{"10.42.0.9", 5432, "n1", true}});
  db.name = "db";
  db.port_name = "";
  db.port = 5432;
  db.cluster_ips = {"10.43.0.30"};
  NftConfig config;
  NftState before = RenderNftState(Snap({web, db}), config);

  EXPECT_EQ(NftDiffScript(before, before), "");

  // web's second endpoint is replaced (a new pod): only its chain is
  // rewritten; db is not mentioned.
  ServicePort web2 =
      Web({{"10.42.0.5", 8080, "n1", true}, {"10.42.2.3", 8080, "n3", false}});
  NftState after = RenderNftState(Snap({web2, db}), config);
  std::string d = NftDiffScript(before, after);
  std::string ep1 =
      "ep-" + Chain(RenderNftState(Snap({web}), config), "svc-").substr(4) +
      "/1";
  EXPECT_EQ(d, "flush chain ip kite-proxy " + ep1 +
                   "\nadd chain ip kite-proxy " + ep1 +
                   " { ip saddr 10.42.2.3 meta mark set meta mark | "
                   "0x00004000; counter meta l4proto tcp dnat to "
                   "10.42.2.3:8080; }\n");

  // web loses an endpoint: its chains are rewritten, the last endpoint
  // chain goes after the chains that jump to it are flushed.
  NftState fewer = RenderNftState(
      Snap({Web({{"10.42.0.5", 8080, "n1", true}}), db}), config);
  d = NftDiffScript(before, fewer);
  EXPECT_FALSE(Has(d, "default/db/")) << d;
  EXPECT_FALSE(Has(d, "element")) << d;  // the ClusterIP stays
  EXPECT_TRUE(Has(d, "delete chain ip kite-proxy " + ep1 + "\n")) << d;
  EXPECT_FALSE(Has(d, "dnat to 10.42.0.5:8080")) << d;  // kept as it was
  EXPECT_LT(d.find("flush chain ip kite-proxy svc-"),
            d.find("delete chain ip kite-proxy ep-"))
      << d;

  // db goes: its element first, then its chains.
  NftState only_web = RenderNftState(Snap({web}), config);
  d = NftDiffScript(before, only_web);
  EXPECT_FALSE(Has(d, "default/web/")) << d;
  EXPECT_TRUE(Has(d,
                  "delete element ip kite-proxy service-ips { 10.43.0.30 "
                  ". tcp . 5432 }"))
      << d;
  EXPECT_LT(d.find("delete element"), d.find("flush chain")) << d;
  EXPECT_EQ(Count(d, "delete chain"), 2) << d;

  // db comes back.
  d = NftDiffScript(only_web, before);
  EXPECT_TRUE(Has(d,
                  "add element ip kite-proxy service-ips { 10.43.0.30 . "
                  "tcp . 5432 : goto svc-"))
      << d;
  EXPECT_FALSE(Has(d, "default/web/")) << d;
}

TEST(NftScript, ChangedAffinityTimeoutReplacesTheSets) {
  ServicePort sp = Web();
  sp.session_affinity = true;
  sp.affinity_timeout_seconds = 30;
  NftState a = RenderNftState(Snap({sp}), NftConfig{});
  sp.affinity_timeout_seconds = 60;
  NftState b = RenderNftState(Snap({sp}), NftConfig{});
  std::string d = NftDiffScript(a, b);
  EXPECT_EQ(Count(d, "delete set"), 2) << d;
  EXPECT_EQ(Count(d, "add set"), 2) << d;
  EXPECT_LT(d.rfind("flush chain"), d.find("delete set")) << d;
  EXPECT_LT(d.rfind("add set"), d.find("update @aff-")) << d;
}

TEST(NftScript, ChainsAreWrittenAsBlocksNamingTheSetsTheyUse) {
  ServicePort sp = Web();
  sp.session_affinity = true;
  NftState a = RenderNftState(Snap({sp}), NftConfig{});
  sp.endpoints.resize(1);
  NftState b = RenderNftState(Snap({sp}), NftConfig{});
  std::string d = NftDiffScript(a, b);
  // The svc chain is rewritten in one block; the kept endpoint's set is
  // declared again so nft knows it without loading the table.
  EXPECT_FALSE(Has(d, "add rule")) << d;
  EXPECT_TRUE(Has(d, "add chain ip kite-proxy svc-")) << d;
  EXPECT_TRUE(Has(d,
                  "{ ip saddr != 10.42.0.0/16 meta mark set meta mark | "
                  "0x00004000; ip saddr @aff-"))
      << d;
  EXPECT_EQ(Count(d, "add set ip kite-proxy aff-"), 1) << d;
  EXPECT_TRUE(Has(d, "10.42.0.5/8080-10800 { type ipv4_addr;")) << d;
  EXPECT_EQ(Count(d, "delete set"), 1) << d;  // the removed endpoint's
}

// Records scripts; fails the n-th run when asked.
class FakeRunner : public NftRunner {
 public:
  struct Shared {
    std::vector<std::vector<std::string>> argvs;
    std::vector<std::string> inputs;
    int fail_run = -1;  // index of the run that exits 1
    bool missing = false;
  };
  explicit FakeRunner(Shared* shared) : s_(shared) {}
  StatusOr<NftRunResult> Run(const std::vector<std::string>& argv,
                             const std::string& input) override {
    if (s_->missing) return NotFoundError("nft not found");
    s_->argvs.push_back(argv);
    s_->inputs.push_back(input);
    NftRunResult r;
    if (static_cast<int>(s_->inputs.size()) - 1 == s_->fail_run) {
      r.exit_code = 1;
      r.output = "Error: Could not process rule: No such file or directory";
    }
    return r;
  }

 private:
  Shared* s_;
};

TEST(NftBackend, ProbeThenFullThenIncrementalSyncs) {
  FakeRunner::Shared runs;
  BackendOptions options;
  options.command_prefix = {"nsenter", "--net=/run/netns/x"};
  auto backend =
      NewNftablesBackend(options, std::make_unique<FakeRunner>(&runs));
  ASSERT_TRUE(backend.ok()) << backend.status().ToString();
  EXPECT_STREQ((*backend)->name(), "nftables");
  ASSERT_EQ(runs.inputs.size(), 1u);  // the probe
  EXPECT_EQ(runs.argvs[0],
            (std::vector<std::string>{"nsenter", "--net=/run/netns/x", "nft",
                                      "-f", "-"}));
  EXPECT_TRUE(Has(runs.inputs[0], "type nat hook prerouting"));

  ASSERT_TRUE((*backend)->Sync(Snap({Web()})).ok());
  EXPECT_TRUE(Has(runs.inputs[1], "delete table ip kite-proxy"));
  // Same snapshot: nothing to run.
  ASSERT_TRUE((*backend)->Sync(Snap({Web()})).ok());
  EXPECT_EQ(runs.inputs.size(), 2u);
  ASSERT_TRUE((*backend)->Sync(Snap({})).ok());
  EXPECT_FALSE(Has(runs.inputs[2], "delete table"));
  EXPECT_TRUE(Has(runs.inputs[2], "delete element"));

  // A failed transaction: reported, and the next Sync starts afresh.
  runs.fail_run = 3;
  Status st = (*backend)->Sync(Snap({Web()}));
  EXPECT_EQ(st.code(), Code::kInternal);
  EXPECT_TRUE(Has(st.message(), "No such file")) << st.message();
  ASSERT_TRUE((*backend)->Sync(Snap({Web()})).ok());
  EXPECT_TRUE(Has(runs.inputs[4], "delete table ip kite-proxy"));

  ASSERT_TRUE((*backend)->Cleanup().ok());
  EXPECT_EQ(runs.inputs[5], NftCleanupScript());
  ASSERT_TRUE((*backend)->Sync(Snap({Web()})).ok());
  EXPECT_TRUE(Has(runs.inputs[6], "delete table ip kite-proxy"));
}

class FakeConntrack : public Conntrack {
 public:
  explicit FakeConntrack(
      std::vector<std::set<std::pair<std::string, int>>>* calls)
      : calls_(calls) {}
  StatusOr<int> DeleteUdpFlowsTo(
      const std::set<std::pair<std::string, int>>& endpoints) override {
    if (calls_ == nullptr) return 0;
    calls_->push_back(endpoints);
    return static_cast<int>(endpoints.size());
  }

 private:
  std::vector<std::set<std::pair<std::string, int>>>* calls_;
};

TEST(NftBackend, UdpFlowsToRemovedEndpointsAreDeleted) {
  FakeRunner::Shared runs;
  std::vector<std::set<std::pair<std::string, int>>> calls;
  auto backend =
      NewNftablesBackend(BackendOptions{}, std::make_unique<FakeRunner>(&runs),
                         std::make_unique<FakeConntrack>(&calls));
  ASSERT_TRUE(backend.ok());
  ServicePort udp = Web();
  udp.protocol = Protocol::kUdp;
  ServicePort tcp = Web();
  ASSERT_TRUE((*backend)->Sync(Snap({udp, tcp})).ok());
  EXPECT_TRUE(calls.empty());
  // Both lose 10.42.1.7: only the UDP flows go.
  udp.endpoints.resize(1);
  tcp.endpoints.resize(1);
  ASSERT_TRUE((*backend)->Sync(Snap({udp, tcp})).ok());
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0],
            (std::set<std::pair<std::string, int>>{{"10.42.1.7", 8080}}));
  // The service goes: its last endpoint's flows too.
  ASSERT_TRUE((*backend)->Sync(Snap({tcp})).ok());
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1],
            (std::set<std::pair<std::string, int>>{{"10.42.0.5", 8080}}));
}

// The backend renders only the changed service ports; what it sends must
// be exactly the difference of the whole states.
TEST(NftBackend, IncrementalSyncSendsTheWholeStatesDifference) {
  FakeRunner::Shared runs;
  auto backend =
      NewNftablesBackend(BackendOptions{}, std::make_unique<FakeRunner>(&runs),
                         std::make_unique<FakeConntrack>(nullptr));
  ASSERT_TRUE(backend.ok());
  ServicePort a = Web();
  a.external_ips = {"192.0.2.10"};
  a.session_affinity = true;
  ServicePort b = Web({{"10.42.0.9", 80, "n1", true}});
  b.name = "zeta";
  b.cluster_ips = {"10.43.0.21"};
  b.external_ips = {"192.0.2.10"};  // a owns it while a exists
  ServicePort b2 = b;
  b2.node_port = 30001;
  ServicePort a2 = a;
  a2.endpoints.resize(1);
  a2.affinity_timeout_seconds = 60;
  std::vector<ProxySnapshot> steps = {
      Snap({a, b}),  Snap({a, b2}), Snap({a2, b2}), Snap({b2}),
      Snap({a, b2}), Snap({}),      Snap({a}),      Snap({a, b})};
  ASSERT_TRUE((*backend)->Sync(steps[0]).ok());
  for (size_t i = 1; i < steps.size(); ++i) {
    SCOPED_TRACE(i);
    size_t before = runs.inputs.size();
    ASSERT_TRUE((*backend)->Sync(steps[i]).ok());
    ASSERT_EQ(runs.inputs.size(), before + 1);
    EXPECT_EQ(runs.inputs.back(),
              NftDiffScript(RenderNftState(steps[i - 1], NftConfig{}),
                            RenderNftState(steps[i], NftConfig{})));
  }
  // b takes the external IP over when a goes.
  NftState only_b = RenderNftState(Snap({b2}), NftConfig{});
  EXPECT_TRUE(Has(only_b.elements.at("service-ips").at("192.0.2.10 . tcp . 80"),
                  "default/zeta/"));
}

TEST(NftBackend, UnusableNftablesIsFailedPrecondition) {
  FakeRunner::Shared runs;
  runs.missing = true;
  auto b =
      NewNftablesBackend(BackendOptions{}, std::make_unique<FakeRunner>(&runs));
  EXPECT_EQ(b.status().code(), Code::kFailedPrecondition);
  EXPECT_TRUE(Has(b.status().message(), "nft not found"));

  FakeRunner::Shared refused;
  refused.fail_run = 0;
  b = NewNftablesBackend(BackendOptions{},
                         std::make_unique<FakeRunner>(&refused));
  EXPECT_EQ(b.status().code(), Code::kFailedPrecondition);
  EXPECT_TRUE(Has(b.status().message(), "refused")) << b.status().message();

  BackendOptions bad;
  bad.cluster_cidr = "10.42.0.0/40";
  b = NewNftablesBackend(bad, std::make_unique<FakeRunner>(&refused));
  EXPECT_EQ(b.status().code(), Code::kInvalidArgument);
  bad.cluster_cidr = "fd42::/56,10.42.0.0/16x";
  b = NewNftablesBackend(bad, std::make_unique<FakeRunner>(&refused));
  EXPECT_EQ(b.status().code(), Code::kInvalidArgument);
}

TEST(NftBackend, DualStackServesBothTablesInOneTransaction) {
  FakeRunner::Shared runs;
  BackendOptions options;
  options.cluster_cidr = "10.42.0.0/16,fd42::/56";
  auto b = NewNftablesBackend(options, std::make_unique<FakeRunner>(&runs),
                              std::make_unique<FakeConntrack>(nullptr));
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  ASSERT_EQ(runs.inputs.size(), 2u);  // both probes
  EXPECT_TRUE(Has(runs.inputs[1], "add table ip6 kite-proxy-probe"));
  ServicePort sp =
      Web({{"10.42.0.5", 8080, "n1", true}, {"fd42::5", 8080, "n1", true}});
  sp.cluster_ips = {"10.43.0.20", "fd43::20"};
  ASSERT_TRUE((*b)->Sync(Snap({sp})).ok());
  EXPECT_TRUE(Has(runs.inputs[2], "delete table ip kite-proxy\n"));
  EXPECT_TRUE(Has(runs.inputs[2], "delete table ip6 kite-proxy\n"));
  EXPECT_TRUE(Has(runs.inputs[2], "ip6 saddr != fd42::/56"));
  sp.endpoints.pop_back();  // fd42::5 goes: only the ip6 table changes
  ASSERT_TRUE((*b)->Sync(Snap({sp})).ok());
  EXPECT_FALSE(Has(runs.inputs[3], " ip kite-proxy")) << runs.inputs[3];
  EXPECT_TRUE(Has(runs.inputs[3], " ip6 kite-proxy")) << runs.inputs[3];
  ASSERT_TRUE((*b)->Cleanup().ok());
  EXPECT_EQ(runs.inputs[4], NftCleanupScript(false) + NftCleanupScript(true));

  // A kernel without ip6 nat: IPv4 still served.
  FakeRunner::Shared no6;
  no6.fail_run = 1;
  b = NewNftablesBackend(options, std::make_unique<FakeRunner>(&no6),
                         std::make_unique<FakeConntrack>(nullptr));
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  ASSERT_TRUE((*b)->Sync(Snap({sp})).ok());
  EXPECT_FALSE(Has(no6.inputs.back(), "ip6 kite-proxy"));
}

TEST(NftBackend, DualStackClusterCidrUsesItsIpv4Part) {
  FakeRunner::Shared runs;
  BackendOptions options;
  options.cluster_cidr = "fd42::/56, 10.44.0.0/16";
  auto b = NewNftablesBackend(options, std::make_unique<FakeRunner>(&runs),
                              std::make_unique<FakeConntrack>(nullptr));
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  ASSERT_TRUE((*b)->Sync(Snap({Web()})).ok());
  EXPECT_TRUE(Has(runs.inputs.back(), "ip saddr != 10.44.0.0/16 meta mark"))
      << runs.inputs.back();
}

TEST(NftRunner, FeedsStdinAndReportsExitCodes) {
  auto runner = NewRealNftRunner();
  std::string big(200000, 'x');
  auto r = runner->Run({"sh", "-c", "wc -c; echo oops >&2; exit 3"}, big);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_TRUE(Has(r->output, "200000")) << r->output;
  EXPECT_TRUE(Has(r->output, "oops")) << r->output;
  EXPECT_EQ(runner->Run({"kite-no-such-program"}, "").status().code(),
            Code::kNotFound);
  // A child that quits without reading: no SIGPIPE for us.
  std::string huge(4 << 20, 'x');
  r = runner->Run({"sh", "-c", "exec 0<&-; echo bye; sleep 0.2; exit 4"}, huge);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->exit_code, 4);
  EXPECT_TRUE(Has(r->output, "bye"));
}

}  // namespace
}  // namespace kite::proxy

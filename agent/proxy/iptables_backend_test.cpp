// Unit tests of the iptables backend: the iptables-restore input it
// generates (a pure function of the previous and next snapshot), and the
// probe and Sync sequence against a fake command runner. The real kernel
// is exercised by iptables_kernel_test.cpp.
#include "agent/proxy/iptables_backend.h"

#include <gtest/gtest.h>

#include <set>
#include <sstream>

namespace kite::proxy {
namespace {

BackendOptions Options() {
  BackendOptions o;
  o.node_name = "node-a";
  o.node_ips = {"192.168.5.1"};
  return o;
}

ServicePort Port(std::string name, std::string cluster_ip, int port,
                 std::vector<Endpoint> eps) {
  ServicePort sp;
  sp.ns = "default";
  sp.name = std::move(name);
  sp.port_name = "http";
  sp.cluster_ips = {std::move(cluster_ip)};
  sp.port = port;
  sp.endpoints = std::move(eps);
  return sp;
}

std::string KeyOf(const ServicePort& sp) { return sp.Key(); }

void Put(ProxySnapshot* s, const ServicePort& sp) { s->ports[KeyOf(sp)] = sp; }

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l)) out.push_back(l);
  return out;
}

int Count(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t p = text.find(needle); p != std::string::npos;
       p = text.find(needle, p + 1)) {
    ++n;
  }
  return n;
}

// The per-service chains (SVC, SVL, EXT, SEP) that lines mentioning `key`
// name: the dispatch lines and the endpoint chains carry the key as a
// comment.
std::set<std::string> ChainsOf(const std::string& input,
                               const std::string& key) {
  std::set<std::string> out;
  for (const auto& l : Lines(input)) {
    if (l.find("\"" + key) == std::string::npos) continue;
    std::istringstream words(l);
    std::string w;
    while (words >> w) {
      for (const char* p :
           {"KITE-SVC-", "KITE-SVL-", "KITE-EXT-", "KITE-SEP-"}) {
        if (w.starts_with(p)) out.insert(w);
      }
    }
  }
  return out;
}

TEST(IptablesInput, FullInstallHasHooksBaseChainsAndServices) {
  ProxySnapshot s;
  Put(&s, Port("web", "10.43.0.20", 80,
               {{"10.42.0.5", 8080, "node-a", true},
                {"10.42.1.6", 8080, "node-b", false}}));
  std::string in = IptablesFullInput(s, Options(), "", "", true);
  // Jumps from the built-in chains, first in them.
  EXPECT_NE(in.find("-I PREROUTING 1 -m comment --comment \"kite service "
                    "portals\" -j KITE-SERVICES"),
            std::string::npos);
  EXPECT_NE(in.find("-I OUTPUT 1 -d 192.168.5.1/32"), std::string::npos);
  EXPECT_NE(in.find("-I POSTROUTING 1 "), std::string::npos);
  EXPECT_NE(in.find("-I FORWARD 1 -m conntrack --ctstate NEW"),
            std::string::npos);
  EXPECT_NE(in.find("-A KITE-POSTROUTING -j MASQUERADE"), std::string::npos);
  // Two endpoints: the first taken with probability 1/2, the second always.
  EXPECT_EQ(Count(in, "--probability 0.5000000000 -j KITE-SEP-"), 1);
  EXPECT_EQ(Count(in, "-j DNAT --to-destination 10.42.0.5:8080"), 1);
  EXPECT_EQ(Count(in, "-j DNAT --to-destination 10.42.1.6:8080"), 1);
  // ClusterIP: masquerade from outside the cluster CIDR, then the service.
  EXPECT_NE(in.find("-A KITE-SERVICES -d 10.43.0.20/32 -p tcp -m tcp --dport "
                    "80 ! -s 10.42.0.0/16"),
            std::string::npos);
  EXPECT_NE(in.find("-j KITE-SVC-"), std::string::npos);
  // Only the remote endpoint is masqueraded for external traffic.
  EXPECT_EQ(Count(in, "-m mark --mark 0x2000/0x2000 -j KITE-MARK-MASQ"), 1);
  // Tables are committed.
  EXPECT_EQ(Count(in, "COMMIT\n"), 2);
  EXPECT_EQ(in.find("-X "), std::string::npos);
}

TEST(IptablesInput, IncrementalTouchesOnlyTheChangedServicePort) {
  ProxySnapshot prev;
  ServicePort a = Port("a", "10.43.0.10", 80, {{"10.42.0.5", 80, "", false}});
  ServicePort b =
      Port("b", "10.43.0.11", 80,
           {{"10.42.0.6", 80, "", false}, {"10.42.0.7", 80, "", false}});
  Put(&prev, a);
  Put(&prev, b);
  ProxySnapshot next = prev;
  next.ports[KeyOf(b)].endpoints.pop_back();  // 10.42.0.7 goes away

  std::string full = IptablesFullInput(prev, Options(), "", "", true);
  std::set<std::string> a_chains = ChainsOf(full, KeyOf(a));
  std::set<std::string> b_chains = ChainsOf(full, KeyOf(b));
  ASSERT_EQ(a_chains.size(), 2u);  // SVC + SEP
  ASSERT_EQ(b_chains.size(), 3u);  // SVC + 2 SEP

  std::string in = IptablesIncrementalInput(prev, next, Options());
  for (const auto& c : a_chains) EXPECT_EQ(in.find(c), std::string::npos) << c;
  for (const auto& c : b_chains) EXPECT_NE(in.find(c), std::string::npos) << c;
  // The dispatch lines of b did not change: none written.
  EXPECT_EQ(in.find("KITE-SERVICES"), std::string::npos) << in;
  EXPECT_EQ(in.find("*filter"), std::string::npos);
  // The gone endpoint's chain is flushed and deleted.
  EXPECT_EQ(Count(in, "-X KITE-SEP-"), 1);
  EXPECT_EQ(in.find("10.42.0.7"), std::string::npos);
  EXPECT_NE(in.find("--to-destination 10.42.0.6:80"), std::string::npos);
  EXPECT_EQ(in.find("--probability"), std::string::npos);

  EXPECT_EQ(IptablesIncrementalInput(next, next, Options()), "");
}

TEST(IptablesInput, RemovedAndAddedServicePorts) {
  ProxySnapshot prev, next;
  ServicePort a = Port("a", "10.43.0.10", 80, {{"10.42.0.5", 80, "", false}});
  ServicePort b = Port("b", "10.43.0.11", 81, {{"10.42.0.6", 80, "", false}});
  Put(&prev, a);
  Put(&next, b);
  std::string in = IptablesIncrementalInput(prev, next, Options());
  // a: its two dispatch lines deleted, its chains flushed and deleted.
  EXPECT_EQ(Count(in, "-D KITE-SERVICES -d 10.43.0.10/32"), 2);
  EXPECT_EQ(Count(in, "-X KITE-"), 2);
  // b: its dispatch lines appended after the deletions.
  EXPECT_EQ(Count(in, "-A KITE-SERVICES -d 10.43.0.11/32"), 2);
  EXPECT_LT(in.find("-D KITE-SERVICES"), in.find("-A KITE-SERVICES"));
  // Chains are declared before anything uses them; deleted last.
  EXPECT_LT(in.rfind("\n:KITE-"), in.find("-D KITE-SERVICES"));
  EXPECT_GT(in.find("-X KITE-"), in.rfind("-A KITE-"));
}

TEST(IptablesInput, NoEndpointsRejectsEveryAddress) {
  ProxySnapshot s;
  ServicePort sp = Port("empty", "10.43.0.30", 53, {});
  sp.protocol = Protocol::kUdp;
  sp.node_port = 30053;
  sp.external_ips = {"192.168.5.9"};
  s.ports["default/empty:http/udp"] = sp;
  std::string in = IptablesFullInput(s, Options(), "", "", true);
  EXPECT_EQ(in.find("KITE-SVC-"), std::string::npos);
  EXPECT_EQ(in.find("DNAT"), std::string::npos);
  const std::string reject = " -j REJECT --reject-with icmp-port-unreachable";
  EXPECT_EQ(Count(in, reject), 3);
  EXPECT_NE(
      in.find("-A KITE-SERVICES -d 10.43.0.30/32 -p udp -m udp --dport 53"),
      std::string::npos);
  EXPECT_NE(in.find("-A KITE-SERVICES -d 192.168.5.1/32 -p udp -m udp --dport "
                    "30053"),
            std::string::npos);
  EXPECT_NE(in.find("-A KITE-SERVICES -d 192.168.5.9/32 -p udp"),
            std::string::npos);

  ServicePort tcp = Port("empty", "10.43.0.31", 80, {});
  ProxySnapshot t;
  Put(&t, tcp);
  EXPECT_NE(IptablesFullInput(t, Options(), "", "", true)
                .find("-j REJECT --reject-with tcp-reset"),
            std::string::npos);
}

TEST(IptablesInput, SessionAffinityUsesRecentWithTheTimeout) {
  ProxySnapshot s;
  ServicePort sp = Port("sticky", "10.43.0.40", 80,
                        {{"10.42.0.5", 80, "", false},
                         {"10.42.0.6", 80, "", false},
                         {"10.42.0.7", 80, "", false}});
  sp.session_affinity = true;
  sp.affinity_timeout_seconds = 77;
  Put(&s, sp);
  std::string in = IptablesFullInput(s, Options(), "", "", true);
  EXPECT_EQ(Count(in, "--rcheck --seconds 77 --reap -j KITE-SEP-"), 3);
  EXPECT_EQ(Count(in, " --set -m comment"), 3);
  EXPECT_EQ(Count(in, "--probability 0.3333333333"), 1);
  EXPECT_EQ(Count(in, "--probability 0.5000000000"), 1);
  // The recent checks come before the random spread.
  EXPECT_LT(in.rfind("--rcheck"), in.find("--probability"));
}

TEST(IptablesInput, ExternalPolicyLocal) {
  ServicePort sp = Port(
      "local", "10.43.0.50", 80,
      {{"10.42.0.5", 80, "node-a", true}, {"10.42.1.5", 80, "node-b", false}});
  sp.node_port = 30080;
  sp.external_policy_local = true;
  ProxySnapshot s;
  Put(&s, sp);
  std::string in = IptablesFullInput(s, Options(), "", "", true);
  // The local chain holds only the local endpoint.
  std::string svl;
  for (const auto& l : Lines(in)) {
    if (l.starts_with(":KITE-SVL-")) svl = l.substr(1, l.find(' ') - 1);
  }
  ASSERT_FALSE(svl.empty()) << in;
  int svl_rules = 0;
  for (const auto& l : Lines(in)) {
    if (l.starts_with("-A " + svl + " ")) ++svl_rules;
  }
  EXPECT_EQ(svl_rules, 1);
  EXPECT_NE(in.find("-A KITE-NODEPORTS -p tcp -m tcp --dport 30080"),
            std::string::npos);
  EXPECT_EQ(in.find("REJECT"), std::string::npos);
  // No "external" mark: the client address is kept.
  EXPECT_EQ(in.find("-j MARK --set-xmark 0x2000/0x2000"), std::string::npos);

  // No local endpoint: the NodePort is refused on the node IPs, but pods
  // and the node itself still reach the other endpoints.
  s.ports.begin()->second.endpoints[0].local = false;
  in = IptablesFullInput(s, Options(), "", "", true);
  EXPECT_EQ(in.find(":KITE-SVL-"), std::string::npos);
  EXPECT_NE(in.find("-A KITE-SERVICES -d 192.168.5.1/32 -p tcp -m tcp "
                    "--dport 30080"),
            std::string::npos);
  EXPECT_NE(in.find("-s 10.42.0.0/16 -m comment"), std::string::npos);
}

TEST(IptablesInput, InternalPolicyLocalWithoutLocalEndpointsRejects) {
  ServicePort sp =
      Port("il", "10.43.0.60", 80, {{"10.42.1.5", 80, "node-b", false}});
  sp.internal_policy_local = true;
  ProxySnapshot s;
  Put(&s, sp);
  std::string in = IptablesFullInput(s, Options(), "", "", true);
  EXPECT_EQ(Count(in, "-A KITE-SERVICES -d 10.43.0.60/32"), 1);  // the reject
  EXPECT_NE(in.find("--reject-with tcp-reset"), std::string::npos);
}

TEST(IptablesInput, FullInputRemovesWhatAnEarlierRunLeft) {
  const std::string nat_save =
      "*nat\n:PREROUTING ACCEPT [0:0]\n:KITE-SERVICES - [0:0]\n"
      ":KITE-SVC-OLD - [0:0]\n:DOCKER - [0:0]\n"
      ":KITE-PODNET-MASQ - [0:0]\n"
      "-A PREROUTING -m comment --comment \"kite service portals\" -j "
      "KITE-SERVICES\n"
      "-A PREROUTING -j DOCKER\n"
      "-A POSTROUTING -s 10.42.0.0/16 -j KITE-PODNET-MASQ\n"
      "-A KITE-PODNET-MASQ -j MASQUERADE\n"
      "-A KITE-SERVICES -d 10.43.0.1/32 -j KITE-SVC-OLD\nCOMMIT\n";
  const std::string filter_save =
      "*filter\n:INPUT ACCEPT [0:0]\n:KITE-SERVICES - [0:0]\n"
      "-A INPUT -m conntrack --ctstate NEW -j KITE-SERVICES\nCOMMIT\n";
  std::string cleanup = IptablesFullInput(ProxySnapshot(), Options(), nat_save,
                                          filter_save, false);
  EXPECT_NE(cleanup.find("-D PREROUTING -m comment --comment \"kite service "
                         "portals\" -j KITE-SERVICES"),
            std::string::npos);
  EXPECT_NE(cleanup.find("-D INPUT -m conntrack --ctstate NEW -j "
                         "KITE-SERVICES"),
            std::string::npos);
  // Other chains, kite's pod network masquerade among them, stay.
  EXPECT_EQ(cleanup.find("DOCKER"), std::string::npos);
  EXPECT_EQ(cleanup.find("PODNET"), std::string::npos);
  EXPECT_EQ(Count(cleanup, "-X KITE-"), 3);
  EXPECT_EQ(cleanup.find("-I "), std::string::npos);
  EXPECT_EQ(IptablesFullInput(ProxySnapshot(), Options(), "*nat\nCOMMIT\n", "",
                              false),
            "");

  // Reinstalling: the old service chain goes, the fixed ones stay.
  std::string reinstall = IptablesFullInput(ProxySnapshot(), Options(),
                                            nat_save, filter_save, true);
  EXPECT_NE(reinstall.find("-X KITE-SVC-OLD"), std::string::npos);
  EXPECT_EQ(reinstall.find("-X KITE-SERVICES"), std::string::npos);
  EXPECT_LT(reinstall.find("-D PREROUTING"), reinstall.find("-I PREROUTING"));
}

// A runner that records commands and answers from a script.
struct FakeRunner {
  std::vector<std::vector<std::string>> calls;
  std::vector<std::string> inputs;
  std::set<std::string> broken;  // programs that exit 1
  std::string save_output = "*nat\nCOMMIT\n";

  IptablesRunner Runner() {
    return [this](const std::vector<std::string>& argv,
                  const std::string& input) -> StatusOr<IptablesCommandResult> {
      calls.push_back(argv);
      inputs.push_back(input);
      std::string prog = argv.size() > 2 ? argv[2] : "";
      if (broken.count(prog)) return IptablesCommandResult{1, prog + " broken"};
      if (prog.ends_with("-save")) return IptablesCommandResult{0, save_output};
      return IptablesCommandResult{0, ""};
    };
  }
};

BackendOptions PrefixedOptions() {
  BackendOptions o = Options();
  o.command_prefix = {"nsenter", "--net=/run/netns/x"};
  return o;
}

TEST(IptablesBackend, ProbePrefersNftAndFallsBackToLegacy) {
  FakeRunner fake;
  auto b = NewIptablesBackendWithRunner(PrefixedOptions(), fake.Runner());
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_STREQ((*b)->name(), "iptables");
  EXPECT_EQ(fake.calls.back()[2], "iptables-nft-restore");
  EXPECT_EQ(fake.calls.back()[0], "nsenter");

  FakeRunner no_nft;
  no_nft.broken = {"iptables-nft-save"};
  b = NewIptablesBackendWithRunner(PrefixedOptions(), no_nft.Runner());
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE((*b)->Sync(ProxySnapshot()).ok());
  EXPECT_EQ(no_nft.calls.back()[2], "iptables-legacy-restore");

  FakeRunner none;
  none.broken = {"iptables-nft-save", "iptables-legacy-restore",
                 "iptables-restore"};
  b = NewIptablesBackendWithRunner(PrefixedOptions(), none.Runner());
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(b.status().message().find("iptables-nft-save"), std::string::npos);
  EXPECT_NE(b.status().message().find("iptables-legacy-restore"),
            std::string::npos);
}

// The input the last run of `program` got.
std::string LastInputOf(const FakeRunner& fake, const std::string& program) {
  for (size_t i = fake.calls.size(); i-- > 0;) {
    if (fake.calls[i].size() > 2 && fake.calls[i][2] == program) {
      return fake.inputs[i];
    }
  }
  return "<not run>";
}

TEST(IptablesBackend, DualStackServesEachFamilyWithItsTool) {
  FakeRunner fake;
  BackendOptions o = PrefixedOptions();
  o.cluster_cidr = "fd00:42::/56,10.42.0.0/16";
  auto b = NewIptablesBackendWithRunner(o, fake.Runner());
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  ProxySnapshot s;
  ServicePort sp =
      Port("a", "10.43.0.10", 80,
           {{"10.42.0.5", 80, "", false}, {"fd00:42::5", 80, "", false}});
  sp.cluster_ips = {"10.43.0.10", "fd00:43::10"};
  Put(&s, sp);
  ASSERT_TRUE((*b)->Sync(s).ok());
  std::string v4 = LastInputOf(fake, "iptables-nft-restore");
  std::string v6 = LastInputOf(fake, "ip6tables-nft-restore");
  EXPECT_NE(v4.find("! -s 10.42.0.0/16 -m comment"), std::string::npos);
  EXPECT_NE(v4.find("--to-destination 10.42.0.5:80"), std::string::npos);
  EXPECT_EQ(v4.find("fd00"), std::string::npos);
  EXPECT_NE(v6.find("-d fd00:43::10/128 -p tcp -m tcp --dport 80 ! -s "
                    "fd00:42::/56"),
            std::string::npos)
      << v6;
  EXPECT_NE(v6.find("--to-destination [fd00:42::5]:80"), std::string::npos);
  EXPECT_EQ(v6.find("10.4"), std::string::npos);

  // Single-stack options: no ip6tables at all.
  FakeRunner v4only;
  b = NewIptablesBackendWithRunner(PrefixedOptions(), v4only.Runner());
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE((*b)->Sync(s).ok());
  EXPECT_EQ(LastInputOf(v4only, "ip6tables-nft-restore"), "<not run>");

  // ip6tables broken: IPv4 still served.
  FakeRunner no6;
  no6.broken = {"ip6tables-nft-save"};
  b = NewIptablesBackendWithRunner(o, no6.Runner());
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE((*b)->Sync(s).ok());
  EXPECT_EQ(LastInputOf(no6, "ip6tables-nft-restore"), "<not run>");
  EXPECT_NE(LastInputOf(no6, "iptables-nft-restore").find("10.43.0.10"),
            std::string::npos);

  for (const char* bad :
       {"10.42.0.0", "10.42.0.0/33", "bogus/8", "10.42.0.0/16,x"}) {
    o.cluster_cidr = bad;
    b = NewIptablesBackendWithRunner(o, fake.Runner());
    ASSERT_FALSE(b.ok()) << bad;
    EXPECT_EQ(b.status().code(), Code::kInvalidArgument) << bad;
  }
  o.cluster_cidr = "";
  EXPECT_TRUE(NewIptablesBackendWithRunner(o, fake.Runner()).ok());
}

TEST(IptablesInput, IPv6Rules) {
  BackendOptions o = Options();
  o.node_ips = {"192.168.5.1", "fd00:5::1"};
  o.cluster_cidr = "fd00:42::/56";
  ServicePort sp = Port("six", "fd00:43::20", 53, {});
  sp.protocol = Protocol::kUdp;
  sp.node_port = 30053;
  ProxySnapshot s;
  s.ports[sp.Key()] = sp;
  std::string in = IptablesFullInput(s, o, "", "", true, true);
  EXPECT_NE(in.find("-I PREROUTING 1 -d fd00:5::1/128"), std::string::npos);
  EXPECT_EQ(in.find("192.168"), std::string::npos);
  EXPECT_NE(in.find("-A KITE-SERVICES -d fd00:43::20/128 -p udp -m udp "
                    "--dport 53 -m comment --comment \"default/six:http/udp "
                    "has no endpoints\" -j REJECT --reject-with "
                    "icmp6-port-unreachable"),
            std::string::npos)
      << in;
  EXPECT_NE(in.find("-d fd00:5::1/128 -p udp -m udp --dport 30053"),
            std::string::npos);
  // An IPv4 service has nothing in the IPv6 tables but the base chains.
  ProxySnapshot v4;
  Put(&v4, Port("a", "10.43.0.10", 80, {{"10.42.0.5", 80, "", false}}));
  std::string none = IptablesFullInput(v4, o, "", "", true, true);
  EXPECT_EQ(none.find("KITE-SVC-"), std::string::npos);
  EXPECT_EQ(IptablesIncrementalInput(ProxySnapshot(), v4, o, true), "");
}

TEST(IptablesBackend, FirstSyncIsFullThenIncrementalAndFullAgainAfterAFailure) {
  FakeRunner fake;
  auto b = NewIptablesBackendWithRunner(PrefixedOptions(), fake.Runner());
  ASSERT_TRUE(b.ok());
  ProxySnapshot s;
  Put(&s, Port("a", "10.43.0.10", 80, {{"10.42.0.5", 80, "", false}}));
  size_t before = fake.calls.size();
  ASSERT_TRUE((*b)->Sync(s).ok());
  // save nat, save filter, restore.
  ASSERT_EQ(fake.calls.size(), before + 3);
  EXPECT_EQ(fake.calls.back(),
            (std::vector<std::string>{"nsenter", "--net=/run/netns/x",
                                      "iptables-nft-restore", "-w", "5",
                                      "--noflush"}));
  EXPECT_NE(fake.inputs.back().find("-I PREROUTING"), std::string::npos);

  // Same snapshot: nothing run.
  before = fake.calls.size();
  ASSERT_TRUE((*b)->Sync(s).ok());
  EXPECT_EQ(fake.calls.size(), before);

  // One change: one restore, no save, no hooks.
  s.ports.begin()->second.endpoints[0].port = 81;
  ASSERT_TRUE((*b)->Sync(s).ok());
  ASSERT_EQ(fake.calls.size(), before + 1);
  EXPECT_EQ(fake.inputs.back().find("-I "), std::string::npos);

  // A failing restore: error, and the next Sync starts over.
  fake.broken = {"iptables-nft-restore"};
  s.ports.begin()->second.endpoints[0].port = 82;
  Status st = (*b)->Sync(s);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("broken"), std::string::npos);
  fake.broken.clear();
  before = fake.calls.size();
  ASSERT_TRUE((*b)->Sync(s).ok());
  ASSERT_EQ(fake.calls.size(), before + 3);
  EXPECT_NE(fake.inputs.back().find("-I PREROUTING"), std::string::npos);

  // Cleanup with nothing left: only the saves run.
  before = fake.calls.size();
  ASSERT_TRUE((*b)->Cleanup().ok());
  EXPECT_EQ(fake.calls.size(), before + 2);
}

TEST(IptablesRunner, RunsWithInputAndReportsExitAndMissingPrograms) {
  auto r =
      RunIptablesCommand({"sh", "-c", "cat; echo err >&2; exit 3"}, "hello\n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->output, "hello\nerr\n");
  // A child that does not read a large input: no SIGPIPE for us.
  r = RunIptablesCommand({"true"}, std::string(1 << 20, 'x'));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 0);
  r = RunIptablesCommand({"kite-no-such-program-xyz"}, "");
  EXPECT_EQ(r.status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace kite::proxy

#include "agent/kubelet/pod_spec.h"

#include <gtest/gtest.h>

#include "agent/kubelet/backoff.h"
#include "agent/kubelet/expansion.h"

namespace kite::kubelet {
namespace {

using Strings = std::vector<std::string>;

Json Pod(Json spec) {
  return {{"metadata", {{"name", "p"}, {"namespace", "team"}, {"uid", "u1"}}},
          {"spec", spec}};
}

NodeSettings Node() {
  NodeSettings n;
  n.node_name = "node1";
  n.data_dir = "/var/lib/kite";
  n.host_dns = ParseResolvConf(
      "# comment\nnameserver 192.168.1.1\nnameserver 8.8.8.8\n"
      "search lan example.org\noptions edns0\n");
  n.node_memory_bytes = 1000;
  return n;
}

TEST(PodSpecTest, ResolvConf) {
  auto d = Node().host_dns;
  EXPECT_EQ(d.servers, (Strings{"192.168.1.1", "8.8.8.8"}));
  EXPECT_EQ(d.searches, (Strings{"lan", "example.org"}));
  EXPECT_EQ(d.options, (Strings{"edns0"}));
}

TEST(PodSpecTest, DnsPolicies) {
  NodeSettings n = Node();
  auto d = PodDnsConfig(n, Pod({{"dnsPolicy", "ClusterFirst"}}));
  EXPECT_EQ(d.servers, Strings{"10.43.0.10"});
  EXPECT_EQ(d.searches, (Strings{"team.svc.cluster.local", "svc.cluster.local",
                                 "cluster.local", "lan", "example.org"}));
  EXPECT_EQ(d.options, Strings{"ndots:5"});
  // hostNetwork + ClusterFirst: the host's.
  d = PodDnsConfig(n, Pod({{"hostNetwork", true}}));
  EXPECT_EQ(d.servers, (Strings{"192.168.1.1", "8.8.8.8"}));
  d = PodDnsConfig(n, Pod({{"hostNetwork", true},
                           {"dnsPolicy", "ClusterFirstWithHostNet"}}));
  EXPECT_EQ(d.servers, Strings{"10.43.0.10"});
  d = PodDnsConfig(n, Pod({{"dnsPolicy", "Default"}}));
  EXPECT_EQ(d.searches, (Strings{"lan", "example.org"}));
  d = PodDnsConfig(
      n,
      Pod({{"dnsPolicy", "None"},
           {"dnsConfig",
            {{"nameservers", {"1.1.1.1"}},
             {"searches", {"a.b"}},
             {"options",
              {{{"name", "ndots"}, {"value", "2"}}, {{"name", "rotate"}}}}}}}));
  EXPECT_EQ(d.servers, Strings{"1.1.1.1"});
  EXPECT_EQ(d.searches, Strings{"a.b"});
  EXPECT_EQ(d.options, (Strings{"ndots:2", "rotate"}));
  d = PodDnsConfig(
      n, Pod({{"dnsConfig",
               {{"options", {{{"name", "ndots"}, {"value", "1"}}}}}}}));
  EXPECT_EQ(d.options, Strings{"ndots:1"});
}

TEST(PodSpecTest, CgroupParentAndResources) {
  NodeSettings n = Node();
  Json guaranteed =
      Pod({{"containers",
            {{{"name", "a"},
              {"resources",
               {{"limits", {{"cpu", "500m"}, {"memory", "100"}}},
                {"requests", {{"cpu", "500m"}, {"memory", "100"}}}}}}}}});
  EXPECT_EQ(PodCgroupParent(guaranteed), "/kubepods/podu1");
  auto r =
      ContainerResources(n, guaranteed, guaranteed["spec"]["containers"][0]);
  EXPECT_EQ(r.cpu_shares, 512);
  EXPECT_EQ(r.cpu_period, 100000);
  EXPECT_EQ(r.cpu_quota, 50000);
  EXPECT_EQ(r.memory_limit_in_bytes, 100);
  EXPECT_EQ(r.oom_score_adj, -997);

  Json burstable =
      Pod({{"containers",
            {{{"name", "a"},
              {"resources",
               {{"requests", {{"cpu", "1m"}, {"memory", "250"}}}}}}}}});
  EXPECT_EQ(PodCgroupParent(burstable), "/kubepods/burstable/podu1");
  r = ContainerResources(n, burstable, burstable["spec"]["containers"][0]);
  EXPECT_EQ(r.cpu_shares, 2);
  EXPECT_EQ(r.cpu_quota, 0);
  EXPECT_EQ(r.oom_score_adj, 750);

  Json best = Pod({{"containers", {{{"name", "a"}}}}});
  EXPECT_EQ(PodCgroupParent(best), "/kubepods/besteffort/podu1");
  EXPECT_EQ(
      ContainerResources(n, best, best["spec"]["containers"][0]).oom_score_adj,
      1000);
}

TEST(PodSpecTest, ContainerSecurityAndSandboxNamespaces) {
  NodeSettings n = Node();
  Json pod =
      Pod({{"hostNetwork", true},
           {"shareProcessNamespace", true},
           {"securityContext",
            {{"runAsUser", 1000}, {"runAsGroup", 3000}, {"fsGroup", 2000}}},
           {"containers",
            {{{"name", "a"},
              {"image", "busybox"},
              {"args", {"$(X)"}},
              {"tty", true},
              {"stdin", true},
              {"securityContext",
               {{"runAsUser", 0},
                {"privileged", true},
                {"readOnlyRootFilesystem", true},
                {"allowPrivilegeEscalation", false},
                {"capabilities",
                 {{"add", {"NET_ADMIN"}}, {"drop", {"ALL"}}}}}}}}}});
  auto sb = BuildSandboxConfig(n, pod, 2);
  EXPECT_EQ(sb.hostname, "node1");
  EXPECT_EQ(sb.metadata.attempt, 2u);
  EXPECT_EQ(sb.namespace_options.network, cri::NamespaceMode::kNode);
  EXPECT_EQ(sb.namespace_options.pid, cri::NamespaceMode::kPod);
  EXPECT_TRUE(sb.privileged);
  EXPECT_EQ(sb.log_directory, "/var/lib/kite/agent/pods/team_p_u1");
  auto c = BuildContainerConfig(n, pod, pod["spec"]["containers"][0], 3,
                                {{"X", "y"}}, {});
  EXPECT_EQ(c.args, Strings{"y"});
  EXPECT_EQ(c.log_path, "a/3.log");
  EXPECT_TRUE(c.tty);
  EXPECT_TRUE(c.stdin_open);
  EXPECT_EQ(c.security_context.run_as_user, 0);
  EXPECT_EQ(c.security_context.run_as_group, 3000);
  EXPECT_EQ(c.security_context.supplemental_groups, std::vector<int64_t>{2000});
  EXPECT_TRUE(c.security_context.privileged);
  EXPECT_TRUE(c.security_context.readonly_rootfs);
  EXPECT_TRUE(c.security_context.no_new_privs);
  EXPECT_EQ(c.security_context.add_capabilities, Strings{"NET_ADMIN"});
  EXPECT_EQ(c.security_context.drop_capabilities, Strings{"ALL"});
  EXPECT_EQ(c.security_context.namespace_options.network,
            cri::NamespaceMode::kNode);
}

TEST(ExpansionTest, KubernetesRules) {
  std::vector<cri::KeyValue> env = {{"A", "1"}, {"B", "two"}, {"A", "3"}};
  EXPECT_EQ(ExpandVars("$(A)-$(B)", env), "3-two");
  EXPECT_EQ(ExpandVars("$(C)", env), "$(C)");
  EXPECT_EQ(ExpandVars("$$(A)", env), "$(A)");
  EXPECT_EQ(ExpandVars("$$$(A)", env), "$3");
  EXPECT_EQ(ExpandVars("a$b$", env), "a$b$");
  EXPECT_EQ(ExpandVars("$(A", env), "$(A");
  EXPECT_EQ(ExpandVars("$()", env), "$()");
}

TEST(BackoffTest, DoublesCapsAndExpires) {
  FakeClock clock;
  Backoff b(clock, std::chrono::seconds(10), std::chrono::seconds(300));
  auto t0 = clock.Monotonic();
  EXPECT_FALSE(b.InBackoffSince("k", t0));
  b.Next("k");
  EXPECT_EQ(b.Get("k"), std::chrono::seconds(10));
  EXPECT_TRUE(b.InBackoffSince("k", t0));
  clock.Advance(std::chrono::seconds(10));
  EXPECT_FALSE(b.InBackoffSince("k", t0));
  for (int i = 0; i < 10; ++i) b.Next("k");
  EXPECT_EQ(b.Get("k"), std::chrono::seconds(300));
  clock.Advance(std::chrono::seconds(601));
  EXPECT_EQ(b.Get("k"), std::chrono::seconds(0));
  b.Next("k");
  EXPECT_EQ(b.Get("k"), std::chrono::seconds(10));
  b.ForgetPrefix("k");
  EXPECT_EQ(b.Get("k"), std::chrono::seconds(0));
}

}  // namespace
}  // namespace kite::kubelet

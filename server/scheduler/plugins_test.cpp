#include "server/scheduler/plugins.h"

#include <gtest/gtest.h>

#include <memory>

namespace kite::scheduler {
namespace {

std::shared_ptr<NodeInfo> Node(const std::string& name,
                               const Json& extra = {}) {
  Json n = {{"metadata",
             {{"name", name}, {"labels", {{"kubernetes.io/hostname", name}}}}},
            {"status",
             {{"allocatable", {{"cpu", "2"}, {"memory", "4Gi"}, {"pods", "3"}}},
              {"conditions", {{{"type", "Ready"}, {"status", "True"}}}}}}};
  if (!extra.is_null()) n.merge_patch(extra);
  return std::make_shared<NodeInfo>(ParseNode(n));
}

PodInfo Pod(const Json& spec, const Json& labels = Json::object(),
            const std::string& name = "p") {
  Json p = {
      {"metadata", {{"name", name}, {"namespace", "d"}, {"labels", labels}}},
      {"spec", spec}};
  if (!p["spec"].contains("containers"))
    p["spec"]["containers"] = Json::array({{{"name", "c"}}});
  auto info = ParsePod(p);
  EXPECT_TRUE(info.ok()) << info.status().ToString();
  return *info;
}

void Place(NodeInfo& node, PodInfo pod) {
  pod.node_name = node.name;
  node.requested.Add(pod.requests);
  node.nonzero_requested.Add(pod.nonzero);
  node.pods[pod.ns + "/" + pod.name] = std::make_shared<PodInfo>(pod);
}

std::vector<std::string> Reasons(const PodInfo& pod, const NodeMap& nodes,
                                 const std::string& name) {
  Evaluator ev(pod, nodes);
  return ev.Filter(*nodes.at(name)).reasons;
}

TEST(Filter, VolumeBindingNodeAffinityAndAvailableVolumes) {
  NodeMap nodes = {{"n1", Node("n1")}, {"n2", Node("n2")}};
  PodInfo pod = Pod(Json::object());
  Json on_n2 = {{"nodeSelectorTerms",
                 {{{"matchExpressions",
                    {{{"key", "kubernetes.io/hostname"},
                      {"operator", "In"},
                      {"values", {"n2"}}}}}}}}};
  auto filter = [&](const VolumeBindingInfo& v, const std::string& node) {
    Evaluator ev(pod, nodes, &v);
    return ev.Filter(*nodes.at(node));
  };
  VolumeBindingInfo bound;
  bound.bound.push_back(ParseNodeSelectorTerms(&on_n2));
  bound.bound.push_back({});  // a PV without affinity: any node
  EXPECT_EQ(
      filter(bound, "n1").reasons,
      std::vector<std::string>{"node(s) had volume node affinity conflict"});
  EXPECT_TRUE(filter(bound, "n1").unresolvable);
  EXPECT_TRUE(filter(bound, "n2").reasons.empty());

  VolumeBindingInfo unbound;
  unbound.unbound.push_back({"data", false, {ParseNodeSelectorTerms(&on_n2)}});
  EXPECT_EQ(filter(unbound, "n1").reasons,
            std::vector<std::string>{
                "node(s) didn't find available persistent volumes to bind"});
  EXPECT_TRUE(filter(unbound, "n2").reasons.empty());
  unbound.unbound[0].provisionable = true;  // a provisioner makes one
  EXPECT_TRUE(filter(unbound, "n1").reasons.empty());

  VolumeBindingInfo missing;
  missing.unresolvable = "persistentvolumeclaim \"x\" not found";
  EXPECT_EQ(filter(missing, "n2").reasons,
            std::vector<std::string>{"persistentvolumeclaim \"x\" not found"});
}

TEST(FitErrorMessage, KubeSchedulerWording) {
  EXPECT_EQ(FitErrorMessage(3, {{"Insufficient cpu", 3}}, 0),
            "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 "
            "nodes are available: 3 No preemption victims found for incoming "
            "pod.");
  EXPECT_EQ(
      FitErrorMessage(
          3, {{"node(s) were unschedulable", 1}, {"Too many pods", 2}}, 1),
      "0/3 nodes are available: 1 node(s) were unschedulable, 2 Too many "
      "pods. preemption: 0/3 nodes are available: 1 Preemption is not "
      "helpful for scheduling, 2 No preemption victims found for "
      "incoming pod.");
  EXPECT_EQ(FitErrorMessage(0, {}, 0), "no nodes available to schedule pods");
}

TEST(Filter, ResourcesAgainstAllocatableCountBoundPods) {
  NodeMap nodes = {{"a", Node("a")}};
  Json big = {{"containers",
               {{{"name", "c"},
                 {"resources",
                  {{"requests", {{"cpu", "1500m"}, {"memory", "1Gi"}}}}}}}}};
  EXPECT_TRUE(Reasons(Pod(big), nodes, "a").empty());
  Place(*nodes["a"], Pod(big, {}, "first"));
  EXPECT_EQ(Reasons(Pod(big), nodes, "a"),
            std::vector<std::string>{"Insufficient cpu"});
  Json huge = {
      {"containers",
       {{{"name", "c"},
         {"resources", {{"limits", {{"cpu", "3"}, {"memory", "5Gi"}}}}}}}}};
  EXPECT_EQ(
      Reasons(Pod(huge), nodes, "a"),
      (std::vector<std::string>{"Insufficient cpu", "Insufficient memory"}));
  Place(*nodes["a"], Pod({}, {}, "x"));
  Place(*nodes["a"], Pod({}, {}, "y"));
  EXPECT_EQ(Reasons(Pod({}), nodes, "a"),
            std::vector<std::string>{"Too many pods"});
}

TEST(Filter, TaintsTolerationsUnschedulableAndReadiness) {
  NodeMap nodes = {
      {"t", Node("t", {{"spec",
                        {{"taints",
                          {{{"key", "gpu"},
                            {"value", "yes"},
                            {"effect", "NoSchedule"}}}}}}})},
      {"u", Node("u", {{"spec", {{"unschedulable", true}}}})},
      {"nr",
       Node("nr",
            {{"status",
              {{"conditions", {{{"type", "Ready"}, {"status", "False"}}}}}}})}};
  EXPECT_EQ(
      Reasons(Pod({}), nodes, "t"),
      std::vector<std::string>{"node(s) had untolerated taint {gpu: yes}"});
  EXPECT_TRUE(
      Reasons(
          Pod({{"tolerations",
                {{{"key", "gpu"}, {"operator", "Equal"}, {"value", "yes"}}}}}),
          nodes, "t")
          .empty());
  EXPECT_TRUE(
      Reasons(Pod({{"tolerations", {{{"operator", "Exists"}}}}}), nodes, "t")
          .empty());
  EXPECT_EQ(Reasons(Pod({}), nodes, "u"),
            std::vector<std::string>{"node(s) were unschedulable"});
  EXPECT_EQ(
      Reasons(Pod({}), nodes, "nr"),
      std::vector<std::string>{
          "node(s) had untolerated taint {node.kubernetes.io/not-ready: }"});
}

TEST(Filter, NodeSelectorAndRequiredAffinity) {
  NodeMap nodes = {
      {"a", Node("a", {{"metadata",
                        {{"labels", {{"disk", "ssd"}, {"gen", "5"}}}}}})},
      {"b", Node("b")}};
  PodInfo sel = Pod({{"nodeSelector", {{"disk", "ssd"}}}});
  EXPECT_TRUE(Reasons(sel, nodes, "a").empty());
  EXPECT_EQ(Reasons(sel, nodes, "b"),
            std::vector<std::string>{
                "node(s) didn't match Pod's node affinity/selector"});
  Json affinity = {{"affinity",
                    {{"nodeAffinity",
                      {{"requiredDuringSchedulingIgnoredDuringExecution",
                        {{"nodeSelectorTerms",
                          {{{"matchExpressions",
                             {{{"key", "gen"},
                               {"operator", "Gt"},
                               {"values", {"4"}}}}}}}}}}}}}}};
  EXPECT_TRUE(Reasons(Pod(affinity), nodes, "a").empty());
  EXPECT_FALSE(Reasons(Pod(affinity), nodes, "b").empty());
  Json by_name = {{"affinity",
                   {{"nodeAffinity",
                     {{"requiredDuringSchedulingIgnoredDuringExecution",
                       {{"nodeSelectorTerms",
                         {{{"matchFields",
                            {{{"key", "metadata.name"},
                              {"operator", "In"},
                              {"values", {"b"}}}}}}}}}}}}}}};
  EXPECT_FALSE(Reasons(Pod(by_name), nodes, "a").empty());
  EXPECT_TRUE(Reasons(Pod(by_name), nodes, "b").empty());
}

TEST(Filter, PodAntiAffinityByHostname) {
  NodeMap nodes = {{"a", Node("a")}, {"b", Node("b")}};
  Json anti = {{"affinity",
                {{"podAntiAffinity",
                  {{"requiredDuringSchedulingIgnoredDuringExecution",
                    {{{"labelSelector", {{"matchLabels", {{"app", "db"}}}}},
                      {"topologyKey", "kubernetes.io/hostname"}}}}}}}}};
  Place(*nodes["a"], Pod(anti, {{"app", "db"}}, "db-0"));
  EXPECT_EQ(Reasons(Pod(anti, {{"app", "db"}}), nodes, "a"),
            std::vector<std::string>{
                "node(s) didn't satisfy existing pods anti-affinity rules"});
  EXPECT_TRUE(Reasons(Pod(anti, {{"app", "db"}}), nodes, "b").empty());
  // Only the incoming pod has the rule.
  NodeMap plain = {{"a", Node("a")}};
  Place(*plain["a"], Pod({}, {{"app", "db"}}, "db-0"));
  EXPECT_EQ(
      Reasons(Pod(anti, {{"app", "web"}}), plain, "a"),
      std::vector<std::string>{"node(s) didn't match pod anti-affinity rules"});
}

TEST(Filter, TopologySpreadDoNotSchedule) {
  NodeMap nodes = {{"a", Node("a")}, {"b", Node("b")}};
  Json spread = {{"topologySpreadConstraints",
                  {{{"maxSkew", 1},
                    {"topologyKey", "kubernetes.io/hostname"},
                    {"whenUnsatisfiable", "DoNotSchedule"},
                    {"labelSelector", {{"matchLabels", {{"app", "w"}}}}}}}}};
  Place(*nodes["a"], Pod(spread, {{"app", "w"}}, "w-0"));
  EXPECT_EQ(Reasons(Pod(spread, {{"app", "w"}}), nodes, "a"),
            std::vector<std::string>{
                "node(s) didn't match pod topology spread constraints"});
  EXPECT_TRUE(Reasons(Pod(spread, {{"app", "w"}}), nodes, "b").empty());
}

TEST(Score, PrefersEmptierNodesAndPreferredAffinity) {
  NodeMap nodes = {
      {"a", Node("a")},
      {"b", Node("b", {{"metadata", {{"labels", {{"zone", "x"}}}}}})}};
  Place(
      *nodes["a"],
      Pod({{"containers",
            {{{"name", "c"}, {"resources", {{"requests", {{"cpu", "1"}}}}}}}}},
          {}, "busy"));
  PodInfo p = Pod({});
  Evaluator ev(p, nodes);
  auto s = ev.Score({nodes["a"].get(), nodes["b"].get()});
  EXPECT_GT(s[1], s[0]);
  Json pref = {{"affinity",
                {{"nodeAffinity",
                  {{"preferredDuringSchedulingIgnoredDuringExecution",
                    {{{"weight", 50},
                      {"preference",
                       {{"matchExpressions",
                         {{{"key", "zone"},
                           {"operator", "In"},
                           {"values", {"x"}}}}}}}}}}}}}}};
  NodeMap even = {
      {"a", Node("a")},
      {"b", Node("b", {{"metadata", {{"labels", {{"zone", "x"}}}}}})}};
  PodInfo q = Pod(pref);
  Evaluator ev2(q, even);
  auto s2 = ev2.Score({even["a"].get(), even["b"].get()});
  EXPECT_GT(s2[1], s2[0]);
}

}  // namespace
}  // namespace kite::scheduler

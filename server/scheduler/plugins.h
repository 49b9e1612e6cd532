// The scheduler's filters and scores (DESIGN.md §6), as pure functions over
// parsed pods and nodes, so they can be tested without a cache or a client.
//
// Filters, in kube-scheduler's plugin order; the first that fails gives
// the node's reasons, worded as kube-scheduler words them (what `kubectl
// describe pod` shows in FailedScheduling):
//   NodeUnschedulable  "node(s) were unschedulable"
//   NodeName           "node(s) didn't match the requested node name"
//   TaintToleration    "node(s) had untolerated taint {key: value}" (a node
//                      whose Ready condition is not True counts as tainted
//                      node.kubernetes.io/not-ready or /unreachable
//                      NoSchedule, as the node lifecycle controller would
//                      taint it)
//   NodeAffinity       "node(s) didn't match Pod's node affinity/selector"
//   NodeResourcesFit   "Insufficient cpu", "Insufficient memory",
//                      "Insufficient <resource>", "Too many pods"
//   VolumeBinding      "node(s) had volume node affinity conflict" (a bound
//                      claim's PV does not admit the node), "node(s) didn't
//                      find available persistent volumes to bind" (an
//                      unbound WaitForFirstConsumer claim with neither a
//                      provisioner nor an Available PV for the node), and
//                      for every node "persistentvolumeclaim \"x\" not
//                      found", "pod has unbound immediate
//                      PersistentVolumeClaims", ... (VolumeBindingInfo)
//   PodTopologySpread  "node(s) didn't match pod topology spread constraints"
//                      (DoNotSchedule only; "(missing required label)" when
//                      the node lacks the topology key)
//   InterPodAffinity   "node(s) didn't match pod affinity rules",
//                      "node(s) didn't match pod anti-affinity rules",
//                      "node(s) didn't satisfy existing pods anti-affinity
//                      rules"
// Scores (0-100 each, weighted as kube-scheduler's defaults): least
// allocated cpu/memory (1), balanced allocation (1), preferred node affinity
// (2), PreferNoSchedule taints (3), topology spread incl. ScheduleAnyway and
// the default spreading of a controller's pods over nodes (2).
//
// Thread safety: values and free functions; no shared state.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "api/selectors.h"
#include "common/status.h"

namespace kite::scheduler {

using Json = nlohmann::json;

// Requests in milli-cpu, bytes, and other resources in their units.
struct Resources {
  int64_t milli_cpu = 0;
  int64_t memory = 0;
  std::map<std::string, int64_t> other;  // extended resources (units)
  void Add(const Resources& r);
  void Sub(const Resources& r);
};

struct Toleration {
  std::string key, op = "Equal", value, effect;
};
struct Taint {
  std::string key, value, effect;
};
struct NodeSelectorRequirement {
  std::string key, op;
  std::vector<std::string> values;
};
struct NodeSelectorTerm {
  std::vector<NodeSelectorRequirement> expressions;
  std::vector<NodeSelectorRequirement> fields;  // metadata.name only
};
struct PodAffinityTerm {
  api::LabelSelector selector;
  std::set<std::string> namespaces;  // empty: the pod's own
  bool all_namespaces = false;       // namespaceSelector {}
  std::string topology_key;
};
struct SpreadConstraint {
  int max_skew = 1;
  std::string topology_key;
  bool hard = true;  // DoNotSchedule
  api::LabelSelector selector;
  int min_domains = 1;
};

// What the scheduler needs of a pod, parsed once.
struct PodInfo {
  std::string key, ns, name, uid;
  std::string node_name;  // spec.nodeName (asked for, or bound)
  std::map<std::string, std::string> labels;
  Resources requests;
  Resources nonzero;  // requests with kube's defaults (100m, 200Mi) for 0
  std::map<std::string, std::string> node_selector;
  std::vector<NodeSelectorTerm> required_terms;  // ORed; empty: none
  std::vector<std::pair<int, NodeSelectorTerm>> preferred_terms;
  std::vector<Toleration> tolerations;
  std::vector<PodAffinityTerm> affinity;       // required
  std::vector<PodAffinityTerm> anti_affinity;  // required
  std::vector<SpreadConstraint> spread;
  std::string owner_uid;  // the controller's uid, for default spreading
};

struct NodeInfo {
  std::string name;
  std::map<std::string, std::string> labels;
  Resources allocatable;
  int64_t allocatable_pods = 110;
  bool unschedulable = false;
  std::vector<Taint> taints;  // incl. the synthetic not-ready one
  // Bound and assumed pods.
  Resources requested;
  Resources nonzero_requested;
  std::map<std::string, std::shared_ptr<const PodInfo>> pods;
};

// Parses a Pod. InvalidArgument for selectors that do not parse (the pod
// can then never be scheduled).
StatusOr<PodInfo> ParsePod(const Json& pod);
// Parses a Node (the pods are not touched).
NodeInfo ParseNode(const Json& node);
// A fingerprint of what scheduling reads of a node, to tell relevant
// updates (labels, taints, allocatable, readiness) from heartbeats.
std::string NodeSchedulingKey(const Json& node);

bool Tolerates(const std::vector<Toleration>& tolerations, const Taint& taint);
bool MatchesNodeSelector(const PodInfo& pod, const NodeInfo& node);

// What the VolumeBinding filter needs of the pod's PersistentVolumeClaims,
// gathered per attempt from the claim, volume and class caches by the
// scheduler (an empty one for pods without claims).
struct VolumeBindingInfo {
  // Non-empty: a reason that fails every node and that no node can fix
  // (claim missing or being deleted, unbound Immediate claim, PV missing).
  std::string unresolvable;
  // Per bound claim: its PV's required nodeAffinity terms (ORed; empty:
  // any node).
  std::vector<std::vector<NodeSelectorTerm>> bound;
  struct Unbound {
    std::string claim;           // name, in the pod's namespace
    bool provisionable = false;  // the class has a provisioner
    // Per Available PV that would fit the claim: its nodeAffinity terms.
    std::vector<std::vector<NodeSelectorTerm>> candidates;
  };
  // Unbound claims of WaitForFirstConsumer classes: the scheduler annotates
  // them with volume.kubernetes.io/selected-node before binding the pod.
  std::vector<Unbound> unbound;
};

// The terms of a v1 NodeSelector ({"nodeSelectorTerms": [...]}); empty for
// null.
std::vector<NodeSelectorTerm> ParseNodeSelectorTerms(const Json* selector);
// ORed terms; an empty list admits every node.
bool NodeSelectorTermsMatch(const std::vector<NodeSelectorTerm>& terms,
                            const NodeInfo& node);

// Everything one scheduling attempt needs besides the pod: the nodes.
using NodeMap = std::map<std::string, std::shared_ptr<NodeInfo>>;

// The outcome of filtering one node.
struct FilterResult {
  std::vector<std::string> reasons;  // empty: fits
  bool unresolvable = false;         // preemption cannot help
};

// Computes, per attempt, the cluster-wide facts the affinity and spread
// filters need, then filters and scores nodes for one pod.
class Evaluator {
 public:
  // `volumes` (may be null: no claims) must outlive the evaluator.
  Evaluator(const PodInfo& pod, const NodeMap& nodes,
            const VolumeBindingInfo* volumes = nullptr);
  FilterResult Filter(const NodeInfo& node) const;
  // Scores of the feasible nodes (same order), higher is better.
  std::vector<int64_t> Score(const std::vector<const NodeInfo*>& nodes) const;

 private:
  bool Matches(const PodAffinityTerm& term, const std::string& term_ns,
               const PodInfo& other) const;
  const PodInfo& pod_;
  const NodeMap& nodes_;
  const VolumeBindingInfo* volumes_;
  // Per spread constraint: pods matching in each domain, and the minimum
  // over eligible domains.
  std::vector<std::map<std::string, int64_t>> spread_counts_;
  std::vector<int64_t> spread_min_;
  // Per required affinity / anti-affinity term: domains holding a match.
  std::vector<std::set<std::string>> affinity_domains_;
  std::vector<std::set<std::string>> anti_domains_;
  bool affinity_self_match_ = false;  // no match anywhere, pod matches itself
  // Topology key -> domains where an existing pod's anti-affinity term
  // matches this pod.
  std::map<std::string, std::set<std::string>> existing_anti_;
};

// "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are
// available: 3 No preemption victims found for incoming pod."
std::string FitErrorMessage(int nodes,
                            const std::map<std::string, int>& reasons,
                            int unresolvable_nodes);

}  // namespace kite::scheduler

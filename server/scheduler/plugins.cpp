#include "server/scheduler/plugins.h"

#include <algorithm>
#include <cstdlib>

#include "api/object.h"
#include "api/quantity.h"

namespace kite::scheduler {
namespace {

constexpr int64_t kDefaultMilliCpu = 100;                // kube's non-zero
constexpr int64_t kDefaultMemory = 200LL * 1024 * 1024;  // 200Mi

int64_t Milli(const Json& q) {
  if (!q.is_string() && !q.is_number()) return 0;
  auto p =
      api::Quantity::Parse(q.is_string() ? q.get<std::string>() : q.dump());
  return p.ok() ? p->MilliValue() : 0;
}
int64_t Units(const Json& q) {
  if (!q.is_string() && !q.is_number()) return 0;
  auto p =
      api::Quantity::Parse(q.is_string() ? q.get<std::string>() : q.dump());
  return p.ok() ? p->Value() : 0;
}

// A container's requests (its limits where no request is given, as the API
// server defaults them).
Resources ContainerRequests(const Json& c) {
  Resources r;
  const Json* req = api::FieldPath(c, {"resources", "requests"});
  const Json* lim = api::FieldPath(c, {"resources", "limits"});
  Json merged = Json::object();
  if (lim && lim->is_object()) merged.update(*lim);
  if (req && req->is_object()) merged.update(*req);
  for (auto it = merged.begin(); it != merged.end(); ++it) {
    if (it.key() == "cpu")
      r.milli_cpu = Milli(it.value());
    else if (it.key() == "memory")
      r.memory = Units(it.value());
    else
      r.other[it.key()] = Units(it.value());
  }
  return r;
}

void MaxInto(Resources& a, const Resources& b) {
  a.milli_cpu = std::max(a.milli_cpu, b.milli_cpu);
  a.memory = std::max(a.memory, b.memory);
  for (const auto& [k, v] : b.other) a.other[k] = std::max(a.other[k], v);
}

std::vector<NodeSelectorRequirement> ParseRequirements(const Json* list) {
  std::vector<NodeSelectorRequirement> out;
  if (!list || !list->is_array()) return out;
  for (const Json& r : *list) {
    NodeSelectorRequirement q;
    q.key = api::GetString(r, {"key"});
    q.op = api::GetString(r, {"operator"});
    if (const Json* v = api::Field(r, "values"); v && v->is_array())
      for (const Json& s : *v)
        if (s.is_string()) q.values.push_back(s.get<std::string>());
    out.push_back(std::move(q));
  }
  return out;
}

NodeSelectorTerm ParseTerm(const Json& t) {
  NodeSelectorTerm term;
  term.expressions = ParseRequirements(api::Field(t, "matchExpressions"));
  term.fields = ParseRequirements(api::Field(t, "matchFields"));
  return term;
}

bool RequirementMatches(const NodeSelectorRequirement& r,
                        const std::map<std::string, std::string>& labels) {
  auto it = labels.find(r.key);
  bool has = it != labels.end();
  auto in = [&] {
    return has && std::find(r.values.begin(), r.values.end(), it->second) !=
                      r.values.end();
  };
  if (r.op == "In") return in();
  if (r.op == "NotIn") return !in();
  if (r.op == "Exists") return has;
  if (r.op == "DoesNotExist") return !has;
  if ((r.op == "Gt" || r.op == "Lt") && has && r.values.size() == 1) {
    char* e1 = nullptr;
    char* e2 = nullptr;
    long long v = std::strtoll(it->second.c_str(), &e1, 10);
    long long lim = std::strtoll(r.values[0].c_str(), &e2, 10);
    if (*e1 || *e2 || it->second.empty() || r.values[0].empty()) return false;
    return r.op == "Gt" ? v > lim : v < lim;
  }
  return false;
}

bool TermMatches(const NodeSelectorTerm& t, const NodeInfo& node) {
  if (t.expressions.empty() && t.fields.empty()) return false;
  for (const auto& r : t.expressions)
    if (!RequirementMatches(r, node.labels)) return false;
  std::map<std::string, std::string> fields = {{"metadata.name", node.name}};
  for (const auto& r : t.fields)
    if (!RequirementMatches(r, fields)) return false;
  return true;
}

StatusOr<std::vector<PodAffinityTerm>> ParseAffinityTerms(const Json* list,
                                                          bool weighted) {
  std::vector<PodAffinityTerm> out;
  if (!list || !list->is_array()) return out;
  for (const Json& item : *list) {
    const Json& t =
        weighted ? item.value("podAffinityTerm", Json::object()) : item;
    PodAffinityTerm term;
    const Json* sel = api::Field(t, "labelSelector");
    if (sel && !sel->is_null()) {
      KITE_ASSIGN_OR_RETURN(term.selector, api::LabelSelector::FromJson(*sel));
    } else {
      term.selector = api::LabelSelector::Nothing();
    }
    if (const Json* ns = api::Field(t, "namespaces"); ns && ns->is_array())
      for (const Json& n : *ns)
        if (n.is_string()) term.namespaces.insert(n.get<std::string>());
    if (const Json* nss = api::Field(t, "namespaceSelector");
        nss && nss->is_object() && nss->empty())
      term.all_namespaces = true;
    term.topology_key = api::GetString(t, {"topologyKey"});
    out.push_back(std::move(term));
  }
  return out;
}

std::string DomainOf(const NodeInfo& node, const std::string& key) {
  auto it = node.labels.find(key);
  return it == node.labels.end() ? std::string() : it->second;
}

}  // namespace

void Resources::Add(const Resources& r) {
  milli_cpu += r.milli_cpu;
  memory += r.memory;
  for (const auto& [k, v] : r.other) other[k] += v;
}
void Resources::Sub(const Resources& r) {
  milli_cpu -= r.milli_cpu;
  memory -= r.memory;
  for (const auto& [k, v] : r.other) other[k] -= v;
}

StatusOr<PodInfo> ParsePod(const Json& pod) {
  PodInfo p;
  p.ns = api::Namespace(pod);
  p.name = api::Name(pod);
  p.key = p.ns.empty() ? p.name : p.ns + "/" + p.name;
  p.uid = api::GetString(pod, {"metadata", "uid"});
  p.labels = api::Labels(pod);
  const Json empty = Json::object();
  const Json& spec = pod.contains("spec") ? pod["spec"] : empty;
  p.node_name = api::GetString(spec, {"nodeName"});
  if (const Json* cs = api::Field(spec, "containers"); cs && cs->is_array()) {
    for (const Json& c : *cs) {
      Resources r = ContainerRequests(c);
      p.requests.Add(r);
      if (r.milli_cpu == 0) r.milli_cpu = kDefaultMilliCpu;
      if (r.memory == 0) r.memory = kDefaultMemory;
      p.nonzero.Add(r);
    }
  }
  if (const Json* cs = api::Field(spec, "initContainers");
      cs && cs->is_array()) {
    for (const Json& c : *cs) {
      Resources r = ContainerRequests(c);
      MaxInto(p.requests, r);
      MaxInto(p.nonzero, r);
    }
  }
  if (const Json* oh = api::Field(spec, "overhead"); oh && oh->is_object()) {
    Json c = {{"resources", {{"requests", *oh}}}};
    Resources r = ContainerRequests(c);
    p.requests.Add(r);
    p.nonzero.Add(r);
  }
  p.node_selector = api::StringMap(api::Field(spec, "nodeSelector"));
  if (const Json* terms = api::FieldPath(
          spec, {"affinity", "nodeAffinity",
                 "requiredDuringSchedulingIgnoredDuringExecution",
                 "nodeSelectorTerms"});
      terms && terms->is_array()) {
    for (const Json& t : *terms) p.required_terms.push_back(ParseTerm(t));
    if (p.required_terms.empty())  // an empty list matches no node
      p.required_terms.push_back(NodeSelectorTerm{});
  }
  if (const Json* pref = api::FieldPath(
          spec, {"affinity", "nodeAffinity",
                 "preferredDuringSchedulingIgnoredDuringExecution"});
      pref && pref->is_array()) {
    for (const Json& t : *pref)
      p.preferred_terms.push_back(
          {static_cast<int>(api::GetInt(t, {"weight"}, 1)),
           ParseTerm(t.value("preference", Json::object()))});
  }
  if (const Json* tols = api::Field(spec, "tolerations");
      tols && tols->is_array()) {
    for (const Json& t : *tols) {
      Toleration tol;
      tol.key = api::GetString(t, {"key"});
      tol.op = api::GetString(t, {"operator"}, "Equal");
      tol.value = api::GetString(t, {"value"});
      tol.effect = api::GetString(t, {"effect"});
      p.tolerations.push_back(std::move(tol));
    }
  }
  KITE_ASSIGN_OR_RETURN(
      p.affinity,
      ParseAffinityTerms(
          api::FieldPath(spec,
                         {"affinity", "podAffinity",
                          "requiredDuringSchedulingIgnoredDuringExecution"}),
          false));
  KITE_ASSIGN_OR_RETURN(
      p.anti_affinity,
      ParseAffinityTerms(
          api::FieldPath(spec,
                         {"affinity", "podAntiAffinity",
                          "requiredDuringSchedulingIgnoredDuringExecution"}),
          false));
  if (const Json* tsc = api::Field(spec, "topologySpreadConstraints");
      tsc && tsc->is_array()) {
    for (const Json& c : *tsc) {
      SpreadConstraint s;
      s.max_skew = static_cast<int>(api::GetInt(c, {"maxSkew"}, 1));
      s.topology_key = api::GetString(c, {"topologyKey"});
      s.hard = api::GetString(c, {"whenUnsatisfiable"}, "DoNotSchedule") ==
               "DoNotSchedule";
      s.min_domains = static_cast<int>(api::GetInt(c, {"minDomains"}, 1));
      const Json* sel = api::Field(c, "labelSelector");
      if (sel && !sel->is_null()) {
        KITE_ASSIGN_OR_RETURN(s.selector, api::LabelSelector::FromJson(*sel));
      } else {
        s.selector = api::LabelSelector::Nothing();
      }
      p.spread.push_back(std::move(s));
    }
  }
  if (const Json* owners = api::FieldPath(pod, {"metadata", "ownerReferences"});
      owners && owners->is_array()) {
    for (const Json& o : *owners)
      if (api::GetBool(o, {"controller"}))
        p.owner_uid = api::GetString(o, {"uid"});
  }
  return p;
}

NodeInfo ParseNode(const Json& node) {
  NodeInfo n;
  n.name = api::Name(node);
  n.labels = api::Labels(node);
  n.unschedulable = api::GetBool(node, {"spec", "unschedulable"});
  if (const Json* a = api::FieldPath(node, {"status", "allocatable"});
      a && a->is_object()) {
    for (auto it = a->begin(); it != a->end(); ++it) {
      if (it.key() == "cpu")
        n.allocatable.milli_cpu = Milli(it.value());
      else if (it.key() == "memory")
        n.allocatable.memory = Units(it.value());
      else if (it.key() == "pods")
        n.allocatable_pods = Units(it.value());
      else
        n.allocatable.other[it.key()] = Units(it.value());
    }
  }
  if (const Json* ts = api::FieldPath(node, {"spec", "taints"});
      ts && ts->is_array()) {
    for (const Json& t : *ts)
      n.taints.push_back({api::GetString(t, {"key"}),
                          api::GetString(t, {"value"}),
                          api::GetString(t, {"effect"})});
  }
  std::string ready;
  if (const Json* cs = api::FieldPath(node, {"status", "conditions"});
      cs && cs->is_array()) {
    for (const Json& c : *cs)
      if (api::GetString(c, {"type"}) == "Ready")
        ready = api::GetString(c, {"status"});
  }
  if (ready != "True") {
    std::string key = ready == "Unknown" ? "node.kubernetes.io/unreachable"
                                         : "node.kubernetes.io/not-ready";
    bool have = false;
    for (const Taint& t : n.taints)
      if (t.key == key && (t.effect == "NoSchedule" || t.effect == "NoExecute"))
        have = true;
    if (!have) n.taints.push_back({key, "", "NoSchedule"});
  }
  return n;
}

std::string NodeSchedulingKey(const Json& node) {
  NodeInfo n = ParseNode(node);
  Json k = {{"l", n.labels},
            {"u", n.unschedulable},
            {"c", n.allocatable.milli_cpu},
            {"m", n.allocatable.memory},
            {"o", n.allocatable.other},
            {"p", n.allocatable_pods}};
  Json t = Json::array();
  for (const Taint& x : n.taints) t.push_back({x.key, x.value, x.effect});
  k["t"] = t;
  return k.dump();
}

bool Tolerates(const std::vector<Toleration>& tolerations, const Taint& taint) {
  for (const Toleration& t : tolerations) {
    if (!t.effect.empty() && t.effect != taint.effect) continue;
    if (t.key.empty()) {
      if (t.op == "Exists") return true;
      continue;
    }
    if (t.key != taint.key) continue;
    if (t.op == "Exists") return true;
    if (t.value == taint.value) return true;
  }
  return false;
}

bool MatchesNodeSelector(const PodInfo& pod, const NodeInfo& node) {
  for (const auto& [k, v] : pod.node_selector) {
    auto it = node.labels.find(k);
    if (it == node.labels.end() || it->second != v) return false;
  }
  if (pod.required_terms.empty()) return true;
  for (const auto& t : pod.required_terms)
    if (TermMatches(t, node)) return true;
  return false;
}

bool Evaluator::Matches(const PodAffinityTerm& term, const std::string& term_ns,
                        const PodInfo& other) const {
  if (!term.all_namespaces) {
    if (term.namespaces.empty()) {
      if (other.ns != term_ns) return false;
    } else if (!term.namespaces.count(other.ns)) {
      return false;
    }
  }
  return term.selector.Matches(other.labels);
}

std::vector<NodeSelectorTerm> ParseNodeSelectorTerms(const Json* selector) {
  std::vector<NodeSelectorTerm> out;
  if (selector == nullptr || !selector->is_object()) return out;
  const Json* terms = api::Field(*selector, "nodeSelectorTerms");
  if (terms == nullptr || !terms->is_array()) return out;
  for (const Json& t : *terms) out.push_back(ParseTerm(t));
  // A selector whose terms are all empty admits nothing; keep one empty
  // term so the list is not mistaken for "no selector".
  if (out.empty()) out.push_back(NodeSelectorTerm{});
  return out;
}

bool NodeSelectorTermsMatch(const std::vector<NodeSelectorTerm>& terms,
                            const NodeInfo& node) {
  if (terms.empty()) return true;
  for (const auto& t : terms)
    if (TermMatches(t, node)) return true;
  return false;
}

Evaluator::Evaluator(const PodInfo& pod, const NodeMap& nodes,
                     const VolumeBindingInfo* volumes)
    : pod_(pod), nodes_(nodes), volumes_(volumes) {
  // Topology spread: counts per domain over the nodes the pod may use.
  for (const SpreadConstraint& c : pod_.spread) {
    std::map<std::string, int64_t> counts;
    for (const auto& [name, node] : nodes_) {
      if (!MatchesNodeSelector(pod_, *node)) continue;
      auto d = node->labels.find(c.topology_key);
      if (d == node->labels.end()) continue;
      int64_t& n = counts[d->second];
      for (const auto& [key, other] : node->pods)
        if (other->ns == pod_.ns && c.selector.Matches(other->labels)) ++n;
    }
    int64_t min = 0;
    if (!counts.empty() &&
        static_cast<int>(counts.size()) >= std::max(1, c.min_domains)) {
      min = counts.begin()->second;
      for (const auto& [d, n] : counts) min = std::min(min, n);
    }
    spread_counts_.push_back(std::move(counts));
    spread_min_.push_back(min);
  }
  // Inter-pod affinity: domains that hold a matching pod.
  affinity_domains_.resize(pod_.affinity.size());
  anti_domains_.resize(pod_.anti_affinity.size());
  bool any_affinity_match = false;
  for (const auto& [name, node] : nodes_) {
    for (const auto& [key, other] : node->pods) {
      for (size_t i = 0; i < pod_.affinity.size(); ++i) {
        const auto& t = pod_.affinity[i];
        if (!Matches(t, pod_.ns, *other)) continue;
        any_affinity_match = true;
        std::string d = DomainOf(*node, t.topology_key);
        if (!d.empty()) affinity_domains_[i].insert(d);
      }
      for (size_t i = 0; i < pod_.anti_affinity.size(); ++i) {
        const auto& t = pod_.anti_affinity[i];
        if (!Matches(t, pod_.ns, *other)) continue;
        std::string d = DomainOf(*node, t.topology_key);
        if (!d.empty()) anti_domains_[i].insert(d);
      }
      for (const auto& t : other->anti_affinity) {
        if (!Matches(t, other->ns, pod_)) continue;
        std::string d = DomainOf(*node, t.topology_key);
        if (!d.empty()) existing_anti_[t.topology_key].insert(d);
      }
    }
  }
  if (!pod_.affinity.empty() && !any_affinity_match) {
    affinity_self_match_ = true;
    for (const auto& t : pod_.affinity)
      if (!Matches(t, pod_.ns, pod_)) affinity_self_match_ = false;
  }
}

FilterResult Evaluator::Filter(const NodeInfo& node) const {
  FilterResult r;
  // NodeUnschedulable
  if (node.unschedulable &&
      !Tolerates(pod_.tolerations,
                 {"node.kubernetes.io/unschedulable", "", "NoSchedule"})) {
    r.reasons.push_back("node(s) were unschedulable");
    r.unresolvable = true;
    return r;
  }
  // NodeName
  if (!pod_.node_name.empty() && pod_.node_name != node.name) {
    r.reasons.push_back("node(s) didn't match the requested node name");
    r.unresolvable = true;
    return r;
  }
  // TaintToleration
  for (const Taint& t : node.taints) {
    if (t.effect != "NoSchedule" && t.effect != "NoExecute") continue;
    if (!Tolerates(pod_.tolerations, t)) {
      r.reasons.push_back("node(s) had untolerated taint {" + t.key + ": " +
                          t.value + "}");
      r.unresolvable = true;
      return r;
    }
  }
  // NodeAffinity
  if (!MatchesNodeSelector(pod_, node)) {
    r.reasons.push_back("node(s) didn't match Pod's node affinity/selector");
    r.unresolvable = true;
    return r;
  }
  // NodeResourcesFit
  if (static_cast<int64_t>(node.pods.size()) + 1 > node.allocatable_pods)
    r.reasons.push_back("Too many pods");
  if (pod_.requests.milli_cpu > 0 &&
      node.requested.milli_cpu + pod_.requests.milli_cpu >
          node.allocatable.milli_cpu)
    r.reasons.push_back("Insufficient cpu");
  if (pod_.requests.memory > 0 &&
      node.requested.memory + pod_.requests.memory > node.allocatable.memory)
    r.reasons.push_back("Insufficient memory");
  for (const auto& [res, want] : pod_.requests.other) {
    if (want <= 0) continue;
    auto a = node.allocatable.other.find(res);
    int64_t have = a == node.allocatable.other.end() ? 0 : a->second;
    auto u = node.requested.other.find(res);
    int64_t used = u == node.requested.other.end() ? 0 : u->second;
    if (used + want > have) r.reasons.push_back("Insufficient " + res);
  }
  if (!r.reasons.empty()) return r;
  // VolumeBinding
  if (volumes_ != nullptr) {
    if (!volumes_->unresolvable.empty()) {
      r.reasons.push_back(volumes_->unresolvable);
      r.unresolvable = true;
      return r;
    }
    for (const auto& terms : volumes_->bound) {
      if (!NodeSelectorTermsMatch(terms, node)) {
        r.reasons.push_back("node(s) had volume node affinity conflict");
        r.unresolvable = true;
        return r;
      }
    }
    for (const auto& claim : volumes_->unbound) {
      if (claim.provisionable) continue;
      bool found = false;
      for (const auto& terms : claim.candidates)
        found = found || NodeSelectorTermsMatch(terms, node);
      if (!found) {
        r.reasons.push_back(
            "node(s) didn't find available persistent volumes to bind");
        r.unresolvable = true;
        return r;
      }
    }
  }
  // PodTopologySpread (DoNotSchedule)
  for (size_t i = 0; i < pod_.spread.size(); ++i) {
    const SpreadConstraint& c = pod_.spread[i];
    if (!c.hard) continue;
    std::string d = DomainOf(node, c.topology_key);
    if (node.labels.find(c.topology_key) == node.labels.end()) {
      r.reasons.push_back(
          "node(s) didn't match pod topology spread constraints (missing "
          "required label)");
      r.unresolvable = true;
      return r;
    }
    auto it = spread_counts_[i].find(d);
    int64_t count = it == spread_counts_[i].end() ? 0 : it->second;
    int64_t self = c.selector.Matches(pod_.labels) ? 1 : 0;
    if (count + self - spread_min_[i] > c.max_skew) {
      r.reasons.push_back(
          "node(s) didn't match pod topology spread constraints");
      return r;
    }
  }
  // InterPodAffinity
  for (const auto& [key, domains] : existing_anti_) {
    std::string d = DomainOf(node, key);
    if (!d.empty() && domains.count(d)) {
      r.reasons.push_back(
          "node(s) didn't satisfy existing pods anti-affinity rules");
      return r;
    }
  }
  for (size_t i = 0; i < pod_.affinity.size(); ++i) {
    std::string d = DomainOf(node, pod_.affinity[i].topology_key);
    bool ok = !d.empty() &&
              (affinity_self_match_ || affinity_domains_[i].count(d) > 0);
    if (!ok) {
      r.reasons.push_back("node(s) didn't match pod affinity rules");
      return r;
    }
  }
  for (size_t i = 0; i < pod_.anti_affinity.size(); ++i) {
    std::string d = DomainOf(node, pod_.anti_affinity[i].topology_key);
    if (!d.empty() && anti_domains_[i].count(d)) {
      r.reasons.push_back("node(s) didn't match pod anti-affinity rules");
      return r;
    }
  }
  return r;
}

std::vector<int64_t> Evaluator::Score(
    const std::vector<const NodeInfo*>& nodes) const {
  size_t n = nodes.size();
  std::vector<int64_t> total(n, 0);
  if (n == 0) return total;
  std::vector<int64_t> affinity(n, 0), taints(n, 0), spread(n, 0);
  bool soft_spread = false;
  for (const auto& c : pod_.spread)
    if (!c.hard) soft_spread = true;
  for (size_t i = 0; i < n; ++i) {
    const NodeInfo& node = *nodes[i];
    // Least allocated + balanced (cpu and memory).
    auto frac = [](int64_t used, int64_t alloc) {
      if (alloc <= 0) return 1.0;
      return std::min(1.0, static_cast<double>(used) / alloc);
    };
    double fc = frac(node.nonzero_requested.milli_cpu + pod_.nonzero.milli_cpu,
                     node.allocatable.milli_cpu);
    double fm = frac(node.nonzero_requested.memory + pod_.nonzero.memory,
                     node.allocatable.memory);
    int64_t least = static_cast<int64_t>(((1 - fc) + (1 - fm)) * 50);
    int64_t balanced = static_cast<int64_t>((1 - std::abs(fc - fm) / 2) * 100);
    total[i] += least + balanced;
    for (const auto& [w, t] : pod_.preferred_terms)
      if (TermMatches(t, node)) affinity[i] += w;
    for (const Taint& t : node.taints)
      if (t.effect == "PreferNoSchedule" && !Tolerates(pod_.tolerations, t))
        ++taints[i];
    if (soft_spread) {
      for (size_t c = 0; c < pod_.spread.size(); ++c) {
        if (pod_.spread[c].hard) continue;
        auto it =
            spread_counts_[c].find(DomainOf(node, pod_.spread[c].topology_key));
        if (it != spread_counts_[c].end()) spread[i] += it->second;
      }
    } else if (!pod_.owner_uid.empty()) {
      // Default spreading: the controller's pods over nodes.
      for (const auto& [key, other] : node.pods)
        if (other->owner_uid == pod_.owner_uid) ++spread[i];
    }
  }
  auto max_of = [](const std::vector<int64_t>& v) {
    return *std::max_element(v.begin(), v.end());
  };
  auto min_of = [](const std::vector<int64_t>& v) {
    return *std::min_element(v.begin(), v.end());
  };
  int64_t amax = max_of(affinity), tmax = max_of(taints);
  int64_t smax = max_of(spread), smin = min_of(spread);
  for (size_t i = 0; i < n; ++i) {
    if (amax > 0) total[i] += 2 * (100 * affinity[i] / amax);
    total[i] += 3 * (tmax > 0 ? 100 - 100 * taints[i] / tmax : 100);
    total[i] +=
        2 * (smax > smin ? 100 * (smax - spread[i]) / (smax - smin) : 100);
  }
  return total;
}

std::string FitErrorMessage(int nodes,
                            const std::map<std::string, int>& reasons,
                            int unresolvable_nodes) {
  if (nodes == 0) return "no nodes available to schedule pods";
  auto histogram = [](const std::map<std::string, int>& counts) {
    std::vector<std::string> parts;
    for (const auto& [reason, count] : counts)
      if (count > 0) parts.push_back(std::to_string(count) + " " + reason);
    std::sort(parts.begin(), parts.end());
    std::string out;
    for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
    return out;
  };
  std::string prefix = "0/" + std::to_string(nodes) + " nodes are available: ";
  std::map<std::string, int> preemption = {
      {"Preemption is not helpful for scheduling", unresolvable_nodes},
      {"No preemption victims found for incoming pod",
       nodes - unresolvable_nodes}};
  return prefix + histogram(reasons) + ". preemption: " + prefix +
         histogram(preemption) + ".";
}

}  // namespace kite::scheduler

#include "api/strategic_merge.h"

#include <algorithm>
#include <utility>

#include "api/patch.h"

namespace kite::api {

const FieldSchema* FieldSchema::Child(std::string_view name) const {
  auto it = fields.find(name);
  if (it != fields.end()) return it->second.get();
  return map_values.get();
}

namespace {

using Json = nlohmann::json;
using Node = std::shared_ptr<FieldSchema>;
using Fields = std::initializer_list<
    std::pair<const char*, std::shared_ptr<const FieldSchema>>>;

// A struct with the given known fields (all other fields take the defaults).
Node Obj(Fields fields) {
  auto n = std::make_shared<FieldSchema>();
  for (const auto& [name, child] : fields) n->fields.emplace(name, child);
  return n;
}

// A list of objects merged by key in both mechanisms: `smp_key` for
// strategic merge patch, `ssa_keys` for server-side apply.
Node Keyed(std::string smp_key, std::vector<std::string> ssa_keys,
           Fields elem = {}) {
  Node n = Obj(elem);
  n->patch_merge = true;
  n->patch_merge_key = std::move(smp_key);
  n->list_type = ListType::kMap;
  std::sort(ssa_keys.begin(), ssa_keys.end());
  n->list_map_keys = std::move(ssa_keys);
  return n;
}
Node Keyed(const std::string& key, Fields elem = {}) {
  return Keyed(key, {key}, elem);
}

// patchStrategy "merge" with a merge key, but x-kubernetes-list-type atomic.
Node PatchOnlyKeyed(std::string smp_key) {
  auto n = std::make_shared<FieldSchema>();
  n->patch_merge = true;
  n->patch_merge_key = std::move(smp_key);
  return n;
}

// x-kubernetes-list-type map without a patch strategy (replaced by a
// strategic merge patch).
Node ApplyOnlyKeyed(std::vector<std::string> keys) {
  auto n = std::make_shared<FieldSchema>();
  n->list_type = ListType::kMap;
  std::sort(keys.begin(), keys.end());
  n->list_map_keys = std::move(keys);
  return n;
}

// A primitive list with patchStrategy "merge" and listType "set".
Node MergedSet() {
  auto n = std::make_shared<FieldSchema>();
  n->patch_merge = true;
  n->list_type = ListType::kSet;
  return n;
}

// structType/mapType atomic.
Node AtomicMap(Fields fields = {}) {
  Node n = Obj(fields);
  n->atomic_map = true;
  return n;
}

Node RetainKeys(Node n) {
  n->patch_retain_keys = true;
  return n;
}

Node Conditions() { return Keyed("type"); }

Node ObjectMeta() {
  return Obj({
      {"ownerReferences", Keyed("uid")},
      {"finalizers", MergedSet()},
  });
}

// Shared subtrees, built once per table.
struct Common {
  Node meta = ObjectMeta();
  Node container;
  Node pod_spec;
  Node pod_status;
  Node pod_template;
  Node label_selector = AtomicMap();
  Node job_spec;

  Common() {
    Node port_list = Keyed("containerPort", {"containerPort", "protocol"});
    port_list->key_defaults.emplace("protocol", "TCP");
    container = Obj({
        {"ports", port_list},
        {"env", Keyed("name")},
        {"volumeMounts", Keyed("mountPath")},
        {"volumeDevices", Keyed("devicePath")},
        {"resources", Obj({{"claims", ApplyOnlyKeyed({"name"})}})},
    });
    Node containers = Keyed("name");
    containers->fields = container->fields;
    Node node_selector_term = AtomicMap();
    pod_spec = Obj({
        {"volumes", RetainKeys(Keyed("name"))},
        {"initContainers", containers},
        {"containers", containers},
        {"ephemeralContainers", containers},
        {"imagePullSecrets", Keyed("name")},
        {"hostAliases", Keyed("ip")},
        {"topologySpreadConstraints",
         Keyed("topologyKey", {"topologyKey", "whenUnsatisfiable"})},
        {"schedulingGates", Keyed("name")},
        {"resourceClaims", RetainKeys(Keyed("name"))},
        {"nodeSelector", AtomicMap()},
        {"affinity",
         Obj({{"nodeAffinity",
               Obj({{"requiredDuringSchedulingIgnoredDuringExecution",
                     AtomicMap()}})}})},
    });
    pod_status = Obj({
        {"conditions", Conditions()},
        {"podIPs", Keyed("ip")},
        {"hostIPs", PatchOnlyKeyed("ip")},
        {"resourceClaimStatuses", RetainKeys(Keyed("name"))},
    });
    pod_template = Obj({{"metadata", meta}, {"spec", pod_spec}});
    job_spec = Obj({{"selector", label_selector}, {"template", pod_template}});
  }
};

}  // namespace

PatchMetaTable::PatchMetaTable() {
  Common c;
  auto add = [this](const std::string& group, const std::string& kind,
                    Node root) {
    kinds_.emplace(group + "/" + kind, PatchMeta(std::move(root), true));
  };
  auto plain = [&](const std::string& group,
                   std::initializer_list<const char*> kinds) {
    for (const char* kind : kinds)
      add(group, kind, Obj({{"metadata", c.meta}}));
  };
  auto status_conditions = [&]() {
    return Obj({{"conditions", Conditions()}});
  };
  auto workload = [&](Node spec) {
    spec->fields.emplace("selector", c.label_selector);
    spec->fields.emplace("template", c.pod_template);
    return Obj({{"metadata", c.meta},
                {"spec", spec},
                {"status", status_conditions()}});
  };

  // core/v1
  add("", "Pod",
      Obj({{"metadata", c.meta},
           {"spec", c.pod_spec},
           {"status", c.pod_status}}));
  add("", "PodTemplate",
      Obj({{"metadata", c.meta}, {"template", c.pod_template}}));
  add("", "ReplicationController",
      Obj({{"metadata", c.meta},
           {"spec",
            Obj({{"selector", AtomicMap()}, {"template", c.pod_template}})},
           {"status", status_conditions()}}));
  {
    Node ports = Keyed("port", {"port", "protocol"});
    ports->key_defaults.emplace("protocol", "TCP");
    add("", "Service",
        Obj({{"metadata", c.meta},
             {"spec", Obj({{"ports", ports}, {"selector", AtomicMap()}})},
             {"status", status_conditions()}}));
  }
  add("", "Node",
      Obj({{"metadata", c.meta},
           {"spec", Obj({{"podCIDRs", MergedSet()}})},
           {"status", Obj({{"conditions", Conditions()},
                           {"addresses", Keyed("type")}})}}));
  add("", "Namespace",
      Obj({{"metadata", c.meta}, {"status", status_conditions()}}));
  add("", "ServiceAccount",
      Obj({{"metadata", c.meta}, {"secrets", Keyed("name")}}));
  add("", "PersistentVolumeClaim",
      Obj({{"metadata", c.meta}, {"status", status_conditions()}}));
  add("", "ComponentStatus",
      Obj({{"metadata", c.meta}, {"conditions", Conditions()}}));
  plain("", {"ConfigMap", "Secret", "Endpoints", "Event", "PersistentVolume",
             "LimitRange", "ResourceQuota", "Binding"});

  // apps/v1
  add("apps", "Deployment", workload(Obj({{"strategy", RetainKeys(Obj({}))}})));
  add("apps", "ReplicaSet", workload(Obj({})));
  add("apps", "StatefulSet", workload(Obj({})));
  add("apps", "DaemonSet", workload(Obj({})));
  plain("apps", {"ControllerRevision"});

  // batch/v1: Job conditions merge by type in a patch but are atomic for apply.
  add("batch", "Job",
      Obj({{"metadata", c.meta},
           {"spec", c.job_spec},
           {"status", Obj({{"conditions", PatchOnlyKeyed("type")}})}}));
  add("batch", "CronJob",
      Obj({{"metadata", c.meta},
           {"spec", Obj({{"jobTemplate", Obj({{"metadata", c.meta},
                                              {"spec", c.job_spec}})}})}}));

  // autoscaling
  add("autoscaling", "HorizontalPodAutoscaler",
      Obj({{"metadata", c.meta}, {"status", status_conditions()}}));
  plain("autoscaling", {"Scale"});

  // policy/v1: the selector is patchStrategy "replace".
  {
    Node selector = AtomicMap();
    selector->patch_replace = true;
    add("policy", "PodDisruptionBudget",
        Obj({{"metadata", c.meta},
             {"spec", Obj({{"selector", selector}})},
             {"status", status_conditions()}}));
    plain("policy", {"Eviction"});
  }

  plain("rbac.authorization.k8s.io",
        {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"});
  plain("networking.k8s.io", {"Ingress", "IngressClass", "NetworkPolicy"});
  plain("discovery.k8s.io", {"EndpointSlice"});
  plain("coordination.k8s.io", {"Lease"});
  plain("events.k8s.io", {"Event"});
  plain("storage.k8s.io",
        {"StorageClass", "CSIDriver", "CSINode", "VolumeAttachment"});
  plain("scheduling.k8s.io", {"PriorityClass"});
  add("apiextensions.k8s.io", "CustomResourceDefinition",
      Obj({{"metadata", c.meta},
           {"status", Obj({{"conditions", ApplyOnlyKeyed({"type"})}})}}));
}

const PatchMeta& PatchMetaTable::Find(std::string_view group,
                                      std::string_view kind) const {
  std::string key;
  key.reserve(group.size() + kind.size() + 1);
  key.append(group).append("/").append(kind);
  auto it = kinds_.find(key);
  return it == kinds_.end() ? unknown_ : it->second;
}

bool PatchMetaTable::Knows(std::string_view group,
                           std::string_view kind) const {
  return &Find(group, kind) != &unknown_;
}

namespace {

Status SchemaNode(const Json& s, int depth, FieldSchema* out);

StatusOr<Node> SchemaChild(const Json& s, int depth) {
  auto n = std::make_shared<FieldSchema>();
  KITE_RETURN_IF_ERROR(SchemaNode(s, depth + 1, n.get()));
  return n;
}

Status SchemaNode(const Json& s, int depth, FieldSchema* out) {
  if (depth > kMaxPatchDepth) {
    return InvalidArgumentError("openAPIV3Schema is nested deeper than " +
                                std::to_string(kMaxPatchDepth) + " levels");
  }
  if (!s.is_object()) return Status::Ok();
  if (auto it = s.find("x-kubernetes-map-type");
      it != s.end() && *it == "atomic") {
    out->atomic_map = true;
  }
  if (auto it = s.find("properties"); it != s.end() && it->is_object()) {
    for (const auto& [name, prop] : it->items()) {
      KITE_ASSIGN_OR_RETURN(Node child, SchemaChild(prop, depth));
      out->fields.emplace(name, std::move(child));
    }
  }
  if (auto it = s.find("additionalProperties");
      it != s.end() && it->is_object()) {
    KITE_ASSIGN_OR_RETURN(out->map_values, SchemaChild(*it, depth));
  }
  if (auto it = s.find("items"); it != s.end() && it->is_object()) {
    // A list node carries its element's fields.
    FieldSchema elem;
    KITE_RETURN_IF_ERROR(SchemaNode(*it, depth + 1, &elem));
    out->fields = std::move(elem.fields);
    out->map_values = std::move(elem.map_values);
    auto type = s.find("x-kubernetes-list-type");
    if (type != s.end() && *type == "set") out->list_type = ListType::kSet;
    if (type != s.end() && *type == "map") {
      out->list_type = ListType::kMap;
      if (auto keys = s.find("x-kubernetes-list-map-keys");
          keys != s.end() && keys->is_array()) {
        for (const auto& k : *keys) {
          if (k.is_string()) out->list_map_keys.push_back(k.get<std::string>());
        }
      }
      std::sort(out->list_map_keys.begin(), out->list_map_keys.end());
      if (out->list_map_keys.empty()) out->list_type = ListType::kAtomic;
      // Key defaults come from the element's property defaults.
      if (auto props = it->find("properties");
          props != it->end() && props->is_object()) {
        for (const auto& k : out->list_map_keys) {
          auto p = props->find(k);
          if (p == props->end() || !p->is_object()) continue;
          if (auto d = p->find("default"); d != p->end())
            out->key_defaults.emplace(k, *d);
        }
      }
    }
  }
  return Status::Ok();
}

}  // namespace

StatusOr<PatchMeta> PatchMetaFromOpenAPISchema(const nlohmann::json& schema) {
  try {
    auto root = std::make_shared<FieldSchema>();
    KITE_RETURN_IF_ERROR(SchemaNode(schema, 0, root.get()));
    return PatchMeta(std::move(root), false);
  } catch (const std::exception& e) {
    return InvalidArgumentError(std::string("bad openAPIV3Schema: ") +
                                e.what());
  }
}

}  // namespace kite::api

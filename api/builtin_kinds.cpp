// THE table of built-in kinds: one entry per resource, holding everything
// kite knows about it (DESIGN.md §5). Identity, short names and categories
// follow Kubernetes 1.32 discovery; printers, defaults and validation live in
// printers.cpp and rules_*.cpp and are attached here.
#include <algorithm>
#include <cctype>

#include "api/kinds.h"
#include "api/printers.h"
#include "api/rules.h"

namespace kite::api {

namespace {

using printers::Printer;

const std::vector<std::string> kGetPatchUpdate = {"get", "patch", "update"};
const std::vector<std::string> kNoDeleteCollection = {
    "create", "delete", "get", "list", "patch", "update", "watch"};

Kind Make(std::string group, std::string version, std::string kind,
          std::string resource, Scope scope,
          std::vector<std::string> short_names = {},
          std::vector<std::string> categories = {}) {
  Kind k;
  k.group = std::move(group);
  k.version = std::move(version);
  k.kind = std::move(kind);
  k.list_kind = k.kind + "List";
  k.resource = std::move(resource);
  k.singular = k.kind;
  std::transform(k.singular.begin(), k.singular.end(), k.singular.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  k.scope = scope;
  k.short_names = std::move(short_names);
  k.categories = std::move(categories);
  k.verbs = kAllVerbs;
  k.storage_resource = k.resource;
  Printer p = printers::NameCreatedAt();
  k.columns = std::move(p.columns);
  return k;
}

void Print(Kind& k, Printer p) {
  k.columns = std::move(p.columns);
  k.printer = std::move(p.row);
}

void Sub(Kind& k, std::string name, GroupVersionKind response,
         std::vector<std::string> verbs) {
  k.subresources.push_back(
      {std::move(name), std::move(response), std::move(verbs)});
}
void Status_(Kind& k) { Sub(k, "status", k.Gvk(), kGetPatchUpdate); }
void Scale(Kind& k) {
  Sub(k, "scale", {"autoscaling", "v1", "Scale"}, kGetPatchUpdate);
}

// A create-only kind answered by REST without storage (reviews, bindings).
Kind Virtual(std::string group, std::string kind, std::string resource,
             Scope scope) {
  Kind k =
      Make(std::move(group), "v1", std::move(kind), std::move(resource), scope);
  k.verbs = kCreateOnlyVerbs;
  k.stored = false;
  return k;
}

void Field(Kind& k, std::string label, std::vector<std::string> paths,
           std::string def = "") {
  k.selectable_fields.push_back(
      {std::move(label), std::move(paths), std::move(def)});
}

void EventFields(Kind& k) {
  for (const char* f : {"kind", "namespace", "name", "uid", "apiVersion",
                        "resourceVersion", "fieldPath"}) {
    Field(k, std::string("involvedObject.") + f,
          {std::string("involvedObject.") + f, std::string("regarding.") + f});
  }
  Field(k, "reason", {"reason"});
  Field(k, "reportingComponent", {"reportingComponent", "reportingController"});
  Field(k, "source",
        {"source.component", "deprecatedSource.component",
         "reportingController", "reportingComponent"});
  Field(k, "type", {"type"});
}

}  // namespace

std::vector<Kind> BuiltinKinds() {
  std::vector<Kind> out;
  const Scope kNs = Scope::kNamespaced, kCl = Scope::kCluster;

  // ---- core/v1 ----
  out.push_back(Virtual("", "Binding", "bindings", kNs));
  {
    Kind k = Make("", "v1", "ConfigMap", "configmaps", kNs, {"cm"});
    Print(k, printers::ConfigMap());
    k.validator = rules::ValidateConfigMap;
    out.push_back(std::move(k));
  }
  {
    Kind k = Make("", "v1", "Endpoints", "endpoints", kNs, {"ep"});
    k.list_kind = "EndpointsList";
    k.singular = "endpoints";
    Print(k, printers::Endpoints());
    k.defaulter = rules::DefaultEndpoints;
    out.push_back(std::move(k));
  }
  {
    Kind k = Make("", "v1", "Event", "events", kNs, {"ev"});
    Print(k, printers::Event());
    EventFields(k);
    out.push_back(std::move(k));
  }
  {
    Kind k = Make("", "v1", "LimitRange", "limitranges", kNs, {"limits"});
    k.defaulter = rules::DefaultLimitRange;
    out.push_back(std::move(k));
  }
  {
    Kind k = Make("", "v1", "Namespace", "namespaces", kCl, {"ns"});
    k.verbs = kNoDeleteCollection;
    Sub(k, "finalize", k.Gvk(), {"update"});
    Status_(k);
    Print(k, printers::Namespace());
    k.name_rule = NameRule::kDNSLabel;
    k.defaulter = rules::DefaultNamespace;
    k.validator = rules::ValidateNamespace;
    k.on_create = rules::OnCreateNamespace;
    k.on_update = rules::OnUpdateNamespace;
    Field(k, "status.phase", {"status.phase"});
    out.push_back(std::move(k));
  }
  {
    Kind k = Make("", "v1", "Node", "nodes", kCl, {"no"});
    Sub(k, "proxy", {"", "v1", "NodeProxyOptions"},
        {"create", "delete", "get", "patch", "update"});
    Status_(k);
    Print(k, printers::Node());
    k.defaulter = rules::DefaultNode;
    k.status_on_create = true;
    Field(k, "spec.unschedulable", {"spec.unschedulable"}, "false");
    out.push_back(std::move(k));
  }
  {
    Kind k = Make("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims",
                  kNs, {"pvc"});
    Status_(k);
    Print(k, printers::PersistentVolumeClaim());
    k.defaulter = rules::DefaultPersistentVolumeClaim;
    k.validator = rules::ValidatePersistentVolumeClaim;
    k.on_create = rules::OnCreatePersistentVolumeClaim;
    out.push_back(std::move(k));
  }
  {
    Kind k =
        Make("", "v1", "PersistentVolume", "persistentvolumes", kCl, {"pv"});
    Status_(k);
    Print(k, printers::PersistentVolume());
    k.defaulter = rules::DefaultPersistentVolume;
    k.validator = rules::ValidatePersistentVolume;
    k.on_create = rules::OnCreatePersistentVolume;
    out.push_back(std::move(k));
  }
  {
    Kind k = Make("", "v1", "Pod", "pods", kNs, {"po"}, {"all"});
    Sub(k, "attach", {"", "v1", "PodAttachOptions"}, {"create", "get"});
    Sub(k, "binding", {"", "v1", "Binding"}, {"create"});
    Sub(k, "ephemeralcontainers", k.Gvk(), kGetPatchUpdate);
    Sub(k, "eviction", {"policy", "v1", "Eviction"}, {"create"});
    Sub(k, "exec", {"", "v1", "PodExecOptions"}, {"create", "get"});
    Sub(k, "log", k.Gvk(), {"get"});
    Sub(k, "portforward", {"", "v1", "PodPortForwardOptions"},
        {"create", "get"});
    Sub(k, "proxy", {"", "v1", "PodProxyOptions"},
        {"create", "delete", "get", "patch", "update"});
    Status_(k);
    Print(k, printers::Pod());
    k.defaulter = rules::DefaultPod;
    k.validator = rules::ValidatePod;
    k.on_create = rules::OnCreatePod;
    for (const char* f :
         {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
          "spec.serviceAccountName", "status.phase", "status.podIP",
          "status.nominatedNodeName"}) {
      Field(k, f, {f});
    }
    Field(k, "spec.hostNetwork", {"spec.hostNetwork"}, "false");
    out.push_back(std::move(k));
  }
  {
    Kind k = Make("", "v1", "PodTemplate", "podtemplates", kNs);
    k.defaulter = rules::DefaultPodTemplate;
    out.push_back(std::move(k));
  }
  {
    Kind k = Make("", "v1", "ResourceQuota", "resourcequotas", kNs, {"quota"});
    Status_(k);
    Print(k, printers::ResourceQuota());
    k.defaulter = rules::DefaultResourceQuota;
    out.push_back(std::move(k));
  }
  {
    Kind k = Make("", "v1", "Secret", "secrets", kNs);
    Print(k, printers::Secret());
    k.defaulter = rules::DefaultSecret;
    k.validator = rules::ValidateSecret;
    Field(k, "type", {"type"});
    out.push_back(std::move(k));
  }
  {
    Kind k = Make("", "v1", "ServiceAccount", "serviceaccounts", kNs, {"sa"});
    Sub(k, "token", {"authentication.k8s.io", "v1", "TokenRequest"},
        {"create"});
    Print(k, printers::ServiceAccount());
    out.push_back(std::move(k));
  }
  {
    Kind k = Make("", "v1", "Service", "services", kNs, {"svc"}, {"all"});
    Sub(k, "proxy", {"", "v1", "ServiceProxyOptions"},
        {"create", "delete", "get", "patch", "update"});
    Status_(k);
    Print(k, printers::Service());
    k.name_rule = NameRule::kDNS1035Label;
    k.defaulter = rules::DefaultService;
    k.validator = rules::ValidateService;
    k.on_create = rules::OnCreateService;
    k.on_update = rules::OnUpdateService;
    Field(k, "spec.clusterIP", {"spec.clusterIP"});
    Field(k, "spec.type", {"spec.type"});
    out.push_back(std::move(k));
  }

  // ---- apps/v1 ----
  {
    Kind k =
        Make("apps", "v1", "ControllerRevision", "controllerrevisions", kNs);
    Print(k, printers::ControllerRevision());
    out.push_back(std::move(k));
  }
  {
    Kind k =
        Make("apps", "v1", "DaemonSet", "daemonsets", kNs, {"ds"}, {"all"});
    Status_(k);
    Print(k, printers::DaemonSet());
    k.defaulter = rules::DefaultDaemonSet;
    k.validator = rules::ValidateDaemonSet;
    k.tracks_generation = true;
    out.push_back(std::move(k));
  }
  {
    Kind k = Make("apps", "v1", "Deployment", "deployments", kNs, {"deploy"},
                  {"all"});
    Scale(k);
    Status_(k);
    Print(k, printers::Deployment());
    k.defaulter = rules::DefaultDeployment;
    k.validator = rules::ValidateDeployment;
    k.tracks_generation = true;
    out.push_back(std::move(k));
  }
  {
    Kind k =
        Make("apps", "v1", "ReplicaSet", "replicasets", kNs, {"rs"}, {"all"});
    Scale(k);
    Status_(k);
    Print(k, printers::ReplicaSet());
    k.defaulter = rules::DefaultReplicaSet;
    k.validator = rules::ValidateReplicaSet;
    k.tracks_generation = true;
    Field(k, "status.replicas", {"status.replicas"}, "0");
    out.push_back(std::move(k));
  }
  {
    Kind k = Make("apps", "v1", "StatefulSet", "statefulsets", kNs, {"sts"},
                  {"all"});
    Scale(k);
    Status_(k);
    Print(k, printers::StatefulSet());
    k.defaulter = rules::DefaultStatefulSet;
    k.validator = rules::ValidateStatefulSet;
    k.tracks_generation = true;
    out.push_back(std::move(k));
  }

  // ---- events.k8s.io/v1 (stored with core/v1 events) ----
  {
    Kind k = Make("events.k8s.io", "v1", "Event", "events", kNs, {"ev"});
    Print(k, printers::Event());
    EventFields(k);
    out.push_back(std::move(k));
  }

  // ---- authentication, authorization (create-only reviews) ----
  out.push_back(Virtual("authentication.k8s.io", "SelfSubjectReview",
                        "selfsubjectreviews", kCl));
  out.push_back(
      Virtual("authentication.k8s.io", "TokenReview", "tokenreviews", kCl));
  out.push_back(Virtual("authorization.k8s.io", "LocalSubjectAccessReview",
                        "localsubjectaccessreviews", kNs));
  out.push_back(Virtual("authorization.k8s.io", "SelfSubjectAccessReview",
                        "selfsubjectaccessreviews", kCl));
  out.push_back(Virtual("authorization.k8s.io", "SelfSubjectRulesReview",
                        "selfsubjectrulesreviews", kCl));
  out.push_back(Virtual("authorization.k8s.io", "SubjectAccessReview",
                        "subjectaccessreviews", kCl));

  // ---- autoscaling/v2 ----
  {
    Kind k = Make("autoscaling", "v2", "HorizontalPodAutoscaler",
                  "horizontalpodautoscalers", kNs, {"hpa"}, {"all"});
    Status_(k);
    Print(k, printers::HorizontalPodAutoscaler());
    k.defaulter = rules::DefaultHorizontalPodAutoscaler;
    k.validator = rules::ValidateHorizontalPodAutoscaler;
    k.tracks_generation = true;
    out.push_back(std::move(k));
  }

  // ---- batch/v1 ----
  {
    Kind k = Make("batch", "v1", "CronJob", "cronjobs", kNs, {"cj"}, {"all"});
    Status_(k);
    Print(k, printers::CronJob());
    k.defaulter = rules::DefaultCronJob;
    k.validator = rules::ValidateCronJob;
    k.tracks_generation = true;
    out.push_back(std::move(k));
  }
  {
    Kind k = Make("batch", "v1", "Job", "jobs", kNs, {}, {"all"});
    Status_(k);
    Print(k, printers::Job());
    k.defaulter = rules::DefaultJob;
    k.validator = rules::ValidateJob;
    k.on_create = rules::OnCreateJob;
    k.tracks_generation = true;
    Field(k, "status.successful", {"status.succeeded"}, "0");
    out.push_back(std::move(k));
  }

  // ---- certificates.k8s.io/v1 ----
  {
    Kind k = Make("certificates.k8s.io", "v1", "CertificateSigningRequest",
                  "certificatesigningrequests", kCl, {"csr"});
    Sub(k, "approval", k.Gvk(), kGetPatchUpdate);
    Status_(k);
    Print(k, printers::CertificateSigningRequest());
    k.validator = rules::ValidateCertificateSigningRequest;
    Field(k, "spec.signerName", {"spec.signerName"});
    out.push_back(std::move(k));
  }

  // ---- networking.k8s.io/v1 ----
  {
    Kind k =
        Make("networking.k8s.io", "v1", "IngressClass", "ingressclasses", kCl);
    Print(k, printers::IngressClass());
    k.validator = rules::ValidateIngressClass;
    out.push_back(std::move(k));
  }
  {
    Kind k =
        Make("networking.k8s.io", "v1", "Ingress", "ingresses", kNs, {"ing"});
    Status_(k);
    Print(k, printers::Ingress());
    k.validator = rules::ValidateIngress;
    k.tracks_generation = true;
    out.push_back(std::move(k));
  }
  {
    Kind k = Make("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies",
                  kNs, {"netpol"});
    Print(k, printers::NetworkPolicy());
    k.singular = "networkpolicy";
    k.defaulter = rules::DefaultNetworkPolicy;
    k.tracks_generation = true;
    out.push_back(std::move(k));
  }

  // ---- policy/v1 ----
  {
    Kind k = Make("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets",
                  kNs, {"pdb"});
    Status_(k);
    Print(k, printers::PodDisruptionBudget());
    k.validator = rules::ValidatePodDisruptionBudget;
    k.tracks_generation = true;
    out.push_back(std::move(k));
  }

  // ---- rbac.authorization.k8s.io/v1 ----
  for (const char* kind : {"ClusterRole", "Role"}) {
    std::string resource =
        std::string(kind) == "Role" ? "roles" : "clusterroles";
    Kind k = Make("rbac.authorization.k8s.io", "v1", kind, resource,
                  std::string(kind) == "Role" ? kNs : kCl);
    k.name_rule = NameRule::kPathSegment;
    k.validator = rules::ValidateRole;
    out.push_back(std::move(k));
  }
  for (const char* kind : {"ClusterRoleBinding", "RoleBinding"}) {
    bool ns = std::string(kind) == "RoleBinding";
    Kind k = Make("rbac.authorization.k8s.io", "v1", kind,
                  ns ? "rolebindings" : "clusterrolebindings", ns ? kNs : kCl);
    Print(k, printers::RoleBinding());
    k.name_rule = NameRule::kPathSegment;
    k.defaulter = rules::DefaultRoleBinding;
    k.validator = rules::ValidateRoleBinding;
    out.push_back(std::move(k));
  }

  // ---- storage.k8s.io/v1 ----
  out.push_back(Make("storage.k8s.io", "v1", "CSIDriver", "csidrivers", kCl));
  out.push_back(Make("storage.k8s.io", "v1", "CSINode", "csinodes", kCl));
  {
    Kind k = Make("storage.k8s.io", "v1", "StorageClass", "storageclasses", kCl,
                  {"sc"});
    Print(k, printers::StorageClass());
    k.defaulter = rules::DefaultStorageClass;
    k.validator = rules::ValidateStorageClass;
    out.push_back(std::move(k));
  }
  {
    Kind k = Make("storage.k8s.io", "v1", "VolumeAttachment",
                  "volumeattachments", kCl);
    Status_(k);
    out.push_back(std::move(k));
  }

  // ---- apiextensions.k8s.io/v1 ----
  {
    Kind k = Make("apiextensions.k8s.io", "v1", "CustomResourceDefinition",
                  "customresourcedefinitions", kCl, {"crd", "crds"},
                  {"api-extensions"});
    Status_(k);
    k.name_rule = NameRule::kCRDName;
    k.storage_resource = "apiextensions.k8s.io/customresourcedefinitions";
    k.defaulter = rules::DefaultCustomResourceDefinition;
    k.validator = rules::ValidateCustomResourceDefinition;
    k.on_create = rules::OnCreateCustomResourceDefinition;
    k.tracks_generation = true;
    out.push_back(std::move(k));
  }

  // ---- scheduling.k8s.io/v1 ----
  {
    Kind k = Make("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses",
                  kCl, {"pc"});
    Print(k, printers::PriorityClass());
    k.defaulter = rules::DefaultPriorityClass;
    k.validator = rules::ValidatePriorityClass;
    out.push_back(std::move(k));
  }

  // ---- coordination.k8s.io/v1 ----
  {
    Kind k = Make("coordination.k8s.io", "v1", "Lease", "leases", kNs);
    Print(k, printers::Lease());
    k.validator = rules::ValidateLease;
    out.push_back(std::move(k));
  }

  // ---- discovery.k8s.io/v1 ----
  {
    Kind k =
        Make("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", kNs);
    Print(k, printers::EndpointSlice());
    out.push_back(std::move(k));
  }
  return out;
}

}  // namespace kite::api

// The per-kind defaulting, validation and strategy functions that the kinds
// table (builtin_kinds.cpp) attaches to each built-in kind. Messages and
// field paths follow Kubernetes 1.32 (pkg/apis/*/validation, v1 defaults).
//
// Callers outside api/ use validation.h; these are exposed for the table and
// for tests.
//
// Thread safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "api/field_error.h"
#include "common/status.h"

namespace kite::api::rules {

using Json = nlohmann::json;

// ---- shared pieces (pods and pod templates) ----
// SetDefaults_PodSpec + containers, ports, probes, volumes; canonical
// resource quantities. `is_pod` adds the Pod-only defaults (requests from
// limits, enableServiceLinks).
Status DefaultPodSpec(Json& spec, bool is_pod);
// ValidatePodSpec at `path` ("spec" or "spec.template.spec").
void ValidatePodSpec(const Json& spec, const std::string& path,
                     FieldErrors* errs);
// Labels/annotations of a template's metadata and its spec.
void ValidatePodTemplate(const Json* tmpl, const std::string& path,
                         FieldErrors* errs);
// metav1 ValidateLabelSelector at `path`.
void ValidateLabelSelectorJson(const Json& sel, const std::string& path,
                               FieldErrors* errs);
// Checks a quantity-valued map (requests, limits, hard) and canonicalises its
// values in place; the parse error otherwise.
Status CanonicalizeQuantities(Json* list);
// Pod QoS class ("BestEffort", "Burstable", "Guaranteed").
std::string PodQOSClass(const Json& pod);
// Go struct rendering of an intstr.IntOrString JSON value.
std::string GoIntOrString(const Json& v);

// ---- core/v1 ----
Status DefaultPod(Json& obj);
void ValidatePod(const Json& obj, const Json* old, FieldErrors* errs);
void OnCreatePod(Json& obj);
Status DefaultService(Json& obj);
void ValidateService(const Json& obj, const Json* old, FieldErrors* errs);
void OnCreateService(Json& obj);
void OnUpdateService(Json& obj, const Json& old);
Status DefaultNamespace(Json& obj);
void ValidateNamespace(const Json& obj, const Json* old, FieldErrors* errs);
void OnCreateNamespace(Json& obj);
void OnUpdateNamespace(Json& obj, const Json& old);
void ValidateConfigMap(const Json& obj, const Json* old, FieldErrors* errs);
Status DefaultSecret(Json& obj);
void ValidateSecret(const Json& obj, const Json* old, FieldErrors* errs);
Status DefaultPersistentVolumeClaim(Json& obj);
void ValidatePersistentVolumeClaim(const Json& obj, const Json* old,
                                   FieldErrors* errs);
void OnCreatePersistentVolumeClaim(Json& obj);
Status DefaultPersistentVolume(Json& obj);
void ValidatePersistentVolume(const Json& obj, const Json* old,
                              FieldErrors* errs);
void OnCreatePersistentVolume(Json& obj);
Status DefaultResourceQuota(Json& obj);
Status DefaultLimitRange(Json& obj);
Status DefaultNode(Json& obj);
Status DefaultPodTemplate(Json& obj);
Status DefaultEndpoints(Json& obj);

// ---- apps/v1, batch/v1 ----
Status DefaultDeployment(Json& obj);
void ValidateDeployment(const Json& obj, const Json* old, FieldErrors* errs);
Status DefaultReplicaSet(Json& obj);
void ValidateReplicaSet(const Json& obj, const Json* old, FieldErrors* errs);
Status DefaultStatefulSet(Json& obj);
void ValidateStatefulSet(const Json& obj, const Json* old, FieldErrors* errs);
Status DefaultDaemonSet(Json& obj);
void ValidateDaemonSet(const Json& obj, const Json* old, FieldErrors* errs);
Status DefaultJob(Json& obj);
void ValidateJob(const Json& obj, const Json* old, FieldErrors* errs);
void OnCreateJob(Json& obj);
Status DefaultCronJob(Json& obj);
void ValidateCronJob(const Json& obj, const Json* old, FieldErrors* errs);

// ---- other groups ----
Status DefaultRoleBinding(Json& obj);  // RoleBinding and ClusterRoleBinding
void ValidateRole(const Json& obj, const Json* old,
                  FieldErrors* errs);  // rules of Role and ClusterRole
void ValidateRoleBinding(const Json& obj, const Json* old, FieldErrors* errs);
Status DefaultNetworkPolicy(Json& obj);
void ValidateIngress(const Json& obj, const Json* old, FieldErrors* errs);
void ValidateIngressClass(const Json& obj, const Json* old, FieldErrors* errs);
void ValidatePodDisruptionBudget(const Json& obj, const Json* old,
                                 FieldErrors* errs);
Status DefaultHorizontalPodAutoscaler(Json& obj);
void ValidateHorizontalPodAutoscaler(const Json& obj, const Json* old,
                                     FieldErrors* errs);
Status DefaultPriorityClass(Json& obj);
void ValidatePriorityClass(const Json& obj, const Json* old, FieldErrors* errs);
Status DefaultStorageClass(Json& obj);
void ValidateStorageClass(const Json& obj, const Json* old, FieldErrors* errs);
Status DefaultCustomResourceDefinition(Json& obj);
void ValidateCustomResourceDefinition(const Json& obj, const Json* old,
                                      FieldErrors* errs);
// Status of a new CRD: names accepted, Established (kite serves a CRD as
// soon as it is stored), storedVersions; times are metadata.creationTimestamp.
void OnCreateCustomResourceDefinition(Json& obj);
void ValidateCertificateSigningRequest(const Json& obj, const Json* old,
                                       FieldErrors* errs);
void ValidateLease(const Json& obj, const Json* old, FieldErrors* errs);

}  // namespace kite::api::rules

// The table columns and row printers of the built-in kinds, as
// k8s.io/kubernetes/pkg/printers/internalversion renders them for
// Kubernetes 1.32. The kinds table (builtin_kinds.cpp) attaches one Printer
// to each kind; table.h turns them into Tables.
//
// Thread safety: pure functions.
#pragma once

#include <vector>

#include "api/kinds.h"

namespace kite::api::printers {

struct Printer {
  std::vector<ColumnDefinition> columns;
  RowPrinter row;
};

Printer Pod();
Printer Node();
Printer Namespace();
Printer Service();
Printer Endpoints();
Printer EndpointSlice();
Printer ConfigMap();
Printer Secret();
Printer ServiceAccount();
Printer Event();  // core/v1 and events.k8s.io/v1 shapes
Printer PersistentVolume();
Printer PersistentVolumeClaim();
Printer ResourceQuota();
Printer Deployment();
Printer ReplicaSet();
Printer StatefulSet();
Printer DaemonSet();
Printer ControllerRevision();
Printer Job();
Printer CronJob();
Printer Lease();
Printer RoleBinding();  // RoleBinding and ClusterRoleBinding
Printer StorageClass();
Printer Ingress();
Printer IngressClass();
Printer NetworkPolicy();
Printer PodDisruptionBudget();
Printer HorizontalPodAutoscaler();
Printer PriorityClass();
Printer CertificateSigningRequest();
// Name + "Created At" (RFC 3339), the API server's default table.
Printer NameCreatedAt();

}  // namespace kite::api::printers

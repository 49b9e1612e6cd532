// The scale subresource: autoscaling/v1 Scale views of the kinds that have
// one (deployments, replicasets, statefulsets, and custom resources whose CRD
// declares subresources.scale).
//
// `kubectl scale` PATCHes .../deployments/web/scale with
// {"spec":{"replicas":N}} and expects a Scale back (kubectl-api.md §4). The
// REST layer: GET -> ScaleOf(kind, stored); PATCH/PUT -> apply the patch to
// ScaleOf(...), then ApplyScale(kind, stored, patched_scale) and store the
// result as an update of the main object (PrepareForUpdate/Validate as
// usual, so generation moves).
//
// Thread safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>

#include "api/field_error.h"
#include "api/kinds.h"
#include "common/status.h"

namespace kite::api {

// The Scale of `obj`: metadata (name, namespace, uid, resourceVersion,
// creationTimestamp), spec.replicas, status.replicas and status.selector (the
// label selector in query form, e.g. "app=web"). FailedPrecondition when the
// kind has no scale subresource.
StatusOr<nlohmann::json> ScaleOf(const Kind& kind, const nlohmann::json& obj);

// Writes scale.spec.replicas into `obj` (spec.replicas, or the CRD's
// specReplicasPath). Errors: FieldErrors when the Scale is invalid
// (`spec.replicas: Invalid value: -1: must be greater than or equal to 0`),
// returned through `errs` with OK status; FailedPrecondition when the kind
// has no scale subresource.
Status ApplyScale(const Kind& kind, nlohmann::json& obj,
                  const nlohmann::json& scale, FieldErrors* errs);

}  // namespace kite::api

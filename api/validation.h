// Defaulting, validation and the create/update strategy steps: what the API
// server does to an object between decoding it and storing it.
//
// The REST layer calls, for a create:
//   Default(kind, obj)                 -> 400 when not OK (undecodable values)
//   (assign name from generateName, uid, creationTimestamp, namespace)
//   PrepareForCreate(kind, obj)        -> drops client-set status, sets
//                                         generation, kind hooks
//   Validate(kind, obj, nullptr)       -> 422 Invalid with the FieldErrors
// and for an update (PUT or the result of a PATCH):
//   Default(kind, obj)
//   PrepareForUpdate(kind, obj, old)   -> keeps stored status (status
//                                         subresource) and allocations,
//                                         bumps generation on spec changes
//   Validate(kind, obj, &old)          -> includes immutable-field checks
// Writes to the status subresource use PrepareForStatusUpdate instead (keeps
// everything but .status from the stored object).
//
// Per-kind knowledge lives in the kind's table entry (kinds.h); these
// functions apply the generic parts and call the entry's hooks.
//
// Thread safety: pure functions over the objects passed in.
#pragma once

#include <nlohmann/json.hpp>

#include "api/field_error.h"
#include "api/kinds.h"
#include "common/status.h"

namespace kite::api {

// Applies the kind's defaults in place (Kubernetes' SetDefaults_* plus the
// decode-time normalisations: canonical quantities, secret stringData merged
// into data). InvalidArgument when a value cannot be decoded at all (e.g. a
// malformed quantity or base64), which the REST layer answers with 400.
Status Default(const Kind& kind, nlohmann::json& obj);

// metadata checks (name by the kind's NameRule, generateName, namespace
// presence by scope, labels, annotations, finalizers, ownerReferences; on
// update also immutable name/namespace/uid) followed by the kind's own
// validator. Empty when valid.
FieldErrors Validate(const Kind& kind, const nlohmann::json& obj,
                     const nlohmann::json* old);
// Only the metadata part of Validate.
FieldErrors ValidateObjectMeta(const Kind& kind, const nlohmann::json& obj,
                               const nlohmann::json* old);

// The generic create strategy: status reset to {} for kinds with a status
// subresource (unless Kind::status_on_create), generation 1 where tracked,
// then Kind::on_create (initial status, generated selectors...). Call after
// name, namespace and uid are set.
void PrepareForCreate(const Kind& kind, nlohmann::json& obj);
// The generic update strategy for main-resource writes: keeps the stored
// status for kinds with a status subresource, carries generation over and
// increments it when anything but metadata and status changed (where
// tracked), then Kind::on_update (e.g. a Service keeps its allocated
// clusterIP and nodePorts when the client left them out).
void PrepareForUpdate(const Kind& kind, nlohmann::json& obj,
                      const nlohmann::json& old);
// For writes to the status subresource: everything but .status comes from
// the stored object (metadata labels/annotations too, as Kubernetes does).
void PrepareForStatusUpdate(const Kind& kind, nlohmann::json& obj,
                            const nlohmann::json& old);

// Renders a metav1.LabelSelector JSON as Go's %#v prints it in validation
// messages: `v1.LabelSelector{MatchLabels:map[string]string{"app":"web"},
// MatchExpressions:[]v1.LabelSelectorRequirement(nil)}`.
std::string GoLabelSelector(const nlohmann::json* selector);

}  // namespace kite::api

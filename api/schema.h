// Schemas: the OpenAPI v3 component schemas kite publishes (for `kubectl
// explain`) and uses to find unknown fields (fieldValidation=Strict/Warn),
// plus the structural-schema operations on custom resources (defaults,
// validation, pruning) driven by a CRD's openAPIV3Schema.
//
// Built-in schemas are a compact hand-written table (schemas.cpp) covering
// every built-in kind's top level and the common types in full (ObjectMeta,
// PodSpec, Container, workload specs, Service, ConfigMap, Secret, RBAC...).
// Parts not described in detail are open objects: anything goes there, and
// nothing in them is reported unknown or pruned.
//
// Thread safety: the table is built once (thread-safe static init) and
// immutable; functions are pure.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/field_error.h"
#include "api/kinds.h"

namespace kite::api {

// Full schema name -> schema ("io.k8s.api.core.v1.Pod" -> {...}). References
// between entries are "#/components/schemas/<full name>".
const std::map<std::string, nlohmann::json>& BuiltinSchemas();

// The component schema name of a kind: "io.k8s.api.apps.v1.Deployment" for
// built-ins, "<reversed group>.<version>.<Kind>" ("com.example.v1.Widget")
// for custom resources.
std::string SchemaName(const Kind& kind);

// The schema of `kind` (built-in table or the CRD's), with
// x-kubernetes-group-version-kind set; null when none.
nlohmann::json KindSchema(const Kind& kind);

// Paths of fields in `obj` that the kind's schema does not know, in document
// order, as Kubernetes names them ("spec.template.spec.containers[0].imagee").
// Only closed objects are checked (described properties, no
// x-kubernetes-preserve-unknown-fields). Empty for kinds without a schema.
std::vector<std::string> UnknownFields(const Kind& kind,
                                       const nlohmann::json& obj);
// `strict decoding error: unknown field "a", unknown field "b"`.
std::string StrictDecodingMessage(const std::vector<std::string>& unknown);
// Drops the fields UnknownFields reports (what decoding does without
// Strict; what the API server does to custom resources).
void PruneUnknownFields(const Kind& kind, nlohmann::json& obj);

// Structural schema operations for custom resources.
// Fills `default` values of the schema into missing fields.
void ApplySchemaDefaults(const nlohmann::json& schema, nlohmann::json& obj);
// Type, required, enum, numeric bounds, length and item-count checks with the
// apiextensions-apiserver messages ("spec.replicas in body must be of type
// integer: \"string\""). metadata and apiVersion/kind are skipped.
void ValidateAgainstSchema(const nlohmann::json& schema,
                           const nlohmann::json& obj, FieldErrors* errs);

}  // namespace kite::api

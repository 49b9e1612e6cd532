// Decodes Kubernetes protobuf request bodies into the JSON objects kite works
// with.
//
// kubectl's typed commands (`create namespace|configmap|secret|deployment|...`,
// `create token`) POST `application/vnd.kubernetes.protobuf`. Such a body is
// the magic bytes "k8s\0" followed by a runtime.Unknown envelope:
//   Unknown{1: TypeMeta{1: apiVersion, 2: kind}, 2: raw, 3: contentEncoding,
//           4: contentType}
// where `raw` is the kind's own message (e.g. Namespace{1: metadata, 2: spec}).
// DecodeKubernetesProtobuf turns it into the JSON object Kubernetes' JSON
// encoding of the same Go value would give: apiVersion and kind, the k8s JSON
// field names, int-or-string as a number or string, quantities in canonical
// string form, times as RFC 3339 strings (null when zero), bytes as base64,
// inline structs merged, and Go `omitempty` applied (a zero scalar that is not
// a pointer is left out; a present pointer keeps its zero value, so
// `replicas: 0` stays). The schemas come from k8s_proto_schema.h.
//
// The input is untrusted network data: every read is bounds-checked, nesting
// is limited to kMaxProtobufNesting messages, and any malformed input gives an
// InvalidArgument status whose message starts with "protobuf body:" and names
// the field path, e.g.
//   protobuf body: Deployment spec.template.spec.containers[0]: truncated ...
// Unknown field numbers in a known message are skipped, as protobuf does.
//
// Thread safety: pure functions; safe from any thread.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "common/status.h"

namespace kite::api {

// The 4 bytes every Kubernetes protobuf body starts with.
inline constexpr std::string_view kKubernetesProtobufMagic{"k8s\0", 4};
// The media type kubectl sends protobuf bodies with.
inline constexpr std::string_view kKubernetesProtobufMediaType =
    "application/vnd.kubernetes.protobuf";
// How many messages deep a body may nest (the envelope, inline structs, map
// entries and JSON embedded in RawExtension/FieldsV1 count too).
inline constexpr int kMaxProtobufNesting = 64;

// True when `body` starts with the magic bytes.
bool IsKubernetesProtobuf(std::string_view body);

// The envelope of a body. The views point into the body.
struct KubernetesProtobufEnvelope {
  std::string_view api_version;
  std::string_view kind;
  std::string_view raw;
  std::string_view content_encoding;
  std::string_view content_type;
};

// Checks the magic and decodes the envelope only. InvalidArgument when the
// magic is missing or the envelope is malformed. The REST layer can use it to
// answer 415 for a kind without a schema (FindProtoKind() == nullptr) before
// decoding.
StatusOr<KubernetesProtobufEnvelope> ParseKubernetesProtobufEnvelope(
    std::string_view body);

// Decodes a whole body into a JSON object with "apiVersion" and "kind" set.
// When the envelope leaves apiVersion or kind empty, `default_api_version` /
// `default_kind` (what the URL expects) fill them in, as the Kubernetes API
// server does. Errors (all InvalidArgument): no magic, malformed protobuf, a
// content encoding other than none, a kind kite has no schema for ("protobuf
// body: no protobuf schema for kind X in Y"), nesting deeper than
// kMaxProtobufNesting, values Kubernetes rejects while decoding (an invalid
// quantity, an IntOrString of unknown type, a time outside years 0-9999,
// RawExtension bytes that are neither JSON nor a protobuf body).
StatusOr<nlohmann::json> DecodeKubernetesProtobuf(
    std::string_view body, std::string_view default_api_version = {},
    std::string_view default_kind = {});

// Decodes `raw`, the bare message of (api_version, kind) without magic or
// envelope, into a JSON object with apiVersion and kind set. Errors as above.
StatusOr<nlohmann::json> DecodeKubernetesProtobufObject(
    std::string_view api_version, std::string_view kind, std::string_view raw);

}  // namespace kite::api

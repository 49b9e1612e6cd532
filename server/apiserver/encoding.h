// Encoding: request bodies in, response shapes out.
//
// Bodies come as JSON (application/json, also what an empty Content-Type
// means), YAML (application/yaml) or Kubernetes protobuf
// (application/vnd.kubernetes.protobuf, what kubectl's typed create commands
// send; decoded by api::DecodeKubernetesProtobuf). Whatever came in, the
// request path works on a JSON object. Malformed bodies are 400 BadRequest,
// other media types 415, bodies nesting deeper than kMaxBodyDepth 400.
//
// Answers are always JSON. The Accept header only chooses the shape:
// the object itself, a meta.k8s.io/v1 Table (`as=Table`, kubectl get) or
// PartialObjectMetadata (`as=PartialObjectMetadata[List]`, metadata-only
// clients). The first Accept entry kite can serve wins.
//
// Thread safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/status.h"
#include "server/apiserver/errors.h"
#include "server/apiserver/request.h"

namespace kite::apiserver {

// The largest request body accepted (Kubernetes' limit): 413 beyond.
inline constexpr size_t kMaxBodyBytes = 3 * 1024 * 1024;
// The deepest nesting of objects and arrays accepted in a body.
inline constexpr int kMaxBodyDepth = 200;

// "application/json" from "Application/JSON; charset=utf-8".
std::string MediaTypeOf(std::string_view content_type);

// The body of `req` as a JSON value: `req.object` when set, else `req.body`
// decoded by its Content-Type. For protobuf bodies the envelope's missing
// apiVersion/kind default to the given ones. Errors: 400 malformed, 415
// unknown media type.
ApiOr<nlohmann::json> DecodeBody(const Request& req,
                                 std::string_view default_api_version,
                                 std::string_view default_kind);

// Parses JSON text (depth-checked first). InvalidArgument with the parser's
// message when malformed.
StatusOr<nlohmann::json> ParseJson(std::string_view text);
// Parses one YAML document into JSON the way Kubernetes' YAML-to-JSON
// conversion does: client::YamlToJson (client/yaml_json.h says what it
// resolves and refuses), shared with every other place kite reads YAML.
StatusOr<nlohmann::json> YamlToJson(std::string_view text);

// InvalidArgument when JSON text nests objects/arrays deeper than
// `max_depth` (a scan that ignores string contents; run before parsing).
Status CheckJsonTextDepth(std::string_view text, int max_depth = kMaxBodyDepth);

// Standard base64 with padding (continue tokens, range allocations).
std::string Base64Encode(std::string_view in);
// Decodes standard base64 (padding optional); false on a bad character.
bool Base64Decode(std::string_view in, std::string* out);

// The shape of an answer.
enum class OutputShape { kObject, kTable, kPartialMetadata };
OutputShape NegotiateOutput(std::string_view accept);

// The metadata-only forms (meta.k8s.io/v1 PartialObjectMetadata[List]).
nlohmann::json PartialObjectMetadata(const nlohmann::json& obj);
nlohmann::json PartialObjectMetadataList(const nlohmann::json& list);

}  // namespace kite::apiserver

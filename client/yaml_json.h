// YAML text to JSON, the way Kubernetes' YAML-to-JSON conversion does, for
// every place kite meets YAML: request bodies (application/yaml, through
// apiserver::YamlToJson), files in the manifests directory, the bootstrap
// RBAC policy, kubeconfig files, apply bodies given to the fake client.
//
// Plain scalars resolve to null, booleans (true/false), integers (also 0x
// and 0o) and floats; a plain integer beyond 64 bits is a float, beyond a
// double's range it stays a string (JSON has no infinity); quoted scalars
// and !!str are strings; map keys become strings. Refused, before yaml-cpp
// sees the text (it loops forever on some of these or hands over bytes JSON
// cannot hold): bytes that are not UTF-8, control characters other than
// tab, CR and LF, more than one document, text after a flow collection that
// opens the document; and after parsing: scalars that yaml-cpp's escapes
// (\N, \_, \L, \P) turned into bytes that are not UTF-8, non-scalar keys,
// nesting deeper than kMaxYamlDepth, aliases that expand beyond a million
// nodes. An empty document is null.
//
// Thread safety: free functions; safe from any thread.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "common/status.h"

namespace kite::client {

inline constexpr int kMaxYamlDepth = 200;

// InvalidArgument ("yaml: ...") with the reason when `text` is refused.
StatusOr<nlohmann::json> YamlToJson(std::string_view text);

// InvalidArgument when JSON (or flow-style YAML) text nests objects/arrays
// deeper than `max_depth`: a scan that skips string contents, run before
// parsing so no parser recurses that deep.
Status CheckJsonTextDepth(std::string_view text, int max_depth = kMaxYamlDepth);

}  // namespace kite::client

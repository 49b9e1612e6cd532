// YAML text to JSON, for the places a client meets YAML: server-side apply
// bodies given to the fake, kubeconfig files.
//
// Plain scalars get YAML 1.2 core-schema types (null, true/false, integers,
// floats), quoted scalars stay strings; maps with non-string keys use the
// key's text. One document only (an empty document is null).
//
// Thread safety: a free function; safe from any thread.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "common/status.h"

namespace kite::client {

// InvalidArgument when `text` is not YAML or nests deeper than 200 levels.
StatusOr<nlohmann::json> YamlToJson(std::string_view text);

}  // namespace kite::client

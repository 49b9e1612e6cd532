// Shared input decoding of the fuzz targets whose input is JSON: parsed the
// way the API server parses request bodies (nesting checked on the text
// first, so hostile nesting is refused before anything recurses), without
// linking the API server.
//
// Thread safety: stateless.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace kite::fuzz {

// The JSON value of `text`, or nullopt when it is not JSON or nests deeper
// than 200 levels (apiserver::kMaxBodyDepth).
inline std::optional<nlohmann::json> ParseJsonInput(std::string_view text) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if ((c == '{' || c == '[') && ++depth > 200) {
      return std::nullopt;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  auto v = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (v.is_discarded()) return std::nullopt;
  return v;
}

// The JSON array `data` holds, or nullopt when it is not a JSON array of at
// least `min_size` elements.
inline std::optional<nlohmann::json> JsonArrayInput(const uint8_t* data,
                                                    size_t size,
                                                    size_t min_size) {
  auto v = ParseJsonInput(
      std::string_view(reinterpret_cast<const char*>(data), size));
  if (!v || !v->is_array() || v->size() < min_size) return std::nullopt;
  return v;
}

// "apps" from "apps/v1", "" from "v1" (and from anything not a string).
inline std::string GroupOf(const nlohmann::json& api_version) {
  if (!api_version.is_string()) return "";
  const std::string& s = api_version.get_ref<const std::string&>();
  size_t slash = s.find('/');
  return slash == std::string::npos ? "" : s.substr(0, slash);
}

inline std::string StringOr(const nlohmann::json& obj, const char* key,
                            std::string fallback) {
  if (!obj.is_object()) return fallback;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return fallback;
  return it->get<std::string>();
}

}  // namespace kite::fuzz

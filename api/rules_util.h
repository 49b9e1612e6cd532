// Small helpers shared by the rules_*.cpp files: field paths, "set when
// unset" defaulting and typed reads of optional members.
//
// Thread safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "api/field_error.h"
#include "api/object.h"

namespace kite::api::rules {

using Json = nlohmann::json;

// Field paths as Kubernetes prints them: "spec.ports[0].name", "data[key]".
inline std::string Child(const std::string& path, std::string_view name) {
  return path.empty() ? std::string(name) : path + "." + std::string(name);
}
inline std::string Index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}
inline std::string Key(const std::string& path, std::string_view key) {
  return path + "[" + std::string(key) + "]";
}

// Sets o[key] = v when the member is missing or null. `o` must be an object.
inline void DefaultValue(Json& o, const char* key, Json v) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) o[key] = std::move(v);
}
// Sets o[key] = v when the member is missing, null or "".
inline void DefaultString(Json& o, const char* key, const char* v) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null() ||
      (it->is_string() && it->get<std::string>().empty()))
    o[key] = v;
}
// The object member `key` of `o`, created (as {}) when missing or null.
inline Json& Obj(Json& o, const char* key) { return Ensure(o, key); }

// Iterates the array member `key` of `o` (no-op when absent).
template <typename F>
void ForEach(Json& o, const char* key, F f) {
  auto it = o.find(key);
  if (it == o.end() || !it->is_array()) return;
  for (Json& e : *it) {
    if (e.is_object()) f(e);
  }
}
template <typename F>
void ForEachConst(const Json& o, const char* key, F f) {
  const Json* a = Field(o, key);
  if (a == nullptr || !a->is_array()) return;
  for (size_t i = 0; i < a->size(); ++i) f((*a)[i], i);
}

// The int member of `o`, when present and an integer.
inline bool IntField(const Json& o, const char* key, int64_t* out) {
  const Json* v = Field(o, key);
  if (v == nullptr || !v->is_number_integer()) return false;
  *out = v->get<int64_t>();
  return true;
}

// ValidateNonnegativeField at `path` when the member exists.
inline void NonNegative(const Json& o, const char* key, const std::string& path,
                        FieldErrors* errs) {
  int64_t v;
  if (IntField(o, key, &v) && v < 0) {
    errs->push_back(
        Invalid(Child(path, key), v, "must be greater than or equal to 0"));
  }
}

// True when `s` (a JSON string member) is one of `values`.
inline bool OneOf(const std::string& s,
                  std::initializer_list<const char*> values) {
  for (const char* v : values) {
    if (s == v) return true;
  }
  return false;
}

}  // namespace kite::api::rules

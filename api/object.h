// Small helpers for reading Kubernetes objects held as nlohmann::json.
//
// Objects are JSON documents end to end (DESIGN.md §5); these helpers read
// fields without throwing: a missing field or a field of the wrong type reads
// as "absent" and the getters return the given default. They also parse and
// format the two Kubernetes timestamp forms (RFC 3339 seconds for
// metav1.Time, microseconds for metav1.MicroTime).
//
// Thread safety: free functions over values; safe from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace kite::api {

using Json = nlohmann::json;
// Wall-clock instant; what metav1.Time denotes.
using Time = std::chrono::system_clock::time_point;

// The member `key` of object `j`, or nullptr when `j` is not an object or has
// no such member. The pointer borrows from `j`.
const Json* Field(const Json& j, std::string_view key);
// Follows `path` through nested objects; nullptr when any step is missing.
const Json* FieldPath(const Json& j,
                      std::initializer_list<std::string_view> path);

// Typed reads of FieldPath(j, path); `def` when absent or of another type.
std::string GetString(const Json& j,
                      std::initializer_list<std::string_view> path,
                      std::string_view def = "");
int64_t GetInt(const Json& j, std::initializer_list<std::string_view> path,
               int64_t def = 0);
bool GetBool(const Json& j, std::initializer_list<std::string_view> path,
             bool def = false);
// True when the path exists and is not null.
bool Has(const Json& j, std::initializer_list<std::string_view> path);

// metadata.* shortcuts.
std::string Name(const Json& obj);
std::string Namespace(const Json& obj);
// metadata.labels as a sorted map (non-string values are skipped).
std::map<std::string, std::string> Labels(const Json& obj);
// A JSON object of string values (e.g. labels, nodeSelector) as a map.
std::map<std::string, std::string> StringMap(const Json* j);

// Returns `obj[key]`, creating an empty object there when missing or null.
// `obj` must be an object (or null, which becomes an object).
Json& Ensure(Json& obj, std::string_view key);

// Parses "2024-01-02T03:04:05Z", "2024-01-02T03:04:05.123456Z" and offsets
// like "+02:00". nullopt when malformed.
std::optional<Time> ParseTime(std::string_view text);
// Formats as metav1.Time: "2024-01-02T03:04:05Z" (UTC, seconds).
std::string FormatTime(Time t);
// Formats as metav1.MicroTime: "2024-01-02T03:04:05.123456Z".
std::string FormatMicroTime(Time t);

}  // namespace kite::api

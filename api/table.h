// Server-side printing: objects and lists as meta.k8s.io/v1 Tables.
//
// `kubectl get` asks for `as=Table` and prints the cells the server renders
// (kubectl-api.md §3). Each Kind carries its columns and a row printer (see
// kinds.h); this file turns objects into Tables with them, and holds the
// time formatting every printer shares (HumanDuration, as
// k8s.io/apimachinery/pkg/util/duration prints it). Rows always carry every
// column, the wide (priority 1) ones included; kubectl hides those without
// `-o wide`.
//
// Thread safety: pure functions; `now` is a parameter (no clock reads).
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "api/kinds.h"
#include "api/object.h"

namespace kite::api {

// duration.HumanDuration: "<invalid>" below -1s, "0s", "90s", "5m3s", "45m",
// "3h10m", "30h", "3d5h", "90d", "3y45d", "10y".
std::string HumanDuration(std::chrono::nanoseconds d);
// Age of an RFC 3339 timestamp field: HumanDuration(now - ts), "<unknown>"
// when the field is missing or malformed.
std::string TranslateTimestampSince(const nlohmann::json* timestamp, Time now);

// What row.object holds: nothing, PartialObjectMetadata (the default) or the
// whole object (includeObject=Object, used by `kubectl get --sort-by`).
enum class IncludeObject { kNone, kMetadata, kObject };

struct TableOptions {
  IncludeObject include_object = IncludeObject::kMetadata;
  bool no_headers = false;  // leave out columnDefinitions (later watch events)
};

// Parses the includeObject query value ("None", "Metadata", "Object"; ""
// means Metadata). InvalidArgument otherwise.
StatusOr<IncludeObject> ParseIncludeObject(std::string_view text);

// The columnDefinitions array of `kind`.
nlohmann::json ColumnDefinitionsJson(const Kind& kind);
// One row: {"cells": [...], "object": {...}}.
nlohmann::json TableRow(const Kind& kind, const nlohmann::json& obj, Time now,
                        IncludeObject include_object);
// A Table of one object.
nlohmann::json ObjectTable(const Kind& kind, const nlohmann::json& obj,
                           Time now, const TableOptions& options);
// A Table of a list object ({"items": [...], "metadata": {resourceVersion,
// continue, remainingItemCount}}); the list metadata is carried over.
nlohmann::json ListTable(const Kind& kind, const nlohmann::json& list, Time now,
                         const TableOptions& options);
// The same, consuming `list`: each item's metadata (or the whole item with
// IncludeObject::kObject) is moved into its row instead of copied, which
// saves about a third of the time on large lists.
nlohmann::json ListTable(const Kind& kind, nlohmann::json&& list, Time now,
                         const TableOptions& options);

// The cells of the default table (Name, Created At) and of custom resources
// (Name + JSONPath columns); used when Kind::printer is empty.
nlohmann::json DefaultRowCells(const Kind& kind, const nlohmann::json& obj,
                               Time now);

}  // namespace kite::api

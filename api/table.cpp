#include "api/table.h"

#include <cstdio>

#include "api/jsonpath.h"

namespace kite::api {

using Json = nlohmann::json;

std::string HumanDuration(std::chrono::nanoseconds d) {
  using std::chrono::duration_cast;
  int64_t seconds = duration_cast<std::chrono::seconds>(d).count();
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 60 * 2) return std::to_string(seconds) + "s";
  int64_t minutes = duration_cast<std::chrono::minutes>(d).count();
  if (minutes < 10) {
    int64_t s = seconds % 60;
    if (s == 0) return std::to_string(minutes) + "m";
    return std::to_string(minutes) + "m" + std::to_string(s) + "s";
  }
  if (minutes < 60 * 3) return std::to_string(minutes) + "m";
  int64_t hours = duration_cast<std::chrono::hours>(d).count();
  if (hours < 8) {
    int64_t m = minutes % 60;
    if (m == 0) return std::to_string(hours) + "h";
    return std::to_string(hours) + "h" + std::to_string(m) + "m";
  }
  if (hours < 48) return std::to_string(hours) + "h";
  if (hours < 24 * 8) {
    int64_t h = hours % 24;
    if (h == 0) return std::to_string(hours / 24) + "d";
    return std::to_string(hours / 24) + "d" + std::to_string(h) + "h";
  }
  if (hours < 24 * 365 * 2) return std::to_string(hours / 24) + "d";
  if (hours < 24 * 365 * 8) {
    int64_t dy = (hours / 24) % 365;
    if (dy == 0) return std::to_string(hours / 24 / 365) + "y";
    return std::to_string(hours / 24 / 365) + "y" + std::to_string(dy) + "d";
  }
  return std::to_string(hours / 24 / 365) + "y";
}

std::string TranslateTimestampSince(const Json* timestamp, Time now) {
  if (timestamp == nullptr || !timestamp->is_string()) return "<unknown>";
  std::optional<Time> t = ParseTime(timestamp->get<std::string>());
  if (!t) return "<unknown>";
  return HumanDuration(
      std::chrono::duration_cast<std::chrono::nanoseconds>(now - *t));
}

StatusOr<IncludeObject> ParseIncludeObject(std::string_view text) {
  if (text.empty() || text == "Metadata") return IncludeObject::kMetadata;
  if (text == "None") return IncludeObject::kNone;
  if (text == "Object") return IncludeObject::kObject;
  return InvalidArgumentError(
      "includeObject: unsupported value \"" + std::string(text) +
      "\": supported values: \"None\", \"Metadata\", \"Object\"");
}

Json ColumnDefinitionsJson(const Kind& kind) {
  Json cols = Json::array();
  for (const ColumnDefinition& c : kind.columns) {
    cols.push_back({{"name", c.name},
                    {"type", c.type},
                    {"format", c.format},
                    {"description", c.description},
                    {"priority", c.priority}});
  }
  return cols;
}

namespace {

// Renders a CRD column value the way the apiextensions table convertor does.
Json CellForJson(const ColumnDefinition& col, const Json& v, Time now) {
  if (v.is_null()) return nullptr;
  if (col.type == "integer") {
    if (v.is_number())
      return v.is_number_integer() ? v.get<int64_t>()
                                   : static_cast<int64_t>(v.get<double>());
    return nullptr;
  }
  if (col.type == "number") {
    if (v.is_number()) return v.get<double>();
    return nullptr;
  }
  if (col.type == "boolean") {
    if (v.is_boolean()) return v;
    return nullptr;
  }
  if (col.type == "date") {
    if (!v.is_string()) return nullptr;
    std::optional<Time> t = ParseTime(v.get<std::string>());
    if (!t) return "<invalid>";
    return HumanDuration(
        std::chrono::duration_cast<std::chrono::nanoseconds>(now - *t));
  }
  // "string": values printed as text (non-strings as JSON).
  if (v.is_string()) return v;
  return v.dump();
}

}  // namespace

Json DefaultRowCells(const Kind& kind, const Json& obj, Time now) {
  Json cells = Json::array();
  cells.push_back(Name(obj));
  if (kind.column_paths.empty() && !kind.IsCustom()) {
    std::string ts = GetString(obj, {"metadata", "creationTimestamp"});
    std::optional<Time> t = ParseTime(ts);
    cells.push_back(t ? FormatTime(*t) : "0001-01-01T00:00:00Z");
    return cells;
  }
  for (size_t i = 0;
       i < kind.column_paths.size() && i + 1 < kind.columns.size(); ++i) {
    const ColumnDefinition& col = kind.columns[i + 1];
    auto path = JsonPath::Parse(kind.column_paths[i]);
    if (!path.ok()) {
      cells.push_back(nullptr);
      continue;
    }
    std::vector<const Json*> found = path->Find(obj);
    if (found.empty() || found[0]->is_null()) {
      cells.push_back(nullptr);
      continue;
    }
    cells.push_back(CellForJson(col, *found[0], now));
  }
  return cells;
}

Json TableRow(const Kind& kind, const Json& obj, Time now,
              IncludeObject include_object) {
  Json row = Json::object();
  row["cells"] = kind.printer ? kind.printer(kind, obj, now)
                              : DefaultRowCells(kind, obj, now);
  switch (include_object) {
    case IncludeObject::kNone:
      row["object"] = nullptr;
      break;
    case IncludeObject::kMetadata: {
      const Json* md = Field(obj, "metadata");
      row["object"] = {{"kind", "PartialObjectMetadata"},
                       {"apiVersion", "meta.k8s.io/v1"},
                       {"metadata", md != nullptr ? *md : Json::object()}};
      break;
    }
    case IncludeObject::kObject:
      row["object"] = obj;
      break;
  }
  return row;
}

namespace {

Json EmptyTable(const Kind& kind, const TableOptions& options) {
  Json t = {{"kind", "Table"},
            {"apiVersion", "meta.k8s.io/v1"},
            {"metadata", Json::object()}};
  if (!options.no_headers) t["columnDefinitions"] = ColumnDefinitionsJson(kind);
  t["rows"] = Json::array();
  return t;
}

}  // namespace

Json ObjectTable(const Kind& kind, const Json& obj, Time now,
                 const TableOptions& options) {
  Json t = EmptyTable(kind, options);
  std::string rv = GetString(obj, {"metadata", "resourceVersion"});
  if (!rv.empty()) t["metadata"]["resourceVersion"] = rv;
  t["rows"].push_back(TableRow(kind, obj, now, options.include_object));
  return t;
}

Json ListTable(const Kind& kind, const Json& list, Time now,
               const TableOptions& options) {
  Json t = EmptyTable(kind, options);
  if (const Json* md = Field(list, "metadata");
      md != nullptr && md->is_object()) {
    for (const char* key :
         {"resourceVersion", "continue", "remainingItemCount"}) {
      if (const Json* v = Field(*md, key); v != nullptr && !v->is_null())
        t["metadata"][key] = *v;
    }
  }
  if (const Json* items = Field(list, "items");
      items != nullptr && items->is_array()) {
    Json& rows = t["rows"];
    for (const Json& item : *items)
      rows.push_back(TableRow(kind, item, now, options.include_object));
  }
  return t;
}

Json ListTable(const Kind& kind, Json&& list, Time now,
               const TableOptions& options) {
  Json t = EmptyTable(kind, options);
  if (Json* md = list.is_object() && list.contains("metadata")
                     ? &list["metadata"]
                     : nullptr;
      md != nullptr && md->is_object()) {
    for (const char* key :
         {"resourceVersion", "continue", "remainingItemCount"}) {
      if (auto it = md->find(key); it != md->end() && !it->is_null()) {
        t["metadata"][key] = std::move(*it);
      }
    }
  }
  if (!list.is_object() || !list.contains("items") ||
      !list["items"].is_array()) {
    return t;
  }
  Json& rows = t["rows"];
  for (Json& item : list["items"]) {
    Json row = Json::object();
    row["cells"] = kind.printer ? kind.printer(kind, item, now)
                                : DefaultRowCells(kind, item, now);
    switch (options.include_object) {
      case IncludeObject::kNone:
        row["object"] = nullptr;
        break;
      case IncludeObject::kMetadata: {
        Json md = Json::object();
        if (item.is_object() && item.contains("metadata")) {
          md = std::move(item["metadata"]);
        }
        row["object"] = {{"kind", "PartialObjectMetadata"},
                         {"apiVersion", "meta.k8s.io/v1"},
                         {"metadata", std::move(md)}};
        break;
      }
      case IncludeObject::kObject:
        row["object"] = std::move(item);
        break;
    }
    rows.push_back(std::move(row));
  }
  return t;
}

}  // namespace kite::api

// The read verbs of the request path: get, list, watch.
#include <charconv>

#include "api/table.h"
#include "common/log.h"
#include "server/apiserver/handler.h"

namespace kite::apiserver {

using nlohmann::json;

namespace {

constexpr char kContinueTooOld[] =
    "The provided continue parameter is too old to display a consistent list "
    "result. You can "
    "start a new list without the continue parameter, or use the continue "
    "token in this response "
    "to retrieve the remainder of the results. Continuing with the provided "
    "token results in an "
    "inconsistent list - objects that were created, modified, or deleted "
    "between the time the "
    "first chunk was returned and now may show up in the list.";

bool ParseInt64(const std::string& s, int64_t* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

std::string EncodeContinue(int64_t revision, const std::string& start) {
  json token = {{"v", "meta.k8s.io/v1"}, {"rv", revision}, {"start", start}};
  return Base64Encode(token.dump());
}

bool DecodeContinue(const std::string& text, int64_t* revision,
                    std::string* start) {
  std::string raw;
  if (!Base64Decode(text, &raw)) return false;
  json token = json::parse(raw, nullptr, false);
  if (!token.is_object() || !token.value("rv", json()).is_number_integer() ||
      !token.value("start", json()).is_string()) {
    return false;
  }
  *revision = token["rv"].get<int64_t>();
  *start = token["start"].get<std::string>();
  return *revision > 0 && start->find("..") == std::string::npos;
}

}  // namespace

Response Handler::Shape(Ctx& ctx, int status, json obj, bool is_list) {
  Response r;
  r.status = status;
  switch (ctx.shape) {
    case OutputShape::kTable: {
      api::TableOptions opts;
      opts.include_object = ctx.include_object;
      r.json = is_list ? api::ListTable(*ctx.kind, obj, ctx.now, opts)
                       : api::ObjectTable(*ctx.kind, obj, ctx.now, opts);
      break;
    }
    case OutputShape::kPartialMetadata:
      r.json =
          is_list ? PartialObjectMetadataList(obj) : PartialObjectMetadata(obj);
      break;
    case OutputShape::kObject:
      r.json = std::move(obj);
      break;
  }
  for (const std::string& w : ctx.warnings)
    r.headers.emplace_back("Warning", w);
  return r;
}

ApiOr<Response> Handler::Get(Ctx& ctx) {
  auto got = store_.Get(*ctx.kind, ctx.ns, ctx.info.name);
  if (!got.ok()) {
    if (got.status().code() == Code::kNotFound)
      return NotFound(*ctx.kind, ctx.info.name);
    return ApiError(got.status());
  }
  return Shape(ctx, 200, std::move(got->object), false);
}

ApiOr<Handler::Selection> Handler::ParseSelection(Ctx& ctx) {
  Selection sel;
  auto labels = api::LabelSelector::Parse(ctx.req.Param("labelSelector"));
  if (!labels.ok()) return BadRequest(labels.status().message());
  sel.labels = std::move(labels).value();
  std::string field_text = ctx.req.Param("fieldSelector");
  if (!ctx.info.name.empty()) {
    // A watch of one object: GET .../pods/web?watch=true.
    field_text += std::string(field_text.empty() ? "" : ",") +
                  "metadata.name=" + ctx.info.name;
  }
  auto fields = api::FieldSelector::Parse(field_text);
  if (!fields.ok()) return BadRequest(fields.status().message());
  sel.fields = std::move(fields).value();
  if (Status st = sel.fields.Validate(*ctx.kind); !st.ok())
    return BadRequest(st.message());
  return sel;
}

namespace {

// The datastore prefix a selection can be narrowed to (one namespace, or
// names starting with the one asked for).
std::string NarrowPrefix(const api::Kind& kind, const std::string& ns,
                         const api::FieldSelector& fields) {
  std::string use_ns = ns;
  if (kind.Namespaced() && use_ns.empty()) {
    if (auto want = fields.RequiresExactMatch("metadata.namespace"))
      use_ns = *want;
  }
  std::string prefix = ObjectStore::Prefix(kind, use_ns);
  if (!kind.Namespaced() || !use_ns.empty()) {
    if (auto name = fields.RequiresExactMatch("metadata.name");
        name && !name->empty()) {
      prefix += *name;
    }
  }
  return prefix;
}

}  // namespace

ApiOr<json> Handler::ListObjects(Ctx& ctx, const Selection& sel, int64_t limit,
                                 const std::string& continue_token,
                                 int64_t* list_revision, std::string* raw_items,
                                 const RawRenderer* render) {
  const api::Kind& kind = *ctx.kind;
  const std::string base = "/registry/" + kind.storage_resource + "/";
  const std::string prefix = NarrowPrefix(kind, ctx.ns, sel.fields);
  datastore::ListOptions opts;
  std::string rv = ctx.req.Param("resourceVersion");
  std::string rvm = ctx.req.Param("resourceVersionMatch");
  if (!continue_token.empty()) {
    std::string start;
    if (!DecodeContinue(continue_token, &opts.revision, &start)) {
      return BadRequest("continue key is not valid: the token is malformed");
    }
    if (!rv.empty() && rv != "0") {
      return BadRequest(
          "specifying resource version is not allowed when using continue");
    }
    opts.start_after = base + start;
  } else {
    if (!rvm.empty() && rv.empty()) {
      return BadRequest(
          "resourceVersionMatch is forbidden unless resourceVersion is "
          "provided");
    }
    if (!rvm.empty() && rvm != "Exact" && rvm != "NotOlderThan") {
      return BadRequest("resourceVersionMatch: Unsupported value: \"" + rvm +
                        "\": supported values: \"Exact\", \"NotOlderThan\"");
    }
    if (!rv.empty() && rv != "0") {
      int64_t want = 0;
      if (!ParseInt64(rv, &want) || want < 0) {
        return BadRequest("resourceVersion: Invalid value: \"" + rv +
                          "\": must be a number");
      }
      int64_t current = backend_.CurrentRevision();
      if (want > current) {
        return ApiError(504, "Timeout",
                        "Too large resource version: " + rv +
                            ", current: " + std::to_string(current));
      }
      if (rvm == "Exact") opts.revision = want;
    } else if (rvm == "Exact") {
      return BadRequest(
          "resourceVersionMatch \"Exact\" is forbidden for resourceVersion "
          "\"0\"");
    }
  }

  json items = json::array();
  int64_t count = 0;
  bool more = false;
  std::string last_key;
  const bool select = !sel.labels.Empty() || !sel.fields.Empty();
  for (;;) {
    if (limit > 0) opts.limit = limit - count;
    auto page = backend_.List(prefix, opts);
    if (!page.ok()) {
      if (page.status().code() == Code::kCompacted) {
        if (!continue_token.empty()) return Expired(kContinueTooOld);
        return Expired(
            "too old resource version: " + std::to_string(opts.revision) +
            " (" + std::to_string(backend_.CompactRevision()) + ")");
      }
      return ApiError(page.status());
    }
    opts.revision = page->revision;  // every page at the first one's revision
    size_t i = 0;
    for (; i < page->kvs.size(); ++i) {
      const datastore::KeyValue& kv = page->kvs[i];
      last_key = kv.key;
      if (raw_items != nullptr && !select && render == nullptr) {
        // The fast path: no parsing when nothing needs to look inside.
        size_t before = raw_items->size();
        if (count > 0) raw_items->push_back(',');
        if (ObjectStore::AppendServed(kind, kv.value, kv.mod_revision,
                                      raw_items)) {
          ++count;
          if (limit > 0 && count >= limit) break;
          continue;
        }
        raw_items->resize(before);
      }
      auto obj = ObjectStore::Decode(kind, kv.value, kv.mod_revision);
      if (!obj.ok()) {
        log::Warn("apiserver", "list skips undecodable object")("key", kv.key);
        continue;
      }
      if (!sel.labels.MatchesObject(*obj) || !sel.fields.Matches(kind, *obj))
        continue;
      if (raw_items != nullptr) {
        if (count > 0) raw_items->push_back(',');
        if (render != nullptr) {
          (*render)(std::move(obj).value(), raw_items);
        } else {
          raw_items->append(obj->dump());
        }
      } else {
        items.push_back(std::move(obj).value());
      }
      ++count;
      if (limit > 0 && count >= limit) break;
    }
    if (limit > 0 && count >= limit) {
      more = i + 1 < page->kvs.size() || page->more;
      break;
    }
    if (!page->more || page->kvs.empty()) break;
    opts.start_after = page->kvs.back().key;
  }
  if (list_revision != nullptr) *list_revision = opts.revision;

  json meta = {{"resourceVersion", std::to_string(opts.revision)}};
  if (more)
    meta["continue"] =
        EncodeContinue(opts.revision, last_key.substr(base.size()));
  return json{{"kind", kind.list_kind},
              {"apiVersion", kind.ApiVersion()},
              {"metadata", std::move(meta)},
              {"items", std::move(items)}};
}

ApiOr<Response> Handler::List(Ctx& ctx) {
  API_ASSIGN_OR_RETURN(Selection sel, ParseSelection(ctx));
  int64_t limit = 0;
  std::string limit_text = ctx.req.Param("limit");
  if (!limit_text.empty() && (!ParseInt64(limit_text, &limit) || limit < 0)) {
    return BadRequest("limit: Invalid value: \"" + limit_text +
                      "\": must be a non-negative integer");
  }
  if (ctx.shape == OutputShape::kObject || ctx.shape == OutputShape::kTable) {
    // Plain JSON: the items are written as stored, without a parse and a
    // dump per object. Tables: each row is rendered as its object is read,
    // with no list of whole objects in between.
    const api::Kind& kind = *ctx.kind;
    RawRenderer table_row = [&](json&& obj, std::string* out) {
      out->append("{\"cells\":");
      out->append((kind.printer ? kind.printer(kind, obj, ctx.now)
                                : api::DefaultRowCells(kind, obj, ctx.now))
                      .dump());
      out->append(",\"object\":");
      switch (ctx.include_object) {
        case api::IncludeObject::kNone:
          out->append("null");
          break;
        case api::IncludeObject::kMetadata: {
          out->append(
              "{\"apiVersion\":\"meta.k8s.io/v1\",\"kind\":"
              "\"PartialObjectMetadata\",\"metadata\":");
          auto md = obj.find("metadata");
          out->append(md != obj.end() ? md->dump() : "{}");
          out->push_back('}');
          break;
        }
        case api::IncludeObject::kObject:
          out->append(obj.dump());
          break;
      }
      out->push_back('}');
    };
    bool table = ctx.shape == OutputShape::kTable;
    std::string items;
    API_ASSIGN_OR_RETURN(
        json list, ListObjects(ctx, sel, limit, ctx.req.Param("continue"),
                               nullptr, &items, table ? &table_row : nullptr));
    std::string body;
    if (table) {
      json meta = json::object();
      for (const char* key : {"resourceVersion", "continue"}) {
        if (list["metadata"].contains(key)) meta[key] = list["metadata"][key];
      }
      body = "{\"apiVersion\":\"meta.k8s.io/v1\",\"columnDefinitions\":" +
             api::ColumnDefinitionsJson(kind).dump() +
             ",\"kind\":\"Table\",\"metadata\":" + meta.dump() + ",\"rows\":[";
      body += items;
      body += "]}";
    } else {
      body = "{\"apiVersion\":" + list["apiVersion"].dump() + ",\"items\":[";
      body += items;
      body += "],\"kind\":" + list["kind"].dump() +
              ",\"metadata\":" + list["metadata"].dump() + "}";
    }
    Response r = Response::Text(200, std::move(body), "application/json");
    for (const std::string& w : ctx.warnings)
      r.headers.emplace_back("Warning", w);
    return r;
  }
  API_ASSIGN_OR_RETURN(
      json list,
      ListObjects(ctx, sel, limit, ctx.req.Param("continue"), nullptr));
  return Shape(ctx, 200, std::move(list), true);
}

ApiOr<Response> Handler::Watch(Ctx& ctx) {
  API_ASSIGN_OR_RETURN(Selection sel, ParseSelection(ctx));
  WatchSpec spec;
  spec.kind = ctx.kind;
  spec.prefix = NarrowPrefix(*ctx.kind, ctx.ns, sel.fields);
  spec.bookmarks = ctx.req.HasParam("allowWatchBookmarks") &&
                   IsTrue(ctx.req.Param("allowWatchBookmarks"));
  spec.shape = ctx.shape;
  spec.include_object = ctx.include_object;
  std::string timeout_text = ctx.req.Param("timeoutSeconds");
  if (!timeout_text.empty()) {
    int64_t secs = 0;
    if (!ParseInt64(timeout_text, &secs) || secs < 0) {
      return BadRequest("timeoutSeconds: Invalid value: \"" + timeout_text +
                        "\"");
    }
    if (secs > 0) spec.timeout = std::chrono::seconds(secs);
  }
  std::string rv = ctx.req.Param("resourceVersion");
  bool send_initial = ctx.req.HasParam("sendInitialEvents") &&
                      IsTrue(ctx.req.Param("sendInitialEvents"));
  if (rv.empty() || rv == "0" || send_initial) {
    // Start with the current state as ADDED events.
    int64_t revision = 0;
    Request list_req = ctx.req;
    list_req.query.erase("resourceVersion");
    list_req.query.erase("resourceVersionMatch");
    Ctx list_ctx{list_req, ctx.info, ctx.kind, ctx.ns};
    API_ASSIGN_OR_RETURN(json list,
                         ListObjects(list_ctx, sel, 0, "", &revision));
    for (json& item : list["items"]) spec.initial.push_back(std::move(item));
    spec.after_revision = revision;
    spec.initial_events_end = send_initial && spec.bookmarks;
  } else {
    int64_t want = 0;
    if (!ParseInt64(rv, &want) || want < 0) {
      return BadRequest("resourceVersion: Invalid value: \"" + rv +
                        "\": must be a number");
    }
    int64_t current = backend_.CurrentRevision();
    if (want > current) {
      return ApiError(504, "Timeout",
                      "Too large resource version: " + rv +
                          ", current: " + std::to_string(current));
    }
    spec.after_revision = want;
  }
  spec.labels = std::move(sel.labels);
  spec.fields = std::move(sel.fields);
  auto stream = WatchStream::Open(backend_, clock_, std::move(spec));
  if (!stream.ok()) return ApiError(stream.status());
  std::shared_ptr<WatchStream> s = std::move(stream).value();
  {
    std::lock_guard<std::mutex> lock(watches_mu_);
    if (shutting_down_)
      return ApiError(503, "ServiceUnavailable", "the server is shutting down");
    const WatchStream* key = s.get();
    watches_[key] = s;
    s->SetOnClose([this, key] {
      std::lock_guard<std::mutex> l(watches_mu_);
      watches_.erase(key);
    });
  }
  Response r;
  r.watch = std::move(s);
  r.content_type = "application/json";
  return r;
}

}  // namespace kite::apiserver

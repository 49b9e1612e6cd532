#include "server/apiserver/object_store.h"

#include <utility>

namespace kite::apiserver {

using nlohmann::json;

namespace {

// core/v1 field -> events.k8s.io/v1 field.
constexpr std::pair<const char*, const char*> kEventFields[] = {
    {"involvedObject", "regarding"},
    {"message", "note"},
    {"reportingComponent", "reportingController"},
    {"source", "deprecatedSource"},
    {"firstTimestamp", "deprecatedFirstTimestamp"},
    {"lastTimestamp", "deprecatedLastTimestamp"},
    {"count", "deprecatedCount"},
};

}  // namespace

std::string ObjectStore::Key(const api::Kind& kind, std::string_view ns,
                             std::string_view name) {
  std::string key = "/registry/" + kind.storage_resource + "/";
  if (kind.Namespaced()) {
    key += ns;
    key += '/';
  }
  key += name;
  return key;
}

std::string ObjectStore::Prefix(const api::Kind& kind, std::string_view ns) {
  std::string key = "/registry/" + kind.storage_resource + "/";
  if (kind.Namespaced() && !ns.empty()) {
    key += ns;
    key += '/';
  }
  return key;
}

std::string ObjectStore::Encode(const json& obj) {
  auto md = obj.find("metadata");
  if (md != obj.end() && md->is_object() && md->contains("resourceVersion")) {
    json copy = obj;
    copy["metadata"].erase("resourceVersion");
    return copy.dump();
  }
  return obj.dump();
}

json ConvertEvent(const json& event, std::string_view to_api_version) {
  json out = event;
  bool to_events_group = to_api_version == "events.k8s.io/v1";
  for (const auto& [core, group] : kEventFields) {
    const char* from = to_events_group ? core : group;
    const char* to = to_events_group ? group : core;
    auto it = out.find(from);
    if (it != out.end()) {
      json v = std::move(*it);
      out.erase(from);
      out[to] = std::move(v);
    }
  }
  out["apiVersion"] = std::string(to_api_version);
  return out;
}

bool ObjectStore::AppendServed(const api::Kind& kind, std::string_view value,
                               int64_t mod_revision, std::string* out) {
  // Values are stored as nlohmann dumps them: keys sorted, so apiVersion
  // comes first for every built-in kind.
  std::string head = "{\"apiVersion\":\"" + kind.ApiVersion() + "\",";
  if (value.substr(0, head.size()) != head) return false;
  constexpr std::string_view kMeta = "\"metadata\":{";
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      // At depth 1 a string followed by ':' is a key of the object itself.
      if (depth == 1 && value.substr(i, kMeta.size()) == kMeta) {
        size_t body = i + kMeta.size();
        out->append(value.substr(0, body));
        out->append("\"resourceVersion\":\"");
        out->append(std::to_string(mod_revision));
        out->push_back('"');
        if (body < value.size() && value[body] != '}') out->push_back(',');
        out->append(value.substr(body));
        return true;
      }
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return false;
}

StatusOr<json> ObjectStore::Decode(const api::Kind& kind,
                                   std::string_view value,
                                   int64_t mod_revision) {
  json obj = json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (obj.is_discarded() || !obj.is_object()) {
    return InternalError("stored " + kind.GroupResource() +
                         " object is not JSON");
  }
  std::string api_version = kind.ApiVersion();
  auto av = obj.find("apiVersion");
  if (av == obj.end() || !av->is_string() || *av != api_version) {
    std::string stored =
        av != obj.end() && av->is_string() ? av->get<std::string>() : "";
    if (kind.kind == "Event" &&
        (stored == "v1" || stored == "events.k8s.io/v1")) {
      obj = ConvertEvent(obj, api_version);
    } else {
      obj["apiVersion"] = api_version;
    }
  }
  obj["kind"] = kind.kind;
  json& md = obj["metadata"];
  if (!md.is_object()) md = json::object();
  md["resourceVersion"] = std::to_string(mod_revision);
  return obj;
}

StatusOr<StoredObject> ObjectStore::Get(const api::Kind& kind,
                                        std::string_view ns,
                                        std::string_view name) {
  KITE_ASSIGN_OR_RETURN(datastore::KeyValue kv,
                        backend_.Get(Key(kind, ns, name)));
  KITE_ASSIGN_OR_RETURN(json obj, Decode(kind, kv.value, kv.mod_revision));
  return StoredObject{std::move(obj), kv.mod_revision};
}

StatusOr<json> ObjectStore::Create(const api::Kind& kind, const json& obj,
                                   int64_t ttl_seconds) {
  std::string key = Key(kind, api::Namespace(obj), api::Name(obj));
  KITE_ASSIGN_OR_RETURN(int64_t rev,
                        backend_.Create(key, Encode(obj), ttl_seconds));
  json out = obj;
  out["metadata"]["resourceVersion"] = std::to_string(rev);
  return out;
}

StatusOr<json> ObjectStore::Update(const api::Kind& kind, const json& obj,
                                   int64_t expected_revision,
                                   int64_t ttl_seconds) {
  std::string key = Key(kind, api::Namespace(obj), api::Name(obj));
  KITE_ASSIGN_OR_RETURN(
      int64_t rev,
      backend_.Update(key, Encode(obj), expected_revision, ttl_seconds));
  json out = obj;
  out["metadata"]["resourceVersion"] = std::to_string(rev);
  return out;
}

StatusOr<int64_t> ObjectStore::Delete(const api::Kind& kind,
                                      std::string_view ns,
                                      std::string_view name,
                                      int64_t expected_revision) {
  KITE_ASSIGN_OR_RETURN(
      datastore::DeleteResult r,
      backend_.Delete(Key(kind, ns, name), expected_revision));
  return r.revision;
}

}  // namespace kite::apiserver

// ObjectStore: where API objects live in the datastore and how they come
// back out.
//
// Keys follow Kubernetes: /registry/<storage_resource>/<namespace>/<name>
// for namespaced kinds, /registry/<storage_resource>/<name> otherwise
// (storage_resource is the kind table's; custom resources use
// <group>/<plural>). Values are the object's JSON without
// metadata.resourceVersion: the resourceVersion an object is served with is
// its key's mod_revision, set when it is read (Decode), so a write never has
// to know its own revision in advance.
//
// Objects are stored with the apiVersion of the kind they were written
// through; Decode serves them under the kind they are read through (custom
// resource versions share one storage, as with conversion strategy None;
// core/v1 and events.k8s.io/v1 Events share "events" and are converted).
//
// Errors are the datastore's (NotFound, AlreadyExists, Conflict, Compacted,
// ResourceExhausted for oversize values): the REST layer words them.
//
// Thread safety: safe for concurrent use (the backend is).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "api/kinds.h"
#include "common/status.h"
#include "datastore/backend.h"

namespace kite::apiserver {

struct StoredObject {
  nlohmann::json object;  // as served (resourceVersion set)
  int64_t mod_revision = 0;
};

class ObjectStore {
 public:
  explicit ObjectStore(datastore::Backend& backend) : backend_(backend) {}

  static std::string Key(const api::Kind& kind, std::string_view ns,
                         std::string_view name);
  // The prefix of every object of `kind` in `ns` ("" = all namespaces, and
  // cluster-scoped kinds), ending in '/'.
  static std::string Prefix(const api::Kind& kind, std::string_view ns);
  // The storage form of `obj` (resourceVersion dropped).
  static std::string Encode(const nlohmann::json& obj);
  // Appends the served form of a stored value to `out` without parsing it
  // (fast lists): the stored JSON with metadata.resourceVersion spliced in.
  // False, appending nothing, when that is not possible (the stored
  // apiVersion is not the kind's, no top-level metadata object): use Decode.
  static bool AppendServed(const api::Kind& kind, std::string_view value,
                           int64_t mod_revision, std::string* out);
  // The served form of a stored value read through `kind`.
  static StatusOr<nlohmann::json> Decode(const api::Kind& kind,
                                         std::string_view value,
                                         int64_t mod_revision);

  StatusOr<StoredObject> Get(const api::Kind& kind, std::string_view ns,
                             std::string_view name);
  // Creates; returns the object as served (resourceVersion set). A
  // positive `ttl_seconds` makes the datastore delete it after that long
  // without writes (Events).
  StatusOr<nlohmann::json> Create(const api::Kind& kind,
                                  const nlohmann::json& obj,
                                  int64_t ttl_seconds = 0);
  // Compare-and-swap on `expected_revision`; returns the object as served.
  StatusOr<nlohmann::json> Update(const api::Kind& kind,
                                  const nlohmann::json& obj,
                                  int64_t expected_revision,
                                  int64_t ttl_seconds = 0);
  // Deletes if unchanged since `expected_revision` (0: whatever it is);
  // returns the revision of the delete.
  StatusOr<int64_t> Delete(const api::Kind& kind, std::string_view ns,
                           std::string_view name, int64_t expected_revision);

  datastore::Backend& backend() { return backend_; }

 private:
  datastore::Backend& backend_;
};

// Converts an Event between core/v1 and events.k8s.io/v1 shapes (they share
// storage). `to_api_version` is "v1" or "events.k8s.io/v1".
nlohmann::json ConvertEvent(const nlohmann::json& event,
                            std::string_view to_api_version);

}  // namespace kite::apiserver

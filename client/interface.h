// client::Interface: how kite components talk to the Kubernetes API.
//
// The one contract behind which every client of the API server sits: the
// loopback client inside `kite server` (server/apiserver, calls the request
// path in-process), the HTTPS client (https_client.h, for the agent and
// tools) and the in-memory fake (fake_client.h, for controller unit tests).
// Controllers and the scheduler receive an Interface and never know which.
// It is shaped like client-go's dynamic client: objects are JSON documents
// (nlohmann::json) in and out, resources are addressed by group, version,
// plural resource and namespace.
//
// Errors are kite::Status with codes that follow the Kubernetes reasons
// (ApiStatusToStatus in wire.h is the one mapping, used by every
// implementation):
//   reason (HTTP code)                        -> Code
//   NotFound (404)                            -> kNotFound
//   AlreadyExists (409)                       -> kAlreadyExists
//   Conflict (409), incl. apply conflicts     -> kConflict
//   Invalid (422), BadRequest (400),
//     UnsupportedMediaType (415)              -> kInvalidArgument
//   Gone / Expired (410)                      -> kCompacted
//   Forbidden (403)                           -> kPermissionDenied
//   Unauthorized (401)                        -> kUnauthenticated
//   TooManyRequests (429),
//     RequestEntityTooLarge (413)             -> kResourceExhausted
//   Timeout / ServerTimeout (504, 500+reason) -> kDeadlineExceeded
//   ServiceUnavailable (503)                  -> kUnavailable
//   MethodNotAllowed (405)                    -> kFailedPrecondition
//   anything else (500 ...)                   -> kInternal
// The Status message is the Kubernetes Status.message verbatim (what kubectl
// prints after "Error from server (<reason>): "). Transport failures of the
// HTTPS client are kUnavailable (cannot connect), kUnauthenticated (TLS
// refused) or kDeadlineExceeded. A caller that needs the whole metav1.Status
// (reason, details.causes, ...) uses Do(), which returns the HTTP answer
// unmapped.
//
// Addressing: a ResourceRef names a collection. `ns` is empty for
// cluster-scoped resources and for lists/watches across all namespaces. For
// Create and Update an empty `ns` is taken from the object's
// metadata.namespace (so one ref serves objects of many namespaces); Get,
// Patch and Delete of a namespaced object need `ns`.
//
// Ownership: arguments are borrowed for the duration of the call; results
// are owned by the caller. A WatchStream must be destroyed before the
// Interface that made it.
//
// Thread safety: every method of every implementation may be called
// concurrently from any thread. A WatchStream is used by one thread at a
// time, except Cancel(), which may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "common/status.h"

namespace kite::client {

using Json = nlohmann::json;

// A resource collection: /api/v1/namespaces/<ns>/pods ->
// {"", "v1", "pods", "<ns>"}.
struct ResourceRef {
  std::string group;     // "" for the core group
  std::string version;   // "v1"
  std::string resource;  // plural: "pods", "deployments"
  std::string ns;        // namespace; "" = cluster-scoped or all namespaces

  // The same collection in namespace `n`.
  ResourceRef In(std::string n) const {
    ResourceRef r = *this;
    r.ns = std::move(n);
    return r;
  }
  // "apps/v1", or "v1" for the core group.
  std::string ApiVersion() const {
    return group.empty() ? version : group + "/" + version;
  }
  // "deployments.apps", or "pods" (the wording of Kubernetes messages).
  std::string GroupResource() const {
    return group.empty() ? resource : resource + "." + group;
  }
  bool operator==(const ResourceRef&) const = default;
  bool operator<(const ResourceRef& o) const {
    return std::tie(group, version, resource, ns) <
           std::tie(o.group, o.version, o.resource, o.ns);
  }
};

struct GetOptions {
  std::string resource_version;  // "" = the latest (a quorum read)
  std::string subresource;       // "" or "status", "scale", ...
};

struct ListOptions {
  std::string label_selector;  // "app=web,tier in (a,b)"
  std::string field_selector;  // "metadata.name=x,status.phase!=Failed"
  int64_t limit = 0;           // 0 = everything in one answer
  std::string continue_token;  // metadata.continue of the previous page
  // "" = the latest; "0" = any (the server may answer from a cache).
  std::string resource_version;
};

struct WatchOptions {
  // Events after this resourceVersion (normally the list's
  // metadata.resourceVersion). "" or "0": ADDED events for the current
  // objects first, then changes.
  std::string resource_version;
  std::string label_selector;
  std::string field_selector;
  bool allow_bookmarks = false;  // BOOKMARK events carry a newer RV
  // Server-side timeoutSeconds: the server ends the watch after this long
  // (the stream then reports its end; informers re-watch). 0 = the server's
  // default.
  std::chrono::seconds timeout{0};
};

struct CreateOptions {
  std::string field_manager;  // "" = the server's default
  bool dry_run = false;       // dryRun=All: validate, store nothing
  // POST to a subresource of the object named by obj.metadata.name, e.g.
  // "binding" (a Binding to pods/<name>/binding) or "eviction".
  std::string subresource;
};

struct UpdateOptions {
  std::string field_manager;
  bool dry_run = false;
  // "" for the object itself, or "status", "finalize" (namespaces), "scale".
  std::string subresource;
};

enum class PatchType {
  kJson,            // application/json-patch+json (RFC 6902)
  kMerge,           // application/merge-patch+json (RFC 7386)
  kStrategicMerge,  // application/strategic-merge-patch+json
  kApply,           // application/apply-patch+yaml (server-side apply)
};

struct PatchOptions {
  std::string field_manager;  // required by the server for kApply
  bool force = false;         // kApply only: take over conflicting fields
  bool dry_run = false;
  std::string subresource;  // "" or "status", "scale", ...
};

enum class PropagationPolicy {
  kDefault,     // the resource's default (Background for most)
  kOrphan,      // dependents keep running without an owner
  kBackground,  // the owner goes now, the garbage collector removes dependents
  kForeground,  // dependents go first (foregroundDeletion finalizer)
};

struct DeleteOptions {
  PropagationPolicy propagation_policy = PropagationPolicy::kDefault;
  // nullopt = the object's default (pods: spec.terminationGracePeriodSeconds)
  std::optional<int64_t> grace_period_seconds;
  // Fail with kConflict unless the object still has this uid /
  // resourceVersion ("" = no precondition).
  std::string precondition_uid;
  std::string precondition_resource_version;
  bool dry_run = false;
};

enum class EventType { kAdded, kModified, kDeleted, kBookmark, kError };

struct WatchEvent {
  EventType type = EventType::kAdded;
  // The object; for kBookmark an object carrying only
  // metadata.resourceVersion; for kError a metav1.Status (410 Expired when
  // the resourceVersion was compacted; see WatchErrorToStatus in wire.h).
  Json object;
};

// A running watch. Events arrive in resourceVersion order.
class WatchStream {
 public:
  virtual ~WatchStream() = default;

  // Waits up to `timeout` for the next event and returns it.
  // - kDeadlineExceeded: nothing arrived in time; the stream is still good.
  // - kCancelled: Cancel() was called.
  // - kUnavailable "watch closed": the server ended the watch (its timeout,
  //   a restart, an error after a kError event). Every later call returns
  //   the same. The caller re-lists or re-watches.
  // - another code (kCompacted, kPermissionDenied, ...): the server refused
  //   the watch request itself (an implementation that learns the answer
  //   only after Watch() returned reports it here), or the stream broke;
  //   it has ended, as above.
  // After an event of type kError the server ends the watch.
  virtual StatusOr<WatchEvent> Next(std::chrono::milliseconds timeout) = 0;

  // Ends the watch: a Next() in progress, and every later one, returns
  // kCancelled. Any thread; idempotent.
  virtual void Cancel() = 0;
};

// A raw request for what the typed methods do not cover (discovery,
// pods/log, a caller that needs the whole metav1.Status of an error).
struct RawRequest {
  std::string method = "GET";  // GET, POST, PUT, PATCH, DELETE
  // Absolute path with the query string, already URL-encoded:
  // "/api/v1/namespaces/x/pods?limit=5".
  std::string path;
  std::map<std::string, std::string> headers;  // e.g. Content-Type, Accept
  std::string body;
};

struct RawResponse {
  int code = 0;  // HTTP status code
  std::string content_type;
  std::string body;
};

class Interface {
 public:
  virtual ~Interface() = default;

  // The object `name` (or its subresource). kNotFound when absent.
  virtual StatusOr<Json> Get(const ResourceRef& ref, const std::string& name,
                             const GetOptions& opts) = 0;

  // A list object: {"kind":"<Kind>List","apiVersion",...,"metadata":
  // {"resourceVersion":"N","continue":"..."},"items":[...]}. Items are
  // whole objects (with kind and apiVersion set). When opts.limit > 0 and
  // more remain, metadata.continue is non-empty; pass it back as
  // continue_token (kCompacted when the token has expired).
  // kInvalidArgument for a selector that does not parse.
  virtual StatusOr<Json> List(const ResourceRef& ref,
                              const ListOptions& opts) = 0;

  // Starts a watch. kCompacted when opts.resource_version is too old. The
  // API server instead answers that with a first event of type kError (a
  // 410 Status), and the HTTPS client may report refusals from the first
  // Next(): callers handle all three.
  virtual StatusOr<std::unique_ptr<WatchStream>> Watch(
      const ResourceRef& ref, const WatchOptions& opts) = 0;

  // Creates `obj` (metadata.name or metadata.generateName set) and returns
  // the stored object (uid, resourceVersion, defaults). kAlreadyExists when
  // the name is taken; kInvalidArgument when validation fails.
  virtual StatusOr<Json> Create(const ResourceRef& ref, const Json& obj,
                                const CreateOptions& opts) = 0;

  // Replaces the object named by obj.metadata.name (or its subresource).
  // With metadata.resourceVersion set it is a compare-and-swap: kConflict
  // when the stored object has moved on. Returns the stored object.
  virtual StatusOr<Json> Update(const ResourceRef& ref, const Json& obj,
                                const UpdateOptions& opts) = 0;

  // Patches `name` with `body` (JSON text for every type; YAML is accepted
  // for kApply). Returns the stored object. A patch that changes nothing
  // leaves resourceVersion as it was.
  virtual StatusOr<Json> Patch(const ResourceRef& ref, const std::string& name,
                               PatchType type, const std::string& body,
                               const PatchOptions& opts) = 0;

  // Deletes `name`. Returns what the server answered: the object with
  // metadata.deletionTimestamp when finalizers (or a grace period) hold it
  // back, else the last state of the object (or a Success Status).
  virtual StatusOr<Json> Delete(const ResourceRef& ref, const std::string& name,
                                const DeleteOptions& opts) = 0;

  // Deletes every object of the collection matched by `list_opts`'
  // selectors (in ref.ns, or everywhere when ref.ns is empty). Returns the
  // list of what was deleted (or a Success Status).
  virtual StatusOr<Json> DeleteCollection(const ResourceRef& ref,
                                          const ListOptions& list_opts,
                                          const DeleteOptions& opts) = 0;

  // Sends `req` as is. Non-2xx answers are returned as responses, not as
  // errors; only transport failures are errors.
  virtual StatusOr<RawResponse> Do(const RawRequest& req) = 0;
};

}  // namespace kite::client

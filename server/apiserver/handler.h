// Handler: the API server's request path, without the transport.
//
//   Request -> authorization -> discovery | OpenAPI | health | resources
//
// Resource requests are served generically from the kinds registry
// (api/kinds.h): the URL names group, version, resource, namespace, name and
// subresource (request_info.h); the kind's table entry supplies scope,
// defaults, validation, printing and subresources; objects live in the
// datastore (object_store.h). Per-kind server behaviour beyond the table
// (allocation, admission, deletion rules, CRDs) is in strategies.h.
//
// Verbs (docs/apiserver.md has the details and what is left out):
//   get, list (limit/continue at one revision, label/field selectors,
//   resourceVersion/resourceVersionMatch), watch (watch.h), create
//   (generateName, uid, timestamps, managedFields), update (409 on a stale
//   resourceVersion), patch (JSON, merge, strategic merge, server-side
//   apply), delete (preconditions, grace periods, finalizers, propagation
//   policy bookkeeping), deletecollection, dryRun=All, subresources status,
//   scale, namespaces/finalize, pods/binding, pods/eviction. Answers are JSON
//   objects, Tables or PartialObjectMetadata (encoding.h); failures are
//   Status objects (errors.h).
//
// Authentication happens before Serve() (the transport fills
// Request::user); Serve() authorizes with the Authorizer it was given.
//
// Thread safety: Serve() may be called from many threads at once; the
// registry, OpenAPI cache and allocators are thread-safe, and every request
// keeps its state on its own stack. Open watches are tracked so
// CancelWatches() can end them at shutdown.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "api/kinds.h"
#include "api/openapi.h"
#include "api/selectors.h"
#include "api/strategic_merge.h"
#include "common/clock.h"
#include "common/status.h"
#include "datastore/backend.h"
#include "server/apiserver/allocators.h"
#include "server/apiserver/auth.h"
#include "server/apiserver/encoding.h"
#include "server/apiserver/errors.h"
#include "server/apiserver/object_store.h"
#include "server/apiserver/request.h"
#include "server/apiserver/request_info.h"
#include "server/apiserver/strategies.h"
#include "server/apiserver/watch.h"

namespace kite::apiserver {

class ServiceAccountTokens;

struct HandlerConfig {
  ServiceNetworkConfig services;
  // "host:port" clients reach the server at (APIVersions document).
  std::string server_address = "127.0.0.1:6443";
};

class Handler {
 public:
  // Fails for a bad service network configuration.
  static StatusOr<std::unique_ptr<Handler>> Create(
      datastore::Backend& backend, Clock& clock, HandlerConfig config,
      std::unique_ptr<Authorizer> authorizer);
  ~Handler();
  Handler(const Handler&) = delete;
  Handler& operator=(const Handler&) = delete;

  // Loads the state the request path keeps outside the datastore: registers
  // every stored CustomResourceDefinition and repairs the service
  // allocators from the stored Services. Call once before serving.
  Status Init();

  // Serves one authenticated request (Request::user set).
  Response Serve(const Request& req);

  // Ends every open watch (shutdown); their streams report done.
  void CancelWatches();

  // Serve serviceaccounts/token (TokenRequest) with `tokens` (outlives the
  // handler). Without it the subresource answers 405. Call before serving.
  void SetTokenIssuer(ServiceAccountTokens* tokens) { tokens_ = tokens; }
  // Answer TokenReviews with `authenticator` (outlives the handler; the
  // server's bearer-token chain). Without it every token is refused. Call
  // before serving.
  void SetAuthenticator(const Authenticator* authenticator) {
    authenticator_ = authenticator;
  }

  api::Registry& registry() { return registry_; }
  ServiceAllocator& service_allocator() { return *services_; }
  datastore::Backend& backend() { return backend_; }

 private:
  // One resource request on its way through the handlers.
  struct Ctx {
    const Request& req;
    RequestInfo info;
    std::shared_ptr<const api::Kind> kind;
    std::string ns;  // the object's namespace ("" for cluster-scoped kinds)
    bool dry_run = false;
    std::string field_manager;
    api::Time now;
    OutputShape shape = OutputShape::kObject;
    api::IncludeObject include_object = api::IncludeObject::kMetadata;
    // Warning headers for the response ("299 - \"...\"").
    std::vector<std::string> warnings;
  };
  Handler(datastore::Backend& backend, Clock& clock, HandlerConfig config,
          std::unique_ptr<Authorizer> authorizer,
          std::unique_ptr<ServiceAllocator> services);

  Response Dispatch(const Request& req, const RequestInfo& info);
  // Checks Impersonate-* of `req` (the requester needs the impersonate verb
  // on users/groups/serviceaccounts): a refusal to answer with, or nullopt
  // with `*as` set to the identity to act as.
  std::optional<Response> Impersonate(const Request& req, UserInfo* as);
  ApiOr<Response> ServeNonResource(const Request& req, const RequestInfo& info);
  ApiOr<Response> ServeDiscovery(const Request& req, const RequestInfo& info);
  ApiOr<Response> ServeResource(Ctx& ctx);

  // rest_read.cpp
  ApiOr<Response> Get(Ctx& ctx);
  ApiOr<Response> List(Ctx& ctx);
  ApiOr<Response> Watch(Ctx& ctx);
  struct Selection {
    api::LabelSelector labels;
    api::FieldSelector fields;
  };
  ApiOr<Selection> ParseSelection(Ctx& ctx);
  // Appends the JSON text of one listed object (a Table row, say) to `out`.
  using RawRenderer =
      std::function<void(nlohmann::json&& obj, std::string* out)>;
  // Lists objects of ctx.kind in ctx namespace matching `sel`; the list
  // object (kind XList, metadata.resourceVersion/continue, items). With
  // `raw_items` the items are appended there as comma-separated JSON text
  // instead (stored objects spliced without parsing when no selector needs
  // to look inside and no `render` is given; else each object as `render`
  // writes it) and the returned list has no items.
  ApiOr<nlohmann::json> ListObjects(Ctx& ctx, const Selection& sel,
                                    int64_t limit,
                                    const std::string& continue_token,
                                    int64_t* list_revision,
                                    std::string* raw_items = nullptr,
                                    const RawRenderer* render = nullptr);
  Response Shape(Ctx& ctx, int status, nlohmann::json obj, bool is_list);

  // rest_write.cpp
  ApiOr<Response> Create(Ctx& ctx);
  ApiOr<Response> Update(Ctx& ctx);
  ApiOr<Response> Patch(Ctx& ctx);
  // The shared create path for a decoded object; 201 with the stored
  // object (or what would be stored under dryRun).
  // `track_managed_fields` false: the object already carries the
  // managedFields it must have (server-side apply creating it).
  ApiOr<Response> CreateObject(Ctx& ctx, nlohmann::json obj,
                               bool track_managed_fields);
  // One read-modify-write of the object named by ctx: `mutate` gets the
  // stored object and returns the new one (already prepared and validated
  // through FinishUpdate), recording allocations in the Txn. An unchanged
  // object is not written (same resourceVersion); one whose deletion was
  // waiting only for the finalizers just removed goes. Retries on CAS
  // conflicts unless mutate set `*has_precondition`. NotFound when missing.
  using Mutator = std::function<ApiOr<nlohmann::json>(
      const nlohmann::json& current, Txn& txn, bool* has_precondition)>;
  ApiOr<nlohmann::json> UpdateLoop(Ctx& ctx, const Mutator& mutate);
  // Turns a client's new version of the object into what is stored:
  // identity checks, system metadata carried over, defaults, the update
  // strategy (main resource or status subresource), admission, validation,
  // and (when `track_managed_fields`) managedFields.
  ApiOr<nlohmann::json> FinishUpdate(Ctx& ctx, nlohmann::json obj,
                                     const nlohmann::json& current, Txn& txn,
                                     bool track_managed_fields);
  // Checks apiVersion/kind of a body against the kind served at the URL.
  ApiStatus CheckTypeMeta(Ctx& ctx, nlohmann::json& obj,
                          const api::Kind& expect);
  ApiStatus CheckUnknownFields(Ctx& ctx, const api::Kind& kind,
                               nlohmann::json& obj, Response* warnings_to);
  ApiOr<nlohmann::json> ManagedFieldsFor(Ctx& ctx, const nlohmann::json* old,
                                         const nlohmann::json& updated);
  api::PatchMeta PatchMetaFor(const api::Kind& kind);

  // rest_delete.cpp
  ApiOr<Response> Delete(Ctx& ctx);
  ApiOr<Response> DeleteCollection(Ctx& ctx);
  struct DeleteOptions {
    std::optional<int64_t> grace_period;
    std::string propagation;  // "", Background, Foreground, Orphan
    std::string precondition_uid, precondition_rv;
    bool dry_run = false;
  };
  ApiOr<DeleteOptions> ParseDeleteOptions(Ctx& ctx);
  // Deletes (or marks for deletion) ns/name; returns the last state.
  ApiOr<nlohmann::json> DeleteObject(Ctx& ctx, const std::string& ns,
                                     const std::string& name,
                                     const DeleteOptions& opts);
  // Removes a stored object for good (CAS on `revision`) and runs the
  // after-delete strategy.
  Status RemoveObject(const api::Kind& kind, const nlohmann::json& obj,
                      int64_t revision);

  // subresources.cpp
  ApiOr<Response> ServeSubresource(Ctx& ctx);
  ApiOr<Response> Scale(Ctx& ctx);
  ApiOr<Response> Binding(Ctx& ctx, const std::string& pod_name,
                          nlohmann::json binding);
  ApiOr<Response> Eviction(Ctx& ctx);
  ApiOr<Response> Finalize(Ctx& ctx);
  ApiOr<Response> Virtual(Ctx& ctx);
  ApiOr<Response> IssueToken(Ctx& ctx);
  // pods/log, exec, attach, portforward and nodes/proxy: where the
  // request goes on the pod's node (a Response with `kubelet` set).
  ApiOr<Response> KubeletProxy(Ctx& ctx);

  // Namespace lifecycle admission for creates in a namespace.
  ApiStatus CheckNamespaceOpen(Ctx& ctx, const std::string& ns,
                               const std::string& name);

  datastore::Backend& backend_;
  Clock& clock_;
  HandlerConfig config_;
  std::unique_ptr<Authorizer> authorizer_;
  api::Registry registry_;
  api::OpenApiV3 openapi_;
  api::PatchMetaTable patch_meta_;
  ObjectStore store_;
  std::unique_ptr<ServiceAllocator> services_;
  Strategies strategies_;
  ServiceAccountTokens* tokens_ = nullptr;
  const Authenticator* authenticator_ = nullptr;

  std::mutex watches_mu_;
  // Open watches, removed by their streams' close callbacks.
  std::map<const WatchStream*, std::weak_ptr<WatchStream>>
      watches_;                 // guarded by watches_mu_
  bool shutting_down_ = false;  // guarded by watches_mu_
};

}  // namespace kite::apiserver

// FakeClient: an in-memory client::Interface for controller unit tests.
//
// It keeps objects per (group, resource) keyed by namespace/name and behaves
// like the API server where controllers can tell:
// - one resourceVersion counter for every write; metadata.uid,
//   creationTimestamp (from the Clock), generation (1, +1 when anything but
//   metadata and status changes) are set on create; generateName works;
// - Update is a compare-and-swap when metadata.resourceVersion is set
//   (kConflict with Kubernetes' message); an update that changes nothing
//   keeps the resourceVersion; a main-resource update keeps .status, the
//   "status" subresource changes only .status, "scale" only spec.replicas,
//   and for namespaces "finalize" changes only spec.finalizers (a main
//   update keeps them, as in Kubernetes);
// - Delete of an object with metadata.finalizers sets deletionTimestamp
//   (and deletionGracePeriodSeconds 0) and keeps it; an update that leaves
//   such an object without finalizers deletes it. A namespace gets
//   spec.finalizers ["kubernetes"] and status.phase Active on create; its
//   Delete sets deletionTimestamp and phase Terminating while spec or
//   metadata finalizers remain, and removes it otherwise (so, as in
//   Kubernetes, the namespace controller deletes it again after finalize);
// - label and field selectors (api/selectors.h; any dotted field path is
//   accepted) on List, Watch and DeleteCollection; limit/continue paging;
// - watches from "" / "0" (ADDED for what exists, then changes) or from a
//   resourceVersion (history replay); events are filtered by selector, an
//   object that stops matching is DELETED, one that starts is ADDED;
//   watches from before the last Compact() get an ERROR event with a 410
//   Expired Status, as the real server sends;
// - patches: JSON, merge, strategic merge (built-in kinds' merge keys) and
//   server-side apply through the api/ appliers.
// Not modelled: admission, validation beyond names, grace periods, garbage
// collection (every propagation policy deletes as Background does),
// namespaces' existence (they are plain keys). Namespaces do not need to
// exist for objects in them.
//
// Test hooks: an action log, error injection, Compact(), CloseWatches(),
// SendBookmarks(), and a handler for Do().
//
// Thread safety: every method may be called from any thread; one mutex
// guards the store. Watch streams have their own lock and never call back
// into the client.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "client/interface.h"
#include "common/clock.h"
#include "common/status.h"

namespace kite::api {
class PatchMetaTable;
}

namespace kite::client {

class FakeClient : public Interface {
 public:
  // One call as the fake saw it (for assertions).
  struct Action {
    std::string verb;  // get list watch create update patch delete
                       // deletecollection do
    ResourceRef ref;
    std::string name;  // "" for collections
    std::string subresource;
    // For delete/deletecollection: the propagation policy sent.
    PropagationPolicy propagation = PropagationPolicy::kDefault;
  };

  // `clock` stamps creation and deletion times; it must outlive the fake.
  explicit FakeClient(Clock& clock = RealClock());
  ~FakeClient() override;
  FakeClient(const FakeClient&) = delete;
  FakeClient& operator=(const FakeClient&) = delete;

  StatusOr<Json> Get(const ResourceRef& ref, const std::string& name,
                     const GetOptions& opts) override;
  StatusOr<Json> List(const ResourceRef& ref, const ListOptions& opts) override;
  StatusOr<std::unique_ptr<WatchStream>> Watch(
      const ResourceRef& ref, const WatchOptions& opts) override;
  StatusOr<Json> Create(const ResourceRef& ref, const Json& obj,
                        const CreateOptions& opts) override;
  StatusOr<Json> Update(const ResourceRef& ref, const Json& obj,
                        const UpdateOptions& opts) override;
  StatusOr<Json> Patch(const ResourceRef& ref, const std::string& name,
                       PatchType type, const std::string& body,
                       const PatchOptions& opts) override;
  StatusOr<Json> Delete(const ResourceRef& ref, const std::string& name,
                        const DeleteOptions& opts) override;
  StatusOr<Json> DeleteCollection(const ResourceRef& ref,
                                  const ListOptions& list_opts,
                                  const DeleteOptions& opts) override;
  // Answers with the handler set by SetRawHandler, else 404 NotFound.
  StatusOr<RawResponse> Do(const RawRequest& req) override;

  // --- test hooks ---

  // The next `times` calls of `verb` (as in Action::verb; "" = any) on
  // `resource` ("" = any) fail with `status` before doing anything.
  void InjectError(std::string verb, std::string resource, Status status,
                   int times = 1);
  // Drops every injected error not used up yet.
  void ClearInjectedErrors();
  std::vector<Action> Actions() const;
  void ClearActions();
  // The latest resourceVersion handed out.
  int64_t ResourceVersion() const;
  // Forgets the history up to now: watches from an older resourceVersion
  // (and continue tokens issued before) fail with 410 Expired.
  void Compact();
  // Ends every open watch, as a server restart would (Next() returns
  // kUnavailable).
  void CloseWatches();
  // Sends a BOOKMARK with the current resourceVersion to every watch that
  // allowed bookmarks.
  void SendBookmarks();
  // Open (not cancelled, not closed) watches, for leak checks.
  int OpenWatches() const;
  void SetRawHandler(std::function<RawResponse(const RawRequest&)> handler);

 private:
  struct WatchState;
  class Stream;
  struct Collection {
    std::string kind;  // from the first object created with a kind
    std::map<std::pair<std::string, std::string>, Json> objects;  // ns, name
  };
  struct HistoryEvent {
    int64_t rv;
    std::string collection;
    EventType type;
    Json object;
    Json old_object;  // MODIFIED: the previous state (for selector moves)
  };

  static std::string CollectionKey(const ResourceRef& ref);
  Status CheckInjected(const std::string& verb, const ResourceRef& ref);
  void Record(Action action);
  // All *Locked methods need mu_.
  Json* FindLocked(const ResourceRef& ref, const std::string& ns,
                   const std::string& name);
  StatusOr<Json> CreateLocked(const ResourceRef& ref, Json obj,
                              const CreateOptions& opts);
  StatusOr<Json> UpdateLocked(const ResourceRef& ref, const Json& obj,
                              const std::string& subresource, bool dry_run);
  StatusOr<Json> DeleteLocked(const ResourceRef& ref, const std::string& ns,
                              const std::string& name,
                              const DeleteOptions& opts);
  // Stores `obj` at the next resourceVersion, records and broadcasts.
  Json CommitLocked(const std::string& coll, EventType type, Json obj,
                    const Json* old);
  void BroadcastLocked(const HistoryEvent& ev);
  std::string NotFoundMessage(const ResourceRef& ref,
                              const std::string& name) const;

  Clock& clock_;
  mutable std::mutex mu_;
  int64_t rv_ = 1;
  int64_t compacted_rv_ = 0;
  uint64_t uid_counter_ = 0;
  uint64_t name_counter_ = 0;
  std::map<std::string, Collection> collections_;
  std::deque<HistoryEvent> history_;
  std::vector<std::shared_ptr<WatchState>> watches_;
  struct Injected {
    std::string verb;
    std::string resource;
    Status status;
    int times;
  };
  std::vector<Injected> injected_;
  std::vector<Action> actions_;
  std::function<RawResponse(const RawRequest&)> raw_handler_;
  std::unique_ptr<api::PatchMetaTable> patch_meta_;  // built on first use
};

}  // namespace kite::client

// Informer: a local, watch-fed cache of one resource collection, shared by
// the controllers that care about it (client-go's SharedIndexInformer).
//
// Start() runs one thread that lists the collection (in pages), hands every
// object to the registered handlers, then watches from the list's
// resourceVersion (with bookmarks) and applies each event to the cache
// before telling the handlers. When the watch ends (server timeout,
// restart, closed connection) it watches again from the last
// resourceVersion seen; when that is too old (kCompacted, an ERROR event
// with 410) or the watch fails otherwise, it lists again and reconciles the
// cache with the new list: objects that changed are reported as updates,
// vanished ones as deletes. So a handler sees every object's latest state
// eventually, whatever was lost in between (level-triggered).
//
// Handlers run on the informer's thread, one event at a time, in order; they
// must be quick (put a key in a WorkQueue) and may read the cache. An
// optional resync re-delivers every cached object as an update now and then.
//
// SharedInformerFactory hands out one Informer per (collection, selectors),
// so several controllers share a cache and a watch.
//
// Threading: Start()/Stop() from the owner; the cache readers and
// AddEventHandler are safe from any thread. Stop() cancels the watch and
// joins the thread; it is idempotent and runs in the destructor. Waits
// between failed attempts are real time and end at once on Stop(). No
// polling: an idle informer blocks in its watch.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "client/interface.h"
#include "common/clock.h"
#include "common/status.h"

namespace kite::client {

// "namespace/name", or "name" for cluster-scoped objects (client-go's
// MetaNamespaceKeyFunc).
std::string KeyOf(const Json& obj);
// The inverse: {namespace, name} ("" namespace for "name").
std::pair<std::string, std::string> SplitKey(const std::string& key);

// What a handler is told. Any of the three may be empty. Objects are
// borrowed for the duration of the call.
struct EventHandlers {
  std::function<void(const Json& obj)> on_add;
  std::function<void(const Json& old_obj, const Json& new_obj)> on_update;
  // The last state known (after a re-list: the last cached state).
  std::function<void(const Json& obj)> on_delete;
};

struct InformerOptions {
  ResourceRef ref;  // ns empty: every namespace
  std::string label_selector;
  std::string field_selector;
  // Objects per list page (limit/continue); 0: one unpaginated list.
  int64_t list_page_size = 500;
  // Server-side timeout of each watch; the informer then re-watches.
  std::chrono::seconds watch_timeout{300};
  // Re-deliver every cached object as an update this often; 0: never.
  std::chrono::milliseconds resync_period{0};
  // Waits after a failed list or watch: doubling from min to max.
  std::chrono::milliseconds min_backoff{100};
  std::chrono::milliseconds max_backoff{30000};
};

class Informer {
 public:
  // `client` must outlive the informer.
  Informer(Interface& client, InformerOptions options);
  ~Informer();
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  // Registers handlers. After Start(), the new handler first gets on_add for
  // every cached object (on the calling thread), then the live events.
  void AddEventHandler(EventHandlers handlers);

  // Starts the list-and-watch thread. FailedPrecondition when started
  // twice.
  Status Start();
  void Stop();

  // True once the first list has been delivered to the handlers.
  bool HasSynced() const;
  // Blocks until HasSynced() or `timeout` (real time) passes or Stop();
  // returns HasSynced().
  bool WaitForSync(std::chrono::milliseconds timeout) const;

  // Cache reads: snapshots shared with the cache (never modified in place).
  std::shared_ptr<const Json> Get(const std::string& key) const;
  std::shared_ptr<const Json> Get(const std::string& ns,
                                  const std::string& name) const;
  std::vector<std::shared_ptr<const Json>> List() const;
  // The objects of one namespace.
  std::vector<std::shared_ptr<const Json>> ListNamespace(
      const std::string& ns) const;
  std::vector<std::string> ListKeys() const;
  size_t Size() const;
  // The resourceVersion the cache reflects ("" before the first list).
  std::string LastResourceVersion() const;

  // Lists done so far (the first one included), for tests and metrics.
  int ListCount() const { return lists_.load(); }
  const InformerOptions& options() const { return options_; }

 private:
  using ObjectPtr = std::shared_ptr<const Json>;

  void Run();
  // Lists and reconciles the cache; sets the last resourceVersion.
  Status ListAndReplace();
  // Watches until the stream ends. Returns kCompacted when a re-list is
  // needed, kCancelled on Stop(), another error or OK (just re-watch).
  Status WatchOnce();
  void ApplyEvent(const WatchEvent& ev);
  void Resync();
  // Waits `d` unless Stop() comes first; false when stopping.
  bool Sleep(std::chrono::milliseconds d);

  void NotifyAdd(const Json& obj);
  void NotifyUpdate(const Json& old_obj, const Json& new_obj);
  void NotifyDelete(const Json& obj);

  Interface& client_;
  const InformerOptions options_;

  mutable std::shared_mutex cache_mu_;
  std::map<std::string, ObjectPtr> cache_;  // by KeyOf
  std::string last_rv_;                     // guarded by cache_mu_

  std::mutex handlers_mu_;  // held while handlers run
  std::vector<EventHandlers> handlers_;

  mutable std::mutex state_mu_;
  mutable std::condition_variable state_cv_;
  bool started_ = false;
  bool stopping_ = false;
  bool synced_ = false;
  WatchStream* stream_ = nullptr;  // the watch in progress (for Stop)
  std::thread thread_;
  std::atomic<int> lists_{0};
};

// One Informer per (collection, selectors), shared by every controller that
// asks for it.
// Thread safety: For() from any thread; Start()/Stop() from the owner.
class SharedInformerFactory {
 public:
  // `client` must outlive the factory. `defaults` supplies everything but
  // the ref and selectors of the informers made.
  explicit SharedInformerFactory(Interface& client,
                                 InformerOptions defaults = {});
  ~SharedInformerFactory();

  // The informer of `ref` (its ns: one namespace or "" for all) with these
  // selectors; made on first use. After Start(), a new informer starts at
  // once. The reference stays valid until the factory is destroyed.
  Informer& For(const ResourceRef& ref, const std::string& label_selector = "",
                const std::string& field_selector = "");
  // Starts every informer made so far (and any made later).
  Status Start();
  // Stops them all, for good (a stopped factory does not start again);
  // idempotent.
  void Stop();
  // Waits until every informer made so far has synced; false on timeout.
  bool WaitForSync(std::chrono::milliseconds timeout);

 private:
  Interface& client_;
  InformerOptions defaults_;
  std::mutex mu_;
  std::map<std::tuple<ResourceRef, std::string, std::string>,
           std::unique_ptr<Informer>>
      informers_;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace kite::client

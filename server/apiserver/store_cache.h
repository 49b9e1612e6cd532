// StoreCache: keeps in-memory views of datastore prefixes current without
// reading the datastore per request (the RBAC and node authorizers answer
// every request from such views).
//
// For each prefix it lists once (Start, synchronously, so the view is
// complete before the server serves) and then watches from the list's
// revision on a thread of its own. Every object is handed to the Sink as
// parsed JSON (the stored form: no resourceVersion); when a watch breaks
// (compaction, the consumer fell behind) the prefix is listed again after
// Sink::Reset. Sink::Synced follows every batch, so a sink that rebuilds
// derived state can do it once per batch.
//
// Thread safety: the Sink is called from the prefixes' threads (one at a
// time per prefix, concurrently across prefixes): it must lock. Start and
// Stop from one thread; WaitForRevision from any.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "datastore/backend.h"

namespace kite::apiserver {

class StoreCache {
 public:
  class Sink {
   public:
    virtual ~Sink() = default;
    // Forget everything under `prefix` (a full list follows).
    virtual void Reset(const std::string& prefix) = 0;
    virtual void Put(const std::string& key, nlohmann::json object) = 0;
    virtual void Delete(const std::string& key) = 0;
    // A batch of changes of `prefix` ended.
    virtual void Synced(const std::string& prefix) = 0;
  };

  StoreCache(datastore::Backend& backend, std::vector<std::string> prefixes,
             Sink& sink);
  ~StoreCache();
  StoreCache(const StoreCache&) = delete;
  StoreCache& operator=(const StoreCache&) = delete;

  // Lists every prefix, then starts watching. Fails when a list fails.
  Status Start();
  // Ends the watches and joins the threads. Idempotent.
  void Stop();
  // Waits until every prefix has seen all writes up to `revision`; false on
  // timeout.
  bool WaitForRevision(int64_t revision, std::chrono::milliseconds timeout);

 private:
  struct Prefix {
    std::string prefix;
    int64_t revision = 0;                         // guarded by mu_
    std::shared_ptr<datastore::Watcher> watcher;  // guarded by mu_
    // The watch Start() opened right after the first list (only the
    // thread's first round uses it).
    std::shared_ptr<datastore::Watcher> first_watch;
    std::thread thread;
  };
  // Lists `p` into the sink; its revision on success.
  StatusOr<int64_t> List(Prefix& p);
  void Run(Prefix* p);
  void Advance(Prefix& p, int64_t revision);

  datastore::Backend& backend_;
  Sink& sink_;
  std::vector<std::unique_ptr<Prefix>> prefixes_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
};

}  // namespace kite::apiserver

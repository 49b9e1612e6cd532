// BenchStore: the few operations the datastore benchmark drives, each done
// the way kube-apiserver does it against its store, so kite's SQLite backend
// (in-process, through datastore::Backend) and etcd (over its native gRPC
// API, through rpc::etcd::Client) run the same workload:
// - Create: create-if-absent (etcd: Txn{mod_revision(key)==0 -> put});
// - Update: compare-and-swap on mod_revision (etcd: Txn{mod_revision(key)==R
//   -> put, else range});
// - List: one page of a prefix at a revision, with a limit and a continue key
//   (etcd: Range from last key + "\0" to the prefix end);
// - watchers: N watches of one prefix, each event handed to a callback on
//   receipt.
//
// Thread safety: Create/Update/List may be called from many threads at once;
// StartWatchers/StopWatchers from one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace kite::bench {

struct ListPage {
  int64_t count = 0;     // keys in this page
  int64_t revision = 0;  // the revision the page was read at
  std::string last_key;
  bool more = false;
};

class BenchStore {
 public:
  // Called by a watcher's thread for every event it receives: watcher index
  // in [0, n) and the event's key.
  using EventCallback = std::function<void(int watcher, std::string_view key)>;

  virtual ~BenchStore() = default;
  virtual std::string name() const = 0;
  // Returns the new revision (the key's mod_revision).
  virtual StatusOr<int64_t> Create(const std::string& key,
                                   const std::string& value) = 0;
  virtual StatusOr<int64_t> Update(const std::string& key,
                                   const std::string& value,
                                   int64_t expected_mod_revision) = 0;
  // Lists keys under `prefix` after `start_after` (empty: from the start) at
  // `revision` (0: current), at most `limit` (0: all).
  virtual StatusOr<ListPage> List(const std::string& prefix, int64_t revision,
                                  int64_t limit,
                                  const std::string& start_after) = 0;
  // Starts `n` watches of `prefix` from now on; returns once all of them are
  // established (the server acknowledged them).
  virtual Status StartWatchers(const std::string& prefix, int n,
                               EventCallback on_event) = 0;
  // Ends the watches and joins their threads.
  virtual void StopWatchers() = 0;
  // How the watches were laid out (for the report).
  virtual std::string WatchLayout() const = 0;
};

// kite's backend, opened with datastore::Open(endpoint) and its default
// options, except the WAL checkpoint threshold when
// `wal_checkpoint_pages` > 0 (for experiments only).
StatusOr<std::unique_ptr<BenchStore>> OpenKiteStore(
    const std::string& endpoint, int wal_checkpoint_pages = 0);
// etcd at `target` ("127.0.0.1:2379").
StatusOr<std::unique_ptr<BenchStore>> OpenEtcdStore(const std::string& target);

}  // namespace kite::bench

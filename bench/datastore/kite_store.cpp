// The benchmark's view of kite's own datastore: datastore::Backend called
// in-process, as kite's API server calls it. Each watcher gets its own thread
// blocked in Watcher::Next, as the API server serves each watch request.
#include <atomic>
#include <thread>
#include <vector>

#include "bench_store.h"
#include "datastore/backend.h"
#include "datastore/open.h"

namespace kite::bench {
namespace {

class KiteStore : public BenchStore {
 public:
  KiteStore(std::string endpoint, std::unique_ptr<datastore::Backend> backend)
      : endpoint_(std::move(endpoint)), backend_(std::move(backend)) {}
  ~KiteStore() override { StopWatchers(); }

  std::string name() const override { return "kite"; }

  StatusOr<int64_t> Create(const std::string& key,
                           const std::string& value) override {
    return backend_->Create(key, value);
  }
  StatusOr<int64_t> Update(const std::string& key, const std::string& value,
                           int64_t expected) override {
    return backend_->Update(key, value, expected);
  }
  StatusOr<ListPage> List(const std::string& prefix, int64_t revision,
                          int64_t limit,
                          const std::string& start_after) override {
    datastore::ListOptions o;
    o.revision = revision;
    o.limit = limit;
    o.start_after = start_after;
    KITE_ASSIGN_OR_RETURN(datastore::ListResult r, backend_->List(prefix, o));
    ListPage page;
    page.count = static_cast<int64_t>(r.kvs.size());
    page.revision = r.revision;
    page.more = r.more;
    if (!r.kvs.empty()) page.last_key = r.kvs.back().key;
    return page;
  }

  Status StartWatchers(const std::string& prefix, int n,
                       EventCallback on_event) override {
    stop_ = false;
    std::vector<std::shared_ptr<datastore::Watcher>> watchers;
    for (int i = 0; i < n; ++i) {
      KITE_ASSIGN_OR_RETURN(std::shared_ptr<datastore::Watcher> w,
                            backend_->Watch(prefix));
      watchers.push_back(std::move(w));
    }
    watchers_ = watchers;
    for (int i = 0; i < n; ++i) {
      threads_.emplace_back([this, i, w = watchers[i], on_event] {
        while (!stop_.load()) {
          StatusOr<datastore::WatchBatch> b =
              w->Next(std::chrono::milliseconds(200));
          if (!b.ok()) return;
          for (const datastore::Event& e : b->events) on_event(i, e.kv.key);
        }
      });
    }
    return Status::Ok();
  }

  void StopWatchers() override {
    stop_ = true;
    for (auto& w : watchers_) w->Cancel();
    for (auto& t : threads_) t.join();
    threads_.clear();
    watchers_.clear();
  }

  std::string WatchLayout() const override {
    return "one datastore::Watcher per watcher, each read by its own thread";
  }

 private:
  std::string endpoint_;
  std::unique_ptr<datastore::Backend> backend_;
  std::atomic<bool> stop_{false};
  std::vector<std::shared_ptr<datastore::Watcher>> watchers_;
  std::vector<std::thread> threads_;
};

}  // namespace

StatusOr<std::unique_ptr<BenchStore>> OpenKiteStore(const std::string& endpoint,
                                                    int wal_checkpoint_pages) {
  datastore::Options options;
  if (wal_checkpoint_pages > 0)
    options.sqlite_wal_checkpoint_pages = wal_checkpoint_pages;
  KITE_ASSIGN_OR_RETURN(std::unique_ptr<datastore::Backend> b,
                        datastore::Open(endpoint, options));
  return std::unique_ptr<BenchStore>(
      std::make_unique<KiteStore>(endpoint, std::move(b)));
}

}  // namespace kite::bench

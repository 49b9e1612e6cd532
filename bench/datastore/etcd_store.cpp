// The benchmark's view of etcd: its native gRPC API through kite's own
// minimal client (rpc/etcd_client.h), never the JSON gateway.
//
// Layout, chosen to resemble kube-apiserver's etcd client:
// - writes and lists of every client thread share one gRPC connection
//   (kube-apiserver multiplexes all requests of a resource on one);
// - watches: kWatchConnections connections, each with one Watch stream that
//   carries its share of the watches (etcd's clientv3 puts every watch with
//   the same context metadata on one stream), each stream read by one thread.
#include <atomic>
#include <thread>
#include <vector>

#include "bench_store.h"
#include "rpc/etcd_client.h"
#include "rpc/grpc_client.h"

namespace kite::bench {
namespace {

using namespace std::chrono_literals;

constexpr int kWatchConnections = 10;

class EtcdStore : public BenchStore {
 public:
  explicit EtcdStore(std::string target)
      : target_(std::move(target)),
        channel_(Options()),
        client_(channel_, 60s) {}
  ~EtcdStore() override { StopWatchers(); }

  Status Connect() {
    // etcd may still be starting: retry a little.
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (true) {
      StatusOr<rpc::etcd::RangeResponse> r = client_.Range({.key = "/"});
      if (r.ok()) return Status::Ok();
      if (std::chrono::steady_clock::now() > deadline) return r.status();
      std::this_thread::sleep_for(100ms);
    }
  }

  std::string name() const override { return "etcd"; }

  StatusOr<int64_t> Create(const std::string& key,
                           const std::string& value) override {
    return client_.Create(key, value);
  }
  StatusOr<int64_t> Update(const std::string& key, const std::string& value,
                           int64_t expected) override {
    return client_.Update(key, value, expected);
  }
  StatusOr<ListPage> List(const std::string& prefix, int64_t revision,
                          int64_t limit,
                          const std::string& start_after) override {
    rpc::etcd::RangeRequest req;
    // kube-apiserver continues a list from the last key + "\0".
    req.key = start_after.empty() ? prefix : start_after + std::string(1, '\0');
    req.range_end = rpc::etcd::PrefixEnd(prefix);
    req.limit = limit;
    req.revision = revision;
    KITE_ASSIGN_OR_RETURN(rpc::etcd::RangeResponse r, client_.Range(req));
    ListPage page;
    page.count = static_cast<int64_t>(r.kvs.size());
    page.revision = r.header.revision;
    page.more = r.more;
    if (!r.kvs.empty()) page.last_key = r.kvs.back().key;
    return page;
  }

  Status StartWatchers(const std::string& prefix, int n,
                       EventCallback on_event) override {
    stop_ = false;
    int per_stream = (n + kWatchConnections - 1) / kWatchConnections;
    created_ = 0;
    failed_ = 0;
    for (int s = 0; s < kWatchConnections && s * per_stream < n; ++s) {
      int first = s * per_stream;
      int count = std::min(per_stream, n - first);
      watch_channels_.push_back(std::make_unique<rpc::GrpcChannel>(Options()));
      rpc::etcd::Client c(*watch_channels_.back());
      KITE_ASSIGN_OR_RETURN(std::unique_ptr<rpc::etcd::WatchStream> ws,
                            c.Watch());
      for (int i = 0; i < count; ++i) {
        KITE_RETURN_IF_ERROR(
            ws->Create({.key = prefix,
                        .range_end = rpc::etcd::PrefixEnd(prefix),
                        .watch_id = i + 1}));
      }
      rpc::etcd::WatchStream* raw = ws.get();
      streams_.push_back(std::move(ws));
      threads_.emplace_back([this, raw, first, count, on_event] {
        while (!stop_.load()) {
          auto r = raw->Next(200ms);
          if (!r.ok()) {
            if (!stop_.load()) failed_++;
            return;
          }
          if (!r->has_value()) continue;
          const rpc::etcd::WatchResponse& resp = **r;
          int64_t idx = resp.watch_id - 1;
          if (idx < 0 || idx >= count) continue;
          if (resp.created) created_++;
          for (const rpc::etcd::Event& e : resp.events)
            on_event(first + static_cast<int>(idx), e.kv.key);
        }
      });
    }
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (created_.load() < n) {
      if (failed_.load() > 0)
        return UnavailableError(
            "etcd watch stream failed while creating watches");
      if (std::chrono::steady_clock::now() > deadline) {
        return DeadlineExceededError("only " + std::to_string(created_.load()) +
                                     " of " + std::to_string(n) +
                                     " etcd watches were created");
      }
      std::this_thread::sleep_for(5ms);
    }
    return Status::Ok();
  }

  void StopWatchers() override {
    stop_ = true;
    for (auto& t : threads_) t.join();
    threads_.clear();
    for (auto& s : streams_) s->Close();
    streams_.clear();
    watch_channels_.clear();
  }

  std::string WatchLayout() const override {
    return std::to_string(kWatchConnections) +
           " gRPC connections, one Watch stream each carrying 1/" +
           std::to_string(kWatchConnections) +
           " of the watches, each stream read by one thread";
  }

 private:
  rpc::ChannelOptions Options() const {
    rpc::ChannelOptions o;
    o.target = target_;
    return o;
  }

  std::string target_;
  rpc::GrpcChannel channel_;
  rpc::etcd::Client client_;
  std::atomic<bool> stop_{false};
  std::atomic<int> created_{0};  // watches the server acknowledged
  std::atomic<int> failed_{0};   // watch streams that ended with an error
  std::vector<std::unique_ptr<rpc::GrpcChannel>> watch_channels_;
  std::vector<std::unique_ptr<rpc::etcd::WatchStream>> streams_;
  std::vector<std::thread> threads_;
};

}  // namespace

StatusOr<std::unique_ptr<BenchStore>> OpenEtcdStore(const std::string& target) {
  auto store = std::make_unique<EtcdStore>(target);
  KITE_RETURN_IF_ERROR(store->Connect());
  return std::unique_ptr<BenchStore>(std::move(store));
}

}  // namespace kite::bench

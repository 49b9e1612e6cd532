#include "server/apiserver/store_cache.h"

#include "common/log.h"

namespace kite::apiserver {

using nlohmann::json;

StoreCache::StoreCache(datastore::Backend& backend,
                       std::vector<std::string> prefixes, Sink& sink)
    : backend_(backend), sink_(sink) {
  for (std::string& p : prefixes) {
    auto entry = std::make_unique<Prefix>();
    entry->prefix = std::move(p);
    prefixes_.push_back(std::move(entry));
  }
}

StoreCache::~StoreCache() { Stop(); }

StatusOr<int64_t> StoreCache::List(Prefix& p) {
  sink_.Reset(p.prefix);
  datastore::ListOptions opts;
  opts.limit = 500;
  int64_t revision = 0;
  while (true) {
    KITE_ASSIGN_OR_RETURN(datastore::ListResult page,
                          backend_.List(p.prefix, opts));
    revision = page.revision;
    for (datastore::KeyValue& kv : page.kvs) {
      json obj = json::parse(kv.value, nullptr, /*allow_exceptions=*/false);
      if (!obj.is_discarded()) sink_.Put(kv.key, std::move(obj));
    }
    if (!page.more || page.kvs.empty()) break;
    opts.revision = page.revision;
    opts.start_after = page.kvs.back().key;
  }
  sink_.Synced(p.prefix);
  return revision;
}

Status StoreCache::Start() {
  for (auto& p : prefixes_) {
    KITE_ASSIGN_OR_RETURN(int64_t revision, List(*p));
    Advance(*p, revision);
    // Watch at once, not later on the thread: an empty store lists at
    // revision 0, and a watch after 0 starts from whatever is current when
    // it opens, so writes made before the thread got there were lost.
    KITE_ASSIGN_OR_RETURN(p->first_watch, backend_.Watch(p->prefix, revision));
  }
  for (auto& p : prefixes_)
    p->thread = std::thread([this, raw = p.get()] { Run(raw); });
  return Status::Ok();
}

void StoreCache::Advance(Prefix& p, int64_t revision) {
  std::lock_guard<std::mutex> lock(mu_);
  if (revision > p.revision) p.revision = revision;
  cv_.notify_all();
}

void StoreCache::Run(Prefix* p) {
  while (true) {
    int64_t from;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      from = p->revision;
    }
    StatusOr<std::shared_ptr<datastore::Watcher>> watcher =
        p->first_watch ? std::move(p->first_watch)
                       : backend_.Watch(p->prefix, from);
    p->first_watch.reset();
    if (!watcher.ok()) {
      log::Warn("apiserver", "cache watch failed; listing again")(
          "prefix", p->prefix)("reason", watcher.status().message());
      auto revision = List(*p);
      if (revision.ok()) {
        Advance(*p, *revision);
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      p->watcher = *watcher;
    }
    while (true) {
      auto batch = (*watcher)->Next(std::chrono::milliseconds(500));
      if (!batch.ok()) break;
      for (datastore::Event& ev : batch->events) {
        if (ev.type == datastore::EventType::kDelete) {
          sink_.Delete(ev.kv.key);
          continue;
        }
        json obj = json::parse(ev.kv.value, nullptr, false);
        if (!obj.is_discarded()) sink_.Put(ev.kv.key, std::move(obj));
      }
      if (!batch->events.empty()) sink_.Synced(p->prefix);
      Advance(*p, batch->revision);
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      p->watcher.reset();
      if (stopping_) return;
    }
    // The watch ended under us (compaction, overflow): start over from a
    // fresh list.
    auto revision = List(*p);
    if (revision.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      p->revision = *revision;
      cv_.notify_all();
    }
  }
}

void StoreCache::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    for (auto& p : prefixes_) {
      if (p->watcher) p->watcher->Cancel();
    }
    cv_.notify_all();
  }
  for (auto& p : prefixes_) {
    if (p->thread.joinable()) p->thread.join();
  }
}

bool StoreCache::WaitForRevision(int64_t revision,
                                 std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] {
    if (stopping_) return true;
    for (auto& p : prefixes_) {
      if (p->revision < revision) return false;
    }
    return true;
  });
}

}  // namespace kite::apiserver

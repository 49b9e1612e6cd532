#include "client/informer.h"

#include <algorithm>
#include <utility>

#include "api/object.h"
#include "client/wire.h"
#include "common/log.h"

namespace kite::client {
namespace {

using std::chrono::milliseconds;

std::string ResourceVersionOf(const Json& obj) {
  return api::GetString(obj, {"metadata", "resourceVersion"});
}

std::string Describe(const InformerOptions& o) {
  std::string s = o.ref.GroupResource();
  if (!o.ref.ns.empty()) s += " in " + o.ref.ns;
  if (!o.label_selector.empty()) s += " labels " + o.label_selector;
  if (!o.field_selector.empty()) s += " fields " + o.field_selector;
  return s;
}

}  // namespace

std::string KeyOf(const Json& obj) {
  std::string ns = api::Namespace(obj);
  std::string name = api::Name(obj);
  return ns.empty() ? name : ns + "/" + name;
}

std::pair<std::string, std::string> SplitKey(const std::string& key) {
  size_t slash = key.find('/');
  if (slash == std::string::npos) return {"", key};
  return {key.substr(0, slash), key.substr(slash + 1)};
}

Informer::Informer(Interface& client, InformerOptions options)
    : client_(client), options_(std::move(options)) {}

Informer::~Informer() { Stop(); }

void Informer::AddEventHandler(EventHandlers handlers) {
  std::lock_guard<std::mutex> hl(handlers_mu_);
  bool started;
  {
    std::lock_guard<std::mutex> l(state_mu_);
    started = started_;
  }
  if (started && handlers.on_add) {
    for (const ObjectPtr& obj : List()) handlers.on_add(*obj);
  }
  handlers_.push_back(std::move(handlers));
}

Status Informer::Start() {
  std::lock_guard<std::mutex> l(state_mu_);
  if (started_) return FailedPreconditionError("informer already started");
  started_ = true;
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void Informer::Stop() {
  {
    std::lock_guard<std::mutex> l(state_mu_);
    stopping_ = true;
    if (stream_ != nullptr) stream_->Cancel();
    state_cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

bool Informer::HasSynced() const {
  std::lock_guard<std::mutex> l(state_mu_);
  return synced_;
}

bool Informer::WaitForSync(milliseconds timeout) const {
  std::unique_lock<std::mutex> l(state_mu_);
  state_cv_.wait_for(l, timeout, [&] { return synced_ || stopping_; });
  return synced_;
}

std::shared_ptr<const Json> Informer::Get(const std::string& key) const {
  std::shared_lock<std::shared_mutex> l(cache_mu_);
  auto it = cache_.find(key);
  return it == cache_.end() ? nullptr : it->second;
}

std::shared_ptr<const Json> Informer::Get(const std::string& ns,
                                          const std::string& name) const {
  return Get(ns.empty() ? name : ns + "/" + name);
}

std::vector<std::shared_ptr<const Json>> Informer::List() const {
  std::shared_lock<std::shared_mutex> l(cache_mu_);
  std::vector<ObjectPtr> out;
  out.reserve(cache_.size());
  for (const auto& [key, obj] : cache_) out.push_back(obj);
  return out;
}

std::vector<std::shared_ptr<const Json>> Informer::ListNamespace(
    const std::string& ns) const {
  std::shared_lock<std::shared_mutex> l(cache_mu_);
  std::vector<ObjectPtr> out;
  std::string prefix = ns + "/";
  for (auto it = cache_.lower_bound(prefix);
       it != cache_.end() && it->first.compare(0, prefix.size(), prefix) == 0;
       ++it) {
    out.push_back(it->second);
  }
  return out;
}

std::vector<std::string> Informer::ListKeys() const {
  std::shared_lock<std::shared_mutex> l(cache_mu_);
  std::vector<std::string> out;
  out.reserve(cache_.size());
  for (const auto& [key, obj] : cache_) out.push_back(key);
  return out;
}

size_t Informer::Size() const {
  std::shared_lock<std::shared_mutex> l(cache_mu_);
  return cache_.size();
}

std::string Informer::LastResourceVersion() const {
  std::shared_lock<std::shared_mutex> l(cache_mu_);
  return last_rv_;
}

bool Informer::Sleep(milliseconds d) {
  std::unique_lock<std::mutex> l(state_mu_);
  state_cv_.wait_for(l, d, [&] { return stopping_; });
  return !stopping_;
}

void Informer::NotifyAdd(const Json& obj) {
  std::lock_guard<std::mutex> l(handlers_mu_);
  for (const EventHandlers& h : handlers_) {
    if (h.on_add) h.on_add(obj);
  }
}

void Informer::NotifyUpdate(const Json& old_obj, const Json& new_obj) {
  std::lock_guard<std::mutex> l(handlers_mu_);
  for (const EventHandlers& h : handlers_) {
    if (h.on_update) h.on_update(old_obj, new_obj);
  }
}

void Informer::NotifyDelete(const Json& obj) {
  std::lock_guard<std::mutex> l(handlers_mu_);
  for (const EventHandlers& h : handlers_) {
    if (h.on_delete) h.on_delete(obj);
  }
}

void Informer::Run() {
  milliseconds backoff = options_.min_backoff;
  bool need_list = true;
  auto stopping = [this] {
    std::lock_guard<std::mutex> l(state_mu_);
    return stopping_;
  };
  auto back_off = [&]() {
    bool go_on = Sleep(backoff);
    backoff = std::min(backoff * 2, options_.max_backoff);
    return go_on;
  };
  while (!stopping()) {
    if (need_list) {
      Status s = ListAndReplace();
      if (!s.ok()) {
        if (stopping()) break;
        log::Warn("informer", "list failed")("resource", Describe(options_))(
            "error", s.ToString());
        if (!back_off()) break;
        continue;
      }
      need_list = false;
      backoff = options_.min_backoff;
    }
    auto started = RealClock().Monotonic();
    Status s = WatchOnce();
    if (stopping()) break;
    if (s.ok()) {
      // The watch ended normally; watch again from where it stopped. A
      // server that ends watches at once gets back-off, not a busy loop.
      if (RealClock().Monotonic() - started < options_.min_backoff) {
        if (!back_off()) break;
      } else {
        backoff = options_.min_backoff;
      }
      continue;
    }
    if (s.code() == Code::kCompacted) {
      log::Info("informer", "watch too old, re-listing")(
          "resource", Describe(options_))("error", s.message());
      need_list = true;
      continue;
    }
    log::Warn("informer", "watch failed, re-listing")(
        "resource", Describe(options_))("error", s.ToString());
    need_list = true;
    if (!back_off()) break;
  }
}

Status Informer::ListAndReplace() {
  ListOptions lo;
  lo.label_selector = options_.label_selector;
  lo.field_selector = options_.field_selector;
  lo.limit = options_.list_page_size;
  std::map<std::string, ObjectPtr> fresh;
  std::string rv;
  while (true) {
    StatusOr<Json> page = client_.List(options_.ref, lo);
    if (!page.ok()) {
      if (page.status().code() == Code::kCompacted &&
          !lo.continue_token.empty()) {
        // The continue token expired mid-way: list everything at once.
        fresh.clear();
        lo.continue_token.clear();
        lo.limit = 0;
        continue;
      }
      return page.status();
    }
    Json& list = *page;
    std::string item_kind = api::GetString(list, {"kind"});
    if (item_kind.size() > 4 &&
        item_kind.compare(item_kind.size() - 4, 4, "List") == 0) {
      item_kind.resize(item_kind.size() - 4);
    } else {
      item_kind.clear();
    }
    std::string api_version = api::GetString(list, {"apiVersion"});
    auto items = list.find("items");
    if (items != list.end() && items->is_array()) {
      for (Json& item : *items) {
        if (!item.is_object()) continue;
        if (!item.contains("kind") && !item_kind.empty())
          item["kind"] = item_kind;
        if (!item.contains("apiVersion") && !api_version.empty()) {
          item["apiVersion"] = api_version;
        }
        std::string key = KeyOf(item);
        fresh[key] = std::make_shared<const Json>(std::move(item));
      }
    }
    rv = api::GetString(list, {"metadata", "resourceVersion"});
    std::string cont = api::GetString(list, {"metadata", "continue"});
    if (cont.empty()) break;
    lo.continue_token = cont;
  }
  lists_.fetch_add(1);

  std::map<std::string, ObjectPtr> old;
  {
    std::unique_lock<std::shared_mutex> l(cache_mu_);
    old.swap(cache_);
    cache_ = fresh;
    last_rv_ = rv;
  }
  for (const auto& [key, obj] : fresh) {
    auto it = old.find(key);
    if (it == old.end()) {
      NotifyAdd(*obj);
    } else if (ResourceVersionOf(*it->second) != ResourceVersionOf(*obj)) {
      NotifyUpdate(*it->second, *obj);
    }
  }
  for (const auto& [key, obj] : old) {
    if (fresh.count(key) == 0) NotifyDelete(*obj);
  }
  {
    std::lock_guard<std::mutex> l(state_mu_);
    synced_ = true;
    state_cv_.notify_all();
  }
  return Status::Ok();
}

Status Informer::WatchOnce() {
  WatchOptions wo;
  wo.resource_version = LastResourceVersion();
  wo.label_selector = options_.label_selector;
  wo.field_selector = options_.field_selector;
  wo.allow_bookmarks = true;
  wo.timeout = options_.watch_timeout;
  StatusOr<std::unique_ptr<WatchStream>> started =
      client_.Watch(options_.ref, wo);
  if (!started.ok()) return started.status();
  std::unique_ptr<WatchStream> stream = std::move(started).value();
  {
    std::lock_guard<std::mutex> l(state_mu_);
    if (stopping_) return CancelledError("informer stopping");
    stream_ = stream.get();
  }
  Status result;
  Clock::MonoTime next_resync =
      RealClock().Monotonic() + options_.resync_period;
  while (true) {
    milliseconds wait = milliseconds::max();
    if (options_.resync_period.count() > 0) {
      auto left = std::chrono::duration_cast<milliseconds>(
          next_resync - RealClock().Monotonic());
      wait = std::max(left, milliseconds(0));
    }
    StatusOr<WatchEvent> ev = stream->Next(wait);
    if (!ev.ok()) {
      Code c = ev.status().code();
      if (c == Code::kDeadlineExceeded) {
        if (options_.resync_period.count() > 0 &&
            RealClock().Monotonic() >= next_resync) {
          Resync();
          next_resync = RealClock().Monotonic() + options_.resync_period;
        }
        continue;
      }
      if (c != Code::kUnavailable) result = ev.status();  // else: it ended
      break;
    }
    if (ev->type == EventType::kError) {
      result = WatchErrorToStatus(ev->object);
      break;
    }
    ApplyEvent(*ev);
  }
  {
    std::lock_guard<std::mutex> l(state_mu_);
    stream_ = nullptr;
  }
  return result;
}

void Informer::ApplyEvent(const WatchEvent& ev) {
  std::string rv = ResourceVersionOf(ev.object);
  if (ev.type == EventType::kBookmark) {
    if (!rv.empty()) {
      std::unique_lock<std::shared_mutex> l(cache_mu_);
      last_rv_ = rv;
    }
    return;
  }
  std::string key = KeyOf(ev.object);
  ObjectPtr old;
  auto obj = std::make_shared<const Json>(ev.object);
  {
    std::unique_lock<std::shared_mutex> l(cache_mu_);
    auto it = cache_.find(key);
    if (it != cache_.end()) old = it->second;
    if (ev.type == EventType::kDeleted) {
      if (it != cache_.end()) cache_.erase(it);
    } else {
      cache_[key] = obj;
    }
    if (!rv.empty()) last_rv_ = rv;
  }
  if (ev.type == EventType::kDeleted) {
    NotifyDelete(*obj);
  } else if (old != nullptr) {
    NotifyUpdate(*old, *obj);
  } else {
    NotifyAdd(*obj);
  }
}

void Informer::Resync() {
  for (const ObjectPtr& obj : List()) NotifyUpdate(*obj, *obj);
}

SharedInformerFactory::SharedInformerFactory(Interface& client,
                                             InformerOptions defaults)
    : client_(client), defaults_(std::move(defaults)) {}

SharedInformerFactory::~SharedInformerFactory() { Stop(); }

Informer& SharedInformerFactory::For(const ResourceRef& ref,
                                     const std::string& label_selector,
                                     const std::string& field_selector) {
  std::lock_guard<std::mutex> l(mu_);
  auto key = std::make_tuple(ref, label_selector, field_selector);
  auto it = informers_.find(key);
  if (it != informers_.end()) return *it->second;
  InformerOptions o = defaults_;
  o.ref = ref;
  o.label_selector = label_selector;
  o.field_selector = field_selector;
  auto inf = std::make_unique<Informer>(client_, std::move(o));
  Informer& ref_out = *inf;
  informers_.emplace(key, std::move(inf));
  if (started_ && !stopped_) {
    ref_out.Start().IgnoreError();  // new, so not started yet
  }
  return ref_out;
}

Status SharedInformerFactory::Start() {
  std::lock_guard<std::mutex> l(mu_);
  if (stopped_) return FailedPreconditionError("informer factory stopped");
  if (started_) return Status::Ok();
  started_ = true;
  for (auto& [key, inf] : informers_) KITE_RETURN_IF_ERROR(inf->Start());
  return Status::Ok();
}

void SharedInformerFactory::Stop() {
  std::vector<Informer*> all;
  {
    std::lock_guard<std::mutex> l(mu_);
    stopped_ = true;  // final: informers made from now on never start
    for (auto& [key, inf] : informers_) all.push_back(inf.get());
  }
  // Outside the lock: a handler still running may call For().
  for (Informer* inf : all) inf->Stop();
}

bool SharedInformerFactory::WaitForSync(milliseconds timeout) {
  std::vector<Informer*> all;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (auto& [key, inf] : informers_) all.push_back(inf.get());
  }
  auto deadline = RealClock().Monotonic() + timeout;
  for (Informer* inf : all) {
    auto left = std::chrono::duration_cast<milliseconds>(
        deadline - RealClock().Monotonic());
    if (!inf->WaitForSync(std::max(left, milliseconds(0)))) return false;
  }
  return true;
}

}  // namespace kite::client

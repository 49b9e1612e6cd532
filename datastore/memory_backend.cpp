#include "datastore/memory_backend.h"

#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "datastore/keys.h"

namespace kite::datastore {

namespace {

struct Version {
  int64_t rev = 0;
  int64_t create_rev = 0;
  std::string value;
  int64_t ttl = 0;
  bool deleted = false;
};

int64_t WallMs(Clock& clock) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             clock.Now().time_since_epoch())
      .count();
}

KeyValue ToKeyValue(const std::string& key, const Version& v) {
  return KeyValue{key, v.value, v.create_rev, v.rev, v.ttl};
}

// The version of `versions` current at `rev`, or null.
const Version* VersionAt(const std::vector<Version>& versions, int64_t rev) {
  auto it =
      std::upper_bound(versions.begin(), versions.end(), rev,
                       [](int64_t r, const Version& v) { return r < v.rev; });
  if (it == versions.begin()) return nullptr;
  return &*(it - 1);
}

}  // namespace

struct MemoryState {
  std::mutex mu;
  int64_t current = 0;
  int64_t compact = 0;
  // Every key with its versions in revision order (tombstones included) since
  // the compaction point; each key keeps its newest version <= compact.
  std::map<std::string, std::vector<Version>, std::less<>> keys;
  // Every event after the compaction point, for watch replay.
  std::map<int64_t, std::shared_ptr<const Event>> log;
  // TTL keys: (expiry in wall milliseconds, key), and each key's expiry.
  std::set<std::pair<int64_t, std::string>> expiry;
  std::map<std::string, int64_t, std::less<>> expires_of;

  const Version* Live(std::string_view key) const {
    auto it = keys.find(key);
    if (it == keys.end() || it->second.empty() || it->second.back().deleted) {
      return nullptr;
    }
    return &it->second.back();
  }
  void ClearExpiry(const std::string& key) {
    auto it = expires_of.find(key);
    if (it == expires_of.end()) return;
    expiry.erase({it->second, key});
    expires_of.erase(it);
  }
  void SetExpiry(const std::string& key, int64_t at_ms) {
    ClearExpiry(key);
    expiry.insert({at_ms, key});
    expires_of[key] = at_ms;
  }
};

std::shared_ptr<MemoryState> MemoryBackend::NewState() {
  return std::make_shared<MemoryState>();
}

MemoryBackend::MemoryBackend() : MemoryBackend(NewState(), Options{}) {}

MemoryBackend::MemoryBackend(const Options& options)
    : MemoryBackend(NewState(), options) {}

MemoryBackend::MemoryBackend(std::shared_ptr<MemoryState> state,
                             const Options& options)
    : options_(options), state_(std::move(state)), tracker_(options_) {
  std::lock_guard<std::mutex> l(state_->mu);
  int64_t history = 0;
  for (const auto& [key, versions] : state_->keys) {
    for (size_t i = 0; i < versions.size(); ++i) {
      const Version& v = versions[i];
      if (i + 1 == versions.size() && !v.deleted) break;  // the live version
      history += HistoryRowBytes(key.size(), v.value.size());
    }
  }
  tracker_.Reset(state_->compact, state_->current, history,
                 options_.clock->Monotonic());
  hub_ = WatchHub::Create(
      {options_.watch_max_queued_events, options_.watch_max_queued_bytes},
      [this](std::string_view prefix, int64_t after, int64_t upto, size_t limit,
             std::vector<Event>* out) {
        return Replay(prefix, after, upto, limit, out);
      },
      state_->current);
  timer_ = std::thread([this] { TimerLoop(); });
}

MemoryBackend::~MemoryBackend() {
  hub_->Close();
  {
    std::lock_guard<std::mutex> l(state_->mu);
    stopping_ = true;
  }
  timer_cv_.notify_all();
  timer_.join();
}

void MemoryBackend::ExpireDueLocked(Events* events, int64_t* history_added) {
  MemoryState& s = *state_;
  if (s.expiry.empty()) return;
  const int64_t now = WallMs(*options_.clock);
  while (!s.expiry.empty() && s.expiry.begin()->first <= now) {
    std::string key = s.expiry.begin()->second;
    if (s.Live(key) == nullptr) {  // cannot happen; keep the set clean anyway
      s.ClearExpiry(key);
      continue;
    }
    DeleteLocked(key, events, history_added);
  }
}

DeleteResult MemoryBackend::DeleteLocked(const std::string& key, Events* events,
                                         int64_t* history_added) {
  MemoryState& s = *state_;
  auto& versions = s.keys.find(key)->second;
  KeyValue prev = ToKeyValue(key, versions.back());
  const int64_t rev = ++s.current;
  versions.push_back(Version{rev, 0, "", 0, true});
  s.ClearExpiry(key);
  *history_added += HistoryRowBytes(key.size(), prev.value.size()) +
                    HistoryRowBytes(key.size(), 0);
  auto ev = std::make_shared<Event>();
  ev->type = EventType::kDelete;
  ev->kv.key = key;
  ev->kv.mod_revision = rev;
  ev->prev_kv = prev;
  events->push_back(std::move(ev));
  return DeleteResult{rev, std::move(prev)};
}

void MemoryBackend::FinishWriteLocked(Events& events, int64_t history_added) {
  MemoryState& s = *state_;
  const Clock::MonoTime now = options_.clock->Monotonic();
  if (!events.empty()) {
    for (const auto& ev : events) s.log.emplace(ev->kv.mod_revision, ev);
    tracker_.OnWrite(s.current, history_added, now);
    hub_->Dispatch(events, s.current);
  }
  const int64_t target = tracker_.Target(now);
  if (target > s.compact) CompactLocked(target);
  if (NextDeadlineLocked() < timer_deadline_) timer_cv_.notify_all();
}

void MemoryBackend::CompactLocked(int64_t revision) {
  MemoryState& s = *state_;
  if (revision <= s.compact) return;
  std::set<std::string> touched;
  for (auto it = s.log.begin(); it != s.log.end() && it->first <= revision;) {
    touched.insert(it->second->kv.key);
    it = s.log.erase(it);
  }
  int64_t removed = 0;
  for (const std::string& key : touched) {
    auto it = s.keys.find(key);
    if (it == s.keys.end()) continue;
    auto& versions = it->second;
    const Version* keep = VersionAt(versions, revision);
    size_t drop =
        keep == nullptr ? 0 : static_cast<size_t>(keep - versions.data());
    if (keep != nullptr && keep->deleted) ++drop;  // a tombstone <= C goes too
    for (size_t i = 0; i < drop; ++i) {
      removed += HistoryRowBytes(key.size(), versions[i].value.size());
    }
    versions.erase(versions.begin(),
                   versions.begin() + static_cast<long>(drop));
    if (versions.empty()) s.keys.erase(it);
  }
  s.compact = revision;
  tracker_.OnCompacted(revision, removed);
}

StatusOr<int64_t> MemoryBackend::Create(std::string_view key,
                                        std::string_view value,
                                        int64_t ttl_seconds) {
  KITE_RETURN_IF_ERROR(ValidateWrite(key, value, ttl_seconds));
  std::lock_guard<std::mutex> l(state_->mu);
  MemoryState& s = *state_;
  Events events;
  int64_t added = 0;
  ExpireDueLocked(&events, &added);
  StatusOr<int64_t> result =
      AlreadyExistsError("key " + std::string(key) + " already exists");
  if (s.Live(key) == nullptr) {
    const int64_t rev = ++s.current;
    std::string k(key);
    s.keys[k].push_back(
        Version{rev, rev, std::string(value), ttl_seconds, false});
    if (ttl_seconds > 0)
      s.SetExpiry(k, WallMs(*options_.clock) + ttl_seconds * 1000);
    auto ev = std::make_shared<Event>();
    ev->kv = KeyValue{k, std::string(value), rev, rev, ttl_seconds};
    events.push_back(std::move(ev));
    result = rev;
  }
  FinishWriteLocked(events, added);
  return result;
}

StatusOr<int64_t> MemoryBackend::Update(std::string_view key,
                                        std::string_view value,
                                        int64_t expected_mod_revision,
                                        int64_t ttl_seconds) {
  KITE_RETURN_IF_ERROR(ValidateWrite(key, value, ttl_seconds));
  std::lock_guard<std::mutex> l(state_->mu);
  MemoryState& s = *state_;
  Events events;
  int64_t added = 0;
  ExpireDueLocked(&events, &added);
  StatusOr<int64_t> result =
      NotFoundError("key " + std::string(key) + " not found");
  if (const Version* live = s.Live(key); live != nullptr) {
    if (live->rev != expected_mod_revision) {
      result = ConflictError("key " + std::string(key) +
                             " was modified at revision " +
                             std::to_string(live->rev) + ", not " +
                             std::to_string(expected_mod_revision));
    } else {
      std::string k(key);
      KeyValue prev = ToKeyValue(k, *live);
      const int64_t rev = ++s.current;
      s.keys[k].push_back(Version{rev, prev.create_revision, std::string(value),
                                  ttl_seconds, false});
      if (ttl_seconds > 0) {
        s.SetExpiry(k, WallMs(*options_.clock) + ttl_seconds * 1000);
      } else {
        s.ClearExpiry(k);
      }
      added += HistoryRowBytes(k.size(), prev.value.size());
      auto ev = std::make_shared<Event>();
      ev->kv = KeyValue{k, std::string(value), prev.create_revision, rev,
                        ttl_seconds};
      ev->prev_kv = std::move(prev);
      events.push_back(std::move(ev));
      result = rev;
    }
  }
  FinishWriteLocked(events, added);
  return result;
}

StatusOr<DeleteResult> MemoryBackend::Delete(std::string_view key,
                                             int64_t expected_mod_revision) {
  KITE_RETURN_IF_ERROR(ValidateKey(key));
  std::lock_guard<std::mutex> l(state_->mu);
  MemoryState& s = *state_;
  Events events;
  int64_t added = 0;
  ExpireDueLocked(&events, &added);
  StatusOr<DeleteResult> result =
      NotFoundError("key " + std::string(key) + " not found");
  if (const Version* live = s.Live(key); live != nullptr) {
    if (expected_mod_revision != 0 && live->rev != expected_mod_revision) {
      result = ConflictError("key " + std::string(key) +
                             " was modified at revision " +
                             std::to_string(live->rev) + ", not " +
                             std::to_string(expected_mod_revision));
    } else {
      result = DeleteLocked(std::string(key), &events, &added);
    }
  }
  FinishWriteLocked(events, added);
  return result;
}

StatusOr<KeyValue> MemoryBackend::Get(std::string_view key, int64_t revision) {
  KITE_RETURN_IF_ERROR(ValidateKey(key));
  std::lock_guard<std::mutex> l(state_->mu);
  MemoryState& s = *state_;
  const int64_t rev = revision == 0 ? s.current : revision;
  if (rev < 0 || rev > s.current) {
    return InvalidArgumentError("revision " + std::to_string(revision) +
                                " is in the future (current " +
                                std::to_string(s.current) + ")");
  }
  if (rev < s.compact) {
    return CompactedError("revision " + std::to_string(rev) +
                          " is compacted (compaction point " +
                          std::to_string(s.compact) + ")");
  }
  auto it = s.keys.find(key);
  const Version* v = it == s.keys.end() ? nullptr : VersionAt(it->second, rev);
  if (v == nullptr || v->deleted) {
    return NotFoundError("key " + std::string(key) + " not found");
  }
  return ToKeyValue(it->first, *v);
}

StatusOr<ListResult> MemoryBackend::List(std::string_view prefix,
                                         const ListOptions& options) {
  std::lock_guard<std::mutex> l(state_->mu);
  MemoryState& s = *state_;
  const int64_t rev = options.revision == 0 ? s.current : options.revision;
  if (rev < 0 || rev > s.current) {
    return InvalidArgumentError("revision " + std::to_string(options.revision) +
                                " is in the future (current " +
                                std::to_string(s.current) + ")");
  }
  if (rev < s.compact) {
    return CompactedError("revision " + std::to_string(rev) +
                          " is compacted (compaction point " +
                          std::to_string(s.compact) + ")");
  }
  ListResult result;
  result.revision = rev;
  auto it = options.start_after.empty() || options.start_after < prefix
                ? s.keys.lower_bound(prefix)
                : s.keys.upper_bound(options.start_after);
  for (; it != s.keys.end(); ++it) {
    if (std::string_view(it->first).substr(0, prefix.size()) != prefix) break;
    const Version* v = VersionAt(it->second, rev);
    if (v == nullptr || v->deleted) continue;
    if (options.limit > 0 &&
        result.kvs.size() == static_cast<size_t>(options.limit)) {
      result.more = true;
      break;
    }
    result.kvs.push_back(ToKeyValue(it->first, *v));
  }
  return result;
}

StatusOr<std::shared_ptr<Watcher>> MemoryBackend::Watch(
    std::string_view prefix, int64_t after_revision) {
  std::lock_guard<std::mutex> l(state_->mu);
  MemoryState& s = *state_;
  if (after_revision < 0 || after_revision > s.current) {
    return InvalidArgumentError(
        "watch revision " + std::to_string(after_revision) +
        " is in the future (current " + std::to_string(s.current) + ")");
  }
  if (after_revision != 0 && after_revision < s.compact) {
    return CompactedError("watch revision " + std::to_string(after_revision) +
                          " is compacted (compaction point " +
                          std::to_string(s.compact) + ")");
  }
  return hub_->Register(prefix, after_revision);
}

Status MemoryBackend::Replay(std::string_view prefix, int64_t after,
                             int64_t upto, size_t limit,
                             std::vector<Event>* out) {
  std::lock_guard<std::mutex> l(state_->mu);
  MemoryState& s = *state_;
  if (after < s.compact) {
    return CompactedError("watch revision " + std::to_string(after) +
                          " is compacted (compaction point " +
                          std::to_string(s.compact) + ")");
  }
  for (auto it = s.log.upper_bound(after);
       it != s.log.end() && it->first <= upto && out->size() < limit; ++it) {
    if (std::string_view(it->second->kv.key).substr(0, prefix.size()) ==
        prefix) {
      out->push_back(*it->second);
    }
  }
  return Status::Ok();
}

int64_t MemoryBackend::CurrentRevision() {
  std::lock_guard<std::mutex> l(state_->mu);
  return state_->current;
}

int64_t MemoryBackend::CompactRevision() {
  std::lock_guard<std::mutex> l(state_->mu);
  return state_->compact;
}

Status MemoryBackend::Compact(int64_t revision) {
  std::lock_guard<std::mutex> l(state_->mu);
  if (revision < 0 || revision > state_->current) {
    return InvalidArgumentError("cannot compact at revision " +
                                std::to_string(revision) + ": current is " +
                                std::to_string(state_->current));
  }
  CompactLocked(revision);
  return Status::Ok();
}

void MemoryBackend::CheckDeadlines() {
  std::lock_guard<std::mutex> l(state_->mu);
  Events events;
  int64_t added = 0;
  ExpireDueLocked(&events, &added);
  FinishWriteLocked(events, added);
}

std::chrono::steady_clock::time_point MemoryBackend::NextDeadlineLocked() {
  auto deadline = std::chrono::steady_clock::time_point::max();
  const auto steady_now = std::chrono::steady_clock::now();
  if (!state_->expiry.empty()) {
    const int64_t wait_ms = std::max<int64_t>(
        0, state_->expiry.begin()->first - WallMs(*options_.clock));
    deadline =
        std::min(deadline, steady_now + std::chrono::milliseconds(wait_ms + 1));
  }
  if (auto d = tracker_.NextDeadline()) {
    auto wait = std::max<Clock::MonoTime::duration>(
        Clock::MonoTime::duration::zero(), *d - options_.clock->Monotonic());
    deadline =
        std::min(deadline, steady_now + wait + std::chrono::milliseconds(1));
  }
  return deadline;
}

void MemoryBackend::TimerLoop() {
  std::unique_lock<std::mutex> lk(state_->mu);
  while (!stopping_) {
    Events events;
    int64_t added = 0;
    ExpireDueLocked(&events, &added);
    FinishWriteLocked(events, added);
    // Sleep until the next TTL expiry or age compaction; a write that brings
    // a deadline closer wakes us (no periodic tick).
    timer_deadline_ = NextDeadlineLocked();
    if (timer_deadline_ == std::chrono::steady_clock::time_point::max()) {
      timer_cv_.wait(lk);
    } else {
      timer_cv_.wait_until(lk, timer_deadline_);
    }
  }
}

}  // namespace kite::datastore

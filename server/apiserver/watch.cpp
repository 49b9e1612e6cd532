#include "server/apiserver/watch.h"

#include <algorithm>

#include "common/log.h"
#include "server/apiserver/errors.h"
#include "server/apiserver/object_store.h"

namespace kite::apiserver {

using nlohmann::json;

namespace {
// Initial events handed out per Next() call, so a huge initial state does not
// become one giant write.
constexpr size_t kMaxEventsPerNext = 500;
}  // namespace

WatchStream::WatchStream(Clock& clock, WatchSpec spec)
    : clock_(clock), spec_(std::move(spec)) {
  auto now = clock_.Monotonic();
  deadline_ = now + spec_.timeout;
  next_bookmark_ = now + kBookmarkInterval;
  revision_ = spec_.after_revision;
  for (json& obj : spec_.initial) pending_.push_back({"ADDED", std::move(obj)});
  spec_.initial.clear();
  if (spec_.initial_events_end) {
    json bm = {{"kind", spec_.kind->kind},
               {"apiVersion", spec_.kind->ApiVersion()},
               {"metadata",
                {{"resourceVersion", std::to_string(spec_.after_revision)},
                 {"annotations", {{"k8s.io/initial-events-end", "true"}}}}}};
    pending_.push_back({"BOOKMARK", std::move(bm)});
  }
}

WatchStream::~WatchStream() {
  if (watcher_) watcher_->Cancel();
  if (on_close_) on_close_();
}

StatusOr<std::shared_ptr<WatchStream>> WatchStream::Open(
    datastore::Backend& backend, Clock& clock, WatchSpec spec) {
  std::string prefix = spec.prefix;
  int64_t after = spec.after_revision;
  std::shared_ptr<WatchStream> stream(new WatchStream(clock, std::move(spec)));
  auto watcher = backend.Watch(prefix, after);
  if (!watcher.ok()) {
    if (watcher.status().code() != Code::kCompacted) return watcher.status();
    ApiError gone =
        Expired("too old resource version: " + std::to_string(after) + " (" +
                std::to_string(backend.CompactRevision()) + ")");
    stream->pending_.clear();
    stream->pending_.push_back({"ERROR", gone.status()});
    stream->done_after_pending_ = true;
    return stream;
  }
  stream->watcher_ = std::move(watcher).value();
  return stream;
}

void WatchStream::Cancel() {
  cancelled_ = true;
  if (watcher_) watcher_->Cancel();
}

bool WatchStream::Matches(const json& obj) const {
  return spec_.labels.MatchesObject(obj) &&
         spec_.fields.Matches(*spec_.kind, obj);
}

void WatchStream::Convert(const datastore::Event& ev,
                          std::vector<WatchEvent>* out) {
  const api::Kind& kind = *spec_.kind;
  if (ev.type == datastore::EventType::kPut) {
    auto cur = ObjectStore::Decode(kind, ev.kv.value, ev.kv.mod_revision);
    if (!cur.ok()) {
      log::Warn("apiserver", "watch skips undecodable object")("key",
                                                               ev.kv.key);
      return;
    }
    bool cur_match = Matches(*cur);
    if (ev.prev_kv.mod_revision == 0) {
      if (cur_match) out->push_back({"ADDED", std::move(cur).value()});
      return;
    }
    auto old = ObjectStore::Decode(kind, ev.prev_kv.value, ev.kv.mod_revision);
    bool old_match = old.ok() && Matches(*old);
    if (cur_match && old_match) {
      out->push_back({"MODIFIED", std::move(cur).value()});
    } else if (cur_match) {
      out->push_back({"ADDED", std::move(cur).value()});
    } else if (old_match) {
      out->push_back({"DELETED", std::move(old).value()});
    }
    return;
  }
  auto old = ObjectStore::Decode(kind, ev.prev_kv.value, ev.kv.mod_revision);
  if (old.ok() && Matches(*old))
    out->push_back({"DELETED", std::move(old).value()});
}

std::vector<WatchEvent> WatchStream::Next(std::chrono::milliseconds max_wait) {
  std::vector<WatchEvent> out;
  if (done_) return out;
  if (cancelled_) {
    done_ = true;
    return out;
  }
  if (!pending_.empty()) {
    while (!pending_.empty() && out.size() < kMaxEventsPerNext) {
      out.push_back(std::move(pending_.front()));
      pending_.pop_front();
    }
    if (pending_.empty() && done_after_pending_) done_ = true;
    return out;
  }
  if (done_after_pending_ || !watcher_) {
    done_ = true;
    return out;
  }
  auto now = clock_.Monotonic();
  if (now >= deadline_) {
    done_ = true;
    return out;
  }
  // In milliseconds: a caller may pass milliseconds::max() ("forever"),
  // which does not fit the clock's nanoseconds.
  using std::chrono::milliseconds;
  auto left = [&](Clock::MonoTime t) {
    return std::max(
        std::chrono::duration_cast<milliseconds>(t - now) + milliseconds(1),
        milliseconds(0));
  };
  milliseconds wait = std::min(max_wait, left(deadline_));
  if (spec_.bookmarks) wait = std::min(wait, left(next_bookmark_));
  auto batch = watcher_->Next(wait);
  if (!batch.ok()) {
    if (batch.status().code() == Code::kResourceExhausted) {
      log::Warn("apiserver", "watch dropped: the client fell too far behind")(
          "resource", spec_.kind->GroupResource());
    }
    done_ = true;
    return out;
  }
  revision_ = std::max(revision_, batch->revision);
  for (const datastore::Event& ev : batch->events) Convert(ev, &out);
  if (spec_.bookmarks && clock_.Monotonic() >= next_bookmark_) {
    next_bookmark_ = clock_.Monotonic() + kBookmarkInterval;
    json bm = {{"kind", spec_.kind->kind},
               {"apiVersion", spec_.kind->ApiVersion()},
               {"metadata", {{"resourceVersion", std::to_string(revision_)}}}};
    out.push_back({"BOOKMARK", std::move(bm)});
  }
  return out;
}

std::string WatchStream::EncodeLine(const WatchEvent& event) {
  json line = {{"type", event.type}};
  if (event.type == "ERROR" || event.type == "BOOKMARK") {
    line["object"] = event.object;
  } else if (spec_.shape == OutputShape::kTable) {
    api::TableOptions opts;
    opts.include_object = spec_.include_object;
    opts.no_headers = sent_table_header_;
    line["object"] =
        api::ObjectTable(*spec_.kind, event.object, clock_.Now(), opts);
    sent_table_header_ = true;
  } else if (spec_.shape == OutputShape::kPartialMetadata) {
    line["object"] = PartialObjectMetadata(event.object);
  } else {
    line["object"] = event.object;
  }
  std::string text = line.dump();
  text += '\n';
  return text;
}

}  // namespace kite::apiserver

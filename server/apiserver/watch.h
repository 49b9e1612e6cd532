// WatchStream: one watch request, from the datastore's changes to
// Kubernetes watch events.
//
// A stream starts either with the current objects as synthetic ADDED events
// (resourceVersion unset or "0", what Kubernetes calls "get state and start
// at most recent") followed by changes after the list's revision, or with
// the changes after a given resourceVersion. Every datastore event is
// decoded and checked against the label and field selectors both before and
// after the change, so an object moving into the selection is ADDED, one
// moving out is DELETED (with its previous state), as the Kubernetes watch
// cache does. With allowWatchBookmarks a BOOKMARK carrying the revision the
// stream is complete up to is sent about every kBookmarkInterval. The stream
// ends at timeoutSeconds, when cancelled, or after an ERROR event (410
// Expired when the resourceVersion was compacted away).
//
// Next() waits on the datastore watcher (no polling); the transport calls it
// in a loop and writes each event as a line (EncodeLine: JSON, or one-row
// Tables when the client asked for Tables).
//
// Thread safety: Next()/EncodeLine() are called by one thread; Cancel() may
// be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/kinds.h"
#include "api/selectors.h"
#include "api/table.h"
#include "common/clock.h"
#include "datastore/backend.h"
#include "server/apiserver/encoding.h"

namespace kite::apiserver {

inline constexpr std::chrono::seconds kBookmarkInterval{60};
// How long a watch lasts when the client gives no timeoutSeconds.
inline constexpr std::chrono::seconds kDefaultWatchTimeout{1800};

struct WatchEvent {
  std::string type;  // ADDED, MODIFIED, DELETED, BOOKMARK, ERROR
  nlohmann::json object;
};

struct WatchSpec {
  std::shared_ptr<const api::Kind> kind;
  std::string prefix;  // datastore key prefix watched
  api::LabelSelector labels;
  api::FieldSelector fields;
  // Synthetic ADDED events sent first (already filtered).
  std::vector<nlohmann::json> initial;
  // Changes with a revision greater than this are sent.
  int64_t after_revision = 0;
  bool bookmarks = false;
  // sendInitialEvents: a BOOKMARK annotated k8s.io/initial-events-end
  // follows the initial events.
  bool initial_events_end = false;
  std::chrono::milliseconds timeout = kDefaultWatchTimeout;
  OutputShape shape = OutputShape::kObject;
  api::IncludeObject include_object = api::IncludeObject::kMetadata;
};

class WatchStream {
 public:
  // Opens the datastore watch. An ERROR event is queued (not a failure)
  // when `after_revision` was compacted away; a revision in the future is
  // an error (the caller answers it).
  static StatusOr<std::shared_ptr<WatchStream>> Open(
      datastore::Backend& backend, Clock& clock, WatchSpec spec);
  ~WatchStream();

  // The next events, waiting at most `max_wait` for some. An empty result
  // with done() false means nothing happened in time.
  std::vector<WatchEvent> Next(std::chrono::milliseconds max_wait);
  bool done() const { return done_; }
  // Ends the stream; a waiting Next() returns at once. Idempotent.
  void Cancel();
  // `f` runs when the stream is destroyed (the handler's bookkeeping).
  void SetOnClose(std::function<void()> f) { on_close_ = std::move(f); }

  // The wire form of `event`: one JSON line ending in '\n'. Table-shaped
  // streams turn objects into one-row Tables (column definitions on the
  // first only).
  std::string EncodeLine(const WatchEvent& event);

 private:
  WatchStream(Clock& clock, WatchSpec spec);
  bool Matches(const nlohmann::json& obj) const;
  void Convert(const datastore::Event& ev, std::vector<WatchEvent>* out);

  Clock& clock_;
  WatchSpec spec_;
  std::shared_ptr<datastore::Watcher> watcher_;
  std::deque<WatchEvent> pending_;
  Clock::MonoTime deadline_;
  Clock::MonoTime next_bookmark_;
  int64_t revision_ = 0;  // complete up to
  std::atomic<bool> cancelled_{false};
  bool done_ = false;
  bool done_after_pending_ = false;  // an ERROR event ends the stream
  bool sent_table_header_ = false;
  std::function<void()> on_close_;
};

}  // namespace kite::apiserver

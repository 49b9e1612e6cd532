// datastore::Backend: the revisioned key-value store with watch that the API
// server keeps every object in. It has etcd's MVCC semantics (DESIGN.md §4):
//
// - One global revision, raised by one for every successful write (create,
//   update, delete, TTL expiry). Each live key has a create_revision and a
//   mod_revision. The revision never goes backwards, not even across a restart.
// - Create fails with AlreadyExists if the key is live. Update and Delete are
//   compare-and-swap on mod_revision and fail with Conflict when it differs
//   (NotFound when the key is not live).
// - Get and List read at a consistent revision: the current one (revision 0)
//   or a past one still inside the retained history. List takes a limit and a
//   start key, so a client can page through one revision with continue tokens.
// - Watch(prefix, after) delivers every change of a key under `prefix` with a
//   revision greater than `after`, exactly once, in revision order, with no
//   gaps. Reading or watching at a revision older than the compaction point
//   answers Compacted (the API server turns it into 410 Gone).
// - A key written with a TTL is deleted (a normal delete event) once the TTL
//   has passed. Compaction of old history runs by itself.
//
// A write is acknowledged (its call returns OK) only after it is durable,
// where the backend promises durability (the SQLite backend does; the
// in-memory fake does not).
//
// Thread safety: every method may be called concurrently from any thread.
// Watchers are shared between the caller and the backend's dispatcher; the
// caller holds a shared_ptr and may Cancel() from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace kite::datastore {

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  // Seconds the key lives after its last write; 0 means forever.
  int64_t ttl_seconds = 0;

  bool operator==(const KeyValue&) const = default;
};

enum class EventType { kPut, kDelete };

struct Event {
  EventType type = EventType::kPut;
  // kPut: the key as written (a create when kv.create_revision ==
  // kv.mod_revision). kDelete: key and mod_revision (the revision of the
  // delete) only; the deleted value is in prev_kv.
  KeyValue kv;
  // The key as it was just before this event; empty (mod_revision 0) for a
  // create. Always present for updates and deletes.
  KeyValue prev_kv;

  bool operator==(const Event&) const = default;
};

struct ListOptions {
  // Read at this revision; 0 reads at the current revision.
  int64_t revision = 0;
  // Return at most this many keys; 0 means no limit.
  int64_t limit = 0;
  // Return only keys strictly greater than this one (a continue token's key);
  // empty starts at the prefix.
  std::string start_after;
};

struct ListResult {
  // Live keys under the prefix at `revision`, in key order.
  std::vector<KeyValue> kvs;
  // The revision the list was read at; pass it back with start_after set to
  // the last key to read the next page of the same revision.
  int64_t revision = 0;
  // True when the limit cut the list short.
  bool more = false;
};

struct DeleteResult {
  int64_t revision = 0;  // the revision of the delete
  KeyValue prev_kv;      // the key as it was before the delete
};

// A batch of watch events, and how far the watcher is complete.
struct WatchBatch {
  std::vector<Event> events;
  // Every event of the prefix up to and including this revision has been
  // delivered (in this or an earlier batch): a bookmark position.
  int64_t revision = 0;
};

class Watcher {
 public:
  virtual ~Watcher() = default;
  // Waits up to `timeout` for events. Returns the next batch, which may hold
  // no events when the timeout passed (its revision still says how far the
  // watcher is complete). Fails with Cancelled after Cancel() or when the
  // backend closes, and with ResourceExhausted when the consumer fell so far
  // behind that the backend dropped it; the watcher is finished after any
  // error.
  virtual StatusOr<WatchBatch> Next(std::chrono::milliseconds timeout) = 0;
  // Ends the watch; a blocked Next() returns Cancelled. Idempotent.
  virtual void Cancel() = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;

  // Creates `key`. Returns the new revision. AlreadyExists if the key is live;
  // InvalidArgument for an empty key or negative TTL; ResourceExhausted for a
  // value over kMaxValueBytes.
  virtual StatusOr<int64_t> Create(std::string_view key, std::string_view value,
                                   int64_t ttl_seconds = 0) = 0;

  // Replaces the value of `key` if its mod_revision is `expected_mod_revision`.
  // Returns the new revision. NotFound if the key is not live; Conflict if it
  // was changed since.
  virtual StatusOr<int64_t> Update(std::string_view key, std::string_view value,
                                   int64_t expected_mod_revision,
                                   int64_t ttl_seconds = 0) = 0;

  // Deletes `key` if its mod_revision is `expected_mod_revision` (0: whatever
  // it is). NotFound if the key is not live; Conflict if it was changed since.
  virtual StatusOr<DeleteResult> Delete(std::string_view key,
                                        int64_t expected_mod_revision = 0) = 0;

  // Reads `key` at `revision` (0: current). NotFound if it was not live then;
  // Compacted if `revision` is older than the compaction point;
  // InvalidArgument if it is in the future.
  virtual StatusOr<KeyValue> Get(std::string_view key, int64_t revision = 0) = 0;

  // Lists live keys starting with `prefix` (see ListOptions). Compacted if the
  // revision is older than the compaction point; InvalidArgument if it is in
  // the future.
  virtual StatusOr<ListResult> List(std::string_view prefix,
                                    const ListOptions& options = {}) = 0;

  // Watches changes of keys under `prefix` with revision > `after_revision`
  // (0: from the current revision on). Compacted if `after_revision` is older
  // than the compaction point; InvalidArgument if it is in the future.
  virtual StatusOr<std::shared_ptr<Watcher>> Watch(std::string_view prefix,
                                                   int64_t after_revision = 0) = 0;

  // The revision of the last acknowledged write.
  virtual int64_t CurrentRevision() = 0;
  // Reads and watches must be at or after this revision (the compaction point).
  virtual int64_t CompactRevision() = 0;
  // Drops history older than `revision`, which must not be in the future.
  // Reads at `revision` itself still work. Compacting at or below the current
  // compaction point does nothing.
  virtual Status Compact(int64_t revision) = 0;
};

// The largest value a key may hold (the same limit as etcd's default request).
inline constexpr size_t kMaxValueBytes = 3 * 512 * 1024;

}  // namespace kite::datastore

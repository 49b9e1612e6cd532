// SqliteBackend: the embedded SQLite implementation of datastore::Backend,
// kite server's default store (docs/datastore.md has the full design).
//
// - Schema: `log` holds every version of every key by revision (tombstones
//   included), `kv` maps each live key to the revision of its current version,
//   `meta` holds the compaction revision (and the current one as of the last
//   compaction; otherwise the newest log row is the current revision). Lists
//   at the current revision read `kv` joined to `log`: they cost what the
//   live keys cost.
// - Writes: callers queue requests for ONE writer thread, which applies all
//   pending requests in one transaction (each gets its own revision; CAS is
//   checked there), commits with synchronous=FULL (one fsync for the batch),
//   then acknowledges each caller and queues the events for a dispatcher
//   thread that feeds the watch hub. A write that returned OK survives
//   kill -9 and power loss.
// - Reads: a small pool of read-only connections; each read is one WAL
//   snapshot that also reads meta, so it is consistent at one revision.
// - Watch: woken by the dispatcher, never by polling (see watch_hub.h).
// - TTL expiry, automatic compaction (Options bounds, in small chunks inside
//   the writer's transactions) and WAL checkpoints (a background checkpointer
//   thread; the writer restarts the WAL when it grows past 2x the checkpoint
//   size) run by themselves; with no writes and no deadlines nothing wakes.
// - Exclusive: Open holds an flock on "<path>.lock" for the backend's life.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <memory>
#include <string>

#include "datastore/backend.h"
#include "datastore/options.h"

namespace kite::datastore {

class SqliteBackend : public Backend {
 public:
  // Opens or creates the database at `path` (an absolute file path; parent
  // directories are created with mode 0700). FailedPrecondition when another
  // process (or another backend in this one) has it open, or when the file is
  // not a kite datastore.
  static StatusOr<std::unique_ptr<SqliteBackend>> Open(
      const std::string& path, const Options& options = {});
  // Same, for a caller that already holds the database's lock (a
  // sqlite::FileLock, kept by the caller until the backend is gone): the
  // `kite datastore` admin commands.
  static StatusOr<std::unique_ptr<SqliteBackend>> OpenLocked(
      const std::string& path, const Options& options);

  // Cancels watchers, finishes queued writes, checkpoints and closes.
  ~SqliteBackend() override;

  StatusOr<int64_t> Create(std::string_view key, std::string_view value,
                           int64_t ttl_seconds = 0) override;
  StatusOr<int64_t> Update(std::string_view key, std::string_view value,
                           int64_t expected_mod_revision,
                           int64_t ttl_seconds = 0) override;
  StatusOr<DeleteResult> Delete(std::string_view key,
                                int64_t expected_mod_revision = 0) override;
  StatusOr<KeyValue> Get(std::string_view key, int64_t revision = 0) override;
  StatusOr<ListResult> List(std::string_view prefix,
                            const ListOptions& options = {}) override;
  StatusOr<std::shared_ptr<Watcher>> Watch(std::string_view prefix,
                                           int64_t after_revision = 0) override;
  int64_t CurrentRevision() override;
  int64_t CompactRevision() override;
  Status Compact(int64_t revision) override;

  // Wakes the writer to run TTL expiry and compaction due by the clock now
  // (for tests with a FakeClock; the real clock needs no help).
  void CheckDeadlines();

  // Bytes of history retained (what the size bound counts).
  int64_t HistoryBytes();

  struct Impl;

 private:
  explicit SqliteBackend(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The schema marker of a kite SQLite datastore (PRAGMA application_id).
inline constexpr int32_t kSqliteApplicationId = 0x6b697465;  // "kite"
inline constexpr int64_t kSqliteSchemaVersion = 1;

}  // namespace kite::datastore

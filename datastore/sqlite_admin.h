// Offline and online maintenance of a SQLite datastore file, for the
// `kite datastore snapshot|restore|compact` commands.
//
// - SnapshotSqlite: ONLINE. A consistent copy (SQLite's backup API, inside one
//   read transaction) while a server keeps writing; written to
//   "<out>.tmp", synced, then renamed to `out_path`. The copy is a single
//   self-contained file (rollback-journal mode, no -wal).
// - RestoreSqlite: OFFLINE. Refuses (FailedPrecondition) while the datastore's
//   lock is held, i.e. while a server runs. Validates that the snapshot is an
//   intact kite datastore (integrity_check, schema), then replaces the
//   database (stale -wal/-shm removed first). The restored store continues at
//   max(snapshot revision, revision of the replaced database) and all its
//   history is compacted there, so no revision a client has seen comes back
//   with other content: watchers resuming from older revisions get Compacted
//   (410 Gone) and relist, as with `etcdutl snapshot restore
//   --bump-revision --mark-compacted`.
// - CompactSqlite: OFFLINE. Refuses while locked. Drops all history up to the
//   current revision, VACUUMs and truncates the WAL.
//
// Thread safety: plain functions; each takes the database's lock while it
// changes it.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace kite::datastore {

struct CompactStats {
  int64_t revision = 0;      // everything before it is gone
  int64_t bytes_before = 0;  // database + WAL
  int64_t bytes_after = 0;
};

Status SnapshotSqlite(const std::string& db_path, const std::string& out_path);
Status RestoreSqlite(const std::string& snapshot_path,
                     const std::string& db_path);
Status CompactSqlite(const std::string& db_path, CompactStats* stats = nullptr);

}  // namespace kite::datastore

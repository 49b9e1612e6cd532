// The `kite datastore` operations, resolved against a server Config: which
// datastore the server would use, and what may be done to it from outside.
//
//   Snapshot  online: a consistent copy while the server runs and writes.
//   Restore   refuses while a server holds the datastore (FailedPrecondition).
//   Compact   refuses while a server holds the datastore; the running server
//             compacts by itself. Drops all history and shrinks the file.
//
// Only the SQLite datastore supports these; other endpoints answer
// InvalidArgument. Thread safety: plain functions, no shared state.
#pragma once

#include <string>

#include "common/status.h"
#include "server/server.h"

namespace kite::server {

Status SnapshotDatastore(const Config& config, const std::string& out_file);
Status RestoreDatastore(const Config& config, const std::string& snapshot_file);
Status CompactDatastore(const Config& config);

// The SQLite file behind the config's datastore endpoint.
StatusOr<std::string> SqlitePath(const Config& config);

}  // namespace kite::server

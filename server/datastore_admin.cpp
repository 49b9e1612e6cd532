#include "server/datastore_admin.h"

#include "datastore/sqlite_admin.h"

namespace kite::server {

StatusOr<std::string> SqlitePath(const Config& config) {
  std::string endpoint = DatastoreEndpoint(config);
  const std::string scheme = "sqlite://";
  if (endpoint.rfind(scheme, 0) != 0 || endpoint.size() == scheme.size()) {
    return InvalidArgumentError("kite datastore works on a SQLite datastore (sqlite:///path), not \"" + endpoint + "\"");
  }
  return endpoint.substr(scheme.size());
}

Status SnapshotDatastore(const Config& config, const std::string& out_file) {
  KITE_ASSIGN_OR_RETURN(std::string db, SqlitePath(config));
  return datastore::SnapshotSqlite(db, out_file);
}

Status RestoreDatastore(const Config& config, const std::string& snapshot_file) {
  KITE_ASSIGN_OR_RETURN(std::string db, SqlitePath(config));
  return datastore::RestoreSqlite(snapshot_file, db);
}

Status CompactDatastore(const Config& config) {
  KITE_ASSIGN_OR_RETURN(std::string db, SqlitePath(config));
  return datastore::CompactSqlite(db);
}

}  // namespace kite::server

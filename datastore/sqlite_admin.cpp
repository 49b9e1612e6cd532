#include "datastore/sqlite_admin.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

#include "datastore/sqlite_backend.h"
#include "datastore/sqlite_db.h"

namespace kite::datastore {

namespace {

using sqlite::Db;

bool FileExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

int64_t FileSize(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : 0;
}

int64_t StoreSize(const std::string& db_path) {
  return FileSize(db_path) + FileSize(db_path + "-wal");
}

Status SyncPath(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return InternalError("open " + path + ": " + std::strerror(errno));
  int rc = fsync(fd);
  int err = errno;
  close(fd);
  if (rc != 0)
    return InternalError("fsync " + path + ": " + std::strerror(err));
  return Status::Ok();
}

std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status RemoveIfExists(const std::string& path) {
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return InternalError("remove " + path + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

// Checks that `db` is an intact kite datastore; returns its current revision.
StatusOr<int64_t> CheckKiteDb(Db& db, const std::string& what,
                              bool full_check) {
  auto app_id = db.QueryInt("PRAGMA application_id");
  if (!app_id.ok() || *app_id != kSqliteApplicationId) {
    return FailedPreconditionError(what + " is not a kite datastore");
  }
  auto tables = db.QueryInt(
      "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN "
      "('meta', 'log', 'kv')");
  if (!tables.ok() || *tables != 3) {
    return FailedPreconditionError(what +
                                   " is not a kite datastore (tables missing)");
  }
  auto schema = db.QueryInt("SELECT schema FROM meta WHERE id = 1");
  if (!schema.ok())
    return FailedPreconditionError(what + " has no datastore metadata");
  if (*schema > kSqliteSchemaVersion) {
    return FailedPreconditionError(what + " has datastore schema " +
                                   std::to_string(*schema) +
                                   ", newer than this kite understands");
  }
  if (full_check) {
    auto check = db.QueryText("PRAGMA integrity_check");
    if (!check.ok())
      return FailedPreconditionError(what + ": " + check.status().message());
    if (*check != "ok") {
      return FailedPreconditionError(what +
                                     " is damaged: integrity_check: " + *check);
    }
  }
  auto rev = db.QueryInt(
      "SELECT max(current_rev, coalesce((SELECT max(rev) FROM log), 0)) FROM "
      "meta WHERE id = 1");
  if (!rev.ok())
    return FailedPreconditionError(what + ": " + rev.status().message());
  return *rev;
}

// Copies database `from` into a new file `to` with the backup API, as one
// self-contained file in rollback-journal mode.
Status CopyDb(Db& from, const std::string& to) {
  KITE_RETURN_IF_ERROR(RemoveIfExists(to));
  KITE_RETURN_IF_ERROR(RemoveIfExists(to + "-journal"));
  KITE_RETURN_IF_ERROR(sqlite::CreatePrivateFile(to));
  KITE_ASSIGN_OR_RETURN(
      Db dest, Db::Open(to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE));
  sqlite3_backup* backup =
      sqlite3_backup_init(dest.get(), "main", from.get(), "main");
  if (backup == nullptr)
    return sqlite::Error(dest.get(), sqlite3_errcode(dest.get()), "backup");
  int rc;
  // One step copies every page inside one read transaction of the source: a
  // consistent copy even while another process writes. Retry while busy.
  for (int attempt = 0;; ++attempt) {
    rc = sqlite3_backup_step(backup, -1);
    if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || attempt >= 100) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  int finish = sqlite3_backup_finish(backup);
  if (rc != SQLITE_DONE) return sqlite::Error(nullptr, rc, "backup to " + to);
  if (finish != SQLITE_OK)
    return sqlite::Error(dest.get(), finish, "backup to " + to);
  KITE_ASSIGN_OR_RETURN(std::string mode,
                        dest.QueryText("PRAGMA journal_mode = DELETE"));
  if (mode != "delete")
    return InternalError("cannot take " + to + " out of WAL mode: " + mode);
  dest = Db();
  return SyncPath(to);
}

}  // namespace

Status SnapshotSqlite(const std::string& db_path, const std::string& out_path) {
  if (!FileExists(db_path))
    return NotFoundError("datastore " + db_path + " does not exist");
  KITE_ASSIGN_OR_RETURN(Db src, Db::Open(db_path, SQLITE_OPEN_READWRITE));
  KITE_RETURN_IF_ERROR(
      CheckKiteDb(src, db_path, /*full_check=*/false).status());
  const std::string tmp = out_path + ".tmp";
  Status st = CopyDb(src, tmp);
  if (st.ok()) {
    KITE_ASSIGN_OR_RETURN(Db copy, Db::Open(tmp, SQLITE_OPEN_READONLY));
    st = CheckKiteDb(copy, "snapshot " + tmp, /*full_check=*/true).status();
  }
  if (st.ok() && rename(tmp.c_str(), out_path.c_str()) != 0) {
    st = InternalError("rename " + tmp + " to " + out_path + ": " +
                       std::strerror(errno));
  }
  if (!st.ok()) {
    RemoveIfExists(tmp).IgnoreError();
    return st;
  }
  return SyncPath(DirOf(out_path));
}

Status RestoreSqlite(const std::string& snapshot_path,
                     const std::string& db_path) {
  if (db_path.empty() || db_path[0] != '/') {
    return InvalidArgumentError("the datastore path must be absolute, not \"" +
                                db_path + "\"");
  }
  if (!FileExists(snapshot_path)) {
    return NotFoundError("snapshot " + snapshot_path + " does not exist");
  }
  KITE_RETURN_IF_ERROR(sqlite::MakeParentDirs(db_path));
  auto lock = sqlite::FileLock::Acquire(db_path);
  if (!lock.ok()) {
    return FailedPreconditionError("refusing to restore while a server runs: " +
                                   lock.status().message());
  }
  int64_t snapshot_rev = 0;
  {
    KITE_ASSIGN_OR_RETURN(Db snap,
                          Db::Open(snapshot_path, SQLITE_OPEN_READONLY));
    KITE_ASSIGN_OR_RETURN(
        snapshot_rev,
        CheckKiteDb(snap, "snapshot " + snapshot_path, /*full_check=*/true));
  }
  // The revision of the database being replaced, when it can be read.
  int64_t old_rev = 0;
  if (FileExists(db_path)) {
    auto old = Db::Open(db_path, SQLITE_OPEN_READWRITE);
    if (old.ok()) {
      auto rev = CheckKiteDb(*old, db_path, /*full_check=*/false);
      if (rev.ok()) old_rev = *rev;
    }
  }

  const std::string tmp = db_path + ".restore";
  auto cleanup = [&] {
    RemoveIfExists(tmp).IgnoreError();
    RemoveIfExists(tmp + "-wal").IgnoreError();
    RemoveIfExists(tmp + "-shm").IgnoreError();
    RemoveIfExists(tmp + "-journal").IgnoreError();
  };
  Status st = [&]() -> Status {
    {
      KITE_ASSIGN_OR_RETURN(Db snap,
                            Db::Open(snapshot_path, SQLITE_OPEN_READONLY));
      KITE_RETURN_IF_ERROR(CopyDb(snap, tmp));
    }
    // Drop the snapshot's history, then continue at a revision no client
    // has seen with other content and mark everything before it compacted.
    {
      Options options;
      options.history_max_age = std::chrono::seconds(0);
      options.history_max_bytes = 0;
      KITE_ASSIGN_OR_RETURN(auto backend,
                            SqliteBackend::OpenLocked(tmp, options));
      KITE_RETURN_IF_ERROR(backend->Compact(backend->CurrentRevision()));
    }
    const int64_t rev = std::max(snapshot_rev, old_rev);
    KITE_ASSIGN_OR_RETURN(Db db, Db::Open(tmp, SQLITE_OPEN_READWRITE));
    KITE_RETURN_IF_ERROR(
        db.Exec("UPDATE meta SET current_rev = " + std::to_string(rev) +
                ", compact_rev = " + std::to_string(rev) + " WHERE id = 1"));
    KITE_RETURN_IF_ERROR(db.Exec("PRAGMA wal_checkpoint(TRUNCATE)"));
    db = Db();
    if (FileExists(tmp + "-wal") && FileSize(tmp + "-wal") > 0) {
      return InternalError("restored database " + tmp + " still has a WAL");
    }
    KITE_RETURN_IF_ERROR(SyncPath(tmp));
    // A stale WAL must never be applied to the new file.
    KITE_RETURN_IF_ERROR(RemoveIfExists(db_path + "-wal"));
    KITE_RETURN_IF_ERROR(RemoveIfExists(db_path + "-shm"));
    if (rename(tmp.c_str(), db_path.c_str()) != 0) {
      return InternalError("rename " + tmp + " to " + db_path + ": " +
                           std::strerror(errno));
    }
    return SyncPath(DirOf(db_path));
  }();
  cleanup();
  return st;
}

Status CompactSqlite(const std::string& db_path, CompactStats* stats) {
  if (!FileExists(db_path))
    return NotFoundError("datastore " + db_path + " does not exist");
  auto lock = sqlite::FileLock::Acquire(db_path);
  if (!lock.ok()) {
    return FailedPreconditionError(
        "refusing to compact while a server runs (it compacts by "
        "itself): " +
        lock.status().message());
  }
  CompactStats result;
  result.bytes_before = StoreSize(db_path);
  {
    Options options;
    options.history_max_age = std::chrono::seconds(0);
    options.history_max_bytes = 0;
    KITE_ASSIGN_OR_RETURN(auto backend,
                          SqliteBackend::OpenLocked(db_path, options));
    result.revision = backend->CurrentRevision();
    KITE_RETURN_IF_ERROR(backend->Compact(result.revision));
  }
  {
    KITE_ASSIGN_OR_RETURN(Db db, Db::Open(db_path, SQLITE_OPEN_READWRITE));
    KITE_RETURN_IF_ERROR(db.Exec("VACUUM"));
    KITE_RETURN_IF_ERROR(db.Exec("PRAGMA wal_checkpoint(TRUNCATE)"));
  }
  result.bytes_after = StoreSize(db_path);
  if (stats != nullptr) *stats = result;
  return Status::Ok();
}

}  // namespace kite::datastore

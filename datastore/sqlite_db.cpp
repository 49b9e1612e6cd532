#include "datastore/sqlite_db.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace kite::datastore::sqlite {

Status Error(sqlite3* db, int rc, std::string_view what) {
  std::string msg(what);
  msg += ": ";
  msg += (db != nullptr && sqlite3_errcode(db) == rc) ? sqlite3_errmsg(db)
                                                      : sqlite3_errstr(rc);
  switch (rc & 0xff) {
    case SQLITE_FULL:
      return ResourceExhaustedError(msg);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return UnavailableError(msg);
    default:
      return InternalError(msg);
  }
}

StatusOr<Db> Db::Open(const std::string& path, int flags, int busy_ms) {
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  Db db(raw);
  if (rc != SQLITE_OK) return Error(raw, rc, "open " + path);
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, busy_ms);
  return db;
}

Status Db::Exec(const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err != nullptr ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    Status st = Error(nullptr, rc, sql);
    return Status(st.code(), sql + ": " + msg);
  }
  return Status::Ok();
}

StatusOr<Stmt> Db::Prepare(std::string_view sql) {
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &s, nullptr);
  if (rc != SQLITE_OK) return Error(db_, rc, "prepare " + std::string(sql));
  return Stmt(s);
}

StatusOr<int64_t> Db::QueryInt(const std::string& sql) {
  KITE_ASSIGN_OR_RETURN(Stmt s, Prepare(sql));
  int rc = s.Step();
  if (rc == SQLITE_ROW) return s.ColInt(0);
  if (rc == SQLITE_DONE) return NotFoundError(sql + ": no row");
  return Error(db_, rc, sql);
}

StatusOr<std::string> Db::QueryText(const std::string& sql) {
  KITE_ASSIGN_OR_RETURN(Stmt s, Prepare(sql));
  int rc = s.Step();
  if (rc == SQLITE_ROW) {
    const unsigned char* t = sqlite3_column_text(s.get(), 0);
    return std::string(t == nullptr ? "" : reinterpret_cast<const char*>(t));
  }
  if (rc == SQLITE_DONE) return NotFoundError(sql + ": no row");
  return Error(db_, rc, sql);
}

FileLock::~FileLock() {
  if (fd_ >= 0) close(fd_);  // closing drops the flock
}

FileLock& FileLock::operator=(FileLock&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

StatusOr<FileLock> FileLock::Acquire(const std::string& db_path) {
  const std::string path = db_path + ".lock";
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return FailedPreconditionError("cannot open " + path + ": " +
                                   std::strerror(errno));
  }
  FileLock lock(fd);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return FailedPreconditionError("datastore " + db_path +
                                     " is in use by another process");
    }
    return FailedPreconditionError("cannot lock " + path + ": " +
                                   std::strerror(errno));
  }
  return lock;
}

Status MakeParentDirs(const std::string& path) {
  size_t pos = 0;
  while ((pos = path.find('/', pos + 1)) != std::string::npos) {
    std::string dir = path.substr(0, pos);
    if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return FailedPreconditionError("cannot create directory " + dir + ": " +
                                     std::strerror(errno));
    }
  }
  return Status::Ok();
}

Status CreatePrivateFile(const std::string& path) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return Status::Ok();
    return FailedPreconditionError("cannot create " + path + ": " +
                                   std::strerror(errno));
  }
  close(fd);
  return Status::Ok();
}

}  // namespace kite::datastore::sqlite

// SQLite's optional extensions, left out of kite (DESIGN.md §9 size budget).
// Debian's libsqlite3.a is built from separate objects, and sqlite3_open's
// table of built-in extensions names the init function of each, so a static
// link pulls in FTS3, FTS5, R-Tree, dbstat and sqlite_stmt (about 330 KB of
// the stripped binary) although the datastore uses none of them. These
// definitions come first on the link line (this object is always linked
// before libsqlite3.a), so the linker never takes those archive members;
// opening a database then simply registers no such modules. Weak, so a link
// that does take a member anyway uses SQLite's own definition. The core
// (and the JSON functions) are unchanged. datastore_test checks that
// `USING fts5` is an unknown module.
extern "C" {
#define KITE_SQLITE_NO_EXTENSION(init)          \
  __attribute__((weak)) int init(sqlite3* db) { \
    (void)db;                                   \
    return SQLITE_OK;                           \
  }
KITE_SQLITE_NO_EXTENSION(sqlite3Fts3Init)
KITE_SQLITE_NO_EXTENSION(sqlite3Fts5Init)
KITE_SQLITE_NO_EXTENSION(sqlite3RtreeInit)
KITE_SQLITE_NO_EXTENSION(sqlite3DbstatRegister)
KITE_SQLITE_NO_EXTENSION(sqlite3StmtVtabInit)
#undef KITE_SQLITE_NO_EXTENSION
}

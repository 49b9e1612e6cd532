// Thin RAII wrappers over the SQLite C API for the datastore's own use:
// sqlite::Db (a connection) and sqlite::Stmt (a prepared statement), plus the
// exclusive lock file that guards a database against a second process.
//
// Thread safety: a Db and its Stmts are used by one thread at a time (the
// connections are opened with SQLITE_OPEN_NOMUTEX). FileLock is a value.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace kite::datastore::sqlite {

// A Status for SQLite result code `rc` of `what` on `db`: ResourceExhausted
// when the disk is full, Unavailable when the database is busy, Internal
// otherwise.
Status Error(sqlite3* db, int rc, std::string_view what);

class Stmt {
 public:
  Stmt() = default;
  explicit Stmt(sqlite3_stmt* s) : s_(s) {}
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(Stmt&& o) noexcept : s_(o.s_) { o.s_ = nullptr; }
  Stmt& operator=(Stmt&& o) noexcept {
    if (this != &o) {
      sqlite3_finalize(s_);
      s_ = o.s_;
      o.s_ = nullptr;
    }
    return *this;
  }

  explicit operator bool() const { return s_ != nullptr; }
  sqlite3_stmt* get() const { return s_; }

  void Int(int i, int64_t v) { sqlite3_bind_int64(s_, i, v); }
  // The bytes must stay valid until Reset().
  void Blob(int i, std::string_view v) {
    if (v.empty()) {
      sqlite3_bind_zeroblob(s_, i, 0);
    } else {
      sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()),
                        SQLITE_STATIC);
    }
  }
  void Null(int i) { sqlite3_bind_null(s_, i); }
  int Step() { return sqlite3_step(s_); }
  void Reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }

  int64_t ColInt(int c) const { return sqlite3_column_int64(s_, c); }
  bool ColNull(int c) const {
    return sqlite3_column_type(s_, c) == SQLITE_NULL;
  }
  std::string_view ColBlob(int c) const {
    const void* p = sqlite3_column_blob(s_, c);
    int n = sqlite3_column_bytes(s_, c);
    return p == nullptr ? std::string_view()
                        : std::string_view(static_cast<const char*>(p),
                                           static_cast<size_t>(n));
  }

 private:
  sqlite3_stmt* s_ = nullptr;
};

// Resets a statement when it goes out of scope.
class StmtScope {
 public:
  explicit StmtScope(Stmt& s) : s_(s) {}
  ~StmtScope() { s_.Reset(); }
  StmtScope(const StmtScope&) = delete;
  StmtScope& operator=(const StmtScope&) = delete;

 private:
  Stmt& s_;
};

class Db {
 public:
  Db() = default;
  ~Db() { sqlite3_close_v2(db_); }
  Db(Db&& o) noexcept : db_(o.db_) { o.db_ = nullptr; }
  Db& operator=(Db&& o) noexcept {
    if (this != &o) {
      sqlite3_close_v2(db_);
      db_ = o.db_;
      o.db_ = nullptr;
    }
    return *this;
  }

  // Opens `path` with SQLITE_OPEN_* `flags` (NOMUTEX is added) and a busy
  // timeout of `busy_ms`.
  static StatusOr<Db> Open(const std::string& path, int flags,
                           int busy_ms = 5000);

  sqlite3* get() const { return db_; }
  Status Exec(const std::string& sql);
  StatusOr<Stmt> Prepare(std::string_view sql);
  // Runs a query that yields one integer (a PRAGMA, a count).
  StatusOr<int64_t> QueryInt(const std::string& sql);
  StatusOr<std::string> QueryText(const std::string& sql);

 private:
  explicit Db(sqlite3* db) : db_(db) {}
  sqlite3* db_ = nullptr;
};

// An exclusive flock on "<db path>.lock", held while the object lives.
class FileLock {
 public:
  FileLock() = default;
  ~FileLock();
  FileLock(FileLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  FileLock& operator=(FileLock&& o) noexcept;

  // FailedPrecondition "datastore <path> is in use by another process" when
  // someone holds it.
  static StatusOr<FileLock> Acquire(const std::string& db_path);

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// Creates the parent directories of `path` (mode 0700) when missing.
Status MakeParentDirs(const std::string& path);

// Creates `path` empty with mode 0600 when it does not exist, so the database
// and the -wal/-shm files SQLite derives from it are private (they hold
// Secrets).
Status CreatePrivateFile(const std::string& path);

}  // namespace kite::datastore::sqlite

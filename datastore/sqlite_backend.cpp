#include "datastore/sqlite_backend.h"

#include <linux/futex.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "common/log.h"
#include "datastore/history.h"
#include "datastore/keys.h"
#include "datastore/sqlite_db.h"
#include "datastore/watch_hub.h"

namespace kite::datastore {

using sqlite::Db;
using sqlite::Stmt;
using sqlite::StmtScope;

namespace {

constexpr int64_t kNoExpiry = std::numeric_limits<int64_t>::max();
// Revisions compacted per writer transaction: small enough not to stall
// writers (a few ms), large enough to outrun any write rate.
constexpr int64_t kCompactChunkRevs = 1000;
// Keys expired per writer transaction.
constexpr int kExpireChunk = 256;
// Pages released per incremental vacuum step.
constexpr int kVacuumChunkPages = 1024;
// The writer itself restarts the WAL once it holds this many times the
// checkpoint size (the background checkpoints cannot finish while writes keep
// coming), and the WAL file is truncated back to that size when it restarts.
constexpr int kWalRestartFactor = 2;

const char* const kSchema[] = {
    "CREATE TABLE IF NOT EXISTS meta("
    " id INTEGER PRIMARY KEY CHECK (id = 1),"
    " schema INTEGER NOT NULL,"
    " current_rev INTEGER NOT NULL,"
    " compact_rev INTEGER NOT NULL)",
    // Every version of every key, by revision. A tombstone (deleted = 1) has
    // an empty value; prev_rev points at the version it replaced (0 for a
    // create), which is where a DELETE event's value comes from.
    "CREATE TABLE IF NOT EXISTS log("
    " rev INTEGER PRIMARY KEY,"
    " key BLOB NOT NULL,"
    " create_rev INTEGER NOT NULL,"
    " prev_rev INTEGER NOT NULL,"
    " deleted INTEGER NOT NULL,"
    " ttl INTEGER NOT NULL,"
    " value BLOB NOT NULL)",
    // Live keys only: key -> revision of the current version in log.
    "CREATE TABLE IF NOT EXISTS kv("
    " key BLOB PRIMARY KEY,"
    " rev INTEGER NOT NULL,"
    " expires INTEGER) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS kv_expires ON kv(expires) WHERE expires IS NOT "
    "NULL",
    // The size of the retained history, saved at a clean close with the
    // revisions it belongs to, so the next open need not scan the log. Any
    // change to the history moves rev (new log rows) or compact_rev (rows
    // removed), so a row that does not match both is stale and ignored.
    "CREATE TABLE IF NOT EXISTS saved_history("
    " id INTEGER PRIMARY KEY CHECK (id = 1),"
    " rev INTEGER NOT NULL,"
    " compact_rev INTEGER NOT NULL,"
    " bytes INTEGER NOT NULL)",
};

// Statements of the read connections.
enum ReadStmt {
  kRBegin,
  kRCommit,
  kRRollback,
  kRMeta,
  kRGetCur,
  kRGetRev,
  kRFirstAfter,
  kRListCur,
  kRListCurAll,
  kRListPast,
  kRListPastAll,
  kRReplay,
  kRReplayAll,
  kNumReadStmts
};

const char* const kReadSql[kNumReadStmts] = {
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    // The current revision is the newest log row, or meta's when
    // compaction removed that row (a tombstone): see kWUpdMeta.
    "SELECT max(current_rev, coalesce((SELECT max(rev) FROM log), 0)), "
    "compact_rev"
    " FROM meta WHERE id = 1",
    // kRGetCur
    "SELECT l.rev, l.create_rev, l.prev_rev, l.ttl, l.value"
    " FROM kv CROSS JOIN log l ON l.rev = kv.rev WHERE kv.key = ?1",
    // kRGetRev
    "SELECT rev, create_rev, prev_rev, ttl, value, deleted FROM log WHERE rev "
    "= ?1",
    // kRFirstAfter: the oldest change of a key after a revision.
    "SELECT prev_rev FROM log WHERE rev > ?1 AND key = ?2 ORDER BY rev LIMIT 1",
    // kRListCur / kRListCurAll: the live keys of a range.
    "SELECT kv.key, l.rev, l.create_rev, l.ttl, l.value"
    " FROM kv CROSS JOIN log l ON l.rev = kv.rev"
    " WHERE kv.key >= ?1 AND kv.key < ?2 ORDER BY kv.key LIMIT ?3",
    "SELECT kv.key, l.rev, l.create_rev, l.ttl, l.value"
    " FROM kv CROSS JOIN log l ON l.rev = kv.rev"
    " WHERE kv.key >= ?1 ORDER BY kv.key LIMIT ?3",
    // kRListPast / kRListPastAll: at revision ?4, a key is either unchanged
    // since (kv.rev <= ?4), or its oldest change after ?4 points (prev_rev)
    // at the version it had then. A merge of the two, in key order.
    "WITH ch(key, prev_rev, first_rev) AS ("
    "  SELECT key, prev_rev, min(rev) FROM log"
    "  WHERE rev > ?4 AND key >= ?1 AND key < ?2 GROUP BY key)"
    " SELECT kv.key, l.rev, l.create_rev, l.ttl, l.value"
    " FROM kv CROSS JOIN log l ON l.rev = kv.rev"
    " WHERE kv.key >= ?1 AND kv.key < ?2 AND kv.rev <= ?4"
    " UNION ALL"
    " SELECT ch.key, l.rev, l.create_rev, l.ttl, l.value"
    " FROM ch CROSS JOIN log l ON l.rev = ch.prev_rev WHERE ch.prev_rev > 0"
    " ORDER BY 1 LIMIT ?3",
    "WITH ch(key, prev_rev, first_rev) AS ("
    "  SELECT key, prev_rev, min(rev) FROM log"
    "  WHERE rev > ?4 AND key >= ?1 GROUP BY key)"
    " SELECT kv.key, l.rev, l.create_rev, l.ttl, l.value"
    " FROM kv CROSS JOIN log l ON l.rev = kv.rev"
    " WHERE kv.key >= ?1 AND kv.rev <= ?4"
    " UNION ALL"
    " SELECT ch.key, l.rev, l.create_rev, l.ttl, l.value"
    " FROM ch CROSS JOIN log l ON l.rev = ch.prev_rev WHERE ch.prev_rev > 0"
    " ORDER BY 1 LIMIT ?3",
    // kRReplay / kRReplayAll: events of a range with their previous version.
    "SELECT l.rev, l.key, l.create_rev, l.prev_rev, l.deleted, l.ttl, l.value,"
    " p.create_rev, p.ttl, p.value"
    " FROM log l LEFT JOIN log p ON p.rev = l.prev_rev"
    " WHERE l.rev > ?3 AND l.rev <= ?4 AND l.key >= ?1 AND l.key < ?2"
    " ORDER BY l.rev LIMIT ?5",
    "SELECT l.rev, l.key, l.create_rev, l.prev_rev, l.deleted, l.ttl, l.value,"
    " p.create_rev, p.ttl, p.value"
    " FROM log l LEFT JOIN log p ON p.rev = l.prev_rev"
    " WHERE l.rev > ?3 AND l.rev <= ?4 AND l.key >= ?1"
    " ORDER BY l.rev LIMIT ?5",
};

// Statements of the writer connection.
enum WriteStmt {
  kWBegin,
  kWCommit,
  kWRollback,
  kWSelCur,
  kWInsKv,
  kWUpdKv,
  kWDelKv,
  kWInsLog,
  kWUpdMeta,
  kWSelExpired,
  kWMinExpiry,
  kWSelCompact,
  kWDelLog,
  kWVacuum,
  kNumWriteStmts
};

const char* const kWriteSql[kNumWriteStmts] = {
    "BEGIN IMMEDIATE",
    "COMMIT",
    "ROLLBACK",
    "SELECT l.rev, l.create_rev, l.ttl, l.value"
    " FROM kv CROSS JOIN log l ON l.rev = kv.rev WHERE kv.key = ?1",
    "INSERT INTO kv(key, rev, expires) VALUES(?1, ?2, ?3)",
    "UPDATE kv SET rev = ?2, expires = ?3 WHERE key = ?1",
    "DELETE FROM kv WHERE key = ?1",
    "INSERT INTO log(rev, key, create_rev, prev_rev, deleted, ttl, value)"
    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    "UPDATE meta SET current_rev = ?1, compact_rev = ?2 WHERE id = 1",
    "SELECT key FROM kv WHERE expires IS NOT NULL AND expires <= ?1"
    " ORDER BY expires LIMIT ?2",
    "SELECT min(expires) FROM kv WHERE expires IS NOT NULL",
    "SELECT rev, prev_rev, deleted FROM log WHERE rev > ?1 AND rev <= ?2 ORDER "
    "BY rev",
    "DELETE FROM log WHERE rev = ?1 RETURNING length(key) + length(value) + 32",
    "PRAGMA incremental_vacuum(1024)",
};
static_assert(kVacuumChunkPages == 1024, "keep kWVacuum in step");

int64_t WallMs(Clock& clock) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             clock.Now().time_since_epoch())
      .count();
}

Status FutureError(int64_t revision, int64_t current) {
  return InvalidArgumentError("revision " + std::to_string(revision) +
                              " is in the future (current " +
                              std::to_string(current) + ")");
}

Status CompactedRevError(int64_t revision, int64_t compact) {
  return CompactedError("revision " + std::to_string(revision) +
                        " is compacted (compaction point " +
                        std::to_string(compact) + ")");
}

struct Reader {
  Db db;
  std::array<Stmt, kNumReadStmts> stmts;

  StatusOr<Stmt*> Get(ReadStmt id) {
    Stmt& s = stmts[id];
    if (!s) {
      KITE_ASSIGN_OR_RETURN(s, db.Prepare(kReadSql[id]));
    }
    return &s;
  }
};

// Steps a statement that returns no rows.
Status StepDone(Db& db, Stmt& s, std::string_view what) {
  int rc = s.Step();
  s.Reset();
  if (rc != SQLITE_DONE) return sqlite::Error(db.get(), rc, what);
  return Status::Ok();
}

}  // namespace

// Raises the calling thread's CPU priority by `steps` nice levels when the
// process may (root, or CAP_SYS_NICE); otherwise leaves it. The writer and
// the dispatcher do little work but everything waits for them: with 1,000
// watch consumers woken at once on a small machine, they must not queue
// behind them.
void RaiseThreadPriority(int steps) {
  const id_t tid = static_cast<id_t>(syscall(SYS_gettid));
  errno = 0;
  const int nice = getpriority(PRIO_PROCESS, tid);
  if (errno != 0) return;
  setpriority(PRIO_PROCESS, tid, std::max(nice - steps, -20));
}

// A one-shot wake-up for a caller blocked on its write: a bare futex, so a
// waiting caller sleeps in the kernel at once instead of spinning and
// yielding (std::binary_semaphore does), which matters with 64 callers on 2
// cores.
class Notification {
 public:
  void Notify() {
    state_.store(1, std::memory_order_release);
    // The waiter may already be gone (it saw state_ = 1): waking an address
    // nobody waits on is harmless.
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&state_), FUTEX_WAKE_PRIVATE,
            1, nullptr, nullptr, 0);
  }
  void Wait() {
    while (state_.load(std::memory_order_acquire) == 0) {
      syscall(SYS_futex, reinterpret_cast<uint32_t*>(&state_),
              FUTEX_WAIT_PRIVATE, 0, nullptr, nullptr, 0);
    }
  }

 private:
  std::atomic<uint32_t> state_{0};
};
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));

// A write request, on the stack of the calling thread until acknowledged.
struct WriteOp {
  enum Kind : uint8_t { kCreate, kUpdate, kDelete, kCompact };
  Kind kind = kCreate;
  std::string_view key;
  std::string_view value;
  int64_t expected = 0;  // mod revision for CAS; the target for kCompact
  int64_t ttl = 0;
  // Results, valid after `done`.
  Status status;
  int64_t revision = 0;
  KeyValue prev;
  Notification done;
};

struct SqliteBackend::Impl {
  Impl(std::string path, const Options& options, sqlite::FileLock lock)
      : path_(std::move(path)),
        options_(options),
        lock_(std::move(lock)),
        tracker_(options_) {}

  Status Init();
  void Start();
  void Stop();

  // --- callers
  Status Submit(WriteOp& op);

  // --- readers
  StatusOr<std::unique_ptr<Reader>> AcquireReader();
  void ReleaseReader(std::unique_ptr<Reader> r, bool healthy);
  // Runs fn(reader, current_rev, compact_rev) inside one read transaction.
  template <typename Fn>
  Status Read(Fn&& fn);
  Status ReplayEvents(std::string_view prefix, int64_t after, int64_t upto,
                      size_t limit, std::vector<Event>* out);

  // --- writer thread
  void WriterLoop();
  void RunBatch(std::vector<WriteOp*>& batch);
  Status ApplyBatch(std::vector<WriteOp*>& ops, int64_t* history_added,
                    int64_t* history_removed);
  Status DoCreate(WriteOp& op, int64_t now_ms);
  Status DoUpdate(WriteOp& op, int64_t now_ms, int64_t* history_added);
  // Deletes `key` (CAS on `expected` unless 0); a logical failure goes to
  // *result, an SQL error is returned.
  Status DoDelete(std::string_view key, int64_t expected, Status* result,
                  int64_t* revision, KeyValue* prev, int64_t* history_added);
  Status ExpireDue(int64_t now_ms, int64_t* history_added);
  Status CompactChunk(int64_t target, int64_t* history_removed);
  Status VacuumStep();
  bool BackgroundDue();
  std::chrono::steady_clock::time_point NextDeadline();
  void AfterCommit();

  // --- checkpointer thread
  void CheckpointLoop();
  static int WalHook(void* arg, sqlite3* db, const char* name, int frames);

  const std::string path_;
  const Options options_;
  sqlite::FileLock lock_;

  // Writer state: only the writer thread (and Init/Stop) touch these.
  Db wdb_;
  std::array<Stmt, kNumWriteStmts> w_;
  int64_t rev_ = 0;        // current revision as of the last commit
  int64_t compacted_ = 0;  // compaction point as of the last commit
  int64_t next_expiry_ms_ = kNoExpiry;
  HistoryTracker tracker_;
  int64_t explicit_target_ = 0;
  std::vector<WriteOp*> compact_waiters_;
  bool vacuum_pending_ = false;
  bool incremental_vacuum_ = false;
  // After a failed transaction, background work waits until then (real
  // time: a FakeClock must not stall it forever).
  std::chrono::steady_clock::time_point backoff_until_{};
  std::vector<std::shared_ptr<const Event>> events_;
  std::vector<std::array<int64_t, 3>> compact_rows_;
  std::vector<std::string> expired_keys_;

  // The queue of write requests.
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::vector<WriteOp*> queue_;
  bool stopping_ = false;
  bool writer_idle_ = false;
  std::thread writer_;

  // The checkpointer.
  Db cdb_;
  std::mutex ckpt_mu_;
  std::condition_variable ckpt_cv_;
  bool ckpt_requested_ = false;
  bool ckpt_stop_ = false;
  std::thread checkpointer_;

  // The dispatcher: hands committed events to the watch hub on a thread of
  // its own, so a fan-out to many watchers never delays the next commit.
  void DispatchLoop();
  void QueueDispatch();
  std::mutex dispatch_mu_;
  std::condition_variable dispatch_cv_;    // work for the dispatcher
  std::condition_variable dispatch_room_;  // room for the writer
  std::vector<std::shared_ptr<const Event>> dispatch_events_;
  int64_t dispatch_rev_ = 0;
  bool dispatch_stop_ = false;
  std::thread dispatcher_;
  std::atomic<int> wal_frames_{0};

  // Read connections.
  std::mutex readers_mu_;
  std::condition_variable readers_cv_;
  std::vector<std::unique_ptr<Reader>> idle_readers_;
  int open_readers_ = 0;

  std::atomic<int64_t> current_rev_{0};
  std::atomic<int64_t> compact_rev_{0};
  std::atomic<int64_t> history_bytes_{0};
  std::shared_ptr<WatchHub> hub_;
};

// ---------------------------------------------------------------- opening

Status SqliteBackend::Impl::Init() {
  KITE_ASSIGN_OR_RETURN(
      wdb_, Db::Open(path_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE));
  KITE_ASSIGN_OR_RETURN(int64_t tables,
                        wdb_.QueryInt("SELECT count(*) FROM sqlite_master"));
  KITE_ASSIGN_OR_RETURN(int64_t app_id, wdb_.QueryInt("PRAGMA application_id"));
  if (tables > 0 && app_id != kSqliteApplicationId) {
    return FailedPreconditionError(path_ + " is not a kite datastore");
  }
  if (tables == 0) {
    // Only possible before the first table: lets compaction give pages back.
    KITE_RETURN_IF_ERROR(wdb_.Exec("PRAGMA auto_vacuum = INCREMENTAL"));
  }
  KITE_ASSIGN_OR_RETURN(std::string mode,
                        wdb_.QueryText("PRAGMA journal_mode = WAL"));
  if (mode != "wal") {
    return FailedPreconditionError("cannot put " + path_ +
                                   " in WAL mode (got " + mode + ")");
  }
  KITE_RETURN_IF_ERROR(wdb_.Exec(
      "PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY;"
      " PRAGMA cache_size = -4096; PRAGMA journal_size_limit = " +
      std::to_string(int64_t{kWalRestartFactor} *
                     std::max(options_.sqlite_wal_checkpoint_pages, 1) *
                     4096)));
  KITE_RETURN_IF_ERROR(wdb_.Exec("BEGIN IMMEDIATE"));
  Status st;
  for (const char* sql : kSchema) {
    st = wdb_.Exec(sql);
    if (!st.ok()) break;
  }
  if (st.ok()) {
    st = wdb_.Exec("INSERT OR IGNORE INTO meta VALUES(1, " +
                   std::to_string(kSqliteSchemaVersion) + ", 0, 0)");
  }
  if (st.ok() && app_id != kSqliteApplicationId) {
    st = wdb_.Exec("PRAGMA application_id = " +
                   std::to_string(kSqliteApplicationId));
  }
  if (!st.ok()) {
    wdb_.Exec("ROLLBACK").IgnoreError();
    return st;
  }
  KITE_RETURN_IF_ERROR(wdb_.Exec("COMMIT"));

  KITE_ASSIGN_OR_RETURN(int64_t schema,
                        wdb_.QueryInt("SELECT schema FROM meta WHERE id = 1"));
  if (schema > kSqliteSchemaVersion) {
    return FailedPreconditionError(path_ + " has datastore schema " +
                                   std::to_string(schema) +
                                   ", newer than this kite understands (" +
                                   std::to_string(kSqliteSchemaVersion) + ")");
  }
  KITE_ASSIGN_OR_RETURN(
      rev_, wdb_.QueryInt("SELECT current_rev FROM meta WHERE id = 1"));
  KITE_ASSIGN_OR_RETURN(
      compacted_, wdb_.QueryInt("SELECT compact_rev FROM meta WHERE id = 1"));
  KITE_ASSIGN_OR_RETURN(int64_t max_rev,
                        wdb_.QueryInt("SELECT coalesce(max(rev), 0) FROM log"));
  rev_ = std::max(rev_, max_rev);
  // The history's size: saved by the last clean close, else one scan of the
  // log (after a crash; this costs about a second per 100k history rows).
  KITE_ASSIGN_OR_RETURN(
      int64_t history,
      wdb_.QueryInt("SELECT coalesce((SELECT bytes FROM saved_history"
                    " WHERE id = 1 AND rev = " +
                    std::to_string(rev_) + " AND compact_rev = " +
                    std::to_string(compacted_) + "), -1)"));
  if (history < 0) {
    KITE_ASSIGN_OR_RETURN(
        history,
        wdb_.QueryInt("SELECT coalesce(sum(length(key) + length(value) + 32),"
                      " 0) FROM log WHERE rev NOT IN (SELECT rev FROM kv)"));
  }
  KITE_ASSIGN_OR_RETURN(int64_t auto_vacuum,
                        wdb_.QueryInt("PRAGMA auto_vacuum"));
  incremental_vacuum_ = auto_vacuum == 2;

  for (int i = 0; i < kNumWriteStmts; ++i) {
    KITE_ASSIGN_OR_RETURN(w_[i], wdb_.Prepare(kWriteSql[i]));
  }
  {
    Stmt& s = w_[kWMinExpiry];
    StmtScope scope(s);
    if (s.Step() == SQLITE_ROW && !s.ColNull(0)) next_expiry_ms_ = s.ColInt(0);
  }
  sqlite3_wal_hook(wdb_.get(), &Impl::WalHook, this);

  KITE_ASSIGN_OR_RETURN(cdb_, Db::Open(path_, SQLITE_OPEN_READWRITE));

  current_rev_ = rev_;
  compact_rev_ = compacted_;
  history_bytes_ = history;
  tracker_.Reset(compacted_, rev_, history, options_.clock->Monotonic());
  hub_ = WatchHub::Create(
      {options_.watch_max_queued_events, options_.watch_max_queued_bytes},
      [this](std::string_view prefix, int64_t after, int64_t upto, size_t limit,
             std::vector<Event>* out) {
        return ReplayEvents(prefix, after, upto, limit, out);
      },
      rev_);
  return Status::Ok();
}

void SqliteBackend::Impl::Start() {
  writer_ = std::thread([this] { WriterLoop(); });
  checkpointer_ = std::thread([this] { CheckpointLoop(); });
  dispatcher_ = std::thread([this] { DispatchLoop(); });
}

void SqliteBackend::Impl::Stop() {
  const bool was_running = writer_.joinable();
  if (hub_) hub_->Close();
  if (writer_.joinable()) {
    {
      std::lock_guard<std::mutex> l(queue_mu_);
      stopping_ = true;
    }
    queue_cv_.notify_all();
    writer_.join();
  }
  if (dispatcher_.joinable()) {
    {
      std::lock_guard<std::mutex> l(dispatch_mu_);
      dispatch_stop_ = true;
    }
    dispatch_cv_.notify_all();
    dispatcher_.join();
  }
  if (checkpointer_.joinable()) {
    {
      std::lock_guard<std::mutex> l(ckpt_mu_);
      ckpt_stop_ = true;
    }
    ckpt_cv_.notify_all();
    checkpointer_.join();
  }
  {
    std::lock_guard<std::mutex> l(readers_mu_);
    idle_readers_.clear();
  }
  cdb_ = Db();
  for (Stmt& s : w_) s = Stmt();
  if (wdb_.get() != nullptr) {
    // The writer has stopped: its history figure is final. Saving it spares
    // the next open a scan of the log; failing to is harmless (it scans).
    if (was_running) {
      wdb_.Exec("INSERT OR REPLACE INTO saved_history VALUES(1, " +
                std::to_string(rev_) + ", " + std::to_string(compacted_) +
                ", " + std::to_string(tracker_.history_bytes()) + ")")
          .IgnoreError();
    }
    // Fold the WAL into the database so the file stands alone.
    sqlite3_wal_checkpoint_v2(wdb_.get(), nullptr, SQLITE_CHECKPOINT_TRUNCATE,
                              nullptr, nullptr);
  }
  wdb_ = Db();
}

StatusOr<std::unique_ptr<SqliteBackend>> SqliteBackend::Open(
    const std::string& path, const Options& options) {
  if (path.empty() || path[0] != '/') {
    return InvalidArgumentError(
        "the SQLite datastore needs an absolute path, not \"" + path + "\"");
  }
  KITE_RETURN_IF_ERROR(sqlite::MakeParentDirs(path));
  KITE_ASSIGN_OR_RETURN(sqlite::FileLock lock, sqlite::FileLock::Acquire(path));
  KITE_RETURN_IF_ERROR(sqlite::CreatePrivateFile(path));
  KITE_ASSIGN_OR_RETURN(auto backend, OpenLocked(path, options));
  backend->impl_->lock_ = std::move(lock);
  return backend;
}

StatusOr<std::unique_ptr<SqliteBackend>> SqliteBackend::OpenLocked(
    const std::string& path, const Options& options) {
  auto impl = std::make_unique<Impl>(path, options, sqlite::FileLock());
  Status st = impl->Init();
  if (!st.ok()) {
    impl->Stop();
    return st;
  }
  impl->Start();
  return std::unique_ptr<SqliteBackend>(new SqliteBackend(std::move(impl)));
}

SqliteBackend::SqliteBackend(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

SqliteBackend::~SqliteBackend() { impl_->Stop(); }

// ---------------------------------------------------------------- writes

Status SqliteBackend::Impl::Submit(WriteOp& op) {
  bool wake;
  {
    std::lock_guard<std::mutex> l(queue_mu_);
    if (stopping_)
      return UnavailableError("datastore " + path_ + " is closing");
    queue_.push_back(&op);
    wake = writer_idle_;
  }
  if (wake) queue_cv_.notify_one();
  op.done.Wait();
  return Status::Ok();
}

StatusOr<int64_t> SqliteBackend::Create(std::string_view key,
                                        std::string_view value,
                                        int64_t ttl_seconds) {
  KITE_RETURN_IF_ERROR(ValidateWrite(key, value, ttl_seconds));
  WriteOp op;
  op.kind = WriteOp::kCreate;
  op.key = key;
  op.value = value;
  op.ttl = ttl_seconds;
  KITE_RETURN_IF_ERROR(impl_->Submit(op));
  if (!op.status.ok()) return op.status;
  return op.revision;
}

StatusOr<int64_t> SqliteBackend::Update(std::string_view key,
                                        std::string_view value,
                                        int64_t expected_mod_revision,
                                        int64_t ttl_seconds) {
  KITE_RETURN_IF_ERROR(ValidateWrite(key, value, ttl_seconds));
  WriteOp op;
  op.kind = WriteOp::kUpdate;
  op.key = key;
  op.value = value;
  op.expected = expected_mod_revision;
  op.ttl = ttl_seconds;
  KITE_RETURN_IF_ERROR(impl_->Submit(op));
  if (!op.status.ok()) return op.status;
  return op.revision;
}

StatusOr<DeleteResult> SqliteBackend::Delete(std::string_view key,
                                             int64_t expected_mod_revision) {
  KITE_RETURN_IF_ERROR(ValidateKey(key));
  WriteOp op;
  op.kind = WriteOp::kDelete;
  op.key = key;
  op.expected = expected_mod_revision;
  KITE_RETURN_IF_ERROR(impl_->Submit(op));
  if (!op.status.ok()) return op.status;
  return DeleteResult{op.revision, std::move(op.prev)};
}

Status SqliteBackend::Compact(int64_t revision) {
  if (revision < 0) return InvalidArgumentError("negative compaction revision");
  WriteOp op;
  op.kind = WriteOp::kCompact;
  op.expected = revision;
  KITE_RETURN_IF_ERROR(impl_->Submit(op));
  return op.status;
}

void SqliteBackend::CheckDeadlines() {
  bool wake;
  {
    std::lock_guard<std::mutex> l(impl_->queue_mu_);
    wake = impl_->writer_idle_;
  }
  if (wake) impl_->queue_cv_.notify_one();
}

int64_t SqliteBackend::CurrentRevision() { return impl_->current_rev_.load(); }
int64_t SqliteBackend::CompactRevision() { return impl_->compact_rev_.load(); }
int64_t SqliteBackend::HistoryBytes() { return impl_->history_bytes_.load(); }

void SqliteBackend::Impl::WriterLoop() {
  if (options_.sqlite_raise_thread_priority) RaiseThreadPriority(5);
  std::vector<WriteOp*> batch;
  std::unique_lock<std::mutex> lk(queue_mu_);
  while (true) {
    if (queue_.empty()) {
      if (stopping_) break;
      if (!BackgroundDue()) {
        const auto deadline = NextDeadline();
        writer_idle_ = true;
        if (deadline == std::chrono::steady_clock::time_point::max()) {
          queue_cv_.wait(lk);
        } else {
          queue_cv_.wait_until(lk, deadline);
        }
        writer_idle_ = false;
        continue;
      }
    }
    batch.swap(queue_);
    lk.unlock();
    RunBatch(batch);
    batch.clear();
    lk.lock();
  }
  lk.unlock();
  for (WriteOp* op : compact_waiters_) {
    op->status = CancelledError("datastore closed before compaction finished");
    op->done.Notify();
  }
  compact_waiters_.clear();
}

bool SqliteBackend::Impl::BackgroundDue() {
  if (std::chrono::steady_clock::now() < backoff_until_) return false;
  const Clock::MonoTime now = options_.clock->Monotonic();
  if (explicit_target_ > compacted_ || vacuum_pending_) return true;
  if (next_expiry_ms_ != kNoExpiry &&
      WallMs(*options_.clock) >= next_expiry_ms_) {
    return true;
  }
  return tracker_.Target(now) > compacted_;
}

std::chrono::steady_clock::time_point SqliteBackend::Impl::NextDeadline() {
  const auto steady_now = std::chrono::steady_clock::now();
  if (steady_now < backoff_until_) return backoff_until_;
  const Clock::MonoTime now = options_.clock->Monotonic();
  auto deadline = std::chrono::steady_clock::time_point::max();
  if (next_expiry_ms_ != kNoExpiry) {
    const int64_t wait_ms =
        std::max<int64_t>(0, next_expiry_ms_ - WallMs(*options_.clock));
    deadline =
        std::min(deadline, steady_now + std::chrono::milliseconds(wait_ms + 1));
  }
  if (auto d = tracker_.NextDeadline()) {
    auto wait = std::max<Clock::MonoTime::duration>(
        Clock::MonoTime::duration::zero(), *d - now);
    deadline =
        std::min(deadline, steady_now + wait + std::chrono::milliseconds(1));
  }
  return deadline;
}

void SqliteBackend::Impl::RunBatch(std::vector<WriteOp*>& batch) {
  // Compaction requests are bookkeeping; the work happens in the loop.
  std::vector<WriteOp*> ops;
  ops.reserve(batch.size());
  for (WriteOp* op : batch) {
    if (op->kind != WriteOp::kCompact) {
      ops.push_back(op);
      continue;
    }
    if (op->expected > rev_) {
      op->status = InvalidArgumentError("cannot compact at revision " +
                                        std::to_string(op->expected) +
                                        ": current is " + std::to_string(rev_));
      op->done.Notify();
    } else if (op->expected <= compacted_) {
      op->done.Notify();
    } else {
      explicit_target_ = std::max(explicit_target_, op->expected);
      compact_waiters_.push_back(op);
    }
  }

  const int64_t old_rev = rev_, old_compacted = compacted_;
  const int64_t old_next_expiry = next_expiry_ms_;
  int64_t added = 0, removed = 0;
  Status st = ApplyBatch(ops, &added, &removed);
  if (!st.ok()) {
    w_[kWRollback].Step();
    w_[kWRollback].Reset();
    rev_ = old_rev;
    compacted_ = old_compacted;
    next_expiry_ms_ = std::min(old_next_expiry, next_expiry_ms_);
    events_.clear();
    backoff_until_ = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    log::Error("datastore", "write transaction failed")("path", path_)(
        "error", st.ToString());
    for (WriteOp* op : ops) {
      op->status = st;
      op->done.Notify();
    }
    return;
  }
  // Committed: publish, acknowledge, then hand the events to watchers.
  current_rev_.store(rev_);
  compact_rev_.store(compacted_);
  const Clock::MonoTime now = options_.clock->Monotonic();
  tracker_.OnWrite(rev_, added, now);
  if (compacted_ > old_compacted) tracker_.OnCompacted(compacted_, removed);
  history_bytes_.store(tracker_.history_bytes());
  for (WriteOp* op : ops) op->done.Notify();
  if (!compact_waiters_.empty()) {
    auto keep = compact_waiters_.begin();
    for (WriteOp* op : compact_waiters_) {
      if (op->expected <= compacted_) {
        op->done.Notify();
      } else {
        *keep++ = op;
      }
    }
    compact_waiters_.erase(keep, compact_waiters_.end());
  }
  if (!events_.empty()) QueueDispatch();
  if (compacted_ > old_compacted && incremental_vacuum_ && !vacuum_pending_ &&
      compacted_ >= std::max(explicit_target_, tracker_.Target(now))) {
    // Compaction caught up: give pages back when a lot of the file is free.
    auto free_pages = wdb_.QueryInt("PRAGMA freelist_count");
    auto pages = wdb_.QueryInt("PRAGMA page_count");
    if (free_pages.ok() && pages.ok() && *free_pages > 2048 &&
        *free_pages * 4 > *pages) {
      vacuum_pending_ = true;
    }
  }
  AfterCommit();
}

Status SqliteBackend::Impl::ApplyBatch(std::vector<WriteOp*>& ops,
                                       int64_t* added, int64_t* removed) {
  KITE_RETURN_IF_ERROR(StepDone(wdb_, w_[kWBegin], "begin"));
  const int64_t now_ms = WallMs(*options_.clock);
  const int64_t start_compacted = compacted_;
  if (now_ms >= next_expiry_ms_) KITE_RETURN_IF_ERROR(ExpireDue(now_ms, added));
  for (WriteOp* op : ops) {
    switch (op->kind) {
      case WriteOp::kCreate:
        KITE_RETURN_IF_ERROR(DoCreate(*op, now_ms));
        break;
      case WriteOp::kUpdate:
        KITE_RETURN_IF_ERROR(DoUpdate(*op, now_ms, added));
        break;
      case WriteOp::kDelete:
        KITE_RETURN_IF_ERROR(DoDelete(op->key, op->expected, &op->status,
                                      &op->revision, &op->prev, added));
        break;
      case WriteOp::kCompact:
        break;
    }
  }
  const int64_t target = std::min(
      rev_,
      std::max(explicit_target_, tracker_.Target(options_.clock->Monotonic())));
  if (target > compacted_) KITE_RETURN_IF_ERROR(CompactChunk(target, removed));
  if (vacuum_pending_) KITE_RETURN_IF_ERROR(VacuumStep());
  // meta is written only when compaction moves: it may have removed the
  // newest log row, which otherwise tells the current revision. Plain writes
  // then touch two pages (log and kv), not three.
  if (compacted_ != start_compacted) {
    Stmt& m = w_[kWUpdMeta];
    m.Int(1, rev_);
    m.Int(2, compacted_);
    KITE_RETURN_IF_ERROR(StepDone(wdb_, m, "update meta"));
  }
  return StepDone(wdb_, w_[kWCommit], "commit");
}

Status SqliteBackend::Impl::DoCreate(WriteOp& op, int64_t now_ms) {
  const int64_t rev = rev_ + 1;
  const int64_t expires = op.ttl > 0 ? now_ms + op.ttl * 1000 : kNoExpiry;
  Stmt& kv = w_[kWInsKv];
  kv.Blob(1, op.key);
  kv.Int(2, rev);
  if (op.ttl > 0) {
    kv.Int(3, expires);
  } else {
    kv.Null(3);
  }
  int rc = kv.Step();
  kv.Reset();
  if ((rc & 0xff) == SQLITE_CONSTRAINT) {
    op.status =
        AlreadyExistsError("key " + std::string(op.key) + " already exists");
    return Status::Ok();
  }
  if (rc != SQLITE_DONE) return sqlite::Error(wdb_.get(), rc, "insert kv");
  Stmt& lg = w_[kWInsLog];
  lg.Int(1, rev);
  lg.Blob(2, op.key);
  lg.Int(3, rev);
  lg.Int(4, 0);
  lg.Int(5, 0);
  lg.Int(6, op.ttl);
  lg.Blob(7, op.value);
  KITE_RETURN_IF_ERROR(StepDone(wdb_, lg, "insert log"));
  rev_ = rev;
  op.revision = rev;
  next_expiry_ms_ = std::min(next_expiry_ms_, expires);
  auto ev = std::make_shared<Event>();
  ev->kv =
      KeyValue{std::string(op.key), std::string(op.value), rev, rev, op.ttl};
  events_.push_back(std::move(ev));
  return Status::Ok();
}

Status SqliteBackend::Impl::DoUpdate(WriteOp& op, int64_t now_ms,
                                     int64_t* added) {
  auto ev = std::make_shared<Event>();
  {
    Stmt& cur = w_[kWSelCur];
    StmtScope scope(cur);
    cur.Blob(1, op.key);
    int rc = cur.Step();
    if (rc == SQLITE_DONE) {
      op.status = NotFoundError("key " + std::string(op.key) + " not found");
      return Status::Ok();
    }
    if (rc != SQLITE_ROW)
      return sqlite::Error(wdb_.get(), rc, "select current");
    const int64_t cur_rev = cur.ColInt(0);
    if (cur_rev != op.expected) {
      op.status = ConflictError(
          "key " + std::string(op.key) + " was modified at revision " +
          std::to_string(cur_rev) + ", not " + std::to_string(op.expected));
      return Status::Ok();
    }
    ev->prev_kv = KeyValue{std::string(op.key), std::string(cur.ColBlob(3)),
                           cur.ColInt(1), cur_rev, cur.ColInt(2)};
  }
  const int64_t rev = rev_ + 1;
  const int64_t create_rev = ev->prev_kv.create_revision;
  Stmt& lg = w_[kWInsLog];
  lg.Int(1, rev);
  lg.Blob(2, op.key);
  lg.Int(3, create_rev);
  lg.Int(4, ev->prev_kv.mod_revision);
  lg.Int(5, 0);
  lg.Int(6, op.ttl);
  lg.Blob(7, op.value);
  KITE_RETURN_IF_ERROR(StepDone(wdb_, lg, "insert log"));
  const int64_t expires = op.ttl > 0 ? now_ms + op.ttl * 1000 : kNoExpiry;
  Stmt& kv = w_[kWUpdKv];
  kv.Blob(1, op.key);
  kv.Int(2, rev);
  if (op.ttl > 0) {
    kv.Int(3, expires);
  } else {
    kv.Null(3);
  }
  KITE_RETURN_IF_ERROR(StepDone(wdb_, kv, "update kv"));
  rev_ = rev;
  op.revision = rev;
  next_expiry_ms_ = std::min(next_expiry_ms_, expires);
  *added += HistoryRowBytes(op.key.size(), ev->prev_kv.value.size());
  ev->kv = KeyValue{std::string(op.key), std::string(op.value), create_rev, rev,
                    op.ttl};
  events_.push_back(std::move(ev));
  return Status::Ok();
}

Status SqliteBackend::Impl::DoDelete(std::string_view key, int64_t expected,
                                     Status* result, int64_t* revision,
                                     KeyValue* prev, int64_t* added) {
  auto ev = std::make_shared<Event>();
  ev->type = EventType::kDelete;
  {
    Stmt& cur = w_[kWSelCur];
    StmtScope scope(cur);
    cur.Blob(1, key);
    int rc = cur.Step();
    if (rc == SQLITE_DONE) {
      *result = NotFoundError("key " + std::string(key) + " not found");
      return Status::Ok();
    }
    if (rc != SQLITE_ROW)
      return sqlite::Error(wdb_.get(), rc, "select current");
    const int64_t cur_rev = cur.ColInt(0);
    if (expected != 0 && cur_rev != expected) {
      *result = ConflictError(
          "key " + std::string(key) + " was modified at revision " +
          std::to_string(cur_rev) + ", not " + std::to_string(expected));
      return Status::Ok();
    }
    ev->prev_kv = KeyValue{std::string(key), std::string(cur.ColBlob(3)),
                           cur.ColInt(1), cur_rev, cur.ColInt(2)};
  }
  const int64_t rev = rev_ + 1;
  Stmt& lg = w_[kWInsLog];
  lg.Int(1, rev);
  lg.Blob(2, key);
  lg.Int(3, 0);
  lg.Int(4, ev->prev_kv.mod_revision);
  lg.Int(5, 1);
  lg.Int(6, 0);
  lg.Blob(7, std::string_view());
  KITE_RETURN_IF_ERROR(StepDone(wdb_, lg, "insert log"));
  Stmt& kv = w_[kWDelKv];
  kv.Blob(1, key);
  KITE_RETURN_IF_ERROR(StepDone(wdb_, kv, "delete kv"));
  rev_ = rev;
  *revision = rev;
  *added += HistoryRowBytes(key.size(), ev->prev_kv.value.size()) +
            HistoryRowBytes(key.size(), 0);
  *prev = ev->prev_kv;
  ev->kv.key = std::string(key);
  ev->kv.mod_revision = rev;
  events_.push_back(std::move(ev));
  return Status::Ok();
}

Status SqliteBackend::Impl::ExpireDue(int64_t now_ms, int64_t* added) {
  expired_keys_.clear();
  {
    Stmt& s = w_[kWSelExpired];
    StmtScope scope(s);
    s.Int(1, now_ms);
    s.Int(2, kExpireChunk);
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW)
      expired_keys_.emplace_back(s.ColBlob(0));
    if (rc != SQLITE_DONE)
      return sqlite::Error(wdb_.get(), rc, "select expired");
  }
  for (const std::string& key : expired_keys_) {
    Status result;
    int64_t revision = 0;
    KeyValue prev;
    KITE_RETURN_IF_ERROR(DoDelete(key, 0, &result, &revision, &prev, added));
  }
  if (expired_keys_.size() == static_cast<size_t>(kExpireChunk)) {
    next_expiry_ms_ = now_ms;  // more are due: the loop comes back at once
    return Status::Ok();
  }
  next_expiry_ms_ = kNoExpiry;
  Stmt& s = w_[kWMinExpiry];
  StmtScope scope(s);
  int rc = s.Step();
  if (rc == SQLITE_ROW && !s.ColNull(0)) next_expiry_ms_ = s.ColInt(0);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    return sqlite::Error(wdb_.get(), rc, "select next expiry");
  }
  return Status::Ok();
}

Status SqliteBackend::Impl::CompactChunk(int64_t target, int64_t* removed) {
  const int64_t end = std::min(target, compacted_ + kCompactChunkRevs);
  compact_rows_.clear();
  {
    Stmt& s = w_[kWSelCompact];
    StmtScope scope(s);
    s.Int(1, compacted_);
    s.Int(2, end);
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      compact_rows_.push_back({s.ColInt(0), s.ColInt(1), s.ColInt(2)});
    }
    if (rc != SQLITE_DONE)
      return sqlite::Error(wdb_.get(), rc, "select compaction");
  }
  // A write at r <= end superseded the version at prev_rev: drop it. A
  // tombstone <= end is not needed either. Each key keeps its newest version.
  Stmt& del = w_[kWDelLog];
  auto drop = [&](int64_t rev) -> Status {
    StmtScope scope(del);
    del.Int(1, rev);
    int rc = del.Step();
    if (rc == SQLITE_ROW) {
      *removed += del.ColInt(0);
      rc = del.Step();
    }
    if (rc != SQLITE_DONE) return sqlite::Error(wdb_.get(), rc, "compact");
    return Status::Ok();
  };
  for (const auto& [rev, prev_rev, deleted] : compact_rows_) {
    if (prev_rev > 0) KITE_RETURN_IF_ERROR(drop(prev_rev));
    if (deleted != 0) KITE_RETURN_IF_ERROR(drop(rev));
  }
  compacted_ = end;
  return Status::Ok();
}

Status SqliteBackend::Impl::VacuumStep() {
  Stmt& v = w_[kWVacuum];
  StmtScope scope(v);
  int rc;
  while ((rc = v.Step()) == SQLITE_ROW) {
  }
  if (rc != SQLITE_DONE)
    return sqlite::Error(wdb_.get(), rc, "incremental vacuum");
  auto free_pages = wdb_.QueryInt("PRAGMA freelist_count");
  KITE_RETURN_IF_ERROR(free_pages.status());
  vacuum_pending_ = *free_pages > 0;
  return Status::Ok();
}

void SqliteBackend::Impl::AfterCommit() {
  const int frames = wal_frames_.load(std::memory_order_relaxed);
  const int threshold = std::max(options_.sqlite_wal_checkpoint_pages, 1);
  if (frames >= kWalRestartFactor * threshold) {
    // The background checkpoints could not catch up with the writes (the
    // WAL only restarts once fully copied back): finish here, where no write
    // can race it, so the WAL restarts from its beginning.
    int rc = sqlite3_wal_checkpoint_v2(
        wdb_.get(), nullptr, SQLITE_CHECKPOINT_RESTART, nullptr, nullptr);
    if (rc == SQLITE_OK) wal_frames_.store(0);
  } else if (frames >= threshold) {
    {
      std::lock_guard<std::mutex> l(ckpt_mu_);
      if (ckpt_requested_) return;
      ckpt_requested_ = true;
    }
    ckpt_cv_.notify_one();
  }
}

// Events waiting for the dispatcher beyond which the writer waits for it.
constexpr size_t kMaxUndispatchedEvents = 100000;

void SqliteBackend::Impl::QueueDispatch() {
  bool wake;
  {
    std::unique_lock<std::mutex> l(dispatch_mu_);
    dispatch_room_.wait(l, [this] {
      return dispatch_events_.size() < kMaxUndispatchedEvents || dispatch_stop_;
    });
    wake = dispatch_events_.empty();
    if (wake) {
      dispatch_events_.swap(events_);
    } else {
      dispatch_events_.insert(dispatch_events_.end(),
                              std::make_move_iterator(events_.begin()),
                              std::make_move_iterator(events_.end()));
    }
    dispatch_rev_ = rev_;
  }
  events_.clear();
  if (wake) dispatch_cv_.notify_one();
}

void SqliteBackend::Impl::DispatchLoop() {
  if (options_.sqlite_raise_thread_priority) RaiseThreadPriority(5);
  std::vector<std::shared_ptr<const Event>> events;
  std::unique_lock<std::mutex> l(dispatch_mu_);
  while (true) {
    dispatch_cv_.wait(
        l, [this] { return !dispatch_events_.empty() || dispatch_stop_; });
    if (dispatch_events_.empty()) return;  // stopping, nothing left
    events.swap(dispatch_events_);
    const int64_t rev = dispatch_rev_;
    l.unlock();
    dispatch_room_.notify_all();
    // Everything committed since the last round, in revision order.
    hub_->Dispatch(events, rev);
    events.clear();
    l.lock();
  }
}

int SqliteBackend::Impl::WalHook(void* arg, sqlite3*, const char*, int frames) {
  static_cast<Impl*>(arg)->wal_frames_.store(frames, std::memory_order_relaxed);
  return SQLITE_OK;
}

void SqliteBackend::Impl::CheckpointLoop() {
  std::unique_lock<std::mutex> lk(ckpt_mu_);
  while (true) {
    ckpt_cv_.wait(lk, [this] { return ckpt_requested_ || ckpt_stop_; });
    if (ckpt_stop_) return;
    lk.unlock();
    int rc = sqlite3_wal_checkpoint_v2(
        cdb_.get(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
      log::Warn("datastore", "WAL checkpoint failed")("path", path_)(
          "error", sqlite3_errstr(rc));
    }
    lk.lock();
    ckpt_requested_ = false;
  }
}

// ---------------------------------------------------------------- reads

StatusOr<std::unique_ptr<Reader>> SqliteBackend::Impl::AcquireReader() {
  {
    std::unique_lock<std::mutex> l(readers_mu_);
    const int max_readers = std::max(options_.sqlite_read_connections, 1);
    readers_cv_.wait(l, [&] {
      return !idle_readers_.empty() || open_readers_ < max_readers;
    });
    if (!idle_readers_.empty()) {
      auto r = std::move(idle_readers_.back());
      idle_readers_.pop_back();
      return r;
    }
    ++open_readers_;
  }
  auto r = std::make_unique<Reader>();
  auto db = Db::Open(path_, SQLITE_OPEN_READONLY);
  if (!db.ok()) {
    std::lock_guard<std::mutex> l(readers_mu_);
    --open_readers_;
    readers_cv_.notify_one();
    return db.status();
  }
  r->db = std::move(*db);
  return r;
}

void SqliteBackend::Impl::ReleaseReader(std::unique_ptr<Reader> r,
                                        bool healthy) {
  std::lock_guard<std::mutex> l(readers_mu_);
  if (healthy) {
    idle_readers_.push_back(std::move(r));
  } else {
    --open_readers_;
  }
  readers_cv_.notify_one();
}

template <typename Fn>
Status SqliteBackend::Impl::Read(Fn&& fn) {
  KITE_ASSIGN_OR_RETURN(std::unique_ptr<Reader> r, AcquireReader());
  auto run = [&]() -> Status {
    KITE_ASSIGN_OR_RETURN(Stmt * begin, r->Get(kRBegin));
    KITE_RETURN_IF_ERROR(StepDone(r->db, *begin, "begin read"));
    int64_t current = 0, compact = 0;
    Status st;
    {
      auto meta = r->Get(kRMeta);
      if (!meta.ok()) {
        st = meta.status();
      } else {
        Stmt& m = **meta;
        StmtScope scope(m);
        int rc = m.Step();
        if (rc == SQLITE_ROW) {
          current = m.ColInt(0);
          compact = m.ColInt(1);
        } else {
          st = sqlite::Error(r->db.get(), rc, "read meta");
        }
      }
    }
    if (st.ok()) st = fn(*r, current, compact);
    KITE_ASSIGN_OR_RETURN(Stmt * end, r->Get(kRCommit));
    Status end_st = StepDone(r->db, *end, "end read");
    return st.ok() ? end_st : st;
  };
  Status st = run();
  const bool healthy = st.ok() || (st.code() != Code::kInternal &&
                                   st.code() != Code::kUnavailable);
  if (!healthy)
    sqlite3_exec(r->db.get(), "ROLLBACK", nullptr, nullptr, nullptr);
  ReleaseReader(std::move(r), healthy);
  return st;
}

StatusOr<KeyValue> SqliteBackend::Get(std::string_view key, int64_t revision) {
  KITE_RETURN_IF_ERROR(ValidateKey(key));
  if (revision < 0) return FutureError(revision, impl_->current_rev_.load());
  KeyValue out;
  Status st =
      impl_->Read([&](Reader& r, int64_t current, int64_t compact) -> Status {
        const int64_t rev = revision == 0 ? current : revision;
        if (rev > current) return FutureError(revision, current);
        if (rev < compact) return CompactedRevError(rev, compact);
        const auto not_found = [&] {
          return NotFoundError("key " + std::string(key) + " not found");
        };
        // The oldest change of the key after `rev` points (prev_rev) at the
        // version it had at `rev`; 0 when it was not live then.
        const auto first_after = [&]() -> StatusOr<int64_t> {
          KITE_ASSIGN_OR_RETURN(Stmt * first, r.Get(kRFirstAfter));
          StmtScope scope(*first);
          first->Int(1, rev);
          first->Blob(2, key);
          int rc = first->Step();
          if (rc == SQLITE_DONE) return int64_t{0};
          if (rc != SQLITE_ROW) return sqlite::Error(r.db.get(), rc, "get");
          return first->ColInt(0);
        };
        KITE_ASSIGN_OR_RETURN(Stmt * cur, r.Get(kRGetCur));
        KITE_ASSIGN_OR_RETURN(Stmt * at, r.Get(kRGetRev));
        int64_t prev_rev = 0;
        {
          StmtScope scope(*cur);
          cur->Blob(1, key);
          int rc = cur->Step();
          if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return sqlite::Error(r.db.get(), rc, "get");
          if (rc == SQLITE_ROW) {
            const int64_t mod = cur->ColInt(0);
            if (mod <= rev) {
              out = KeyValue{std::string(key), std::string(cur->ColBlob(4)),
                             cur->ColInt(1), mod, cur->ColInt(3)};
              return Status::Ok();
            }
            prev_rev = cur->ColInt(2);
          }
        }
        // A live key: walk back through its versions (cheap, by primary key)
        // until one is at or before `rev`. The chain ends at the key's create.
        while (prev_rev > 0) {
          StmtScope scope(*at);
          at->Int(1, prev_rev);
          int rc = at->Step();
          if (rc == SQLITE_DONE) break;
          if (rc != SQLITE_ROW) return sqlite::Error(r.db.get(), rc, "get");
          if (at->ColInt(0) <= rev) {
            out = KeyValue{std::string(key), std::string(at->ColBlob(4)),
                           at->ColInt(1), at->ColInt(0), at->ColInt(3)};
            return Status::Ok();
          }
          prev_rev = at->ColInt(2);
        }
        // Not live now, or created again after `rev`: search the later history.
        KITE_ASSIGN_OR_RETURN(prev_rev, first_after());
        if (prev_rev > 0) {
          StmtScope scope(*at);
          at->Int(1, prev_rev);
          int rc = at->Step();
          if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return sqlite::Error(r.db.get(), rc, "get");
          if (rc == SQLITE_ROW && at->ColInt(5) == 0) {
            out = KeyValue{std::string(key), std::string(at->ColBlob(4)),
                           at->ColInt(1), at->ColInt(0), at->ColInt(3)};
            return Status::Ok();
          }
        }
        return not_found();
      });
  if (!st.ok()) return st;
  return out;
}

StatusOr<ListResult> SqliteBackend::List(std::string_view prefix,
                                         const ListOptions& options) {
  if (options.revision < 0)
    return FutureError(options.revision, impl_->current_rev_.load());
  std::string lo(prefix);
  if (!options.start_after.empty() && options.start_after >= prefix) {
    lo = options.start_after;
    lo.push_back('\0');
  }
  const std::string hi = PrefixEnd(prefix);
  ListResult result;
  Status st =
      impl_->Read([&](Reader& r, int64_t current, int64_t compact) -> Status {
        const int64_t rev = options.revision == 0 ? current : options.revision;
        if (rev > current) return FutureError(options.revision, current);
        if (rev < compact) return CompactedRevError(rev, compact);
        result.revision = rev;
        const bool past = rev < current;
        ReadStmt id = past ? (hi.empty() ? kRListPastAll : kRListPast)
                           : (hi.empty() ? kRListCurAll : kRListCur);
        KITE_ASSIGN_OR_RETURN(Stmt * s, r.Get(id));
        StmtScope scope(*s);
        s->Blob(1, lo);
        if (!hi.empty()) s->Blob(2, hi);
        s->Int(3, options.limit > 0 ? options.limit + 1 : -1);
        if (past) s->Int(4, rev);
        int rc;
        while ((rc = s->Step()) == SQLITE_ROW) {
          if (options.limit > 0 &&
              result.kvs.size() == static_cast<size_t>(options.limit)) {
            result.more = true;
            break;
          }
          result.kvs.push_back(
              KeyValue{std::string(s->ColBlob(0)), std::string(s->ColBlob(4)),
                       s->ColInt(2), s->ColInt(1), s->ColInt(3)});
        }
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
          return sqlite::Error(r.db.get(), rc, "list");
        return Status::Ok();
      });
  if (!st.ok()) return st;
  return result;
}

Status SqliteBackend::Impl::ReplayEvents(std::string_view prefix, int64_t after,
                                         int64_t upto, size_t limit,
                                         std::vector<Event>* out) {
  const std::string hi = PrefixEnd(prefix);
  return Read([&](Reader& r, int64_t, int64_t compact) -> Status {
    if (after < compact) return CompactedRevError(after, compact);
    KITE_ASSIGN_OR_RETURN(Stmt * s, r.Get(hi.empty() ? kRReplayAll : kRReplay));
    StmtScope scope(*s);
    s->Blob(1, prefix);
    if (!hi.empty()) s->Blob(2, hi);
    s->Int(3, after);
    s->Int(4, upto);
    s->Int(5, static_cast<int64_t>(limit));
    int rc;
    while ((rc = s->Step()) == SQLITE_ROW) {
      Event ev;
      std::string key(s->ColBlob(1));
      const int64_t rev = s->ColInt(0);
      const int64_t prev_rev = s->ColInt(3);
      if (prev_rev > 0) {
        ev.prev_kv = KeyValue{key, std::string(s->ColBlob(9)), s->ColInt(7),
                              prev_rev, s->ColInt(8)};
      }
      if (s->ColInt(4) != 0) {
        ev.type = EventType::kDelete;
        ev.kv.key = std::move(key);
        ev.kv.mod_revision = rev;
      } else {
        ev.kv = KeyValue{std::move(key), std::string(s->ColBlob(6)),
                         s->ColInt(2), rev, s->ColInt(5)};
      }
      out->push_back(std::move(ev));
    }
    if (rc != SQLITE_DONE) return sqlite::Error(r.db.get(), rc, "replay");
    return Status::Ok();
  });
}

StatusOr<std::shared_ptr<Watcher>> SqliteBackend::Watch(
    std::string_view prefix, int64_t after_revision) {
  if (after_revision < 0)
    return FutureError(after_revision, impl_->current_rev_.load());
  if (after_revision == 0) {
    // "From now": after every acknowledged write, which the writer may not
    // have dispatched yet (it acknowledges first); the hub skips those.
    return impl_->hub_->Register(prefix, impl_->current_rev_.load());
  }
  {
    const int64_t compact = impl_->compact_rev_.load();
    if (after_revision < compact)
      return CompactedRevError(after_revision, compact);
    if (after_revision > impl_->hub_->dispatched()) {
      // A reader may see a commit before the writer has dispatched it; the
      // database decides whether `after_revision` exists.
      Status st = impl_->Read([&](Reader&, int64_t current, int64_t) -> Status {
        if (after_revision > current)
          return FutureError(after_revision, current);
        return Status::Ok();
      });
      if (!st.ok()) return st;
    }
  }
  return impl_->hub_->Register(prefix, after_revision);
}

}  // namespace kite::datastore

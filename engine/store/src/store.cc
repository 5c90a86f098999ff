// The store: the SQLite connection, its schema and migrations, units of work and savepoints,
// the exclusive lock, the WAL checkpointer. Each domain's tables are in a file of their own:
// store_genealogy.cc, store_records.cc (rejects, limits versions), store_alarms.cc (alarms,
// actions, silences), store_holds.cc, store_audit.cc (audit chain, retention), store_deliveries.cc.
#include "shewhart/engine/store/store.h"

#include "store_internal.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <unordered_set>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "shewhart/base/thread.h"
#include "shewhart/engine/store/audit.h"
#include "shewhart/engine/store/postings.h"
#include "shewhart/engine/model/time_format.h"
#include "shewhart/engine/model/json.h"

namespace shewhart::engine {

using namespace store_internal;

namespace {

// 2 -> 3: limit_versions; 3 -> 4: alarm_actions; 4 -> 5: deliveries; 5 -> 6: audit_log;
// 6 -> 7: silences; 7 -> 8: parent indexes (genealogy);
// 8 -> 9: dispositions, held_units by serial, alarms.tier_reached; 9 -> 10: unit_postings
// (postings.h) instead of the station, machine and operator indexes and unit_lots.
constexpr int kSchemaVersion = 11;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS unit_events(
  id INTEGER PRIMARY KEY,
  unit TEXT NOT NULL, station TEXT, ts INTEGER NOT NULL,
  machine TEXT, operator TEXT, lot TEXT, lots TEXT, model TEXT, parent TEXT,
  from_measurement INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS unit_events_unit ON unit_events(unit);
CREATE INDEX IF NOT EXISTS unit_events_parent ON unit_events(parent, unit) WHERE parent <> '';
CREATE INDEX IF NOT EXISTS unit_events_unit_parent ON unit_events(unit, parent) WHERE parent <> '';
CREATE TABLE IF NOT EXISTS unit_postings(
  id INTEGER PRIMARY KEY, kind INTEGER NOT NULL, label TEXT NOT NULL,
  first_ts INTEGER NOT NULL, last_ts INTEGER NOT NULL, n INTEGER NOT NULL, data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS unit_postings_label ON unit_postings(kind, label, first_ts);
CREATE INDEX IF NOT EXISTS unit_postings_last ON unit_postings(last_ts);
CREATE TABLE IF NOT EXISTS rejects(
  id INTEGER PRIMARY KEY, source TEXT NOT NULL, position INTEGER NOT NULL, reason TEXT NOT NULL,
  field TEXT, message TEXT NOT NULL, raw BLOB, raw_truncated INTEGER NOT NULL,
  stored_ts INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS alarms(
  id INTEGER PRIMARY KEY, characteristic TEXT NOT NULL, policy TEXT NOT NULL, state TEXT NOT NULL,
  tier INTEGER NOT NULL, rule TEXT NOT NULL, chart TEXT NOT NULL, opened_ts INTEGER NOT NULL,
  last_signal_ts INTEGER NOT NULL, window_start INTEGER NOT NULL, signals INTEGER NOT NULL,
  scope TEXT NOT NULL, hold_id INTEGER NOT NULL DEFAULT 0, resolved_ts INTEGER NOT NULL DEFAULT 0,
  tier_reached_ts INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS holds(
  id INTEGER PRIMARY KEY, alarm_id INTEGER NOT NULL, characteristic TEXT NOT NULL, scope TEXT NOT NULL,
  from_ts INTEGER NOT NULL, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS limit_versions(
  id INTEGER PRIMARY KEY, characteristic TEXT NOT NULL, effective_ts INTEGER NOT NULL,
  recorded_ts INTEGER NOT NULL, origin TEXT NOT NULL, center REAL NOT NULL, sigma REAL NOT NULL,
  points INTEGER NOT NULL, user TEXT NOT NULL, reason TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS limit_versions_characteristic ON limit_versions(characteristic, id);
CREATE TABLE IF NOT EXISTS alarm_actions(
  id INTEGER PRIMARY KEY, alarm_id INTEGER NOT NULL, kind TEXT NOT NULL, ts INTEGER NOT NULL,
  user TEXT NOT NULL, cause TEXT NOT NULL, action TEXT NOT NULL, note TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS alarm_actions_alarm ON alarm_actions(alarm_id, id);
CREATE TABLE IF NOT EXISTS deliveries(
  id INTEGER PRIMARY KEY, alarm_id INTEGER NOT NULL, tier INTEGER NOT NULL, action TEXT NOT NULL,
  idempotency_key TEXT NOT NULL UNIQUE, payload TEXT NOT NULL, attempts INTEGER NOT NULL,
  next_attempt_ts INTEGER NOT NULL, state TEXT NOT NULL, last_error TEXT NOT NULL,
  created_ts INTEGER NOT NULL, updated_ts INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS deliveries_state ON deliveries(state, id);
CREATE TABLE IF NOT EXISTS audit_log(
  seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL,
  actor TEXT NOT NULL, body TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS silences(
  id INTEGER PRIMARY KEY, matchers TEXT NOT NULL, starts_ts INTEGER NOT NULL, ends_ts INTEGER NOT NULL,
  created_ts INTEGER NOT NULL, created_by TEXT NOT NULL, comment TEXT NOT NULL,
  expired_ts INTEGER NOT NULL DEFAULT 0, expired_by TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS silences_ends ON silences(ends_ts);
CREATE TABLE IF NOT EXISTS held_units(
  hold_id INTEGER NOT NULL, serial TEXT NOT NULL, state TEXT NOT NULL, since INTEGER NOT NULL,
  PRIMARY KEY(hold_id, serial));
CREATE INDEX IF NOT EXISTS held_units_serial ON held_units(serial);
CREATE TABLE IF NOT EXISTS dispositions(
  id INTEGER PRIMARY KEY, hold_id INTEGER NOT NULL, serial TEXT NOT NULL, state TEXT NOT NULL,
  ts INTEGER NOT NULL, user TEXT NOT NULL, reason TEXT NOT NULL, meaning TEXT NOT NULL, note TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS dispositions_hold ON dispositions(hold_id, id);
)sql";

// Schema 7 -> 8 made the station, machine and operator indexes cover the unit and filled
// unit_lots; version 10 replaces both with unit_postings, which MigrateTo11 builds from
// unit_events, so the step now only records the version.
constexpr const char* kMigrate7To8 = "UPDATE meta SET value='8' WHERE key='schema_version'";

// Schema 8 -> 9 (kSchema has created dispositions and held_units_serial): the lot index of
// unit_events goes (lot scopes read every lot of a record elsewhere), and alarms remember when
// they reached their tier (unacknowledged_for counts from it across restarts; 0 for alarms of
// older versions: counted from the restart). One transaction with the version update.
// The column is added only where the table lacks it (a store whose tables kSchema created at
// version 9 and that was then marked older, as tests do, has it already).
constexpr const char* kMigrate8To9 = R"sql(
BEGIN IMMEDIATE;
DROP INDEX IF EXISTS unit_events_lot_ts;
UPDATE meta SET value='9' WHERE key='schema_version';
COMMIT;
)sql";
constexpr const char* kAddTierReached = "ALTER TABLE alarms ADD COLUMN tier_reached_ts INTEGER NOT NULL DEFAULT 0";
// Rejects remember when they were stored (retention); older ones count from the migration.
constexpr const char* kAddRejectTime = "ALTER TABLE rejects ADD COLUMN stored_ts INTEGER NOT NULL DEFAULT 0";

}  // namespace

std::string FormatScope(const ScopeLabels& scope) {
  std::string s;
  for (const auto& [k, v] : scope) {
    if (!s.empty()) s += ",";
    s += ScopeKeyName(k);
    s += "=" + v;
  }
  return s;
}

Result<std::unique_ptr<Store>> Store::Open(const std::string& path) {
  sqlite3* db = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return Unavailable("cannot open store '" + path + "': " + msg);
  }
  std::unique_ptr<Store> store(new Store(db, path));
  sqlite3_busy_timeout(db, 5000);
  SHEWHART_RETURN_IF_ERROR(store->Exec("PRAGMA journal_mode=WAL"));
  SHEWHART_RETURN_IF_ERROR(store->Exec("PRAGMA synchronous=NORMAL"));
  // 64 MiB of page cache (SQLite's default is 2 MiB): a genealogy batch inserts into
  // unit_events, its unit index (serials in no useful order) and unit_postings; trace_bench's
  // 2 M-record ingest measured 279-315 k/s sustained with it, 207-289 k/s with 2 MiB.
  SHEWHART_RETURN_IF_ERROR(store->Exec("PRAGMA cache_size=-65536"));
  SHEWHART_RETURN_IF_ERROR(store->Exec(kSchema));
  {
    std::optional<std::string> version;
    {
      // Finalized before migrating: a statement still reading would lock the schema (DROP INDEX).
      Stmt q(db, "SELECT value FROM meta WHERE key='schema_version'");
      if (!q.ok()) return q.error("reading schema version");
      if (q.Step() == SQLITE_ROW) version = q.Text(0);
    }
    if (version) {
      std::string v = *version;
      // Migrations: each step's tables were created by kSchema above; record the new version.
      if (v == "2") {
        SHEWHART_RETURN_IF_ERROR(store->Exec("UPDATE meta SET value='3' WHERE key='schema_version'"));
        v = "3";
      }
      if (v == "3") {
        SHEWHART_RETURN_IF_ERROR(store->Exec("UPDATE meta SET value='4' WHERE key='schema_version'"));
        v = "4";
      }
      if (v == "4") {  // the outbox's deliveries table, created above
        SHEWHART_RETURN_IF_ERROR(store->Exec("UPDATE meta SET value='5' WHERE key='schema_version'"));
        v = "5";
      }
      if (v == "5") {  // the audit log's table, created above
        SHEWHART_RETURN_IF_ERROR(store->Exec("UPDATE meta SET value='6' WHERE key='schema_version'"));
        v = "6";
      }
      if (v == "6") {  // the silences table, created above
        SHEWHART_RETURN_IF_ERROR(store->Exec("UPDATE meta SET value='7' WHERE key='schema_version'"));
        v = "7";
      }
      if (v == "7") {  // parent indexes (created above)
        SHEWHART_RETURN_IF_ERROR(store->Exec(kMigrate7To8));
        v = "8";
      }
      if (v == "8") {  // dispositions and held_units_serial (created above); when each alarm reached its tier
        bool has_column = false;
        {
          Stmt q(db, "SELECT COUNT(*) FROM pragma_table_info('alarms') WHERE name = 'tier_reached_ts'");
          if (!q.ok() || q.Step() != SQLITE_ROW) return q.error("reading the alarms table's columns");
          has_column = q.Int(0) > 0;
        }
        if (!has_column) SHEWHART_RETURN_IF_ERROR(store->Exec(kAddTierReached));
        {
          Stmt q(db, "SELECT COUNT(*) FROM pragma_table_info('rejects') WHERE name = 'stored_ts'");
          if (!q.ok() || q.Step() != SQLITE_ROW) return q.error("reading the rejects table's columns");
          has_column = q.Int(0) > 0;
        }
        if (!has_column) {
          SHEWHART_RETURN_IF_ERROR(store->Exec(kAddRejectTime));
          const std::string now = std::to_string(NowMicros());
          SHEWHART_RETURN_IF_ERROR(store->Exec(("UPDATE rejects SET stored_ts = " + now).c_str()));
        }
        SHEWHART_RETURN_IF_ERROR(store->Exec(kMigrate8To9));
        v = "9";
      }
      if (v == "9" || v == "10") {
        // 9: unit_postings (created above) from unit_events; the scope indexes and unit_lots go.
        // 10: the postings again, now with each record's model (a scope key since version 11).
        SHEWHART_RETURN_IF_ERROR(store->MigrateTo11());
        v = "11";
      }
      if (v != std::to_string(kSchemaVersion)) {
        return FailedPrecondition("store '" + path + "' has schema version " + v + "; this build reads version " +
                                  std::to_string(kSchemaVersion));
      }
    } else {
      SHEWHART_RETURN_IF_ERROR(store->Exec(
          ("INSERT INTO meta(key, value) VALUES('schema_version', '" + std::to_string(kSchemaVersion) + "')").c_str()));
    }
  }
  return store;
}

Status Store::LockExclusive() {
  if (path_ == ":memory:" || path_.empty() || lock_fd_ >= 0) return Status::Ok();
  const std::string lock_path = path_ + ".lock";
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return Unavailable("store '" + path_ + "': cannot open its lock file '" + lock_path + "': " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    std::string holder(256, '\0');
    const ssize_t n = ::pread(fd, holder.data(), holder.size(), 0);
    holder.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == '\0')) holder.pop_back();
    ::close(fd);
    if (err != EWOULDBLOCK)
      return Unavailable("store '" + path_ + "': cannot lock '" + lock_path + "': " + std::strerror(err));
    return FailedPrecondition("store '" + path_ + "' is in use by another engine (" +
                              (holder.empty() ? std::string("holder unknown") : holder) + "; lock file '" + lock_path +
                              "'): one engine per store");
  }
  char host[256] = {};
  (void)::gethostname(host, sizeof host - 1);
  const std::string me =
      "pid " + std::to_string(::getpid()) + " on " + host + " since " +
      FormatRfc3339(std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now())) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, me.data(), me.size(), 0) != static_cast<ssize_t>(me.size())) {
    spdlog::warn("store '{}': the lock is taken, but its holder could not be written to '{}'", path_, lock_path);
  }
  lock_fd_ = fd;
  return Status::Ok();
}

Store::~Store() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the lock (the file stays: removing it would race a new holder)
  StopCheckpointer();
  for (sqlite3_stmt* st : cached_) sqlite3_finalize(st);
  sqlite3_close(db_);
}

int Store::OnWalCommit(void* self, sqlite3* db, const char* name, int pages) {
  auto* store = static_cast<Store*>(self);
  if (pages >= store->checkpoint_writer_pages_) {
    // The background checkpoints never catch up with a writer that commits all the time, so
    // the WAL would never start over: now and then the writer checkpoints itself (what is left
    // after the background ones, as SQLite's automatic checkpoint does), and its next
    // transaction starts the WAL from the beginning.
    const int rc = sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    (rc == SQLITE_OK ? store->checkpoint_counters_.writer_ok : store->checkpoint_counters_.writer_failed).Inc();
  } else if (pages >= store->checkpoint_wal_pages_) {
    {
      std::lock_guard lock(store->checkpoint_mu_);
      store->checkpoint_due_ = true;
    }
    store->checkpoint_cv_.notify_one();
  }
  return SQLITE_OK;
}

Status Store::StartCheckpointer(std::chrono::milliseconds every, int wal_pages, int writer_pages) {
  if (path_ == ":memory:" || path_.empty() || checkpoint_thread_.joinable()) return Status::Ok();
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return Unavailable("store '" + path_ + "': cannot open a connection for checkpoints: " + msg);
  }
  sqlite3_busy_timeout(db, 1000);
  // A connection reads the file (and finds the WAL) only when first used: until then a
  // checkpoint through it is a no-op that reports "not in WAL mode" (log and done -1).
  std::string mode;
  {
    Stmt q(db, "PRAGMA journal_mode");
    if (q.ok() && q.Step() == SQLITE_ROW) mode = q.Text(0);
    else mode = std::string("unreadable: ") + sqlite3_errmsg(db);
  }
  if (mode != "wal") {
    sqlite3_close(db);
    return Unavailable("store '" + path_ + "': the checkpoint connection finds journal mode '" + mode + "', not WAL");
  }
  checkpoint_db_ = db;
  checkpoint_wal_pages_ = std::max(1, wal_pages);
  checkpoint_writer_pages_ = std::max(1, writer_pages);
  {
    // Replaces the automatic checkpoint (itself a WAL hook) of the store's connection.
    std::lock_guard lock(mu_);
    sqlite3_wal_hook(db_, &Store::OnWalCommit, this);
  }
  checkpoint_thread_ = std::thread([this, every] {
    SetThreadName("shw-checkpoint");
    // At most one checkpoint per kMinGap: a busy writer keeps the WAL past the threshold after
    // each commit until a checkpoint catches up with it.
    constexpr auto kMinGap = std::chrono::milliseconds(100);
    std::unique_lock lock(checkpoint_mu_);
    while (!checkpoint_stop_) {
      checkpoint_cv_.wait_for(lock, every, [this] { return checkpoint_due_ || checkpoint_stop_; });
      if (checkpoint_stop_) break;
      if (checkpoint_cv_.wait_for(lock, kMinGap, [this] { return checkpoint_stop_; })) break;
      checkpoint_due_ = false;
      lock.unlock();
      const int rc = sqlite3_wal_checkpoint_v2(checkpoint_db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
      (rc == SQLITE_OK ? checkpoint_counters_.thread_ok : checkpoint_counters_.thread_failed).Inc();
      lock.lock();
    }
  });
  return Status::Ok();
}

void Store::StopCheckpointer() {
  if (checkpoint_thread_.joinable()) {
    {
      std::lock_guard lock(checkpoint_mu_);
      checkpoint_stop_ = true;
    }
    checkpoint_cv_.notify_one();
    checkpoint_thread_.join();
    std::lock_guard lock(mu_);
    sqlite3_wal_hook(db_, nullptr, nullptr);
    sqlite3_wal_autocheckpoint(db_, 1000);  // the writer checkpoints again
  }
  if (checkpoint_db_) {
    sqlite3_close(checkpoint_db_);
    checkpoint_db_ = nullptr;
  }
}

Status Store::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return Unavailable("store '" + path_ + "': " + msg);
  }
  return Status::Ok();
}

Status Store::BeginTx() {
  // Inside a unit of work (Begin) a method's own transaction is a savepoint: it commits with the
  // unit or not at all, and its own failure undoes only its part (the unit then decides).
  if (unit_depth_ > 0) return Exec("SAVEPOINT store_method");
  Status st = Exec("BEGIN IMMEDIATE");
  if (!st.ok()) write_failures_.Inc();
  return st;
}

Status Store::CommitTx() {
  if (unit_depth_ > 0) return Exec("RELEASE store_method");
  Status st = Exec("COMMIT");
  if (!st.ok()) write_failures_.Inc();
  return st;
}

Status Store::RollbackTx() {
  if (unit_depth_ == 0) return Exec("ROLLBACK");
  SHEWHART_RETURN_IF_ERROR(Exec("ROLLBACK TO store_method"));
  return Exec("RELEASE store_method");
}

Status Store::Begin() {
  mu_.lock();
  if (unit_depth_++ > 0) return Status::Ok();  // nested: part of the unit already open
  unit_failed_ = false;
  if (Status st = Exec("BEGIN IMMEDIATE"); !st.ok()) {
    unit_depth_ = 0;
    mu_.unlock();
    write_failures_.Inc();
    return st;
  }
  return Status::Ok();
}

Status Store::Commit() {
  if (--unit_depth_ > 0) {
    mu_.unlock();
    return Status::Ok();
  }
  Status st = Status::Ok();
  if (unit_failed_ || sqlite3_get_autocommit(db_)) {
    // SQLite rolled the transaction back itself (SQLITE_FULL, SQLITE_IOERR ... may): what
    // follows ran outside it, so the unit as a whole did not happen.
    st = Unavailable("store '" + path_ + "': the transaction was rolled back by SQLite after an error");
    if (!sqlite3_get_autocommit(db_)) (void)Exec("ROLLBACK");
  } else if (st = Exec("COMMIT"); !st.ok()) {
    (void)Exec("ROLLBACK");
  }
  std::vector<std::function<void()>> after;
  after.swap(after_commit_);
  mu_.unlock();
  if (!st.ok()) {
    write_failures_.Inc();
    return st;
  }
  for (auto& f : after) f();
  return st;
}

void Store::Rollback() {
  if (--unit_depth_ > 0) {
    // A nested unit cannot undo alone: the whole unit rolls back when it ends.
    unit_failed_ = true;
    mu_.unlock();
    return;
  }
  if (!sqlite3_get_autocommit(db_)) (void)Exec("ROLLBACK");
  after_commit_.clear();
  mu_.unlock();
}

void Store::AfterCommit(std::function<void()> fn) {
  std::unique_lock lock(mu_);
  if (unit_depth_ == 0) {
    lock.unlock();
    fn();
    return;
  }
  after_commit_.push_back(std::move(fn));
}

bool Store::in_unit() {
  std::lock_guard lock(mu_);
  return unit_depth_ > 0;
}

Status Store::MigrateTo11() {
  SHEWHART_RETURN_IF_ERROR(BeginTx());
  auto fail = [&](Status st) {
    (void)RollbackTx();
    return st;
  };
  for (const char* sql : {"DROP INDEX IF EXISTS unit_events_station_ts", "DROP INDEX IF EXISTS unit_events_machine_ts",
                          "DROP INDEX IF EXISTS unit_events_operator_ts", "DROP TABLE IF EXISTS unit_lots",
                          "DELETE FROM unit_postings"}) {
    if (Status st = Exec(sql); !st.ok()) return fail(st);
  }
  // The records a slice at a time, in id order; each slice's postings as chunks.
  constexpr std::int64_t kSlice = 100000;
  struct Row {
    std::int64_t id, ts;
    std::string unit, station, machine, op, lots, model;
  };
  std::vector<Row> rows;
  std::vector<postings::Posting> posted;
  std::int64_t migrated = 0;
  for (std::int64_t after = 0;;) {
    rows.clear();
    {
      Stmt q(db_,
             "SELECT id, ts, unit, station, machine, operator, lots, model FROM unit_events WHERE id > ? ORDER BY id "
             "LIMIT ?");
      if (!q.ok()) return fail(q.error("reading genealogy to migrate"));
      q.Bind(1, after);
      q.Bind(2, kSlice);
      int rc;
      while ((rc = q.Step()) == SQLITE_ROW) {
        rows.push_back(Row{q.Int(0), q.Int(1), q.Text(2), q.Text(3), q.Text(4), q.Text(5), q.Text(6), q.Text(7)});
      }
      if (rc != SQLITE_DONE) return fail(q.error("reading genealogy to migrate"));
    }
    if (rows.empty()) break;
    posted.clear();
    for (const Row& r : rows) {
      AddPostings(r.id, r.ts, r.unit, r.station, r.machine, r.op, r.model, SplitLots(r.lots), posted);
    }
    if (Status st = WritePostings(db_, posted); !st.ok()) return fail(st);
    after = rows.back().id;
    migrated += static_cast<std::int64_t>(rows.size());
    if (migrated % 1'000'000 == 0)
      spdlog::info("store '{}': schema 11: postings of {} unit events built", path_, migrated);
    if (static_cast<std::int64_t>(rows.size()) < kSlice) break;
  }
  if (Status st = Exec("UPDATE meta SET value='11' WHERE key='schema_version'"); !st.ok()) return fail(st);
  if (Status st = CommitTx(); !st.ok()) return fail(st);
  if (migrated > 0) spdlog::info("store '{}': schema 11: genealogy postings built for {} unit events", path_, migrated);
  return Status::Ok();
}

}  // namespace shewhart::engine

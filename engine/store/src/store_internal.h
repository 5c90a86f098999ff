#pragma once
// What the store's files share, private to engine/store: the prepared-statement wrapper, the
// wall clock in microseconds, the genealogy postings' encoding and scans, scope parsing. Used
// only under the store's mutex (Store is the one owner of the connection).

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shewhart/base/status.h"
#include "shewhart/engine/model/time_format.h"
#include "shewhart/engine/store/postings.h"
#include "shewhart/engine/store/store.h"

namespace shewhart::engine::store_internal {

// The wall clock, in Unix microseconds.
inline std::int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A prepared statement, finalized on scope exit; or a statement prepared once and kept by the
// store (`cached`, prepared on first use), reset and unbound on scope exit instead.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) { rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  Stmt(sqlite3* db, const char* sql, sqlite3_stmt*& cached) : db_(db), borrowed_(true) {
    rc_ = cached ? SQLITE_OK : sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &cached, nullptr);
    stmt_ = cached;
  }
  ~Stmt() {
    if (!borrowed_) {
      sqlite3_finalize(stmt_);
    } else if (stmt_) {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
    }
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  bool ok() const { return rc_ == SQLITE_OK; }
  Status error(const char* what) const {
    return Unavailable(std::string(what) + ": " + sqlite3_errmsg(db_));
  }
  void Bind(int i, const std::string& s) {
    sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
  }
  void Bind(int i, std::string_view s) {
    sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
  }
  void Bind(int i, std::int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void BindNull(int i) { sqlite3_bind_null(stmt_, i); }
  // Binds without copying: `s` must stay valid until the statement is reset or rebound.
  void BindStatic(int i, std::string_view s) {
    sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
  }
  void Bind(int i, double v) { sqlite3_bind_double(stmt_, i, v); }
  double Double(int col) { return sqlite3_column_double(stmt_, col); }
  void BindBlob(int i, const std::string& s) {
    sqlite3_bind_blob(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
  }
  void BindBlobStatic(int i, std::string_view s) {
    sqlite3_bind_blob(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
  }
  int Step() { return sqlite3_step(stmt_); }
  void Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  std::int64_t Int(int col) { return sqlite3_column_int64(stmt_, col); }
  // Valid until the next Step, Reset or column call of another type.
  std::string_view Blob(int col) {
    const void* b = sqlite3_column_blob(stmt_, col);
    return b ? std::string_view(static_cast<const char*>(b), static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string_view();
  }
  std::string Text(int col) {
    const unsigned char* t = sqlite3_column_text(stmt_, col);
    return t ? std::string(reinterpret_cast<const char*>(t), static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)))
             : "";
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
  bool borrowed_ = false;
};

// The lots of a stored record (unit_events.lots: joined by ';'), empty ones left out; the views
// point into `lots`.
inline std::vector<std::string_view> SplitLots(std::string_view lots) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (start < lots.size()) {
    std::size_t end = lots.find(';', start);
    if (end == std::string_view::npos) end = lots.size();
    if (end > start) out.push_back(lots.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// The postings of one genealogy record with id `event`: its station, machine, operator, model
// and each of its lots (empty labels are not posted).
inline void AddPostings(std::int64_t event, std::int64_t ts, std::string_view unit, std::string_view station,
                 std::string_view machine, std::string_view op, std::string_view model,
                 const std::vector<std::string_view>& lots, std::vector<postings::Posting>& out) {
  const postings::Entry e{ts, event, unit};
  if (!station.empty()) out.push_back({postings::Kind::kStation, station, e});
  if (!machine.empty()) out.push_back({postings::Kind::kMachine, machine, e});
  if (!op.empty()) out.push_back({postings::Kind::kOperator, op, e});
  if (!model.empty()) out.push_back({postings::Kind::kModel, model, e});
  for (std::string_view lot : lots) {
    if (!lot.empty()) out.push_back({postings::Kind::kLot, lot, e});
  }
}

// Writes `p` (reordered) as chunks into unit_postings, within the caller's transaction.
inline Status WritePostings(sqlite3* db, std::vector<postings::Posting>& p) {
  if (p.empty()) return Status::Ok();
  Stmt ins(db, "INSERT INTO unit_postings(kind, label, first_ts, last_ts, n, data) VALUES(?,?,?,?,?,?)");
  if (!ins.ok()) return ins.error("preparing genealogy postings insert");
  return postings::BuildChunks(p, [&](const postings::Chunk& c) -> Status {
    ins.Bind(1, static_cast<std::int64_t>(c.kind));
    ins.BindStatic(2, c.label);
    ins.Bind(3, c.first_ts);
    ins.Bind(4, c.last_ts);
    ins.Bind(5, c.n);
    ins.BindBlobStatic(6, c.data);
    if (ins.Step() != SQLITE_DONE) return ins.error("appending genealogy postings");
    ins.Reset();
    return Status::Ok();
  });
}

// Calls f(const postings::Entry&) for each posting of (kind, label) with time in [from, to),
// chunk by chunk in time order (entries in time order within a chunk, not across chunks);
// `q` is prepared with kScanPostingsSql.
constexpr const char* kScanPostingsSql =
    "SELECT first_ts, data FROM unit_postings WHERE kind = ? AND label = ? AND first_ts > ? AND first_ts < ? "
    "ORDER BY first_ts";
template <class F>
inline Status ScanPostings(Stmt& q, postings::Kind kind, const std::string& label, std::int64_t from, std::int64_t to,
                           F&& f) {
  const std::int64_t lowest = from < INT64_MIN + postings::kChunkSpanUs ? INT64_MIN : from - postings::kChunkSpanUs;
  q.Bind(1, static_cast<std::int64_t>(kind));
  q.Bind(2, label);
  q.Bind(3, lowest);
  q.Bind(4, to);
  int rc;
  bool intact = true;
  while ((rc = q.Step()) == SQLITE_ROW) {
    intact &= postings::Decode(q.Blob(1), q.Int(0), [&](const postings::Entry& e) {
      if (e.ts >= to) return false;
      if (e.ts >= from) f(e);
      return true;
    });
  }
  q.Reset();
  if (rc != SQLITE_DONE) return q.error("reading genealogy postings");
  if (!intact) return Internal("store: a genealogy postings chunk of '" + label + "' is malformed");
  return Status::Ok();
}

inline ScopeLabels ParseScope(const std::string& s) {
  ScopeLabels out;
  std::size_t start = 0;
  while (start < s.size()) {
    std::size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    std::string part = s.substr(start, end - start);
    std::size_t eq = part.find('=');
    if (eq != std::string::npos) {
      std::string key = part.substr(0, eq);
      ScopeKey k = key == "machine" ? ScopeKey::kMachine
                   : key == "lot"   ? ScopeKey::kLot
                   : key == "operator" ? ScopeKey::kOperator
                   : key == "model" ? ScopeKey::kModel
                                       : ScopeKey::kStation;
      out.emplace_back(k, part.substr(eq + 1));
    }
    start = end + 1;
  }
  return out;
}

}  // namespace shewhart::engine::store_internal

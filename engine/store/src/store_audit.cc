// The audit chain and retention (Prune).
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

Result<std::pair<std::int64_t, std::string>> Store::AuditAnchor() {
  std::lock_guard lock(mu_);
  std::pair<std::int64_t, std::string> anchor{0, std::string(64, '0')};
  Stmt q(db_, "SELECT key, value FROM meta WHERE key IN ('audit_anchor_seq', 'audit_anchor_hash')");
  if (!q.ok()) return q.error("reading the audit anchor");
  while (q.Step() == SQLITE_ROW) {
    if (q.Text(0) == "audit_anchor_seq") anchor.first = std::stoll(q.Text(1));
    else anchor.second = q.Text(1);
  }
  return anchor;
}

Result<PruneCounts> Store::Prune(const PruneCutoffs& cut) {
  constexpr std::int64_t kChunk = 10000;
  PruneCounts n;
  const std::int64_t genealogy_cut = ToUnixMicros(cut.genealogy);
  // Genealogy, in arrival (rowid) order: a chunk at a time, until one holds nothing older.
  for (std::int64_t after = 0;;) {
    std::lock_guard lock(mu_);
    Stmt q(db_, "SELECT id, ts FROM unit_events WHERE id > ? ORDER BY id LIMIT ?");
    if (!q.ok()) return q.error("reading genealogy to prune");
    q.Bind(1, after);
    q.Bind(2, kChunk);
    std::vector<std::int64_t> old;
    std::int64_t rows = 0;
    while (q.Step() == SQLITE_ROW) {
      ++rows;
      after = q.Int(0);
      if (q.Int(1) < genealogy_cut) old.push_back(q.Int(0));
    }
    if (old.empty()) break;
    SHEWHART_RETURN_IF_ERROR(BeginTx());
    Stmt del(db_, "DELETE FROM unit_events WHERE id = ?");
    if (!del.ok()) {
      (void)RollbackTx();
      return Unavailable(std::string("preparing to prune genealogy: ") + sqlite3_errmsg(db_));
    }
    for (const std::int64_t id : old) {
      del.Bind(1, id);
      if (del.Step() != SQLITE_DONE) {
        Status st = del.error("pruning genealogy");
        (void)RollbackTx();
        return st;
      }
      del.Reset();
    }
    SHEWHART_RETURN_IF_ERROR(CommitTx());
    n.unit_events += static_cast<std::int64_t>(old.size());
    if (rows < kChunk) break;
  }
  // Their postings: chunks wholly older go; a chunk holding both keeps its newer entries (its
  // last entry is within one span of the cut).
  {
    std::lock_guard lock(mu_);
    SHEWHART_RETURN_IF_ERROR(BeginTx());
    auto fail = [&](Status st) {
      (void)RollbackTx();
      return st;
    };
    Stmt del(db_, "DELETE FROM unit_postings WHERE last_ts < ?");
    if (!del.ok()) return fail(del.error("preparing to prune genealogy postings"));
    del.Bind(1, genealogy_cut);
    if (del.Step() != SQLITE_DONE) return fail(del.error("pruning genealogy postings"));
    struct Cut {
      std::int64_t id;
      postings::Chunk chunk;
    };
    std::vector<Cut> cuts;
    {
      Stmt q(db_,
             "SELECT id, first_ts, data FROM unit_postings WHERE last_ts >= ? AND last_ts < ? AND first_ts < ?");
      if (!q.ok()) return fail(q.error("reading genealogy postings to prune"));
      q.Bind(1, genealogy_cut);
      q.Bind(2,
             genealogy_cut > INT64_MAX - postings::kChunkSpanUs ? INT64_MAX : genealogy_cut + postings::kChunkSpanUs);
      q.Bind(3, genealogy_cut);
      int rc;
      while ((rc = q.Step()) == SQLITE_ROW) {
        Cut c{q.Int(0), {}};
        postings::Entry prev;
        const bool intact = postings::Decode(q.Blob(2), q.Int(1), [&](const postings::Entry& e) {
          if (e.ts >= genealogy_cut) postings::Add(e, prev, c.chunk);
          return true;
        });
        if (!intact) return fail(Internal("store: genealogy postings chunk " + std::to_string(c.id) + " is malformed"));
        cuts.push_back(std::move(c));
      }
      if (rc != SQLITE_DONE) return fail(q.error("reading genealogy postings to prune"));
    }
    Stmt up(db_, "UPDATE unit_postings SET first_ts = ?, n = ?, data = ? WHERE id = ?");
    if (!up.ok()) return fail(up.error("preparing to prune genealogy postings"));
    for (const Cut& c : cuts) {
      up.Bind(1, c.chunk.first_ts);
      up.Bind(2, c.chunk.n);
      up.BindBlobStatic(3, c.chunk.data);
      up.Bind(4, c.id);
      if (up.Step() != SQLITE_DONE) return fail(up.error("pruning genealogy postings"));
      up.Reset();
    }
    SHEWHART_RETURN_IF_ERROR(CommitTx());
  }
  // Rejects.
  for (;;) {
    std::lock_guard lock(mu_);
    Stmt del(db_, "DELETE FROM rejects WHERE id IN (SELECT id FROM rejects WHERE stored_ts < ? ORDER BY id LIMIT ?)");
    if (!del.ok()) return del.error("preparing to prune rejects");
    del.Bind(1, ToUnixMicros(cut.rejects));
    del.Bind(2, kChunk);
    if (del.Step() != SQLITE_DONE) return del.error("pruning rejects");
    const int changed = sqlite3_changes(db_);
    n.rejects += changed;
    if (changed < kChunk) break;
  }
  // Resolved alarms whose hold holds nothing, with everything recorded about them.
  {
    std::lock_guard lock(mu_);
    SHEWHART_RETURN_IF_ERROR(BeginTx());
    const char* kSteps[] = {
        "CREATE TEMP TABLE IF NOT EXISTS prune_alarms(id INTEGER PRIMARY KEY, hold_id INTEGER)",
        "DELETE FROM prune_alarms",
        "INSERT INTO prune_alarms SELECT a.id, a.hold_id FROM alarms a WHERE a.state = 'resolved' AND "
        "a.resolved_ts < ?1 AND (a.hold_id = 0 OR NOT EXISTS (SELECT 1 FROM held_units u WHERE u.hold_id = a.hold_id "
        "AND u.state = 'held')) LIMIT 10000",
        "DELETE FROM held_units WHERE hold_id IN (SELECT hold_id FROM prune_alarms)",
        "DELETE FROM dispositions WHERE hold_id IN (SELECT hold_id FROM prune_alarms)",
        "DELETE FROM holds WHERE id IN (SELECT hold_id FROM prune_alarms)",
        "DELETE FROM alarm_actions WHERE alarm_id IN (SELECT id FROM prune_alarms)",
        "DELETE FROM deliveries WHERE state != 'pending' AND alarm_id IN (SELECT id FROM prune_alarms)",
        "DELETE FROM alarms WHERE id IN (SELECT id FROM prune_alarms)",
    };
    for (const char* sql : kSteps) {
      Stmt st(db_, sql);
      if (!st.ok()) {
        Status e = st.error("preparing to prune alarms");
        (void)RollbackTx();
        return e;
      }
      if (std::string_view(sql).find("?1") != std::string_view::npos) st.Bind(1, ToUnixMicros(cut.records));
      if (st.Step() != SQLITE_DONE) {
        Status e = st.error("pruning alarms");
        (void)RollbackTx();
        return e;
      }
      if (std::string_view(sql).rfind("DELETE FROM alarms", 0) == 0) n.alarms = sqlite3_changes(db_);
    }
    SHEWHART_RETURN_IF_ERROR(CommitTx());
  }
  // Audit records appended before the cut-off; the last one deleted anchors the chain.
  {
    std::lock_guard lock(mu_);
    SHEWHART_RETURN_IF_ERROR(BeginTx());
    auto fail = [this](Status st) {
      (void)RollbackTx();
      return st;
    };
    Stmt last(db_, "SELECT seq, hash FROM audit_log WHERE ts < ? ORDER BY seq DESC LIMIT 1");
    if (!last.ok()) return fail(last.error("reading the audit log to prune"));
    last.Bind(1, ToUnixMicros(cut.records));
    if (last.Step() == SQLITE_ROW) {
      n.anchor_seq = last.Int(0);
      n.anchor_hash = last.Text(1);
      Stmt del(db_, "DELETE FROM audit_log WHERE seq <= ?");
      Stmt meta(db_, "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)");
      if (!del.ok() || !meta.ok())
        return fail(Unavailable(std::string("preparing to prune the audit log: ") + sqlite3_errmsg(db_)));
      del.Bind(1, n.anchor_seq);
      if (del.Step() != SQLITE_DONE) return fail(del.error("pruning the audit log"));
      n.audit_records = sqlite3_changes(db_);
      meta.Bind(1, std::string("audit_anchor_seq"));
      meta.Bind(2, std::to_string(n.anchor_seq));
      if (meta.Step() != SQLITE_DONE) return fail(meta.error("recording the audit anchor"));
      meta.Reset();
      meta.Bind(1, std::string("audit_anchor_hash"));
      meta.Bind(2, n.anchor_hash);
      if (meta.Step() != SQLITE_DONE) return fail(meta.error("recording the audit anchor"));
    }
    SHEWHART_RETURN_IF_ERROR(CommitTx());
  }
  return n;
}

Result<AuditRecord> Store::AppendAudit(AuditRecord r) {
  std::lock_guard lock(mu_);
  // IMMEDIATE takes the write lock before the last hash is read: another process appending at
  // the same time (`shewhart limits recalc` beside `run`) waits (busy timeout) instead of
  // chaining onto the same predecessor.
  SHEWHART_RETURN_IF_ERROR(BeginTx());
  {
    Stmt last(db_, "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", cached_[kLastAudit]);
    if (!last.ok()) {
      Status st = last.error("reading the last audit record");
      (void)RollbackTx();
      return st;
    }
    const int rc = last.Step();
    if (rc == SQLITE_ROW) {
      r.seq = last.Int(0) + 1;
      r.prev_hash = last.Text(1);
    } else if (rc == SQLITE_DONE) {
      r.seq = 1;
      r.prev_hash = std::string(kAuditGenesisHash);
    } else {
      Status st = last.error("reading the last audit record");
      (void)RollbackTx();
      return st;
    }
  }
  r.hash = AuditHash(r.prev_hash, r);
  {
    Stmt ins(db_,
             "INSERT INTO audit_log(seq, ts, kind, subject, actor, body, prev_hash, hash) VALUES(?,?,?,?,?,?,?,?)",
             cached_[kInsertAudit]);
    if (!ins.ok()) {
      Status st = ins.error("preparing audit insert");
      (void)RollbackTx();
      return st;
    }
    ins.Bind(1, r.seq);
    ins.Bind(2, ToUnixMicros(r.ts));
    ins.Bind(3, r.kind);
    ins.Bind(4, r.subject);
    ins.Bind(5, r.actor);
    ins.Bind(6, r.body);
    ins.Bind(7, r.prev_hash);
    ins.Bind(8, r.hash);
    if (ins.Step() != SQLITE_DONE) {
      Status st = ins.error("appending an audit record");
      (void)RollbackTx();
      return st;
    }
  }
  if (Status st = CommitTx(); !st.ok()) {
    (void)RollbackTx();
    return st;
  }
  return r;
}

Result<std::vector<AuditRecord>> Store::ReadAudit(std::int64_t after_seq, int limit) {
  std::lock_guard lock(mu_);
  Stmt q(db_,
         "SELECT seq, ts, kind, subject, actor, body, prev_hash, hash FROM audit_log WHERE seq > ? ORDER BY seq "
         "LIMIT ?");
  if (!q.ok()) return q.error("reading the audit log");
  q.Bind(1, after_seq);
  q.Bind(2, static_cast<std::int64_t>(limit));
  std::vector<AuditRecord> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    AuditRecord r;
    r.seq = q.Int(0);
    r.ts = FromUnixMicros(q.Int(1));
    r.kind = q.Text(2);
    r.subject = q.Text(3);
    r.actor = q.Text(4);
    r.body = q.Text(5);
    r.prev_hash = q.Text(6);
    r.hash = q.Text(7);
    out.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return q.error("reading the audit log");
  return out;
}

}  // namespace shewhart::engine

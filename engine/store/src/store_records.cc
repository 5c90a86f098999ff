// Rejects and limits versions.
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

Status Store::InsertReject(const RejectRecord& r) {
  std::lock_guard lock(mu_);
  Stmt ins(db_,
           "INSERT INTO rejects(source, position, reason, field, message, raw, raw_truncated, stored_ts) "
           "VALUES(?,?,?,?,?,?,?,?)");
  if (!ins.ok()) return ins.error("preparing reject insert");
  ins.Bind(1, r.source);
  ins.Bind(2, r.position);
  ins.Bind(3, RejectReasonName(r.reason));
  ins.Bind(4, r.field);
  ins.Bind(5, r.message);
  ins.BindBlob(6, r.raw);
  ins.Bind(7, static_cast<std::int64_t>(r.raw_truncated));
  ins.Bind(8, NowMicros());
  if (ins.Step() != SQLITE_DONE) return ins.error("storing a reject record");
  return Status::Ok();
}

Result<std::vector<RejectRecord>> Store::ListRejects(int limit, std::int64_t before_id) {
  std::lock_guard lock(mu_);
  Stmt q(
      db_,
      "SELECT source, position, reason, field, message, raw, raw_truncated, id FROM rejects WHERE (?1 = 0 OR id < ?1) "
      "ORDER BY id DESC LIMIT ?2");
  if (!q.ok()) return q.error("listing rejects");
  q.Bind(1, before_id);
  q.Bind(2, static_cast<std::int64_t>(limit));
  std::vector<RejectRecord> out;
  while (q.Step() == SQLITE_ROW) {
    RejectRecord r;
    r.source = q.Text(0);
    r.position = q.Int(1);
    r.id = q.Int(7);
    std::string reason = q.Text(2);
    r.reason = RejectReason::kMalformed;
    for (int i = 0; i < kRejectReasonCount; ++i) {
      if (RejectReasonName(static_cast<RejectReason>(i)) == reason) r.reason = static_cast<RejectReason>(i);
    }
    r.field = q.Text(3);
    r.message = q.Text(4);
    r.raw = q.Text(5);
    r.raw_truncated = q.Int(6) != 0;
    out.push_back(std::move(r));
  }
  return out;
}

Result<std::int64_t> Store::InsertLimitVersion(const LimitVersion& v) {
  std::lock_guard lock(mu_);
  Stmt q(db_,
         "INSERT INTO limit_versions(characteristic, effective_ts, recorded_ts, origin, center, sigma, points, user, "
         "reason) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!q.ok()) return q.error("recording a limits version");
  q.Bind(1, v.characteristic);
  q.Bind(2, static_cast<std::int64_t>(v.effective.time_since_epoch().count()));
  q.Bind(3, static_cast<std::int64_t>(v.recorded.time_since_epoch().count()));
  q.Bind(4, v.origin);
  q.Bind(5, v.center);
  q.Bind(6, v.sigma);
  q.Bind(7, v.points);
  q.Bind(8, v.user);
  q.Bind(9, v.reason);
  if (q.Step() != SQLITE_DONE) return q.error("recording a limits version");
  return static_cast<std::int64_t>(sqlite3_last_insert_rowid(db_));
}

Result<std::vector<LimitVersion>> Store::ListLimitVersions(const std::string& characteristic, std::int64_t after_id) {
  std::lock_guard lock(mu_);
  Stmt q(db_,
         "SELECT id, characteristic, effective_ts, recorded_ts, origin, center, sigma, points, user, reason, "
         "(SELECT COUNT(*) FROM limit_versions w WHERE w.characteristic = v.characteristic AND w.id <= v.id) "
         "FROM limit_versions v WHERE (? = '' OR characteristic = ?) AND id > ? ORDER BY id");
  if (!q.ok()) return q.error("listing limits versions");
  q.Bind(1, characteristic);
  q.Bind(2, characteristic);
  q.Bind(3, after_id);
  std::vector<LimitVersion> out;
  while (q.Step() == SQLITE_ROW) {
    LimitVersion v;
    v.id = q.Int(0);
    v.characteristic = q.Text(1);
    v.effective = EventTime(std::chrono::microseconds(q.Int(2)));
    v.recorded = EventTime(std::chrono::microseconds(q.Int(3)));
    v.origin = q.Text(4);
    v.center = q.Double(5);
    v.sigma = q.Double(6);
    v.points = q.Int(7);
    v.user = q.Text(8);
    v.reason = q.Text(9);
    v.version = q.Int(10);
    out.push_back(std::move(v));
  }
  return out;
}

Result<std::int64_t> Store::CountRejects() {
  std::lock_guard lock(mu_);
  Stmt q(db_, "SELECT COUNT(*) FROM rejects");
  if (!q.ok() || q.Step() != SQLITE_ROW) return q.error("counting rejects");
  return q.Int(0);
}

}  // namespace shewhart::engine

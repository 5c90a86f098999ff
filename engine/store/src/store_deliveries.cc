// The outbox's deliveries.
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

// ---------------------------------------------------------------------------------------------
// Outbox deliveries.

Result<std::int64_t> Store::InsertDelivery(const DeliveryRecord& d) {
  std::lock_guard lock(mu_);
  Stmt ins(
      db_,
      "INSERT OR IGNORE INTO deliveries(alarm_id, tier, action, idempotency_key, payload, attempts, next_attempt_ts, "
      "state, last_error, created_ts, updated_ts) VALUES(?,?,?,?,?,?,?,?,?,?,?)",
      cached_[kInsertDelivery]);
  if (!ins.ok()) return ins.error("preparing delivery insert");
  ins.Bind(1, d.alarm_id);
  ins.Bind(2, static_cast<std::int64_t>(d.tier));
  ins.Bind(3, d.action);
  ins.Bind(4, d.idempotency_key);
  ins.Bind(5, d.payload);
  ins.Bind(6, static_cast<std::int64_t>(d.attempts));
  ins.Bind(7, ToUnixMicros(d.next_attempt));
  ins.Bind(8, d.state);
  ins.Bind(9, d.last_error);
  ins.Bind(10, ToUnixMicros(d.created));
  ins.Bind(11, ToUnixMicros(d.updated));
  if (ins.Step() != SQLITE_DONE) return ins.error("storing a delivery");
  if (sqlite3_changes(db_) == 0) return std::int64_t{0};
  return static_cast<std::int64_t>(sqlite3_last_insert_rowid(db_));
}

Result<bool> Store::HasDelivery(const std::string& idempotency_key) {
  std::lock_guard lock(mu_);
  Stmt q(db_, "SELECT 1 FROM deliveries WHERE idempotency_key = ?");
  if (!q.ok()) return q.error("looking up a delivery");
  q.Bind(1, idempotency_key);
  const int rc = q.Step();
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return q.error("looking up a delivery");
  return rc == SQLITE_ROW;
}

Status Store::UpdateDelivery(const DeliveryRecord& d) {
  std::lock_guard lock(mu_);
  Stmt up(db_, "UPDATE deliveries SET attempts=?, next_attempt_ts=?, state=?, last_error=?, updated_ts=? WHERE id=?");
  if (!up.ok()) return up.error("preparing delivery update");
  up.Bind(1, static_cast<std::int64_t>(d.attempts));
  up.Bind(2, ToUnixMicros(d.next_attempt));
  up.Bind(3, d.state);
  up.Bind(4, d.last_error);
  up.Bind(5, ToUnixMicros(d.updated));
  up.Bind(6, d.id);
  if (up.Step() != SQLITE_DONE) return up.error("updating a delivery");
  if (sqlite3_changes(db_) != 1) return NotFound("delivery " + std::to_string(d.id) + " does not exist");
  return Status::Ok();
}

Result<std::vector<DeliveryRecord>> Store::ListDeliveries(const std::string& state, int limit, bool oldest_first,
                                                          std::int64_t before_id) {
  std::lock_guard lock(mu_);
  const std::string sql =
      std::string(
          "SELECT id, alarm_id, tier, action, idempotency_key, payload, attempts, next_attempt_ts, state, "
          "last_error, created_ts, updated_ts FROM deliveries WHERE (?1 = '' OR state = ?1) AND (?3 = 0 OR id ") +
      (oldest_first ? ">" : "<") + " ?3) ORDER BY id " + (oldest_first ? "ASC" : "DESC") + " LIMIT ?2";
  Stmt q(db_, sql.c_str());
  if (!q.ok()) return q.error("listing deliveries");
  q.Bind(1, state);
  q.Bind(2, static_cast<std::int64_t>(limit));
  q.Bind(3, before_id);
  std::vector<DeliveryRecord> out;
  while (q.Step() == SQLITE_ROW) {
    DeliveryRecord d;
    d.id = q.Int(0);
    d.alarm_id = q.Int(1);
    d.tier = static_cast<int>(q.Int(2));
    d.action = q.Text(3);
    d.idempotency_key = q.Text(4);
    d.payload = q.Text(5);
    d.attempts = static_cast<int>(q.Int(6));
    d.next_attempt = FromUnixMicros(q.Int(7));
    d.state = q.Text(8);
    d.last_error = q.Text(9);
    d.created = FromUnixMicros(q.Int(10));
    d.updated = FromUnixMicros(q.Int(11));
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace shewhart::engine

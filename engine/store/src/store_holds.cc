// Holds, held units and dispositions.
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

Result<std::int64_t> Store::CreateHold(const HoldRecord& h) {
  std::lock_guard lock(mu_);
  Stmt ins(db_, "INSERT INTO holds(alarm_id, characteristic, scope, from_ts, state) VALUES(?,?,?,?,?)",
           cached_[kInsertHold]);
  if (!ins.ok()) return ins.error("preparing hold insert");
  ins.Bind(1, h.alarm_id);
  ins.Bind(2, h.characteristic);
  ins.Bind(3, FormatScope(h.scope));
  ins.Bind(4, ToUnixMicros(h.from_ts));
  ins.Bind(5, h.state);
  if (ins.Step() != SQLITE_DONE) return ins.error("storing a hold");
  return static_cast<std::int64_t>(sqlite3_last_insert_rowid(db_));
}

Result<std::vector<HeldUnit>> Store::AddHeldUnits(std::int64_t hold_id, const std::vector<HeldUnit>& units,
                                                  std::vector<bool>* first_hold) {
  std::lock_guard lock(mu_);
  std::vector<HeldUnit> added;
  if (first_hold) first_hold->clear();
  SHEWHART_RETURN_IF_ERROR(BeginTx());
  Stmt ins(db_, "INSERT OR IGNORE INTO held_units(hold_id, serial, state, since) VALUES(?,?,'held',?)",
           cached_[kInsertHeldUnit]);
  // Through the held_units_serial index.
  Stmt other(db_, "SELECT 1 FROM held_units WHERE serial = ? AND hold_id <> ? LIMIT 1", cached_[kOtherHoldOfUnit]);
  if (!ins.ok() || !other.ok()) {
    (void)RollbackTx();
    return ins.ok() ? other.error("preparing held-unit lookup") : ins.error("preparing held-unit insert");
  }
  for (const auto& u : units) {
    ins.Bind(1, hold_id);
    ins.Bind(2, u.serial);
    ins.Bind(3, ToUnixMicros(u.since));
    if (ins.Step() != SQLITE_DONE) {
      Status st = ins.error("adding a unit to a hold");
      (void)RollbackTx();
      return st;
    }
    if (sqlite3_changes(db_) == 1) {
      HeldUnit h = u;
      h.hold_id = hold_id;
      added.push_back(std::move(h));
      if (first_hold) {
        other.Bind(1, u.serial);
        other.Bind(2, hold_id);
        const int rc = other.Step();
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
          Status st = other.error("looking up the other holds of a unit");
          (void)RollbackTx();
          return st;
        }
        first_hold->push_back(rc == SQLITE_DONE);
        other.Reset();
      }
    }
    ins.Reset();
  }
  SHEWHART_RETURN_IF_ERROR(CommitTx());
  return added;
}

namespace {

constexpr const char* kHoldColumns =
    "SELECT h.id, h.alarm_id, h.characteristic, h.scope, h.from_ts, h.state, "
    "(SELECT COUNT(*) FROM held_units u WHERE u.hold_id = h.id), "
    "(SELECT COUNT(*) FROM held_units u WHERE u.hold_id = h.id AND u.state = 'held') FROM holds h";

HoldRecord ReadHold(Stmt& q) {
  HoldRecord h;
  h.id = q.Int(0);
  h.alarm_id = q.Int(1);
  h.characteristic = q.Text(2);
  h.scope = ParseScope(q.Text(3));
  h.from_ts = FromUnixMicros(q.Int(4));
  h.state = q.Text(5);
  h.units = q.Int(6);
  h.held = q.Int(7);
  return h;
}

}  // namespace

Result<HoldCounts> Store::CountHoldStates() {
  std::lock_guard lock(mu_);
  HoldCounts out;
  for (auto [sql, into] : {std::pair{"SELECT state, COUNT(*) FROM holds GROUP BY state", &out.holds},
                           std::pair{"SELECT state, COUNT(*) FROM held_units GROUP BY state", &out.units}}) {
    Stmt q(db_, sql);
    if (!q.ok()) return q.error("counting holds");
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) (*into)[q.Text(0)] = q.Int(1);
    if (rc != SQLITE_DONE) return q.error("counting holds");
  }
  return out;
}

Result<std::vector<HoldRecord>> Store::ListHolds() {
  std::lock_guard lock(mu_);
  Stmt q(db_, (std::string(kHoldColumns) + " ORDER BY h.id").c_str());
  if (!q.ok()) return q.error("listing holds");
  std::vector<HoldRecord> out;
  while (q.Step() == SQLITE_ROW) out.push_back(ReadHold(q));
  return out;
}

Result<std::vector<HoldRecord>> Store::ListHoldsPage(std::int64_t before_id, int limit) {
  std::lock_guard lock(mu_);
  Stmt q(db_, (std::string(kHoldColumns) + " WHERE (?1 = 0 OR h.id < ?1) ORDER BY h.id DESC LIMIT ?2").c_str());
  if (!q.ok()) return q.error("listing holds");
  q.Bind(1, before_id);
  q.Bind(2, static_cast<std::int64_t>(limit));
  std::vector<HoldRecord> out;
  while (q.Step() == SQLITE_ROW) out.push_back(ReadHold(q));
  return out;
}

Result<std::vector<HeldUnit>> Store::HeldUnitsBySerial(std::int64_t hold_id, const std::string& after_serial,
                                                       int limit) {
  std::lock_guard lock(mu_);
  Stmt q(db_,
         "SELECT hold_id, serial, state, since FROM held_units WHERE hold_id = ?1 AND serial > ?2 ORDER BY serial "
         "LIMIT ?3");
  if (!q.ok()) return q.error("listing held units");
  q.Bind(1, hold_id);
  q.Bind(2, after_serial);
  q.Bind(3, static_cast<std::int64_t>(limit));
  std::vector<HeldUnit> out;
  while (q.Step() == SQLITE_ROW) out.push_back(HeldUnit{q.Int(0), q.Text(1), q.Text(2), FromUnixMicros(q.Int(3))});
  return out;
}

Result<std::vector<HeldUnit>> Store::HeldUnitsInJoinOrder(std::int64_t hold_id, std::int64_t offset,
                                                          std::int64_t limit) {
  std::lock_guard lock(mu_);
  Stmt q(db_, "SELECT hold_id, serial, state, since FROM held_units WHERE hold_id = ? ORDER BY rowid LIMIT ? OFFSET ?");
  if (!q.ok()) return q.error("listing held units");
  q.Bind(1, hold_id);
  q.Bind(2, limit);
  q.Bind(3, offset);
  std::vector<HeldUnit> out;
  while (q.Step() == SQLITE_ROW) out.push_back(HeldUnit{q.Int(0), q.Text(1), q.Text(2), FromUnixMicros(q.Int(3))});
  return out;
}

Result<HoldRecord> Store::GetHold(std::int64_t id) {
  std::lock_guard lock(mu_);
  Stmt q(db_, (std::string(kHoldColumns) + " WHERE h.id = ?").c_str());
  if (!q.ok()) return q.error("reading a hold");
  q.Bind(1, id);
  if (q.Step() != SQLITE_ROW) return NotFound("no hold " + std::to_string(id));
  return ReadHold(q);
}

Result<std::vector<HeldUnit>> Store::HoldsOfUnit(const std::string& serial) {
  std::lock_guard lock(mu_);
  Stmt q(db_, "SELECT hold_id, serial, state, since FROM held_units WHERE serial = ? ORDER BY hold_id");
  if (!q.ok()) return q.error("reading the holds of a unit");
  q.Bind(1, serial);
  std::vector<HeldUnit> out;
  while (q.Step() == SQLITE_ROW) out.push_back(HeldUnit{q.Int(0), q.Text(1), q.Text(2), FromUnixMicros(q.Int(3))});
  return out;
}

Result<std::vector<Disposition>> Store::Dispose(const std::vector<std::string>& serials, const Disposition& d) {
  std::lock_guard lock(mu_);
  // IMMEDIATE: the states checked below cannot change before they are written.
  SHEWHART_RETURN_IF_ERROR(BeginTx());
  auto fail = [this](Status st) {
    (void)RollbackTx();
    return st;
  };
  Stmt state(db_, "SELECT state FROM held_units WHERE hold_id = ? AND serial = ?");
  Stmt update(db_, "UPDATE held_units SET state = ? WHERE hold_id = ? AND serial = ?");
  Stmt ins(db_,
           "INSERT INTO dispositions(hold_id, serial, state, ts, user, reason, meaning, note) VALUES(?,?,?,?,?,?,?,?)");
  if (!state.ok() || !update.ok() || !ins.ok())
    return fail(Unavailable(std::string("preparing a disposition: ") + sqlite3_errmsg(db_)));
  std::vector<Disposition> out;
  out.reserve(serials.size());
  for (const std::string& serial : serials) {
    state.Bind(1, d.hold_id);
    state.Bind(2, serial);
    const int rc = state.Step();
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return fail(state.error("reading a held unit"));
    if (rc == SQLITE_DONE) return fail(NotFound("unit '" + serial + "' is not in hold " + std::to_string(d.hold_id)));
    const std::string now = state.Text(0);
    state.Reset();
    if (now != "held") {
      return fail(FailedPrecondition("unit '" + serial + "' of hold " + std::to_string(d.hold_id) +
                                     " is no longer held: it was " + now));
    }
    update.Bind(1, d.state);
    update.Bind(2, d.hold_id);
    update.Bind(3, serial);
    if (update.Step() != SQLITE_DONE) return fail(update.error("disposing of a unit"));
    update.Reset();
    ins.Bind(1, d.hold_id);
    ins.Bind(2, serial);
    ins.Bind(3, d.state);
    ins.Bind(4, ToUnixMicros(d.ts));
    ins.Bind(5, d.user);
    ins.Bind(6, d.reason);
    ins.Bind(7, d.meaning);
    ins.Bind(8, d.note);
    if (ins.Step() != SQLITE_DONE) return fail(ins.error("recording a disposition"));
    ins.Reset();
    Disposition r = d;
    r.serial = serial;
    r.id = static_cast<std::int64_t>(sqlite3_last_insert_rowid(db_));
    out.push_back(std::move(r));
  }
  if (Status st = CloseHoldIfDoneLocked(d.hold_id); !st.ok()) return fail(st);
  SHEWHART_RETURN_IF_ERROR(CommitTx());
  return out;
}

Result<bool> Store::CloseHoldIfDone(std::int64_t hold_id) {
  std::lock_guard lock(mu_);
  SHEWHART_RETURN_IF_ERROR(CloseHoldIfDoneLocked(hold_id));
  return sqlite3_changes(db_) > 0;
}

Status Store::CloseHoldIfDoneLocked(std::int64_t hold_id) {
  Stmt close(db_,
             "UPDATE holds SET state = 'closed' WHERE id = ?1 AND state = 'open' "
             "AND (SELECT state FROM alarms WHERE id = holds.alarm_id) = 'resolved' "
             "AND NOT EXISTS (SELECT 1 FROM held_units WHERE hold_id = ?1 AND state = 'held')");
  if (!close.ok()) return close.error("preparing to close a hold");
  close.Bind(1, hold_id);
  if (close.Step() != SQLITE_DONE) return close.error("closing a hold");
  return Status::Ok();
}

Result<std::vector<Disposition>> Store::ListDispositions(std::int64_t hold_id, std::int64_t after_id, int limit) {
  std::lock_guard lock(mu_);
  Stmt q(db_,
         "SELECT id, hold_id, serial, state, ts, user, reason, meaning, note FROM dispositions WHERE hold_id = ?1 "
         "AND id > ?2 ORDER BY id LIMIT ?3");
  if (!q.ok()) return q.error("listing dispositions");
  q.Bind(1, hold_id);
  q.Bind(2, after_id);
  q.Bind(3, static_cast<std::int64_t>(limit > 0 ? limit : -1));
  std::vector<Disposition> out;
  while (q.Step() == SQLITE_ROW) {
    out.push_back(Disposition{q.Int(0), q.Int(1), q.Text(2), q.Text(3), FromUnixMicros(q.Int(4)), q.Text(5), q.Text(6),
                              q.Text(7), q.Text(8)});
  }
  return out;
}

Result<std::vector<HeldUnit>> Store::ListHeldUnits(std::int64_t hold_id) {
  std::lock_guard lock(mu_);
  Stmt q(db_,
         hold_id
             ? "SELECT hold_id, serial, state, since FROM held_units WHERE hold_id=? ORDER BY hold_id, since, serial"
             : "SELECT hold_id, serial, state, since FROM held_units ORDER BY hold_id, since, serial");
  if (!q.ok()) return q.error("listing held units");
  if (hold_id) q.Bind(1, hold_id);
  std::vector<HeldUnit> out;
  while (q.Step() == SQLITE_ROW) {
    out.push_back(HeldUnit{q.Int(0), q.Text(1), q.Text(2), FromUnixMicros(q.Int(3))});
  }
  return out;
}

}  // namespace shewhart::engine

// Alarms, their actions (acknowledgements, resolutions) and silences.
#include "shewhart/engine/store/store.h"

#include "store_internal.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
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
void BindAlarm(Stmt& s, const AlarmRecord& a) {
  s.Bind(1, a.characteristic);
  s.Bind(2, a.policy);
  s.Bind(3, a.state);
  s.Bind(4, static_cast<std::int64_t>(a.tier));
  s.Bind(5, a.rule);
  s.Bind(6, a.chart);
  s.Bind(7, ToUnixMicros(a.opened_ts));
  s.Bind(8, ToUnixMicros(a.last_signal_ts));
  s.Bind(9, ToUnixMicros(a.window_start));
  s.Bind(10, a.signals);
  s.Bind(11, FormatScope(a.scope));
  s.Bind(12, a.hold_id);
  s.Bind(13, ToUnixMicros(a.resolved_ts));
  s.Bind(14, ToUnixMicros(a.tier_reached));
}
}  // namespace

Result<std::int64_t> Store::InsertAlarm(const AlarmRecord& a) {
  std::lock_guard lock(mu_);
  // A NULL id is the next rowid (alarms.id is the INTEGER PRIMARY KEY).
  Stmt ins(db_,
           "INSERT INTO alarms(characteristic, policy, state, tier, rule, chart, opened_ts, last_signal_ts, "
           "window_start, signals, scope, hold_id, resolved_ts, tier_reached_ts, id) "
           "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
           cached_[kInsertAlarm]);
  if (!ins.ok()) return ins.error("preparing alarm insert");
  BindAlarm(ins, a);
  if (a.id > 0) {
    ins.Bind(15, a.id);
  } else {
    ins.BindNull(15);
  }
  if (ins.Step() != SQLITE_DONE) return ins.error("storing an alarm");
  return static_cast<std::int64_t>(sqlite3_last_insert_rowid(db_));
}

Result<std::int64_t> Store::MaxAlarmId() {
  std::lock_guard lock(mu_);
  Stmt q(db_, "SELECT COALESCE(MAX(id), 0) FROM alarms");
  if (!q.ok() || q.Step() != SQLITE_ROW) return q.error("reading the highest alarm id");
  return q.Int(0);
}

Result<std::int64_t> Store::ReservedAlarmIds() { return MetaCount("alarm_ids_reserved"); }

Status Store::ReserveAlarmIds(std::int64_t up_to) { return SetMetaCount("alarm_ids_reserved", up_to); }

Result<std::int64_t> Store::MetaCount(const std::string& key) {
  std::lock_guard lock(mu_);
  Stmt q(db_, "SELECT value FROM meta WHERE key = ?");
  if (!q.ok()) return q.error(("reading meta " + key).c_str());
  q.Bind(1, key);
  const int rc = q.Step();
  if (rc == SQLITE_DONE) return std::int64_t{0};
  if (rc != SQLITE_ROW) return q.error(("reading meta " + key).c_str());
  const std::string text = q.Text(0);
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < 0) {
    return Internal("meta " + key + " is not a count: '" + text + "'");
  }
  return v;
}

Status Store::SetMetaCount(const std::string& key, std::int64_t value) {
  std::lock_guard lock(mu_);
  Stmt up(db_, "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)");
  if (!up.ok()) return up.error(("preparing meta " + key).c_str());
  up.Bind(1, key);
  up.Bind(2, std::to_string(value));
  if (up.Step() != SQLITE_DONE) return up.error(("writing meta " + key).c_str());
  return Status::Ok();
}

Status Store::UpdateAlarm(const AlarmRecord& a) {
  std::lock_guard lock(mu_);
  Stmt up(
      db_,
      "UPDATE alarms SET characteristic=?, policy=?, state=?, tier=?, rule=?, chart=?, opened_ts=?, last_signal_ts=?, "
      "window_start=?, signals=?, scope=?, hold_id=?, resolved_ts=?, tier_reached_ts=? WHERE id=?",
      cached_[kUpdateAlarm]);
  if (!up.ok()) return up.error("preparing alarm update");
  BindAlarm(up, a);
  up.Bind(15, a.id);
  if (up.Step() != SQLITE_DONE) return up.error("updating an alarm");
  if (sqlite3_changes(db_) != 1) return NotFound("alarm " + std::to_string(a.id) + " does not exist");
  return Status::Ok();
}

namespace {
// An alarm from a row of (id, characteristic, policy, state, tier, rule, chart, opened_ts,
// last_signal_ts, window_start, signals, scope, hold_id, resolved_ts, tier_reached_ts).
AlarmRecord ReadAlarm(Stmt& q) {
  AlarmRecord a;
  a.id = q.Int(0);
  a.characteristic = q.Text(1);
  a.policy = q.Text(2);
  a.state = q.Text(3);
  a.tier = static_cast<int>(q.Int(4));
  a.rule = q.Text(5);
  a.chart = q.Text(6);
  a.opened_ts = FromUnixMicros(q.Int(7));
  a.last_signal_ts = FromUnixMicros(q.Int(8));
  a.window_start = FromUnixMicros(q.Int(9));
  a.signals = q.Int(10);
  a.scope = ParseScope(q.Text(11));
  a.hold_id = q.Int(12);
  a.resolved_ts = FromUnixMicros(q.Int(13));
  a.tier_reached = FromUnixMicros(q.Int(14));
  return a;
}
}  // namespace

Result<std::vector<AlarmRecord>> Store::ListAlarms(bool open_only, int limit, std::int64_t before_id) {
  std::lock_guard lock(mu_);
  Stmt q(
      db_,
      open_only
          ? "SELECT id, characteristic, policy, state, tier, rule, chart, opened_ts, last_signal_ts, "
            "window_start, signals, scope, hold_id, resolved_ts, tier_reached_ts FROM alarms WHERE state != 'resolved' "
            "AND (?2 = 0 OR id < ?2) ORDER BY id DESC LIMIT ?1"
          : "SELECT id, characteristic, policy, state, tier, rule, chart, opened_ts, last_signal_ts, "
            "window_start, signals, scope, hold_id, resolved_ts, tier_reached_ts FROM alarms "
            "WHERE (?2 = 0 OR id < ?2) ORDER BY id DESC LIMIT ?1");
  if (!q.ok()) return q.error("listing alarms");
  q.Bind(1, static_cast<std::int64_t>(limit));
  q.Bind(2, before_id);
  std::vector<AlarmRecord> out;
  while (q.Step() == SQLITE_ROW) out.push_back(ReadAlarm(q));
  return out;
}

Result<AlarmRecord> Store::GetAlarm(std::int64_t id) {
  std::lock_guard lock(mu_);
  Stmt q(db_, "SELECT id, characteristic, policy, state, tier, rule, chart, opened_ts, last_signal_ts, "
              "window_start, signals, scope, hold_id, resolved_ts, tier_reached_ts FROM alarms WHERE id = ?");
  if (!q.ok()) return q.error("reading an alarm");
  q.Bind(1, id);
  if (q.Step() != SQLITE_ROW) return NotFound("no alarm " + std::to_string(id));
  return ReadAlarm(q);
}

Status Store::InsertAlarmAction(const AlarmAction& a) {
  std::lock_guard lock(mu_);
  Stmt ins(db_, "INSERT INTO alarm_actions(alarm_id, kind, ts, user, cause, action, note) VALUES(?,?,?,?,?,?,?)",
           cached_[kInsertAlarmAction]);
  if (!ins.ok()) return ins.error("recording an alarm action");
  ins.Bind(1, a.alarm_id);
  ins.Bind(2, a.kind);
  ins.Bind(3, ToUnixMicros(a.ts));
  ins.Bind(4, a.user);
  ins.Bind(5, a.cause);
  ins.Bind(6, a.action);
  ins.Bind(7, a.note);
  if (ins.Step() != SQLITE_DONE) return ins.error("recording an alarm action");
  return Status::Ok();
}

Result<std::vector<AlarmAction>> Store::ListAlarmActions(std::int64_t alarm_id) {
  std::lock_guard lock(mu_);
  Stmt q(db_, "SELECT alarm_id, kind, ts, user, cause, action, note FROM alarm_actions WHERE alarm_id = ? ORDER BY id");
  if (!q.ok()) return q.error("listing alarm actions");
  q.Bind(1, alarm_id);
  std::vector<AlarmAction> out;
  while (q.Step() == SQLITE_ROW) {
    AlarmAction a;
    a.alarm_id = q.Int(0);
    a.kind = q.Text(1);
    a.ts = FromUnixMicros(q.Int(2));
    a.user = q.Text(3);
    a.cause = q.Text(4);
    a.action = q.Text(5);
    a.note = q.Text(6);
    out.push_back(std::move(a));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Silences.

namespace {
// Matchers as a JSON object text, in their order: {"station":"st2","rule":"nelson.1"}.
std::string MatchersText(const std::vector<std::pair<std::string, std::string>>& matchers) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const auto& [k, v] : matchers) j[k] = v;
  return j.dump(-1, ' ', false, kReplaceInvalidUtf8);
}

std::vector<std::pair<std::string, std::string>> ParseMatchers(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  auto j = nlohmann::ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.value().is_string()) out.emplace_back(it.key(), it.value().get<std::string>());
  }
  return out;
}

constexpr const char* kSilenceColumns =
    "id, matchers, starts_ts, ends_ts, created_ts, created_by, comment, expired_ts, expired_by";

SilenceRecord ReadSilence(Stmt& q) {
  SilenceRecord s;
  s.id = q.Int(0);
  s.matchers = ParseMatchers(q.Text(1));
  s.starts = FromUnixMicros(q.Int(2));
  s.ends = FromUnixMicros(q.Int(3));
  s.created = FromUnixMicros(q.Int(4));
  s.created_by = q.Text(5);
  s.comment = q.Text(6);
  s.expired = FromUnixMicros(q.Int(7));
  s.expired_by = q.Text(8);
  return s;
}
}  // namespace

Result<std::int64_t> Store::InsertSilence(const SilenceRecord& s) {
  std::lock_guard lock(mu_);
  Stmt ins(
      db_,
      "INSERT INTO silences(matchers, starts_ts, ends_ts, created_ts, created_by, comment, expired_ts, expired_by) "
      "VALUES(?,?,?,?,?,?,?,?)");
  if (!ins.ok()) return ins.error("preparing silence insert");
  ins.Bind(1, MatchersText(s.matchers));
  ins.Bind(2, ToUnixMicros(s.starts));
  ins.Bind(3, ToUnixMicros(s.ends));
  ins.Bind(4, ToUnixMicros(s.created));
  ins.Bind(5, s.created_by);
  ins.Bind(6, s.comment);
  ins.Bind(7, ToUnixMicros(s.expired));
  ins.Bind(8, s.expired_by);
  if (ins.Step() != SQLITE_DONE) return ins.error("storing a silence");
  return static_cast<std::int64_t>(sqlite3_last_insert_rowid(db_));
}

Result<std::vector<SilenceRecord>> Store::ListSilences(int limit, std::optional<EventTime> active_at) {
  std::lock_guard lock(mu_);
  const std::string sql =
      std::string("SELECT ") + kSilenceColumns + " FROM silences" +
      (active_at ? " WHERE ends_ts > ? AND starts_ts <= ? ORDER BY id ASC LIMIT ?" : " ORDER BY id DESC LIMIT ?");
  Stmt q(db_, sql.c_str());
  if (!q.ok()) return q.error("listing silences");
  int i = 1;
  if (active_at) {
    q.Bind(i++, ToUnixMicros(*active_at));
    q.Bind(i++, ToUnixMicros(*active_at));
  }
  q.Bind(i, static_cast<std::int64_t>(limit));
  std::vector<SilenceRecord> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) out.push_back(ReadSilence(q));
  if (rc != SQLITE_DONE) return q.error("listing silences");
  return out;
}

Result<SilenceRecord> Store::GetSilence(std::int64_t id) {
  std::lock_guard lock(mu_);
  Stmt q(db_, (std::string("SELECT ") + kSilenceColumns + " FROM silences WHERE id = ?").c_str());
  if (!q.ok()) return q.error("reading a silence");
  q.Bind(1, id);
  if (q.Step() != SQLITE_ROW) return NotFound("no silence " + std::to_string(id));
  return ReadSilence(q);
}

Result<SilenceRecord> Store::ExpireSilence(std::int64_t id, EventTime now, const std::string& user, EventTime at) {
  std::lock_guard lock(mu_);
  {
    // One statement: it changes the row only while the silence has not ended.
    Stmt up(db_, "UPDATE silences SET ends_ts = ?, expired_ts = ?, expired_by = ? WHERE id = ? AND ends_ts > ?");
    if (!up.ok()) return up.error("preparing silence update");
    up.Bind(1, ToUnixMicros(now));
    up.Bind(2, ToUnixMicros(at));
    up.Bind(3, user);
    up.Bind(4, id);
    up.Bind(5, ToUnixMicros(now));
    if (up.Step() != SQLITE_DONE) return up.error("expiring a silence");
  }
  const bool changed = sqlite3_changes(db_) == 1;
  Stmt q(db_, (std::string("SELECT ") + kSilenceColumns + " FROM silences WHERE id = ?").c_str());
  if (!q.ok()) return q.error("reading a silence");
  q.Bind(1, id);
  if (q.Step() != SQLITE_ROW) return NotFound("no silence " + std::to_string(id));
  SilenceRecord s = ReadSilence(q);
  if (!changed) {
    return FailedPrecondition("silence " + std::to_string(id) + " has expired already (it ended at " +
                              FormatRfc3339(s.ends) + ")");
  }
  return s;
}

}  // namespace shewhart::engine

#pragma once
// The embedded store (SQLite, WAL mode): genealogy, rejects, alarms, holds, limits versions,
// the audit log.
//
// Everything a user or a regulator needs survives a restart: alarms and holds are committed
// here before they are reported. One connection guarded by a mutex: every method is
// thread-safe. Errors come back as Status (Unavailable for the database, NotFound for ids).

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "shewhart/base/status.h"
#include "shewhart/engine/config.h"
#include "shewhart/engine/measurement.h"
#include "shewhart/engine/reject.h"

struct sqlite3;

namespace shewhart::engine {

using ScopeLabels = std::vector<std::pair<ScopeKey, std::string>>;

struct AlarmRecord {
  std::int64_t id = 0;
  std::string characteristic;
  std::string policy;
  std::string state = "open";  // open | acknowledged | resolved
  int tier = 1;
  std::string rule;            // the rule of the signal that opened it
  std::string chart;
  EventTime opened_ts{};       // event time of the opening signal
  EventTime last_signal_ts{};
  EventTime window_start{};    // start of the suspect window
  std::int64_t signals = 0;
  ScopeLabels scope;
  std::int64_t hold_id = 0;    // 0: none
  EventTime resolved_ts{};     // set when state is "resolved": the end of the suspect window
};

// What a person recorded on an alarm: an acknowledgement (with the assignable cause and the
// corrective action, codes from the config's lists, and free text) or a resolution by hand.
struct AlarmAction {
  std::int64_t alarm_id = 0;
  std::string kind;       // "acknowledged" | "resolved"
  EventTime ts{};         // wall-clock time it was recorded
  std::string user;       // the token's user
  std::string cause;      // assignable-cause code (acknowledged)
  std::string action;     // corrective-action code (acknowledged)
  std::string note;       // free text
};

struct HoldRecord {
  std::int64_t id = 0;
  std::int64_t alarm_id = 0;
  std::string characteristic;
  ScopeLabels scope;
  EventTime from_ts{};
  std::string state = "open";
  std::int64_t units = 0;      // filled by ListHolds
};

struct HeldUnit {
  std::int64_t hold_id = 0;
  std::string serial;
  std::string state = "held";
  EventTime since{};           // event time the unit was processed in scope (its first such event)
};

// One version of a characteristic's control limits (DESIGN.md: limits are versioned with an
// effective time). Points whose event time is at or after `effective` are judged against it,
// until the next version's effective time.
struct LimitVersion {
  std::int64_t id = 0;          // store row id; increases with every version recorded
  std::string characteristic;
  std::int64_t version = 0;     // 1, 2, ... per characteristic, in recording order (ListLimitVersions)
  EventTime effective{};
  EventTime recorded{};         // wall-clock time it was recorded
  std::string origin;           // "phase1" (estimated by the engine) | "recalc" (shewhart limits recalc)
  double center = 0;            // process mean, or p-bar / c-bar / u-bar for attribute charts
  double sigma = 0;             // within sigma (0 for attribute charts)
  std::int64_t points = 0;      // points (subgroups) the estimate used
  std::string user;
  std::string reason;
};

// One action of one alarm tier in the outbox (docs/ARCHITECTURE.md "Outbox"): committed before
// it is sent, then attempted until delivered or dead.
struct DeliveryRecord {
  std::int64_t id = 0;            // store row id; increases with every delivery committed
  std::int64_t alarm_id = 0;
  int tier = 1;
  std::string action;             // the hook name
  std::string idempotency_key;    // "<alarm>-<tier>-<action>"; unique in the store
  std::string payload;            // the alarm document (JSON) at the time the tier was due
  int attempts = 0;               // attempts made so far
  EventTime next_attempt{};       // wall-clock time the next attempt is due (state pending)
  std::string state = "pending";  // pending | delivered | dead
  std::string last_error;         // the last failed attempt's error; empty when none failed
  EventTime created{};            // wall-clock times
  EventTime updated{};
};

// A silence (docs/ARCHITECTURE.md "Silences"): while active, the notification actions of the
// tiers that alarms matching every one of its matchers enter are not run (the alarms, their
// tiers and holds are recorded as without it). Times are on the responder's clock (wall clock
// in `run`, event time with engine.clock: event and in replay).
struct SilenceRecord {
  std::int64_t id = 0;          // store row id
  // label -> value (labels: characteristic, policy, rule, chart, station, machine, lot,
  // operator, model), all of which must equal the alarm's; never empty.
  std::vector<std::pair<std::string, std::string>> matchers;
  EventTime starts{};           // active from here (inclusive) ...
  EventTime ends{};             // ... to here (exclusive); set to the time of expiry by hand
  EventTime created{};          // wall-clock time it was created
  std::string created_by;       // the token's user
  std::string comment;
  EventTime expired{};          // wall-clock time it was expired by hand (epoch: it was not)
  std::string expired_by;       // who expired it by hand (empty: nobody)
};

// One record of the hash-chained audit log (audit.h defines the chain and its encoding).
struct AuditRecord {
  std::int64_t seq = 0;         // 1, 2, ... without gaps, assigned by AppendAudit
  EventTime ts{};               // wall-clock time of the append
  std::string kind;             // alarm.opened, alarm.resolved, hold.created, hold.units_added, limits.version, config.loaded
  std::string subject;          // the object: alarm/12, hold/3, limits/bore, config
  std::string actor;            // "engine", or the user who asked
  std::string body;             // canonical JSON text
  std::string prev_hash;        // lowercase hex; the previous record's hash (64 '0's for seq 1)
  std::string hash;             // lowercase hex SHA-256 of prev_hash and the record's encoding
};

class Store {
 public:
  // Opens (creating if needed) the database at `path`; ":memory:" for a private in-memory one.
  static Result<std::unique_ptr<Store>> Open(const std::string& path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Appends genealogy records in one transaction.
  Status AppendTrace(const std::vector<UnitEvent>& events);
  Status InsertReject(const RejectRecord& reject);
  Result<std::vector<RejectRecord>> ListRejects(int limit);
  Result<std::int64_t> CountRejects();

  Result<std::int64_t> InsertAlarm(const AlarmRecord& alarm);
  Status UpdateAlarm(const AlarmRecord& alarm);
  // Alarms, newest first; `open_only` excludes resolved ones.
  Result<std::vector<AlarmRecord>> ListAlarms(bool open_only, int limit);
  // One alarm; NotFound when there is none with `id`.
  Result<AlarmRecord> GetAlarm(std::int64_t id);
  Status InsertAlarmAction(const AlarmAction& action);
  // The actions recorded on one alarm, oldest first.
  Result<std::vector<AlarmAction>> ListAlarmActions(std::int64_t alarm_id);

  Result<std::int64_t> CreateHold(const HoldRecord& hold);
  // Adds units to a hold; returns those that were not already in it, in the given order.
  Result<std::vector<HeldUnit>> AddHeldUnits(std::int64_t hold_id, const std::vector<HeldUnit>& units);
  Result<std::vector<HoldRecord>> ListHolds();
  // The units of one hold (or of every hold when hold_id is 0), ordered by hold, time, serial.
  Result<std::vector<HeldUnit>> ListHeldUnits(std::int64_t hold_id);

  Result<std::int64_t> InsertLimitVersion(const LimitVersion& v);
  // Versions of one characteristic (every characteristic when empty) with id > `after_id`,
  // ordered by id, each with its per-characteristic version number.
  Result<std::vector<LimitVersion>> ListLimitVersions(const std::string& characteristic, std::int64_t after_id = 0);

  // Appends `record` to the audit log: reads the last record's seq and hash and inserts this
  // one as the next, with its prev_hash and hash, in one IMMEDIATE transaction, so appends are
  // serialised across threads (the mutex) and processes (SQLite's write lock). `record.body`
  // must already be canonical (audit.h AppendAudit does that); seq, prev_hash and hash are
  // assigned here. Returns the record as stored.
  Result<AuditRecord> AppendAudit(AuditRecord record);
  // Audit records with seq > `after_seq`, in seq order, at most `limit`, as stored (not verified).
  Result<std::vector<AuditRecord>> ReadAudit(std::int64_t after_seq, int limit);

  // Distinct units with a genealogy record matching every scope label at or after `from`,
  // each with its earliest such time, ordered by that time and serial.
  Result<std::vector<HeldUnit>> UnitsInScope(const ScopeLabels& scope, EventTime from);

  // Outbox. InsertDelivery commits a delivery and returns its id, or 0 when a delivery with
  // the same idempotency key exists already (nothing is inserted: a tier acts once per alarm).
  Result<std::int64_t> InsertDelivery(const DeliveryRecord& d);
  // Whether a delivery with this idempotency key has been committed (in any state).
  Result<bool> HasDelivery(const std::string& idempotency_key);
  // Writes attempts, next_attempt, state, last_error and updated of delivery d.id.
  Status UpdateDelivery(const DeliveryRecord& d);
  // Deliveries in `state` (every state when empty), ordered by id (oldest first) or newest
  // first, at most `limit`.
  Result<std::vector<DeliveryRecord>> ListDeliveries(const std::string& state, int limit, bool oldest_first);

  // Silences. InsertSilence stores one (its id is ignored) and returns its id.
  Result<std::int64_t> InsertSilence(const SilenceRecord& s);
  // Every silence, newest first (at most `limit`); with `active_at`, only those active then
  // (starts <= t < ends), oldest first.
  Result<std::vector<SilenceRecord>> ListSilences(int limit, std::optional<EventTime> active_at = std::nullopt);
  // One silence; NotFound when there is none with `id`.
  Result<SilenceRecord> GetSilence(std::int64_t id);
  // Ends silence `id` at `now` (its `ends`), recording who and when (wall clock `at`), only
  // if it has not ended by `now`: NotFound for an unknown id, FailedPrecondition when it has
  // ended already (nothing is changed then). Returns the silence as stored.
  Result<SilenceRecord> ExpireSilence(std::int64_t id, EventTime now, const std::string& user, EventTime at);

  const std::string& path() const { return path_; }

 private:
  Store(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  Status Exec(const char* sql);

  std::mutex mu_;
  sqlite3* db_;
  std::string path_;
};

// "station=st2,machine=M3"
std::string FormatScope(const ScopeLabels& scope);

}  // namespace shewhart::engine

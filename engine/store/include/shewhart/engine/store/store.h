#pragma once
// The embedded store (SQLite, WAL mode): genealogy, rejects, alarms, holds, limits versions,
// the audit log.
//
// Everything a user or a regulator needs survives a restart: alarms and holds are committed
// here before they are reported. One connection guarded by a mutex: every method is
// thread-safe. Errors come back as Status (Unavailable for the database, NotFound for ids).
//
// Connection: WAL, synchronous=NORMAL, 5 s busy timeout, 64 MiB page cache. Schema version 11
// (meta.schema_version); stores of version 2 to 10 are migrated on open, step by step (9 or 10
// -> 11 rebuilds unit_postings in one transaction); any other version is refused
// (FailedPrecondition). Writers in `run`: source threads (rejects), the responder (genealogy,
// alarms, holds, outbox rows, audit records), outbox lanes (delivery outcomes), shard threads
// (Phase I limits versions), the HTTP thread (silences), the prune thread, main (config.loaded);
// `shewhart limits recalc` writes and the other command-line tools read from other processes.
// A genealogy query holds the mutex for its duration (a forward trace of 10^4 units: tens of
// ms): the responder's next genealogy commit waits, the sources keep buffering in the
// TraceWriter, the shards are not stalled. The methods are defined by domain: store.cc
// (connection, schema, units of work, checkpointer), store_genealogy.cc, store_records.cc,
// store_alarms.cc, store_holds.cc, store_audit.cc, store_deliveries.cc.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "shewhart/base/status.h"
#include "shewhart/engine/config/config.h"
#include "shewhart/engine/model/measurement.h"
#include "shewhart/engine/metrics/metrics.h"
#include "shewhart/engine/model/reject.h"

struct sqlite3;
struct sqlite3_stmt;

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
  // When it reached its current tier, on the responder's clock (unacknowledged_for counts from
  // it, across restarts); the epoch when unknown (alarms stored by schema 8 and before).
  EventTime tier_reached{};
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
  std::string state = "open";  // open | closed (its alarm resolved and no unit held any more)
  std::int64_t units = 0;      // filled by ListHolds and GetHold: every unit it took
  std::int64_t held = 0;       // filled by ListHolds and GetHold: units still held (no disposition)
};

struct HoldCounts {
  std::map<std::string, std::int64_t> holds;  // by HoldRecord::state
  std::map<std::string, std::int64_t> units;  // by HeldUnit::state
};

struct HeldUnit {
  std::int64_t hold_id = 0;
  std::string serial;
  std::string state = "held";  // held | released | reworked | scrapped
  EventTime since{};           // event time the unit was processed in scope (its first such event)
};

// A person's decision on held units of one hold (DESIGN.md "Hold"): each unit goes from held to
// released, reworked or scrapped, signed by a user with the meaning of the signature.
struct Disposition {
  std::int64_t id = 0;         // store row id (one per unit)
  std::int64_t hold_id = 0;
  std::string serial;
  std::string state;           // released | reworked | scrapped
  EventTime ts{};              // wall-clock time it was recorded
  std::string user;            // the token's user
  std::string reason;          // reason code (the config's codes.dispositions)
  std::string meaning;         // meaning of the signature (the config's codes.meanings), e.g. "released by"
  std::string note;            // free text
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
  double sigma = 0;             // within sigma (attribute charts: Laney's sigma_z, or 0)
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
  std::string kind;  // alarm.opened, alarm.resolved, hold.created, hold.units_added, limits.version, config.loaded
  std::string subject;          // the object: alarm/12, hold/3, limits/bore, config
  std::string actor;            // "engine", or the user who asked
  std::string body;             // canonical JSON text
  std::string prev_hash;        // lowercase hex; the previous record's hash (64 '0's for seq 1)
  std::string hash;             // lowercase hex SHA-256 of prev_hash and the record's encoding
};

// Genealogy (docs/ARCHITECTURE.md "Genealogy queries"). A unit's events link it to its parent
// assembly (`UnitEvent::parent`): the parent's children are its components. Links are taken
// from every stored event, measured or not, and a unit may name different parents in
// different events (bad data, rework): each named parent counts.

// The deepest a trace follows parent or child links. Real genealogy is a few levels deep;
// the bound only stops a chain of bad data, since a cycle already ends where a unit is met again.
inline constexpr int kTraceMaxDepth = 32;

// One stored genealogy record of a unit, as a step of its route.
struct RouteStep {
  std::string station;
  EventTime ts{};
  std::string machine;
  std::string op;                 // operator
  std::vector<std::string> lots;  // in the order the event listed them
  std::string model;
  std::string parent;             // the assembly this record names, "" for none
  bool from_measurement = false;  // made from a measurement's context, not a unit event
};

// A unit a trace reached.
struct TracedUnit {
  std::string serial;
  // Links between it and where the trace started: 1 for a parent or child of the traced unit,
  // 2 for a grandparent or grandchild ...; 0 for a unit that consumed the traced lot itself.
  int depth = 0;
  // The unit whose link reached it: the child, for an ancestor (and for an assembly in a
  // forward trace); the parent, for a descendant; "" for a lot's direct consumers. Where
  // several did at the same depth, the first in serial order.
  std::string via;
  EventTime ts{};                 // TraceForward, depth 0: the first time it consumed the lot
  std::vector<RouteStep> route;   // TraceBackward only: the unit's own records, by time
};

// Units reached by following links, ordered by depth, then serial; each unit once, at the
// smallest depth it was reached at. `truncated` is set when links went on beyond
// kTraceMaxDepth: the units past the bound are left out.
struct TraceSet {
  std::vector<TracedUnit> units;
  bool truncated = false;
};

struct BackwardTrace {
  std::string serial;
  std::vector<RouteStep> route;          // its records ordered by time (then by arrival)
  std::vector<TracedUnit> ancestors;     // parent (depth 1), grandparent (2) ..., each with its route
  std::vector<TracedUnit> descendants;   // children (components, depth 1), theirs (2) ..., each with its route
  bool truncated = false;                // links beyond kTraceMaxDepth were left out
};

struct ForwardTrace {
  std::string lot;
  // Units that consumed the lot (depth 0, with the time they first did), then every assembly
  // that contains one of them, recursively (depth >= 1, via the child that reached it).
  TraceSet reached;
};

// A unit seen in a window: its first record matching the window's scope.
struct WindowUnit {
  std::string serial;
  EventTime first{};
};

// What Store::Prune deleted.
struct PruneCounts {
  std::int64_t unit_events = 0;
  std::int64_t rejects = 0;
  std::int64_t alarms = 0;         // with their holds, held units, dispositions, actions, deliveries
  std::int64_t audit_records = 0;
  std::int64_t anchor_seq = 0;     // the audit chain now starts after this record (0: unchanged)
  std::string anchor_hash;         // its hash
};

// Retention cut-offs: records older than these times are pruned.
struct PruneCutoffs {
  EventTime records{};    // alarms resolved before it (holds holding nothing), audit records appended before it
  EventTime genealogy{};  // unit events with an event time before it
  EventTime rejects{};    // rejects stored before it
};

class Store {
 public:
  // Opens (creating if needed) the database at `path`; ":memory:" for a private in-memory one.
  static Result<std::unique_ptr<Store>> Open(const std::string& path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Appends genealogy records in one transaction: each record into unit_events, and its
  // station, machine, operator and lots (a lot listed twice in one record once) as postings
  // into unit_postings, chunked per label (postings.h), so that a reader sees a batch
  // whole or not at all. On error nothing of the batch is stored. Called by the engine's
  // responder thread once per batch (docs/ARCHITECTURE.md): one transaction per batch, not per
  // record, is what keeps genealogy ingest off the shards' path.
  Status AppendTrace(const std::vector<UnitEvent>& events);
  Status InsertReject(const RejectRecord& reject);
  // Newest first, at most `limit`, only ids below `before_id` when it is not 0 (the next page).
  Result<std::vector<RejectRecord>> ListRejects(int limit, std::int64_t before_id = 0);
  Result<std::int64_t> CountRejects();

  // Stores a new alarm: with alarm.id > 0 under that id (the responder assigns ids without a
  // round trip, AlarmIds), else under the next rowid. Returns its id.
  Result<std::int64_t> InsertAlarm(const AlarmRecord& alarm);
  Status UpdateAlarm(const AlarmRecord& alarm);
  // The highest alarm id stored (0 when none), and the highest id reserved (meta
  // `alarm_ids_reserved`, 0 when never written): ids up to it may have been published before
  // their alarm was stored, so a restart starts above both.
  Result<std::int64_t> MaxAlarmId();
  Result<std::int64_t> ReservedAlarmIds();
  Status ReserveAlarmIds(std::int64_t up_to);
  // A count kept in the meta table under `key` (0 when absent); its update commits with the unit
  // of work it runs in (or on its own outside one).
  Result<std::int64_t> MetaCount(const std::string& key);
  Status SetMetaCount(const std::string& key, std::int64_t value);
  // Alarms, newest first; `open_only` excludes resolved ones; only ids below `before_id` when it
  // is not 0 (the next page).
  Result<std::vector<AlarmRecord>> ListAlarms(bool open_only, int limit, std::int64_t before_id = 0);
  // One alarm; NotFound when there is none with `id`.
  Result<AlarmRecord> GetAlarm(std::int64_t id);
  Status InsertAlarmAction(const AlarmAction& action);
  // The actions recorded on one alarm, oldest first.
  Result<std::vector<AlarmAction>> ListAlarmActions(std::int64_t alarm_id);

  Result<std::int64_t> CreateHold(const HoldRecord& hold);
  // Adds units to a hold; returns those that were not already in it, in the given order. With
  // `first_hold`, also says for each unit returned (same position) whether it was in no other
  // hold before (one indexed lookup per added unit, in the same transaction).
  Result<std::vector<HeldUnit>> AddHeldUnits(std::int64_t hold_id, const std::vector<HeldUnit>& units,
                                             std::vector<bool>* first_hold = nullptr);
  Result<std::vector<HoldRecord>> ListHolds();
  // A page of holds, newest first, ids below `before_id` (0: from the newest), at most `limit`;
  // each with its unit counts, not its units.
  Result<std::vector<HoldRecord>> ListHoldsPage(std::int64_t before_id, int limit);
  // A page of one hold's units in serial order, serials after `after_serial` ("" from the first),
  // at most `limit`: an index range scan, whatever the size of the hold or of the table.
  Result<std::vector<HeldUnit>> HeldUnitsBySerial(std::int64_t hold_id, const std::string& after_serial, int limit);
  // Holds by state (open, closed) and the units of all holds by state (held, released,
  // reworked, scrapped); states with none are absent. Reads every held_units row.
  Result<HoldCounts> CountHoldStates();
  // The units of one hold (or of every hold when hold_id is 0), ordered by hold, time, serial.
  Result<std::vector<HeldUnit>> ListHeldUnits(std::int64_t hold_id);
  // At most `limit` units of one hold in the order they joined it, skipping the first `offset`
  // (a quarantine hook's batches: the same offset gives the same units).
  Result<std::vector<HeldUnit>> HeldUnitsInJoinOrder(std::int64_t hold_id, std::int64_t offset, std::int64_t limit);
  // One hold; NotFound when there is none with `id`.
  Result<HoldRecord> GetHold(std::int64_t id);
  // Every hold that took `serial` (its rows of held_units, any state), ordered by hold. Empty
  // when the unit was never held. The MES interlock: the unit is free unless one is "held".
  Result<std::vector<HeldUnit>> HoldsOfUnit(const std::string& serial);
  // Disposes of `serials` of hold `d.hold_id` (d.state, user, reason, meaning, note and ts are
  // taken from `d`): in one transaction, every unit goes from held to d.state and gets a
  // disposition row. All or nothing: NotFound naming the first serial the hold never took, or
  // FailedPrecondition naming the first one that is no longer held (and its state); then nothing
  // changed. Then closes the hold as CloseHoldIfDone does, in the same transaction. Returns
  // the dispositions recorded, in the order given.
  Result<std::vector<Disposition>> Dispose(const std::vector<std::string>& serials, const Disposition& d);
  // Sets an open hold's state to "closed" when its alarm is resolved and none of its units is
  // held any more (every unit disposed of, or none taken); otherwise changes nothing.
  // Returns whether it closed it. Reads only the hold's own units (the held_units key), so its
  // cost does not grow with the table.
  Result<bool> CloseHoldIfDone(std::int64_t hold_id);
  // The dispositions of one hold, oldest first.
  // With `limit` > 0: at most that many, with ids above `after_id` (a page, by the
  // dispositions_hold index).
  Result<std::vector<Disposition>> ListDispositions(std::int64_t hold_id, std::int64_t after_id = 0, int limit = 0);

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
  // Where the stored chain starts: the seq and hash of the last record pruned (Prune), or 0 and
  // the genesis hash (64 '0's) when none was.
  Result<std::pair<std::int64_t, std::string>> AuditAnchor();
  // Deletes what is older than the cut-offs, in chunks of at most 10000 rows (the store mutex is
  // released between chunks, so genealogy commits are not held up): unit events in arrival
  // order until a chunk holds nothing older, then their postings (chunks wholly older deleted,
  // a chunk across the cut-off rewritten without its older entries); rejects; resolved
  // alarms whose hold is closed or absent, with their holds, held units, dispositions,
  // acknowledgements and deliveries that are not pending; audit records appended before the
  // cut-off — the last one deleted becomes the chain's anchor (AuditAnchor), so the rest still
  // verifies. Returns what it deleted. Errors: Unavailable (database); what was deleted before
  // an error stays deleted.
  Result<PruneCounts> Prune(const PruneCutoffs& cutoffs);
  // Audit records with seq > `after_seq`, in seq order, at most `limit`, as stored (not verified).
  Result<std::vector<AuditRecord>> ReadAudit(std::int64_t after_seq, int limit);

  // Distinct units with a genealogy record matching every scope label at or after `from`,
  // each with its earliest such time, ordered by that time and serial (UnitsInWindow with no
  // end: a lot label matches a record listing the lot in any position).
  Result<std::vector<HeldUnit>> UnitsInScope(const ScopeLabels& scope, EventTime from);

  // Genealogy queries. Each reads one consistent snapshot (under the store mutex, so a batch
  // being appended is seen whole or not at all); errors are Unavailable (the database).
  //
  // TraceBackward: the route of `serial` (its records by time), its ancestors (the assemblies
  // it went into, recursively) and its descendants (its components, recursively), each with
  // its own route. NotFound when the store has no record of `serial` and no record names it as
  // a parent. A cycle in bad data (A in B, B in A) ends where a unit is met again: the
  // traced unit itself is never its own ancestor or descendant.
  Result<BackwardTrace> TraceBackward(const std::string& serial);
  // TraceForward: every unit that consumed `lot` (in any position of an event's lots), then
  // every assembly containing one of them, recursively. An unknown lot reaches nothing (not
  // an error).
  Result<ForwardTrace> TraceForward(const std::string& lot);
  // Every assembly containing any of `serials`, recursively (depth 1 for a direct parent),
  // excluding `serials` themselves even where bad data makes one an ancestor of another.
  Result<TraceSet> Ancestors(const std::vector<std::string>& serials);
  // Distinct units with a record matching every scope label with time in [from, to) — `from`
  // inclusive, `to` exclusive (EventTime::max() for no end) — each with the earliest such
  // time, ordered by that time, then serial. A lot label matches a record that lists the lot
  // in any position (not only the first); an empty scope matches every record. InvalidArgument
  // when `to` is not after `from`.
  Result<std::vector<WindowUnit>> UnitsInWindow(const ScopeLabels& scope, EventTime from, EventTime to);

  // Outbox. InsertDelivery commits a delivery and returns its id, or 0 when a delivery with
  // the same idempotency key exists already (nothing is inserted: a tier acts once per alarm).
  Result<std::int64_t> InsertDelivery(const DeliveryRecord& d);
  // Whether a delivery with this idempotency key has been committed (in any state).
  Result<bool> HasDelivery(const std::string& idempotency_key);
  // Writes attempts, next_attempt, state, last_error and updated of delivery d.id.
  Status UpdateDelivery(const DeliveryRecord& d);
  // Deliveries in `state` (every state when empty), ordered by id (oldest first) or newest
  // first, at most `limit`.
  // With `before_id` not 0: only ids beyond it in the listing order (the next page).
  Result<std::vector<DeliveryRecord>> ListDeliveries(const std::string& state, int limit, bool oldest_first,
                                                     std::int64_t before_id = 0);

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

  // Takes the store for this process alone: an exclusive lock (flock) on "<path>.lock", which
  // names the holder (pid, host, since). Engines take it; the command-line tools that read or
  // annotate the store beside a running engine do not. FailedPrecondition naming the holder
  // when another process has it; released when the store is destroyed or the process dies.
  // A no-op for an in-memory store.
  Status LockExclusive();

  // Units of work (docs/ARCHITECTURE.md "Fail closed"). Every write the calling thread makes
  // through this store between Begin and the matching Commit commits together, in one
  // IMMEDIATE transaction, or not at all: an alarm's tier entry, its hold, its outbox rows and
  // its audit records. The calling thread holds the store from Begin to Commit or Rollback:
  // other threads' calls wait (keep units short). Units nest: an inner Begin/Commit joins the
  // outer unit; an inner Rollback makes the outer Commit fail. Within a unit, a method's own
  // transaction is a savepoint (its failure undoes its part only; the caller then decides).
  // Commit: Unavailable when COMMIT fails (disk full, I/O error, file-size limit) or SQLite
  // rolled the transaction back on an earlier error; nothing of the unit is then stored.
  // Every failed Begin and Commit is counted (write_failures).
  Status Begin();
  Status Commit();
  void Rollback();
  // Runs `fn` once the current unit has committed (on the committing thread, after the store is
  // released), and never if it rolls back; at once when no unit is open. For effects outside the
  // store that must not run before what they announce is durable (the outbox's queues).
  void AfterCommit(std::function<void()> fn);
  bool in_unit();
  const Counter& write_failures() const { return write_failures_; }

  const std::string& path() const { return path_; }

  // Moves most of the WAL checkpointing off the writing threads (the responder's commits, which
  // otherwise run SQLite's automatic checkpoint, with two fdatasync calls of milliseconds, every
  // 1000 WAL pages): a thread with a connection of its own runs a passive checkpoint (which never
  // blocks a writer or a reader) when a commit leaves at least `wal_pages` pages in the WAL, at
  // most every 100 ms, and at least every `every`. A writer that commits all the time is never
  // caught up with, and the WAL starts over only after a checkpoint that leaves nothing behind:
  // so once a commit leaves `writer_pages` pages in the WAL, the writing thread checkpoints the
  // little that is left itself. A no-op for an in-memory store; Unavailable if the second
  // connection cannot be opened (the store then checkpoints as before). Called once; stopped by
  // StopCheckpointer or the destructor.
  Status StartCheckpointer(std::chrono::milliseconds every, int wal_pages = 1000, int writer_pages = 8000);
  void StopCheckpointer();
  // Passive checkpoints run by the checkpointer thread and by the writing threads (at
  // `writer_pages`), each done or failed (busy or error); /metrics exports them.
  struct CheckpointCounters {
    Counter thread_ok, thread_failed, writer_ok, writer_failed;
  };
  const CheckpointCounters& checkpoint_counters() const { return checkpoint_counters_; }
  std::int64_t checkpoints() const { return static_cast<std::int64_t>(checkpoint_counters_.thread_ok.value()); }
  std::int64_t writer_checkpoints() const {
    return static_cast<std::int64_t>(checkpoint_counters_.writer_ok.value() +
                                     checkpoint_counters_.writer_failed.value());
  }
  std::int64_t checkpoint_failures() const {
    return static_cast<std::int64_t>(checkpoint_counters_.thread_failed.value());
  }

 private:
  Store(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  Status Exec(const char* sql);
  // A method's own transaction: BEGIN IMMEDIATE / COMMIT / ROLLBACK, or a savepoint inside a
  // unit of work. mu_ held.
  Status BeginTx();
  Status CommitTx();
  Status RollbackTx();
  Status CloseHoldIfDoneLocked(std::int64_t hold_id);  // mu_ held
  // Schema 9 or 10 -> 11 in one transaction: builds unit_postings from unit_events (station,
  // machine, operator, model and lots; dropping the old scope indexes and unit_lots) and
  // records version 11.
  Status MigrateTo11();

  // Recursive: a unit of work holds it from Begin to Commit while the thread calls methods.
  std::recursive_mutex mu_;
  int unit_depth_ = 0;         // nested Begin calls open (mu_ held)
  bool unit_failed_ = false;   // an inner unit rolled back
  std::vector<std::function<void()>> after_commit_;
  Counter write_failures_;
  int lock_fd_ = -1;           // LockExclusive's file, held open while the store is
  sqlite3* db_;
  std::string path_;
  // The statements of a signal's unit of work (alarm, hold, held units, delivery, audit record,
  // alarm action): each prepared once (under mu_, on first use, SQLITE_PREPARE_PERSISTENT) and
  // finalized with the store, not prepared again for every row.
  enum CachedStatement : int {
    kUpdateAlarm,
    kInsertAlarm,
    kInsertHold,
    kInsertHeldUnit,
    kOtherHoldOfUnit,
    kInsertDelivery,
    kLastAudit,
    kInsertAudit,
    kInsertAlarmAction,
    kCachedStatements
  };
  sqlite3_stmt* cached_[kCachedStatements] = {};

  // The checkpointer (StartCheckpointer): its connection, thread, and the wake-up the WAL hook
  // of db_ gives it.
  static int OnWalCommit(void* self, sqlite3* db, const char* name, int pages);
  sqlite3* checkpoint_db_ = nullptr;
  std::thread checkpoint_thread_;
  std::mutex checkpoint_mu_;
  std::condition_variable checkpoint_cv_;
  bool checkpoint_due_ = false, checkpoint_stop_ = false;
  int checkpoint_wal_pages_ = 1000, checkpoint_writer_pages_ = 8000;
  CheckpointCounters checkpoint_counters_;
};

// "station=st2,machine=M3"
std::string FormatScope(const ScopeLabels& scope);

}  // namespace shewhart::engine

#pragma once
// The responder: signals become alarms, alarms climb their policy's tiers and run its actions,
// and each alarm's hold takes the units of its suspect window (DESIGN.md "Alarms", "Holds").
//
// Threading: one responder thread owns all of it (in inline mode, replay and tests, the
// caller's thread). Nothing here is thread-safe except clock() (in threaded mode it reads only
// the wall clock or the input clock's atomic: the API's silences call it from the HTTP thread),
// directory() and PublishSignal (the judging threads claim and publish each rule signal as they
// raise it); the engine hands it signals (HandleBatch),
// the 100 ms tick (Tick) and people's requests (Request with Act or Dispose) on that thread.
// Units of work: every call that changes anything runs as one unit of work of the store
// (Store::Begin/Commit): the alarm row, its tier, hold, held units, outbox rows and audit
// records commit together or not at all; after a rollback the responder's state is read back
// from the store (Recover), so that what it believes is what is stored.
// Allocation: per alarm, per open hold and per windowed count; nothing per measurement.
// The member functions are defined by responsibility in responder.cc (lifecycle and units of
// work), responder_tiers.cc (tiers, windowed counts, inhibition, silences, actions),
// responder_holds.cc (holds, quarantine feeds, assemblies) and responder_requests.cc (what
// people ask: acknowledge, resolve, dispose).

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "shewhart/base/status.h"
#include "shewhart/engine/config/config.h"
#include "shewhart/engine/hooks/alarm_sink.h"
#include "shewhart/engine/hooks/outbox.h"
#include "shewhart/engine/metrics/live_metrics.h"
#include "shewhart/engine/metrics/metrics.h"
#include "shewhart/engine/model/api_response.h"
#include "shewhart/engine/model/json.h"
#include "shewhart/engine/pipeline/shard.h"
#include "shewhart/engine/respond/alarm_directory.h"
#include "shewhart/engine/respond/engine_listener.h"
#include "shewhart/engine/store/store.h"
#include "shewhart/engine/trace/trace_writer.h"

namespace shewhart::engine {

// What the responder uses, wired by the composition root (Engine). Every pointer and
// reference must outlive the responder.
struct ResponderParts {
  const Config* config = nullptr;
  Store* store = nullptr;
  TraceWriter* trace = nullptr;
  Outbox* outbox = nullptr;  // null: inline mode (replay runs no outside actions)
  MetricsRegistry* metrics = nullptr;
  // The per-characteristic series of /metrics, indexed by characteristic id (null entries: not
  // exported). Filled before the first signal.
  const std::vector<std::unique_ptr<CharacteristicMetrics>>* characteristic_metrics = nullptr;
  EngineListener* listener = nullptr;  // optional
  bool threaded = true;                // false: inline mode (event-time clock, no outside actions)
  std::map<std::string, AlarmSink*> sinks;  // zmq_pub hooks by name
  // Called for each committed rule signal that has an arrival time (EngineOptions).
  std::function<void(std::int64_t signal_ns, std::int64_t response_ns)> on_signal_latency;
  // The input's clock: in inline mode the newest event time routed; with engine.clock: event
  // the newest event time accepted. Not called otherwise (the wall clock is used).
  std::function<EventTime()> input_clock;
  // The outcome of the last unit of work changed (ok again, or the store refuses writes).
  std::function<void(const Status&)> on_store_health;
  // Appends an audit record (counted and logged on failure by the engine).
  std::function<Status(std::string kind, std::string subject, const Json& body, const std::string& actor)> audit;
  // Families the engine reads for its statistics, counted by the responder after commit.
  Counter* signals_total = nullptr;
  Counter* alarms_total = nullptr;
  Histogram* arrival_to_signal = nullptr;
  Histogram* arrival_to_response = nullptr;
};

class Responder {
 public:
  // Registers the responder's metric families. Load() before the first call of anything else.
  explicit Responder(ResponderParts parts);

  // Reloads open alarms and hold counts from the store (after a restart).
  Status Load();

  // Resolves open alarm `a` whose scope keys differ from the characteristic's configured ones (a
  // config changed between runs: station -> machine), in one unit of work with its audit record
  // `alarm.closed` (reason scope_changed). At the wall-clock time: an act of the engine, like
  // an acknowledgement.
  Status CloseForChangedScope(AlarmRecord a, const CharacteristicSpec& spec);

  // Open holds and the units they still hold, from the store (after dispositions and closings,
  // which change them in the store).
  Status CountHolds();

  // After a retention run deleted holds (and their units): the gauges from the store again.
  void RecountHolds();

  // An alarm was resolved: its hold closes if nothing in it is held any more.
  void CloseHoldIfDone(const AlarmRecord& a);

  // Commits pending genealogy, then, in one unit of work, escalates alarms by time and adds
  // the units that arrived in the scope of an open alarm's suspect window to its hold. An error
  // leaves nothing half done: the genealogy is kept and tried again, the unit rolled back.
  Status Tick();

  // Signals taken from the responder's queue (or one, inline), claimed by the directory when
  // they were raised (an unclaimed one is claimed here): the genealogy committed first,
  // then all of them in one unit of work (group commit): each alarm's state, tier, hold, outbox
  // rows and audit records are stored together or not at all. On an error nothing of the
  // batch is stored and the responder's state is as before it: the caller keeps the batch and
  // tries it again.
  Status HandleBatch(const Signal* signals, std::size_t n);

  // Which alarm each signal belongs to, decided where the signal is raised. Any thread.
  AlarmDirectory& directory() { return directory_; }

  // The signal journal (signal_journal.h): every unit of work records in meta
  // signals_journal_done the highest sequence number up to which every journaled signal is
  // stored; journal_done() is that mark as last committed.
  std::uint64_t journal_done() const { return journal_done_; }
  // At start, before the judging threads run: stores the journaled signals a run that died
  // published and did not store (their claims as they were published; an alarm a signal opens
  // that the store has already is not opened again), then sets the directory from the open
  // alarms. An error leaves them in the journal.
  Status CompleteJournaled(const std::vector<Signal>& signals);
  // Threaded mode, on the thread that claimed it: publishes a claimed rule signal on the
  // zmq_pub hooks its policy runs in any tier (topic `signal`: the signal with "alarm" and
  // "claim"), before anything of it is stored; an id beyond the store's reservation is not
  // published (logged, counted). Tiers, silences and inhibition do not apply. Any thread:
  // AlarmSink::Publish serializes. Nothing in inline mode.
  void PublishSignal(const Signal& s) const;

  // Threaded mode, before the first signal: alarm ids are assigned in memory (AlarmDirectory,
  // no store round trip) and published in `signal` messages before their unit commits, so the
  // store first reserves a block of ids above every id a previous run may have published (meta
  // alarm_ids_reserved); later units extend the reservation before it runs short.
  Status ReserveAlarmIds();
  // At a clean stop (the responder thread done): the reservation shrinks to the highest id
  // stored or published, so that the next run goes on without a gap. A failure is logged: the
  // next run then starts above the whole reservation.
  Status ReleaseAlarmIds();

  // Escalation by time: an open alarm not acknowledged within a tier's unacknowledged_for of
  // reaching its latest tier enters that tier. Called with the responder's clock.
  // Scans the open alarms only when `now` has reached the earliest such deadline (unack_due_), so
  // that a replay's every new event time costs nothing while no escalation is due.
  void CheckUnacknowledged(EventTime now);

  // A person's acknowledgement (state open -> acknowledged, with cause and action codes) or
  // resolution by hand of alarm `id`; on the responder's thread. Recorded in the store.
  ApiResponse Act(std::int64_t id, AlarmAction act);

  // Held units of one hold disposed of by a person (Engine::HoldApi checked the request): in
  // the store (all or nothing), then audited as hold.disposed with the user as actor.
  ApiResponse Dispose(const std::vector<std::string>& serials, const Disposition& d);

  // The responder's clock: event time in replay (the newest measurement's), wall clock in run
  // (or, with engine.clock: event, the newest event time accepted).
  // When an alarm reaches a tier on a signal at event time `event`: that event time, on an event
  // clock (replay, engine.clock: event); the wall clock otherwise.
  EventTime Now(EventTime event) const;

  EventTime clock() const;

  // Inline mode: the input's event time moved on (escalations by time may be due).
  void ClockTick();

  // A person's request (Act, Dispose) as one unit of work: an answer of 500 or more rolls it
  // back; a commit that fails answers 503.
  ApiResponse Request(const std::function<ApiResponse()>& body);

  // After a restart (the outbox loaded): the quarantine hooks of the tiers each open alarm has
  // entered carry on from the batches committed before (their serials counted from the stored
  // deliveries), and send the units that joined since.
  Status ResumeSerialFeeds();
 private:
  using Key = AlarmDirectory::Key;  // characteristic, formatted scope

  // One message of alarm `alarm` on zmq_pub hook `hook`: counted by outcome (delivered, failed);
  // a failure is logged and counted in shewhart_action_failures_total, never retried. Any thread.
  void Publish(const std::string& hook, AlarmSink& sink, std::string_view topic, const std::string& doc,
               std::int64_t alarm) const;
  // The key of a signal's alarm (characteristic, formatted scope).
  Key KeyOf(const Signal& s) const;

  // One signal, inside a unit of work (HandleBatch), as its claim says: it joins the alarm open
  // for its key (the claimed one; another is logged as a bug and joined), or the claimed alarm a
  // person resolved meanwhile (JoinResolved), reopens the claimed alarm from the store, or opens
  // a new alarm under the claimed id (also when a claimed alarm was never stored: its opening
  // batch was lost). A later signal whose window starts earlier
  // (a retrospective Phase I signal) widens the alarm's window and holds the units it now
  // reaches (HoldWindow).
  void Handle(const Signal& s);

  // An open-alarm gauge (policy, tier) and the count UpdateGauges makes for it.
  struct AlarmCount {
    Gauge* gauge = nullptr;
    std::int64_t n = 0;
  };

  // A quarantine hook run by an alarm: the units of its hold sent so far, in join order.
  struct SerialFeed {
    int tier = 0;
    std::string action;
    std::int64_t sent = 0;  // units of the hold already in a committed batch
    int batches = 0;        // batches committed; the next is number batches + 1
  };

  // Escalation: the tiers each open alarm has entered (bit t) and when it entered the latest
  // (event time in replay, wall clock in run; after a restart, the time of the restart).
  struct TierState {
    std::uint32_t entered = 0;
    EventTime reached{};
  };

  // Windowed counts: (policy, tier, group) -> event times of the signals within the window.
  using WindowKey = std::tuple<std::string, int, std::string>;

  // Runs `body` as one unit of work of the store. `body` reports store errors with Fail; any
  // makes the unit roll back. After a rollback (or a failed commit) the responder's state is
  // rebuilt from the store (Recover), so that what it believes matches what is stored.
  Status RunUnit(const std::function<void()>& body);

  Status Failed(const Status& st);

  // A store error inside a unit of work: the unit rolls back (the first error is reported).
  void Fail(const Status& st);

  // After a unit rolled back: the open alarms, their tiers, holds and quarantine feeds as the
  // store has them. Windowed counts were restored from the unit's undo records. Stays due
  // (recover_) while the store cannot be read. The directory is not touched: the retried batch
  // keeps its claims.
  void Recover();

  // The genealogy batch Flush committed: time escalations, then the units it brings to open
  // holds. Inside a unit of work.
  void JoinFlushed();

  // The group a windowed count of `s` falls in.
  static std::string GroupOf(const Signal& s, GroupBy g);

  // Adds `s` to the windows of its policy's `signals: N, within: T` tiers.
  void CountSignal(const Signal& s);

  // The tiers (in order) that `s` makes alarm `a` enter now: each not yet entered whose
  // condition holds on this signal; an unacknowledged_for tier waits for time (CheckUnacknowledged).
  std::vector<int> EnterableTiers(const AlarmRecord& a, const Signal& s);

  // Enters `tiers` (ascending) on an open alarm: records the new tier, reports it, runs each
  // tier's actions once.
  void Escalate(AlarmRecord& a, const Signal& s, const std::vector<int>& tiers);

  // The quarantine hook `action` names, or null when it is not one.
  const HookSpec* QuarantineHook(const std::string& action) const;

  // True when tier `t` of the alarm's policy runs the built-in `quarantine` action or a
  // quarantine hook.
  bool Quarantines(const AlarmRecord& a, int t) const;

  // Commits the batches of held serials not yet sent to each quarantine hook the alarm ran:
  // units in join order from each feed's `sent`, at most the hook's batch size per delivery,
  // idempotency key "<alarm>-<tier>-<action>-<batch number>", payload the alarm document with
  // "batch" and "serials".
  void FeedSerials(const AlarmRecord& a);

  // Runs the actions of tier `t` of the alarm's policy: `quarantine` first (it opens the hold,
  // whose size the other actions report), then the others in their order.
  void RunTierNumber(AlarmRecord& a, int t, const Signal& s);

  // The built-in `quarantine` action: the first of `tiers` that runs it opens the alarm's hold
  // (once per alarm); RunTierNumber then holds every unit of its suspect window so far, and
  // from then on units arriving in its scope join it (Tick) until the alarm is resolved. Not a
  // notice: neither inhibition nor silences stop it.
  void OpenHold(AlarmRecord& a, const std::vector<int>& tiers);

  // min_interval: a signal that claims to reopen alarm s.alarm reopens it (same alarm, same
  // hold, which grows again). False when the store has no such alarm.
  bool Reopen(const Key& key, const Signal& s);
  // A signal claimed as joining alarm s.alarm, which a person resolved before the signal was
  // stored: counted on that alarm (it was raised while the alarm was open), which stays
  // resolved, as the directory has it. False when the store has no such alarm (its opening
  // batch was lost: the signal opens it).
  bool JoinResolved(const Signal& s);

  // Forgets an open alarm (resolved): its scope no longer gathers units into its hold.
  void Close(const Key& key);

  // An audit record appended in the unit of work (its failure fails the unit).
  void Audit(std::string kind, std::string subject, const Json& body, const std::string& actor = "engine");

  AlarmRecord& Open(const Key& key, AlarmRecord a);

  // The scope of `s` has been in control for the policy's resolve_after observations: its open
  // alarm is resolved at that observation's time. The hold stays (its units await disposition)
  // but no longer grows.
  void Resolve(const Signal& s);

  // Alarm `a` was resolved: every `alertmanager` action its policy ran for it (in the tiers it
  // entered) sends its alert again with endsAt, through the outbox, after the firing one (same
  // lane, commit order). Key ResolvedIdempotencyKey. Nothing in replay (no outbox). Only for
  // an alert that was committed (Store::HasDelivery of its firing key): an alert a silence or
  // inhibition kept back is not resolved either.
  void SendResolved(const AlarmRecord& a);

  // Holds every unit in the alarm's scope from its window start until now (the units that
  // arrive later join through Tick). Returns the number of units held by this call.
  std::size_t HoldWindow(AlarmRecord& alarm);

  // A genealogy batch put held units into assemblies (records naming a parent): each assembly
  // joins every hold that holds one of its components, whether that hold's alarm is open or
  // resolved, with the time of the record that named it.
  void JoinAssemblies(const std::vector<UnitEvent>& batch);

  // Adds `units` and every assembly that contains one of them (recursively, Store::Ancestors;
  // each with its component's time) to the alarm's hold; reports and audits those that were
  // not in it yet. Returns their number.
  // `assemblies`: the units are assemblies joining through a held component (JoinAssemblies);
  // otherwise they were processed in the hold's scope, and those new to holds count against its
  // station (first-pass yield).
  std::size_t AddToHold(AlarmRecord& alarm, std::vector<HeldUnit> units, bool assemblies = false);

  // The open tier-3 (or higher) alarm of the same station as `alarm`, if any: while the station
  // is locked, its tier-1 notices are noise.
  const AlarmRecord* Tier3OfStation(const AlarmRecord& alarm) const;

  // Silences: the notification actions (zmq_pub, webhook, exec, alertmanager hooks that are
  // `silenceable`) of the tier `alarm` enters on `s` that an active silence suppresses, in the
  // tier's order; empty when none matches. The time is the one the alarm reaches the tier at
  // (Now: the wall clock in `run`, the signal's event time on an event clock). A silenced tier
  // is audited (`alarm.silenced`: the oldest matching silence) and counted; `log` and
  // `quality_case` still run. A store that cannot be read silences nothing (logged): a
  // notification too many rather than one lost. No cache: each tier entry with notification
  // actions reads the active silences from the store (the one place a silence lives).
  std::vector<std::string> Silenced(const AlarmRecord& alarm, const Signal& s);

  // Runs the actions of the tier `alarm` is at. An inhibited tier-1 entry (a tier-3 alarm of the
  // same station is open) runs none of its actions but quarantine hooks (not even log or
  // quality_case); a silenced tier still runs log and quality_case.
  void RunTier(const AlarmRecord& alarm, const Signal& s, std::size_t held);

  // Registers the open-alarm gauges of `policy`: tier 0 and each of its tiers.
  void AlarmGauges(const ResponseSpec& policy);

  AlarmCount& AlarmGauge(const std::string& policy, int tier);

  // Sets the open-alarm and hold gauges from their counts (kept as alarms open, close and
  // escalate: CountOpen), in time independent of the number of open alarms.
  void UpdateGauges();
  // Adds `delta` to the open-alarm count of `a`'s (policy, tier).
  void CountOpen(const AlarmRecord& a, int delta);
  // When open alarm `a` escalates by time next (its first tier not entered is an
  // unacknowledged_for tier), if it does; ResponseFor the characteristic at `c`.
  std::optional<EventTime> UnacknowledgedDeadline(CharacteristicId c, const AlarmRecord& a);
  // `a` may escalate by time earlier than unack_due_ says: lowers it.
  void NoteDeadline(CharacteristicId c, const AlarmRecord& a);
  const Config& config_;
  Store& store_;
  TraceWriter& trace_;
  Outbox* const outbox_;
  MetricsRegistry& metrics_;
  const std::vector<std::unique_ptr<CharacteristicMetrics>>& characteristic_metrics_;
  EngineListener* const listener_;
  const bool threaded_;
  const std::map<std::string, AlarmSink*> sinks_;
  const std::function<void(std::int64_t, std::int64_t)> on_signal_latency_;
  const std::function<EventTime()> input_clock_;
  const std::function<void(const Status&)> on_store_health_;
  const std::function<Status(std::string, std::string, const Json&, const std::string&)> audit_;
  Counter* const signals_total_;
  Counter* const alarms_total_;
  Histogram* const arrival_to_signal_;
  Histogram* const arrival_to_response_;
  std::map<Key, AlarmRecord> open_;                      // node-based: pointers below stay valid
  std::multimap<std::string, AlarmRecord*> by_scope_;    // open alarms by formatted scope
  std::vector<std::vector<ScopeKey>> scope_key_sets_;    // the distinct scope key lists in use
  std::map<std::int64_t, std::int64_t> held_in_;         // units per open hold
  std::map<std::int64_t, std::vector<SerialFeed>> feeds_;  // quarantine hooks per open alarm
  std::map<std::int64_t, TierState> tier_state_;
  // Alarm ids and claims. The directory's next id is above every id stored, reserved by an
  // earlier run, or claimed by this one; a retried batch keeps its claims, so an id is never
  // given to a second alarm. Ids are reserved in the store kAlarmIdBlock at a time.
  static constexpr std::int64_t kAlarmIdBlock = 1000;
  static constexpr const char* kJournalDone = "signals_journal_done";
  AlarmDirectory directory_;
  bool loaded_ = false;  // Load has run once (the start's reservation read, the directory set)
  // The journal mark (journal_done()) and the sequence numbers stored above it, not yet
  // contiguous with it (two judging threads' signals may reach the responder out of order).
  std::uint64_t journal_done_ = 0;
  std::set<std::uint64_t> journal_stored_;
  bool completing_ = false;  // CompleteJournaled runs: an opening whose alarm exists is skipped
  // Per characteristic: the zmq_pub hooks its policy runs in any tier (their `signal` messages).
  std::vector<std::vector<std::pair<std::string, AlarmSink*>>> signal_sinks_;
  // No open alarm escalates by time before this (EventTime::min(): not known, scan at the next
  // check). Lowered by NoteDeadline, recomputed by each scan.
  EventTime unack_due_ = EventTime::min();
  std::map<WindowKey, std::deque<EventTime>> windows_;
  // Units of work (RunUnit): the first error of the unit; what the windows it touched were
  // before it (nullopt: absent), restored if it rolls back.
  Status failure_;
  Status store_status_;   // the last unit's outcome (or the failed recovery's)
  bool recover_ = false;  // the state must be read back from the store before the next unit
  bool undo_ = false;     // a unit is running: record what it changes
  bool joined_in_unit_ = false;  // the running unit joined the flushed genealogy (JoinFlushed)
  bool feed_all_ = false; // quarantine feeds were read back: send what joined their holds since
  std::map<WindowKey, std::optional<std::deque<EventTime>>> windows_undo_;
  Counter* unit_failures_;
  EventTime now_{};  // the responder's clock (see TierState)
  std::int64_t holds_open_count_ = 0;  // holds in state open
  std::int64_t held_total_ = 0;        // units in state held (of open holds)
  HoldCounts hold_counts_;             // by state, as last counted in the store (open, held: above)
  std::map<std::string, Gauge*> hold_gauges_, unit_gauges_;  // shewhart_holds, shewhart_held_units by state
  std::map<std::pair<std::string, int>, AlarmCount> alarm_gauges_;  // policy, tier
  std::map<std::string, std::pair<Counter*, Counter*>> sink_counters_;  // zmq_pub hook: delivered, failed
  StationMetrics stations_;
  Counter* action_failures_;
  Counter* silenced_;
};

}  // namespace shewhart::engine

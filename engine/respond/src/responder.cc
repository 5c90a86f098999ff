// The responder's lifecycle: loading its state from the store, units of work and their
// recovery, signals to alarms, reopening and resolving, the open-alarm gauges.
#include "shewhart/engine/respond/responder.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <climits>
#include <limits>
#include <unordered_set>

#include "shewhart/base/thread.h"
#include "shewhart/engine/model/time_format.h"
#include "shewhart/engine/respond/silence.h"
#include "shewhart/engine/store/audit.h"
#include "shewhart/engine/store/record_json.h"

namespace shewhart::engine {

namespace {
// The record's value of scope key `k`; for kLot its lot number `lot` (< e.lot_count).
const Label& ScopeLabelOf(const UnitEvent& e, ScopeKey k, std::size_t lot) {
  switch (k) {
    case ScopeKey::kStation: return e.station;
    case ScopeKey::kMachine: return e.machine;
    case ScopeKey::kLot: return e.lots[lot];
    case ScopeKey::kOperator: return e.op;
    case ScopeKey::kModel: return e.model;
  }
  return e.station;
}
}  // namespace

Responder::Responder(ResponderParts parts)
    : config_(*parts.config),
      store_(*parts.store),
      trace_(*parts.trace),
      outbox_(parts.outbox),
      metrics_(*parts.metrics),
      characteristic_metrics_(*parts.characteristic_metrics),
      listener_(parts.listener),
      threaded_(parts.threaded),
      sinks_(std::move(parts.sinks)),
      on_signal_latency_(std::move(parts.on_signal_latency)),
      input_clock_(std::move(parts.input_clock)),
      on_store_health_(std::move(parts.on_store_health)),
      audit_(std::move(parts.audit)),
      signals_total_(parts.signals_total),
      alarms_total_(parts.alarms_total),
      arrival_to_signal_(parts.arrival_to_signal),
      arrival_to_response_(parts.arrival_to_response),
      directory_(*parts.config),
      stations_(metrics_, config_.metrics_max_stations) {
  auto& m = metrics_;
  action_failures_ = m.GetCounter("shewhart_action_failures_total", "Alarm actions that failed.");
  silenced_ = m.GetCounter("shewhart_alarms_silenced_total",
                           "Alarm tiers entered whose notification actions a silence suppressed.");
  unit_failures_ = m.GetCounter(
      "shewhart_responder_store_failures_total",
      "Batches of signals (or genealogy joins, or requests) the responder could not commit to the store (disk full, "
      "I/O error): each was rolled back, kept and tried again.");
  // Alarms open by policy and tier: every policy in use or configured, at tier 0 (an alarm no
  // tier condition has held for yet) and at each of its tiers.
  const Config& config = config_;
  for (const auto& [name, policy] : config.responses) AlarmGauges(policy);
  for (std::size_t c = 0; c < config.characteristics.size(); ++c) AlarmGauges(config.ResponseFor(c));
  for (const char* state : {"open", "closed"}) {
    hold_gauges_[state] = m.GetGauge("shewhart_holds", "Holds (quarantines) in the store by state: open, closed.",
                                     {{"state", state}});
  }
  for (const char* state : {"held", "released", "reworked", "scrapped"}) {
    unit_gauges_[state] = m.GetGauge(
        "shewhart_held_units",
        "Units taken into holds, in the store, by state: held (awaiting disposition), released, reworked, scrapped.",
        {{"state", state}});
  }
  // zmq_pub hooks are published by the responder itself (the others through the outbox,
  // which counts their deliveries in the same family).
  for (const auto& [name, hook] : config.hooks) {
    if (hook.kind != HookSpec::Kind::kZmqPub) continue;
    sink_counters_[name] = {m.GetCounter("shewhart_hook_deliveries_total", kHookDeliveriesHelp,
                                         {{"action", name}, {"outcome", "delivered"}}),
                            m.GetCounter("shewhart_hook_deliveries_total", kHookDeliveriesHelp,
                                         {{"action", name}, {"outcome", "failed"}})};
  }
  // The zmq_pub hooks each characteristic's policy runs in any tier: its `signal` messages.
  signal_sinks_.resize(config.characteristics.size());
  for (std::size_t c = 0; c < config.characteristics.size(); ++c) {
    auto& list = signal_sinks_[c];
    for (const TierSpec& tier : config.ResponseFor(c).tiers) {
      for (const std::string& action : tier.actions) {
        auto sink = sinks_.find(action);
        if (sink == sinks_.end()) continue;
        if (std::none_of(list.begin(), list.end(), [&](const auto& e) { return e.first == action; })) {
          list.emplace_back(action, sink->second);
        }
      }
    }
  }
}

// Reloads open alarms and hold counts from the store (after a restart).
Status Responder::Load() {
  unack_due_ = EventTime::min();  // scanned at the next check
  auto max_id = store_.MaxAlarmId();
  if (!max_id.ok()) return max_id.status();
  const bool first = !loaded_;
  if (first) {
    // At start, above what a run that crashed may have published (its reservation); a clean
    // stop gave back what it did not use.
    auto reserved = store_.ReservedAlarmIds();
    if (!reserved.ok()) return reserved.status();
    directory_.RaiseNextId(*reserved + 1);
    auto done = store_.MetaCount(kJournalDone);
    if (!done.ok()) return done.status();
    journal_done_ = static_cast<std::uint64_t>(*done);
  }
  // The next id never goes down: not below an id this run has claimed (retention may have
  // deleted a stored one since).
  directory_.RaiseNextId(*max_id + 1);
  auto alarms = store_.ListAlarms(/*open_only=*/true, 1 << 30);
  if (!alarms.ok()) return alarms.status();
  for (auto& a : *alarms) {
    std::int64_t id = config_.FindCharacteristic(a.characteristic);
    if (id < 0) {
      spdlog::warn(
          "alarm {} of characteristic '{}' stays open in the store, but the characteristic is no longer configured",
          a.id, a.characteristic);
      continue;
    }
    std::vector<ScopeKey> keys;
    for (const auto& kv : a.scope) keys.push_back(kv.first);
    if (keys != config_.characteristics[static_cast<std::size_t>(id)].scope) {
      // Its scope is no longer one the characteristic's signals can name: it would stay open
      // for good, taking units. Closed (its hold keeps its units for disposition), audited.
      SHEWHART_RETURN_IF_ERROR(CloseForChangedScope(a, config_.characteristics[static_cast<std::size_t>(id)]));
      continue;
    }
    Key key{static_cast<CharacteristicId>(id), FormatScope(a.scope)};  // before `a` is moved from
    // The tiers up to its current one count as entered; unacknowledged_for counts from when it reached its tier (from
    // the restart for alarms stored before that time was kept).
    const EventTime reached = a.tier_reached != EventTime{} ? a.tier_reached : clock();
    tier_state_[a.id] = TierState{a.tier >= 1 ? (2u << a.tier) - 2u : 0u, reached};
    Open(key, std::move(a));
  }
  if (first) {
    // The judging threads claim from here on; after a rollback (Recover) the directory keeps
    // the claims of the batch that is tried again.
    std::vector<std::pair<Key, std::int64_t>> open;
    for (const auto& [key, a] : open_) open.emplace_back(key, a.id);
    directory_.Reset(open, directory_.next_id());
    loaded_ = true;
  }
  auto holds = store_.ListHolds();
  if (!holds.ok()) return holds.status();
  for (const auto& h : *holds) {
    if (h.state != "open") continue;
    held_in_[h.id] += h.units;
  }
  SHEWHART_RETURN_IF_ERROR(CountHolds());
  UpdateGauges();
  return Status::Ok();
}

// Resolves open alarm `a` whose scope keys differ from the characteristic's configured ones (a
// config changed between runs: station -> machine), in one unit of work with its audit record
// `alarm.closed` (reason scope_changed). At the wall-clock time: an act of the engine, like
// an acknowledgement.
Status Responder::CloseForChangedScope(AlarmRecord a, const CharacteristicSpec& spec) {
  std::string now_keys;
  for (ScopeKey k : spec.scope) {
    if (!now_keys.empty()) now_keys += ',';
    now_keys += ScopeKeyName(k);
  }
  spdlog::warn("alarm #{} {} at {} is closed: the characteristic's scope is now [{}], so no signal can reach it; "
               "its hold #{} keeps its units",
               a.id, a.characteristic, FormatScope(a.scope), now_keys, a.hold_id);
  SHEWHART_RETURN_IF_ERROR(store_.Begin());
  a.state = "resolved";
  a.resolved_ts = WallClock();
  Status st = store_.UpdateAlarm(a);
  if (st.ok()) {
    st = audit_("alarm.closed", "alarm/" + std::to_string(a.id),
                Json{{"alarm", a.id}, {"reason", "scope_changed"}, {"scope", ScopeJson(a.scope)},
                     {"scope_now", now_keys}, {"hold", a.hold_id}},
                "engine");
  }
  if (!st.ok()) {
    store_.Rollback();
    return st;
  }
  return store_.Commit();
}

// Open holds and the units they still hold, from the store (after dispositions and closings,
// which change them in the store).
Status Responder::CountHolds() {
  auto counts = store_.CountHoldStates();
  if (!counts.ok()) return counts.status();
  hold_counts_ = std::move(*counts);
  holds_open_count_ = hold_counts_.holds["open"];
  held_total_ = hold_counts_.units["held"];
  return Status::Ok();
}

// After a retention run deleted holds (and their units): the gauges from the store again.
void Responder::RecountHolds() {
  if (Status st = CountHolds(); !st.ok()) spdlog::error("counting holds: {}", st.message());
  UpdateGauges();
}

// Commits pending genealogy, then, in one unit of work, escalates alarms by time and adds
// the units that arrived in the scope of an open alarm's suspect window to its hold. An error
// leaves nothing half done: the genealogy is kept and tried again, the unit rolled back.
Status Responder::Tick() {
  if (Status st = trace_.Flush(); !st.ok()) return Failed(st);
  return RunUnit([this] { JoinFlushed(); });
}

// Signals taken from the responder's queue (or one, inline): the genealogy committed first,
// then all of them in one unit of work (group commit): each alarm's state, tier, hold, outbox
// rows and audit records are stored together or not at all. On an error nothing of the
// batch is stored and the responder's state is as before it: the caller keeps the batch and
// tries it again.
Status Responder::HandleBatch(const Signal* signals, std::size_t n) {
  if (recover_) {
    Recover();
    if (recover_) return store_status_;
  }
  // Claimed (and published) where they were raised; one handed over unclaimed (a test, a
  // benchmark) is claimed now. The alarms they name commit below, or, after a rollback, when
  // the batch is tried again under the same claims.
  const Signal* batch = signals;
  std::vector<Signal> claimed;
  for (std::size_t i = 0; i < n; ++i) {
    if (signals[i].claim != Signal::Claim::kNone) continue;
    if (claimed.empty()) claimed.assign(signals, signals + n);
    directory_.Claim(claimed[i]);
    batch = claimed.data();
  }
  if (Status st = trace_.Flush(); !st.ok()) return Failed(st);
  return RunUnit([&] {
    // Keep half a block of reserved ids ahead of the claims, so that the ids `signal` messages
    // name were reserved by a commit before they were published (the judging threads publish
    // only ids up to the reservation).
    const std::int64_t next = directory_.next_id();
    if (threaded_ && next + kAlarmIdBlock / 2 > directory_.reserved()) {
      const std::int64_t up_to = next + kAlarmIdBlock;
      if (Status st = store_.ReserveAlarmIds(up_to); !st.ok()) Fail(st);
      store_.AfterCommit([this, up_to] { directory_.SetReserved(up_to); });
    }
    JoinFlushed();
    for (std::size_t i = 0; i < n; ++i) Handle(batch[i]);
    // The journal mark moves over every sequence number now stored without a gap below it.
    std::set<std::uint64_t> stored = journal_stored_;
    for (std::size_t i = 0; i < n; ++i) {
      if (batch[i].journal_seq > journal_done_) stored.insert(batch[i].journal_seq);
    }
    std::uint64_t done = journal_done_;
    while (!stored.empty() && *stored.begin() == done + 1) stored.erase(stored.begin()), ++done;
    if (done != journal_done_) {
      if (Status st = store_.SetMetaCount(kJournalDone, static_cast<std::int64_t>(done)); !st.ok()) Fail(st);
    }
    store_.AfterCommit([this, done, stored = std::move(stored)]() mutable {
      journal_done_ = done;
      journal_stored_ = std::move(stored);
    });
  });
}

Status Responder::CompleteJournaled(const std::vector<Signal>& signals) {
  completing_ = true;
  Status st = Status::Ok();
  for (std::size_t i = 0; i < signals.size() && st.ok(); i += 64) {
    st = HandleBatch(signals.data() + i, std::min<std::size_t>(64, signals.size() - i));
  }
  completing_ = false;
  if (!st.ok()) return st;
  std::vector<std::pair<Key, std::int64_t>> open;
  for (const auto& [key, a] : open_) open.emplace_back(key, a.id);
  directory_.Reset(open, directory_.next_id());
  return Status::Ok();
}

// Runs `body` as one unit of work of the store. `body` reports store errors with Fail; any
// makes the unit roll back. After a rollback (or a failed commit) the responder's state is
// rebuilt from the store (Recover), so that what it believes matches what is stored.
Status Responder::RunUnit(const std::function<void()>& body) {
  if (recover_) {
    Recover();
    if (recover_) return store_status_;
  }
  failure_ = Status::Ok();
  if (Status st = store_.Begin(); !st.ok()) return Failed(st);
  windows_undo_.clear();
  joined_in_unit_ = false;
  undo_ = true;
  body();
  undo_ = false;
  Status st = failure_;
  if (st.ok()) {
    st = store_.Commit();
  } else {
    store_.Rollback();
  }
  if (!st.ok()) {
    for (auto& [key, w] : windows_undo_) {
      if (w) windows_[key] = std::move(*w);
      else windows_.erase(key);
    }
    recover_ = true;
    Recover();
    return Failed(st);
  }
  // The flushed genealogy is done with only when this unit joined it to the holds (a unit of a
  // request or a clock tick after a failed one does not: the next tick or batch joins it).
  if (joined_in_unit_) {
    for (const UnitEvent& ev : trace_.flushed()) stations_.OnRecord(ev.station.view(), ev.unit.view());
    trace_.Joined();
  }
  if (!store_status_.ok()) {
    store_status_ = Status::Ok();
    on_store_health_(Status::Ok());
    spdlog::info("responder: the store takes writes again");
  }
  return Status::Ok();
}

Status Responder::Failed(const Status& st) {
  store_status_ = st;
  on_store_health_(st);
  unit_failures_->Inc();
  spdlog::error("responder: nothing of this batch was stored, it is kept and tried again: {}", st.message());
  return st;
}

// A store error inside a unit of work: the unit rolls back (the first error is reported).
void Responder::Fail(const Status& st) {
  if (failure_.ok()) failure_ = st;
}

// After a unit rolled back: the open alarms, their tiers, holds and quarantine feeds as the
// store has them. Windowed counts and the last resolutions were restored from the unit's
// undo records. Stays due (recover_) while the store cannot be read.
void Responder::Recover() {
  open_.clear();
  for (auto& [key, count] : alarm_gauges_) count.n = 0;
  by_scope_.clear();
  scope_key_sets_.clear();
  held_in_.clear();
  feeds_.clear();
  tier_state_.clear();
  Status st = Load();
  if (st.ok() && outbox_) st = ResumeSerialFeeds();
  if (!st.ok()) {
    store_status_ = st;
    spdlog::error("responder: the open alarms could not be read back from the store: {}", st.message());
    return;
  }
  recover_ = false;
}

// The genealogy batch Flush committed: time escalations, then the units it brings to open
// holds. Inside a unit of work.
void Responder::JoinFlushed() {
  joined_in_unit_ = true;
  if (feed_all_) {
    feed_all_ = false;
    for (auto& [key, a] : open_) FeedSerials(a);
  }
  if (!open_.empty()) CheckUnacknowledged(clock());
  const std::vector<UnitEvent>& batch = trace_.flushed();
  if (batch.empty()) return;
  if (holds_open_count_ > 0) JoinAssemblies(batch);
  if (by_scope_.empty()) return;
  // Keyed by alarm id, not by pointer: holds grow in the same order on every run (replay output).
  std::map<std::int64_t, std::pair<AlarmRecord*, std::vector<HeldUnit>>> joining;
  std::string key;
  for (const UnitEvent& ev : batch) {
    for (const auto& keys : scope_key_sets_) {
      // A lot scope matches a record listing the lot in any position: one key per lot.
      const bool by_lot = std::find(keys.begin(), keys.end(), ScopeKey::kLot) != keys.end();
      const std::size_t variants = by_lot ? ev.lot_count : 1;
      for (std::size_t lot = 0; lot < variants; ++lot) {
        key.clear();
        for (std::size_t i = 0; i < keys.size(); ++i) {
          if (i) key += ',';
          key += ScopeKeyName(keys[i]);
          key += '=';
          key.append(ScopeLabelOf(ev, keys[i], lot).view());
        }
        auto range = by_scope_.equal_range(key);
        for (auto it = range.first; it != range.second; ++it) {
          AlarmRecord* a = it->second;
          if (a->hold_id == 0 || ev.ts < a->window_start) continue;
          auto& entry = joining[a->id];
          entry.first = a;
          entry.second.push_back(HeldUnit{a->hold_id, std::string(ev.unit.view()), "held", ev.ts});
        }
      }
    }
  }
  for (auto& [id, entry] : joining) AddToHold(*entry.first, entry.second);
  UpdateGauges();
}

// One signal, inside a unit of work (HandleBatch).
void Responder::Handle(const Signal& s) {
  if (s.kind == Signal::Kind::kRecovered) {
    Resolve(s);
    return;
  }
  const auto& spec = config_.characteristics[s.characteristic];
  {
    // Counted once the signal's unit commits (a unit tried again does not count it twice).
    const std::int64_t signal_ns = s.arrival_ns != 0 ? s.raised_ns - s.arrival_ns : 0;
    const std::int64_t response_ns = s.arrival_ns != 0 ? SteadyNowNs() - s.arrival_ns : 0;
    store_.AfterCommit([this, c = s.characteristic, rule = s.hit.rule, timed = s.arrival_ns != 0, signal_ns,
                            response_ns] {
      if (timed) {
        arrival_to_signal_->Observe(static_cast<double>(signal_ns) * 1e-9);
        arrival_to_response_->Observe(static_cast<double>(response_ns) * 1e-9);
        if (on_signal_latency_) on_signal_latency_(signal_ns, response_ns);
      }
      if (CharacteristicMetrics* cm = characteristic_metrics_[c].get()) cm->OnSignal(rule);
      signals_total_->Inc();
    });
  }
  if (!threaded_) now_ = std::max(now_, s.hit.ts);
  CountSignal(s);
  const ScopeLabels scope = SignalScope(config_, s);

  // One open alarm per characteristic and scope (e.g. per station): a drift at one station
  // and a spike at another are separate alarms with separate holds.
  Key key{s.characteristic, FormatScope(scope)};
  auto it = open_.find(key);
  if (it != open_.end()) {
    // The directory and the open alarms disagree only through a bug: logged; the signal joins
    // the alarm that is open (its id then differs from the one published).
    if (it->second.id != s.alarm && failure_.ok()) {
      spdlog::error("responder: a {} signal of '{}' claimed alarm {}, but alarm {} is open for its scope",
                    rules::RuleName(s.hit.rule), spec.id, s.alarm, it->second.id);
    }
    AlarmRecord& a = it->second;
    a.signals += 1;
    a.last_signal_ts = std::max(a.last_signal_ts, s.hit.ts);
    const bool earlier = s.hit.window_start < a.window_start;
    a.window_start = std::min(a.window_start, s.hit.window_start);
    Status st = store_.UpdateAlarm(a);
    if (!st.ok()) Fail(st);
    // A window that now starts earlier (a retrospective Phase I signal) reaches back to
    // units that were not yet held.
    if (earlier) HoldWindow(a);
    Escalate(a, s, EnterableTiers(a, s));
    UpdateGauges();
    return;
  }

  if (s.claim == Signal::Claim::kJoins && JoinResolved(s)) return;
  if (s.claim == Signal::Claim::kReopens && Reopen(key, s)) {
    UpdateGauges();
    return;
  }
  AlarmRecord a;
  a.characteristic = spec.id;
  a.policy = config_.ResponseFor(s.characteristic).name;
  a.tier = 0;  // set by the tiers the opening signal enters
  a.rule = std::string(rules::RuleName(s.hit.rule));
  a.chart = std::string(rules::ChartName(s.hit.chart));
  a.opened_ts = s.hit.ts;
  a.last_signal_ts = s.hit.ts;
  a.window_start = s.hit.window_start;
  a.signals = 1;
  a.scope = scope;
  // A journaled opening stored before the process died (its unit committed, the mark had not
  // reached it): not opened twice.
  if (completing_ && store_.GetAlarm(s.alarm).ok()) return;
  a.id = s.alarm;  // claimed: never given to another alarm
  auto id = store_.InsertAlarm(a);
  if (!id.ok()) {
    Fail(id.status());
    return;
  }
  a.id = *id;
  const std::vector<int> tiers = EnterableTiers(a, s);
  if (!tiers.empty()) a.tier = tiers.back();
  a.tier_reached = Now(s.hit.ts);
  Status st = store_.UpdateAlarm(a);
  if (!st.ok()) Fail(st);
  Audit("alarm.opened", "alarm/" + std::to_string(a.id), AlarmAuditBody(a));
  store_.AfterCommit([c = alarms_total_] { c->Inc(); });
  AlarmRecord& alarm = Open(key, std::move(a));
  TierState& ts = tier_state_[alarm.id];
  ts.reached = alarm.tier_reached;
  OpenHold(alarm, tiers);  // before it is reported: the report names its hold
  if (listener_) listener_->OnAlarm(alarm, true);
  for (int t : tiers) {
    ts.entered |= 1u << t;
    RunTierNumber(alarm, t, s);
  }
  NoteDeadline(s.characteristic, alarm);
  UpdateGauges();
}

// The responder's clock: event time in replay (the newest measurement's), wall clock in run
// (or, with engine.clock: event, the newest event time accepted).
// When an alarm reaches a tier on a signal at event time `event`: that event time, on an event
// clock (replay, engine.clock: event); the wall clock otherwise.
EventTime Responder::Now(EventTime event) const {
  if (threaded_ && !config_.event_clock) return WallClock();
  return event;
}

EventTime Responder::clock() const {
  if (!threaded_) return std::max(now_, input_clock_());
  if (!config_.event_clock) return WallClock();
  return input_clock_();
}

// Inline mode: the input's event time moved on (escalations by time may be due).
void Responder::ClockTick() {
  if (!open_.empty() && clock() >= unack_due_) (void)RunUnit([this] { CheckUnacknowledged(clock()); });
}

// min_interval: a signal soon after the resolution of the scope's previous alarm reopens it
// (same alarm, same hold, which grows again). True when it did.
bool Responder::JoinResolved(const Signal& s) {
  auto stored = store_.GetAlarm(s.alarm);
  if (stored.status().code() == StatusCode::kNotFound) return false;
  if (!stored.ok()) {
    Fail(stored.status());  // the unit is tried again
    return true;
  }
  AlarmRecord a = *stored;
  a.signals += 1;
  a.last_signal_ts = std::max(a.last_signal_ts, s.hit.ts);
  if (Status st = store_.UpdateAlarm(a); !st.ok()) Fail(st);
  spdlog::info("alarm #{} {}: a {} signal raised while it was open is recorded after its resolution", a.id,
               a.characteristic, rules::RuleName(s.hit.rule));
  return true;
}

bool Responder::Reopen(const Key& key, const Signal& s) {
  auto stored = store_.GetAlarm(s.alarm);
  if (stored.status().code() == StatusCode::kNotFound) return false;
  if (!stored.ok()) {
    // Not a new alarm instead: the unit is tried again.
    Fail(stored.status());
    return true;
  }
  AlarmRecord a = *stored;
  a.state = "open";
  a.resolved_ts = EventTime{};
  a.signals += 1;
  a.last_signal_ts = std::max(a.last_signal_ts, s.hit.ts);
  a.window_start = std::min(a.window_start, s.hit.window_start);
  Status st = store_.UpdateAlarm(a);
  if (!st.ok()) {
    Fail(st);
    return true;
  }
  Audit("alarm.reopened", "alarm/" + std::to_string(a.id),
           Json{{"alarm", a.id}, {"rule", std::string(rules::RuleName(s.hit.rule))}, {"ts", FormatRfc3339(s.hit.ts)}});
  spdlog::warn("alarm #{} {} reopened: a {} signal within min_interval of its resolution", a.id, a.characteristic,
               rules::RuleName(s.hit.rule));
  AlarmRecord& alarm = Open(key, std::move(a));
  // After a Recover its tiers are known only from the store (as Load has them for open alarms).
  if (tier_state_.find(alarm.id) == tier_state_.end()) {
    const EventTime reached = alarm.tier_reached != EventTime{} ? alarm.tier_reached : Now(s.hit.ts);
    tier_state_[alarm.id] = TierState{alarm.tier >= 1 ? (2u << alarm.tier) - 2u : 0u, reached};
  }
  if (listener_) listener_->OnAlarm(alarm, false);
  HoldWindow(alarm);
  NoteDeadline(s.characteristic, alarm);
  return true;
}

// Forgets an open alarm (resolved): its scope no longer gathers units into its hold.
void Responder::Close(const Key& key) {
  auto it = open_.find(key);
  if (it == open_.end()) return;
  auto range = by_scope_.equal_range(key.second);
  for (auto b = range.first; b != range.second; ++b) {
    if (b->second == &it->second) {
      by_scope_.erase(b);
      break;
    }
  }
  CountOpen(it->second, -1);
  open_.erase(it);
}

// An audit record appended in the unit of work (its failure fails the unit).
void Responder::Audit(std::string kind, std::string subject, const Json& body, const std::string& actor) {
  if (Status st = audit_(std::move(kind), std::move(subject), body, actor); !st.ok()) Fail(st);
}

AlarmRecord& Responder::Open(const Key& key, AlarmRecord a) {
  auto [it, inserted] = open_.emplace(key, std::move(a));
  SHEWHART_CHECK(inserted);
  AlarmRecord& alarm = it->second;
  CountOpen(alarm, +1);
  by_scope_.emplace(key.second, &alarm);
  std::vector<ScopeKey> keys;
  for (const auto& kv : alarm.scope) keys.push_back(kv.first);
  if (std::find(scope_key_sets_.begin(), scope_key_sets_.end(), keys) == scope_key_sets_.end()) {
    scope_key_sets_.push_back(keys);
  }
  return alarm;
}

// The scope of `s` has been in control for the policy's resolve_after observations: its open
// alarm is resolved at that observation's time. The hold stays (its units await disposition)
// but no longer grows.
void Responder::Resolve(const Signal& s) {
  const Key key = KeyOf(s);
  auto it = open_.find(key);
  if (it == open_.end()) return;  // resolved already (or never opened, e.g. the store refused it)
  AlarmRecord& a = it->second;
  a.state = "resolved";
  a.resolved_ts = s.hit.ts;
  Status st = store_.UpdateAlarm(a);
  if (!st.ok()) Fail(st);
  Audit("alarm.resolved", "alarm/" + std::to_string(a.id), AlarmAuditBody(a));
  spdlog::info(
      "RESOLVED alarm #{} {} at {}: {} consecutive in-control points since its last signal; hold #{} keeps {} units",
      a.id, a.characteristic, key.second, config_.ResponseFor(s.characteristic).resolve_after, a.hold_id,
      held_in_[a.hold_id]);
  if (listener_) listener_->OnAlarm(a, false);
  SendResolved(a);
  CloseHoldIfDone(a);
  Close(key);
  UpdateGauges();
}

// Registers the open-alarm gauges of `policy`: tier 0 and each of its tiers.
void Responder::AlarmGauges(const ResponseSpec& policy) {
  AlarmGauge(policy.name, 0);
  for (const TierSpec& t : policy.tiers) AlarmGauge(policy.name, t.tier);
}

Responder::AlarmCount& Responder::AlarmGauge(const std::string& policy, int tier) {
  auto [it, inserted] = alarm_gauges_.try_emplace({policy, tier});
  if (inserted) {
    it->second.gauge = metrics_.GetGauge(
        "shewhart_alarms_open", "Alarms not yet resolved (open or acknowledged), by response policy and current tier.",
        {{"policy", policy}, {"tier", std::to_string(tier)}});
  }
  return it->second;
}

void Responder::UpdateGauges() {
  for (auto& [key, count] : alarm_gauges_) count.gauge->Set(static_cast<double>(count.n));
  hold_counts_.holds["open"] = holds_open_count_;
  hold_counts_.units["held"] = held_total_;
  for (auto& [state, gauge] : hold_gauges_) gauge->Set(static_cast<double>(hold_counts_.holds[state]));
  for (auto& [state, gauge] : unit_gauges_) gauge->Set(static_cast<double>(hold_counts_.units[state]));
}

// An alarm reloaded after a restart may name a policy the config no longer has: its gauge is
// registered here (the registry's mutex, once).
void Responder::CountOpen(const AlarmRecord& a, int delta) { AlarmGauge(a.policy, a.tier).n += delta; }

}  // namespace shewhart::engine

// Tiers: which a signal enters (conditions, windowed counts), escalation by time, inhibition
// by a locked station, silences, and running each tier's actions.
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

// The group a windowed count of `s` falls in.
std::string Responder::GroupOf(const Signal& s, GroupBy g) {
  if (g == GroupBy::kCharacteristic) {
    std::string group = "c";  // appended, not "c" + ...: g++ 12 misreports that as overlapping (bug 105329)
    group += std::to_string(s.characteristic);
    return group;
  }
  return std::string(s.labels[static_cast<std::size_t>(g) - 1].view());
}

// Adds `s` to the windows of its policy's `signals: N, within: T` tiers.
void Responder::CountSignal(const Signal& s) {
  const ResponseSpec& policy = config_.ResponseFor(s.characteristic);
  for (const TierSpec& tier : policy.tiers) {
    if (tier.when.kind != TierCondition::Kind::kCount) continue;
    WindowKey k{policy.name, tier.tier, GroupOf(s, tier.when.group_by)};
    auto& w = windows_[k];
    if (undo_) windows_undo_.try_emplace(k, w.empty() ? std::nullopt : std::optional(w));
    w.push_back(s.hit.ts);
    std::sort(w.begin(), w.end());  // nearly sorted: signals arrive in about event order
    const EventTime newest = w.back();
    while (!w.empty() && w.front() <= newest - tier.when.within) w.pop_front();
  }
}

// The tiers (in order) that `s` makes alarm `a` enter now: each not yet entered whose
// condition holds on this signal; an unacknowledged_for tier waits for time (CheckUnacknowledged).
std::vector<int> Responder::EnterableTiers(const AlarmRecord& a, const Signal& s) {
  std::vector<int> out;
  const ResponseSpec& policy = config_.ResponseFor(s.characteristic);
  const std::uint32_t entered = a.id ? tier_state_[a.id].entered : 0;
  for (const TierSpec& tier : policy.tiers) {
    if (entered >> tier.tier & 1u) continue;
    bool holds = false;
    switch (tier.when.kind) {
      case TierCondition::Kind::kAnySignal: holds = true; break;
      case TierCondition::Kind::kRules:
        holds = std::find(tier.when.rules.begin(), tier.when.rules.end(), s.hit.rule) != tier.when.rules.end();
        break;
      case TierCondition::Kind::kCount: {
        auto w = windows_.find({policy.name, tier.tier, GroupOf(s, tier.when.group_by)});
        holds = w != windows_.end() && static_cast<int>(w->second.size()) >= tier.when.count;
        break;
      }
      case TierCondition::Kind::kUnacknowledged: holds = false; break;
    }
    if (holds && tier.tier > a.tier) out.push_back(tier.tier);
  }
  return out;
}

// Enters `tiers` (ascending) on an open alarm: records the new tier, reports it, runs each
// tier's actions once.
void Responder::Escalate(AlarmRecord& a, const Signal& s, const std::vector<int>& tiers) {
  if (tiers.empty()) return;
  TierState& ts = tier_state_[a.id];
  const int from = a.tier;
  CountOpen(a, -1);
  a.tier = tiers.back();
  CountOpen(a, +1);
  ts.reached = a.tier_reached = Now(s.hit.ts);
  Status st = store_.UpdateAlarm(a);
  if (!st.ok()) Fail(st);
  Audit("alarm.tier", "alarm/" + std::to_string(a.id),
           Json{{"alarm", a.id}, {"from", from}, {"to", a.tier}, {"rule", std::string(rules::RuleName(s.hit.rule))},
                {"ts", FormatRfc3339(s.hit.ts)}});
  OpenHold(a, tiers);
  if (listener_) listener_->OnAlarm(a, false);
  for (int t : tiers) {
    ts.entered |= 1u << t;
    RunTierNumber(a, t, s);
  }
  NoteDeadline(s.characteristic, a);
}

// Escalation by time: an open alarm not acknowledged within a tier's unacknowledged_for of
// reaching its latest tier enters that tier. Called with the responder's clock.
void Responder::CheckUnacknowledged(EventTime now) {
  if (now < unack_due_) return;
  EventTime next = EventTime::max();
  for (auto& [key, a] : open_) {
    std::optional<EventTime> due = UnacknowledgedDeadline(key.first, a);
    if (due && now >= *due) {
      const ResponseSpec& policy = config_.ResponseFor(key.first);
      const TierState& ts = tier_state_[a.id];
      for (const TierSpec& tier : policy.tiers) {
        if (tier.tier <= a.tier || (ts.entered >> tier.tier & 1u)) continue;
        Signal s;
        s.characteristic = key.first;
        s.hit.rule = rules::RuleFromName(a.rule).value_or(rules::RuleKind::kNelson1);
        s.hit.ts = now;
        s.hit.value = std::numeric_limits<double>::quiet_NaN();
        spdlog::warn("alarm #{} {}: not acknowledged within {} s of tier {}: tier {}", a.id, a.characteristic,
                     tier.when.unacknowledged_for.count() / 1000000, a.tier, tier.tier);
        Escalate(a, s, {tier.tier});
        break;
      }
      due = UnacknowledgedDeadline(key.first, a);
    }
    if (due) next = std::min(next, *due);
  }
  unack_due_ = next;
}

std::optional<EventTime> Responder::UnacknowledgedDeadline(CharacteristicId c, const AlarmRecord& a) {
  if (a.state != "open") return std::nullopt;
  const TierState& ts = tier_state_[a.id];
  for (const TierSpec& tier : config_.ResponseFor(c).tiers) {
    if (tier.tier <= a.tier || (ts.entered >> tier.tier & 1u)) continue;
    // The next tier waits for a signal: no escalation by time before it.
    if (tier.when.kind != TierCondition::Kind::kUnacknowledged) return std::nullopt;
    return ts.reached + tier.when.unacknowledged_for;
  }
  return std::nullopt;
}

void Responder::NoteDeadline(CharacteristicId c, const AlarmRecord& a) {
  if (std::optional<EventTime> due = UnacknowledgedDeadline(c, a)) unack_due_ = std::min(unack_due_, *due);
}

// The open tier-3 (or higher) alarm of the same station as `alarm`, if any: while the station
// is locked, its tier-1 notices are noise.
const AlarmRecord* Responder::Tier3OfStation(const AlarmRecord& alarm) const {
  auto station_of = [](const AlarmRecord& a) -> const std::string* {
    for (const auto& [k, v] : a.scope) {
      if (k == ScopeKey::kStation) return &v;
    }
    return nullptr;
  };
  const std::string* station = station_of(alarm);
  if (!station || station->empty()) return nullptr;
  for (const auto& [key, other] : open_) {
    const std::string* st = station_of(other);
    if (other.id != alarm.id && other.tier >= 3 && st && *st == *station) return &other;
  }
  return nullptr;
}

// Silences: the notification actions (zmq_pub, webhook, exec, alertmanager hooks that are
// `silenceable`) of the tier `alarm` enters on `s` that an active silence suppresses, in the
// tier's order; empty when none matches. The time is the one the alarm reaches the tier at
// (Now: the wall clock in `run`, the signal's event time on an event clock). A silenced tier
// is audited (`alarm.silenced`: the oldest matching silence) and counted; `log` and
// `quality_case` still run. A store that cannot be read silences nothing (logged): a
// notification too many rather than one lost.
std::vector<std::string> Responder::Silenced(const AlarmRecord& alarm, const Signal& s) {
  std::vector<std::string> notifications;
  const ResponseSpec& policy = config_.ResponseFor(s.characteristic);
  for (const TierSpec& tier : policy.tiers) {
    if (tier.tier != alarm.tier) continue;
    for (const std::string& action : tier.actions) {
      auto hook = config_.hooks.find(action);
      if (hook == config_.hooks.end() || hook->second.kind == HookSpec::Kind::kLog || !hook->second.silenceable ||
          hook->second.quarantine_batch > 0) {
        continue;  // log, quality_case, quarantine (hooks): record-keeping or holding, never silenced
      }
      notifications.push_back(action);
    }
  }
  if (notifications.empty()) return {};
  const EventTime at = Now(s.hit.ts);
  auto active = store_.ListSilences(1 << 20, at);
  if (!active.ok()) {
    spdlog::error("alarm {}: silences could not be read, tier {} is notified: {}", alarm.id, alarm.tier,
                  active.status().message());
    return {};
  }
  const auto labels = SilenceLabelsOf(alarm, &s);
  for (const SilenceRecord& silence : *active) {
    if (!SilenceMatches(silence, labels)) continue;
    spdlog::info("alarm #{} {} tier {}: notifications silenced by silence {} ({}): {}", alarm.id, alarm.characteristic,
                 alarm.tier, silence.id, silence.comment,
                 Json(notifications).dump(-1, ' ', false, kReplaceInvalidUtf8));
    Audit("alarm.silenced", "alarm/" + std::to_string(alarm.id),
             Json{{"alarm", alarm.id}, {"tier", alarm.tier}, {"silence", silence.id}, {"actions", notifications},
                  {"ts", FormatRfc3339(at)}});
    silenced_->Inc();
    return notifications;
  }
  return {};
}

void Responder::RunTier(const AlarmRecord& alarm, const Signal& s, std::size_t held) {
  const ResponseSpec& policy = config_.ResponseFor(s.characteristic);
  bool inhibited = false;
  if (alarm.tier == 1) {
    if (const AlarmRecord* locked = Tier3OfStation(alarm)) {
      // Inhibited: recorded (the alarm and its hold exist), not notified; its quarantine
      // hooks still run (they are not notices).
      spdlog::info("alarm #{} {}: tier-1 notices inhibited: alarm #{} of the same station is at tier {}", alarm.id,
                   alarm.characteristic, locked->id, locked->tier);
      Audit("alarm.inhibited", "alarm/" + std::to_string(alarm.id),
               Json{{"alarm", alarm.id}, {"tier", 1}, {"by", locked->id}});
      inhibited = true;
    }
  }
  const std::vector<std::string> silenced = Silenced(alarm, s);
  for (const TierSpec& tier : policy.tiers) {
    if (tier.tier != alarm.tier) continue;
    for (const std::string& action : tier.actions) {
      if (inhibited && !QuarantineHook(action)) continue;
      if (std::find(silenced.begin(), silenced.end(), action) != silenced.end()) continue;
      if (action == "log" || (config_.hooks.count(action) && config_.hooks.at(action).kind == HookSpec::Kind::kLog)) {
        spdlog::warn(
            "ALARM #{} tier {} {}: {} on {} chart at {} value {} ({}), suspect window from {}, {} units held (hold "
            "#{})",
            alarm.id, alarm.tier, alarm.characteristic, alarm.rule, alarm.chart, FormatScope(alarm.scope), s.hit.value,
            FormatRfc3339(s.hit.ts), FormatRfc3339(alarm.window_start), held, alarm.hold_id);
        continue;
      }
      if (action == "quarantine") continue;  // done by RunTierNumber before the others
      if (action == "quality_case") {
        // Built in: a quality case opened on the alarm, recorded in the audit log.
        Audit("quality_case.opened", "alarm/" + std::to_string(alarm.id),
                 Json{{"alarm", alarm.id}, {"tier", alarm.tier}, {"characteristic", alarm.characteristic},
                      {"rule", alarm.rule}, {"scope", ScopeJson(alarm.scope)}, {"hold", alarm.hold_id},
                      {"window_start", FormatRfc3339(alarm.window_start)}, {"ts", FormatRfc3339(s.hit.ts)}});
        spdlog::warn("QUALITY CASE for alarm #{} {} (tier {}), recorded in the audit log", alarm.id,
                     alarm.characteristic, alarm.tier);
        continue;
      }
      if (QuarantineHook(action)) {
        // The held serials, in batches, now and as units join (FeedSerials).
        if (!outbox_) {
          spdlog::debug("alarm {}: action '{}' is not run in replay", alarm.id, action);
          continue;
        }
        feeds_[alarm.id].push_back(SerialFeed{tier.tier, action, 0, 0});
        FeedSerials(alarm);
        continue;
      }
      auto hook = config_.hooks.find(action);
      if (hook != config_.hooks.end() && hook->second.durable()) {
        if (!outbox_) {
          // Replay back-tests rules: it does not call the outside world.
          spdlog::debug("alarm {}: action '{}' is not run in replay", alarm.id, action);
          continue;
        }
        // Committed before anything is sent; the outbox's worker for the hook sends it.
        Json doc = AlarmJson(alarm);
        if (hook->second.kind == HookSpec::Kind::kAlertmanager) doc["held_units"] = held;
        Status st = outbox_->Enqueue(alarm.id, tier.tier, action, doc.dump(-1, ' ', false, kReplaceInvalidUtf8));
        if (!st.ok()) Fail(st);
        continue;
      }
      auto sink = sinks_.find(action);
      if (sink == sinks_.end()) {
        if (!threaded_) {
          // Replay back-tests rules: it does not call the outside world.
          spdlog::debug("alarm {}: action '{}' is not run in replay", alarm.id, action);
          continue;
        }
        spdlog::error("alarm {}: action '{}' has no sink; skipped", alarm.id, action);
        action_failures_->Inc();
        continue;
      }
      Publish(action, *sink->second, "alarm", AlarmJson(alarm).dump(-1, ' ', false, kReplaceInvalidUtf8), alarm.id);
    }
  }
}

// Runs the actions of tier `t` of the alarm's policy: `quarantine` first (it opens the hold,
// whose size the other actions report), then the others in their order.
void Responder::RunTierNumber(AlarmRecord& a, int t, const Signal& s) {
  if (Quarantines(a, t)) {
    OpenHold(a, {t});
    HoldWindow(a);
  }
  AlarmRecord at = a;
  at.tier = t;
  RunTier(at, s, a.hold_id ? static_cast<std::size_t>(held_in_[a.hold_id]) : 0);
}

// The quarantine hook `action` names, or null when it is not one.
const HookSpec* Responder::QuarantineHook(const std::string& action) const {
  auto h = config_.hooks.find(action);
  return h != config_.hooks.end() && h->second.quarantine_batch > 0 ? &h->second : nullptr;
}

// True when tier `t` of the alarm's policy runs the built-in `quarantine` action or a
// quarantine hook.
bool Responder::Quarantines(const AlarmRecord& a, int t) const {
  const int c = config_.FindCharacteristic(a.characteristic);
  if (c < 0) return false;
  for (const TierSpec& tier : config_.ResponseFor(static_cast<std::size_t>(c)).tiers) {
    if (tier.tier != t) continue;
    for (const std::string& action : tier.actions) {
      if (action == "quarantine" || QuarantineHook(action)) return true;
    }
  }
  return false;
}

// Alarm `a` was resolved: every `alertmanager` action its policy ran for it (in the tiers it
// entered) sends its alert again with endsAt, through the outbox, after the firing one (same
// lane, commit order). Key ResolvedIdempotencyKey. Nothing in replay (no outbox).
void Responder::SendResolved(const AlarmRecord& a) {
  if (!outbox_) return;
  const int c = config_.FindCharacteristic(a.characteristic);
  if (c < 0) return;
  auto ts = tier_state_.find(a.id);
  // After a restart the tiers up to the stored one count as entered (as in Escalate).
  const std::uint32_t entered = ts != tier_state_.end() ? ts->second.entered : (a.tier >= 1 ? (2u << a.tier) - 2u : 0u);
  const ResponseSpec& policy = config_.ResponseFor(static_cast<std::size_t>(c));
  for (const TierSpec& tier : policy.tiers) {
    if (!(entered >> tier.tier & 1u)) continue;
    for (const std::string& action : tier.actions) {
      auto hook = config_.hooks.find(action);
      if (hook == config_.hooks.end() || hook->second.kind != HookSpec::Kind::kAlertmanager) continue;
      // No resolution for an alert that was never committed (silenced, inhibited).
      auto fired = store_.HasDelivery(IdempotencyKey(a.id, tier.tier, action));
      if (fired.ok() && !*fired) continue;
      AlarmRecord at = a;
      at.tier = tier.tier;
      Json doc = AlarmJson(at);
      if (auto h = held_in_.find(a.hold_id); h != held_in_.end()) doc["held_units"] = h->second;
      Status st = outbox_->Enqueue(a.id, tier.tier, action, doc.dump(-1, ' ', false, kReplaceInvalidUtf8),
                                   ResolvedIdempotencyKey(a.id, tier.tier, action));
      if (!st.ok()) Fail(st);
    }
  }
}

}  // namespace shewhart::engine

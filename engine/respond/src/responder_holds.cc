// Holds: the suspect window's units, units joining an open alarm's scope, assemblies built
// from held units, and the quarantine hooks' batches of held serials.
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

// The built-in `quarantine` action: the first of `tiers` that runs it opens the alarm's hold
// (once per alarm); RunTierNumber then holds every unit of its suspect window so far, and
// from then on units arriving in its scope join it (Tick) until the alarm is resolved. Not a
// notice: neither inhibition nor silences stop it.
void Responder::OpenHold(AlarmRecord& a, const std::vector<int>& tiers) {
  if (a.hold_id != 0) return;
  int tier = 0;
  for (int t : tiers) {
    if (Quarantines(a, t)) {
      tier = t;
      break;
    }
  }
  if (tier == 0) return;
  HoldRecord h;
  h.alarm_id = a.id;
  h.characteristic = a.characteristic;
  h.scope = a.scope;
  h.from_ts = a.window_start;
  auto hid = store_.CreateHold(h);
  if (!hid.ok()) {
    Fail(hid.status());
    return;
  }
  a.hold_id = *hid;
  h.id = *hid;
  holds_open_count_ += 1;
  Status st = store_.UpdateAlarm(a);
  if (!st.ok()) Fail(st);
  Json body = HoldAuditBody(h);
  body["tier"] = tier;
  Audit("hold.created", "hold/" + std::to_string(h.id), body);
}

// Holds every unit in the alarm's scope from its window start until now (the units that
// arrive later join through Tick). Returns the number of units held by this call.
std::size_t Responder::HoldWindow(AlarmRecord& alarm) {
  if (alarm.hold_id == 0) return 0;
  auto units = store_.UnitsInScope(alarm.scope, alarm.window_start);
  if (!units.ok()) {
    Fail(units.status());
    return 0;
  }
  return AddToHold(alarm, *units);
}

// Adds `units` and every assembly that contains one of them (recursively, Store::Ancestors;
// each with its component's time) to the alarm's hold; reports and audits those that were
// not in it yet. Returns their number.
// `assemblies`: the units are assemblies joining through a held component (JoinAssemblies);
// otherwise they were processed in the hold's scope, and those new to holds count against its
// station (first-pass yield).
std::size_t Responder::AddToHold(AlarmRecord& alarm, std::vector<HeldUnit> units, bool assemblies) {
  const std::string* station = nullptr;
  for (const auto& [k, v] : alarm.scope) {
    if (k == ScopeKey::kStation) station = &v;
  }
  std::unordered_set<std::string> processed;  // the units processed at `station` (not assemblies)
  if (station && !assemblies) {
    for (const HeldUnit& u : units) processed.insert(u.serial);
  }
  if (!units.empty()) {
    std::vector<std::string> serials;
    std::map<std::string, EventTime> since;
    for (const HeldUnit& u : units) {
      serials.push_back(u.serial);
      since.emplace(u.serial, u.since);
    }
    auto assemblies = store_.Ancestors(serials);
    if (!assemblies.ok()) {
      Fail(assemblies.status());
    } else {
      for (const TracedUnit& t : assemblies->units) {  // by depth: `via` is known before
        auto v = since.find(t.via);
        const EventTime ts = v != since.end() ? v->second : alarm.window_start;
        since.emplace(t.serial, ts);
        units.push_back(HeldUnit{alarm.hold_id, t.serial, "held", ts});
      }
    }
  }
  std::vector<bool> first_hold;
  auto add = store_.AddHeldUnits(alarm.hold_id, units, processed.empty() ? nullptr : &first_hold);
  if (!add.ok()) {
    Fail(add.status());
    return 0;
  }
  if (!processed.empty()) {
    std::int64_t newly_held = 0;
    for (std::size_t i = 0; i < add->size(); ++i) newly_held += first_hold[i] && processed.count((*add)[i].serial);
    stations_.OnHeld(*station, newly_held);
  }
  if (!add->empty()) {
    HoldRecord hold;
    hold.id = alarm.hold_id;
    hold.alarm_id = alarm.id;
    Audit("hold.units_added", "hold/" + std::to_string(hold.id), HeldUnitsAuditBody(hold, *add));
  }
  const bool first = held_in_.find(alarm.hold_id) == held_in_.end();
  held_total_ += static_cast<std::int64_t>(add->size());
  std::int64_t total = held_in_[alarm.hold_id] += static_cast<std::int64_t>(add->size());
  if (!add->empty()) FeedSerials(alarm);
  if ((first || !add->empty()) && listener_) {
    HoldRecord h;
    h.id = alarm.hold_id;
    h.alarm_id = alarm.id;
    h.characteristic = alarm.characteristic;
    h.scope = alarm.scope;
    h.from_ts = alarm.window_start;
    h.units = total;
    listener_->OnHold(h, *add);
  }
  return add->size();
}

// A genealogy batch put held units into assemblies (records naming a parent): each assembly
// joins every hold that holds one of its components, whether that hold's alarm is open or
// resolved, with the time of the record that named it.
void Responder::JoinAssemblies(const std::vector<UnitEvent>& batch) {
  std::map<std::int64_t, std::vector<HeldUnit>> joining;  // hold -> assemblies
  for (const UnitEvent& ev : batch) {
    if (ev.parent.empty()) continue;
    auto holds = store_.HoldsOfUnit(std::string(ev.unit.view()));
    if (!holds.ok()) {
      Fail(holds.status());
      return;
    }
    for (const HeldUnit& h : *holds) {
      if (h.state == "held")
        joining[h.hold_id].push_back(HeldUnit{h.hold_id, std::string(ev.parent.view()), "held", ev.ts});
    }
  }
  for (auto& [hold_id, units] : joining) {
    AlarmRecord* open = nullptr;
    for (auto& [key, a] : open_) {
      if (a.hold_id == hold_id) open = &a;
    }
    if (open) {
      AddToHold(*open, units, /*assemblies=*/true);
      continue;
    }
    // The hold of a resolved alarm: it no longer gathers its scope's units, but what is built
    // from its held units is held too.
    auto hold = store_.GetHold(hold_id);
    if (!hold.ok()) {
      Fail(hold.status());
      continue;
    }
    AlarmRecord a;
    a.id = hold->alarm_id;
    a.hold_id = hold->id;
    a.characteristic = hold->characteristic;
    a.scope = hold->scope;
    a.window_start = hold->from_ts;
    if (held_in_.find(hold_id) == held_in_.end()) held_in_[hold_id] = hold->units;
    AddToHold(a, units, /*assemblies=*/true);
  }
}

// An alarm was resolved: its hold closes if nothing in it is held any more.
void Responder::CloseHoldIfDone(const AlarmRecord& a) {
  if (a.hold_id == 0) return;
  // Counted here, not recounted: a recount reads every row of held_units (0.64 s at 2 M).
  auto closed = store_.CloseHoldIfDone(a.hold_id);
  if (!closed.ok()) return Fail(closed.status());
  if (*closed) {
    holds_open_count_ -= 1;
    hold_counts_.holds["closed"] += 1;
  }
}

// After a restart (the outbox loaded): the quarantine hooks of the tiers each open alarm has
// entered carry on from the batches committed before (their serials counted from the stored
// deliveries), and send the units that joined since.
Status Responder::ResumeSerialFeeds() {
  if (open_.empty()) return Status::Ok();
  auto deliveries = store_.ListDeliveries("", INT_MAX, /*oldest_first=*/true);
  if (!deliveries.ok()) return deliveries.status();
  for (auto& [key, a] : open_) {
    if (a.hold_id == 0) continue;
    const ResponseSpec& policy = config_.ResponseFor(key.first);
    for (const TierSpec& tier : policy.tiers) {
      if (tier.tier > a.tier) continue;
      for (const std::string& action : tier.actions) {
        if (!QuarantineHook(action)) continue;
        SerialFeed f{tier.tier, action, 0, 0};
        const std::string prefix = IdempotencyKey(a.id, tier.tier, action) + "-";
        for (const DeliveryRecord& d : *deliveries) {
          if (d.alarm_id != a.id || d.idempotency_key.rfind(prefix, 0) != 0) continue;
          const Json doc = Json::parse(d.payload, nullptr, /*allow_exceptions=*/false);
          if (doc.is_object() && doc.contains("serials")) f.sent += static_cast<std::int64_t>(doc["serials"].size());
          f.batches += 1;
        }
        feeds_[a.id].push_back(std::move(f));
      }
    }
  }
  feed_all_ = true;  // the units that joined since: sent by the next unit of work (JoinFlushed)
  return Status::Ok();
}

// Commits the batches of held serials not yet sent to each quarantine hook the alarm ran:
// units in join order from each feed's `sent`, at most the hook's batch size per delivery,
// idempotency key "<alarm>-<tier>-<action>-<batch number>", payload the alarm document with
// "batch" and "serials".
void Responder::FeedSerials(const AlarmRecord& a) {
  auto it = feeds_.find(a.id);
  if (it == feeds_.end() || !outbox_) return;
  const std::int64_t total = held_in_[a.hold_id];
  for (SerialFeed& f : it->second) {
    const HookSpec* hook = QuarantineHook(f.action);
    if (!hook) continue;
    while (f.sent < total) {
      auto units = store_.HeldUnitsInJoinOrder(a.hold_id, f.sent, hook->quarantine_batch);
      if (!units.ok() || units->empty()) {
        spdlog::error("alarm {}: the held serials for '{}' could not be read: {}", a.id, f.action,
                      units.ok() ? "none found" : units.status().message());
        Fail(units.ok() ? Internal("hold " + std::to_string(a.hold_id) + " has fewer units than counted")
                        : units.status());
        break;
      }
      AlarmRecord at = a;
      at.tier = f.tier;
      Json doc = AlarmJson(at);
      Json serials = Json::array();
      for (const HeldUnit& u : *units) serials.push_back(u.serial);
      doc["batch"] = f.batches + 1;
      doc["serials"] = std::move(serials);
      const std::string key = IdempotencyKey(a.id, f.tier, f.action) + "-" + std::to_string(f.batches + 1);
      Status st = outbox_->Enqueue(a.id, f.tier, f.action, doc.dump(-1, ' ', false, kReplaceInvalidUtf8), key);
      if (!st.ok()) {
        Fail(st);
        break;
      }
      f.sent += static_cast<std::int64_t>(units->size());
      f.batches += 1;
    }
  }
}

}  // namespace shewhart::engine

// The responder, part four: signals published at once. Before a batch's unit of work, each
// rule signal is given its alarm from memory (Claims: joins the open one, reopens the last
// resolved one, or opens one under the next id, which the store has reserved), and published on
// the zmq_pub hooks of its policy (topic `signal`); the unit then stores exactly that.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <optional>

#include "shewhart/engine/pipeline/signal_json.h"
#include "shewhart/engine/respond/responder.h"

namespace shewhart::engine {

ScopeLabels Responder::ScopeOf(const Signal& s) const {
  const auto& spec = config_.characteristics[s.characteristic];
  ScopeLabels scope;
  for (std::size_t i = 0; i < s.scope_count; ++i)
    scope.emplace_back(spec.scope[i], std::string(s.scope_values[i].view()));
  return scope;
}

Responder::Key Responder::KeyOf(const Signal& s) const { return Key{s.characteristic, FormatScope(ScopeOf(s))}; }

bool Responder::ReopensAt(const Key& key, const ResponseSpec& policy, EventTime ts) const {
  if (policy.min_interval.count() <= 0) return false;
  auto last = last_resolved_.find(key);
  return last != last_resolved_.end() && ts - last->second.second < policy.min_interval;
}

std::vector<Responder::Claim> Responder::Claims(const Signal* signals, std::size_t n) {
  std::vector<Claim> claims(n);
  // What the batch's earlier signals did to a key: open under an id, or resolve (the id, when).
  struct Change {
    std::int64_t open = 0;
    std::optional<std::pair<std::int64_t, EventTime>> resolved;
  };
  std::map<Key, Change> changes;
  std::int64_t next = next_alarm_id_;
  for (std::size_t i = 0; i < n; ++i) {
    const Signal& s = signals[i];
    const Key key = KeyOf(s);
    auto change = changes.find(key);
    const auto open = open_.find(key);
    std::int64_t open_id = open != open_.end() ? open->second.id : 0;
    if (change != changes.end()) open_id = change->second.open;
    if (s.kind == Signal::Kind::kRecovered) {
      if (open_id != 0) changes[key] = Change{0, std::pair{open_id, s.hit.ts}};
      continue;
    }
    Claim& c = claims[i];
    if (open_id != 0) {
      c = Claim{Claim::Kind::kJoins, open_id};
      continue;
    }
    // Reopening looks at the last resolution: the batch's own, else the responder's.
    const ResponseSpec& policy = config_.ResponseFor(s.characteristic);
    std::optional<std::pair<std::int64_t, EventTime>> resolved;
    if (change != changes.end() && change->second.resolved) {
      resolved = change->second.resolved;
    } else if (auto last = last_resolved_.find(key); last != last_resolved_.end()) {
      resolved = last->second;
    }
    if (policy.min_interval.count() > 0 && resolved && s.hit.ts - resolved->second < policy.min_interval) {
      c = Claim{Claim::Kind::kReopens, resolved->first};
    } else {
      c = Claim{Claim::Kind::kOpens, next++};
    }
    changes[key] = Change{c.alarm, std::nullopt};
  }
  return claims;
}

void Responder::PublishSignals(const Signal* signals, const std::vector<Claim>& claims) {
  if (!threaded_) return;  // replay back-tests rules: it does not call the outside world
  for (std::size_t i = 0; i < claims.size(); ++i) {
    const Claim& c = claims[i];
    const Signal& s = signals[i];
    if (c.kind == Claim::Kind::kNone) continue;
    const auto& sinks = signal_sinks_[s.characteristic];
    if (sinks.empty()) continue;
    // An id above the reservation could be given to another alarm after a crash: not published.
    if (c.alarm > reserved_ids_) {
      spdlog::error("responder: alarm id {} is beyond the ids reserved ({}); its signal is not published", c.alarm,
                    reserved_ids_);
      action_failures_->Inc();
      continue;
    }
    max_published_ = std::max(max_published_, c.alarm);
    const auto& spec = config_.characteristics[s.characteristic];
    Json doc = SignalJson(spec.id, s, spec.scope);
    doc["alarm"] = c.alarm;
    doc["claim"] = c.kind == Claim::Kind::kJoins ? "joins" : c.kind == Claim::Kind::kReopens ? "reopens" : "opens";
    const std::string text = doc.dump(-1, ' ', false, kReplaceInvalidUtf8);
    for (const auto& [name, sink] : sinks) Publish(name, *sink, "signal", text, c.alarm);
  }
}

void Responder::Publish(const std::string& hook, AlarmSink& sink, std::string_view topic, const std::string& doc,
                        std::int64_t alarm) {
  Status st = sink.Publish(topic, doc);
  auto counters = sink_counters_.find(hook);
  if (counters != sink_counters_.end()) (st.ok() ? counters->second.first : counters->second.second)->Inc();
  if (!st.ok()) {
    action_failures_->Inc();
    spdlog::error("alarm {}: action '{}' failed ({}): {}", alarm, hook, topic, st.message());
  }
}

Status Responder::ReserveAlarmIds() {
  auto reserved = store_.ReservedAlarmIds();
  if (!reserved.ok()) return reserved.status();
  // Above every id stored or reserved: a crashed run may have published ids it never stored.
  alarm_id_floor_ = std::max(next_alarm_id_, *reserved + 1);
  next_alarm_id_ = alarm_id_floor_;
  const std::int64_t up_to = next_alarm_id_ + kAlarmIdBlock;
  SHEWHART_RETURN_IF_ERROR(store_.ReserveAlarmIds(up_to));  // one statement: committed on its own
  reserved_ids_ = up_to;
  return Status::Ok();
}

Status Responder::ReleaseAlarmIds() {
  const std::int64_t up_to = std::max(next_alarm_id_ - 1, max_published_);
  if (up_to >= reserved_ids_) return Status::Ok();
  if (Status st = store_.ReserveAlarmIds(up_to); !st.ok()) {
    spdlog::warn("responder: the unused alarm ids could not be given back ({}); the next run starts above {}",
                 st.message(), reserved_ids_);
    return st;
  }
  reserved_ids_ = up_to;
  return Status::Ok();
}

}  // namespace shewhart::engine

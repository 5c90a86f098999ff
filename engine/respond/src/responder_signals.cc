// The responder, part four: signals published at detection. The thread that raises a rule
// signal claims its alarm (AlarmDirectory: joins the open one, reopens the last resolved one, or
// opens one under the next id, which the store has reserved) and publishes it on the zmq_pub
// hooks of its policy (topic `signal`, PublishSignal); the responder's unit then stores exactly
// that (Handle).
#include <spdlog/spdlog.h>

#include <algorithm>

#include "shewhart/engine/pipeline/signal_json.h"
#include "shewhart/engine/respond/responder.h"

namespace shewhart::engine {

Responder::Key Responder::KeyOf(const Signal& s) const {
  return Key{s.characteristic, FormatScope(SignalScope(config_, s))};
}

void Responder::PublishSignal(const Signal& s) const {
  if (!threaded_ || s.kind != Signal::Kind::kRule || s.claim == Signal::Claim::kNone) return;
  const auto& sinks = signal_sinks_[s.characteristic];
  if (sinks.empty()) return;
  // An id above the reservation could be given to another alarm after a crash: not published.
  const std::int64_t reserved = directory_.reserved();
  if (s.alarm > reserved) {
    spdlog::error("alarm id {} is beyond the ids reserved ({}); its signal is not published", s.alarm, reserved);
    action_failures_->Inc();
    return;
  }
  const auto& spec = config_.characteristics[s.characteristic];
  Json doc = SignalJson(spec.id, s, spec.scope);
  doc["alarm"] = s.alarm;
  doc["claim"] = s.claim == Signal::Claim::kJoins ? "joins" : s.claim == Signal::Claim::kReopens ? "reopens" : "opens";
  const std::string text = doc.dump(-1, ' ', false, kReplaceInvalidUtf8);
  for (const auto& [name, sink] : sinks) Publish(name, *sink, "signal", text, s.alarm);
}

void Responder::Publish(const std::string& hook, AlarmSink& sink, std::string_view topic, const std::string& doc,
                        std::int64_t alarm) const {
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
  directory_.RaiseNextId(*reserved + 1);
  const std::int64_t up_to = directory_.next_id() + kAlarmIdBlock;
  SHEWHART_RETURN_IF_ERROR(store_.ReserveAlarmIds(up_to));  // one statement: committed on its own
  directory_.SetReserved(up_to);
  return Status::Ok();
}

Status Responder::ReleaseAlarmIds() {
  // Every id claimed is below the next one: published or stored, it stays reserved.
  const std::int64_t up_to = directory_.next_id() - 1;
  const std::int64_t reserved = directory_.reserved();
  if (up_to >= reserved) return Status::Ok();
  if (Status st = store_.ReserveAlarmIds(up_to); !st.ok()) {
    spdlog::warn("responder: the unused alarm ids could not be given back ({}); the next run starts above {}",
                 st.message(), reserved);
    return st;
  }
  directory_.SetReserved(up_to);
  return Status::Ok();
}

}  // namespace shewhart::engine

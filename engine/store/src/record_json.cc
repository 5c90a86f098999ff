#include "shewhart/engine/store/record_json.h"

#include "shewhart/engine/model/time_format.h"

namespace shewhart::engine {

Json ScopeJson(const ScopeLabels& scope) {
  Json j = Json::object();
  for (const auto& [k, v] : scope) j[ScopeKeyName(k)] = v;
  return j;
}

Json LimitsJson(const LimitVersion& v) {
  Json j{{"type", "limits"},          {"characteristic", v.characteristic}, {"version", v.version},
         {"origin", v.origin},        {"effective", FormatRfc3339(v.effective)}, {"center", v.center}};
  if (v.sigma > 0) j["sigma"] = v.sigma;
  j["points"] = v.points;
  if (!v.user.empty()) j["user"] = v.user;
  if (!v.reason.empty()) j["reason"] = v.reason;
  return j;
}

Json AlarmJson(const AlarmRecord& a) {
  return Json{{"type", "alarm"},
              {"id", a.id},
              {"characteristic", a.characteristic},
              {"state", a.state},
              {"tier", a.tier},
              {"policy", a.policy},
              {"rule", a.rule},
              {"chart", a.chart},
              {"opened", FormatRfc3339(a.opened_ts)},
              {"last_signal", FormatRfc3339(a.last_signal_ts)},
              {"window_start", FormatRfc3339(a.window_start)},
              {"signals", a.signals},
              {"scope", ScopeJson(a.scope)},
              {"hold", a.hold_id},
              {"resolved", a.state == "resolved" ? Json(FormatRfc3339(a.resolved_ts)) : Json(nullptr)}};
}

Json HoldJson(const HoldRecord& h, const std::vector<HeldUnit>& units, bool added) {
  Json serials = Json::array();
  for (const auto& u : units) serials.push_back(u.serial);
  Json j{{"type", "hold"},
         {"id", h.id},
         {"alarm", h.alarm_id},
         {"characteristic", h.characteristic},
         {"scope", ScopeJson(h.scope)},
         {"from", FormatRfc3339(h.from_ts)},
         {"state", h.state}};
  if (added) {
    j["added"] = std::move(serials);
  } else {
    Json detail = Json::array();
    for (const auto& u : units) {
      detail.push_back(Json{{"serial", u.serial}, {"state", u.state}, {"since", FormatRfc3339(u.since)}});
    }
    j["units"] = std::move(detail);
  }
  return j;
}

Json DispositionJson(const Disposition& d) {
  return Json{{"hold", d.hold_id}, {"serial", d.serial},   {"state", d.state},     {"ts", FormatRfc3339(d.ts)},
              {"user", d.user},    {"reason", d.reason},   {"meaning", d.meaning}, {"note", d.note}};
}

Json RejectJson(const RejectRecord& r) {
  return Json{{"type", "reject"},
              {"source", r.source},
              {"position", r.position},
              {"reason", RejectReasonName(r.reason)},
              {"field", r.field},
              {"message", r.message},
              {"raw", r.raw},
              {"raw_truncated", r.raw_truncated}};
}

Json DeliveryJson(const DeliveryRecord& d) {
  Json payload = Json::parse(d.payload, nullptr, /*allow_exceptions=*/false);
  if (payload.is_discarded()) payload = d.payload;
  return Json{{"id", d.id},
              {"alarm", d.alarm_id},
              {"tier", d.tier},
              {"action", d.action},
              {"idempotency_key", d.idempotency_key},
              {"state", d.state},
              {"attempts", d.attempts},
              {"next_attempt", d.state == "pending" ? Json(FormatRfc3339(d.next_attempt)) : Json(nullptr)},
              {"last_error", d.last_error},
              {"created", FormatRfc3339(d.created)},
              {"updated", FormatRfc3339(d.updated)},
              {"payload", std::move(payload)}};
}

}  // namespace shewhart::engine

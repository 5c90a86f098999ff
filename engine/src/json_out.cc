#include "shewhart/engine/json_out.h"

#include "shewhart/engine/time_format.h"

namespace shewhart::engine {

Json ScopeJson(const ScopeLabels& scope) {
  Json j = Json::object();
  for (const auto& [k, v] : scope) j[ScopeKeyName(k)] = v;
  return j;
}

Json PointJson(const std::string& characteristic, const rules::ChartPoint& p) {
  if (p.chart == rules::ChartKind::kCusum) {
    return Json{{"type", "point"},
                {"characteristic", characteristic},
                {"chart", rules::ChartName(p.chart)},
                {"index", p.index},
                {"ts", FormatRfc3339(p.ts)},
                {"upper", p.upper},
                {"lower", p.lower},
                {"ucl", p.ucl},
                {"lcl", p.lcl},
                {"n", p.n},
                {"phase", rules::PhaseName(p.phase)}};
  }
  return Json{{"type", "point"},
              {"characteristic", characteristic},
              {"chart", rules::ChartName(p.chart)},
              {"index", p.index},
              {"ts", FormatRfc3339(p.ts)},
              {"value", p.value},
              {"cl", p.cl},
              {"ucl", p.ucl},
              {"lcl", p.lcl},
              {"n", p.n},
              {"phase", rules::PhaseName(p.phase)}};
}

Json SignalJson(const std::string& characteristic, const Signal& s, const std::vector<ScopeKey>& scope_keys) {
  Json scope = Json::object();
  for (std::size_t i = 0; i < s.scope_count && i < scope_keys.size(); ++i) {
    scope[ScopeKeyName(scope_keys[i])] = std::string(s.scope_values[i].view());
  }
  return Json{{"type", "signal"},
              {"characteristic", characteristic},
              {"chart", rules::ChartName(s.hit.chart)},
              {"rule", rules::RuleName(s.hit.rule)},
              {"index", s.hit.index},
              {"first", s.hit.first},
              {"last", s.hit.last},
              {"ts", FormatRfc3339(s.hit.ts)},
              {"value", s.hit.value},
              {"window_start", FormatRfc3339(s.hit.window_start)},
              {"scope", scope}};
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

Json CapabilityJson(const rules::Capability& c) {
  Json j{{"n", c.n}, {"mean", c.center}, {"sigma_within", c.sigma_within}, {"sigma_overall", c.sigma_overall}};
  if (c.target) j["target"] = *c.target;
  auto index = [&](const char* name, const std::optional<rules::CapabilityIndex>& v) {
    if (v) j[name] = Json{{"value", v->value}, {"lower", v->lower}, {"upper", v->upper}};
  };
  index("cp", c.cp);
  index("cpl", c.cpl);
  index("cpu", c.cpu);
  index("cpk", c.cpk);
  index("cpm", c.cpm);
  index("pp", c.pp);
  index("ppl", c.ppl);
  index("ppu", c.ppu);
  index("ppk", c.ppk);
  index("ppm", c.ppm);
  auto ppm = [&](const char* name, const std::optional<double>& v) {
    if (v) j[name] = *v;
  };
  ppm("expected_ppm_below_lsl", c.expected_within_ppm_below_lsl);
  ppm("expected_ppm_above_usl", c.expected_within_ppm_above_usl);
  ppm("expected_overall_ppm_below_lsl", c.expected_overall_ppm_below_lsl);
  ppm("expected_overall_ppm_above_usl", c.expected_overall_ppm_above_usl);
  ppm("observed_ppm_below_lsl", c.observed_ppm_below_lsl);
  ppm("observed_ppm_above_usl", c.observed_ppm_above_usl);
  return j;
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

#include "shewhart/engine/pipeline/signal_json.h"

#include "shewhart/engine/model/time_format.h"

namespace shewhart::engine {

Json PointJson(const std::string& characteristic, const rules::ChartPoint& p) {
  if (p.chart == rules::ChartKind::kCusum) {
    return Json{{"type", "point"},
                {"characteristic", characteristic},
                {"chart", rules::ChartName(p.chart)},
                {"index", p.index},
                {"ts", FormatRfc3339(p.ts)},
                {"upper", p.upper},
                {"lower", p.lower},
                {"upper_run", p.upper_run},
                {"lower_run", p.lower_run},
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

}  // namespace shewhart::engine

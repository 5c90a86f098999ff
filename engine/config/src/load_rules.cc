// Rule lists: rule names, their parameters, presets.

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cctype>
#include <cmath>
#include <set>
#include <sstream>

#include "loader.h"
#include "shewhart/engine/model/measurement.h"
#include "shewhart/engine/model/time_format.h"
#include "shewhart/rules/constants.h"
#include "shewhart/rules/format.h"
#include "shewhart/rules/presets.h"
#include "shewhart/rules/sigma_estimators.h"

namespace shewhart::engine::config_loader {

// A `rules` list (a characteristic's, or a preset's): each entry a rule name, a one-key mapping
// of a rule name to its parameters (`nelson.2: { length: 7 }`), or `preset: NAME`.
void Loader::LoadRuleList(const Node& list, const std::string& path, CharacteristicSpec& c, bool preset) {
  std::set<std::string> seen;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string ip = path + "[" + std::to_string(i) + "]";
    const Node entry = list[i];
    std::string name;
    Node params;
    bool has_params = false;
    if (entry.IsMap()) {
      if (entry.size() != 1) {
        Problem(entry, ip, "expected one rule name with its parameters, e.g. 'nelson.2: { length: 7 }'");
        continue;
      }
      const Node key = entry.begin()->first;
      if (!String(key, ip, name)) continue;
      params = entry.begin()->second;
      has_params = true;
    } else if (!String(entry, ip, name)) {
      continue;
    }
    if (!seen.insert(name).second) {
      Problem(entry, ip, "rule '" + name + "' is listed twice");
      continue;
    }
    if (name == "preset") {
      std::string preset_name;
      if (preset) {
        Problem(entry, ip, "a preset cannot name another preset");
      } else if (String(params, ip + ".preset", preset_name)) {
        auto found = rules::FindRulePreset(preset_name);
        if (!found) {
          std::vector<std::string> names;
          for (const auto& p : rules::RulePresets()) names.emplace_back(p.name);
          Problem(params, ip + ".preset", "unknown preset '" + preset_name + "'; known: " + JoinList(names));
          continue;
        }
        // The preset's own problems (a bug in a shipped preset) point into the preset file.
        const std::string file = file_;
        file_ = "rules/presets/" + preset_name + ".yaml";
        try {
          const YamlDocuments preset = ParseYaml(std::string(found->text));
          const Node root = preset.documents.empty() ? Node() : preset.documents[0];
          if (CheckMap(root, "", Keys("preset file")) && root["rules"] && root["rules"].IsSequence()) {
            LoadRuleList(root["rules"], "rules", c, /*preset=*/true);
          } else {
            Problem(root, "rules", "expected a list of rules");
          }
        } catch (const YamlSyntaxError& e) {
          Problem(Node(), "", "YAML syntax: " + e.message);
        }
        file_ = file;
      }
      continue;
    }
    LoadRuleEntry(name, entry, has_params ? &params : nullptr, ip, c);
  }
}

void Loader::LoadRuleEntry(const std::string& name, const Node& at, const Node* params,
                           const std::string& path, CharacteristicSpec& c) {
  auto& chart = c.chart;
  const std::string pp = path + "." + name;
  if (c.type == ChartType::kT2 && name != "nelson.1" && name != "we.1" && name != "stale") {
    const auto k = rules::RuleFromName(name);
    const bool zones = k && rules::RunRulesSpec::IsRunRule(*k);
    if (zones || name.rfind("spec", 0) == 0 || name == "threshold" || name == "rate") {
      Problem(at, path, "rule '" + name + "' does not apply to a t2 chart: " +
                            (zones ? "T^2 is skewed and has no lower side or sigma zones"
                                   : "it plots one statistic of several variables, not a measured value") +
                            " (only nelson.1 and stale)");
      return;
    }
  }
  auto no_params = [&] {
    if (params) Problem(*params, pp, "rule '" + name + "' takes no parameters");
  };
  const auto kind = rules::RuleFromName(name);
  if (name == "nelson.1" || name == "we.1") {
    if (params) {
      Problem(*params, pp, "rule '" + name + "' takes no parameters: its limits are the chart's, at chart.k_sigma");
    }
    chart.nelson1 = true;
  } else if (name == "spec") {
    no_params();
    chart.spec_lsl = chart.spec.lsl.has_value();
    chart.spec_usl = chart.spec.usl.has_value();
    if (!chart.spec_lsl && !chart.spec_usl) Problem(at, path, "rule 'spec' needs spec.lsl or spec.usl");
  } else if (name == "spec.lsl") {
    no_params();
    chart.spec_lsl = true;
    if (!chart.spec.lsl) Problem(at, path, "rule 'spec.lsl' needs spec.lsl");
  } else if (name == "spec.usl") {
    no_params();
    chart.spec_usl = true;
    if (!chart.spec.usl) Problem(at, path, "rule 'spec.usl' needs spec.usl");
  } else if (kind && rules::RunRulesSpec::IsRunRule(*kind)) {
    if (c.type == ChartType::kEwma || c.type == ChartType::kCusum) {
      Problem(at, path, "rule '" + name + "' does not apply to an " +
                            std::string(c.type == ChartType::kEwma ? "ewma" : "cusum") +
                            " chart: its points are not independent (only nelson.1)");
      return;
    }
    Status st = c.run_rules.Enable(*kind);
    if (!st.ok()) Problem(at, path, st.message());
    if (params) LoadRunRuleParams(*kind, *params, pp, c.run_rules);
  } else if (name == "stale") {
    if (!params) {
      Problem(at, path, "rule 'stale' needs its time, e.g. 'stale: { after: 10m }'");
    } else if (CheckMap(*params, pp, Keys("rules.stale"))) {
      std::chrono::microseconds after{};
      if (!(*params)["after"]) {
        Problem(*params, pp + ".after", "missing: how long without a measurement makes the stream stale");
      } else if (Duration((*params)["after"], pp + ".after", after)) {
        if (after.count() <= 0) Problem((*params)["after"], pp + ".after", "expected a duration > 0");
        else c.stale_after = after;
      }
    }
  } else if (name == "threshold" || name == "rate") {
    if (IsAttribute(c.type)) {
      Problem(at, path, "rule '" + name + "' judges measured values; a p, np, c or u chart plots counts");
      return;
    }
    if (!params) {
      Problem(at, path,
              name == "threshold" ? "rule 'threshold' needs its limits, e.g. 'threshold: { high: 80, hysteresis: 2 }'"
                                  : "rule 'rate' needs its limits, e.g. 'rate: { max_rise: 5, per: 1m }'");
      return;
    }
    const Node& p = *params;
    double v = 0;
    if (name == "threshold") {
      if (!CheckMap(p, pp, Keys("rules.threshold"))) return;
      rules::ThresholdSpec t;
      bool ok = true;
      if (p["high"]) ok &= Double(p["high"], pp + ".high", v), t.high = v;
      if (p["low"]) ok &= Double(p["low"], pp + ".low", v), t.low = v;
      if (p["hysteresis"]) ok &= Double(p["hysteresis"], pp + ".hysteresis", t.hysteresis);
      if (!ok) return;
      Status st = t.Validate();
      if (!st.ok()) Problem(p, pp, st.message());
      else c.threshold = t;
    } else {
      if (!CheckMap(p, pp, Keys("rules.rate"))) return;
      rules::RateSpec r;
      bool ok = true;
      if (p["max_rise"]) ok &= Double(p["max_rise"], pp + ".max_rise", r.max_rise);
      if (p["max_fall"]) ok &= Double(p["max_fall"], pp + ".max_fall", r.max_fall);
      if (p["per"]) ok &= Duration(p["per"], pp + ".per", r.per);
      if (p["min_interval"]) ok &= Duration(p["min_interval"], pp + ".min_interval", r.min_interval);
      if (!ok) return;
      Status st = r.Validate();
      if (!st.ok()) Problem(p, pp, st.message());
      else c.rate = r;
    }
  } else if (name == "count") {
    Problem(at, path, "rule 'count' (signals within a time window) belongs to response policies; it is not a "
                      "characteristic's rule in this version");
  } else {
    Problem(at, path, "unknown rule '" + name + "'; supported: nelson.1 to nelson.8, we.1 to we.4, spec, spec.lsl, "
                      "spec.usl, threshold, rate, stale, preset");
  }
}

// The parameters of one run rule (`length`; `m`, `n`, `point_beyond` and `full_window`; nelson.8 also
// `both_sides`).
void Loader::LoadRunRuleParams(rules::RuleKind kind, const Node& params, const std::string& path,
                               rules::RunRulesSpec& spec) {
  rules::RunRuleParams* run = nullptr;
  rules::MOfNRuleParams* m_of_n = nullptr;
  switch (kind) {
    case rules::RuleKind::kNelson2: run = &spec.nelson2; break;
    case rules::RuleKind::kNelson3: run = &spec.nelson3; break;
    case rules::RuleKind::kNelson4: run = &spec.nelson4; break;
    case rules::RuleKind::kNelson7: run = &spec.nelson7; break;
    case rules::RuleKind::kWe4: run = &spec.we4; break;
    case rules::RuleKind::kNelson5: m_of_n = &spec.nelson5; break;
    case rules::RuleKind::kNelson6: m_of_n = &spec.nelson6; break;
    case rules::RuleKind::kWe2: m_of_n = &spec.we2; break;
    case rules::RuleKind::kWe3: m_of_n = &spec.we3; break;
    default: break;
  }
  long long v = 0;
  if (kind == rules::RuleKind::kNelson8) {
    if (!CheckMap(params, path, Keys("rules.run", {"length", "both_sides"}))) return;
    if (params["length"] && Int(params["length"], path + ".length", rules::kMinRunLength, rules::kMaxRunLength, v)) {
      spec.nelson8.length = static_cast<int>(v);
    }
    std::string both;
    if (params["both_sides"] && Choice(params["both_sides"], path + ".both_sides", {"true", "false"}, both)) {
      spec.nelson8.both_sides = both == "true";
    }
  } else if (run) {
    if (!CheckMap(params, path, Keys("rules.run", {"length"}))) return;
    const int min = kind == rules::RuleKind::kNelson4 ? 3 : rules::kMinRunLength;
    if (params["length"] && Int(params["length"], path + ".length", min, rules::kMaxRunLength, v)) {
      run->length = static_cast<int>(v);
    }
  } else if (m_of_n) {
    if (!CheckMap(params, path, Keys("rules.run", {"m", "n", "point_beyond", "full_window"}))) return;
    std::string flag;
    if (params["point_beyond"] && Choice(params["point_beyond"], path + ".point_beyond", {"true", "false"}, flag)) {
      m_of_n->point_beyond = flag == "true";
    }
    if (params["full_window"] && Choice(params["full_window"], path + ".full_window", {"true", "false"}, flag)) {
      m_of_n->full_window = flag == "true";
    }
    long long m = m_of_n->m, n = m_of_n->n;
    bool ok = true;
    if (params["m"]) ok &= Int(params["m"], path + ".m", 1, rules::kMaxRuleWindow, m);
    if (params["n"]) ok &= Int(params["n"], path + ".n", 1, rules::kMaxRuleWindow, n);
    if (ok && m > n) {
      Problem(params, path, "m must not exceed n, found m " + std::to_string(m) + ", n " + std::to_string(n));
    } else if (ok) {
      m_of_n->m = static_cast<int>(m);
      m_of_n->n = static_cast<int>(n);
    }
  }
}

}  // namespace shewhart::engine::config_loader

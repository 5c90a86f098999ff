// One characteristic: its stream settings, spec, chart, limits, rules, scope; T² specifics.

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

void Loader::LoadCharacteristic(const Node& node, const std::string& path, CharacteristicSpec& c) {
  if (!CheckMap(node, path, Keys("characteristics[]"))) {
    return;
  }
  LoadStreamSettings(node, path, c);
  if (!node["id"]) Problem(node, path + ".id", "missing: every characteristic needs an id");
  else NonEmptyString(node["id"], path + ".id", c.id);
  if (node["unit"]) String(node["unit"], path + ".unit", c.unit);

  bool t2_variables_ok = true;  // kT2: `variables` was given and valid (p is known)
  LoadSpec(node, path, c);
  LoadChart(node, path, c, t2_variables_ok);
  const bool t2_limits_ok = LoadLimits(node, path, c, t2_variables_ok);
  const bool rules_given = LoadRules(node, path, c);
  CheckChartSpec(node, path, c, rules_given, t2_variables_ok, t2_limits_ok);
  LoadScope(node, path, c);
  if (node["response"]) NonEmptyString(node["response"], path + ".response", c.response);
}

// capability, late_tolerance, future_tolerance, past_tolerance.
void Loader::LoadStreamSettings(const Node& node, const std::string& path, CharacteristicSpec& c) {
  if (auto cap = node["capability"]) {
    const std::string kp = path + ".capability";
    if (CheckMap(cap, kp, Keys("characteristics[].capability"))) {
      long long window = 0;
      if (cap["window"] && Int(cap["window"], kp + ".window", 0, 1000000, window)) {
        if (window == 1)
          Problem(cap["window"], kp + ".window", "expected 0 (every value) or at least 2 values, found 1");
        else c.capability_window = static_cast<std::size_t>(window);
      }
      double level = 0;
      if (cap["confidence"] && Double(cap["confidence"], kp + ".confidence", level)) {
        if (!(level > 0 && level < 1))
          Problem(cap["confidence"], kp + ".confidence",
                  "expected a number in (0, 1), found " + cap["confidence"].Scalar());
        else c.capability_confidence = level;
      }
    }
  }
  if (auto l = node["late_tolerance"]) {
    std::chrono::microseconds tolerance{};
    if (Duration(l, path + ".late_tolerance", tolerance)) c.late_tolerance = tolerance;
  }
  for (const char* key : {"future_tolerance", "past_tolerance"}) {
    std::chrono::microseconds tolerance{};
    if (node[key] && Tolerance(node[key], path + "." + key, tolerance)) {
      (std::string_view(key) == "future_tolerance" ? c.future_tolerance : c.past_tolerance) = tolerance;
    }
  }
}

// spec: lsl, target, usl.
void Loader::LoadSpec(const Node& node, const std::string& path, CharacteristicSpec& c) {
  auto& chart = c.chart;
  if (auto s = node["spec"]) {
    const std::string sp = path + ".spec";
    if (CheckMap(s, sp, Keys("characteristics[].spec"))) {
      double v;
      if (s["lsl"] && Double(s["lsl"], sp + ".lsl", v)) chart.spec.lsl = v;
      if (s["target"] && Double(s["target"], sp + ".target", v)) chart.spec.target = v;
      if (s["usl"] && Double(s["usl"], sp + ".usl", v)) chart.spec.usl = v;
      Status st = chart.spec.Validate();
      if (!st.ok()) Problem(s, sp, st.message());
    }
  }
}

// chart: the type and its settings; `t2_variables_ok` false when a T² chart's variables are bad.
void Loader::LoadChart(const Node& node, const std::string& path, CharacteristicSpec& c,
                       bool& t2_variables_ok) {
  auto& chart = c.chart;
  if (auto ch = node["chart"]) {
    const std::string cp = path + ".chart";
    // Every chart key is registered (config_keys.h); those of one type given for another are a
    // problem.
    const std::vector<std::string>& chart_keys = Keys("characteristics[].chart");
    static const std::map<std::string, std::vector<std::string>> kKeysOf = {
        {"individuals", {"mr_rules", "warning_sigmas", "estimator", "centre"}},
        {"ewma", {"lambda"}},
        {"cusum", {"k", "h", "head_start", "reset"}},
        {"p", {"limit_type", "alpha", "sample_size", "warning_sigmas"}},
        {"np", {"limit_type", "alpha", "sample_size", "warning_sigmas"}},
        {"c", {"limit_type", "alpha", "sample_size", "warning_sigmas"}},
        {"u", {"limit_type", "alpha", "sample_size", "warning_sigmas"}},
        {"xbar_r",
         {"subgroup_size", "variable_size", "min_subgroup_size", "estimator", "dispersion_rules", "warning_sigmas"}},
        {"xbar_s",
         {"subgroup_size", "variable_size", "min_subgroup_size", "estimator", "dispersion_rules", "warning_sigmas"}},
        {"t2", {"variables", "subgroup_size", "confidence"}},
    };
    if (CheckMap(ch, cp, chart_keys)) {
      std::string type;
      if (!ch["type"]) {
        Problem(ch, cp + ".type",
                "missing: the chart type (individuals, xbar_r, xbar_s, ewma, cusum, p, np, c, u, t2)");
      } else if (String(ch["type"], cp + ".type", type)) {
        static const std::map<std::string, ChartType> kTypes = {
            {"individuals", ChartType::kIndividuals}, {"ewma", ChartType::kEwma}, {"cusum", ChartType::kCusum},
            {"p", ChartType::kP}, {"np", ChartType::kNp}, {"c", ChartType::kC}, {"u", ChartType::kU},
            {"xbar_r", ChartType::kXbarR}, {"xbar_s", ChartType::kXbarS}, {"t2", ChartType::kT2}};
        auto t = kTypes.find(type);
        if (t != kTypes.end()) {
          c.type = t->second;
        } else {
          Problem(ch["type"], cp + ".type",
                  "unknown chart type '" + type +
                      "'; supported: individuals, xbar_r, xbar_s, ewma, cusum, p, np, c, u, "
                      "t2");
          type.clear();
        }
        if (!type.empty()) {
          const auto& own = kKeysOf.at(type);
          for (auto it = ch.begin(); it != ch.end(); ++it) {
            const std::string k = it->first.Scalar();
            if (k == "type" || k == "boundary") continue;
            // An unknown key was reported by CheckMap above ("did you mean ...?"); it belongs to
            // no type, so saying which types it is for would only add a second, empty problem.
            if (std::find(chart_keys.begin(), chart_keys.end(), k) == chart_keys.end()) continue;
            if (k == "k_sigma") {
              if (type == "t2") {
                Problem(it->first, cp + ".k_sigma",
                        "'k_sigma' does not apply to a t2 chart: its upper limit is a quantile of the T^2 distribution "
                        "at chart.confidence");
              }
              continue;
            }
            if (std::find(own.begin(), own.end(), k) != own.end()) continue;
            std::string owners;
            for (const auto& [t2, keys] : kKeysOf) {
              if (std::find(keys.begin(), keys.end(), k) != keys.end()) owners += (owners.empty() ? "" : ", ") + t2;
            }
            Problem(it->first, cp + "." + k,
                    "'" + k + "' does not apply to a " + type + " chart (it is for: " + owners + ")");
          }
        }
      }
      std::string boundary;
      if (ch["boundary"] && Choice(ch["boundary"], cp + ".boundary", {"strict", "inclusive"}, boundary)) {
        chart.boundary = boundary == "inclusive" ? rules::Boundary::kInclusive : rules::Boundary::kStrict;
      }
      if (auto w = ch["warning_sigmas"]) {
        double v = 0;
        if (Double(w, cp + ".warning_sigmas", v)) {
          if (!(v > 0)) Problem(w, cp + ".warning_sigmas", "expected a number > 0, found " + w.Scalar());
          else c.warning_sigmas = v;
        }
      }
      if (auto m = ch["mr_rules"]) {
        std::string b;
        if (Choice(m, cp + ".mr_rules", {"true", "false"}, b)) chart.mr_rules = b == "true";
      }
      auto positive = [&](const char* key, double& out) {
        double v;
        if (!ch[key] || !Double(ch[key], cp + "." + key, v)) return;
        if (v <= 0) Problem(ch[key], cp + "." + key, std::string("expected a number > 0, found ") + ch[key].Scalar());
        else out = v;
      };
      positive("k_sigma", chart.k_sigma);
      positive("lambda", c.ewma.lambda);
      positive("h", c.cusum.h);
      double v;
      if (ch["k"] && Double(ch["k"], cp + ".k", v)) {
        if (v < 0) Problem(ch["k"], cp + ".k", "expected a number >= 0, found " + ch["k"].Scalar());
        else c.cusum.k = v;
      }
      if (ch["head_start"] && Double(ch["head_start"], cp + ".head_start", v)) c.cusum.head_start = v;
      std::string reset;
      if (ch["reset"] && Choice(ch["reset"], cp + ".reset", {"none", "both", "side"}, reset)) {
        c.cusum.reset = reset == "both" ? rules::CusumReset::kBoth
                        : reset == "side" ? rules::CusumReset::kSide
                                          : rules::CusumReset::kNone;
      }
      std::string limit_type;
      if (ch["limit_type"] &&
          Choice(ch["limit_type"], cp + ".limit_type", {"sigma", "probability", "laney"}, limit_type)) {
        c.attribute.limit_type = limit_type == "probability" ? rules::AttributeChartSpec::LimitType::kProbability
                                 : limit_type == "laney"     ? rules::AttributeChartSpec::LimitType::kLaney
                                                             : rules::AttributeChartSpec::LimitType::kSigma;
      }
      if (ch["alpha"] && Double(ch["alpha"], cp + ".alpha", v)) c.attribute.alpha = v;
      positive("sample_size", c.attribute.sample_size);
      long long size;
      if (c.type == ChartType::kT2) {
        // Individual observations (1) or the means of n consecutive ones.
        if (ch["subgroup_size"] && Int(ch["subgroup_size"], cp + ".subgroup_size", 1, rules::kMaxSubgroupSize, size)) {
          c.t2.subgroup_size = static_cast<int>(size);
        }
        t2_variables_ok = LoadT2Variables(ch, cp, c);
        if (auto cn = ch["confidence"]; cn && Double(cn, cp + ".confidence", v)) {
          if (!(v > 0 && v < 1)) Problem(cn, cp + ".confidence", "expected a number in (0, 1), found " + cn.Scalar());
          else c.t2.confidence = v;
        }
      } else if (ch["subgroup_size"] &&
                 Int(ch["subgroup_size"], cp + ".subgroup_size", 2, rules::kMaxSubgroupSize, size)) {
        c.subgroup.subgroup_size = static_cast<int>(size);
      }
      if (ch["min_subgroup_size"] &&
          Int(ch["min_subgroup_size"], cp + ".min_subgroup_size", 2, rules::kMaxSubgroupSize, size)) {
        c.subgroup.min_subgroup_size = static_cast<int>(size);
      }
      std::string flag;
      if (ch["variable_size"] && Choice(ch["variable_size"], cp + ".variable_size", {"true", "false"}, flag)) {
        c.subgroup.variable_size = flag == "true";
      }
      if (ch["dispersion_rules"] && Choice(ch["dispersion_rules"], cp + ".dispersion_rules", {"true", "false"}, flag)) {
        c.subgroup.dispersion_rules = flag == "true";
      }
      std::string estimator;
      if (c.type == ChartType::kIndividuals) {
        if (ch["estimator"] && Choice(ch["estimator"], cp + ".estimator", {"mean_mr", "median_mr"}, estimator)) {
          chart.estimator = estimator == "median_mr" ? rules::IndividualsEstimator::kMedianMr
                                                     : rules::IndividualsEstimator::kMeanMr;
        }
        std::string centre;
        if (ch["centre"] && Choice(ch["centre"], cp + ".centre", {"mean", "median"}, centre)) {
          chart.centre = centre == "median" ? rules::IndividualsCentre::kMedian : rules::IndividualsCentre::kMean;
        }
      } else if ((c.type == ChartType::kXbarR || c.type == ChartType::kXbarS) && ch["estimator"] &&
                 Choice(ch["estimator"], cp + ".estimator", {"uwave-r", "uwave-sd", "mvlue-r", "mvlue-sd", "rmsdf"},
                        estimator)) {
        c.subgroup.estimator = rules::SigmaEstimatorFromName(estimator);
      }
    }
  } else {
    Problem(node, path + ".chart", "missing: e.g. chart: { type: individuals }");
  }
}

// limits: Phase I, known (mean and sigma) or explicit; false when a T² chart's limits are bad.
bool Loader::LoadLimits(const Node& node, const std::string& path, CharacteristicSpec& c,
                        bool t2_variables_ok) {
  auto& chart = c.chart;
  const bool attribute = IsAttribute(c.type);
  const bool subgrouped = c.type == ChartType::kXbarR || c.type == ChartType::kXbarS;
  bool t2_limits_ok = true;
  if (const Node t2_limits = node["limits"]; t2_limits && c.type == ChartType::kT2) {
    t2_limits_ok = LoadT2Limits(t2_limits, path + ".limits", c, t2_variables_ok);
  } else if (auto l = node["limits"]) {
    const std::string lp = path + ".limits";
    const bool explicit_ok = c.type == ChartType::kIndividuals || subgrouped;
    const bool is_map = CheckMap(
        l, lp,
        attribute     ? Keys("characteristics[].limits", {"phase1", "center", "sigma_z"})
        : subgrouped  ? Keys("characteristics[].limits", {"phase1", "mean", "sigma", "ucl", "cl", "lcl", "dispersion"})
        : explicit_ok ? Keys("characteristics[].limits", {"phase1", "mean", "sigma", "ucl", "cl", "lcl"})
                      : Keys("characteristics[].limits", {"phase1", "mean", "sigma"}));
    if (is_map) HintMisplacedExclude(l, lp, attribute || subgrouped ? "subgroups: 20" : "points: 30");
    if (is_map) {
      if (attribute) {
        if (l["phase1"] && l["center"]) {
          Problem(l, lp, "give either 'phase1' or 'center', not both");
        } else if (auto p1 = l["phase1"]) {
          c.attribute.mode = rules::AttributeChartSpec::LimitMode::kPhase1;
          long long n;
          if (CheckMap(p1, lp + ".phase1", Keys("characteristics[].limits.phase1", {"subgroups", "exclude"}))) {
            if (!p1["subgroups"]) Problem(p1, lp + ".phase1.subgroups", "missing: the number of baseline subgroups");
            else if (Int(p1["subgroups"], lp + ".phase1.subgroups", 2, 100000, n))
              c.attribute.phase1_subgroups = static_cast<int>(n);
            Phase1Exclude(p1, lp + ".phase1", c.attribute.phase1_exclusion);
          }
        } else if (auto ce = l["center"]) {
          c.attribute.mode = rules::AttributeChartSpec::LimitMode::kKnown;
          Double(ce, lp + ".center", c.attribute.center);
          const bool laney = c.attribute.limit_type == rules::AttributeChartSpec::LimitType::kLaney;
          if (laney && !l["sigma_z"]) {
            Problem(l, lp + ".sigma_z", "missing: known laney limits need Laney's sigma_z beside the center");
          }
        } else {
          Problem(l, lp, "expected 'phase1: { subgroups: N }' or 'center'");
        }
        if (auto z = l["sigma_z"]) {
          if (c.attribute.limit_type != rules::AttributeChartSpec::LimitType::kLaney || !l["center"]) {
            Problem(z, lp + ".sigma_z", "sigma_z goes with a known center and chart.limit_type: laney");
          } else if (Double(z, lp + ".sigma_z", c.attribute.sigma_z) &&
                     !(c.attribute.sigma_z > 0 && std::isfinite(c.attribute.sigma_z))) {
            Problem(z, lp + ".sigma_z", "expected a number > 0, found " + z.Scalar());
          }
        }
      } else if ((l["ucl"] || l["cl"] || l["lcl"] || l["dispersion"]) && explicit_ok) {
        // Explicit limits (a standard from elsewhere: a customer's chart, an earlier study).
        if (l["phase1"] || l["mean"] || l["sigma"]) {
          Problem(l, lp, "give explicit 'ucl', 'cl' and 'lcl', or 'phase1', or 'mean' and 'sigma' -- one form only");
        }
        rules::ChartLimits x;
        bool ok = true;
        for (const char* k : {"ucl", "cl", "lcl"}) {
          if (!l[k]) {
            Problem(l, lp + "." + k, std::string("missing: explicit limits need ucl, cl and lcl"));
            ok = false;
          }
        }
        if (ok) {
          ok &= Double(l["ucl"], lp + ".ucl", x.ucl);
          ok &= Double(l["cl"], lp + ".cl", x.cl);
          ok &= Double(l["lcl"], lp + ".lcl", x.lcl);
        }
        if (ok && !(x.lcl < x.cl && x.cl < x.ucl)) {
          Problem(l, lp, "explicit limits need lcl < cl < ucl, found lcl " + l["lcl"].Scalar() + ", cl " +
                             l["cl"].Scalar() + ", ucl " + l["ucl"].Scalar());
          ok = false;
        }
        if (ok && subgrouped) {
          c.subgroup.mode = rules::SubgroupChartSpec::LimitMode::kExplicit;
          c.subgroup.xbar_limits = x;
          if (auto d = l["dispersion"]) {
            const std::string dp = lp + ".dispersion";
            rules::ChartLimits dl;
            if (CheckMap(d, dp, Keys("characteristics[].limits.dispersion"))) {
              bool dok = true;
              for (const char* k : {"ucl", "cl", "lcl"}) {
                if (!d[k]) {
                  Problem(d, dp + "." + k, "missing: dispersion limits need ucl, cl and lcl (lcl may be 0)");
                  dok = false;
                }
              }
              if (dok && Double(d["ucl"], dp + ".ucl", dl.ucl) && Double(d["cl"], dp + ".cl", dl.cl) &&
                  Double(d["lcl"], dp + ".lcl", dl.lcl)) {
                c.subgroup.dispersion_limits = dl;
              }
            }
          }
        } else if (ok) {
          if (l["dispersion"])
            Problem(l["dispersion"], lp + ".dispersion", "dispersion limits apply to xbar_r and xbar_s");
          chart.mode = rules::IndividualsChartSpec::LimitMode::kExplicit;
          chart.explicit_limits = x;
        }
      } else if (l["phase1"] && (l["mean"] || l["sigma"])) {
        Problem(l, lp, "give either 'phase1' or 'mean' and 'sigma', not both");
      } else if (auto p1 = l["phase1"]; p1 && subgrouped) {
        c.subgroup.mode = rules::SubgroupChartSpec::LimitMode::kPhase1;
        long long n;
        if (CheckMap(p1, lp + ".phase1", Keys("characteristics[].limits.phase1", {"subgroups", "exclude"}))) {
          if (!p1["subgroups"]) Problem(p1, lp + ".phase1.subgroups", "missing: the number of baseline subgroups");
          else if (Int(p1["subgroups"], lp + ".phase1.subgroups", 2, 10000, n))
            c.subgroup.phase1_subgroups = static_cast<int>(n);
          Phase1Exclude(p1, lp + ".phase1", c.subgroup.phase1_exclusion);
        }
      } else if (auto p1 = l["phase1"]) {
        chart.mode = rules::IndividualsChartSpec::LimitMode::kPhase1;
        if (CheckMap(p1, lp + ".phase1", Keys("characteristics[].limits.phase1", {"points", "exclude"}))) {
          long long pts;
          if (!p1["points"]) Problem(p1, lp + ".phase1.points", "missing: the number of baseline points");
          else if (Int(p1["points"], lp + ".phase1.points", 2, 100000, pts))
            chart.phase1_points = static_cast<int>(pts);
          Phase1Exclude(p1, lp + ".phase1", chart.phase1_exclusion);
        }
      } else if (l["mean"] || l["sigma"]) {
        chart.mode = rules::IndividualsChartSpec::LimitMode::kKnown;
        if (!l["mean"]) Problem(l, lp + ".mean", "missing: known limits need both mean and sigma");
        else Double(l["mean"], lp + ".mean", chart.mean);
        if (!l["sigma"]) {
          Problem(l, lp + ".sigma", "missing: known limits need both mean and sigma");
        } else if (Double(l["sigma"], lp + ".sigma", chart.sigma) && chart.sigma <= 0) {
          Problem(l["sigma"], lp + ".sigma", "expected a number > 0, found " + l["sigma"].Scalar());
        }
      } else {
        Problem(l, lp, std::string("expected 'phase1: { ") + (subgrouped ? "subgroups" : "points") +
                           ": N }' or 'mean' and 'sigma'" + (explicit_ok ? " or 'ucl', 'cl' and 'lcl'" : ""));
      }
    }
  }
  return t2_limits_ok;
}

// rules (or the defaults of the chart type) and what follows from them; true when `rules` was given.
bool Loader::LoadRules(const Node& node, const std::string& path, CharacteristicSpec& c) {
  auto& chart = c.chart;
  bool rules_given = false;
  if (auto r = node["rules"]) {
    const std::string rp = path + ".rules";
    if (!r.IsSequence()) {
      Problem(r, rp, "expected a list of rule names, found " + Describe(r));
    } else {
      rules_given = true;
      chart.nelson1 = false;
      LoadRuleList(r, rp, c, /*preset=*/false);
    }
  }
  if (!rules_given && c.type != ChartType::kEwma && c.type != ChartType::kCusum && c.type != ChartType::kT2) {
    // DESIGN.md's defaults: rules 1-8 on individuals and x-bar charts, 1-4 on attribute charts.
    const bool all_eight =
        c.type == ChartType::kIndividuals || c.type == ChartType::kXbarR || c.type == ChartType::kXbarS;
    for (auto kind : {rules::RuleKind::kNelson2, rules::RuleKind::kNelson3, rules::RuleKind::kNelson4,
                      rules::RuleKind::kNelson5, rules::RuleKind::kNelson6, rules::RuleKind::kNelson7,
                      rules::RuleKind::kNelson8}) {
      if (all_eight || kind <= rules::RuleKind::kNelson4) (void)c.run_rules.Enable(kind);
    }
  }
  // The companion chart (mr, r, s) takes the primary's rules among 1-4, with their parameters.
  c.companion_rules.nelson2 = c.run_rules.nelson2;
  c.companion_rules.nelson3 = c.run_rules.nelson3;
  c.companion_rules.nelson4 = c.run_rules.nelson4;
  c.run_rules.boundary = c.companion_rules.boundary = chart.boundary;
  if (c.threshold) c.threshold->boundary = chart.boundary;
  if (c.rate) c.rate->boundary = chart.boundary;
  // mr_rules: false keeps the moving-range chart silent: no rule at all judges it.
  if (c.type == ChartType::kIndividuals && !chart.mr_rules) c.companion_rules = rules::RunRulesSpec{};
  if (!rules_given) {
    // Default: rule 1, and the spec limits that are given.
    chart.nelson1 = true;
    chart.spec_lsl = chart.spec.lsl.has_value();
    chart.spec_usl = chart.spec.usl.has_value();
  }
  return rules_given;
}

void Loader::CheckChartSpec(const Node& node, const std::string& path, CharacteristicSpec& c,
                            bool rules_given, bool t2_variables_ok, bool t2_limits_ok) {
  auto& chart = c.chart;
  const bool attribute = IsAttribute(c.type);
  const bool subgrouped = c.type == ChartType::kXbarR || c.type == ChartType::kXbarS;
  // The type's own spec, from the settings above; checked here so that its problems carry the
  // characteristic's path.
  const Node chart_node = node["chart"] ? node["chart"] : node;
  if (c.type == ChartType::kIndividuals && chart.mode != rules::IndividualsChartSpec::LimitMode::kPhase1) {
    for (const char* key : {"estimator", "centre"}) {
      if (!chart_node[key]) continue;
      Problem(chart_node[key], path + ".chart." + key,
              std::string(key) + " applies to phase1 limits; with known limits there is nothing to estimate");
      chart.estimator = rules::IndividualsEstimator::kMeanMr;
      chart.centre = rules::IndividualsCentre::kMean;
    }
  }
  if (c.warning_sigmas > 0) {
    const std::string wp = path + ".chart.warning_sigmas";
    if (c.warning_sigmas >= chart.k_sigma) {
      Problem(chart_node["warning_sigmas"], wp, "warning lines must lie inside the control limits: expected less than "
                                                "k_sigma " + rules::FormatNumber(chart.k_sigma) + ", found " +
                                                chart_node["warning_sigmas"].Scalar());
    } else if (attribute && c.attribute.limit_type == rules::AttributeChartSpec::LimitType::kProbability) {
      Problem(chart_node["warning_sigmas"], wp,
              "warning lines need sigma limits; this chart has limit_type: probability");
    }
  }
  if (node["capability"] && (attribute || (!chart.spec.lsl && !chart.spec.usl))) {
    Problem(node["capability"], path + ".capability",
            attribute ? "capability applies to measured values; a p, np, c or u chart plots counts"
                      : "capability needs spec.lsl or spec.usl");
  }
  if (attribute) {
    if (node["spec"]) {
      Problem(node["spec"], path + ".spec", "spec limits apply to measured values; a p, np, c or u chart plots counts");
    }
    chart.spec_lsl = chart.spec_usl = false;
    auto& a = c.attribute;
    a.kind = c.type == ChartType::kP    ? rules::AttributeChartKind::kP
             : c.type == ChartType::kNp ? rules::AttributeChartKind::kNp
             : c.type == ChartType::kC  ? rules::AttributeChartKind::kC
                                        : rules::AttributeChartKind::kU;
    a.k_sigma = chart.k_sigma;
    a.boundary = chart.boundary;
    if (a.limit_type == rules::AttributeChartSpec::LimitType::kProbability) {
      // Zones are drawn in sigmas of the plotted statistic: probability limits have none.
      if (rules_given && c.run_rules.AnyBeyondRuleOne()) {
        Problem(node["rules"], path + ".rules",
                "run rules beyond rule 1 need sigma limits; this chart has limit_type: probability");
      }
      c.run_rules = c.companion_rules = rules::RunRulesSpec{};
    }
    a.nelson1 = chart.nelson1;
    Status st = a.Validate();
    if (!st.ok()) Problem(chart_node, path + ".chart", st.message());
  } else if (subgrouped) {
    auto& g = c.subgroup;
    g.kind = c.type == ChartType::kXbarR ? rules::SubgroupChartKind::kXbarR : rules::SubgroupChartKind::kXbarS;
    if (chart.mode == rules::IndividualsChartSpec::LimitMode::kKnown) {
      g.mode = rules::SubgroupChartSpec::LimitMode::kKnown;
      g.mean = chart.mean;
      g.sigma = chart.sigma;
    }
    g.k_sigma = chart.k_sigma;
    g.boundary = chart.boundary;
    g.nelson1 = chart.nelson1;
    g.spec = chart.spec;
    g.spec_lsl = chart.spec_lsl;
    g.spec_usl = chart.spec_usl;
    if (g.mode == rules::SubgroupChartSpec::LimitMode::kKnown && g.estimator) {
      Problem(chart_node["estimator"], path + ".chart.estimator",
              "an estimator applies to phase1 limits; with a known mean and sigma there is nothing to estimate");
      g.estimator.reset();
    }
    if (!g.variable_size && chart_node["min_subgroup_size"]) {
      Problem(chart_node["min_subgroup_size"], path + ".chart.min_subgroup_size",
              "min_subgroup_size applies only with variable_size: true");
    }
    if (!g.dispersion_rules) c.companion_rules = rules::RunRulesSpec{};
    Status st = g.Validate();
    if (!st.ok()) Problem(chart_node, path + ".chart", st.message());
  } else if (c.type == ChartType::kEwma) {
    c.ewma.k_sigma = chart.k_sigma;
    c.ewma.boundary = chart.boundary;
    rules::EwmaChartSpec probe = c.ewma;
    probe.process = {0, 1};  // the real centre and sigma come from limits (checked above)
    Status st = probe.Validate();
    if (!st.ok()) Problem(chart_node, path + ".chart", st.message());
  } else if (c.type == ChartType::kT2) {
    if (node["spec"]) {
      Problem(node["spec"], path + ".spec",
              "spec limits apply to a single measured value; a t2 chart plots T^2 of several variables");
    }
    chart.spec_lsl = chart.spec_usl = false;
    c.run_rules = c.companion_rules = rules::RunRulesSpec{};
    c.t2.boundary = chart.boundary;
    c.t2.nelson1 = chart.nelson1;
    // Without a valid p (or limits), the spec's own checks would only repeat those problems.
    if (t2_variables_ok && t2_limits_ok) ValidateT2(node, path, c);
  } else if (c.type == ChartType::kCusum) {
    c.cusum.boundary = chart.boundary;
    rules::CusumChartSpec probe = c.cusum;
    probe.process = {0, 1};
    Status st = probe.Validate();
    if (!st.ok()) Problem(chart_node, path + ".chart", st.message());
  }
}

// scope: the labels an alarm of this characteristic is per.
void Loader::LoadScope(const Node& node, const std::string& path, CharacteristicSpec& c) {
  if (auto s = node["scope"]) {
    const std::string sp = path + ".scope";
    if (!s.IsSequence() || s.size() == 0) {
      Problem(s, sp, "expected a non-empty list of station, machine, lot, operator, model; found " + Describe(s));
    } else {
      c.scope.clear();
      for (std::size_t i = 0; i < s.size(); ++i) {
        std::string key;
        if (!Choice(s[i], sp + "[" + std::to_string(i) + "]", {"station", "machine", "lot", "operator", "model"},
                    key)) {
          continue;
        }
        ScopeKey k = key == "station" ? ScopeKey::kStation
                     : key == "machine" ? ScopeKey::kMachine
                     : key == "lot"     ? ScopeKey::kLot
                     : key == "model"   ? ScopeKey::kModel
                                        : ScopeKey::kOperator;
        if (std::find(c.scope.begin(), c.scope.end(), k) != c.scope.end()) {
          Problem(s[i], sp + "[" + std::to_string(i) + "]", "scope key '" + key + "' is listed twice");
        } else {
          c.scope.push_back(k);
        }
      }
    }
  }
}

// `chart.variables`: the number p, or the list of the p variables' names.
bool Loader::LoadT2Variables(const Node& chart, const std::string& path, CharacteristicSpec& c) {
  const std::string vp = path + ".variables";
  const long long max = static_cast<long long>(kMaxValues);
  const Node v = chart["variables"];
  if (!v) {
    Problem(chart, vp, "missing: the number of variables (variables: 2) or their names (variables: [x, y]), in the "
                       "order of a measurement's values");
    return false;
  }
  if (v.IsSequence()) {
    std::set<std::string> seen;
    bool ok = true;
    for (std::size_t i = 0; i < v.size(); ++i) {
      const std::string ip = vp + "[" + std::to_string(i) + "]";
      std::string name;
      if (!NonEmptyString(v[i], ip, name)) {
        ok = false;
      } else if (!seen.insert(name).second) {
        Problem(v[i], ip, "variable '" + name + "' is listed twice");
        ok = false;
      } else {
        c.variable_names.push_back(name);
      }
    }
    if (v.size() < 2 || v.size() > kMaxValues) {
      Problem(v, vp, "expected 2 to " + std::to_string(max) + " variable names (a measurement carries at most " +
                         std::to_string(max) + " values), found " + std::to_string(v.size()));
      return false;
    }
    c.t2.variables = static_cast<int>(v.size());
    return ok;
  }
  long long p;
  if (!Int(v, vp, 2, max, p)) return false;
  c.t2.variables = static_cast<int>(p);
  return true;
}

// A list of numbers; with `expected` >= 0, exactly that many.
bool Loader::NumberList(const Node& node, const std::string& path, int expected, const char* what,
                        std::vector<double>& out) {
  const std::string count = expected >= 0 ? std::to_string(expected) + " " : "";
  if (!node.IsSequence()) {
    Problem(node, path, "expected a list of " + count + "numbers (" + what + "), found " + Describe(node));
    return false;
  }
  bool ok = true;
  for (std::size_t i = 0; i < node.size(); ++i) {
    double v;
    if (Double(node[i], path + "[" + std::to_string(i) + "]", v)) out.push_back(v);
    else ok = false;
  }
  if (expected >= 0 && node.size() != static_cast<std::size_t>(expected)) {
    Problem(node, path, "expected " + count + "numbers (" + what + "), found " + std::to_string(node.size()));
    return false;
  }
  return ok;
}

// `limits` of a t2 chart: phase1.subgroups, or a known mean and covariance (with
// known_from_subgroups or an explicit ucl). Returns false when a problem was reported.
bool Loader::LoadT2Limits(const Node& l, const std::string& lp, CharacteristicSpec& c, bool variables_known) {
  auto& t = c.t2;
  if (!CheckMap(l, lp, Keys("characteristics[].limits", {"phase1", "mean", "covariance", "known_from_subgroups", "ucl"}))) return false;
  const bool known = l["mean"] || l["covariance"] || l["known_from_subgroups"] || l["ucl"];
  if (l["phase1"] && known) {
    Problem(l, lp, "give either 'phase1' or a known 'mean' and 'covariance', not both");
    return false;
  }
  if (auto p1 = l["phase1"]) {
    t.mode = rules::T2ChartSpec::LimitMode::kPhase1;
    if (!CheckMap(p1, lp + ".phase1", Keys("characteristics[].limits.phase1", {"subgroups", "exclude"}))) return false;
    if (const Node e = p1["exclude"]) {
      // The Phase I and II limits depend on the number of baseline subgroups m (beta and F
      // quantiles), so excluding subgroups would mean new limit formulas, not just a new
      // estimate. Refused rather than half done.
      Problem(e, lp + ".phase1.exclude",
              "phase1.exclude is not available on a t2 chart: its limits depend on the number of baseline "
              "subgroups; exclude out-of-control subgroups by hand and give the re-estimated mean and covariance "
              "with known_from_subgroups");
      return false;
    }
    if (!p1["subgroups"]) {
      Problem(p1, lp + ".phase1.subgroups", "missing: the number of baseline subgroups");
      return false;
    }
    long long m;
    if (!Int(p1["subgroups"], lp + ".phase1.subgroups", 2, 100000, m)) return false;
    t.phase1_subgroups = static_cast<int>(m);
    return true;
  }
  if (!known) {
    Problem(l, lp, "expected 'phase1: { subgroups: N }' or a known 'mean' and 'covariance'");
    return false;
  }
  t.mode = rules::T2ChartSpec::LimitMode::kKnown;
  const int p = variables_known ? t.variables : -1;
  bool ok = true;
  if (!l["mean"]) {
    Problem(l, lp + ".mean", "missing: known limits need the mean vector and the covariance matrix");
    ok = false;
  } else {
    ok &= NumberList(l["mean"], lp + ".mean", p, "one per variable", t.center);
  }
  if (const Node cov = l["covariance"]; !cov) {
    Problem(l, lp + ".covariance", "missing: known limits need the mean vector and the covariance matrix");
    ok = false;
  } else if (!cov.IsSequence()) {
    Problem(cov, lp + ".covariance", "expected a list of rows (a p x p matrix), found " + Describe(cov));
    ok = false;
  } else {
    if (p >= 0 && cov.size() != static_cast<std::size_t>(p)) {
      Problem(cov, lp + ".covariance",
              "expected " + std::to_string(p) + " rows (one per variable), found " + std::to_string(cov.size()));
      ok = false;
    }
    const int width = p >= 0 ? p : static_cast<int>(cov.size());
    for (std::size_t i = 0; i < cov.size(); ++i) {
      ok &= NumberList(cov[i], lp + ".covariance[" + std::to_string(i) + "]", width, "a row of the p x p matrix",
                       t.covariance);
    }
  }
  long long m0;
  if (auto k = l["known_from_subgroups"]) {
    if (Int(k, lp + ".known_from_subgroups", 1, 1000000, m0)) t.known_from_subgroups = static_cast<int>(m0);
    else ok = false;
  }
  if (auto u = l["ucl"]) {
    double v;
    if (!Double(u, lp + ".ucl", v)) {
      ok = false;
    } else if (!(v > 0)) {
      Problem(u, lp + ".ucl", "expected a number > 0, found " + u.Scalar());
      ok = false;
    } else {
      t.explicit_ucl = v;
    }
  }
  if (l["known_from_subgroups"] && l["ucl"]) {
    Problem(l, lp, "give either 'ucl' or 'known_from_subgroups', not both (known_from_subgroups computes the ucl)");
    ok = false;
  }
  return ok;
}

// The T^2 spec's own checks (enough subgroups for p; a symmetric, positive definite
// covariance; a confidence with finite limits), each at the key it is about.
void Loader::ValidateT2(const Node& node, const std::string& path, CharacteristicSpec& c) {
  Status st = c.t2.Validate();
  if (st.ok()) return;
  const std::string& msg = st.message();
  auto starts = [&](const char* prefix) { return msg.rfind(prefix, 0) == 0; };
  const Node limits = node["limits"];
  const Node chart = node["chart"];
  if (limits && starts("covariance")) {
    Problem(limits["covariance"], path + ".limits.covariance", msg);
  } else if (limits && starts("known_from_subgroups")) {
    Problem(limits["known_from_subgroups"], path + ".limits.known_from_subgroups", msg);
  } else if (limits && limits["phase1"] && starts("phase1_subgroups")) {
    Problem(limits["phase1"]["subgroups"], path + ".limits.phase1.subgroups", msg);
  } else if (starts("phase1_subgroups")) {
    // The default baseline (20 subgroups) is too short for this many variables.
    Problem(chart ? chart : node, path + ".limits",
            msg + " (the default is phase1: { subgroups: " + std::to_string(c.t2.phase1_subgroups) +
                " }; give limits.phase1.subgroups)");
  } else if (chart && chart["confidence"] && starts("confidence")) {
    Problem(chart["confidence"], path + ".chart.confidence", msg);
  } else {
    Problem(chart ? chart : node, path + ".chart", msg);
  }
}

}  // namespace shewhart::engine::config_loader

// Over 1000 lines, and known to be: it tests config.cc, which issue 16 splits by section; the
// tests follow that split.
#include "shewhart/engine/config/config.h"

#include <cmath>

#include "shewhart/rules/presets.h"
#include "../test_util.h"

#include <gtest/gtest.h>

namespace shewhart::engine {
namespace {

const char* kValid = R"(
sources:
  - zmq: { bind: "tcp://127.0.0.1:5555" }
  - file: { path: data.csv }
store: { sqlite: ./x.db }
http: { listen: "127.0.0.1:9464" }
engine: { shards: 2, queue_capacity: 1024 }
characteristics:
  - id: bore
    unit: mm
    spec: { lsl: 73.95, target: 74.0, usl: 74.05 }
    chart: { type: individuals, boundary: inclusive }
    limits: { mean: 74.0, sigma: 0.01 }
    rules: [nelson.1, spec]
    scope: [station, machine]
    response: dimensional
  - id: torque
    chart: { type: individuals }
    limits: { phase1: { points: 25 } }
responses:
  dimensional:
    tiers:
      - { tier: 1, when: { signal: any }, do: [log, publish] }
hooks:
  publish: { zmq_pub: { bind: "tcp://127.0.0.1:5556" } }
)";

std::string All(const ConfigLoad& load) {
  std::string s;
  for (const auto& p : load.problems) s += p.ToString() + "\n";
  return s;
}

TEST(ConfigTest, ValidConfigLoadsEveryKey) {
  ConfigLoad load = LoadConfigText(kValid, "valid.yaml");
  ASSERT_TRUE(load.problems.empty()) << All(load);
  const Config& c = *load.config;
  ASSERT_EQ(c.sources.size(), 2u);
  EXPECT_EQ(c.sources[0].zmq.endpoint, "tcp://127.0.0.1:5555");
  EXPECT_TRUE(c.sources[0].zmq.bind);
  EXPECT_EQ(c.sources[1].file.format, FileSourceSpec::Format::kCsv);
  EXPECT_EQ(c.store_path, "./x.db");
  EXPECT_EQ(c.shards, 2);
  EXPECT_EQ(c.queue_capacity, 1024u);
  ASSERT_EQ(c.characteristics.size(), 2u);
  const auto& bore = c.characteristics[0];
  EXPECT_EQ(bore.chart.mode, rules::IndividualsChartSpec::LimitMode::kKnown);
  EXPECT_DOUBLE_EQ(bore.chart.sigma, 0.01);
  EXPECT_EQ(bore.chart.boundary, rules::Boundary::kInclusive);
  EXPECT_TRUE(bore.chart.nelson1 && bore.chart.spec_lsl && bore.chart.spec_usl);
  ASSERT_EQ(bore.scope.size(), 2u);
  EXPECT_EQ(bore.scope[1], ScopeKey::kMachine);
  EXPECT_EQ(c.characteristics[1].chart.phase1_points, 25);
  EXPECT_EQ(c.ResponseFor(0).name, "dimensional");
  EXPECT_EQ(c.ResponseFor(1).name, "default");
  EXPECT_EQ(c.hooks.at("publish").kind, HookSpec::Kind::kZmqPub);
}

// The acceptance case: an unknown key, a duplicate key and a wrong type, all reported with
// their line and column in one pass.
TEST(ConfigTest, ReportsUnknownDuplicateAndWrongTypeTogether) {
  const char* text =
      "characteristics:\n"                                  // 1
      "  - id: bore\n"                                      // 2
      "    chart: { type: individuals }\n"                  // 3
      "    limits: { mean: 74.0, sigma: abc }\n"            // 4
      "    colour: red\n"                                   // 5
      "    unit: mm\n"                                      // 6
      "    unit: inch\n";                                   // 7
  ConfigLoad load = LoadConfigText(text, "bad.yaml");
  EXPECT_FALSE(load.config.has_value());
  ASSERT_EQ(load.problems.size(), 3u) << All(load);
  EXPECT_EQ(load.problems[0].ToString(),
            "bad.yaml:4:34: characteristics[0].limits.sigma: expected a number, found 'abc'");
  EXPECT_EQ(load.problems[1].ToString(),
            "bad.yaml:5:5: characteristics[0].colour: unknown key 'colour'; expected one of: id, unit, spec, chart, "
            "limits, rules, scope, response, late_tolerance, future_tolerance, past_tolerance, capability");
  EXPECT_EQ(load.problems[2].line, 7);
  EXPECT_EQ(load.problems[2].column, 5);
  EXPECT_NE(load.problems[2].message.find("duplicate key 'unit'"), std::string::npos);
}

TEST(ConfigTest, SuggestsTheNearestKey) {
  ConfigLoad load = LoadConfigText("characteristics:\n  - id: a\n    chart: { type: individuals }\n    limts: {}\n", "f.yaml");
  ASSERT_EQ(load.problems.size(), 1u) << All(load);
  EXPECT_NE(load.problems[0].message.find("did you mean 'limits'?"), std::string::npos) << All(load);
}

TEST(ConfigTest, RejectsValuesOutOfRangeWithoutClamping) {
  ConfigLoad load = LoadConfigText(
      "engine: { shards: -1 }\n"
      "characteristics:\n"
      "  - id: a\n"
      "    chart: { type: individuals, k_sigma: 0 }\n"
      "    limits: { phase1: { points: 1 } }\n",
      "f.yaml");
  ASSERT_EQ(load.problems.size(), 3u) << All(load);
  EXPECT_NE(All(load).find("engine.shards: expected an integer in [0, 256], found -1"), std::string::npos) << All(load);
  EXPECT_NE(All(load).find("k_sigma: expected a number > 0, found 0"), std::string::npos) << All(load);
  EXPECT_NE(All(load).find("phase1.points: expected an integer in [2, 100000], found 1"), std::string::npos) << All(load);
}

TEST(ConfigTest, MetricsCapsDefaultToAThousandAndLoad) {
  ConfigLoad load = LoadConfigText(kValid, "valid.yaml");
  ASSERT_TRUE(load.problems.empty()) << All(load);
  EXPECT_EQ(load.config->metrics_max_characteristics, 1000u);
  EXPECT_EQ(load.config->metrics_max_stations, 1000u);
  load = LoadConfigText(
      "engine: { metrics_max_characteristics: 0, metrics_max_stations: 20000 }\n"
      "characteristics:\n  - id: a\n    chart: { type: individuals }\n",
      "f.yaml");
  ASSERT_TRUE(load.problems.empty()) << All(load);
  EXPECT_EQ(load.config->metrics_max_characteristics, 0u);
  EXPECT_EQ(load.config->metrics_max_stations, 20000u);
}

TEST(ConfigTest, MetricsCapsOutOfRangeOrNotIntegersAreProblems) {
  ConfigLoad load = LoadConfigText(
      "engine: { metrics_max_characteristics: -5, metrics_max_stations: lots }\n"
      "characteristics:\n  - id: a\n    chart: { type: individuals }\n",
      "f.yaml");
  EXPECT_FALSE(load.config.has_value());
  ASSERT_EQ(load.problems.size(), 2u) << All(load);
  EXPECT_EQ(load.problems[0].ToString(),
            "f.yaml:1:40: engine.metrics_max_characteristics: expected an integer in [0, 100000], found -5");
  EXPECT_EQ(load.problems[1].ToString(), "f.yaml:1:66: engine.metrics_max_stations: expected an integer, found 'lots'");
  load = LoadConfigText(
      "engine: { metrics_max_characteristics: 1000000 }\ncharacteristics:\n  - id: a\n    chart: { type: individuals }\n",
      "f.yaml");
  ASSERT_EQ(load.problems.size(), 1u) << All(load);
  EXPECT_EQ(load.problems[0].ToString(),
            "f.yaml:1:40: engine.metrics_max_characteristics: expected an integer in [0, 100000], found 1000000");
}

TEST(ConfigTest, NamesRulesAndChartsNotImplementedYet) {
  ConfigLoad load = LoadConfigText(
      "characteristics:\n"
      "  - id: a\n"
      "    chart: { type: mewma }\n"
      "    rules: [threshold, bogus]\n",
      "f.yaml");
  std::string all = All(load);
  EXPECT_NE(all.find("f.yaml:3:20: characteristics[0].chart.type: unknown chart type 'mewma'; supported: individuals, "
                     "xbar_r, xbar_s, ewma, cusum, p, np, c, u, t2"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("f.yaml:4:13: characteristics[0].rules[0]: rule 'threshold' needs its limits"), std::string::npos) << all;
  EXPECT_NE(all.find("f.yaml:4:24: characteristics[0].rules[1]: unknown rule 'bogus'"), std::string::npos) << all;
}

TEST(ConfigTest, RunRulesFollowTheDesignDefaultsAndTheList) {
  ConfigLoad load = LoadConfigText(
      "characteristics:\n"
      "  - { id: i, chart: { type: individuals }, limits: { mean: 0, sigma: 1 } }\n"
      "  - { id: p, chart: { type: p }, limits: { center: 0.1 } }\n"
      "  - { id: e, chart: { type: ewma }, limits: { mean: 0, sigma: 1 } }\n"
      "  - { id: x, chart: { type: xbar_r, subgroup_size: 4 }, limits: { mean: 0, sigma: 1 }, rules: [nelson.1, nelson.2, nelson.5] }\n",
      "f.yaml");
  ASSERT_TRUE(load.problems.empty()) << All(load);
  const auto& c = load.config->characteristics;
  using rules::RuleKind;
  EXPECT_TRUE(c[0].run_rules.Enabled(RuleKind::kNelson8));
  EXPECT_TRUE(c[0].companion_rules.Enabled(RuleKind::kNelson4));
  EXPECT_FALSE(c[0].companion_rules.Enabled(RuleKind::kNelson5)) << "mr charts get rules 1-4";
  EXPECT_TRUE(c[1].run_rules.Enabled(RuleKind::kNelson4));
  EXPECT_FALSE(c[1].run_rules.Enabled(RuleKind::kNelson5)) << "attribute charts get rules 1-4";
  EXPECT_FALSE(c[2].run_rules.Enabled(RuleKind::kNelson2)) << "ewma points are not independent";
  EXPECT_TRUE(c[3].run_rules.Enabled(RuleKind::kNelson5));
  EXPECT_FALSE(c[3].run_rules.Enabled(RuleKind::kNelson3));
  EXPECT_TRUE(c[3].companion_rules.Enabled(RuleKind::kNelson2));
  EXPECT_FALSE(c[3].companion_rules.Enabled(RuleKind::kNelson5));
}

TEST(ConfigTest, RunRulesOnEwmaAreRefused) {
  ConfigLoad load = LoadConfigText(
      "characteristics:\n"
      "  - { id: e, chart: { type: ewma, lambda: 0.2 }, limits: { mean: 0, sigma: 1 }, rules: [nelson.2] }\n",
      "f.yaml");
  ASSERT_EQ(load.problems.size(), 1u) << All(load);
  EXPECT_NE(load.problems[0].message.find("does not apply to an ewma chart"), std::string::npos) << All(load);
}

TEST(ConfigTest, KeysOfAnotherChartTypeAreProblems) {
  ConfigLoad load = LoadConfigText(
      "characteristics:\n"
      "  - { id: e, chart: { type: ewma, h: 4 }, limits: { mean: 0, sigma: 1 } }\n",
      "f.yaml");
  ASSERT_EQ(load.problems.size(), 1u) << All(load);
  EXPECT_NE(load.problems[0].message.find("'h' does not apply to a ewma chart (it is for: cusum)"), std::string::npos)
      << All(load);
}

TEST(ConfigTest, UnknownChartKeyIsOneProblem) {
  // A misspelt chart key is unknown to every type: one problem with the suggestion, not a second
  // one saying it does not apply to this type (for no type at all).
  ConfigLoad load = LoadConfigText(
      "characteristics:\n"
      "  - { id: e, chart: { type: ewma, lamda: 0.1 }, limits: { mean: 0, sigma: 1 } }\n",
      "f.yaml");
  ASSERT_EQ(load.problems.size(), 1u) << All(load);
  EXPECT_EQ(load.problems[0].path, "characteristics[0].chart.lamda") << All(load);
  EXPECT_NE(load.problems[0].message.find("unknown key 'lamda'; did you mean 'lambda'?"), std::string::npos)
      << All(load);
}

TEST(ConfigTest, CrossReferencesAreChecked) {
  ConfigLoad load = LoadConfigText(
      "characteristics:\n"
      "  - id: a\n"
      "    chart: { type: individuals }\n"
      "    response: nope\n"
      "  - id: a\n"
      "    chart: { type: individuals }\n"
      "    rules: [spec]\n"
      "responses:\n"
      "  r: { tiers: [ { tier: 1, do: [missing_hook] } ] }\n",
      "f.yaml");
  std::string all = All(load);
  EXPECT_NE(all.find("characteristics[0].response: unknown response policy 'nope'; defined: r"), std::string::npos) << all;
  EXPECT_NE(all.find("characteristics[1].id: duplicate characteristic id 'a'"), std::string::npos) << all;
  EXPECT_NE(all.find("rule 'spec' needs spec.lsl or spec.usl"), std::string::npos) << all;
  EXPECT_NE(all.find("unknown hook 'missing_hook'"), std::string::npos) << all;
}

TEST(ConfigTest, BuiltInActionNamesAreNotHookNames) {
  ConfigLoad load = LoadConfigText(
      "characteristics:\n"
      "  - id: a\n"
      "    chart: { type: individuals }\n"
      "    response: r\n"
      "responses:\n"
      "  r: { tiers: [ { tier: 1, do: [quarantine, quality_case] } ] }\n"
      "hooks:\n"
      "  quarantine: { exec: { argv: [/bin/true] } }\n",
      "f.yaml");
  std::string all = All(load);
  EXPECT_NE(all.find("f.yaml:8:3: hooks.quarantine: 'quarantine' is a built-in action; give the hook another name"),
            std::string::npos)
      << all;
  EXPECT_EQ(all.find("unknown hook"), std::string::npos) << all;
}

TEST(ConfigTest, QuarantineHooksNeedAWebhookOrExecAndABatchSize) {
  ConfigLoad load = LoadConfigText(
      "hooks:\n"
      "  a: { alertmanager: { url: \"http://127.0.0.1:9093\" }, quarantine: { batch: 10 } }\n"
      "  b: { webhook: { url: \"http://127.0.0.1:1/b\" }, quarantine: { batch: 0 } }\n"
      "  c: { exec: { argv: [/bin/true] }, quarantine: { size: 3 } }\n"
      "  d: { webhook: { url: \"http://127.0.0.1:1/d\" }, quarantine: {} }\n",
      "f.yaml");
  std::string all = All(load);
  EXPECT_NE(all.find("hooks.a.quarantine: a quarantine hook sends serials through a 'webhook' or 'exec'"), std::string::npos) << all;
  EXPECT_NE(all.find("hooks.b.quarantine.batch"), std::string::npos) << all;
  EXPECT_NE(all.find("hooks.c.quarantine"), std::string::npos) << all;
  EXPECT_EQ(all.find("hooks.d"), std::string::npos) << all;
  load = LoadConfigText(
      "characteristics: [ { id: a, chart: { type: individuals } } ]\n"
      "hooks:\n  d: { webhook: { url: \"http://127.0.0.1:1/d\" }, quarantine: {} }\n",
      "f.yaml");
  ASSERT_TRUE(load.config.has_value()) << All(load);
  EXPECT_EQ(load.config->hooks.at("d").quarantine_batch, 500) << "the default batch";
}

TEST(ConfigTest, YamlSyntaxErrorHasItsPosition) {
  ConfigLoad load = LoadConfigText("characteristics: [\n  - id: a\n", "f.yaml");
  ASSERT_EQ(load.problems.size(), 1u);
  EXPECT_EQ(load.problems[0].file, "f.yaml");
  EXPECT_GT(load.problems[0].line, 0);
  EXPECT_NE(load.problems[0].message.find("YAML syntax"), std::string::npos);
}

TEST(ConfigTest, SecondDocumentIsRefusedAndABrokenOneIsASyntaxError) {
  const std::string good =
      "characteristics:\n  - id: a\n    chart: { type: individuals }\n    limits: { mean: 1, sigma: 1 }\n";
  ASSERT_TRUE(LoadConfigText(good, "f.yaml").config.has_value());
  ConfigLoad two = LoadConfigText(good + "---\ncharacteristics: []\n", "f.yaml");
  ASSERT_EQ(two.problems.size(), 1u);
  EXPECT_EQ(two.problems[0].line, 6);
  EXPECT_NE(two.problems[0].message.find("a config is one YAML document"), std::string::npos) << two.problems[0].message;
  ConfigLoad broken = LoadConfigText(good + "---\ncharacteristics: [\n  - id: b\n", "f.yaml");
  ASSERT_EQ(broken.problems.size(), 1u);
  EXPECT_FALSE(broken.config.has_value()) << "a broken second document passed";
  EXPECT_NE(broken.problems[0].message.find("YAML syntax"), std::string::npos) << broken.problems[0].message;
}

TEST(ConfigTest, MissingFileIsAnIoError) {
  ConfigLoad load = LoadConfigFile("/nonexistent/shewhart.yaml");
  EXPECT_EQ(load.io_status.code(), StatusCode::kUnavailable);
  EXPECT_NE(load.io_status.message().find("/nonexistent/shewhart.yaml"), std::string::npos);
}

TEST(ConfigTest, EmptyConfigSaysWhatIsMissing) {
  ConfigLoad load = LoadConfigText("", "empty.yaml");
  ASSERT_EQ(load.problems.size(), 1u);
  EXPECT_NE(load.problems[0].message.find("empty"), std::string::npos);
}

}  // namespace
}  // namespace shewhart::engine

namespace shewhart::engine {
namespace {

TEST(ConfigTest, SettingsThatWouldBeIgnoredAreProblems) {
  ConfigLoad load = LoadConfigText(
      "characteristics:\n"
      "  - { id: x, chart: { type: xbar_r, subgroup_size: 4, estimator: uwave-r, min_subgroup_size: 3 },"
      " limits: { mean: 0, sigma: 1 } }\n",
      "f.yaml");
  std::string all = All(load);
  EXPECT_NE(all.find("chart.estimator: an estimator applies to phase1 limits"), std::string::npos) << all;
  EXPECT_NE(all.find("chart.min_subgroup_size: min_subgroup_size applies only with variable_size: true"),
            std::string::npos)
      << all;
}

TEST(ConfigTest, MrRulesFalseSilencesTheMovingRangeChart) {
  ConfigLoad load = LoadConfigText(
      "characteristics:\n"
      "  - { id: i, chart: { type: individuals, mr_rules: false }, limits: { mean: 0, sigma: 1 } }\n",
      "f.yaml");
  ASSERT_TRUE(load.problems.empty()) << All(load);
  const auto& c = load.config->characteristics[0];
  EXPECT_TRUE(c.run_rules.Enabled(rules::RuleKind::kNelson3));
  EXPECT_FALSE(c.companion_rules.Enabled(rules::RuleKind::kNelson3));
  EXPECT_FALSE(c.chart.mr_rules);
}

TEST(ConfigTest, RuleParametersAndPresets) {
  ConfigLoad load = LoadConfigText(
      "characteristics:\n"
      "  - id: a\n"
      "    chart: { type: individuals }\n"
      "    limits: { mean: 0, sigma: 1 }\n"
      "    rules: [{ preset: montgomery }, { nelson.2: { length: 7 } }, { nelson.5: { m: 3, n: 4 } }]\n"
      "  - id: b\n"
      "    chart: { type: xbar_r, subgroup_size: 5 }\n"
      "    limits: { mean: 0, sigma: 1 }\n"
      "    rules: [{ preset: western_electric }, { nelson.3: { length: 5 } }]\n"
      "  - id: c\n"
      "    chart: { type: individuals }\n"
      "    limits: { mean: 0, sigma: 1 }\n"
      "    rules: [{ preset: aiag }]\n",
      "f.yaml");
  ASSERT_TRUE(load.config) << All(load);
  const auto& a = load.config->characteristics[0];
  EXPECT_TRUE(a.chart.nelson1);
  EXPECT_EQ(a.run_rules.nelson2.length, 7);  // a later entry overrides the preset's
  EXPECT_EQ(a.run_rules.nelson5.m, 3);
  EXPECT_EQ(a.run_rules.nelson5.n, 4);
  EXPECT_TRUE(a.run_rules.nelson8.enabled);
  EXPECT_TRUE(a.run_rules.nelson8.both_sides);  // Montgomery / Nelson: both sides
  EXPECT_FALSE(a.run_rules.we2.enabled);
  // The moving-range chart takes rules 2-4 with the same parameters.
  EXPECT_TRUE(a.companion_rules.nelson2.enabled);
  EXPECT_EQ(a.companion_rules.nelson2.length, 7);
  EXPECT_FALSE(a.companion_rules.nelson5.enabled);
  const auto& b = load.config->characteristics[1];
  EXPECT_TRUE(b.run_rules.we2.enabled && b.run_rules.we3.enabled && b.run_rules.we4.enabled);
  EXPECT_FALSE(b.run_rules.nelson2.enabled);
  EXPECT_TRUE(b.run_rules.nelson3.enabled);
  EXPECT_EQ(b.run_rules.nelson3.length, 5);
  EXPECT_EQ(b.companion_rules.nelson3.length, 5);
  const auto& c = load.config->characteristics[2];
  EXPECT_EQ(c.run_rules.nelson2.length, 7);
  EXPECT_EQ(c.run_rules.nelson3.length, 7);
  EXPECT_FALSE(c.run_rules.nelson4.enabled);
}

TEST(ConfigTest, EveryShippedPresetLoads) {
  for (const auto& preset : rules::RulePresets()) {
    SCOPED_TRACE(std::string(preset.name));
    ConfigLoad load = LoadConfigText("characteristics:\n  - id: a\n    chart: { type: individuals }\n"
                                     "    limits: { mean: 0, sigma: 1 }\n    rules: [{ preset: " +
                                         std::string(preset.name) + " }]\n",
                                     "f.yaml");
    ASSERT_TRUE(load.config) << All(load);
    EXPECT_TRUE(load.config->characteristics[0].chart.nelson1);
    EXPECT_TRUE(load.config->characteristics[0].run_rules.AnyBeyondRuleOne());
  }
  EXPECT_GE(rules::RulePresets().size(), 5u);
}

TEST(ConfigTest, BadRuleParametersAreProblems) {
  ConfigLoad load = LoadConfigText(
      "characteristics:\n"
      "  - id: a\n"
      "    chart: { type: individuals }\n"
      "    limits: { mean: 0, sigma: 1 }\n"
      "    rules: [{ preset: nope }, { nelson.5: { m: 4, n: 3 } }, { nelson.2: { lenght: 7 } }, { nelson.4: { length: 2 } }]\n"
      "  - id: b\n"
      "    chart: { type: individuals }\n"
      "    limits: { mean: 0, sigma: 1 }\n"
      "    rules: [{ threshold: { high: 1, low: 2 } }, { rate: { per: 0s, max_rise: 1 } }, { stale: { after: 5 } }, spec]\n"
      "    late_tolerance: soon\n"
      "  - id: c\n"
      "    chart: { type: p }\n"
      "    limits: { center: 0.1 }\n"
      "    rules: [{ threshold: { high: 1 } }, { nelson.2: { length: 9 } }, { preset: aiag }, { preset: nelson }]\n",
      "f.yaml");
  const std::string all = All(load);
  EXPECT_FALSE(load.config);
  EXPECT_NE(all.find("characteristics[0].rules[0].preset: unknown preset 'nope'; known: aiag, minitab, montgomery"), std::string::npos) << all;
  EXPECT_NE(all.find("characteristics[0].rules[1].nelson.5: m must not exceed n, found m 4, n 3"), std::string::npos) << all;
  EXPECT_NE(all.find("characteristics[0].rules[2].nelson.2.lenght: unknown key 'lenght'; did you mean 'length'?"), std::string::npos) << all;
  EXPECT_NE(all.find("characteristics[0].rules[3].nelson.4.length: expected an integer in [3, 50], found 2"), std::string::npos) << all;
  EXPECT_NE(all.find("characteristics[1].rules[0].threshold: threshold"), std::string::npos) << all;
  EXPECT_NE(all.find("characteristics[1].rules[1].rate: rate per must be > 0"), std::string::npos) << all;
  EXPECT_NE(all.find("characteristics[1].rules[2].stale.after: expected a duration such as 30s"), std::string::npos) << all;
  EXPECT_NE(all.find("characteristics[1].rules[3]: rule 'spec' needs spec.lsl or spec.usl"), std::string::npos) << all;
  EXPECT_NE(all.find("characteristics[1].late_tolerance: expected a duration"), std::string::npos) << all;
  EXPECT_NE(all.find("characteristics[2].rules[0]: rule 'threshold' judges measured values"), std::string::npos) << all;
  EXPECT_NE(all.find("characteristics[2].rules[3]: rule 'preset' is listed twice"), std::string::npos) << all;
}

TEST(ConfigTest, ValueRulesAndDurations) {
  ConfigLoad load = LoadConfigText(
      "characteristics:\n"
      "  - id: a\n"
      "    chart: { type: individuals, boundary: inclusive }\n"
      "    limits: { mean: 0, sigma: 1 }\n"
      "    rules: [{ threshold: { high: 80, low: -5, hysteresis: 2 } }, { rate: { max_fall: 3, per: 1m, min_interval: 500ms } },"
      " { stale: { after: 1.5h } }]\n"
      "    late_tolerance: 30s\n",
      "f.yaml");
  ASSERT_TRUE(load.config) << All(load);
  const auto& a = load.config->characteristics[0];
  ASSERT_TRUE(a.threshold && a.rate && a.stale_after && a.late_tolerance);
  EXPECT_EQ(*a.threshold->high, 80);
  EXPECT_EQ(*a.threshold->low, -5);
  EXPECT_EQ(a.threshold->hysteresis, 2);
  EXPECT_EQ(a.threshold->boundary, rules::Boundary::kInclusive);
  EXPECT_EQ(a.rate->max_fall, 3);
  EXPECT_TRUE(std::isinf(a.rate->max_rise));
  EXPECT_EQ(a.rate->per, std::chrono::minutes(1));
  EXPECT_EQ(a.rate->min_interval, std::chrono::milliseconds(500));
  EXPECT_EQ(*a.stale_after, std::chrono::minutes(90));
  EXPECT_EQ(*a.late_tolerance, std::chrono::seconds(30));
  EXPECT_FALSE(a.chart.nelson1);  // an explicit list without nelson.1
}

}  // namespace
}  // namespace shewhart::engine

namespace shewhart::engine {
namespace {

TEST(ConfigTest, T2ChartLoadsEveryKey) {
  ConfigLoad load = LoadConfigText(
      "characteristics:\n"
      "  - id: phase1\n"
      "    chart: { type: t2, variables: [x1, x2], subgroup_size: 4, confidence: 0.99, boundary: inclusive }\n"
      "    limits: { phase1: { subgroups: 20 } }\n"
      "  - id: known\n"
      "    chart: { type: t2, variables: 3 }\n"
      "    limits: { mean: [1, 2, 3], covariance: [[1, 0.5, 0], [0.5, 2, 0], [0, 0, 3]], known_from_subgroups: 30 }\n"
      "  - id: explicit\n"
      "    chart: { type: t2, variables: 2 }\n"
      "    limits: { mean: [0, 0], covariance: [[1, 0], [0, 1]], ucl: 9.5 }\n"
      "    rules: []\n"
      "  - id: default_limits\n"
      "    chart: { type: t2, variables: 2 }\n"
      "    rules: [we.1]\n",
      "f.yaml");
  ASSERT_TRUE(load.problems.empty()) << All(load);
  const auto& c = load.config->characteristics;
  using Mode = rules::T2ChartSpec::LimitMode;
  EXPECT_EQ(c[0].type, ChartType::kT2);
  EXPECT_EQ(c[0].variable_names, (std::vector<std::string>{"x1", "x2"}));
  EXPECT_EQ(c[0].t2.variables, 2);
  EXPECT_EQ(c[0].t2.subgroup_size, 4);
  EXPECT_EQ(c[0].t2.mode, Mode::kPhase1);
  EXPECT_EQ(c[0].t2.phase1_subgroups, 20);
  EXPECT_DOUBLE_EQ(c[0].t2.ConfidenceLevel(), 0.99);
  EXPECT_EQ(c[0].t2.boundary, rules::Boundary::kInclusive);
  EXPECT_TRUE(c[0].t2.nelson1) << "rule 1 is the default, and the only rule a t2 chart takes";
  EXPECT_FALSE(c[0].run_rules.AnyBeyondRuleOne());
  EXPECT_TRUE(c[1].variable_names.empty());
  EXPECT_EQ(c[1].t2.variables, 3);
  EXPECT_EQ(c[1].t2.subgroup_size, 1);
  EXPECT_EQ(c[1].t2.mode, Mode::kKnown);
  EXPECT_EQ(c[1].t2.center, (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(c[1].t2.covariance, (std::vector<double>{1, 0.5, 0, 0.5, 2, 0, 0, 0, 3}));
  EXPECT_EQ(c[1].t2.known_from_subgroups, 30);
  EXPECT_FALSE(c[1].t2.confidence.has_value()) << "qcc's default (1 - 0.0027)^p";
  ASSERT_TRUE(c[2].t2.explicit_ucl.has_value());
  EXPECT_DOUBLE_EQ(*c[2].t2.explicit_ucl, 9.5);
  EXPECT_FALSE(c[2].t2.nelson1) << "rules: [] judges nothing";
  EXPECT_EQ(c[3].t2.mode, Mode::kPhase1);
  EXPECT_EQ(c[3].t2.phase1_subgroups, 20) << "the documented default";
  EXPECT_TRUE(c[3].t2.nelson1);
}

TEST(ConfigTest, T2ChartProblemsNameTheirKey) {
  const char* text =
      "characteristics:\n"                                                                        // 1
      "  - id: count\n"                                                                           // 2
      "    chart: { type: t2, variables: 2 }\n"                                                   // 3
      "    limits: { mean: [0, 0, 0], covariance: [[1, 0], [0, 1, 2]] }\n"                        // 4
      "  - id: singular\n"                                                                        // 5
      "    chart: { type: t2, variables: [a, b] }\n"                                              // 6
      "    limits: { mean: [0, 0], covariance: [[1, 2], [2, 4]] }\n"                              // 7
      "  - id: asymmetric\n"                                                                      // 8
      "    chart: { type: t2, variables: [a, b] }\n"                                              // 9
      "    limits: { mean: [0, 0], covariance: [[1, 0.5], [0.4, 1]] }\n"                          // 10
      "  - id: other_keys\n"                                                                      // 11
      "    chart: { type: t2, variables: 2, estimator: uwave-r, k_sigma: 3 }\n"                   // 12
      "    limits: { phase1: { subgroups: 3 }, sigma: 1 }\n"                                      // 13
      "  - id: rules\n"                                                                           // 14
      "    spec: { usl: 1 }\n"                                                                    // 15
      "    chart: { type: t2, variables: 20 }\n"                                                  // 16
      "    rules: [nelson.1, nelson.2, spec.usl]\n"                                               // 17
      "  - id: on_individuals\n"                                                                  // 18
      "    chart: { type: individuals, variables: 2, confidence: 0.99 }\n"                        // 19
      "  - id: missing\n"                                                                         // 20
      "    chart: { type: t2, confidence: 1 }\n"                                                  // 21
      "    limits: { ucl: 5 }\n";                                                                 // 22
  ConfigLoad load = LoadConfigText(text, "t2.yaml");
  const std::string all = All(load);
  for (const char* expected : {
           "t2.yaml:4:21: characteristics[0].limits.mean: expected 2 numbers (one per variable), found 3",
           "t2.yaml:4:53: characteristics[0].limits.covariance[1]: expected 2 numbers (a row of the p x p matrix), found 3",
           "t2.yaml:7:41: characteristics[1].limits.covariance: covariance is not positive definite: variable index 1 is "
           "a linear combination of variables 0..0",
           "t2.yaml:10:41: characteristics[2].limits.covariance: covariance is not symmetric: [1][0] = 0.4 but [0][1] = 0.5",
           "t2.yaml:12:38: characteristics[3].chart.estimator: 'estimator' does not apply to a t2 chart (it is for: "
           "xbar_r, xbar_s)",
           "t2.yaml:12:58: characteristics[3].chart.k_sigma: 'k_sigma' does not apply to a t2 chart",
           "t2.yaml:13:41: characteristics[3].limits.sigma: unknown key 'sigma'; expected one of: phase1, mean, "
           "covariance, known_from_subgroups, ucl",
           "t2.yaml:15:11: characteristics[4].spec: spec limits apply to a single measured value",
           "t2.yaml:16:35: characteristics[4].chart.variables: expected an integer in [2, 16], found 20",
           "t2.yaml:17:23: characteristics[4].rules[1]: rule 'nelson.2' does not apply to a t2 chart",
           "t2.yaml:17:33: characteristics[4].rules[2]: rule 'spec.usl' does not apply to a t2 chart",
           "t2.yaml:19:33: characteristics[5].chart.variables: 'variables' does not apply to a individuals chart (it is "
           "for: t2)",
           "t2.yaml:19:47: characteristics[5].chart.confidence: 'confidence' does not apply to a individuals chart",
           "t2.yaml:21:12: characteristics[6].chart.variables: missing: the number of variables",
           "t2.yaml:21:36: characteristics[6].chart.confidence: expected a number in (0, 1), found 1",
           "t2.yaml:22:13: characteristics[6].limits.mean: missing: known limits need the mean vector",
       }) {
    EXPECT_NE(all.find(expected), std::string::npos) << "missing: " << expected << "\nin:\n" << all;
  }
  // Phase I with too few subgroups for p = 2 individual observations (m >= p + 2).
  EXPECT_NE(all.find("t2.yaml:13:36: characteristics[3].limits.phase1.subgroups: phase1_subgroups must be >= "
                     "variables + 2 = 4"),
            std::string::npos)
      << all;
  EXPECT_FALSE(load.config.has_value());
}

TEST(ConfigTest, Phase1ExcludeLoadsForEveryChartWithABaseline) {
  const char* text =
      "characteristics:\n"
      "  - { id: i, chart: { type: individuals }, limits: { phase1: { points: 30, exclude: beyond_limits } } }\n"
      "  - { id: e, chart: { type: ewma }, limits: { phase1: { points: 20, exclude: beyond_limits } } }\n"
      "  - { id: cu, chart: { type: cusum }, limits: { phase1: { points: 20, exclude: beyond_limits } } }\n"
      "  - { id: r, chart: { type: xbar_r }, limits: { phase1: { subgroups: 25, exclude: beyond_limits } } }\n"
      "  - { id: s, chart: { type: xbar_s }, limits: { phase1: { subgroups: 25, exclude: beyond_limits } } }\n"
      "  - { id: p, chart: { type: p }, limits: { phase1: { subgroups: 30, exclude: beyond_limits } } }\n"
      "  - { id: c, chart: { type: c }, limits: { phase1: { subgroups: 26, exclude: none } } }\n"
      "  - { id: u, chart: { type: u }, limits: { phase1: { subgroups: 26 } } }\n";
  ConfigLoad load = LoadConfigText(text, "exclude.yaml");
  ASSERT_TRUE(load.problems.empty()) << All(load);
  const auto& c = load.config->characteristics;
  ASSERT_EQ(c.size(), 8u);
  const auto kBeyond = rules::Phase1Exclusion::kBeyondLimits;
  const auto kNone = rules::Phase1Exclusion::kNone;
  EXPECT_EQ(c[0].chart.phase1_exclusion, kBeyond);
  EXPECT_EQ(c[0].chart.phase1_points, 30);
  EXPECT_EQ(c[1].chart.phase1_exclusion, kBeyond) << "ewma estimates through the variables spec";
  EXPECT_EQ(c[2].chart.phase1_exclusion, kBeyond) << "cusum estimates through the variables spec";
  EXPECT_EQ(c[3].subgroup.phase1_exclusion, kBeyond);
  EXPECT_EQ(c[3].subgroup.phase1_subgroups, 25);
  EXPECT_EQ(c[4].subgroup.phase1_exclusion, kBeyond);
  EXPECT_EQ(c[5].attribute.phase1_exclusion, kBeyond);
  EXPECT_EQ(c[5].attribute.phase1_subgroups, 30);
  EXPECT_EQ(c[6].attribute.phase1_exclusion, kNone) << "'none' is the explicit default";
  EXPECT_EQ(c[7].attribute.phase1_exclusion, kNone) << "the default is no exclusion";
  EXPECT_EQ(c[3].chart.phase1_exclusion, kNone) << "x-bar keeps its setting in the subgroup spec only";
}

TEST(ConfigTest, Phase1ExcludeProblemsNameTheirKey) {
  const char* text =
      "characteristics:\n"                                                                   // 1
      "  - id: bad_value\n"                                                                  // 2
      "    chart: { type: individuals }\n"                                                   // 3
      "    limits: { phase1: { points: 20, exclude: sometimes } }\n"                         // 4
      "  - id: typo\n"                                                                       // 5
      "    chart: { type: p }\n"                                                             // 6
      "    limits: { phase1: { subgroups: 20, exlude: beyond_limits } }\n"                   // 7
      "  - id: known\n"                                                                      // 8
      "    chart: { type: xbar_r }\n"                                                        // 9
      "    limits: { mean: 1, sigma: 2, exclude: beyond_limits }\n"                          // 10
      "  - id: t2\n"                                                                         // 11
      "    chart: { type: t2, variables: 2 }\n"                                              // 12
      "    limits: { phase1: { subgroups: 20, exclude: beyond_limits } }\n"                  // 13
      "  - id: beside\n"                                                                     // 14
      "    chart: { type: c }\n"                                                             // 15
      "    limits: { phase1: { subgroups: 20 }, exclude: beyond_limits }\n";                 // 16
  ConfigLoad load = LoadConfigText(text, "exclude.yaml");
  const std::string all = All(load);
  for (const char* expected : {
           "exclude.yaml:4:46: characteristics[0].limits.phase1.exclude: expected one of none, beyond_limits, found "
           "'sometimes'",
           "exclude.yaml:7:40: characteristics[1].limits.phase1.exlude: unknown key 'exlude'; did you mean 'exclude'?",
           "exclude.yaml:10:34: characteristics[2].limits.exclude: unknown key 'exclude'; expected one of: phase1, "
           "mean, sigma, ucl, cl, lcl, dispersion; it belongs under 'phase1' (phase1: { subgroups: 20, exclude: beyond_limits }): known limits "
           "are not estimated, so there is nothing to re-estimate",
           "exclude.yaml:13:49: characteristics[3].limits.phase1.exclude: phase1.exclude is not available on a t2 "
           "chart: its limits depend on the number of baseline subgroups",
           "exclude.yaml:16:42: characteristics[4].limits.exclude: unknown key 'exclude'; expected one of: phase1, "
           "center; it belongs under 'phase1' (phase1: { subgroups: 20, exclude: beyond_limits })\n",
       }) {
    EXPECT_NE(all.find(expected), std::string::npos) << "missing: " << expected << "\nin:\n" << all;
  }
  EXPECT_EQ(load.problems.size(), 5u) << all;
  EXPECT_FALSE(load.config.has_value());
}

TEST(ConfigTest, ExplicitLimitsAndWarningLines) {
  ConfigLoad load = LoadConfigText(
      "characteristics:\n"
      "  - id: x\n"
      "    chart: { type: individuals, warning_sigmas: 2 }\n"
      "    limits: { ucl: 13, cl: 10, lcl: 8 }\n"
      "  - id: b\n"
      "    chart: { type: xbar_s, subgroup_size: 4 }\n"
      "    limits: { ucl: 11, cl: 10, lcl: 9, dispersion: { ucl: 2, cl: 1, lcl: 0 } }\n",
      "f.yaml");
  ASSERT_TRUE(load.config) << All(load);
  const auto& x = load.config->characteristics[0];
  EXPECT_EQ(x.chart.mode, rules::IndividualsChartSpec::LimitMode::kExplicit);
  EXPECT_EQ(x.chart.explicit_limits.ucl, 13);
  EXPECT_EQ(x.chart.explicit_limits.lcl, 8);
  EXPECT_EQ(x.warning_sigmas, 2);
  const auto& b = load.config->characteristics[1];
  EXPECT_EQ(b.subgroup.mode, rules::SubgroupChartSpec::LimitMode::kExplicit);
  EXPECT_EQ(b.subgroup.xbar_limits.cl, 10);
  ASSERT_TRUE(b.subgroup.dispersion_limits.has_value());
  EXPECT_EQ(b.subgroup.dispersion_limits->ucl, 2);

  load = LoadConfigText(
      "characteristics:\n"
      "  - id: x\n"
      "    chart: { type: individuals, warning_sigmas: 3 }\n"
      "    limits: { ucl: 13, cl: 10, mean: 3 }\n"
      "  - id: e\n"
      "    chart: { type: ewma, warning_sigmas: 1 }\n"
      "    limits: { ucl: 13, cl: 10, lcl: 7 }\n"
      "  - id: b\n"
      "    chart: { type: xbar_r, subgroup_size: 2 }\n"
      "    limits: { ucl: 11, cl: 12, lcl: 9 }\n"
      "  - id: p\n"
      "    chart: { type: p, limit_type: probability, warning_sigmas: 2 }\n"
      "    limits: { center: 0.1 }\n",
      "f.yaml");
  const std::string all = All(load);
  EXPECT_FALSE(load.config);
  EXPECT_NE(all.find("f.yaml:3:49: characteristics[0].chart.warning_sigmas: warning lines must lie inside the control "
                     "limits: expected less than k_sigma 3, found 3"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("characteristics[0].limits: give explicit 'ucl', 'cl' and 'lcl', or 'phase1', or 'mean' and "
                     "'sigma' -- one form only"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("characteristics[0].limits.lcl: missing: explicit limits need ucl, cl and lcl"), std::string::npos)
      << all;
  EXPECT_NE(all.find("characteristics[1].chart.warning_sigmas: 'warning_sigmas' does not apply to a ewma chart"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("characteristics[1].limits.ucl: unknown key 'ucl'"), std::string::npos) << all;
  EXPECT_NE(all.find("characteristics[2].limits: explicit limits need lcl < cl < ucl, found lcl 9, cl 12, ucl 11"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("characteristics[3].chart.warning_sigmas: warning lines need sigma limits"), std::string::npos)
      << all;
}

TEST(ConfigTest, CodesAndTokens) {
  ConfigLoad load = LoadConfigText(
      "http: { listen: \"127.0.0.1:0\", tokens: ./tokens.yaml }\n"
      "codes: { causes: [tool_wear, material] }\n"
      "characteristics:\n  - { id: a, chart: { type: individuals }, limits: { mean: 0, sigma: 1 } }\n",
      "f.yaml");
  ASSERT_TRUE(load.config) << All(load);
  EXPECT_EQ(load.config->http_tokens, "./tokens.yaml");
  EXPECT_EQ(load.config->cause_codes, (std::vector<std::string>{"tool_wear", "material"}));
  EXPECT_FALSE(load.config->action_codes.empty());  // the built-in list
  load = LoadConfigText(
      "codes: { causes: [], actions: [a, a], colours: [red] }\n"
      "characteristics:\n  - { id: a, chart: { type: individuals }, limits: { mean: 0, sigma: 1 } }\n",
      "f.yaml");
  const std::string all = All(load);
  EXPECT_NE(all.find("codes.causes: expected a non-empty list of codes"), std::string::npos) << all;
  EXPECT_NE(all.find("codes.actions[1]: code 'a' is listed twice"), std::string::npos) << all;
  EXPECT_NE(all.find("codes.colours: unknown key 'colours'"), std::string::npos) << all;

  testing::TempDir dir;
  auto ok = LoadTokensFile(dir.Write("t.yaml", "anna: \"anna-0123456789abcdef\"\nbob: bob-0123456789abcdef\n"));
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->at("bob-0123456789abcdef"), "bob");
  auto shared = LoadTokensFile(dir.Write("s.yaml", "anna: same-0123456789abcdef\nbob: same-0123456789abcdef\n"));
  ASSERT_FALSE(shared.ok());
  EXPECT_NE(shared.status().message().find("s.yaml:2: the token of 'bob' is also the token of 'anna'"), std::string::npos)
      << shared.status().message();
  auto twice = LoadTokensFile(dir.Write("d.yaml", "anna: x-0123456789abcdef\nanna: y-0123456789abcdef\n"));
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.status().message().find("user 'anna' is listed twice"), std::string::npos);
  auto weak = LoadTokensFile(dir.Write("w.yaml", "anna: short\n"));
  ASSERT_FALSE(weak.ok());
  EXPECT_NE(weak.status().message().find("shorter than 16 characters"), std::string::npos);
  EXPECT_EQ(LoadTokensFile(dir.File("missing.yaml")).status().code(), StatusCode::kUnavailable);
}

TEST(ConfigTest, TierConditions) {
  ConfigLoad load = LoadConfigText(
      "characteristics:\n  - { id: a, chart: { type: individuals }, limits: { mean: 0, sigma: 1 }, response: field }\n"
      "responses:\n"
      "  field:\n"
      "    tiers:\n"
      "      - { tier: 1, when: { signal: any }, do: [log] }\n"
      "      - { tier: 2, when: { signals: 100, within: 72h, group_by: model }, do: [log] }\n"
      "      - { tier: 3, when: { unacknowledged_for: 4h }, do: [log] }\n"
      "      - { tier: 4, when: { rule: [nelson.1, spec] }, do: [log] }\n",
      "f.yaml");
  ASSERT_TRUE(load.config) << All(load);
  const auto& tiers = load.config->responses.at("field").tiers;
  ASSERT_EQ(tiers.size(), 4u);
  EXPECT_EQ(tiers[1].when.kind, TierCondition::Kind::kCount);
  EXPECT_EQ(tiers[1].when.count, 100);
  EXPECT_EQ(tiers[1].when.within, std::chrono::hours(72));
  EXPECT_EQ(tiers[1].when.group_by, GroupBy::kModel);
  EXPECT_EQ(tiers[2].when.kind, TierCondition::Kind::kUnacknowledged);
  EXPECT_EQ(tiers[2].when.unacknowledged_for, std::chrono::hours(4));
  EXPECT_EQ(tiers[3].when.rules, (std::vector<rules::RuleKind>{rules::RuleKind::kNelson1, rules::RuleKind::kSpecLsl,
                                                                rules::RuleKind::kSpecUsl}));
  load = LoadConfigText(
      "characteristics:\n  - { id: a, chart: { type: individuals }, limits: { mean: 0, sigma: 1 }, response: p }\n"
      "responses:\n"
      "  p:\n"
      "    tiers:\n"
      "      - { tier: 1, when: { unacknowledged_for: 1h }, do: [log] }\n"
      "      - { tier: 1, when: { signal: any, rule: [nelson.1] }, do: [log] }\n"
      "      - { tier: 3, when: { signals: 5, group_by: colour }, do: [log] }\n"
      "      - { tier: 4, when: { rule: [nelson.9] }, do: [log] }\n",
      "f.yaml");
  const std::string all = All(load);
  EXPECT_FALSE(load.config);
  EXPECT_NE(all.find("tiers[0].when.unacknowledged_for: the first tier cannot wait for an acknowledgement"),
            std::string::npos) << all;
  EXPECT_NE(all.find("tiers[1].tier: tiers must be listed once each in increasing order; found tier 1 after tier 1"),
            std::string::npos) << all;
  EXPECT_NE(all.find("tiers[1].when: give exactly one of"), std::string::npos) << all;
  EXPECT_NE(all.find("tiers[2].when.within: missing: the time window"), std::string::npos) << all;
  EXPECT_NE(all.find("tiers[2].when.group_by: expected one of characteristic, station, machine, lot, operator, model, "
                     "found 'colour'"), std::string::npos) << all;
  EXPECT_NE(all.find("tiers[3].when.rule[0]: unknown rule 'nelson.9'"), std::string::npos) << all;
}

// ---------------------------------------------------------------------------------------------
// Hooks: webhook and exec (the outbox's actions).

const char* kHooksHead = R"(engine: { retry_base: 100ms, retry_max: 5s }
characteristics:
  - id: bore
    chart: { type: individuals }
    limits: { mean: 10, sigma: 0.1 }
    scope: [station, machine]
    response: line
responses:
  line:
    tiers:
      - { tier: 1, do: [notify_line, lock_station, lock_short] }
hooks:
)";

TEST(ConfigTest, WebhookAndExecHooksLoadEveryKey) {
  const std::string text = std::string(kHooksHead) +
                           "  notify_line:\n"
                           "    webhook:\n"
                           "      url: \"http://127.0.0.1:8080/line/{station}?alarm={id}&k={{x}}\"\n"
                           "      headers: { X-Token: \"t-{characteristic}\", X-Tier: \"{tier}\" }\n"
                           "      timeout: 2s\n"
                           "      retries: 4\n"
                           "      retry_base: 10ms\n"
                           "  lock_station:\n"
                           "    exec: { argv: [\"/usr/local/bin/mes-lock\", \"{station}\", \"--rule={rule}\"], timeout: 10s,\n"
                           "            retries: 3, env: { LINE: \"{machine}\", MODE: lock } }\n"
                           "  lock_short: { exec: [\"/bin/true\", \"{key}\"] }\n";
  ConfigLoad load = LoadConfigText(text, "hooks.yaml");
  ASSERT_TRUE(load.problems.empty()) << All(load);
  const Config& c = *load.config;
  EXPECT_EQ(c.retry_base, std::chrono::milliseconds(100));
  EXPECT_EQ(c.retry_max, std::chrono::seconds(5));
  const HookSpec& w = c.hooks.at("notify_line");
  EXPECT_EQ(w.kind, HookSpec::Kind::kWebhook);
  EXPECT_TRUE(w.durable());
  EXPECT_EQ(w.webhook.url, "http://127.0.0.1:8080/line/{station}?alarm={id}&k={{x}}");
  ASSERT_EQ(w.webhook.headers.size(), 2u);
  EXPECT_EQ(w.webhook.headers[0], (std::pair<std::string, std::string>{"X-Token", "t-{characteristic}"}));
  EXPECT_EQ(w.webhook.timeout, std::chrono::seconds(2));
  EXPECT_EQ(w.retries, 4);
  EXPECT_EQ(w.retry_base, std::chrono::milliseconds(10));
  EXPECT_FALSE(w.retry_max.has_value());
  EXPECT_EQ(w.scope_placeholders, std::vector<ScopeKey>{ScopeKey::kStation});
  const HookSpec& x = c.hooks.at("lock_station");
  EXPECT_EQ(x.kind, HookSpec::Kind::kExec);
  EXPECT_EQ(x.exec.argv, (std::vector<std::string>{"/usr/local/bin/mes-lock", "{station}", "--rule={rule}"}));
  ASSERT_EQ(x.exec.env.size(), 2u);
  EXPECT_EQ(x.exec.env[0], (std::pair<std::string, std::string>{"LINE", "{machine}"}));
  EXPECT_EQ(x.exec.timeout, std::chrono::seconds(10));
  EXPECT_EQ(x.retries, 3);
  const HookSpec& s = c.hooks.at("lock_short");
  EXPECT_EQ(s.exec.argv, (std::vector<std::string>{"/bin/true", "{key}"}));
  EXPECT_EQ(s.retries, 10) << "default";
  EXPECT_EQ(s.exec.timeout, std::chrono::seconds(10)) << "default";
}

TEST(ConfigTest, HookProblemsNameTheirKey) {
  const std::string text = std::string(kHooksHead) +
                           "  notify_line:\n"                                                    // 13
                           "    webhook:\n"                                                      // 14
                           "      url: \"http://h/line/{station}/{shift}\"\n"                    // 15
                           "      headers: { Idempotency-Key: x, \"Bad Name\": y, X-A: \"{id\" }\n"  // 16
                           "      timeout: 0s\n"                                                 // 17
                           "      retrys: 3\n"                                                   // 18
                           "      retry_base: 1m\n"                                              // 19
                           "  lock_station:\n"                                                   // 20
                           "    exec: { argv: [\"mes-lock\", \"{station}\"], env: { SHEWHART_X: a, 1X: b }, retries: -1 }\n"  // 21
                           "  lock_short: { webhook: { url: \"ftp://h/\" }, exec: [\"/bin/true\"] }\n";  // 22
  ConfigLoad load = LoadConfigText(text, "bad.yaml");
  ASSERT_FALSE(load.config.has_value());
  const std::string all = All(load);
  EXPECT_NE(all.find("bad.yaml:15:12: hooks.notify_line.webhook.url: unknown placeholder '{shift}' at offset 24; known: "
                     "{id}, {key}, {characteristic}, {policy}, {rule}, {chart}, {tier}, {action}, {station}, {machine}, "
                     "{lot}, {operator}, in 'http://h/line/{station}/{shift}'"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("bad.yaml:16:18: hooks.notify_line.webhook.headers.Idempotency-Key: header 'Idempotency-Key' is set "
                     "by the engine and cannot be configured"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("hooks.notify_line.webhook.headers.Bad Name: 'Bad Name' is not a valid HTTP header name"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("hooks.notify_line.webhook.headers.X-A: unmatched '{' at offset 0"), std::string::npos) << all;
  EXPECT_NE(all.find("bad.yaml:17:16: hooks.notify_line.webhook.timeout: expected a duration greater than 0 and at most "
                     "24h, found '0s'"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("bad.yaml:18:7: hooks.notify_line.webhook.retrys: unknown key 'retrys'; did you mean 'retries'?"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("bad.yaml:19:19: hooks.notify_line.webhook.retry_base: retry_max (5s) must not be less than "
                     "retry_base (60s); the other comes from engine."),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("bad.yaml:21:20: hooks.lock_station.exec.argv[0]: expected the program's absolute path (there is no "
                     "shell and no PATH search), found 'mes-lock'"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("hooks.lock_station.exec.env.SHEWHART_X: variables named SHEWHART_* are set by the engine"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("hooks.lock_station.exec.env.1X: '1X' is not a valid environment variable name"), std::string::npos)
      << all;
  EXPECT_NE(all.find("hooks.lock_station.exec.retries: expected an integer in [0, 1000], found -1"), std::string::npos)
      << all;
  EXPECT_NE(all.find("bad.yaml:22:15: hooks.lock_short: expected exactly one of 'log', 'zmq_pub', 'webhook', 'exec' or "
                     "'alertmanager'"),
            std::string::npos)
      << all;
}

TEST(ConfigTest, HookMissingRequiredKeysAndBadEngineRetry) {
  const std::string text = std::string(kHooksHead) +
                           "  notify_line: { webhook: { timeout: 1s } }\n"
                           "  lock_station: { exec: { env: { A: b } } }\n"
                           "  lock_short: { exec: [] }\n";
  std::string bad = text;
  bad.replace(bad.find("retry_max: 5s"), 13, "retry_max: 50ms");
  ConfigLoad load = LoadConfigText(bad, "bad.yaml");
  const std::string all = All(load);
  EXPECT_NE(all.find("bad.yaml:1:41: engine.retry_max: engine.retry_max (50ms) must not be less than engine.retry_base (100ms)"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("hooks.notify_line.webhook.url: missing: the URL to POST to"), std::string::npos) << all;
  EXPECT_NE(all.find("hooks.lock_station.exec.argv: missing: the program and its arguments"), std::string::npos) << all;
  EXPECT_NE(all.find("bad.yaml:15:23: hooks.lock_short.exec: expected a non-empty list: the program's absolute path, then "
                     "its arguments (no shell), found an empty list"),
            std::string::npos)
      << all;
  EXPECT_EQ(load.problems.size(), 4u) << all;
}

TEST(ConfigTest, AlertmanagerHookLoadsEveryKeyAndIsDurable) {
  const std::string text = std::string(kHooksHead) +
                           "  notify_line:\n"
                           "    alertmanager:\n"
                           "      url: \"http://127.0.0.1:9093/\"\n"
                           "      generator_url: \"http://shewhart:8080/api/alarms/{id}?station={station}\"\n"
                           "      timeout: 2s\n"
                           "      retries: 3\n"
                           "      retry_max: 1m\n"
                           "  lock_station: { alertmanager: { url: \"https://am.example\" } }\n"
                           "  lock_short: { log: {} }\n";
  ConfigLoad load = LoadConfigText(text, "am.yaml");
  ASSERT_TRUE(load.problems.empty()) << All(load);
  const HookSpec& a = load.config->hooks.at("notify_line");
  EXPECT_EQ(a.kind, HookSpec::Kind::kAlertmanager);
  EXPECT_TRUE(a.durable());
  EXPECT_EQ(a.alertmanager.url, "http://127.0.0.1:9093") << "the trailing '/' is dropped: /api/v2/alerts is appended";
  EXPECT_EQ(a.alertmanager.generator_url, "http://shewhart:8080/api/alarms/{id}?station={station}");
  EXPECT_EQ(a.alertmanager.timeout, std::chrono::seconds(2));
  EXPECT_EQ(a.retries, 3);
  EXPECT_EQ(a.retry_max, std::chrono::minutes(1));
  EXPECT_EQ(a.scope_placeholders, std::vector<ScopeKey>{ScopeKey::kStation});
  const HookSpec& b = load.config->hooks.at("lock_station");
  EXPECT_EQ(b.alertmanager.url, "https://am.example");
  EXPECT_EQ(b.alertmanager.generator_url, "");
  EXPECT_EQ(b.alertmanager.timeout, std::chrono::seconds(5)) << "default";
  EXPECT_EQ(b.retries, 10) << "default";
}

TEST(ConfigTest, AlertmanagerHookProblemsNameTheirKey) {
  const std::string text = std::string(kHooksHead) +
                           "  notify_line:\n"                                          // 13
                           "    alertmanager:\n"                                       // 14
                           "      url: \"http://am:9093/{station}\"\n"               // 15
                           "      generator_url: \"ftp://x/{shift}\"\n"              // 16
                           "      timout: 2s\n"                                        // 17
                           "  lock_station: { alertmanager: { timeout: 1s } }\n"       // 18
                           "  lock_short: { alertmanager: \"http://am:9093\" }\n";   // 19
  ConfigLoad load = LoadConfigText(text, "bad.yaml");
  ASSERT_FALSE(load.config.has_value());
  const std::string all = All(load);
  EXPECT_NE(all.find("bad.yaml:15:12: hooks.notify_line.alertmanager.url: expected a base URL without placeholders, "
                     "query, fragment or spaces (the engine appends /api/v2/alerts), found 'http://am:9093/{station}'"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("bad.yaml:16:22: hooks.notify_line.alertmanager.generator_url: unknown placeholder '{shift}'"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("bad.yaml:17:7: hooks.notify_line.alertmanager.timout: unknown key 'timout'; did you mean 'timeout'?"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("bad.yaml:18:33: hooks.lock_station.alertmanager.url: missing: Alertmanager's base URL"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("bad.yaml:19:31: hooks.lock_short.alertmanager: expected a mapping such as { url: "
                     "\"http://127.0.0.1:9093\" }, found"),
            std::string::npos)
      << all;
}

// {lot} in a hook run for a characteristic scoped by station and machine would expand to
// nothing: a problem at the policy's `do` entry, naming the characteristic.
TEST(ConfigTest, HookPlaceholderOutsideTheCharacteristicsScopeIsAProblem) {
  const std::string text = std::string(kHooksHead) +
                           "  notify_line: { webhook: { url: \"http://h/{lot}\" } }\n"
                           "  lock_station: { exec: [\"/bin/true\", \"{operator}\", \"{machine}\"] }\n"
                           "  lock_short: log\n";
  std::string fixed = text;
  fixed.replace(fixed.find("lock_short: log"), 15, "lock_short: { log: {} }");
  ConfigLoad load = LoadConfigText(fixed, "scope.yaml");
  const std::string all = All(load);
  ASSERT_EQ(load.problems.size(), 2u) << all;
  EXPECT_EQ(load.problems[0].ToString(),
            "scope.yaml:11:25: responses.line.tiers[0].do[0]: hook 'notify_line' uses {lot}, but characteristic 'bore' "
            "(which uses this policy) has no lot in its scope [station, machine]; add it to the characteristic's scope "
            "or remove the placeholder");
  EXPECT_NE(load.problems[1].message.find("hook 'lock_station' uses {operator}"), std::string::npos) << all;
}

TEST(HookTemplateTest, ExpandsFieldsEscapesBracesAndUrlEncodesValues) {
  const TemplateFields fields = {{"station", "st 2/a"}, {"id", "17"}, {"tier", "1"}};
  EXPECT_EQ(ExpandHookTemplate("/line/{station}/{id}?t={tier}&x={{y}}", fields, /*url_encode=*/true),
            "/line/st%202%2Fa/17?t=1&x={y}");
  EXPECT_EQ(ExpandHookTemplate("{station}-{id}", fields), "st 2/a-17");
  EXPECT_EQ(ExpandHookTemplate("[{lot}]", fields), "[]") << "a field the alarm lacks expands to nothing";
  std::vector<std::string> names;
  EXPECT_TRUE(CheckHookTemplate("{station}{id}}}", &names).ok());
  EXPECT_EQ(names, (std::vector<std::string>{"station", "id"}));
  Status st = CheckHookTemplate("a}b", nullptr);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("unmatched '}' at offset 1"), std::string::npos) << st.message();
  st = CheckHookTemplate("{}", nullptr);
  EXPECT_NE(st.message().find("unknown placeholder '{}'"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace shewhart::engine

// The configuration loader: sources, characteristics and charts, rules, responses and hooks,
// and the problems each bad key gets. T² charts, exclusions, codes,
// tiers and hooks: config_charts_hooks_test.cc.
#include "shewhart/engine/config/config.h"

#include <cmath>

#include "shewhart/rules/presets.h"
#include "../test_util.h"
#include "config_fixture.h"

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

const auto& All = fixture::AllProblems;

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
  ConfigLoad load =
      LoadConfigText("characteristics:\n  - id: a\n    chart: { type: individuals }\n    limts: {}\n", "f.yaml");
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
  EXPECT_NE(All(load).find("phase1.points: expected an integer in [2, 100000], found 1"), std::string::npos)
      << All(load);
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
      "engine: { metrics_max_characteristics: 1000000 }\ncharacteristics:\n  - id: a\n    chart: { type: individuals "
      "}\n",
      "f.yaml");
  ASSERT_EQ(load.problems.size(), 1u) << All(load);
  EXPECT_EQ(load.problems[0].ToString(),
            "f.yaml:1:40: engine.metrics_max_characteristics: expected an integer in [0, 100000], found 1000000");
}

// engine.judge and engine.commit_delay: defaults, values, and what a bad one gets.
TEST(ConfigTest, JudgeAndCommitDelayLoadWithTheirDefaultsAndRefuseBadValues) {
  const std::string chars = "characteristics:\n  - id: a\n    chart: { type: individuals }\n";
  ConfigLoad load = LoadConfigText(chars, "f.yaml");
  ASSERT_TRUE(load.problems.empty()) << All(load);
  EXPECT_TRUE(load.config->judge_at_source);
  EXPECT_EQ(load.config->commit_delay, std::chrono::microseconds(500));
  load = LoadConfigText("engine: { judge: shard, commit_delay: 0s }\n" + chars, "f.yaml");
  ASSERT_TRUE(load.problems.empty()) << All(load);
  EXPECT_FALSE(load.config->judge_at_source);
  EXPECT_EQ(load.config->commit_delay, std::chrono::microseconds(0));
  load = LoadConfigText("engine: { judge: thread, commit_delay: 1s }\n" + chars, "f.yaml");
  ASSERT_EQ(load.problems.size(), 2u) << All(load);
  EXPECT_EQ(load.problems[0].ToString(), "f.yaml:1:18: engine.judge: expected one of source, shard, found 'thread'");
  EXPECT_EQ(load.problems[1].ToString(),
            "f.yaml:1:40: engine.commit_delay: expected a duration from 0 to 100ms, found '1s'");
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
  EXPECT_NE(all.find("f.yaml:4:13: characteristics[0].rules[0]: rule 'threshold' needs its limits"), std::string::npos)
      << all;
  EXPECT_NE(all.find("f.yaml:4:24: characteristics[0].rules[1]: unknown rule 'bogus'"), std::string::npos) << all;
}

TEST(ConfigTest, RunRulesFollowTheDesignDefaultsAndTheList) {
  ConfigLoad load = LoadConfigText(
      "characteristics:\n"
      "  - { id: i, chart: { type: individuals }, limits: { mean: 0, sigma: 1 } }\n"
      "  - { id: p, chart: { type: p }, limits: { center: 0.1 } }\n"
      "  - { id: e, chart: { type: ewma }, limits: { mean: 0, sigma: 1 } }\n"
      "  - { id: x, chart: { type: xbar_r, subgroup_size: 4 }, limits: { mean: 0, sigma: 1 }, rules: [nelson.1, "
      "nelson.2, nelson.5] }\n",
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
  EXPECT_NE(all.find("characteristics[0].response: unknown response policy 'nope'; defined: r"), std::string::npos)
      << all;
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
  EXPECT_NE(all.find("hooks.a.quarantine: a quarantine hook sends serials through a 'webhook' or 'exec'"),
            std::string::npos)
      << all;
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
  EXPECT_NE(two.problems[0].message.find("a config is one YAML document"), std::string::npos)
      << two.problems[0].message;
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

// The readings of the m-of-n rules: qcc's by default, the plain one and the wait for n on request.
TEST(ConfigTest, MOfNRulesTakeTheirReadings) {
  ConfigLoad load = LoadConfigText(
      "characteristics:\n"
      "  - id: a\n"
      "    chart: { type: individuals }\n"
      "    limits: { mean: 0, sigma: 1 }\n"
      "    rules: [nelson.6, { nelson.5: { m: 2, n: 3, point_beyond: false, full_window: true } }]\n",
      "f.yaml");
  ASSERT_TRUE(load.config) << All(load);
  const auto& r = load.config->characteristics[0].run_rules;
  EXPECT_FALSE(r.nelson5.point_beyond);
  EXPECT_TRUE(r.nelson5.full_window);
  EXPECT_TRUE(r.nelson6.point_beyond);  // the defaults: qcc's reading, a shorter window at the start
  EXPECT_FALSE(r.nelson6.full_window);

  ConfigLoad bad = LoadConfigText(
      "characteristics:\n"
      "  - id: a\n"
      "    chart: { type: individuals }\n"
      "    limits: { mean: 0, sigma: 1 }\n"
      "    rules: [{ nelson.6: { point_beyond: maybe } }, { nelson.2: { full_window: true } }]\n",
      "f.yaml");
  const std::string all = All(bad);
  EXPECT_FALSE(bad.config);
  EXPECT_NE(all.find("characteristics[0].rules[0].nelson.6.point_beyond:"), std::string::npos) << all;
  EXPECT_NE(all.find("maybe"), std::string::npos) << all;
  EXPECT_NE(all.find("characteristics[0].rules[1].nelson.2.full_window: unknown key 'full_window'"), std::string::npos)
      << all;
}

TEST(ConfigTest, IndividualsTakeTheMedianMovingRangeAndCentre) {
  ConfigLoad load = LoadConfigText(
      "characteristics:\n"
      "  - id: a\n"
      "    chart: { type: individuals, estimator: median_mr, centre: median }\n"
      "    limits: { phase1: { points: 20 } }\n"
      "  - id: b\n"
      "    chart: { type: individuals }\n",
      "f.yaml");
  ASSERT_TRUE(load.config) << All(load);
  EXPECT_EQ(load.config->characteristics[0].chart.estimator, rules::IndividualsEstimator::kMedianMr);
  EXPECT_EQ(load.config->characteristics[0].chart.centre, rules::IndividualsCentre::kMedian);
  EXPECT_EQ(load.config->characteristics[1].chart.estimator, rules::IndividualsEstimator::kMeanMr);
  EXPECT_EQ(load.config->characteristics[1].chart.centre, rules::IndividualsCentre::kMean);

  ConfigLoad bad = LoadConfigText(
      "characteristics:\n"
      "  - id: a\n"
      "    chart: { type: individuals, estimator: median_mr }\n"
      "    limits: { mean: 0, sigma: 1 }\n"
      "  - id: b\n"
      "    chart: { type: individuals, estimator: uwave-r, centre: mode }\n"
      "  - id: c\n"
      "    chart: { type: ewma, centre: median }\n"
      "  - id: d\n"
      "    chart: { type: ewma, estimator: median_mr }\n"
      "  - id: e\n"
      "    chart: { type: individuals, centre: median }\n"
      "    limits: { ucl: 3, cl: 0, lcl: -3 }\n",
      "f.yaml");
  const std::string all = All(bad);
  EXPECT_NE(all.find("characteristics[3].chart.estimator: 'estimator' does not apply to a ewma chart"),
            std::string::npos)
      << all;
  EXPECT_EQ(all.find("characteristics[3].chart.estimator: expected one of"), std::string::npos) << all;
  EXPECT_NE(all.find("characteristics[4].chart.centre: centre applies to phase1 limits"), std::string::npos) << all;
  EXPECT_FALSE(bad.config);
  EXPECT_NE(all.find("characteristics[0].chart.estimator: estimator applies to phase1 limits"), std::string::npos)
      << all;
  EXPECT_NE(all.find("characteristics[1].chart.estimator: expected one of mean_mr, median_mr, found 'uwave-r'"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("characteristics[1].chart.centre: expected one of mean, median, found 'mode'"), std::string::npos)
      << all;
  EXPECT_NE(all.find("characteristics[2].chart.centre: 'centre' does not apply to a ewma chart"), std::string::npos)
      << all;
}

TEST(ConfigTest, LaneyLimitsOnPAndUCharts) {
  ConfigLoad load = LoadConfigText(
      "characteristics:\n"
      "  - id: a\n"
      "    chart: { type: p, limit_type: laney }\n"
      "  - id: b\n"
      "    chart: { type: u, limit_type: laney }\n"
      "    limits: { center: 4.5, sigma_z: 2.1 }\n",
      "f.yaml");
  ASSERT_TRUE(load.config) << All(load);
  EXPECT_EQ(load.config->characteristics[0].attribute.limit_type, rules::AttributeChartSpec::LimitType::kLaney);
  EXPECT_DOUBLE_EQ(load.config->characteristics[1].attribute.sigma_z, 2.1);

  ConfigLoad bad = LoadConfigText(
      "characteristics:\n"
      "  - id: a\n"
      "    chart: { type: np, limit_type: laney }\n"
      "  - id: b\n"
      "    chart: { type: p, limit_type: laney }\n"
      "    limits: { center: 0.1 }\n"
      "  - id: c\n"
      "    chart: { type: p }\n"
      "    limits: { center: 0.1, sigma_z: 2 }\n"
      "  - id: d\n"
      "    chart: { type: u, limit_type: laney }\n"
      "    limits: { center: 1, sigma_z: 0 }\n",
      "f.yaml");
  const std::string all = All(bad);
  EXPECT_FALSE(bad.config);
  EXPECT_NE(all.find("characteristics[0].chart: laney limits are Laney's p' and u' charts"), std::string::npos) << all;
  EXPECT_NE(all.find("characteristics[1].limits.sigma_z: missing: known laney limits need"), std::string::npos) << all;
  EXPECT_NE(all.find("characteristics[2].limits.sigma_z: sigma_z goes with a known center and chart.limit_type: laney"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("characteristics[3].limits.sigma_z: expected a number > 0, found 0"), std::string::npos) << all;
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
      "    rules: [{ preset: nope }, { nelson.5: { m: 4, n: 3 } }, { nelson.2: { lenght: 7 } }, { nelson.4: { length: "
      "2 } }]\n"
      "  - id: b\n"
      "    chart: { type: individuals }\n"
      "    limits: { mean: 0, sigma: 1 }\n"
      "    rules: [{ threshold: { high: 1, low: 2 } }, { rate: { per: 0s, max_rise: 1 } }, { stale: { after: 5 } }, "
      "spec]\n"
      "    late_tolerance: soon\n"
      "  - id: c\n"
      "    chart: { type: p }\n"
      "    limits: { center: 0.1 }\n"
      "    rules: [{ threshold: { high: 1 } }, { nelson.2: { length: 9 } }, { preset: aiag }, { preset: nelson }]\n",
      "f.yaml");
  const std::string all = All(load);
  EXPECT_FALSE(load.config);
  EXPECT_NE(all.find("characteristics[0].rules[0].preset: unknown preset 'nope'; known: aiag, minitab, montgomery"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("characteristics[0].rules[1].nelson.5: m must not exceed n, found m 4, n 3"), std::string::npos)
      << all;
  EXPECT_NE(all.find("characteristics[0].rules[2].nelson.2.lenght: unknown key 'lenght'; did you mean 'length'?"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("characteristics[0].rules[3].nelson.4.length: expected an integer in [3, 50], found 2"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("characteristics[1].rules[0].threshold: threshold"), std::string::npos) << all;
  EXPECT_NE(all.find("characteristics[1].rules[1].rate: rate per must be > 0"), std::string::npos) << all;
  EXPECT_NE(all.find("characteristics[1].rules[2].stale.after: expected a duration such as 30s"), std::string::npos)
      << all;
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
      "    rules: [{ threshold: { high: 80, low: -5, hysteresis: 2 } }, { rate: { max_fall: 3, per: 1m, min_interval: "
      "500ms } },"
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

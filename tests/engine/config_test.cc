#include "shewhart/engine/config.h"

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
            "limits, rules, scope, response");
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
  EXPECT_NE(all.find("f.yaml:4:13: characteristics[0].rules[0]: rule 'threshold' is not implemented"), std::string::npos) << all;
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

TEST(ConfigTest, YamlSyntaxErrorHasItsPosition) {
  ConfigLoad load = LoadConfigText("characteristics: [\n  - id: a\n", "f.yaml");
  ASSERT_EQ(load.problems.size(), 1u);
  EXPECT_EQ(load.problems[0].file, "f.yaml");
  EXPECT_GT(load.problems[0].line, 0);
  EXPECT_NE(load.problems[0].message.find("YAML syntax"), std::string::npos);
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

}  // namespace
}  // namespace shewhart::engine

// The configuration loader, continued: T² charts, Phase I exclusions, explicit limits and
// warning lines, codes and tokens, tier conditions, hooks and their templates.
#include "shewhart/engine/config/config.h"

#include <cmath>

#include "shewhart/rules/presets.h"
#include "../test_util.h"
#include "config_fixture.h"

#include <gtest/gtest.h>
namespace shewhart::engine {
namespace {

const auto& All = fixture::AllProblems;

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
           "t2.yaml:4:53: characteristics[0].limits.covariance[1]: expected 2 numbers (a row of the p x p matrix), "
           "found 3",
           "t2.yaml:7:41: characteristics[1].limits.covariance: covariance is not positive definite: variable index 1 "
           "is "
           "a linear combination of variables 0..0",
           "t2.yaml:10:41: characteristics[2].limits.covariance: covariance is not symmetric: [1][0] = 0.4 but [0][1] "
           "= 0.5",
           "t2.yaml:12:38: characteristics[3].chart.estimator: 'estimator' does not apply to a t2 chart (it is for: "
           "individuals, xbar_r, xbar_s)",
           "t2.yaml:12:58: characteristics[3].chart.k_sigma: 'k_sigma' does not apply to a t2 chart",
           "t2.yaml:13:41: characteristics[3].limits.sigma: unknown key 'sigma'; expected one of: phase1, mean, "
           "covariance, known_from_subgroups, ucl",
           "t2.yaml:15:11: characteristics[4].spec: spec limits apply to a single measured value",
           "t2.yaml:16:35: characteristics[4].chart.variables: expected an integer in [2, 16], found 20",
           "t2.yaml:17:23: characteristics[4].rules[1]: rule 'nelson.2' does not apply to a t2 chart",
           "t2.yaml:17:33: characteristics[4].rules[2]: rule 'spec.usl' does not apply to a t2 chart",
           "t2.yaml:19:33: characteristics[5].chart.variables: 'variables' does not apply to a individuals chart (it "
           "is "
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
           "mean, sigma, ucl, cl, lcl, dispersion; it belongs under 'phase1' (phase1: { subgroups: 20, exclude: "
           "beyond_limits }): known limits "
           "are not estimated, so there is nothing to re-estimate",
           "exclude.yaml:13:49: characteristics[3].limits.phase1.exclude: phase1.exclude is not available on a t2 "
           "chart: its limits depend on the number of baseline subgroups",
           "exclude.yaml:16:42: characteristics[4].limits.exclude: unknown key 'exclude'; expected one of: phase1, "
           "center, sigma_z; it belongs under 'phase1' (phase1: { subgroups: 20, exclude: beyond_limits })\n",
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
  EXPECT_NE(shared.status().message().find("s.yaml:2: the token of 'bob' is also the token of 'anna'"),
            std::string::npos)
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
  const std::string text =
      std::string(kHooksHead) +
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
  const std::string text =
      std::string(kHooksHead) +
      "  notify_line:\n"                                                                                 // 13
      "    webhook:\n"                                                                                   // 14
      "      url: \"http://h/line/{station}/{shift}\"\n"                                                 // 15
      "      headers: { Idempotency-Key: x, \"Bad Name\": y, X-A: \"{id\" }\n"                           // 16
      "      timeout: 0s\n"                                                                              // 17
      "      retrys: 3\n"                                                                                // 18
      "      retry_base: 1m\n"                                                                           // 19
      "  lock_station:\n"                                                                                // 20
      "    exec: { argv: [\"mes-lock\", \"{station}\"], env: { SHEWHART_X: a, 1X: b }, retries: -1 }\n"  // 21
      "  lock_short: { webhook: { url: \"ftp://h/\" }, exec: [\"/bin/true\"] }\n";                       // 22
  ConfigLoad load = LoadConfigText(text, "bad.yaml");
  ASSERT_FALSE(load.config.has_value());
  const std::string all = All(load);
  EXPECT_NE(
      all.find("bad.yaml:15:12: hooks.notify_line.webhook.url: unknown placeholder '{shift}' at offset 24; known: "
               "{id}, {key}, {characteristic}, {policy}, {rule}, {chart}, {tier}, {action}, {station}, {machine}, "
               "{lot}, {operator}, in 'http://h/line/{station}/{shift}'"),
      std::string::npos)
      << all;
  EXPECT_NE(
      all.find("bad.yaml:16:18: hooks.notify_line.webhook.headers.Idempotency-Key: header 'Idempotency-Key' is set "
               "by the engine and cannot be configured"),
      std::string::npos)
      << all;
  EXPECT_NE(all.find("hooks.notify_line.webhook.headers.Bad Name: 'Bad Name' is not a valid HTTP header name"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("hooks.notify_line.webhook.headers.X-A: unmatched '{' at offset 0"), std::string::npos) << all;
  EXPECT_NE(
      all.find("bad.yaml:17:16: hooks.notify_line.webhook.timeout: expected a duration greater than 0 and at most "
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
  EXPECT_NE(
      all.find("bad.yaml:21:20: hooks.lock_station.exec.argv[0]: expected the program's absolute path (there is no "
               "shell and no PATH search), found 'mes-lock'"),
      std::string::npos)
      << all;
  EXPECT_NE(all.find("hooks.lock_station.exec.env.SHEWHART_X: variables named SHEWHART_* are set by the engine"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("hooks.lock_station.exec.env.1X: '1X' is not a valid environment variable name"),
            std::string::npos)
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
  EXPECT_NE(
      all.find(
          "bad.yaml:1:41: engine.retry_max: engine.retry_max (50ms) must not be less than engine.retry_base (100ms)"),
      std::string::npos)
      << all;
  EXPECT_NE(all.find("hooks.notify_line.webhook.url: missing: the URL to POST to"), std::string::npos) << all;
  EXPECT_NE(all.find("hooks.lock_station.exec.argv: missing: the program and its arguments"), std::string::npos) << all;
  EXPECT_NE(
      all.find("bad.yaml:15:23: hooks.lock_short.exec: expected a non-empty list: the program's absolute path, then "
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
  EXPECT_NE(
      all.find("bad.yaml:17:7: hooks.notify_line.alertmanager.timout: unknown key 'timout'; did you mean 'timeout'?"),
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

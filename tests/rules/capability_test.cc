#include "shewhart/rules/capability.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <tuple>
#include <sstream>
#include <string>
#include <vector>

#include "../test_util.h"
#include "shewhart/rules/sigma_estimators.h"
#include "shewhart/rules/subgroup_chart.h"

namespace shewhart::rules {
namespace {

struct NullObserver : ChartObserver {
  void OnPoint(const ChartPoint&) override {}
  void OnRuleHit(const RuleHit&) override {}
};

// qcc's test-capability.R data: 3 subgroups of 4.
const std::vector<std::vector<double>> kQccGroups = {
    {10.00, 10.02, 9.98, 10.01}, {10.03, 9.99, 10.01, 10.00}, {9.97, 10.04, 10.02, 9.99}};

// sigma_within the way the engine gets it: an x-bar/R chart's Phase I estimate (uwave-r).
double ChartSigma(const std::vector<std::vector<double>>& groups) {
  SubgroupChartSpec spec;
  spec.subgroup_size = static_cast<int>(groups[0].size());
  spec.phase1_subgroups = static_cast<int>(groups.size());
  SubgroupChart chart(spec);
  NullObserver none;
  for (const auto& g : groups) {
    Status st = chart.Add(g, EventTime{}, none);
    EXPECT_TRUE(st.ok()) << st.ToString();
  }
  EXPECT_TRUE(chart.limits_ready());
  return chart.sigma();
}

WindowStats Window(const std::vector<std::vector<double>>& groups, const SpecLimits& spec) {
  CapabilityAccumulator acc(spec);
  for (const auto& g : groups) {
    for (double v : g) acc.Add(v);
  }
  return acc.stats();
}

CapabilitySpec Spec(std::optional<double> lsl, std::optional<double> usl, std::optional<double> target = {}) {
  CapabilitySpec s;
  s.spec.lsl = lsl;
  s.spec.usl = usl;
  s.spec.target = target;
  return s;
}

void ExpectIndex(const std::optional<CapabilityIndex>& got, double value, double lower, double upper, double tol,
                 const char* name) {
  ASSERT_TRUE(got.has_value()) << name << " is absent";
  EXPECT_NEAR(got->value, value, tol) << name;
  EXPECT_NEAR(got->lower, lower, tol) << name << " lower";
  EXPECT_NEAR(got->upper, upper, tol) << name << " upper";
}

Capability Compute(const CapabilitySpec& spec, const WindowStats& w, double sigma) {
  Result<Capability> r = ComputeCapability(spec, w, sigma);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : Capability{};
}

// qcc_unit_test_fixtures.md, "Capability": every index and interval to 1e-6.
TEST(CapabilityTest, QccFixtureTwoSided) {
  const CapabilitySpec spec = Spec(9.9, 10.1, 10.0);
  const double sigma = ChartSigma(kQccGroups);
  EXPECT_NEAR(sigma, 0.05 / 2.059, 1e-15) << "R-bar = 0.05, d2(4) = 2.059";
  const Capability c = Compute(spec, Window(kQccGroups, spec.spec), sigma);
  EXPECT_EQ(c.n, 12);
  const double tol = 1e-6;
  ExpectIndex(c.cp, 1.372667, 0.808460, 1.937713, tol, "Cp");
  ExpectIndex(c.cpl, 1.441300, 0.911657, 1.970943, tol, "Cp_l");
  ExpectIndex(c.cpu, 1.304033, 0.820114, 1.787953, tol, "Cp_u");
  ExpectIndex(c.cpk, 1.304033, 0.727408, 1.880659, tol, "Cp_k");
  ExpectIndex(c.cpm, 1.344463, 0.804207, 1.885321, tol, "Cpm");
  ExpectIndex(c.pp, 1.612598, 0.949773, 2.276410, tol, "Pp");
  ExpectIndex(c.ppl, 1.693228, 1.078708, 2.307749, tol, "Pp_l");
  ExpectIndex(c.ppu, 1.531968, 0.971902, 2.092035, tol, "Pp_u");
  ExpectIndex(c.ppk, 1.531968, 0.864608, 2.199329, tol, "Pp_k");
  ExpectIndex(c.ppm, 1.567395, 0.933327, 2.202237, tol, "Ppm");
  ASSERT_TRUE(c.target.has_value());
  EXPECT_EQ(*c.target, 10.0);
}

TEST(CapabilityTest, QccFixtureOffCentreTarget) {
  const CapabilitySpec spec = Spec(9.9, 10.1, 10.02);
  const Capability c = Compute(spec, Window(kQccGroups, spec.spec), ChartSigma(kQccGroups));
  ExpectIndex(c.cpm, 1.167834, 0.650542, 1.686689, 1e-6, "Cpm");
  ExpectIndex(c.ppm, 1.305161, 0.712493, 1.899988, 1e-6, "Ppm");
  ExpectIndex(c.cp, 1.372667, 0.808460, 1.937713, 1e-6, "Cp");
}

TEST(CapabilityTest, MissingTargetIsTheMidpoint) {
  const CapabilitySpec spec = Spec(9.9, 10.1);
  const Capability c = Compute(spec, Window(kQccGroups, spec.spec), ChartSigma(kQccGroups));
  ASSERT_TRUE(c.target.has_value());
  EXPECT_NEAR(*c.target, 10.0, 1e-15);
  ExpectIndex(c.cpm, 1.344463, 0.804207, 1.885321, 1e-6, "Cpm");
}

TEST(CapabilityTest, QccFixtureUpperSpecOnly) {
  const CapabilitySpec spec = Spec(std::nullopt, 10.1);
  const Capability c = Compute(spec, Window(kQccGroups, spec.spec), ChartSigma(kQccGroups));
  ExpectIndex(c.cpu, 1.304033, 0.820114, 1.787953, 1e-6, "Cp_u");
  ExpectIndex(c.cpk, 1.304033, 0.727408, 1.880659, 1e-6, "Cp_k");
  ExpectIndex(c.ppu, 1.531968, 0.971902, 2.092035, 1e-6, "Pp_u");
  ExpectIndex(c.ppk, 1.531968, 0.864608, 2.199329, 1e-6, "Pp_k");
  EXPECT_FALSE(c.cp || c.cpl || c.cpm || c.pp || c.ppl || c.ppm);
  EXPECT_FALSE(c.target.has_value());
  EXPECT_FALSE(c.expected_within_ppm_below_lsl || c.expected_overall_ppm_below_lsl || c.observed_ppm_below_lsl);
  EXPECT_TRUE(c.expected_within_ppm_above_usl && c.expected_overall_ppm_above_usl && c.observed_ppm_above_usl);
}

TEST(CapabilityTest, QccFixtureLowerSpecOnly) {
  const CapabilitySpec spec = Spec(9.9, std::nullopt);
  const Capability c = Compute(spec, Window(kQccGroups, spec.spec), ChartSigma(kQccGroups));
  ExpectIndex(c.cpl, 1.441300, 0.911657, 1.970943, 1e-6, "Cp_l");
  ExpectIndex(c.cpk, 1.441300, 0.810191, 2.072409, 1e-6, "Cp_k");
  ExpectIndex(c.ppl, 1.693228, 1.078708, 2.307749, 1e-6, "Pp_l");
  ExpectIndex(c.ppk, 1.693228, 0.960982, 2.425474, 1e-6, "Pp_k");
  EXPECT_FALSE(c.cp || c.cpu || c.cpm || c.pp || c.ppu || c.ppm);
  EXPECT_FALSE(c.expected_within_ppm_above_usl || c.observed_ppm_above_usl);
}

// pistonrings_expected.md: processCapability() on the x-bar chart of samples 1-25, 125 values,
// printed to 3 decimals (Cpm to 3 significant digits) and percentages to 2 significant digits.
TEST(CapabilityTest, PistonringsMatchesQcc) {
  const std::string dir = testing::RefdataDir();
  if (dir.empty()) GTEST_SKIP() << "../shared/refdata is absent (set SHEWHART_REFDATA): published-data test skipped";
  const auto groups = testing::ReadPistonrings(dir).phase1;
  ASSERT_EQ(groups.size(), 25u);
  const double sigma = ChartSigma(groups);
  EXPECT_NEAR(sigma, 0.009785039, 5e-10);
  const double d3 = 0.0005, d2 = 0.005;  // half a unit of the last printed digit

  {
    const CapabilitySpec spec = Spec(73.95, 74.05, 74.0);
    const Capability c = Compute(spec, Window(groups, spec.spec), sigma);
    EXPECT_EQ(c.n, 125);
    EXPECT_NEAR(c.center, 74.00118, 5e-6);
    ExpectIndex(c.cp, 1.703, 1.491, 1.915, d3, "Cp");
    ExpectIndex(c.cpl, 1.743, 1.555, 1.932, d3, "Cp_l");
    ExpectIndex(c.cpu, 1.663, 1.483, 1.844, d3, "Cp_u");
    ExpectIndex(c.cpk, 1.663, 1.448, 1.878, d3, "Cp_k");
    ExpectIndex(c.cpm, 1.69, 1.48, 1.90, d2, "Cpm");
  }
  {
    const CapabilitySpec spec = Spec(73.95, 74.05, 74.02);
    const Capability c = Compute(spec, Window(groups, spec.spec), sigma);
    EXPECT_NEAR(c.cp->value, 1.703, d3);
    EXPECT_NEAR(c.cpl->value, 1.743, d3);
    EXPECT_NEAR(c.cpu->value, 1.663, d3);
    EXPECT_NEAR(c.cpk->value, 1.663, d3);
    ExpectIndex(c.cpm, 0.786, 0.656, 0.915, d3, "Cpm (target 74.02)");
  }
  {
    const CapabilitySpec spec = Spec(73.99, 74.01, 74.0);
    const Capability c = Compute(spec, Window(groups, spec.spec), sigma);
    ExpectIndex(c.cp, 0.341, 0.298, 0.383, d3, "Cp");
    ExpectIndex(c.cpl, 0.381, 0.318, 0.444, d3, "Cp_l");
    ExpectIndex(c.cpu, 0.301, 0.242, 0.359, d3, "Cp_u");
    ExpectIndex(c.cpk, 0.301, 0.231, 0.370, d3, "Cp_k");
    ExpectIndex(c.cpm, 0.338, 0.296, 0.380, d3, "Cpm");
    // Exp<LSL 13%, Obs<LSL 12%, Exp>USL 18%, Obs>USL 16% (2 significant digits).
    EXPECT_NEAR(*c.expected_within_ppm_below_lsl, 130000, 5000);
    EXPECT_NEAR(*c.observed_ppm_below_lsl, 120000, 5000);
    EXPECT_NEAR(*c.expected_within_ppm_above_usl, 180000, 5000);
    EXPECT_NEAR(*c.observed_ppm_above_usl, 160000, 5000);
  }
  {
    const CapabilitySpec spec = Spec(73.99, 74.10, 74.045);
    const Capability c = Compute(spec, Window(groups, spec.spec), sigma);
    ExpectIndex(c.cp, 1.874, 1.641, 2.106, d3, "Cp");
    ExpectIndex(c.cpl, 0.381, 0.318, 0.444, d3, "Cp_l");
    ExpectIndex(c.cpu, 3.367, 3.011, 3.722, d3, "Cp_u");
    ExpectIndex(c.cpk, 0.381, 0.305, 0.456, d3, "Cp_k");
    ExpectIndex(c.cpm, 0.408, 0.338, 0.479, d3, "Cpm");
    EXPECT_NEAR(*c.expected_within_ppm_below_lsl, 130000, 5000);
    EXPECT_NEAR(*c.observed_ppm_below_lsl, 120000, 5000);
    EXPECT_LT(*c.expected_within_ppm_above_usl, 100) << "qcc prints below 0.01 % as 0 %";
    EXPECT_EQ(*c.observed_ppm_above_usl, 0.0);
  }
}

// A centred process with Cp = 1 has Phi(-3) = 0.00134990 outside each limit.
TEST(CapabilityTest, ExpectedPpmFollowsTheNormalModel) {
  WindowStats w{100, 10.0, 2.0, 0, 0};
  const Capability c = Compute(Spec(7.0, 13.0), w, 1.0);
  EXPECT_NEAR(c.cp->value, 1.0, 1e-15);
  EXPECT_NEAR(*c.expected_within_ppm_below_lsl, 1349.898, 0.001);
  EXPECT_NEAR(*c.expected_within_ppm_above_usl, 1349.898, 0.001);
  // Overall sigma 2: 1.5 sigma to each limit, Phi(-1.5) = 0.0668072.
  EXPECT_NEAR(*c.expected_overall_ppm_below_lsl, 66807.2, 0.1);
  EXPECT_NEAR(*c.expected_overall_ppm_above_usl, 66807.2, 0.1);
  EXPECT_NEAR(c.pp->value, 0.5, 1e-15);
}

TEST(CapabilityTest, KSigmaScalesTheIndices) {
  WindowStats w{50, 10.0, 1.0, 0, 0};
  CapabilitySpec spec = Spec(7.0, 13.0);
  spec.k_sigma = 4;
  const Capability c = Compute(spec, w, 1.0);
  EXPECT_NEAR(c.cp->value, 6.0 / 8.0, 1e-15);
  EXPECT_NEAR(c.cpu->value, 3.0 / 4.0, 1e-15);
}

TEST(CapabilityTest, IntervalsStayOrderedAndDefinedAtAndBelowZero) {
  // Centre exactly on the LSL: Cpl = 0, interval 0 -/+ z / (3 sqrt(n)), z = Phi^-1(0.95).
  WindowStats on{100, 10.0, 1.0, 0, 0};
  Capability c = Compute(Spec(10.0, 16.0), on, 1.0);
  EXPECT_EQ(c.cpl->value, 0.0);
  EXPECT_NEAR(c.cpl->upper, 1.6448536269514722 / 30, 1e-12);
  EXPECT_NEAR(c.cpl->lower, -1.6448536269514722 / 30, 1e-12);
  // Centre below the LSL: negative Cpl and Cpk, lower < value < upper.
  WindowStats below{100, 9.0, 1.0, 0, 0};
  c = Compute(Spec(10.0, 16.0), below, 1.0);
  EXPECT_LT(c.cpk->value, 0);
  EXPECT_LT(c.cpk->lower, c.cpk->value);
  EXPECT_GT(c.cpk->upper, c.cpk->value);
}

TEST(CapabilityTest, ErrorsNameTheProblem) {
  WindowStats w{12, 10.0, 0.02, 0, 0};
  Result<Capability> r = ComputeCapability(Spec(std::nullopt, std::nullopt), w, 0.02);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("needs spec.lsl or spec.usl (or both), found neither"), std::string::npos)
      << r.status().message();

  CapabilitySpec bad_level = Spec(9.9, 10.1);
  bad_level.confidence_level = 1;
  r = ComputeCapability(bad_level, w, 0.02);
  EXPECT_NE(r.status().message().find("confidence_level must be between 0 and 1 (exclusive), found 1"),
            std::string::npos)
      << r.status().message();

  r = ComputeCapability(Spec(10.1, 9.9), w, 0.02);
  EXPECT_NE(r.status().message().find("lsl 10.1 must be below usl 9.9"), std::string::npos) << r.status().message();

  r = ComputeCapability(Spec(9.9, 10.1), w, 0);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("sigma_within must be > 0, found 0"), std::string::npos) << r.status().message();

  r = ComputeCapability(Spec(9.9, 10.1), WindowStats{1, 10.0, 0, 0, 0}, 0.02);
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("at least 2 observations, found 1"), std::string::npos) << r.status().message();

  r = ComputeCapability(Spec(9.9, 10.1), WindowStats{5, 10.0, 0, 0, 0}, 0.02);
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("overall standard deviation must be > 0, found 0 over 5 observations"),
            std::string::npos)
      << r.status().message();
}

// ---------------------------------------------------------------------------------------------
// Accumulator

TEST(CapabilityAccumulatorTest, MatchesTwoPassStatisticsFarFromZero) {
  SpecLimits spec;
  std::vector<double> values;
  for (int i = 0; i < 1000; ++i) values.push_back(1e8 + 0.001 * ((i * 7919) % 1000));
  CapabilityAccumulator acc(spec);
  for (double v : values) acc.Add(v);
  double mean = 0;
  for (double v : values) mean += v;
  mean /= static_cast<double>(values.size());
  double ss = 0;
  for (double v : values) ss += (v - mean) * (v - mean);
  EXPECT_EQ(acc.n(), 1000);
  EXPECT_NEAR(acc.mean(), mean, 1e-7);
  EXPECT_NEAR(acc.sd(), std::sqrt(ss / 999), 1e-9);
}

TEST(CapabilityAccumulatorTest, CountsValuesStrictlyBeyondEachLimit) {
  SpecLimits spec;
  spec.lsl = 9.9;
  spec.usl = 10.1;
  CapabilityAccumulator acc(spec);
  for (double v : {9.9, 10.1, 9.89, 10.2, 10.3, 10.0}) acc.Add(v);
  WindowStats s = acc.stats();
  EXPECT_EQ(s.below_lsl, 1);
  EXPECT_EQ(s.above_usl, 2);
  EXPECT_EQ(s.n, 6);
}

TEST(CapabilityAccumulatorTest, MergeEqualsAddingEverything) {
  SpecLimits spec;
  spec.usl = 5;
  CapabilityAccumulator all(spec), a(spec), b(spec), empty(spec);
  for (int i = 0; i < 30; ++i) {
    const double v = 0.37 * i - 0.01 * i * i;
    all.Add(v);
    (i < 11 ? a : b).Add(v);
  }
  a.Merge(b);
  a.Merge(empty);
  EXPECT_EQ(a.n(), all.n());
  EXPECT_NEAR(a.mean(), all.mean(), 1e-13);
  EXPECT_NEAR(a.sd(), all.sd(), 1e-13);
  EXPECT_EQ(a.stats().above_usl, all.stats().above_usl);
  empty.Merge(all);
  EXPECT_NEAR(empty.sd(), all.sd(), 1e-15);
}

TEST(CapabilityAccumulatorTest, ResetEmptiesTheWindow) {
  SpecLimits spec;
  spec.lsl = 0;
  CapabilityAccumulator acc(spec);
  acc.Add(-1);
  acc.Add(3);
  acc.Reset();
  EXPECT_EQ(acc.n(), 0);
  EXPECT_EQ(acc.sd(), 0.0);
  EXPECT_EQ(acc.stats().below_lsl, 0);
  acc.Add(2);
  acc.Add(4);
  EXPECT_DOUBLE_EQ(acc.mean(), 3.0);
  EXPECT_DOUBLE_EQ(acc.sd(), std::sqrt(2.0));
}

}  // namespace
// The sliding window's statistics equal a fresh accumulator's over the same last N values, at
// every step (through many evictions and exact recomputations), with out-of-spec counts.
TEST(CapabilityWindowTest, MatchesARecomputationOverTheLastNValues) {
  SpecLimits spec;
  spec.lsl = 9.0;
  spec.usl = 11.0;
  const std::size_t capacity = 50;
  CapabilityWindow window(spec, capacity);
  std::vector<double> values;
  std::uint64_t state = 12345;
  for (int i = 0; i < 2000; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const double u = static_cast<double>(state >> 11) / 9007199254740992.0;
    const double v = 1e6 + 10.0 + (u - 0.5) * (i < 1000 ? 2.6 : 0.4);  // far from 0: cancellation-prone
    values.push_back(v - 1e6);
    window.Add(v - 1e6);
    CapabilityAccumulator fresh(spec);
    for (std::size_t j = values.size() > capacity ? values.size() - capacity : 0; j < values.size(); ++j)
      fresh.Add(values[j]);
    const WindowStats a = window.stats(), b = fresh.stats();
    ASSERT_EQ(a.n, b.n) << i;
    ASSERT_NEAR(a.mean, b.mean, 1e-12) << i;
    ASSERT_NEAR(a.sd, b.sd, 1e-9) << i;
    ASSERT_EQ(a.below_lsl, b.below_lsl) << i;
    ASSERT_EQ(a.above_usl, b.above_usl) << i;
  }
  EXPECT_EQ(window.stats().n, 50);
  EXPECT_EQ(window.stats().below_lsl + window.stats().above_usl, 0);  // the last values are narrow
}

TEST(CapabilityWindowTest, CapacityZeroKeepsEveryValue) {
  SpecLimits spec;
  spec.usl = 1.0;
  CapabilityWindow window(spec, 0);
  for (int i = 0; i < 1000; ++i) window.Add(i % 2 == 0 ? 0.5 : 1.5);
  EXPECT_EQ(window.stats().n, 1000);
  EXPECT_EQ(window.stats().above_usl, 500);
  EXPECT_DOUBLE_EQ(window.stats().mean, 1.0);
}

// The values-only path /metrics uses gives exactly ComputeCapability's values, the indices a
// spec does not define as NaN, and NaN throughout where ComputeCapability refuses.
TEST(CapabilityValuesTest, EqualComputeCapabilityAndAreNaNWhereUndefined) {
  const double sigma = ChartSigma(kQccGroups);
  struct Case {
    CapabilitySpec spec;
    const char* name;
  };
  for (const Case& c : {Case{Spec(9.95, 10.05), "two-sided"}, Case{Spec(9.95, 10.05, 10.01), "target"},
                        Case{Spec(9.95, std::nullopt), "lsl only"}, Case{Spec(std::nullopt, 10.05), "usl only"}}) {
    const WindowStats w = Window(kQccGroups, c.spec.spec);
    const Capability full = Compute(c.spec, w, sigma);
    const CapabilityValues v = ComputeCapabilityValues(c.spec, w, sigma);
    const std::pair<const std::optional<CapabilityIndex>*, double> pairs[] = {
        {&full.cp, v.cp},   {&full.cpl, v.cpl}, {&full.cpu, v.cpu}, {&full.cpk, v.cpk}, {&full.cpm, v.cpm},
        {&full.pp, v.pp},   {&full.ppl, v.ppl}, {&full.ppu, v.ppu}, {&full.ppk, v.ppk}, {&full.ppm, v.ppm}};
    for (std::size_t i = 0; i < std::size(pairs); ++i) {
      if (pairs[i].first->has_value()) {
        EXPECT_EQ(pairs[i].second, (*pairs[i].first)->value) << c.name << " index " << i;
      } else {
        EXPECT_TRUE(std::isnan(pairs[i].second)) << c.name << " index " << i << " is not defined: " << pairs[i].second;
      }
    }
  }
  const CapabilitySpec both = Spec(9.95, 10.05);
  const WindowStats w = Window(kQccGroups, both.spec);
  WindowStats one = w;
  one.n = 1;
  WindowStats flat = w;
  flat.sd = 0;
  for (const auto& [window, s, why] : {std::tuple{w, std::numeric_limits<double>::quiet_NaN(), "no sigma yet"},
                                       std::tuple{w, 0.0, "sigma 0"}, std::tuple{one, sigma, "one value"},
                                       std::tuple{flat, sigma, "no spread"}}) {
    ASSERT_FALSE(ComputeCapability(both, window, s).ok()) << why;
    const CapabilityValues v = ComputeCapabilityValues(both, window, s);
    for (double x : {v.cp, v.cpl, v.cpu, v.cpk, v.cpm, v.pp, v.ppl, v.ppu, v.ppk, v.ppm}) {
      EXPECT_TRUE(std::isnan(x)) << why << ": " << x;
    }
  }
}

}  // namespace shewhart::rules

#include "shewhart/rules/subgroup_chart.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "../test_util.h"
#include "chart_recorder.h"
#include "shewhart/rules/constants.h"

namespace shewhart::rules {
namespace {

using test::Recorder;
using test::At;


// Published constants (qcc's tables, the same in every SPC text) for the sizes used below.
constexpr double kD2[] = {0, 0, 1.128, 1.693, 2.059, 2.326, 2.534, 2.704, 2.847};
constexpr double kD3[] = {0, 0, 0.8525033, 0.8883697, 0.8798108, 0.8640855, 0.8480442, 0.8332108, 0.8198378};

double Mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}
double Range(const std::vector<double>& v) {
  double lo = v[0], hi = v[0];
  for (double x : v) {
    lo = std::min(lo, x);
    hi = std::max(hi, x);
  }
  return hi - lo;
}
double Sd(const std::vector<double>& v) {
  const double m = Mean(v);
  double ss = 0;
  for (double x : v) ss += (x - m) * (x - m);
  return std::sqrt(ss / static_cast<double>(v.size() - 1));
}

using testing::Pistonrings;
using testing::ReadPistonrings;

SubgroupChartSpec Phase1(SubgroupChartKind kind, int n, int subgroups) {
  SubgroupChartSpec s;
  s.kind = kind;
  s.subgroup_size = n;
  s.phase1_subgroups = subgroups;
  return s;
}

SubgroupChartSpec Known(SubgroupChartKind kind, int n, double mean, double sigma) {
  SubgroupChartSpec s;
  s.kind = kind;
  s.subgroup_size = n;
  s.mode = SubgroupChartSpec::LimitMode::kKnown;
  s.mean = mean;
  s.sigma = sigma;
  return s;
}

void AddOk(SubgroupChart& chart, const std::vector<double>& values, EventTime ts, ChartObserver& observer) {
  Status st = chart.Add(values, ts, observer);
  ASSERT_TRUE(st.ok()) << st.ToString();
}

// Deterministic, roughly normal values (sum of 12 uniforms), the same on every platform.
class Noise {
 public:
  double Next() {
    double s = 0;
    for (int i = 0; i < 12; ++i) {
      state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
      s += static_cast<double>(state_ >> 11) / 9007199254740992.0;
    }
    return s - 6;
  }

 private:
  std::uint64_t state_ = 42;
};

#define SKIP_WITHOUT_REFDATA(dir)                                                                   \
  if ((dir).empty()) GTEST_SKIP() << "../shared/refdata is absent (set SHEWHART_REFDATA): published-data " \
                                     "test skipped"

TEST(SubgroupChartTest, PistonringsXbarRMatchesQcc) {
  const std::string dir = testing::RefdataDir();
  SKIP_WITHOUT_REFDATA(dir);
  Pistonrings data = ReadPistonrings(dir);
  ASSERT_EQ(data.phase1.size(), 25u);
  ASSERT_EQ(data.phase2.size(), 15u);
  SubgroupChartSpec spec = Phase1(SubgroupChartKind::kXbarR, 5, 25);
  ASSERT_TRUE(spec.Validate().ok());
  SubgroupChart chart(spec);
  Recorder rec;
  int t = 0;
  for (const auto& g : data.phase1) AddOk(chart, g, At(t++), rec);
  ASSERT_TRUE(chart.limits_ready());
  // qcc 3.0 vignette: xbar 74.00118 / 0.009785039 / 73.98805 / 74.0143; R 0.02276 / 0 / 0.04812533.
  EXPECT_NEAR(chart.center(), 74.00118, 5e-6);
  EXPECT_NEAR(chart.sigma(), 0.009785039, 5e-10);
  EXPECT_NEAR(chart.xbar_limits(5).lcl, 73.98805, 5e-6);
  EXPECT_NEAR(chart.xbar_limits(5).ucl, 74.0143, 5e-5);
  EXPECT_NEAR(chart.dispersion_limits(5).cl, 0.02276, 5e-9);
  EXPECT_EQ(chart.dispersion_limits(5).lcl, 0.0);
  EXPECT_NEAR(chart.dispersion_limits(5).ucl, 0.04812533, 5e-9);
  EXPECT_EQ(chart.dispersion_chart(), ChartKind::kR);
  // The baseline is plotted in phase I: 25 x-bar and 25 R points, alternating.
  ASSERT_EQ(rec.points.size(), 50u);
  for (std::size_t i = 0; i < rec.points.size(); ++i) {
    EXPECT_EQ(rec.points[i].phase, Phase::kOne);
    EXPECT_EQ(rec.points[i].chart, i % 2 == 0 ? ChartKind::kXbar : ChartKind::kR);
    EXPECT_EQ(rec.points[i].index, static_cast<std::int64_t>(i / 2 + 1));
    EXPECT_EQ(rec.points[i].n, 5);
  }

  for (const auto& g : data.phase2) AddOk(chart, g, At(t++), rec);
  ASSERT_EQ(rec.points.size(), 80u);
  EXPECT_EQ(rec.points.back().phase, Phase::kTwo);
  EXPECT_EQ(rec.points.back().index, 40);
  // Rule 1 fires exactly on the subgroups whose mean (range) lies beyond the published limits.
  std::set<std::int64_t> expected_xbar, expected_r;
  for (std::size_t i = 0; i < 40; ++i) {
    const auto& g = i < 25 ? data.phase1[i] : data.phase2[i - 25];
    const double m = Mean(g), r = Range(g);
    ASSERT_GT(std::min(std::fabs(m - 74.0143), std::fabs(m - 73.98805)), 5e-5) << "too close to call " << i + 1;
    if (m > 74.0143 || m < 73.98805) expected_xbar.insert(static_cast<std::int64_t>(i + 1));
    if (r > 0.04812533) expected_r.insert(static_cast<std::int64_t>(i + 1));
  }
  ASSERT_FALSE(expected_xbar.empty()) << "the phase II shift of pistonrings should be visible";
  std::set<std::int64_t> got_xbar, got_r;
  for (const auto& h : rec.Hits(RuleKind::kNelson1, ChartKind::kXbar)) got_xbar.insert(h.index);
  for (const auto& h : rec.Hits(RuleKind::kNelson1, ChartKind::kR)) got_r.insert(h.index);
  EXPECT_EQ(got_xbar, expected_xbar);
  EXPECT_EQ(got_r, expected_r);
}

TEST(SubgroupChartTest, PistonringsXbarSMatchesQcc) {
  const std::string dir = testing::RefdataDir();
  SKIP_WITHOUT_REFDATA(dir);
  Pistonrings data = ReadPistonrings(dir);
  SubgroupChartSpec spec = Phase1(SubgroupChartKind::kXbarS, 5, 25);
  ASSERT_EQ(spec.EffectiveEstimator(), SigmaEstimator::kUwaveSd);
  SubgroupChart chart(spec);
  Recorder rec;
  for (std::size_t i = 0; i < data.phase1.size(); ++i) AddOk(chart, data.phase1[i], At(static_cast<int>(i)), rec);
  ASSERT_TRUE(chart.limits_ready());
  // qcc 3.0 vignette: S chart centre 0.009240037, std.dev 0.009829977 (UWAVE-SD), 0, 0.01930242.
  EXPECT_NEAR(chart.sigma(), 0.009829977, 5e-10);
  EXPECT_NEAR(chart.dispersion_limits(5).cl, 0.009240037, 5e-10);
  EXPECT_EQ(chart.dispersion_limits(5).lcl, 0.0);
  EXPECT_NEAR(chart.dispersion_limits(5).ucl, 0.01930242, 5e-9);
  EXPECT_EQ(chart.dispersion_chart(), ChartKind::kS);
  auto s_points = rec.Points(ChartKind::kS);
  ASSERT_EQ(s_points.size(), 25u);
  EXPECT_NEAR(s_points[0].value, Sd(data.phase1[0]), 1e-15);
}

// For a fixed size and k = 3 the limits equal the textbook forms with R-bar and s-bar computed
// directly from the data: x-bar-bar +/- A2 R-bar, D3 R-bar, D4 R-bar; x-bar-bar +/- A3 s-bar,
// B3 s-bar, B4 s-bar. n = 8 so that D3 and B3 are not zero.
TEST(SubgroupChartTest, FixedSizeLimitsEqualTheTextbookForms) {
  const int n = 8;
  Noise noise;
  std::vector<std::vector<double>> groups(20);
  double grand = 0, rbar = 0, sbar = 0;
  for (auto& g : groups) {
    for (int j = 0; j < n; ++j) g.push_back(50 + 2 * noise.Next());
    grand += Mean(g) / 20;
    rbar += Range(g) / 20;
    sbar += Sd(g) / 20;
  }
  const double c4 = std::sqrt(2.0 / (n - 1)) * std::tgamma(n / 2.0) / std::tgamma((n - 1) / 2.0);
  const double a2 = 3 / (kD2[n] * std::sqrt(n)), d3f = 1 - 3 * kD3[n] / kD2[n], d4f = 1 + 3 * kD3[n] / kD2[n];
  const double a3 = 3 / (c4 * std::sqrt(n)), b3 = 1 - 3 * std::sqrt(1 - c4 * c4) / c4;
  const double b4 = 1 + 3 * std::sqrt(1 - c4 * c4) / c4;
  ASSERT_GT(d3f, 0.1);
  ASSERT_GT(b3, 0.1);

  Recorder rec;
  SubgroupChart r_chart(Phase1(SubgroupChartKind::kXbarR, n, 20));
  SubgroupChart s_chart(Phase1(SubgroupChartKind::kXbarS, n, 20));
  for (const auto& g : groups) {
    AddOk(r_chart, g, At(0), rec);
    AddOk(s_chart, g, At(0), rec);
  }
  EXPECT_NEAR(r_chart.xbar_limits(n).cl, grand, 1e-12);
  EXPECT_NEAR(r_chart.xbar_limits(n).ucl, grand + a2 * rbar, 1e-12);
  EXPECT_NEAR(r_chart.xbar_limits(n).lcl, grand - a2 * rbar, 1e-12);
  EXPECT_NEAR(r_chart.dispersion_limits(n).cl, rbar, 1e-12);
  EXPECT_NEAR(r_chart.dispersion_limits(n).lcl, d3f * rbar, 1e-12);
  EXPECT_NEAR(r_chart.dispersion_limits(n).ucl, d4f * rbar, 1e-12);
  EXPECT_NEAR(s_chart.xbar_limits(n).ucl, grand + a3 * sbar, 1e-12);
  EXPECT_NEAR(s_chart.xbar_limits(n).lcl, grand - a3 * sbar, 1e-12);
  EXPECT_NEAR(s_chart.dispersion_limits(n).cl, sbar, 1e-12);
  EXPECT_NEAR(s_chart.dispersion_limits(n).lcl, b3 * sbar, 1e-12);
  EXPECT_NEAR(s_chart.dispersion_limits(n).ucl, b4 * sbar, 1e-12);
}

// Pistonrings' baseline with values dropped so that sizes cycle 5, 4, 3; every point's limits
// are checked against the definitions, evaluated here from the raw values.
TEST(SubgroupChartTest, VariableSizesGetTheirOwnLimits) {
  const std::string dir = testing::RefdataDir();
  SKIP_WITHOUT_REFDATA(dir);
  Pistonrings data = ReadPistonrings(dir);
  std::vector<std::vector<double>> groups;
  for (std::size_t i = 0; i < data.phase1.size(); ++i) {
    auto g = data.phase1[i];
    g.resize(5 - i % 3);
    groups.push_back(g);
  }
  double sum = 0, count = 0, sigma_r = 0, sigma_s = 0;
  for (const auto& g : groups) {
    for (double v : g) sum += v;
    count += static_cast<double>(g.size());
    const int n = static_cast<int>(g.size());
    const double c4 = std::sqrt(2.0 / (n - 1)) * std::tgamma(n / 2.0) / std::tgamma((n - 1) / 2.0);
    sigma_r += Range(g) / kD2[n] / static_cast<double>(groups.size());
    sigma_s += Sd(g) / c4 / static_cast<double>(groups.size());
  }
  const double center = sum / count;

  for (auto kind : {SubgroupChartKind::kXbarR, SubgroupChartKind::kXbarS}) {
    SubgroupChartSpec spec = Phase1(kind, 5, 25);
    spec.variable_size = true;
    spec.min_subgroup_size = 3;
    ASSERT_TRUE(spec.Validate().ok());
    SubgroupChart chart(spec);
    Recorder rec;
    for (std::size_t i = 0; i < groups.size(); ++i) AddOk(chart, groups[i], At(static_cast<int>(i)), rec);
    const double sigma = kind == SubgroupChartKind::kXbarR ? sigma_r : sigma_s;
    EXPECT_NEAR(chart.sigma(), sigma, 1e-15);
    EXPECT_NEAR(chart.center(), center, 1e-12);
    auto xbar = rec.Points(ChartKind::kXbar);
    auto disp = rec.Points(chart.dispersion_chart());
    ASSERT_EQ(xbar.size(), 25u);
    ASSERT_EQ(disp.size(), 25u);
    for (std::size_t i = 0; i < groups.size(); ++i) {
      const auto& g = groups[i];
      const int n = static_cast<int>(g.size());
      const double se = sigma / std::sqrt(n);
      EXPECT_EQ(xbar[i].n, n);
      EXPECT_NEAR(xbar[i].value, Mean(g), 1e-12);
      EXPECT_NEAR(xbar[i].cl, center, 1e-12);
      EXPECT_NEAR(xbar[i].ucl, center + 3 * se, 1e-12) << i;
      EXPECT_NEAR(xbar[i].lcl, center - 3 * se, 1e-12) << i;
      EXPECT_NEAR(chart.sigma_of_point(n), se, 1e-15);
      EXPECT_EQ(disp[i].n, n);
      if (kind == SubgroupChartKind::kXbarR) {
        EXPECT_NEAR(disp[i].value, Range(g), 1e-15);
        EXPECT_NEAR(disp[i].cl, kD2[n] * sigma, 1e-15) << i;
        EXPECT_NEAR(disp[i].ucl, (kD2[n] + 3 * kD3[n]) * sigma, 1e-15) << i;
        EXPECT_EQ(disp[i].lcl, 0.0) << "d2 - 3 d3 < 0 for n <= 6";
        EXPECT_NEAR(chart.dispersion_sigma_of_point(n), kD3[n] * sigma, 1e-15);
      } else {
        const double c4 = std::sqrt(2.0 / (n - 1)) * std::tgamma(n / 2.0) / std::tgamma((n - 1) / 2.0);
        EXPECT_NEAR(disp[i].value, Sd(g), 1e-15);
        EXPECT_NEAR(disp[i].cl, c4 * sigma, 1e-15) << i;
        EXPECT_NEAR(disp[i].ucl, (c4 + 3 * std::sqrt(1 - c4 * c4)) * sigma, 1e-15) << i;
        EXPECT_EQ(disp[i].lcl, 0.0);
        EXPECT_NEAR(chart.dispersion_sigma_of_point(n), std::sqrt(1 - c4 * c4) * sigma, 1e-15);
      }
    }
    // The three sizes give three different sets of x-bar limits.
    EXPECT_NE(xbar[0].ucl, xbar[1].ucl);
    EXPECT_NE(xbar[1].ucl, xbar[2].ucl);
  }
}

TEST(SubgroupChartTest, MvlueRWithVariableSizesUsesTheEstimatorFunction) {
  SubgroupChartSpec spec = Phase1(SubgroupChartKind::kXbarR, 6, 4);
  spec.variable_size = true;
  spec.estimator = SigmaEstimator::kMvlueR;
  ASSERT_TRUE(spec.Validate().ok());
  SubgroupChart chart(spec);
  Recorder rec;
  const std::vector<std::vector<double>> groups = {{1, 2}, {1, 3, 2}, {4, 1, 2, 2, 3, 2}, {2, 2.5, 3, 1}};
  std::vector<SubgroupSummary> summaries;
  for (const auto& g : groups) {
    AddOk(chart, g, At(0), rec);
    summaries.push_back(Summarize(g));
  }
  Result<double> expected = MvlueR(summaries);
  ASSERT_TRUE(expected.ok());
  EXPECT_EQ(chart.sigma(), *expected);
  EXPECT_NE(chart.sigma(), *UwaveR(summaries)) << "unequal sizes: the weights must matter";
}

TEST(SubgroupChartTest, NothingIsPlottedBeforeTheBaselineCompletes) {
  SubgroupChart chart(Phase1(SubgroupChartKind::kXbarR, 3, 4));
  Recorder rec;
  AddOk(chart, {1, 2, 3}, At(0), rec);
  AddOk(chart, {2, 2, 3}, At(1), rec);
  AddOk(chart, {1, 3, 3}, At(2), rec);
  EXPECT_TRUE(rec.points.empty());
  EXPECT_FALSE(chart.limits_ready());
  AddOk(chart, {2, 1, 2}, At(3), rec);
  EXPECT_TRUE(chart.limits_ready());
  EXPECT_EQ(rec.points.size(), 8u);
  AddOk(chart, {2, 2, 2}, At(4), rec);
  ASSERT_EQ(rec.points.size(), 10u);
  EXPECT_EQ(rec.points[8].chart, ChartKind::kXbar);
  EXPECT_EQ(rec.points[9].chart, ChartKind::kR);
  EXPECT_EQ(rec.points[9].phase, Phase::kTwo);
  EXPECT_EQ(rec.points[9].index, 5);
  EXPECT_EQ(rec.points[9].ts, At(4));
  EXPECT_EQ(chart.subgroups(), 5);
}

TEST(SubgroupChartTest, PhaseOneJudgesTheBaselineRetrospectively) {
  SubgroupChart chart(Phase1(SubgroupChartKind::kXbarR, 4, 10));
  Recorder rec;
  // Every range 2, so sigma = 2 / 2.059; means 0 except subgroup 7 at 10: grand mean 1, limits
  // 1 -/+ 3 * 0.971 / 2 = -0.457 .. 2.457.
  for (int i = 0; i < 10; ++i) {
    const double shift = i == 6 ? 10 : 0;
    AddOk(chart, {shift - 1, shift + 1, shift, shift}, At(10 * i), rec);
  }
  EXPECT_NEAR(chart.center(), 1.0, 1e-15);
  EXPECT_NEAR(chart.sigma(), 2 / 2.059, 1e-15);
  auto hits = rec.Hits(RuleKind::kNelson1, ChartKind::kXbar);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].index, 7);
  EXPECT_EQ(hits[0].first, 7);
  EXPECT_EQ(hits[0].last, 7);
  EXPECT_EQ(hits[0].ts, At(60));
  EXPECT_EQ(hits[0].window_start, At(50)) << "the suspect window starts at subgroup 6, the last in control";
  for (const auto& p : rec.points) EXPECT_EQ(p.phase, Phase::kOne);
}

TEST(SubgroupChartTest, KnownStandardsGiveLimitsAtOnce) {
  SubgroupChart chart(Known(SubgroupChartKind::kXbarS, 4, 10.0, 2.0));
  ASSERT_TRUE(chart.limits_ready());
  const double c4 = std::sqrt(2.0 / 3.0) * 2 / std::sqrt(std::numbers::pi);
  EXPECT_DOUBLE_EQ(chart.xbar_limits(4).cl, 10.0);
  EXPECT_NEAR(chart.xbar_limits(4).ucl, 13.0, 1e-12);
  EXPECT_NEAR(chart.xbar_limits(4).lcl, 7.0, 1e-12);
  EXPECT_NEAR(chart.dispersion_limits(4).cl, 2 * c4, 1e-12);
  EXPECT_NEAR(chart.dispersion_limits(4).ucl, 2 * (c4 + 3 * std::sqrt(1 - c4 * c4)), 1e-12);
  EXPECT_EQ(chart.dispersion_limits(4).lcl, 0.0);
  Recorder rec;
  AddOk(chart, {10, 11, 9, 10}, At(0), rec);
  ASSERT_EQ(rec.points.size(), 2u);
  EXPECT_EQ(rec.points[0].phase, Phase::kTwo);
}

// Rule 1 exactly on, and just beyond, the x-bar limits in both boundary modes. Subgroups of four
// equal values make the mean exact.
TEST(SubgroupChartTest, NelsonOneBoundaryOnXbar) {
  const double ucl = 1.5, lcl = -1.5;  // mean 0, sigma 1, n 4: 3 * 1 / 2
  struct Case {
    double value;
    Boundary boundary;
    bool fires;
  } cases[] = {
      {ucl, Boundary::kStrict, false},    {std::nextafter(ucl, 9.0), Boundary::kStrict, true},
      {lcl, Boundary::kStrict, false},    {std::nextafter(lcl, -9.0), Boundary::kStrict, true},
      {ucl, Boundary::kInclusive, true},  {std::nextafter(ucl, 0.0), Boundary::kInclusive, false},
      {lcl, Boundary::kInclusive, true},  {std::nextafter(lcl, 0.0), Boundary::kInclusive, false},
  };
  for (const auto& c : cases) {
    SubgroupChartSpec spec = Known(SubgroupChartKind::kXbarR, 4, 0, 1);
    spec.boundary = c.boundary;
    SubgroupChart chart(spec);
    ASSERT_EQ(chart.xbar_limits(4).ucl, ucl);
    Recorder rec;
    AddOk(chart, {c.value, c.value, c.value, c.value}, At(0), rec);
    EXPECT_EQ(rec.Hits(RuleKind::kNelson1, ChartKind::kXbar).size(), c.fires ? 1u : 0u)
        << c.value << (c.boundary == Boundary::kStrict ? " strict" : " inclusive");
  }
}

TEST(SubgroupChartTest, ZeroRangeOnAClampedLowerLimitNeverFires) {
  // n = 5: d2 - 3 d3 < 0, the R lower limit is clamped at 0 and is no limit, even inclusive.
  for (auto b : {Boundary::kStrict, Boundary::kInclusive}) {
    for (auto kind : {SubgroupChartKind::kXbarR, SubgroupChartKind::kXbarS}) {
      SubgroupChartSpec spec = Known(kind, 5, 0, 1);
      spec.boundary = b;
      SubgroupChart chart(spec);
      Recorder rec;
      AddOk(chart, {0, 0, 0, 0, 0}, At(0), rec);
      EXPECT_TRUE(rec.hits.empty());
    }
  }
}

TEST(SubgroupChartTest, RangeBelowAPositiveLowerLimitFires) {
  // n = 8: R lcl = (2.847 - 3 * 0.8198378) sigma > 0.
  SubgroupChart chart(Known(SubgroupChartKind::kXbarR, 8, 0, 1));
  ASSERT_GT(chart.dispersion_limits(8).lcl, 0.3);
  Recorder rec;
  AddOk(chart, {0, 0, 0, 0, 0, 0, 0.1, -0.1}, At(0), rec);
  auto hits = rec.Hits(RuleKind::kNelson1, ChartKind::kR);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_NEAR(hits[0].value, 0.2, 1e-15);
}

TEST(SubgroupChartTest, DispersionBeyondItsUpperLimitImplicatesItsSubgroup) {
  SubgroupChart chart(Known(SubgroupChartKind::kXbarR, 4, 0, 1));
  Recorder rec;
  AddOk(chart, {0, 0.5, -0.5, 0}, At(10), rec);
  AddOk(chart, {-3, 3, 0, 0}, At(20), rec);  // mean 0, range 6 > (2.059 + 3 * 0.8798108) = 4.698
  EXPECT_TRUE(rec.Hits(RuleKind::kNelson1, ChartKind::kXbar).empty());
  auto r = rec.Hits(RuleKind::kNelson1, ChartKind::kR);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].index, 2);
  EXPECT_EQ(r[0].first, 2);
  EXPECT_EQ(r[0].last, 2);
  EXPECT_EQ(r[0].value, 6.0);
  EXPECT_EQ(r[0].window_start, At(10));
  // Order: x-bar point, R point, R hit.
  ASSERT_EQ(rec.points.size(), 4u);
  EXPECT_EQ(rec.points[3].chart, ChartKind::kR);
}

TEST(SubgroupChartTest, DispersionRulesCanBeTurnedOff) {
  SubgroupChartSpec spec = Known(SubgroupChartKind::kXbarS, 4, 0, 1);
  spec.dispersion_rules = false;
  SubgroupChart chart(spec);
  Recorder rec;
  AddOk(chart, {-3, 3, 0, 0}, At(0), rec);
  EXPECT_TRUE(rec.hits.empty());
  EXPECT_EQ(rec.points.size(), 2u) << "the S chart is still plotted";
}

TEST(SubgroupChartTest, SuspectWindowStartsAtLastInControlSubgroup) {
  SubgroupChart chart(Known(SubgroupChartKind::kXbarR, 2, 0, 1));
  Recorder rec;
  AddOk(chart, {0.1, -0.1}, At(10), rec);
  AddOk(chart, {0.2, 0.0}, At(20), rec);
  AddOk(chart, {5.0, 5.1}, At(30), rec);
  AddOk(chart, {6.0, 6.1}, At(40), rec);
  auto hits = rec.Hits(RuleKind::kNelson1, ChartKind::kXbar);
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].window_start, At(20));
  EXPECT_EQ(hits[1].window_start, At(20));
}

TEST(SubgroupChartTest, SpecLimitsJudgeIndividualValuesOncePerSide) {
  SubgroupChartSpec spec = Phase1(SubgroupChartKind::kXbarR, 3, 5);
  spec.spec.lsl = 8;
  spec.spec.usl = 12;
  spec.spec_lsl = spec.spec_usl = true;
  ASSERT_TRUE(spec.Validate().ok());
  SubgroupChart chart(spec);
  Recorder rec;
  AddOk(chart, {12.0, 8.0, 10.0}, At(0), rec);  // both on a limit: in spec
  EXPECT_TRUE(rec.hits.empty());
  AddOk(chart, {12.5, 13.0, 7.5}, At(1), rec);  // still Phase I: reported at arrival
  EXPECT_TRUE(rec.points.empty());
  ASSERT_EQ(rec.hits.size(), 2u);
  EXPECT_EQ(rec.hits[0].rule, RuleKind::kSpecLsl);
  EXPECT_EQ(rec.hits[0].value, 7.5);
  EXPECT_EQ(rec.hits[0].index, 2);
  EXPECT_EQ(rec.hits[1].rule, RuleKind::kSpecUsl);
  EXPECT_EQ(rec.hits[1].value, 13.0) << "the most extreme value beyond the limit";
}

TEST(SubgroupChartTest, ExplicitLimitsDeriveTheRChartFromTheImpliedSigma) {
  SubgroupChartSpec spec;
  spec.subgroup_size = 5;
  spec.mode = SubgroupChartSpec::LimitMode::kExplicit;
  spec.xbar_limits = {74.0, 74.015, 73.985};
  ASSERT_TRUE(spec.Validate().ok()) << spec.Validate().ToString();
  SubgroupChart chart(spec);
  ASSERT_TRUE(chart.limits_ready());
  const double sigma = 0.03 * std::sqrt(5.0) / 6;
  EXPECT_NEAR(chart.sigma(), sigma, 1e-15);
  EXPECT_EQ(chart.xbar_limits(5).ucl, 74.015);
  EXPECT_EQ(chart.xbar_limits(5).lcl, 73.985);
  EXPECT_NEAR(chart.sigma_of_point(5), 0.005, 1e-15);
  EXPECT_NEAR(chart.dispersion_limits(5).cl, 2.326 * sigma, 1e-14);
  EXPECT_NEAR(chart.dispersion_limits(5).ucl, (2.326 + 3 * 0.8640855) * sigma, 1e-14);

  spec.dispersion_limits = ChartLimits{0.02, 0.05, 0.0};
  SubgroupChart given(spec);
  EXPECT_EQ(given.dispersion_limits(5).ucl, 0.05);
  EXPECT_NEAR(given.dispersion_sigma_of_point(5), 0.01, 1e-15);
  Recorder rec;
  AddOk(given, {74.0, 74.0, 74.0, 74.0, 74.06}, At(0), rec);  // range 0.06 > 0.05
  EXPECT_EQ(rec.Hits(RuleKind::kNelson1, ChartKind::kR).size(), 1u);
}

TEST(SubgroupChartTest, AddRejectsAWrongSizeOrANonFiniteValue) {
  SubgroupChart chart(Known(SubgroupChartKind::kXbarR, 5, 0, 1));
  Recorder rec;
  Status st = chart.Add(std::vector<double>{1, 2, 3, 4}, At(0), rec);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("subgroup has 4 values; this chart takes exactly 5"), std::string::npos)
      << st.message();
  st = chart.Add(std::vector<double>{1, std::nan(""), 3, 4, 5}, At(0), rec);
  EXPECT_NE(st.message().find("value 2 of the subgroup is not a finite number: nan"), std::string::npos)
      << st.message();
  EXPECT_TRUE(rec.points.empty());
  EXPECT_EQ(chart.subgroups(), 0) << "a rejected subgroup takes no index";
  AddOk(chart, {0, 0, 0, 0, 0}, At(1), rec);
  EXPECT_EQ(rec.points.back().index, 1);

  SubgroupChartSpec var = Known(SubgroupChartKind::kXbarS, 6, 0, 1);
  var.variable_size = true;
  var.min_subgroup_size = 3;
  SubgroupChart v(var);
  st = v.Add(std::vector<double>{1, 2}, At(0), rec);
  EXPECT_NE(st.message().find("subgroup has 2 values; this chart takes 3 to 6"), std::string::npos) << st.message();
}

TEST(SubgroupChartSpecTest, ValidateNamesTheOffendingValue) {
  struct Case {
    SubgroupChartSpec spec;
    const char* fragment;
  };
  std::vector<Case> cases;
  auto add = [&](auto mutate, const char* fragment) {
    SubgroupChartSpec s;
    mutate(s);
    cases.push_back({s, fragment});
  };
  add([](SubgroupChartSpec& s) { s.subgroup_size = 1; }, "subgroup_size must be 2 to 100, found 1");
  add([](SubgroupChartSpec& s) { s.subgroup_size = 101; }, "subgroup_size must be 2 to 100, found 101");
  add([](SubgroupChartSpec& s) { s.variable_size = true, s.min_subgroup_size = 6; },
      "min_subgroup_size must be 2 to subgroup_size 5, found 6");
  add([](SubgroupChartSpec& s) { s.phase1_subgroups = 1; }, "phase1 needs 2 to 10000 subgroups, found 1");
  add([](SubgroupChartSpec& s) { s.estimator = SigmaEstimator::kUwaveSd; },
      "estimator uwave-sd is not available for xbar_r charts (use uwave-r or mvlue-r)");
  add([](SubgroupChartSpec& s) { s.kind = SubgroupChartKind::kXbarS, s.estimator = SigmaEstimator::kMvlueR; },
      "estimator mvlue-r is not available for xbar_s charts");
  add(
      [](SubgroupChartSpec& s) {
        s.mode = SubgroupChartSpec::LimitMode::kKnown, s.sigma = 1, s.estimator = SigmaEstimator::kUwaveR;
      },
      "estimator uwave-r applies only to phase1 limits");
  add([](SubgroupChartSpec& s) { s.mode = SubgroupChartSpec::LimitMode::kKnown, s.sigma = -2; },
      "sigma must be > 0, found -2");
  add([](SubgroupChartSpec& s) { s.mode = SubgroupChartSpec::LimitMode::kKnown, s.sigma = 1, s.mean = NAN; },
      "mean must be a finite number, found nan");
  add(
      [](SubgroupChartSpec& s) {
        s.mode = SubgroupChartSpec::LimitMode::kExplicit, s.variable_size = true, s.xbar_limits = {0, 1, -1};
      },
      "explicit limits need a fixed subgroup_size");
  add([](SubgroupChartSpec& s) { s.mode = SubgroupChartSpec::LimitMode::kExplicit, s.xbar_limits = {0, -1, 1}; },
      "xbar limits must be finite with lcl < cl < ucl, found lcl 1, cl 0, ucl -1");
  add(
      [](SubgroupChartSpec& s) {
        s.mode = SubgroupChartSpec::LimitMode::kExplicit, s.xbar_limits = {0, 1, -1};
        s.dispersion_limits = ChartLimits{1, 2, -0.5};
      },
      "dispersion limits must be finite with 0 <= lcl < cl < ucl, found lcl -0.5, cl 1, ucl 2");
  add([](SubgroupChartSpec& s) { s.dispersion_limits = ChartLimits{1, 2, 0}; },
      "dispersion limits apply only to explicit limits");
  add([](SubgroupChartSpec& s) { s.k_sigma = 0; }, "k_sigma must be > 0, found 0");
  add([](SubgroupChartSpec& s) { s.spec_usl = true; }, "rule spec.usl needs spec.usl");
  add([](SubgroupChartSpec& s) { s.spec.lsl = 5, s.spec.usl = 4; }, "lsl 5 must be below usl 4");
  for (const auto& c : cases) {
    Status st = c.spec.Validate();
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << c.fragment;
    EXPECT_NE(st.message().find(c.fragment), std::string::npos) << st.message();
  }
  EXPECT_TRUE(SubgroupChartSpec().Validate().ok());
  EXPECT_EQ(SubgroupChartSpec().EffectiveEstimator(), SigmaEstimator::kUwaveR);
  EXPECT_EQ(SubgroupChartKindName(SubgroupChartKind::kXbarS), "xbar_s");
}

}  // namespace
}  // namespace shewhart::rules

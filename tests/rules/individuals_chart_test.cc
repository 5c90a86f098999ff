#include "shewhart/rules/individuals_chart.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <vector>

#include "../test_util.h"
#include "chart_recorder.h"

namespace shewhart::rules {
namespace {

using test::Recorder;
using test::At;


IndividualsChartSpec Known(double mean, double sigma, Boundary b = Boundary::kStrict) {
  IndividualsChartSpec s;
  s.mode = IndividualsChartSpec::LimitMode::kKnown;
  s.mean = mean;
  s.sigma = sigma;
  s.boundary = b;
  return s;
}

std::vector<double> ViscosityTrial(const std::string& dir) {
  std::ifstream in(dir + "/viscosity.csv");
  std::string line;
  std::vector<double> values;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line.rfind("batch", 0) == 0) continue;
    std::stringstream ss(line);
    std::string batch, value, trial;
    std::getline(ss, batch, ',');
    std::getline(ss, value, ',');
    std::getline(ss, trial, ',');
    if (trial == "TRUE") values.push_back(std::stod(value));
  }
  return values;
}

TEST(IndividualsChartTest, ViscosityPhaseOneMatchesQcc) {
  const std::string dir = testing::RefdataDir();
  if (dir.empty()) GTEST_SKIP() << "../shared/refdata is absent (set SHEWHART_REFDATA): published-data test skipped";
  std::vector<double> trial = ViscosityTrial(dir);
  ASSERT_EQ(trial.size(), 20u);
  IndividualsChartSpec spec;
  spec.phase1_points = 20;
  ASSERT_TRUE(spec.Validate().ok());
  IndividualsChart chart(spec);
  Recorder rec;
  for (std::size_t i = 0; i < trial.size(); ++i) chart.Add(trial[i], At(static_cast<int>(i)), rec);
  ASSERT_TRUE(chart.limits_ready());
  // qcc 3.0: center 34.088, std.dev 0.5076521, LCL 32.56504, UCL 35.61096.
  EXPECT_NEAR(chart.individuals_limits().cl, 34.088, 0.0005);
  EXPECT_NEAR(chart.sigma(), 0.5076521, 0.00000005);
  EXPECT_NEAR(chart.individuals_limits().lcl, 32.56504, 0.000005);
  EXPECT_NEAR(chart.individuals_limits().ucl, 35.61096, 0.000005);
  // Exactly one rule-1 violation on the individuals chart: batch 4.
  auto hits = rec.Hits(RuleKind::kNelson1, ChartKind::kIndividuals);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].index, 4);
  EXPECT_DOUBLE_EQ(hits[0].value, 35.96);
  EXPECT_EQ(hits[0].window_start, At(2)) << "suspect window starts at batch 3, the last in-control point";
  // Every baseline point is plotted in phase I, 20 individuals and 19 moving ranges.
  ASSERT_EQ(rec.points.size(), 39u);
  for (const auto& p : rec.points) EXPECT_EQ(p.phase, Phase::kOne);
}

TEST(IndividualsChartTest, NothingIsPlottedBeforeTheBaselineCompletes) {
  IndividualsChartSpec spec;
  spec.phase1_points = 5;
  IndividualsChart chart(spec);
  Recorder rec;
  for (int i = 0; i < 4; ++i) chart.Add(10.0 + i, At(i), rec);
  EXPECT_TRUE(rec.points.empty());
  EXPECT_FALSE(chart.limits_ready());
  chart.Add(12.0, At(4), rec);
  EXPECT_EQ(rec.points.size(), 9u);
  chart.Add(11.0, At(5), rec);
  EXPECT_EQ(rec.points.size(), 11u);
  EXPECT_EQ(rec.points.back().phase, Phase::kTwo);
  EXPECT_EQ(rec.points.back().chart, ChartKind::kMovingRange);
  EXPECT_EQ(rec.points.back().index, 6);
}

TEST(IndividualsChartTest, KnownLimitsUseMeanAndSigma) {
  IndividualsChart chart(Known(74.0, 0.01));
  EXPECT_DOUBLE_EQ(chart.individuals_limits().cl, 74.0);
  EXPECT_NEAR(chart.individuals_limits().ucl, 74.03, 1e-12);
  EXPECT_NEAR(chart.individuals_limits().lcl, 73.97, 1e-12);
  EXPECT_NEAR(chart.mr_limits().cl, 1.128 * 0.01, 1e-12);
  EXPECT_NEAR(chart.mr_limits().ucl, (1.128 + 3 * 0.8525) * 0.01, 1e-12);
  EXPECT_DOUBLE_EQ(chart.mr_limits().lcl, 0.0);
}

// Rule 1 exactly on, just inside and just beyond each limit, in both boundary modes.
TEST(IndividualsChartTest, NelsonOneStrictBoundaryFiresOnlyBeyondTheLimit) {
  const double ucl = 10 + 3 * 1.0, lcl = 10 - 3 * 1.0;
  struct Case {
    double value;
    bool fires;
  } cases[] = {{ucl, false}, {std::nextafter(ucl, 0.0), false}, {std::nextafter(ucl, 100.0), true},
               {lcl, false}, {std::nextafter(lcl, 100.0), false}, {std::nextafter(lcl, 0.0), true}};
  for (const auto& c : cases) {
    IndividualsChart chart(Known(10, 1));
    Recorder rec;
    chart.Add(10, At(0), rec);
    chart.Add(c.value, At(1), rec);
    EXPECT_EQ(rec.Hits(RuleKind::kNelson1, ChartKind::kIndividuals).size(), c.fires ? 1u : 0u) << c.value;
  }
}

TEST(IndividualsChartTest, NelsonOneInclusiveBoundaryFiresOnTheLimit) {
  const double ucl = 10 + 3 * 1.0, lcl = 10 - 3 * 1.0;
  struct Case {
    double value;
    bool fires;
  } cases[] = {{ucl, true}, {std::nextafter(ucl, 0.0), false}, {lcl, true}, {std::nextafter(lcl, 100.0), false}};
  for (const auto& c : cases) {
    IndividualsChart chart(Known(10, 1, Boundary::kInclusive));
    Recorder rec;
    chart.Add(10, At(0), rec);
    chart.Add(c.value, At(1), rec);
    EXPECT_EQ(rec.Hits(RuleKind::kNelson1, ChartKind::kIndividuals).size(), c.fires ? 1u : 0u) << c.value;
  }
}

TEST(IndividualsChartTest, MovingRangeBeyondItsLimitImplicatesBothPoints) {
  IndividualsChart chart(Known(10, 1));
  Recorder rec;
  chart.Add(8.0, At(0), rec);
  chart.Add(12.5, At(1), rec);  // MR 4.5 > (1.128 + 3*0.8525) = 3.6855; both within 7..13
  EXPECT_TRUE(rec.Hits(RuleKind::kNelson1, ChartKind::kIndividuals).empty());
  auto mr = rec.Hits(RuleKind::kNelson1, ChartKind::kMovingRange);
  ASSERT_EQ(mr.size(), 1u);
  EXPECT_EQ(mr[0].first, 1);
  EXPECT_EQ(mr[0].last, 2);
  EXPECT_EQ(mr[0].window_start, At(0)) << "no point before the range was in control";
}

TEST(IndividualsChartTest, SpecLimitsFireOnValuesStrictlyOutside) {
  IndividualsChartSpec spec = Known(10, 1);
  spec.spec.lsl = 8;
  spec.spec.usl = 12;
  spec.spec_lsl = spec.spec_usl = true;
  ASSERT_TRUE(spec.Validate().ok());
  IndividualsChart chart(spec);
  Recorder rec;
  chart.Add(12.0, At(0), rec);  // on the limit: in spec
  chart.Add(12.5, At(1), rec);
  chart.Add(7.5, At(2), rec);
  chart.Add(8.0, At(3), rec);
  auto usl = rec.Hits(RuleKind::kSpecUsl, ChartKind::kIndividuals);
  auto lsl = rec.Hits(RuleKind::kSpecLsl, ChartKind::kIndividuals);
  ASSERT_EQ(usl.size(), 1u);
  EXPECT_EQ(usl[0].index, 2);
  ASSERT_EQ(lsl.size(), 1u);
  EXPECT_EQ(lsl[0].index, 3);
}

TEST(IndividualsChartTest, SpecLimitsFireDuringPhaseOne) {
  IndividualsChartSpec spec;
  spec.phase1_points = 10;
  spec.spec.usl = 12;
  spec.spec_usl = true;
  IndividualsChart chart(spec);
  Recorder rec;
  chart.Add(13.0, At(0), rec);
  EXPECT_TRUE(rec.points.empty());
  ASSERT_EQ(rec.hits.size(), 1u);
  EXPECT_EQ(rec.hits[0].rule, RuleKind::kSpecUsl);
}

TEST(IndividualsChartTest, SuspectWindowStartsAtLastInControlPoint) {
  IndividualsChart chart(Known(0, 1));
  Recorder rec;
  chart.Add(0.1, At(10), rec);
  chart.Add(0.2, At(20), rec);
  chart.Add(5.0, At(30), rec);  // beyond: window from t=20
  chart.Add(6.0, At(40), rec);  // beyond again: the last in-control point is still t=20
  auto hits = rec.Hits(RuleKind::kNelson1, ChartKind::kIndividuals);
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].window_start, At(20));
  EXPECT_EQ(hits[1].window_start, At(20));
}

TEST(IndividualsChartSpecTest, ValidateNamesTheOffendingValue) {
  IndividualsChartSpec s = Known(0, -2);
  Status st = s.Validate();
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("sigma must be > 0, found -2"), std::string::npos) << st.message();

  IndividualsChartSpec p;
  p.phase1_points = 1;
  st = p.Validate();
  EXPECT_NE(st.message().find("at least 2 points, found 1"), std::string::npos) << st.message();

  IndividualsChartSpec sp = Known(0, 1);
  sp.spec.lsl = 5;
  sp.spec.usl = 4;
  st = sp.Validate();
  EXPECT_NE(st.message().find("lsl 5 must be below usl 4"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace shewhart::rules

namespace shewhart::rules {
namespace {

// The chart takes its Phase I estimate from the estimator and centre of its spec; the mr chart's
// limits follow the sigma as with the mean moving range (centre d2 sigma, upper (d2 + 3 d3)
// sigma: 1.182 and 3.863 times the median moving range, Minitab's formulas).
TEST(IndividualsChartTest, PhaseOneWithTheMedianMovingRange) {
  IndividualsChartSpec spec;
  spec.phase1_points = 10;
  spec.estimator = IndividualsEstimator::kMedianMr;
  spec.centre = IndividualsCentre::kMedian;
  ASSERT_TRUE(spec.Validate().ok());
  IndividualsChart chart(spec);
  Recorder rec;
  const std::vector<double> v = {10, 11, 10, 11, 10, 30, 10, 11, 10, 11};
  for (std::size_t i = 0; i < v.size(); ++i) chart.Add(v[i], At(static_cast<int>(i)), rec);
  ASSERT_TRUE(chart.limits_ready());
  const double sigma = 1.0 / 0.954;
  EXPECT_DOUBLE_EQ(chart.sigma(), sigma);
  EXPECT_DOUBLE_EQ(chart.individuals_limits().cl, 10.5);
  EXPECT_DOUBLE_EQ(chart.individuals_limits().ucl, 10.5 + 3 * sigma);
  EXPECT_DOUBLE_EQ(chart.mr_limits().cl, kD2Span2 * sigma);
  EXPECT_DOUBLE_EQ(chart.mr_limits().ucl, kD2Span2 * sigma + 3 * kD3Span2 * sigma);
  // The 30 is beyond 10.5 + 3.14, and so are its two moving ranges of 20.
  EXPECT_EQ(rec.hits.size(), 3u);

  IndividualsChartSpec known;
  known.mode = IndividualsChartSpec::LimitMode::kKnown;
  known.mean = 0;
  known.sigma = 1;
  known.estimator = IndividualsEstimator::kMedianMr;
  const Status st = known.Validate();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("apply only to phase1 limits"), std::string::npos) << st.message();
}

// A coarse gauge: most moving ranges are 0, so the median moving range is 0 and the baseline has
// no sigma. It is thrown away and the next one, which varies, gives the limits; the discarded
// values keep their indexes (the first point plotted is observation 7).
TEST(IndividualsChartTest, ABaselineWithoutVariationIsDiscarded) {
  IndividualsChartSpec spec;
  spec.phase1_points = 6;
  spec.estimator = IndividualsEstimator::kMedianMr;
  IndividualsChart chart(spec);
  Recorder rec;
  const std::vector<double> v = {10, 10, 10, 10.1, 10.1, 10.1, 10, 11, 10, 12, 10, 11};
  for (std::size_t i = 0; i < 6; ++i) chart.Add(v[i], At(static_cast<int>(i)), rec);
  EXPECT_FALSE(chart.limits_ready());
  EXPECT_EQ(chart.discarded_baselines(), 1);
  EXPECT_TRUE(rec.points.empty());
  for (std::size_t i = 6; i < v.size(); ++i) chart.Add(v[i], At(static_cast<int>(i)), rec);
  ASSERT_TRUE(chart.limits_ready());
  EXPECT_EQ(chart.discarded_baselines(), 1);
  EXPECT_DOUBLE_EQ(chart.sigma(), 1.0 / 0.954);  // ranges 1 1 2 2 1: median 1
  ASSERT_FALSE(rec.points.empty());
  EXPECT_EQ(rec.points.front().index, 7);
}

TEST(IndividualsChartTest, MovingRangeRulesCanBeTurnedOff) {
  IndividualsChartSpec spec = Known(10, 1);
  spec.mr_rules = false;
  IndividualsChart chart(spec);
  Recorder rec;
  chart.Add(8.0, At(0), rec);
  chart.Add(12.5, At(1), rec);
  EXPECT_TRUE(rec.hits.empty());
  EXPECT_EQ(rec.points.size(), 3u) << "the mr chart is still plotted";
}

}  // namespace
}  // namespace shewhart::rules

namespace shewhart::rules {
namespace {

TEST(IndividualsChartTest, ZeroMovingRangeNeverFiresEvenInclusive) {
  IndividualsChart chart(Known(10, 1, Boundary::kInclusive));
  Recorder rec;
  chart.Add(10.0, At(0), rec);
  chart.Add(10.0, At(1), rec);  // mr 0 sits on the clamped lcl of 0: no limit there
  EXPECT_TRUE(rec.hits.empty());
}

}  // namespace
}  // namespace shewhart::rules

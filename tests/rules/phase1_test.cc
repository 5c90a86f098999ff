// Phase I re-estimation after excluding points beyond the trial limits (phase1.h), for the
// individuals, x-bar/R, x-bar/S and attribute baselines: the mechanics on small hand-computed
// baselines, and the published figures that automatic exclusion reproduces.

#include "shewhart/rules/phase1.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "../test_util.h"
#include "chart_recorder.h"
#include "shewhart/rules/attribute_chart.h"
#include "shewhart/rules/constants.h"
#include "shewhart/rules/individuals_chart.h"
#include "shewhart/rules/subgroup_chart.h"

namespace shewhart::rules {
namespace {

using test::At;
using test::Recorder;
using Positions = std::vector<std::int64_t>;

// R prints 7 significant digits: a value matches a printed figure when it rounds to it.
::testing::AssertionResult MatchesPrinted(double actual, double printed) {
  const double tol = 0.5 * std::pow(10.0, std::floor(std::log10(std::fabs(printed))) - 6) * (1 + 1e-9);
  if (std::fabs(actual - printed) <= tol) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << actual << " does not round to the printed " << printed;
}

// The rows of a reference CSV (after its '# source:' line and header), split at commas.
std::vector<std::vector<std::string>> CsvRows(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::vector<std::string>> rows;
  bool header = true;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    if (header) {
      header = false;
      continue;
    }
    std::vector<std::string> cells;
    std::stringstream ss(line);
    for (std::string cell; std::getline(ss, cell, ',');) cells.push_back(cell);
    rows.push_back(cells);
  }
  return rows;
}

#define SKIP_WITHOUT_REFDATA(dir)                 \
  const std::string dir = testing::RefdataDir(); \
  if (dir.empty()) GTEST_SKIP() << "../shared/refdata is absent (set SHEWHART_REFDATA): published-data test skipped"

// --- The shared iteration --------------------------------------------------------------------

TEST(Phase1ExclusionTest, MinimumKeptIsHalfTheBaselineRoundedUpAndAtLeastTwo) {
  EXPECT_EQ(Phase1MinimumKept(2), 2u);
  EXPECT_EQ(Phase1MinimumKept(3), 2u);
  EXPECT_EQ(Phase1MinimumKept(4), 2u);
  EXPECT_EQ(Phase1MinimumKept(5), 3u);
  EXPECT_EQ(Phase1MinimumKept(10), 5u);
  EXPECT_EQ(Phase1MinimumKept(25), 13u);
  EXPECT_EQ(Phase1ExclusionName(Phase1Exclusion::kNone), "none");
  EXPECT_EQ(Phase1ExclusionName(Phase1Exclusion::kBeyondLimits), "beyond_limits");
}

TEST(Phase1ExclusionTest, ExcludedPointsStayExcludedAndTheLastEstimateIsKept) {
  // A toy estimate: the largest kept value, and a point is "beyond" when it reaches it. Round 1
  // (5) drops position 6, round 2 (4) position 5; round 3 (3) flags positions 3 and 4, but
  // dropping them would leave 2 of 6 points, fewer than Phase1MinimumKept(6) = 3: that round is
  // not applied and the estimate 3 stays.
  const std::vector<double> v = {1, 2, 3, 3, 4, 5};
  auto max_of = [&](const std::vector<char>& excluded) -> std::optional<double> {
    std::optional<double> m;
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (!excluded[i] && (!m || v[i] > *m)) m = v[i];
    }
    return m;
  };
  auto beyond = [&](double m, std::size_t i) { return v[i] >= m; };
  Phase1Exclusions out;
  const double final_estimate = IteratePhase1Exclusion(v.size(), 5.0, max_of, beyond, out);
  EXPECT_DOUBLE_EQ(final_estimate, 3);
  EXPECT_EQ(out.excluded, (Positions{5, 6}));
  EXPECT_EQ(out.estimates, 3);
  EXPECT_TRUE(out.stopped_short);
}

TEST(Phase1ExclusionTest, AnEstimateThatCannotBeMadeStopsTheRounds) {
  const std::vector<double> v = {0, 0, 0, 0, 9};
  Phase1Exclusions out;
  const double e = IteratePhase1Exclusion(
      v.size(), 1.8, [](const std::vector<char>&) { return std::optional<double>(); },
      [&](double m, std::size_t i) { return std::fabs(v[i] - m) > 2; }, out);
  EXPECT_DOUBLE_EQ(e, 1.8);
  EXPECT_TRUE(out.excluded.empty());
  EXPECT_EQ(out.estimates, 1);
  EXPECT_TRUE(out.stopped_short);
}

// --- Individuals -----------------------------------------------------------------------------

TEST(IndividualsBaselineTest, WithoutExclusionEveryValueCounts) {
  const std::vector<double> v = {10, 11, 10, 11, 10, 30, 10, 11, 10, 11};
  Result<IndividualsBaselineEstimate> e = EstimateIndividualsBaseline(v, 3, Boundary::kStrict, Phase1Exclusion::kNone);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_DOUBLE_EQ(e->mean, 12.4);
  EXPECT_DOUBLE_EQ(e->sigma, (47.0 / 9) / kD2Span2);  // moving ranges 1 1 1 1 20 20 1 1 1
  EXPECT_TRUE(e->exclusions.excluded.empty());
  EXPECT_EQ(e->exclusions.estimates, 1);
}

// The median moving range (Minitab's and JMP's "median moving range": sigma = median MR /
// 0.954) and Wheeler's median centre line, checked by hand on the same ten values: the moving
// ranges sorted are 1 1 1 1 1 1 1 20 20, median 1; the values sorted 10 10 10 10 10 11 11 11 11
// 30, median (10 + 11) / 2. One wild value moves the mean and the mean moving range, not these.
TEST(IndividualsBaselineTest, MedianMovingRangeAndMedianCentre) {
  const std::vector<double> v = {10, 11, 10, 11, 10, 30, 10, 11, 10, 11};
  Result<IndividualsBaselineEstimate> e = EstimateIndividualsBaseline(
      v, 3, Boundary::kStrict, Phase1Exclusion::kNone, IndividualsEstimator::kMedianMr, IndividualsCentre::kMedian);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_DOUBLE_EQ(e->mean, 10.5);
  EXPECT_DOUBLE_EQ(e->sigma, 1.0 / 0.954);
  // Each choice on its own: the median MR with the mean, the mean MR with the median.
  e = EstimateIndividualsBaseline(v, 3, Boundary::kStrict, Phase1Exclusion::kNone, IndividualsEstimator::kMedianMr,
                                  IndividualsCentre::kMean);
  ASSERT_TRUE(e.ok());
  EXPECT_DOUBLE_EQ(e->mean, 12.4);
  EXPECT_DOUBLE_EQ(e->sigma, 1.0 / 0.954);
  e = EstimateIndividualsBaseline(v, 3, Boundary::kStrict, Phase1Exclusion::kNone, IndividualsEstimator::kMeanMr,
                                  IndividualsCentre::kMedian);
  ASSERT_TRUE(e.ok());
  EXPECT_DOUBLE_EQ(e->mean, 10.5);
  EXPECT_DOUBLE_EQ(e->sigma, (47.0 / 9) / kD2Span2);
  // An odd number of moving ranges and values: 4 values, ranges 3 1 6 (median 3), values
  // sorted 2 3 5 9 (median 4), and with 5 values, the middle one.
  e = EstimateIndividualsBaseline(std::vector<double>{2, 5, 4, 10}, 3, Boundary::kStrict, Phase1Exclusion::kNone,
                                  IndividualsEstimator::kMedianMr, IndividualsCentre::kMedian);
  ASSERT_TRUE(e.ok());
  EXPECT_DOUBLE_EQ(e->mean, 4.5);
  EXPECT_DOUBLE_EQ(e->sigma, 3.0 / 0.954);
  e = EstimateIndividualsBaseline(std::vector<double>{2, 5, 4, 10, 7}, 3, Boundary::kStrict, Phase1Exclusion::kNone,
                                  IndividualsEstimator::kMedianMr, IndividualsCentre::kMedian);
  ASSERT_TRUE(e.ok());
  EXPECT_DOUBLE_EQ(e->mean, 5);
  EXPECT_DOUBLE_EQ(e->sigma, 3.0 / 0.954);  // ranges 3 1 6 3
}

// With exclusion, the medians are of what is kept: round 1 (median 10.5, sigma 1 / 0.954) puts
// the 30 beyond 10.5 + 3.14; round 2 keeps nine values (median 10) and seven ranges of 1.
TEST(IndividualsBaselineTest, MediansAreOfTheKeptValuesAfterExclusion) {
  const std::vector<double> v = {10, 11, 10, 11, 10, 30, 10, 11, 10, 11};
  Result<IndividualsBaselineEstimate> e =
      EstimateIndividualsBaseline(v, 3, Boundary::kStrict, Phase1Exclusion::kBeyondLimits,
                                  IndividualsEstimator::kMedianMr, IndividualsCentre::kMedian);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_DOUBLE_EQ(e->mean, 10);
  EXPECT_DOUBLE_EQ(e->sigma, 1.0 / 0.954);
  EXPECT_EQ(e->exclusions.excluded, (Positions{6}));
}

TEST(IndividualsBaselineTest, AValueBeyondTheTrialLimitsIsExcludedWithItsMovingRanges) {
  // Round 1: mean 12.4, sigma 47/9/1.128 = 4.63, UCL 26.29: the 30 (position 6) is beyond.
  // Round 2 from the other nine: mean 94/9; the moving ranges 5-6 and 6-7 span the excluded
  // value and are dropped (not bridged by |x7 - x5| = 0), leaving seven ranges of 1.
  const std::vector<double> v = {10, 11, 10, 11, 10, 30, 10, 11, 10, 11};
  Result<IndividualsBaselineEstimate> e =
      EstimateIndividualsBaseline(v, 3, Boundary::kStrict, Phase1Exclusion::kBeyondLimits);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_DOUBLE_EQ(e->mean, 94.0 / 9);
  EXPECT_DOUBLE_EQ(e->sigma, 1.0 / kD2Span2);
  EXPECT_EQ(e->exclusions.excluded, (Positions{6}));
  EXPECT_EQ(e->exclusions.estimates, 2);
  EXPECT_FALSE(e->exclusions.stopped_short);
}

TEST(IndividualsBaselineTest, AMovingRangeBeyondItsLimitExcludesNothing) {
  // A jump from -2.5 to 2.5: its moving range 5 is beyond the mr UCL
  // (d2 + 3 d3) sigma = 4.643, but both values are within the individuals limits 0.45 +/- 3.78.
  std::vector<double> v;
  for (int i = 0; i < 8; ++i) v.insert(v.end(), {0, 1});
  v.insert(v.end(), {-2.5, 2.5, 0, 1});
  Result<IndividualsBaselineEstimate> e =
      EstimateIndividualsBaseline(v, 3, Boundary::kStrict, Phase1Exclusion::kBeyondLimits);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  const double sigma = (27.0 / 19) / kD2Span2;
  ASSERT_GT(5.0, (kD2Span2 + 3 * kD3Span2) * sigma) << "the jump must be beyond the mr limit for this test";
  EXPECT_DOUBLE_EQ(e->mean, 0.45);
  EXPECT_DOUBLE_EQ(e->sigma, sigma);
  EXPECT_TRUE(e->exclusions.excluded.empty());
  EXPECT_EQ(e->exclusions.estimates, 1);
  EXPECT_FALSE(e->exclusions.stopped_short);
}

TEST(IndividualsBaselineTest, ABaselineMostlyBeyondItsLimitsKeepsItsFirstEstimate) {
  // A step: every value is beyond 2.5 +/- 3 sigma (sigma = 5/9/1.128); excluding all ten would
  // leave none, fewer than 5.
  const std::vector<double> v = {0, 0, 0, 0, 0, 5, 5, 5, 5, 5};
  Result<IndividualsBaselineEstimate> e =
      EstimateIndividualsBaseline(v, 3, Boundary::kStrict, Phase1Exclusion::kBeyondLimits);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_DOUBLE_EQ(e->mean, 2.5);
  EXPECT_DOUBLE_EQ(e->sigma, (5.0 / 9) / kD2Span2);
  EXPECT_TRUE(e->exclusions.excluded.empty());
  EXPECT_TRUE(e->exclusions.stopped_short);
}

TEST(IndividualsBaselineTest, ARoundThatLeavesNoMovingRangeIsNotApplied) {
  // Round 1 flags positions 2 and 4 (the 100s): 3 of 5 values would stay (>= 3), but no two of
  // them are adjacent, so there would be no moving range to estimate sigma from.
  const std::vector<double> v = {1, 100, 1, 100, 1};
  Result<IndividualsBaselineEstimate> e =
      EstimateIndividualsBaseline(v, 0.5, Boundary::kStrict, Phase1Exclusion::kBeyondLimits);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_DOUBLE_EQ(e->mean, 203.0 / 5);
  EXPECT_TRUE(e->exclusions.excluded.empty());
  EXPECT_TRUE(e->exclusions.stopped_short);
}

TEST(IndividualsBaselineTest, InclusiveBoundaryExcludesAValueOnALimit) {
  // Values 0, 0, 0, 2 give mean 0.5 and sigma (2/3)/1.128; with k = 2.25 * 1.128 the UCL is
  // 0.5 + 1.5 = 2, exactly the last value, which only kInclusive excludes.
  const std::vector<double> v = {0, 0, 0, 2};
  const double k = 2.25 * kD2Span2;
  Result<IndividualsBaselineEstimate> probe =
      EstimateIndividualsBaseline(v, k, Boundary::kStrict, Phase1Exclusion::kNone);
  ASSERT_TRUE(probe.ok());
  ASSERT_EQ(probe->mean + k * probe->sigma, 2.0) << "the UCL must be exactly 2 for this test";
  Result<IndividualsBaselineEstimate> strict =
      EstimateIndividualsBaseline(v, k, Boundary::kStrict, Phase1Exclusion::kBeyondLimits);
  ASSERT_TRUE(strict.ok());
  EXPECT_TRUE(strict->exclusions.excluded.empty());
  Result<IndividualsBaselineEstimate> inclusive =
      EstimateIndividualsBaseline(v, k, Boundary::kInclusive, Phase1Exclusion::kBeyondLimits);
  ASSERT_TRUE(inclusive.ok());
  EXPECT_EQ(inclusive->exclusions.excluded, (Positions{4}));
  EXPECT_DOUBLE_EQ(inclusive->mean, 0);
  EXPECT_DOUBLE_EQ(inclusive->sigma, 0);
}

TEST(IndividualsBaselineTest, BadInputIsRefusedNamingTheValue) {
  const std::vector<double> one = {1};
  Result<IndividualsBaselineEstimate> e =
      EstimateIndividualsBaseline(one, 3, Boundary::kStrict, Phase1Exclusion::kNone);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(e.status().message().find("at least 2 values, found 1"), std::string::npos) << e.status().message();
  const std::vector<double> nan = {1, std::nan(""), 2};
  e = EstimateIndividualsBaseline(nan, 3, Boundary::kStrict, Phase1Exclusion::kBeyondLimits);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("baseline value 2 is not a finite number"), std::string::npos)
      << e.status().message();
  const std::vector<double> two = {1, 2};
  e = EstimateIndividualsBaseline(two, 0, Boundary::kStrict, Phase1Exclusion::kNone);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("k_sigma must be > 0, found 0"), std::string::npos) << e.status().message();
}

TEST(IndividualsChartPhase1Test, TheWholeBaselineIsJudgedAgainstTheRevisedLimits) {
  IndividualsChartSpec spec;
  spec.phase1_points = 10;
  spec.phase1_exclusion = Phase1Exclusion::kBeyondLimits;
  ASSERT_TRUE(spec.Validate().ok());
  IndividualsChart chart(spec);
  Recorder rec;
  const std::vector<double> v = {10, 11, 10, 11, 10, 30, 10, 11, 10, 11};
  for (std::size_t i = 0; i < v.size(); ++i) chart.Add(v[i], At(static_cast<int>(i)), rec);
  ASSERT_TRUE(chart.limits_ready());
  EXPECT_DOUBLE_EQ(chart.individuals_limits().cl, 94.0 / 9);
  EXPECT_DOUBLE_EQ(chart.sigma(), 1.0 / kD2Span2);
  EXPECT_EQ(chart.phase1_exclusions().excluded, (Positions{6}));
  // All ten are plotted, the excluded one too, in phase I against the final limits.
  const std::vector<ChartPoint> x = rec.Points(ChartKind::kIndividuals);
  ASSERT_EQ(x.size(), 10u);
  for (const auto& p : x) {
    EXPECT_EQ(p.phase, Phase::kOne);
    EXPECT_DOUBLE_EQ(p.cl, 94.0 / 9);
  }
  // Against the revised limits 10.44 +/- 2.66 the 30 fires, the 10s and 11s do not.
  std::vector<std::int64_t> fired;
  for (const auto& h : rec.Hits(RuleKind::kNelson1, ChartKind::kIndividuals)) fired.push_back(h.index);
  EXPECT_EQ(fired, (Positions{6}));
  // Its two moving ranges (20) are beyond the revised mr UCL 3.27.
  std::vector<std::int64_t> mr_fired;
  for (const auto& h : rec.Hits(RuleKind::kNelson1, ChartKind::kMovingRange)) mr_fired.push_back(h.index);
  EXPECT_EQ(mr_fired, (Positions{6, 7}));
}

TEST(IndividualsChartPhase1Test, ExclusionWithKnownLimitsIsRefused) {
  IndividualsChartSpec spec;
  spec.mode = IndividualsChartSpec::LimitMode::kKnown;
  spec.mean = 0;
  spec.sigma = 1;
  spec.phase1_exclusion = Phase1Exclusion::kBeyondLimits;
  Status st = spec.Validate();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("phase1_exclusion beyond_limits applies only to phase1 limits"), std::string::npos)
      << st.message();
}

TEST(IndividualsChartPhase1Test, ViscosityExcludesBatch4AsQccAndMontgomeryDo) {
  SKIP_WITHOUT_REFDATA(dir);
  std::vector<double> trial;
  for (const auto& row : CsvRows(dir + "/viscosity.csv")) {
    if (row.size() == 3 && row[2] == "TRUE") trial.push_back(std::stod(row[1]));
  }
  ASSERT_EQ(trial.size(), 20u);
  Result<IndividualsBaselineEstimate> e =
      EstimateIndividualsBaseline(trial, 3, Boundary::kStrict, Phase1Exclusion::kBeyondLimits);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  // The one point beyond the trial limits 32.56504 / 35.61096 is batch 4 (35.96), the batch
  // with the assignable cause; nothing is beyond the revised limits.
  EXPECT_EQ(e->exclusions.excluded, (Positions{4}));
  EXPECT_EQ(e->exclusions.estimates, 2);
  // qcc without batch 4: center 33.98947 ...
  EXPECT_TRUE(MatchesPrinted(e->mean, 33.98947));
  // ... but std.dev 0.4117415 bridges the gap with |x5 - x3|; here the 17 moving ranges of
  // adjacent kept batches give 0.3780768.
  double mr_sum = 0;
  int pairs = 0;
  for (std::size_t i = 1; i < trial.size(); ++i) {
    if (i == 3 || i - 1 == 3) continue;
    mr_sum += std::fabs(trial[i] - trial[i - 1]);
    ++pairs;
  }
  ASSERT_EQ(pairs, 17);
  EXPECT_DOUBLE_EQ(e->sigma, (mr_sum / pairs) / kD2Span2);
  EXPECT_TRUE(MatchesPrinted(e->sigma, 0.3780768));
  EXPECT_FALSE(MatchesPrinted(e->sigma, 0.4117415));
}

// --- x-bar/R and x-bar/S ---------------------------------------------------------------------

SubgroupSummary Of(std::vector<double> values) { return Summarize(values); }

SubgroupChartSpec Phase1Spec(SubgroupChartKind kind, int subgroups, int n) {
  SubgroupChartSpec s;
  s.kind = kind;
  s.subgroup_size = n;
  s.phase1_subgroups = subgroups;
  s.phase1_exclusion = Phase1Exclusion::kBeyondLimits;
  return s;
}

TEST(SubgroupBaselineTest, ASubgroupBeyondTheXbarLimitsIsExcluded) {
  // Five {10, 11} and one {20, 21}: centre 73/6, sigma 1/d2(2); the x-bar UCL
  // 12.17 + 3 sigma / sqrt(2) = 14.05 leaves out the sixth. Without it: centre 10.5.
  std::vector<SubgroupSummary> base(5, Of({10, 11}));
  base.push_back(Of({20, 21}));
  Result<SubgroupBaselineEstimate> e = EstimateSubgroupBaseline(Phase1Spec(SubgroupChartKind::kXbarR, 6, 2), base);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_DOUBLE_EQ(e->center, 10.5);
  EXPECT_DOUBLE_EQ(e->sigma, 1.0 / D2(2));
  EXPECT_EQ(e->exclusions.excluded, (Positions{6}));
  EXPECT_EQ(e->exclusions.estimates, 2);
}

TEST(SubgroupBaselineTest, ASubgroupBeyondTheRangeLimitIsExcludedThoughItsMeanIsWithin) {
  // Nine {10, 11} and one {10, 15}: R-bar 1.4, sigma 1.4/d2(2) = 1.241; the R UCL
  // (d2 + 3 d3) sigma = 4.57 < 5, while the x-bar 12.5 is below its UCL 10.7 + 2.63.
  std::vector<SubgroupSummary> base(9, Of({10, 11}));
  base.push_back(Of({10, 15}));
  SubgroupChartSpec spec = Phase1Spec(SubgroupChartKind::kXbarR, 10, 2);
  SubgroupChartSpec once = spec;
  once.phase1_exclusion = Phase1Exclusion::kNone;
  Result<SubgroupBaselineEstimate> first = EstimateSubgroupBaseline(once, base);
  ASSERT_TRUE(first.ok());
  EXPECT_DOUBLE_EQ(first->center, 10.7);
  EXPECT_DOUBLE_EQ(first->sigma, 1.4 / D2(2));
  ASSERT_LT(12.5, 10.7 + 3 * first->sigma / std::sqrt(2.0)) << "the mean must be within for this test";
  Result<SubgroupBaselineEstimate> e = EstimateSubgroupBaseline(spec, base);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->exclusions.excluded, (Positions{10}));
  EXPECT_DOUBLE_EQ(e->center, 10.5);
  EXPECT_DOUBLE_EQ(e->sigma, 1.0 / D2(2));
}

TEST(SubgroupBaselineTest, XbarSExcludesByTheStandardDeviationLimit) {
  // The same data on x-bar/S: s = R / sqrt(2); s-bar / c4(2) with the {10, 15} subgroup gives
  // an S UCL below its s = 3.54.
  std::vector<SubgroupSummary> base(9, Of({10, 11}));
  base.push_back(Of({10, 15}));
  Result<SubgroupBaselineEstimate> e = EstimateSubgroupBaseline(Phase1Spec(SubgroupChartKind::kXbarS, 10, 2), base);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->exclusions.excluded, (Positions{10}));
  EXPECT_DOUBLE_EQ(e->center, 10.5);
  EXPECT_DOUBLE_EQ(e->sigma, Of({10, 11}).sd / C4(2));
}

TEST(SubgroupBaselineTest, RefusesKnownLimitsAndAnEmptyBaseline) {
  SubgroupChartSpec spec = Phase1Spec(SubgroupChartKind::kXbarR, 10, 2);
  Result<SubgroupBaselineEstimate> e = EstimateSubgroupBaseline(spec, {});
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("the baseline is empty"), std::string::npos) << e.status().message();
  spec.mode = SubgroupChartSpec::LimitMode::kKnown;
  spec.mean = 0;
  spec.sigma = 1;
  Status st = spec.Validate();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("phase1_exclusion beyond_limits applies only to phase1 limits"), std::string::npos)
      << st.message();
  std::vector<SubgroupSummary> base(3, Of({1, 2}));
  e = EstimateSubgroupBaseline(spec, base);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("only for phase1 limits"), std::string::npos) << e.status().message();
}

TEST(SubgroupChartPhase1Test, ChartJudgesEveryBaselineSubgroupAgainstTheRevisedLimits) {
  SubgroupChartSpec spec = Phase1Spec(SubgroupChartKind::kXbarR, 10, 2);
  ASSERT_TRUE(spec.Validate().ok()) << spec.Validate().ToString();
  SubgroupChart chart(spec);
  Recorder rec;
  for (int i = 0; i < 9; ++i) {
    const double v[] = {10, 11};
    ASSERT_TRUE(chart.Add(v, At(i), rec).ok());
  }
  const double last[] = {10, 15};
  ASSERT_TRUE(chart.Add(last, At(9), rec).ok());
  ASSERT_TRUE(chart.limits_ready());
  EXPECT_DOUBLE_EQ(chart.center(), 10.5);
  EXPECT_DOUBLE_EQ(chart.sigma(), 1.0 / D2(2));
  EXPECT_EQ(chart.phase1_exclusions().excluded, (Positions{10}));
  ASSERT_EQ(rec.Points(ChartKind::kXbar).size(), 10u);
  ASSERT_EQ(rec.Points(ChartKind::kR).size(), 10u);
  // Against 10.5 +/- 1.88, the tenth subgroup's mean 12.5 now fires too, and its range 5.
  EXPECT_EQ(rec.Hits(RuleKind::kNelson1, ChartKind::kXbar).size(), 1u);
  EXPECT_EQ(rec.Hits(RuleKind::kNelson1, ChartKind::kR).size(), 1u);
  EXPECT_EQ(rec.HitIndexes(), (Positions{10, 10}));
}

TEST(SubgroupChartPhase1Test, PistonringsBaselineIsInControlSoExclusionChangesNothing) {
  SKIP_WITHOUT_REFDATA(dir);
  const testing::Pistonrings data = testing::ReadPistonrings(dir);
  ASSERT_EQ(data.phase1.size(), 25u);
  std::vector<SubgroupSummary> base;
  for (const auto& s : data.phase1) base.push_back(Summarize(s));
  Result<SubgroupBaselineEstimate> e = EstimateSubgroupBaseline(Phase1Spec(SubgroupChartKind::kXbarR, 25, 5), base);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_TRUE(e->exclusions.excluded.empty());
  EXPECT_EQ(e->exclusions.estimates, 1);
  // qcc: center 74.00118, std.dev 0.009785039.
  EXPECT_TRUE(MatchesPrinted(e->center, 74.00118));
  EXPECT_TRUE(MatchesPrinted(e->sigma, 0.009785039));
}

// --- Attribute charts ------------------------------------------------------------------------

AttributeChartSpec AttributePhase1(AttributeChartKind kind, int subgroups) {
  AttributeChartSpec s;
  s.kind = kind;
  s.phase1_subgroups = subgroups;
  s.phase1_exclusion = Phase1Exclusion::kBeyondLimits;
  return s;
}

std::vector<AttributeSubgroup> Counts(std::initializer_list<std::int64_t> counts, double n) {
  std::vector<AttributeSubgroup> out;
  for (std::int64_t c : counts) out.push_back(AttributeSubgroup{c, n});
  return out;
}

TEST(AttributeBaselineTest, CChartExcludesInRoundsUntilNothingIsBeyond) {
  // Round 1: c-bar 62/10 = 6.2, UCL 13.67: the 18 (position 10) is beyond.
  // Round 2: c-bar 44/9 = 4.89, UCL 11.52: now the 12 (position 9) is beyond.
  // Round 3: c-bar 32/8 = 4, UCL 10: nothing beyond.
  const auto base = Counts({4, 4, 4, 4, 4, 4, 4, 4, 12, 18}, 1);
  Result<AttributeBaselineEstimate> e = EstimateAttributeBaseline(AttributePhase1(AttributeChartKind::kC, 10), base);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_DOUBLE_EQ(e->center, 4);
  EXPECT_EQ(e->exclusions.excluded, (Positions{9, 10}));
  EXPECT_EQ(e->exclusions.estimates, 3);
  EXPECT_FALSE(e->exclusions.stopped_short);
  AttributeChartSpec once = AttributePhase1(AttributeChartKind::kC, 10);
  once.phase1_exclusion = Phase1Exclusion::kNone;
  Result<AttributeBaselineEstimate> all = EstimateAttributeBaseline(once, base);
  ASSERT_TRUE(all.ok());
  EXPECT_DOUBLE_EQ(all->center, 6.2);
  EXPECT_TRUE(all->exclusions.excluded.empty());
}

TEST(AttributeBaselineTest, ProbabilityLimitsDecideWhatIsBeyond) {
  // c-bar 5.5 from {5 x 9, 10}: sigma limits 5.5 +/- 7.04 keep the 10, while probability
  // limits at alpha 0.2 put the UCL at 9 (Poisson(5.5): P(X > 9) = 0.054 <= 0.1 < P(X > 8) =
  // 0.106) and exclude it; then c-bar 5, UCL 8, and every 5 is within.
  AttributeChartSpec spec = AttributePhase1(AttributeChartKind::kC, 10);
  const auto base = Counts({5, 5, 5, 5, 5, 5, 5, 5, 5, 10}, 1);
  Result<AttributeBaselineEstimate> sigma = EstimateAttributeBaseline(spec, base);
  ASSERT_TRUE(sigma.ok());
  EXPECT_TRUE(sigma->exclusions.excluded.empty());
  EXPECT_DOUBLE_EQ(sigma->center, 5.5);
  spec.limit_type = AttributeChartSpec::LimitType::kProbability;
  spec.alpha = 0.2;
  Result<AttributeBaselineEstimate> prob = EstimateAttributeBaseline(spec, base);
  ASSERT_TRUE(prob.ok());
  EXPECT_EQ(prob->exclusions.excluded, (Positions{10}));
  EXPECT_DOUBLE_EQ(prob->center, 5);
}

TEST(AttributeBaselineTest, RefusesBadInputAndKnownCentre) {
  AttributeChartSpec spec = AttributePhase1(AttributeChartKind::kP, 3);
  Result<AttributeBaselineEstimate> e = EstimateAttributeBaseline(spec, Counts({1, 60}, 50));
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("baseline subgroup 2: count 60 exceeds n 50"), std::string::npos)
      << e.status().message();
  spec.mode = AttributeChartSpec::LimitMode::kKnown;
  spec.center = 0.1;
  Status st = spec.Validate();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("phase1_exclusion beyond_limits applies only to phase1 limits"), std::string::npos)
      << st.message();
  e = EstimateAttributeBaseline(spec, Counts({1, 2}, 50));
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("only for phase1 limits"), std::string::npos) << e.status().message();
}

TEST(AttributeChartPhase1Test, ChartReportsExclusionsAndJudgesTheWholeBaseline) {
  AttributeChart chart(AttributePhase1(AttributeChartKind::kC, 10));
  Recorder rec;
  const auto base = Counts({4, 4, 4, 4, 4, 4, 4, 4, 12, 18}, 1);
  for (std::size_t i = 0; i < base.size(); ++i) {
    ASSERT_TRUE(chart.Add(base[i].count, base[i].n, At(static_cast<int>(i)), rec).ok());
  }
  ASSERT_TRUE(chart.limits_ready());
  EXPECT_DOUBLE_EQ(chart.center(), 4);
  EXPECT_EQ(chart.phase1_exclusions().excluded, (Positions{9, 10}));
  ASSERT_EQ(rec.points.size(), 10u);
  for (const auto& p : rec.points) {
    EXPECT_EQ(p.phase, Phase::kOne);
    EXPECT_DOUBLE_EQ(p.ucl, 10);
  }
  EXPECT_EQ(rec.HitIndexes(), (Positions{9, 10}));
}

std::vector<AttributeSubgroup> TrialSubgroups(const std::string& path) {
  std::vector<AttributeSubgroup> out;
  for (const auto& row : CsvRows(path)) {
    if (row.size() == 4 && row[3] == "TRUE") out.push_back(AttributeSubgroup{std::stoll(row[1]), std::stod(row[2])});
  }
  return out;
}

TEST(AttributeChartPhase1Test, CircuitExclusionFindsSamples6And20AndMatchesQcc) {
  SKIP_WITHOUT_REFDATA(dir);
  const std::vector<AttributeSubgroup> trial = TrialSubgroups(dir + "/circuit.csv");
  ASSERT_EQ(trial.size(), 26u);
  for (AttributeChartKind kind : {AttributeChartKind::kC, AttributeChartKind::kU}) {
    AttributeChart chart(AttributePhase1(kind, 26));
    Recorder rec;
    for (std::size_t i = 0; i < trial.size(); ++i) {
      ASSERT_TRUE(chart.Add(trial[i].count, trial[i].n, At(static_cast<int>(i)), rec).ok());
    }
    // The samples with assignable causes are exactly the ones beyond the trial limits, and
    // nothing is beyond the revised ones: qcc's figures excluding 6 and 20.
    EXPECT_EQ(chart.phase1_exclusions().excluded, (Positions{6, 20}));
    EXPECT_EQ(chart.phase1_exclusions().estimates, 2);
    const AttributeLimits lim = chart.limits_at(100);
    if (kind == AttributeChartKind::kC) {
      EXPECT_TRUE(MatchesPrinted(chart.center(), 19.66667));  // center, std.dev, LCL, UCL
      EXPECT_TRUE(MatchesPrinted(chart.sigma_at(100), 4.434712));
      EXPECT_TRUE(MatchesPrinted(lim.lcl, 6.362532));
      EXPECT_TRUE(MatchesPrinted(lim.ucl, 32.9708));
    } else {
      EXPECT_TRUE(MatchesPrinted(chart.center(), 0.1966667));
      EXPECT_TRUE(MatchesPrinted(chart.sigma_at(1), 0.4434712));
      EXPECT_TRUE(MatchesPrinted(lim.lcl, 0.06362532));
      EXPECT_TRUE(MatchesPrinted(lim.ucl, 0.329708));
    }
  }
}

TEST(AttributeChartPhase1Test, OrangejuiceExclusionGoesBeyondTheBooksAssignableCauses) {
  SKIP_WITHOUT_REFDATA(dir);
  const std::vector<AttributeSubgroup> trial = TrialSubgroups(dir + "/orangejuice.csv");
  ASSERT_EQ(trial.size(), 30u);
  // Round 1 finds samples 15 and 23 beyond the trial UCL 0.4102391 (the book's assignable
  // causes); without them p-bar is qcc's 0.215 with UCL 0.3892972 ...
  Result<double> book = EstimateAttributeCenter(AttributeChartKind::kP, trial, Positions{15, 23});
  ASSERT_TRUE(book.ok());
  EXPECT_TRUE(MatchesPrinted(*book, 0.215));
  // ... which sample 21 (20 of 50 = 0.40) exceeds. Montgomery keeps it (no assignable cause);
  // automatic exclusion drops it in round 2, and round 3 finds nothing more.
  EXPECT_EQ(trial[20].count, 20);
  EXPECT_GT(20.0 / 50, 0.3892972);
  Result<AttributeBaselineEstimate> e = EstimateAttributeBaseline(AttributePhase1(AttributeChartKind::kP, 30), trial);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->exclusions.excluded, (Positions{15, 21, 23}));
  EXPECT_EQ(e->exclusions.estimates, 3);
  // 347 nonconforming in 1500, less 24 + 20 + 22: 281 in 1350.
  EXPECT_DOUBLE_EQ(e->center, 281.0 / 1350);
}

}  // namespace
}  // namespace shewhart::rules

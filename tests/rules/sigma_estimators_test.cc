// Tests of constants.h (d2, d3, c4) and sigma_estimators.h.

#include "shewhart/rules/sigma_estimators.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <numbers>
#include <sstream>
#include <string>
#include <vector>

#include "../test_util.h"
#include "shewhart/rules/constants.h"

namespace shewhart::rules {
namespace {

constexpr double kPi = std::numbers::pi;

// qcc's published tables (exp.R.unscaled, se.R.unscaled), for the sizes the tests use.
// d2: 3 decimals, the same as every SPC text; d3: 7 decimals.
constexpr double kQccD2[] = {0, 0, 1.128, 1.693, 2.059, 2.326, 2.534, 2.704, 2.847, 2.970, 3.078};
constexpr double kQccD3[] = {0,         0,         0.8525033, 0.8883697, 0.8798108, 0.8640855,
                             0.8480442, 0.8332108, 0.8198378, 0.8078413, 0.7970584};

// ---------------------------------------------------------------------------------------------
// Constants

TEST(ConstantsTest, C4MatchesItsClosedForms) {
  EXPECT_NEAR(C4(2), std::sqrt(2 / kPi), 1e-15);
  EXPECT_NEAR(C4(3), std::sqrt(kPi) / 2, 1e-15);
  EXPECT_NEAR(C4(4), 2 * std::sqrt(2.0 / 3.0) / std::sqrt(kPi), 1e-15);
  EXPECT_NEAR(C4(5), 3 * std::sqrt(2 * kPi) / 8, 1e-15);
}

TEST(ConstantsTest, C4FollowsItsAsymptoticSeriesForLargeN) {
  // c4(n) = 1 - 1/(4n) - 7/(32n^2) - 19/(128n^3) + O(n^-4). The difference of two lgamma
  // values loses digits as n grows (about 1e-10 at n = 250000).
  for (std::int64_t n : {1000, 10001, 250000}) {
    const double m = static_cast<double>(n);
    const double series = 1 - 1 / (4 * m) - 7 / (32 * m * m) - 19 / (128 * m * m * m);
    EXPECT_NEAR(C4(n), series, 1e-9) << n;
  }
}

TEST(ConstantsTest, IntegrationReproducesTheExactSmallSizes) {
  // d2(2) = 2/sqrt(pi), d2(3) = 3/sqrt(pi), d3(2) = sqrt(2 - 4/pi).
  EXPECT_NEAR(IntegratedD2(2), 2 / std::sqrt(kPi), 1e-10);
  EXPECT_NEAR(IntegratedD2(3), 3 / std::sqrt(kPi), 1e-10);
  EXPECT_NEAR(IntegratedD3(2), std::sqrt(2 - 4 / kPi), 1e-9);
}

TEST(ConstantsTest, D2UsesQccsTableAndIntegrationReproducesItToThePrintedDigits) {
  for (int n = 2; n <= 10; ++n) EXPECT_EQ(D2(n), kQccD2[n]) << n;
  for (int n = 2; n <= kD2TableMax; ++n) {
    EXPECT_NEAR(IntegratedD2(n), D2(n), 0.0005) << "n = " << n << ": the table entry is not d2 to 3 decimals";
  }
  // Beyond the table the engine integrates; ASTM E2587's table goes on with these.
  EXPECT_EQ(D2(26), IntegratedD2(26));
  EXPECT_NEAR(D2(30), 4.086, 0.0005);
  EXPECT_NEAR(D2(40), 4.322, 0.0005);
  EXPECT_NEAR(D2(50), 4.498, 0.0005);
}

TEST(ConstantsTest, D3UsesQccsTableAndIntegrationAgreesWithIt) {
  for (int n = 2; n <= 10; ++n) EXPECT_EQ(D3(n), kQccD3[n]) << n;
  // The classic 4-decimal d3 table (Montgomery Appendix VI, ASTM E2587), reproduced to its
  // printed digits.
  const double classic[] = {0, 0, 0.8525, 0.8884, 0.8798, 0.8641, 0.8480, 0.8332, 0.8198, 0.8078, 0.7971};
  for (int n = 2; n <= 10; ++n) EXPECT_NEAR(IntegratedD3(n), classic[n], 0.00005) << n;
  // qcc's 7-decimal entries run high by 1e-6 to 1.2e-5 (qcc: d3(2) = 0.8525033, exactly
  // sqrt(2 - 4/pi) = 0.8525025), so integration agrees with all 49 of them to 4 decimals only.
  for (int n = 2; n <= kD3TableMax; ++n) EXPECT_NEAR(IntegratedD3(n), D3(n), 1.3e-5) << n;
  EXPECT_EQ(D3(60), IntegratedD3(60));
}

TEST(ConstantsTest, ConstantsAreMonotoneUpToTheLargestSubgroup) {
  for (int n = 3; n <= kMaxSubgroupSize; ++n) {
    EXPECT_GT(D2(n), D2(n - 1)) << n;
    EXPECT_GT(C4(n), C4(n - 1)) << n;
    if (n >= 4) {
      EXPECT_LT(D3(n), D3(n - 1)) << n;  // d3 peaks at n = 3
    }
  }
}

// The 3-sigma factors built from d2, d3, c4 agree with the published factor table (ASTM E2587
// / Montgomery Appendix VI, 3 decimals) within one unit of rounding: the tables were computed
// from unrounded constants, the engine uses qcc's rounded d2 (A2(2) = 1.8806 vs 1.880).
TEST(ConstantsTest, TextbookFactorsFollowFromTheConstants) {
  struct Row {
    int n;
    double a2, a3, b3, b4, d3, d4;
  } table[] = {
      {2, 1.880, 2.659, 0, 3.267, 0, 3.267},         {3, 1.023, 1.954, 0, 2.568, 0, 2.574},
      {4, 0.729, 1.628, 0, 2.266, 0, 2.282},         {5, 0.577, 1.427, 0, 2.089, 0, 2.114},
      {6, 0.483, 1.287, 0.030, 1.970, 0, 2.004},     {7, 0.419, 1.182, 0.118, 1.882, 0.076, 1.924},
      {8, 0.373, 1.099, 0.185, 1.815, 0.136, 1.864}, {9, 0.337, 1.032, 0.239, 1.761, 0.184, 1.816},
      {10, 0.308, 0.975, 0.284, 1.716, 0.223, 1.777},
  };
  for (const Row& r : table) {
    const double rn = std::sqrt(static_cast<double>(r.n));
    const double c4 = C4(r.n), s = std::sqrt(1 - c4 * c4);
    EXPECT_NEAR(3 / (D2(r.n) * rn), r.a2, 0.0007) << "A2 " << r.n;
    EXPECT_NEAR(3 / (c4 * rn), r.a3, 0.0007) << "A3 " << r.n;
    EXPECT_NEAR(std::max(0.0, 1 - 3 * s / c4), r.b3, 0.0007) << "B3 " << r.n;
    EXPECT_NEAR(1 + 3 * s / c4, r.b4, 0.0007) << "B4 " << r.n;
    EXPECT_NEAR(std::max(0.0, 1 - 3 * D3(r.n) / D2(r.n)), r.d3, 0.0007) << "D3 " << r.n;
    EXPECT_NEAR(1 + 3 * D3(r.n) / D2(r.n), r.d4, 0.0007) << "D4 " << r.n;
  }
}

// ---------------------------------------------------------------------------------------------
// Summaries

TEST(SummarizeTest, GivesSizeMeanRangeAndSampleSd) {
  const std::vector<double> v = {2, 4, 4, 4, 5, 5, 7, 9};
  SubgroupSummary s = Summarize(v);
  EXPECT_EQ(s.n, 8);
  EXPECT_DOUBLE_EQ(s.mean, 5.0);
  EXPECT_DOUBLE_EQ(s.range, 7.0);
  EXPECT_NEAR(s.sd, std::sqrt(32.0 / 7.0), 1e-15);
}

TEST(SummarizeTest, KeepsItsDigitsFarFromZero) {
  // Exactly representable; a one-pass sum of squares (about 3e18, spaced 512 apart) would lose
  // the spread entirely.
  const std::vector<double> v = {1e9 + 0.125, 1e9 + 0.25, 1e9 + 0.375};
  SubgroupSummary s = Summarize(v);
  EXPECT_EQ(s.mean, 1e9 + 0.25);
  EXPECT_EQ(s.sd, 0.125);
  EXPECT_EQ(s.range, 0.25);
}

TEST(SummarizeTest, SingleValueHasNoSpread) {
  const double v[] = {3.5};
  SubgroupSummary s = Summarize(v);
  EXPECT_EQ(s.n, 1);
  EXPECT_EQ(s.mean, 3.5);
  EXPECT_EQ(s.range, 0.0);
  EXPECT_EQ(s.sd, 0.0);
}

// ---------------------------------------------------------------------------------------------
// Estimators

std::vector<SubgroupSummary> PistonringsPhaseOne(const std::string& dir) {
  std::vector<SubgroupSummary> out;
  for (const auto& values : testing::ReadPistonrings(dir).phase1) out.push_back(Summarize(values));
  return out;
}

TEST(SigmaEstimatorsTest, PistonringsMatchQcc) {
  const std::string dir = testing::RefdataDir();
  if (dir.empty()) GTEST_SKIP() << "../shared/refdata is absent (set SHEWHART_REFDATA): published-data test skipped";
  std::vector<SubgroupSummary> s = PistonringsPhaseOne(dir);
  ASSERT_EQ(s.size(), 25u);
  // qcc 3.0 vignette: std.dev 0.009785039 (UWAVE-R), 0.009829977 (UWAVE-SD); 7 digits printed.
  Result<double> r = UwaveR(s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NEAR(*r, 0.009785039, 5e-10);
  Result<double> sd = UwaveSd(s);
  ASSERT_TRUE(sd.ok()) << sd.status().ToString();
  EXPECT_NEAR(*sd, 0.009829977, 5e-10);
  EXPECT_NEAR(GrandMean(s), 74.00118, 5e-6);
  // Equal sizes: the MVLUE weights are all equal.
  EXPECT_NEAR(*MvlueR(s), *r, 1e-15);
  EXPECT_NEAR(*MvlueSd(s), *sd, 1e-15);
  // The dispatcher reaches the same functions.
  EXPECT_EQ(*EstimateSigma(SigmaEstimator::kUwaveR, s), *r);
  EXPECT_EQ(*EstimateSigma(SigmaEstimator::kUwaveSd, s), *sd);
}

// Three subgroups of sizes 3, 4 and 5, with the published table values and the closed forms of
// c4 written out, so that each formula is checked against an independent evaluation.
std::vector<SubgroupSummary> MixedSizes() {
  return {{3, 10.0, 0.6, 0.31}, {4, 10.2, 0.9, 0.40}, {5, 9.9, 1.1, 0.45}};
}
constexpr double kC4[] = {0, 0, 0, 0.88622692545275801, 0.92131773192356127, 0.93998560298662518};

TEST(SigmaEstimatorsTest, UwaveRAveragesRangesOverD2) {
  const double expected = (0.6 / 1.693 + 0.9 / 2.059 + 1.1 / 2.326) / 3;
  EXPECT_NEAR(*UwaveR(MixedSizes()), expected, 1e-15);
}

TEST(SigmaEstimatorsTest, UwaveSdAveragesSdsOverC4) {
  const double expected = (0.31 / kC4[3] + 0.40 / kC4[4] + 0.45 / kC4[5]) / 3;
  EXPECT_NEAR(*UwaveSd(MixedSizes()), expected, 1e-15);
}

TEST(SigmaEstimatorsTest, MvlueRWeightsBySquaredD2OverD3) {
  double num = 0, den = 0;
  const double r[] = {0, 0, 0, 0.6, 0.9, 1.1};
  for (int n = 3; n <= 5; ++n) {
    const double w = (kQccD2[n] / kQccD3[n]) * (kQccD2[n] / kQccD3[n]);
    num += w * r[n] / kQccD2[n];
    den += w;
  }
  EXPECT_NEAR(*MvlueR(MixedSizes()), num / den, 1e-15);
}

TEST(SigmaEstimatorsTest, MvlueSdWeightsByC4SquaredOverOneMinusC4Squared) {
  double num = 0, den = 0;
  const double s[] = {0, 0, 0, 0.31, 0.40, 0.45};
  for (int n = 3; n <= 5; ++n) {
    const double w = kC4[n] * kC4[n] / (1 - kC4[n] * kC4[n]);
    num += w * s[n] / kC4[n];
    den += w;
  }
  EXPECT_NEAR(*MvlueSd(MixedSizes()), num / den, 1e-15);
}

TEST(SigmaEstimatorsTest, RmsdfPoolsVariancesAndDividesByC4OfPooledDfPlusOne) {
  // Two pairs (1 df each): pooled sd sqrt((1 + 9) / 2) = sqrt(5); c4(3) = sqrt(pi)/2.
  const std::vector<SubgroupSummary> s = {{2, 0, 1.4142135623730951, 1.0}, {2, 0, 4.2426406871192857, 3.0}};
  EXPECT_NEAR(*Rmsdf(s), std::sqrt(5.0) / (std::sqrt(kPi) / 2), 1e-14);
  // Mixed sizes: df 2 + 3 + 4 = 9, so c4(10).
  const double pooled = std::sqrt((2 * 0.31 * 0.31 + 3 * 0.40 * 0.40 + 4 * 0.45 * 0.45) / 9);
  const double c4_10 = std::sqrt(2.0 / 9.0) * std::tgamma(5.0) / std::tgamma(4.5);
  EXPECT_NEAR(*Rmsdf(MixedSizes()), pooled / c4_10, 1e-14);
}

TEST(SigmaEstimatorsTest, ErrorsNameTheSubgroupAndValue) {
  Result<double> empty = UwaveR({});
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(empty.status().message().find("at least one subgroup, found none"), std::string::npos)
      << empty.status().message();

  std::vector<SubgroupSummary> s = MixedSizes();
  s[1].n = 1;
  Result<double> one = EstimateSigma(SigmaEstimator::kMvlueSd, s);
  ASSERT_FALSE(one.ok());
  EXPECT_NE(one.status().message().find("subgroup 2 has 1 values; sigma estimation needs 2 to 100"),
            std::string::npos)
      << one.status().message();

  s = MixedSizes();
  s[2].sd = -0.5;
  Result<double> neg = Rmsdf(s);
  ASSERT_FALSE(neg.ok());
  EXPECT_NE(neg.status().message().find("subgroup 3 has sd -0.5"), std::string::npos) << neg.status().message();

  s = MixedSizes();
  s[0].range = std::nan("");
  Result<double> nan = UwaveR(s);
  ASSERT_FALSE(nan.ok());
  EXPECT_NE(nan.status().message().find("subgroup 1 has range nan"), std::string::npos) << nan.status().message();

  s = MixedSizes();
  s[0].n = kMaxSubgroupSize + 1;
  Result<double> big = UwaveSd(s);
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find("subgroup 1 has 101 values"), std::string::npos) << big.status().message();
}

TEST(SigmaEstimatorsTest, NamesRoundTrip) {
  const char* names[] = {"uwave-r", "uwave-sd", "mvlue-r", "mvlue-sd", "rmsdf"};
  for (const char* name : names) {
    auto e = SigmaEstimatorFromName(name);
    ASSERT_TRUE(e.has_value()) << name;
    EXPECT_EQ(SigmaEstimatorName(*e), name);
  }
  EXPECT_FALSE(SigmaEstimatorFromName("UWAVE-R").has_value()) << "names are lower case, as in the config";
  EXPECT_FALSE(SigmaEstimatorFromName("mr").has_value()) << "mr is the individuals estimator";
  EXPECT_TRUE(UsesRanges(SigmaEstimator::kMvlueR));
  EXPECT_FALSE(UsesRanges(SigmaEstimator::kRmsdf));
}

TEST(SigmaEstimatorsTest, GrandMeanWeightsBySize) {
  const std::vector<SubgroupSummary> s = {{2, 1.0, 0, 0}, {6, 3.0, 0, 0}};
  EXPECT_DOUBLE_EQ(GrandMean(s), (2 * 1.0 + 6 * 3.0) / 8);
}

}  // namespace
}  // namespace shewhart::rules

#include "shewhart/rules/ewma_chart.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "../test_util.h"
#include "chart_recorder.h"

namespace shewhart::rules {
namespace {

// A shard keeps charts and their outputs in fixed rings and checkpoints them by copy.
static_assert(std::is_trivially_copyable_v<EwmaChart>);
static_assert(std::is_trivially_copyable_v<EwmaChartSpec>);
static_assert(std::is_trivially_copyable_v<ChartPoint>);

using test::Recorder;
using test::At;


EwmaChartSpec Spec(double centre, double sigma, double lambda, double k_sigma) {
  EwmaChartSpec s;
  s.process.centre = centre;
  s.process.sigma = sigma;
  s.lambda = lambda;
  s.k_sigma = k_sigma;
  return s;
}

// A reference CSV: a "# source:" line, a header line, then rows. Returns the rows split on
// commas; `header` receives the header line.
std::vector<std::vector<std::string>> ReadCsv(const std::string& path, std::string& header) {
  std::ifstream in(path);
  std::vector<std::vector<std::string>> rows;
  std::string line;
  header.clear();
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    if (header.empty()) {
      header = line;
      continue;
    }
    std::vector<std::string> fields;
    std::stringstream ss(line);
    std::string f;
    while (std::getline(ss, f, ',')) fields.push_back(f);
    rows.push_back(fields);
  }
  return rows;
}

// ---- qcc's own unit tests (tests/testthat/test-ewma.R) ----

TEST(EwmaChartTest, QccFixtureSmoothingAndTimeVaryingLimits) {
  EwmaChartSpec spec = Spec(10, 2, 0.5, 2);
  ASSERT_TRUE(spec.Validate().ok());
  EwmaChart chart(spec);
  Recorder rec;
  for (double x : {11.0, 13.0, 12.0}) ASSERT_TRUE(chart.Add(x, 1, At(0), rec).ok());
  const double ewma[] = {10.5, 11.75, 11.875};
  const double sigma[] = {1, std::sqrt(1.25), std::sqrt(1.3125)};
  ASSERT_EQ(rec.points.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    const ChartPoint& p = rec.points[i];
    EXPECT_EQ(p.chart, ChartKind::kEwma);
    EXPECT_EQ(p.phase, Phase::kTwo);
    EXPECT_EQ(p.index, i + 1);
    EXPECT_EQ(p.n, 1);
    EXPECT_NEAR(p.value, ewma[i], 1e-12) << i;
    EXPECT_DOUBLE_EQ(p.cl, 10);
    EXPECT_NEAR(p.lcl, 10 - 2 * sigma[i], 1e-12) << i;
    EXPECT_NEAR(p.ucl, 10 + 2 * sigma[i], 1e-12) << i;
  }
  EXPECT_NEAR(chart.point_sigma(), sigma[2], 1e-12);
  EXPECT_TRUE(rec.hits.empty());
}

TEST(EwmaChartTest, QccFixtureLambdaOneFlagsOnlyTheFourthPoint) {
  EwmaChart chart(Spec(0, 1, 1, 2));
  Recorder rec;
  // Phase I (0, 0), then phase II (0, 5), one continuing chart as qcc's newdata.
  ASSERT_TRUE(chart.Add(0, 1, At(1), rec, Phase::kOne).ok());
  ASSERT_TRUE(chart.Add(0, 1, At(2), rec, Phase::kOne).ok());
  ASSERT_TRUE(chart.Add(0, 1, At(3), rec).ok());
  ASSERT_TRUE(chart.Add(5, 1, At(4), rec).ok());
  ASSERT_EQ(rec.points.size(), 4u);
  const double ewma[] = {0, 0, 0, 5};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(rec.points[i].value, ewma[i], 1e-12);
  EXPECT_EQ(rec.points[1].phase, Phase::kOne);
  EXPECT_EQ(rec.points[2].phase, Phase::kTwo);
  ASSERT_EQ(rec.hits.size(), 1u);
  EXPECT_EQ(rec.hits[0].rule, RuleKind::kNelson1);
  EXPECT_EQ(rec.hits[0].chart, ChartKind::kEwma);
  EXPECT_EQ(rec.hits[0].index, 4);
  EXPECT_EQ(rec.hits[0].first, 4);
  EXPECT_EQ(rec.hits[0].last, 4);
  EXPECT_DOUBLE_EQ(rec.hits[0].value, 5);
  EXPECT_EQ(rec.hits[0].window_start, At(3)) << "the last point judged in control";
}

// ---- NIST/SEMATECH e-Handbook 6.3.2.4 ----

TEST(EwmaChartTest, NistExampleMatchesPublishedValuesAndLimits) {
  const std::string dir = testing::RefdataDir();
  if (dir.empty()) GTEST_SKIP() << "../shared/refdata is absent (set SHEWHART_REFDATA): published-data test skipped";
  std::string header;
  auto rows = ReadCsv(dir + "/nist_ewma_example.csv", header);
  ASSERT_EQ(header, "t,x");
  ASSERT_EQ(rows.size(), 20u);

  // EWMA_0 = 50, s = 2.0539, lambda = 0.3, k = 3.
  EwmaChartSpec spec = Spec(50, 2.0539, 0.3, 3);
  ASSERT_TRUE(spec.Validate().ok());
  EwmaChart chart(spec);
  EXPECT_DOUBLE_EQ(chart.value(), 50.00);
  Recorder rec;
  for (const auto& r : rows) ASSERT_TRUE(chart.Add(std::stod(r[1]), 1, At(std::stoi(r[0])), rec).ok());

  const double published[] = {50.60, 49.52, 50.56, 50.18, 50.16, 49.21, 49.75, 49.85, 50.26, 50.33,
                              50.11, 49.36, 49.52, 50.05, 49.38, 49.92, 50.73, 51.23, 51.94, 51.99};
  ASSERT_EQ(rec.points.size(), 20u);
  for (int i = 0; i < 20; ++i) {
    EXPECT_NEAR(rec.points[i].value, published[i], 0.005 + 1e-9) << "t = " << i + 1;  // printed to 2 dp
  }
  EXPECT_TRUE(rec.hits.empty()) << "no point is outside the limits";

  // Published limits are the asymptotic ones: UCL 52.5884, LCL 47.4115 (truncated; one unit in
  // the 4th decimal allowed). Exact arithmetic: 52.588432 / 47.411568.
  const EwmaLimits asym = spec.AsymptoticLimits();
  EXPECT_NEAR(asym.ucl, 52.5884, 1e-4);
  EXPECT_NEAR(asym.lcl, 47.4115, 1e-4);
  EXPECT_NEAR(asym.ucl, 52.588432, 5e-7);
  EXPECT_NEAR(asym.lcl, 47.411568, 5e-7);
  EXPECT_DOUBLE_EQ(asym.cl, 50);

  // The exact limits widen monotonically towards the asymptote; by t = 20 ((0.7)^40 ~ 6e-7)
  // they agree with the published ones within the same tolerance.
  for (std::size_t i = 1; i < rec.points.size(); ++i) {
    EXPECT_GT(rec.points[i].ucl, rec.points[i - 1].ucl);
    EXPECT_LT(rec.points[i].lcl, rec.points[i - 1].lcl);
  }
  const ChartPoint& last = rec.points.back();
  EXPECT_LT(last.ucl, asym.ucl);
  EXPECT_GT(last.lcl, asym.lcl);
  EXPECT_NEAR(last.ucl, 52.5884, 1e-4);
  EXPECT_NEAR(last.lcl, 47.4115, 1e-4);
  // ... while the first point's limits are much narrower: 3 * lambda * s.
  EXPECT_NEAR(rec.points[0].ucl - 50, 3 * 0.3 * 2.0539, 1e-12);
}

// ---- qcc vignette: viscosity (individuals) ----

TEST(EwmaChartTest, ViscosityMatchesQcc) {
  const std::string dir = testing::RefdataDir();
  if (dir.empty()) GTEST_SKIP() << "../shared/refdata is absent (set SHEWHART_REFDATA): published-data test skipped";
  std::string header;
  auto rows = ReadCsv(dir + "/viscosity.csv", header);
  ASSERT_EQ(header, "batch,viscosity,trial");
  ASSERT_EQ(rows.size(), 35u);

  // The Phase I estimates qcc passes on: centre = mean of the 20 trial batches, sigma = mean
  // moving range / d2(2) (1.128).
  std::vector<double> trial;
  for (const auto& r : rows) {
    if (r[2] == "TRUE") trial.push_back(std::stod(r[1]));
  }
  ASSERT_EQ(trial.size(), 20u);
  double sum = 0, mr_sum = 0;
  for (std::size_t i = 0; i < trial.size(); ++i) {
    sum += trial[i];
    if (i > 0) mr_sum += std::fabs(trial[i] - trial[i - 1]);
  }
  const double centre = sum / 20;
  const double sigma = mr_sum / 19 / 1.128;
  ASSERT_NEAR(centre, 34.088, 1e-9);
  ASSERT_NEAR(sigma, 0.5076521, 5e-8);

  // ewma(viscosity[trial], lambda = 0.2, nsigmas = 2.7, newdata = viscosity[!trial]).
  EwmaChart chart(Spec(centre, sigma, 0.2, 2.7));
  Recorder rec;
  for (const auto& r : rows) {
    ASSERT_TRUE(
        chart.Add(std::stod(r[1]), 1, At(std::stoi(r[0])), rec, r[2] == "TRUE" ? Phase::kOne : Phase::kTwo).ok());
  }
  ASSERT_EQ(rec.points.size(), 35u);
  // Printed to 7 significant digits.
  EXPECT_NEAR(rec.points[0].lcl, 33.81387, 5e-6);
  EXPECT_NEAR(rec.points[0].ucl, 34.36213, 5e-6);
  EXPECT_NEAR(rec.points[1].lcl, 33.73694, 5e-6);
  EXPECT_NEAR(rec.points[1].ucl, 34.43906, 5e-6);
  EXPECT_NEAR(rec.points[34].lcl, 33.63111, 5e-6);
  EXPECT_NEAR(rec.points[34].ucl, 34.54489, 5e-6);
  EXPECT_EQ(rec.points[19].phase, Phase::kOne);
  EXPECT_EQ(rec.points[20].phase, Phase::kTwo);
}

// ---- qcc vignette: pistonrings (subgroups of 5) ----

TEST(EwmaChartTest, PistonringsSubgroupMeansMatchQcc) {
  const std::string dir = testing::RefdataDir();
  if (dir.empty()) GTEST_SKIP() << "../shared/refdata is absent (set SHEWHART_REFDATA): published-data test skipped";
  std::string header;
  auto rows = ReadCsv(dir + "/pistonrings.csv", header);
  ASSERT_EQ(header, "sample,x1,x2,x3,x4,x5,phase");
  ASSERT_EQ(rows.size(), 40u);

  std::vector<double> means;
  double mean_sum = 0, range_sum = 0;
  for (const auto& r : rows) {
    ASSERT_EQ(r.size(), 7u);
    double s = 0, lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (int j = 1; j <= 5; ++j) {
      const double x = std::stod(r[j]);
      s += x;
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    }
    means.push_back(s / 5);
    if (r[6] == "I") {
      mean_sum += s / 5;
      range_sum += hi - lo;
    }
  }
  // Phase I (samples 1-25): centre = grand mean, sigma = R-bar / d2(5) (UWAVE-R, d2 = 2.326).
  const double centre = mean_sum / 25;
  const double sigma = range_sum / 25 / 2.326;
  ASSERT_NEAR(centre, 74.00118, 5e-6);
  ASSERT_NEAR(sigma, 0.009785039, 5e-10);

  {  // ewma(diameter[1:25,], lambda = 0.2, nsigmas = 3)
    EwmaChart chart(Spec(centre, sigma, 0.2, 3));
    Recorder rec;
    for (int i = 0; i < 25; ++i) ASSERT_TRUE(chart.Add(means[i], 5, At(i + 1), rec, Phase::kOne).ok());
    ASSERT_EQ(rec.points.size(), 25u);
    EXPECT_EQ(rec.points[0].n, 5);
    EXPECT_NEAR(rec.points[0].lcl, 73.99855, 5e-6);
    EXPECT_NEAR(rec.points[0].ucl, 74.00380, 5e-6);
    EXPECT_NEAR(rec.points[1].lcl, 73.99781, 5e-6);
    EXPECT_NEAR(rec.points[1].ucl, 74.00454, 5e-6);
    EXPECT_NEAR(rec.points[24].lcl, 73.99680, 5e-6);
    EXPECT_NEAR(rec.points[24].ucl, 74.00555, 5e-6);
  }
  {  // ewma(diameter[1:25,], lambda = 0.2, nsigmas = 2.7, newdata = diameter[26:40,])
    EwmaChart chart(Spec(centre, sigma, 0.2, 2.7));
    Recorder rec;
    for (int i = 0; i < 40; ++i) {
      ASSERT_TRUE(chart.Add(means[i], 5, At(i + 1), rec, i < 25 ? Phase::kOne : Phase::kTwo).ok());
    }
    ASSERT_EQ(rec.points.size(), 40u);
    EXPECT_NEAR(rec.points[0].lcl, 73.99881, 5e-6);
    EXPECT_NEAR(rec.points[0].ucl, 74.00354, 5e-6);
    EXPECT_NEAR(rec.points[1].lcl, 73.99815, 5e-6);
    EXPECT_NEAR(rec.points[1].ucl, 74.00420, 5e-6);
    EXPECT_NEAR(rec.points[39].lcl, 73.99724, 5e-6);
    EXPECT_NEAR(rec.points[39].ucl, 74.00511, 5e-6);
    // By group 40 the exact limits have met the asymptotic ones for n = 5.
    const EwmaLimits asym = Spec(centre, sigma, 0.2, 2.7).AsymptoticLimits(5);
    EXPECT_NEAR(rec.points[39].ucl, asym.ucl, 1e-9);
    EXPECT_NEAR(rec.points[39].lcl, asym.lcl, 1e-9);
  }
}

// ---- limits: exact variance ----

TEST(EwmaChartTest, ConstantSampleSizeLimitsFollowTheClosedForm) {
  const double lambda = 0.15, sigma = 1.7, k = 2.9;
  const int n = 4;
  EwmaChart chart(Spec(3, sigma, lambda, k));
  Recorder rec;
  for (int i = 0; i < 300; ++i) ASSERT_TRUE(chart.Add(3 + 0.01 * (i % 7 - 3), n, At(i), rec).ok());
  for (int i = 1; i <= 300; ++i) {
    const double s = sigma / std::sqrt(n) * std::sqrt(lambda / (2 - lambda) * (1 - std::pow(1 - lambda, 2 * i)));
    EXPECT_NEAR(rec.points[i - 1].ucl, 3 + k * s, 1e-12) << i;
    EXPECT_NEAR(rec.points[i - 1].lcl, 3 - k * s, 1e-12) << i;
  }
}

// var(z_i) = sigma^2 * sum_j (lambda (1 - lambda)^(i-j))^2 / n_j, computed here the slow way.
// (qcc's ewma.R instead scales the constant-n factor by the current point's 1/n_i; the two
// agree only when n is constant.)
TEST(EwmaChartTest, VariableSampleSizesUseTheExactVariance) {
  const double lambda = 0.3, sigma = 2.0, k = 3;
  const int sizes[] = {1, 5, 2, 8, 8, 3, 1, 1, 6, 4, 10, 2};
  constexpr int kCount = sizeof sizes / sizeof sizes[0];
  EwmaChart chart(Spec(0, sigma, lambda, k));
  Recorder rec;
  for (int i = 0; i < kCount; ++i) ASSERT_TRUE(chart.Add(0.1 * i, sizes[i], At(i), rec).ok());
  ASSERT_EQ(rec.points.size(), static_cast<std::size_t>(kCount));
  bool differs_from_current_n_form = false;
  for (int i = 1; i <= kCount; ++i) {
    double var = 0;
    for (int j = 1; j <= i; ++j) {
      const double w = lambda * std::pow(1 - lambda, i - j);
      var += w * w * sigma * sigma / sizes[j - 1];
    }
    EXPECT_NEAR(rec.points[i - 1].ucl, k * std::sqrt(var), 1e-12) << i;
    EXPECT_NEAR(rec.points[i - 1].lcl, -k * std::sqrt(var), 1e-12) << i;
    EXPECT_EQ(rec.points[i - 1].n, sizes[i - 1]);
    const double qcc_var = sigma * sigma / sizes[i - 1] * lambda / (2 - lambda) * (1 - std::pow(1 - lambda, 2 * i));
    if (std::fabs(qcc_var - var) > 1e-6) differs_from_current_n_form = true;
  }
  EXPECT_TRUE(differs_from_current_n_form);
}

TEST(EwmaChartTest, StartValueMovesTheStatisticButNotTheLimits) {
  EwmaChartSpec with_start = Spec(10, 1, 0.5, 3);
  with_start.start = 12;
  EwmaChart a(with_start), b(Spec(10, 1, 0.5, 3));
  EXPECT_DOUBLE_EQ(a.value(), 12);
  EXPECT_DOUBLE_EQ(b.value(), 10);
  Recorder ra, rb;
  ASSERT_TRUE(a.Add(10, 1, At(0), ra).ok());
  ASSERT_TRUE(b.Add(10, 1, At(0), rb).ok());
  EXPECT_DOUBLE_EQ(ra.points[0].value, 11);
  EXPECT_DOUBLE_EQ(rb.points[0].value, 10);
  EXPECT_DOUBLE_EQ(ra.points[0].ucl, rb.points[0].ucl);
  EXPECT_DOUBLE_EQ(ra.points[0].lcl, rb.points[0].lcl);
}

// ---- rule 1 ----

// With lambda = 1 and sigma = 1, z = x and the limits are exactly +/-3.
TEST(EwmaChartTest, StrictBoundaryFiresOnlyBeyondTheLimit) {
  struct Case {
    double value;
    bool fires;
  } cases[] = {{3.0, false}, {std::nextafter(3.0, 100.0), true}, {-3.0, false}, {std::nextafter(-3.0, -100.0), true}};
  for (const auto& c : cases) {
    EwmaChart chart(Spec(0, 1, 1, 3));
    Recorder rec;
    ASSERT_TRUE(chart.Add(c.value, 1, At(0), rec).ok());
    ASSERT_DOUBLE_EQ(rec.points[0].ucl, 3.0);
    EXPECT_EQ(rec.hits.size(), c.fires ? 1u : 0u) << c.value;
  }
}

TEST(EwmaChartTest, InclusiveBoundaryFiresOnTheLimit) {
  struct Case {
    double value;
    bool fires;
  } cases[] = {{3.0, true}, {std::nextafter(3.0, 0.0), false}, {-3.0, true}, {std::nextafter(-3.0, 0.0), false}};
  for (const auto& c : cases) {
    EwmaChartSpec spec = Spec(0, 1, 1, 3);
    spec.boundary = Boundary::kInclusive;
    EwmaChart chart(spec);
    Recorder rec;
    ASSERT_TRUE(chart.Add(c.value, 1, At(0), rec).ok());
    EXPECT_EQ(rec.hits.size(), c.fires ? 1u : 0u) << c.value;
  }
}

TEST(EwmaChartTest, SuspectWindowStartsAtTheLastInControlPoint) {
  EwmaChart chart(Spec(0, 1, 0.5, 3));
  Recorder rec;
  ASSERT_TRUE(chart.Add(10, 1, At(10), rec).ok());  // z = 5 > 1.5: no earlier point
  ASSERT_TRUE(chart.Add(-10, 1, At(20), rec).ok());  // z = -2.5 < -3 * sqrt(0.3125) = -1.68
  ASSERT_TRUE(chart.Add(0, 1, At(30), rec).ok());    // z = -1.25: in control
  ASSERT_TRUE(chart.Add(0, 1, At(40), rec).ok());    // z = -0.625: in control
  ASSERT_TRUE(chart.Add(10, 1, At(50), rec).ok());   // z = 4.6875: beyond
  ASSERT_TRUE(chart.Add(10, 1, At(60), rec).ok());   // z = 7.34: beyond
  ASSERT_EQ(rec.hits.size(), 4u);
  EXPECT_EQ(rec.hits[0].index, 1);
  EXPECT_EQ(rec.hits[0].window_start, At(10)) << "no earlier point: the point's own time";
  EXPECT_EQ(rec.hits[1].index, 2);
  EXPECT_EQ(rec.hits[1].window_start, At(20)) << "no point was ever in control: the point's own time";
  EXPECT_EQ(rec.hits[2].index, 5);
  EXPECT_EQ(rec.hits[2].window_start, At(40));
  EXPECT_EQ(rec.hits[3].index, 6);
  EXPECT_EQ(rec.hits[3].window_start, At(40));
  EXPECT_EQ(rec.hits[3].first, 6);
  EXPECT_EQ(rec.hits[3].last, 6);
  EXPECT_EQ(rec.hits[3].ts, At(60));
  EXPECT_DOUBLE_EQ(rec.hits[3].value, rec.points[5].value);
}

// ---- errors ----

TEST(EwmaChartSpecTest, ValidateNamesTheOffendingValue) {
  struct Case {
    EwmaChartSpec spec;
    const char* fragment;
  };
  EwmaChartSpec lambda_high = Spec(0, 1, 1.2, 3);
  EwmaChartSpec lambda_zero = Spec(0, 1, 0, 3);
  EwmaChartSpec lambda_nan = Spec(0, 1, std::nan(""), 3);
  EwmaChartSpec k_zero = Spec(0, 1, 0.2, 0);
  EwmaChartSpec sigma_neg = Spec(0, -2, 0.2, 3);
  EwmaChartSpec sigma_zero = Spec(0, 0, 0.2, 3);
  EwmaChartSpec centre_inf = Spec(std::numeric_limits<double>::infinity(), 1, 0.2, 3);
  EwmaChartSpec start_nan = Spec(0, 1, 0.2, 3);
  start_nan.start = std::nan("");
  const Case cases[] = {
      {lambda_high, "lambda must be in (0, 1], found 1.2"},
      {lambda_zero, "lambda must be in (0, 1], found 0"},
      {lambda_nan, "lambda must be in (0, 1], found nan"},
      {k_zero, "k_sigma must be > 0, found 0"},
      {sigma_neg, "sigma must be > 0, found -2"},
      {sigma_zero, "sigma must be > 0, found 0"},
      {centre_inf, "centre must be a finite number, found inf"},
      {start_nan, "start must be a finite number, found nan"},
  };
  for (const auto& c : cases) {
    Status st = c.spec.Validate();
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << c.fragment;
    EXPECT_NE(st.message().find(c.fragment), std::string::npos) << st.message();
  }
  EXPECT_TRUE(Spec(0, 1, 1, 3).Validate().ok()) << "lambda = 1 is allowed";
}

TEST(EwmaChartTest, AddRejectsBadInputAndChangesNothing) {
  EwmaChart chart(Spec(0, 1, 0.2, 3));
  Recorder rec;
  ASSERT_TRUE(chart.Add(1, 1, At(0), rec).ok());
  const double z = chart.value();
  const double s = chart.point_sigma();

  Status st = chart.Add(1, 0, At(1), rec);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("sample size must be >= 1, found 0"), std::string::npos) << st.message();
  st = chart.Add(std::nan(""), 1, At(1), rec);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("statistic must be a finite number, found nan"), std::string::npos) << st.message();

  EXPECT_EQ(rec.points.size(), 1u);
  EXPECT_EQ(chart.points(), 1);
  EXPECT_DOUBLE_EQ(chart.value(), z);
  EXPECT_DOUBLE_EQ(chart.point_sigma(), s);
  ASSERT_TRUE(chart.Add(1, 1, At(2), rec).ok());
  EXPECT_EQ(rec.points.back().index, 2) << "a rejected statistic takes no index";
}

}  // namespace
}  // namespace shewhart::rules

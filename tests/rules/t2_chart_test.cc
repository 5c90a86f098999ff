// Over 800 lines, knowingly: the T² chart against the published data sets of ../shared/refdata
// with their published figures, and its failure paths; one suite of one component.
#include "shewhart/rules/t2_chart.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <new>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "../test_util.h"
#include "chart_recorder.h"

// ---------------------------------------------------------------------------------------------
// Allocation counting for AddDoesNotAllocate*. Two counters, because Eigen does not allocate
// through operator new: its dynamic matrices call std::malloc directly (Eigen/src/Core/util/
// Memory.h). So this binary replaces the global operator new (counted) and interposes glibc's
// malloc/calloc/realloc/free (counted, forwarding to glibc's __libc_* entry points, which the
// glibc manual's "Replacing malloc" permits). Both are compiled out under AddressSanitizer,
// which has its own allocator; the tests then skip.
// ---------------------------------------------------------------------------------------------
#if defined(__SANITIZE_ADDRESS__)
#define SHEWHART_T2_COUNT_ALLOCATIONS 0
#else
#define SHEWHART_T2_COUNT_ALLOCATIONS 1
#endif

namespace {
std::atomic<std::uint64_t> g_operator_news{0};
std::atomic<std::uint64_t> g_mallocs{0};
}  // namespace

#if SHEWHART_T2_COUNT_ALLOCATIONS
extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* p, std::size_t size);
void __libc_free(void* p);

void* malloc(std::size_t size) noexcept {
  g_mallocs.fetch_add(1, std::memory_order_relaxed);
  return __libc_malloc(size);
}
void* calloc(std::size_t count, std::size_t size) noexcept {
  g_mallocs.fetch_add(1, std::memory_order_relaxed);
  return __libc_calloc(count, size);
}
void* realloc(void* p, std::size_t size) noexcept {
  g_mallocs.fetch_add(1, std::memory_order_relaxed);
  return __libc_realloc(p, size);
}
void free(void* p) noexcept { __libc_free(p); }
}  // extern "C"

void* operator new(std::size_t size) {
  g_operator_news.fetch_add(1, std::memory_order_relaxed);
  if (void* p = __libc_malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return operator new(size); }
void operator delete(void* p) noexcept { __libc_free(p); }
void operator delete[](void* p) noexcept { __libc_free(p); }
void operator delete(void* p, std::size_t) noexcept { __libc_free(p); }
void operator delete[](void* p, std::size_t) noexcept { __libc_free(p); }
#endif

namespace shewhart::rules {
namespace {

using test::Recorder;
using test::At;

// Counts without storing: for the allocation tests.
struct CountingObserver : ChartObserver {
  std::int64_t points = 0, hits = 0;
  double last_value = 0;
  void OnPoint(const ChartPoint& p) override {
    ++points;
    last_value = p.value;
  }
  void OnRuleHit(const RuleHit&) override { ++hits; }
};


bool Contains(const Status& st, const std::string& fragment) {
  return st.message().find(fragment) != std::string::npos;
}

// ---- reference data -------------------------------------------------------------------------

struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<double>> rows;
  int Column(const std::string& name) const {
    for (std::size_t i = 0; i < header.size(); ++i) {
      if (header[i] == name) return static_cast<int>(i);
    }
    ADD_FAILURE() << "no column " << name;
    return 0;
  }
};

// A refdata CSV: `#` comment lines, then a header line, then numeric rows.
Table ReadCsv(const std::string& path) {
  std::ifstream in(path);
  Table t;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    std::stringstream ss(line);
    std::string cell;
    if (t.header.empty()) {
      while (std::getline(ss, cell, ',')) t.header.push_back(cell);
      continue;
    }
    std::vector<double> row;
    while (std::getline(ss, cell, ',')) row.push_back(std::stod(cell));
    t.rows.push_back(row);
  }
  return t;
}

using Observation = std::vector<double>;
using Subgroup = std::vector<Observation>;

// ryan_multivar.csv: one row per subgroup; column Xv_j is variable v of observation j.
std::vector<Subgroup> RyanSubgroups(const std::string& dir) {
  Table t = ReadCsv(dir + "/ryan_multivar.csv");
  std::vector<Subgroup> out;
  for (const auto& row : t.rows) {
    Subgroup s;
    for (int j = 1; j <= 4; ++j) {
      s.push_back({row[static_cast<std::size_t>(t.Column("X1_" + std::to_string(j)))],
                   row[static_cast<std::size_t>(t.Column("X2_" + std::to_string(j)))]});
    }
    out.push_back(s);
  }
  return out;
}

// boiler.csv: one row per observation, columns t1..t8.
std::vector<Observation> BoilerObservations(const std::string& dir) {
  Table t = ReadCsv(dir + "/boiler.csv");
  std::vector<Observation> out;
  for (const auto& row : t.rows) {
    Observation o;
    for (int v = 1; v <= 8; ++v) {
      // Appending (not "t" + to_string) avoids g++ 12's false -Wrestrict on operator+(const char*, string&&).
      std::string name = "t";
      name += std::to_string(v);
      o.push_back(row[static_cast<std::size_t>(t.Column(name))]);
    }
    out.push_back(o);
  }
  return out;
}

void AddSubgroup(T2Chart& chart, const Subgroup& s, int ts, ChartObserver& observer) {
  for (const auto& x : s) ASSERT_TRUE(chart.Add(x, At(ts), observer).ok());
}

// qcc 3.0, tests/testthat/_snaps/spc.t2.md (github luca-scr/qcc @ f025f3dbd840d87979032652abc53974874b3d5b):
// stats.T2(RyanMultivar)$statistics. (multivariate_expected.md gives the same values to 3
// decimals, recomputed.)
const double kRyanQccT2[20] = {2.2416049, 0.6526961, 1.2721838, 0.2201051, 1.5279379, 8.9818106, 1.3202064,
                               3.7735512, 4.9485068, 63.7604214, 6.5509515, 1.3673783, 1.3632266, 3.2560891,
                               7.4098614, 2.7638358, 0.1242926, 1.3265434, 3.5038558, 13.0376172};
// Same file: stats.T2(RyanMultivar, center = c(65, 20), cov = matrix(c(200, 105, 105, 59), 2)).
const double kRyanKnownQccT2[20] = {0.8851613, 3.2632258, 3.8064516, 0.1729032, 9.4029032, 6.8145161, 1.6980645,
                                    2.9964516, 6.1545161, 191.6532258, 21.4516129, 0.3432258, 0.3545161, 3.4245161,
                                    9.8064516, 2.8545161, 2.2029032, 0.2890323, 4.0206452, 45.1612903};
// qcc 3.0, tests/testthat/_snaps/spc.t2single.md (@ 0737300f62662d0b3ca4b1052af6ff24d6159705):
// stats.T2.single(boiler)$statistics.
const double kBoilerQccT2[25] = {13.963962, 9.779084, 5.472671, 14.740980, 6.575786, 5.305689, 7.885241,
                                 9.775744,  17.575293, 2.790673, 3.288861, 3.633027, 1.316342, 9.553244,
                                 7.074224,  6.519739, 4.771892, 8.743873, 9.835645, 8.636003, 12.580375,
                                 2.794043,  6.088049, 7.982572, 5.316986};

// Closed forms for two variables, independent of Boost.Math: Beta(1, b) has quantile
// 1 - (1-q)^(1/b), F(2, d) has quantile (d/2)((1-q)^(-2/d) - 1), chi-square(2) has -2 ln(1-q).
double Beta1Quantile(double b, double q) { return 1 - std::pow(1 - q, 1 / b); }
double F2Quantile(double d, double q) { return d / 2 * (std::pow(1 - q, -2 / d) - 1); }
double ChiSquare2Quantile(double q) { return -2 * std::log(1 - q); }

T2ChartSpec RyanSpec() {
  T2ChartSpec s;
  s.variables = 2;
  s.subgroup_size = 4;
  s.phase1_subgroups = 20;
  return s;
}

T2ChartSpec BoilerSpec() {
  T2ChartSpec s;
  s.variables = 8;
  s.subgroup_size = 1;
  s.phase1_subgroups = 25;
  s.confidence = 0.999;
  return s;
}

// Known centre 0 and identity covariance for p = 2: T^2 = n |xbar|^2.
T2ChartSpec Identity(int n = 1, std::optional<double> ucl = 4.0, Boundary b = Boundary::kStrict) {
  T2ChartSpec s;
  s.mode = T2ChartSpec::LimitMode::kKnown;
  s.variables = 2;
  s.subgroup_size = n;
  s.center = {0, 0};
  s.covariance = {1, 0, 0, 1};
  s.explicit_ucl = ucl;
  s.boundary = b;
  return s;
}

// ---- limits ---------------------------------------------------------------------------------

TEST(T2LimitsTest, ReproduceQccForSubgroupsAndIndividuals) {
  // multivariate_expected.md: ryan UCL 11.03976, UPL 12.20184; boiler UCL 17.41705, UPL 70.02943.
  Result<T2ChartLimits> ryan = ComputeT2Limits(RyanSpec());
  ASSERT_TRUE(ryan.ok()) << ryan.status().ToString();
  ASSERT_TRUE(ryan->phase1.has_value());
  EXPECT_NEAR(ryan->phase1->ucl, 11.03976, 5e-6);
  EXPECT_NEAR(ryan->phase2.ucl, 12.20184, 5e-6);
  Result<T2ChartLimits> boiler = ComputeT2Limits(BoilerSpec());
  ASSERT_TRUE(boiler.ok()) << boiler.status().ToString();
  EXPECT_NEAR(boiler->phase1->ucl, 17.41705, 5e-6);
  EXPECT_NEAR(boiler->phase2.ucl, 70.02943, 5e-6);
}

TEST(T2LimitsTest, DefaultConfidenceIsQccs) {
  EXPECT_NEAR(DefaultT2Confidence(2), 0.99460729, 5e-9);  // multivariate_expected.md
  EXPECT_DOUBLE_EQ(RyanSpec().ConfidenceLevel(), std::pow(0.9973, 2));
  EXPECT_DOUBLE_EQ(BoilerSpec().ConfidenceLevel(), 0.999);
}

// For p = 2 every limit has a closed form; checks the formulas, the Boost.Math quantiles and
// that cl is the median (the same formula at 0.5).
TEST(T2LimitsTest, TwoVariablesMatchClosedForms) {
  const double q = DefaultT2Confidence(2);
  {  // subgroups: m = 20, n = 4, df2 = mn - m - p + 1 = 59
    Result<T2ChartLimits> l = ComputeT2Limits(RyanSpec());
    ASSERT_TRUE(l.ok());
    const double m = 20, n = 4, p = 2, df2 = m * n - m - p + 1;
    EXPECT_NEAR(l->phase1->ucl, p * (m - 1) * (n - 1) / df2 * F2Quantile(df2, q), 1e-9);
    EXPECT_NEAR(l->phase1->cl, p * (m - 1) * (n - 1) / df2 * F2Quantile(df2, 0.5), 1e-9);
    EXPECT_NEAR(l->phase2.ucl, p * (m + 1) * (n - 1) / df2 * F2Quantile(df2, q), 1e-9);
    EXPECT_NEAR(l->phase2.cl, p * (m + 1) * (n - 1) / df2 * F2Quantile(df2, 0.5), 1e-9);
  }
  {  // individuals: m = 30, Beta(1, (m-3)/2) and F(2, m-2)
    T2ChartSpec s;
    s.variables = 2;
    s.phase1_subgroups = 30;
    Result<T2ChartLimits> l = ComputeT2Limits(s);
    ASSERT_TRUE(l.ok());
    const double m = 30, p = 2;
    EXPECT_NEAR(l->phase1->ucl, (m - 1) * (m - 1) / m * Beta1Quantile((m - p - 1) / 2, q), 1e-9);
    EXPECT_NEAR(l->phase1->cl, (m - 1) * (m - 1) / m * Beta1Quantile((m - p - 1) / 2, 0.5), 1e-9);
    EXPECT_NEAR(l->phase2.ucl, p * (m + 1) * (m - 1) / (m * m - m * p) * F2Quantile(m - p, q), 1e-9);
    EXPECT_NEAR(l->phase2.cl, p * (m + 1) * (m - 1) / (m * m - m * p) * F2Quantile(m - p, 0.5), 1e-9);
  }
  {  // exact parameters: chi-square(2)
    T2ChartSpec s = Identity(1, std::nullopt);
    Result<T2ChartLimits> l = ComputeT2Limits(s);
    ASSERT_TRUE(l.ok());
    EXPECT_FALSE(l->phase1.has_value());
    EXPECT_NEAR(l->phase2.ucl, ChiSquare2Quantile(q), 1e-9);
    EXPECT_NEAR(l->phase2.cl, ChiSquare2Quantile(0.5), 1e-9);
  }
}

TEST(T2LimitsTest, KnownFromSubgroupsUsesThePredictionLimit) {
  T2ChartSpec s = Identity(4, std::nullopt);
  s.known_from_subgroups = 20;
  Result<T2ChartLimits> l = ComputeT2Limits(s);
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_NEAR(l->phase2.ucl, 12.20184, 5e-6) << "qcc's UPL for m = 20, n = 4, p = 2";
}

// ---- published data -------------------------------------------------------------------------

TEST(T2ChartTest, RyanSubgroupsPhaseOneMatchesQcc) {
  const std::string dir = testing::RefdataDir();
  if (dir.empty()) GTEST_SKIP() << "../shared/refdata is absent (set SHEWHART_REFDATA): published-data test skipped";
  std::vector<Subgroup> data = RyanSubgroups(dir);
  ASSERT_EQ(data.size(), 20u);
  T2ChartSpec spec = RyanSpec();
  ASSERT_TRUE(spec.Validate().ok()) << spec.Validate().ToString();
  T2Chart chart(spec);
  Recorder rec;
  for (std::size_t i = 0; i < data.size(); ++i) AddSubgroup(chart, data[i], static_cast<int>(i), rec);
  ASSERT_TRUE(chart.limits_ready());
  EXPECT_EQ(chart.observations(), 80);
  EXPECT_EQ(chart.subgroups(), 20);

  // multivariate_expected.md
  ASSERT_EQ(chart.center().size(), 2u);
  EXPECT_NEAR(chart.center()[0], 60.3750, 1e-9);
  EXPECT_NEAR(chart.center()[1], 18.4875, 1e-9);
  ASSERT_EQ(chart.covariance().size(), 4u);
  EXPECT_NEAR(chart.covariance()[0], 222.0333, 5e-5);
  EXPECT_NEAR(chart.covariance()[1], 103.11667, 5e-6);
  EXPECT_NEAR(chart.covariance()[2], 103.11667, 5e-6);
  EXPECT_NEAR(chart.covariance()[3], 56.57917, 5e-6);
  EXPECT_NEAR(chart.covariance_determinant(), 1929.414, 5e-4);
  EXPECT_NEAR(chart.limits().phase1->ucl, 11.03976, 5e-6);

  ASSERT_EQ(rec.points.size(), 20u);
  for (std::size_t i = 0; i < rec.points.size(); ++i) {
    const ChartPoint& pt = rec.points[i];
    EXPECT_EQ(pt.chart, ChartKind::kT2);
    EXPECT_EQ(pt.phase, Phase::kOne);
    EXPECT_EQ(pt.index, static_cast<std::int64_t>(i) + 1);
    EXPECT_EQ(pt.ts, At(static_cast<int>(i)));
    EXPECT_EQ(pt.n, 4);
    EXPECT_NEAR(pt.value, kRyanQccT2[i], 1e-6) << "subgroup " << i + 1;
    EXPECT_EQ(pt.ucl, chart.limits().phase1->ucl);
    EXPECT_EQ(pt.cl, chart.limits().phase1->cl);
    EXPECT_EQ(pt.lcl, 0.0);
  }
  // Ryan (2011): subgroups 10 and 20 are out of control, and only they.
  ASSERT_EQ(rec.hits.size(), 2u);
  EXPECT_EQ(rec.hits[0].rule, RuleKind::kNelson1);
  EXPECT_EQ(rec.hits[0].chart, ChartKind::kT2);
  EXPECT_EQ(rec.hits[0].index, 10);
  EXPECT_EQ(rec.hits[0].first, 10);
  EXPECT_EQ(rec.hits[0].last, 10);
  EXPECT_EQ(rec.hits[0].window_start, At(8)) << "subgroup 9 (ts 8) was the last in control";
  EXPECT_NEAR(rec.hits[0].value, kRyanQccT2[9], 1e-6);
  EXPECT_EQ(rec.hits[1].index, 20);
  EXPECT_EQ(rec.hits[1].window_start, At(18));
}

TEST(T2ChartTest, RyanPhaseTwoJudgesAgainstThePredictionLimit) {
  const std::string dir = testing::RefdataDir();
  if (dir.empty()) GTEST_SKIP() << "../shared/refdata is absent (set SHEWHART_REFDATA): published-data test skipped";
  std::vector<Subgroup> data = RyanSubgroups(dir);
  ASSERT_EQ(data.size(), 20u);
  T2Chart chart(RyanSpec());
  Recorder rec;
  for (std::size_t i = 0; i < data.size(); ++i) AddSubgroup(chart, data[i], static_cast<int>(i), rec);
  ASSERT_TRUE(chart.limits_ready());
  ASSERT_EQ(rec.points.size(), 20u);
  const double t2_of_20 = rec.points[19].value;
  rec.points.clear();
  rec.hits.clear();

  // Subgroup 1 again: same statistic as in Phase I (the estimates do not move), in control.
  AddSubgroup(chart, data[0], 100, rec);
  // A subgroup whose mean lies on the ray from the centre through subgroup 20's mean, scaled so
  // that T^2 = 11.6: beyond the Phase I UCL 11.03976 but within the Phase II UPL 12.20184.
  const double s = std::sqrt(11.6 / t2_of_20);
  std::vector<double> mean20(2, 0.0);
  for (const auto& x : data[19]) {
    mean20[0] += x[0] / 4;
    mean20[1] += x[1] / 4;
  }
  Observation scaled = {chart.center()[0] + s * (mean20[0] - chart.center()[0]),
                        chart.center()[1] + s * (mean20[1] - chart.center()[1])};
  AddSubgroup(chart, Subgroup(4, scaled), 101, rec);
  // Subgroup 10 again: beyond the UPL.
  AddSubgroup(chart, data[9], 102, rec);

  ASSERT_EQ(rec.points.size(), 3u);
  for (const auto& pt : rec.points) {
    EXPECT_EQ(pt.phase, Phase::kTwo);
    EXPECT_NEAR(pt.ucl, 12.20184, 5e-6);
    EXPECT_EQ(pt.cl, chart.limits().phase2.cl);
  }
  EXPECT_EQ(rec.points[0].index, 21);
  EXPECT_NEAR(rec.points[0].value, kRyanQccT2[0], 1e-6);
  EXPECT_NEAR(rec.points[1].value, 11.6, 1e-9);
  EXPECT_NEAR(rec.points[2].value, kRyanQccT2[9], 1e-6);
  ASSERT_EQ(rec.hits.size(), 1u);
  EXPECT_EQ(rec.hits[0].index, 23);
  EXPECT_EQ(rec.hits[0].window_start, At(101)) << "subgroup 22 was judged in control";
}

TEST(T2ChartTest, BoilerIndividualsPhaseOneMatchesQcc) {
  const std::string dir = testing::RefdataDir();
  if (dir.empty()) GTEST_SKIP() << "../shared/refdata is absent (set SHEWHART_REFDATA): published-data test skipped";
  std::vector<Observation> data = BoilerObservations(dir);
  ASSERT_EQ(data.size(), 25u);
  T2ChartSpec spec = BoilerSpec();
  ASSERT_TRUE(spec.Validate().ok()) << spec.Validate().ToString();
  T2Chart chart(spec);
  Recorder rec;
  for (std::size_t i = 0; i < data.size(); ++i) ASSERT_TRUE(chart.Add(data[i], At(static_cast<int>(i)), rec).ok());
  ASSERT_TRUE(chart.limits_ready());

  // multivariate_expected.md (qcc 3.0 vignette output).
  const double centre[8] = {525.00, 513.56, 538.92, 521.68, 503.80, 512.44, 478.72, 477.24};
  const double cov[8][8] = {
      {54.0000000, 0.9583333, 20.583333, 31.2916667, 20.3333333, -2.2916667, 20.3750000, 0.2083333},
      {0.9583333, 4.8400000, 2.963333, 2.6866667, 0.3250000, 3.0766667, 0.7050000, 3.4433333},
      {20.5833333, 2.9633333, 22.993333, 10.0566667, 4.9833333, 2.0366667, 6.4766667, 2.7700000},
      {31.2916667, 2.6866667, 10.056667, 22.3100000, 13.5583333, -2.2700000, 12.6983333, 0.1633333},
      {20.3333333, 0.3250000, 4.983333, 13.5583333, 11.4166667, -1.6583333, 10.6500000, -0.2833333},
      {-2.2916667, 3.0766667, 2.036667, -2.2700000, -1.6583333, 4.5066667, -0.7466667, 3.7233333},
      {20.3750000, 0.7050000, 6.476667, 12.6983333, 10.6500000, -0.7466667, 11.6266667, 0.5283333},
      {0.2083333, 3.4433333, 2.770000, 0.1633333, -0.2833333, 3.7233333, 0.5283333, 3.8566667}};
  ASSERT_EQ(chart.center().size(), 8u);
  ASSERT_EQ(chart.covariance().size(), 64u);
  for (int i = 0; i < 8; ++i) {
    EXPECT_NEAR(chart.center()[static_cast<std::size_t>(i)], centre[i], 1e-9) << i;
    for (int j = 0; j < 8; ++j) {
      EXPECT_NEAR(chart.covariance()[static_cast<std::size_t>(i * 8 + j)], cov[i][j], 1e-6) << i << "," << j;
    }
  }
  EXPECT_NEAR(chart.covariance_determinant(), 8313.241, 5e-4);
  EXPECT_NEAR(chart.limits().phase1->ucl, 17.41705, 5e-6);
  EXPECT_NEAR(chart.limits().phase2.ucl, 70.02943, 5e-6);

  ASSERT_EQ(rec.points.size(), 25u);
  std::vector<std::int64_t> beyond;
  for (std::size_t i = 0; i < rec.points.size(); ++i) {
    EXPECT_EQ(rec.points[i].phase, Phase::kOne);
    EXPECT_EQ(rec.points[i].n, 1);
    EXPECT_NEAR(rec.points[i].value, kBoilerQccT2[i], 1e-5) << "observation " << i + 1;
    if (kBoilerQccT2[i] > 17.41705) beyond.push_back(static_cast<std::int64_t>(i) + 1);
  }
  ASSERT_EQ(beyond.size(), 1u) << "qcc's statistics put one observation above its UCL";
  ASSERT_EQ(rec.hits.size(), beyond.size());
  EXPECT_EQ(rec.hits[0].index, beyond[0]);
  EXPECT_EQ(rec.hits[0].window_start, At(static_cast<int>(beyond[0]) - 2));

  // Phase II: the first observation again, judged against the UPL.
  ASSERT_TRUE(chart.Add(data[0], At(50), rec).ok());
  EXPECT_EQ(rec.points.back().phase, Phase::kTwo);
  EXPECT_EQ(rec.points.back().index, 26);
  EXPECT_NEAR(rec.points.back().value, kBoilerQccT2[0], 1e-5);
  EXPECT_NEAR(rec.points.back().ucl, 70.02943, 5e-6);
}

TEST(T2ChartTest, KnownCentreAndCovarianceReproduceQccStatistics) {
  const std::string dir = testing::RefdataDir();
  if (dir.empty()) GTEST_SKIP() << "../shared/refdata is absent (set SHEWHART_REFDATA): published-data test skipped";
  std::vector<Subgroup> data = RyanSubgroups(dir);
  ASSERT_EQ(data.size(), 20u);
  T2ChartSpec spec;
  spec.mode = T2ChartSpec::LimitMode::kKnown;
  spec.variables = 2;
  spec.subgroup_size = 4;
  spec.center = {65, 20};
  spec.covariance = {200, 105, 105, 59};
  ASSERT_TRUE(spec.Validate().ok()) << spec.Validate().ToString();
  T2Chart chart(spec);
  EXPECT_TRUE(chart.limits_ready());
  EXPECT_NEAR(chart.covariance_determinant(), 200.0 * 59 - 105.0 * 105, 1e-9);
  Recorder rec;
  for (std::size_t i = 0; i < data.size(); ++i) AddSubgroup(chart, data[i], static_cast<int>(i), rec);
  ASSERT_EQ(rec.points.size(), 20u);
  const double ucl = ChiSquare2Quantile(DefaultT2Confidence(2));
  std::vector<std::int64_t> want_hits;
  for (std::size_t i = 0; i < 20; ++i) {
    EXPECT_EQ(rec.points[i].phase, Phase::kTwo);
    EXPECT_NEAR(rec.points[i].value, kRyanKnownQccT2[i], 1e-6) << "subgroup " << i + 1;
    EXPECT_NEAR(rec.points[i].ucl, ucl, 1e-9);
    EXPECT_NEAR(rec.points[i].cl, ChiSquare2Quantile(0.5), 1e-9);
    if (kRyanKnownQccT2[i] > ucl) want_hits.push_back(static_cast<std::int64_t>(i) + 1);
  }
  ASSERT_FALSE(want_hits.empty());
  ASSERT_EQ(rec.hits.size(), want_hits.size());
  for (std::size_t i = 0; i < want_hits.size(); ++i) EXPECT_EQ(rec.hits[i].index, want_hits[i]);
}

// ---- flow -----------------------------------------------------------------------------------

TEST(T2ChartTest, NothingIsPlottedBeforeTheBaselineCompletes) {
  T2ChartSpec spec;
  spec.variables = 2;
  spec.phase1_subgroups = 5;
  ASSERT_TRUE(spec.Validate().ok()) << spec.Validate().ToString();
  T2Chart chart(spec);
  Recorder rec;
  const double xs[6][2] = {{1, 2}, {2, 1}, {3, 5}, {4, 3}, {2, 2}, {3, 3}};
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(chart.Add(xs[i], At(i), rec).ok());
  EXPECT_TRUE(rec.points.empty());
  EXPECT_FALSE(chart.limits_ready());
  EXPECT_TRUE(chart.center().empty());
  EXPECT_TRUE(chart.covariance().empty());
  ASSERT_TRUE(chart.Add(xs[4], At(4), rec).ok());
  ASSERT_EQ(rec.points.size(), 5u);
  for (const auto& p : rec.points) EXPECT_EQ(p.phase, Phase::kOne);
  ASSERT_TRUE(chart.Add(xs[5], At(5), rec).ok());
  ASSERT_EQ(rec.points.size(), 6u);
  EXPECT_EQ(rec.points.back().phase, Phase::kTwo);
  EXPECT_EQ(rec.points.back().index, 6);
  EXPECT_EQ(rec.points.back().ucl, chart.limits().phase2.ucl);
}

TEST(T2ChartTest, SubgroupPointCarriesItsLastObservationTime) {
  T2Chart chart(Identity(3, 100.0));
  Recorder rec;
  ASSERT_TRUE(chart.Add(std::vector<double>{1, 0}, At(1), rec).ok());
  ASSERT_TRUE(chart.Add(std::vector<double>{2, 0}, At(2), rec).ok());
  EXPECT_TRUE(rec.points.empty());
  ASSERT_TRUE(chart.Add(std::vector<double>{3, 0}, At(3), rec).ok());
  ASSERT_EQ(rec.points.size(), 1u);
  EXPECT_EQ(rec.points[0].index, 1);
  EXPECT_EQ(rec.points[0].ts, At(3));
  EXPECT_EQ(rec.points[0].n, 3);
  EXPECT_DOUBLE_EQ(rec.points[0].value, 3 * 2.0 * 2.0) << "n |mean|^2 with mean (2, 0)";
  ASSERT_TRUE(chart.Add(std::vector<double>{0, 1}, At(4), rec).ok());
  ASSERT_TRUE(chart.Add(std::vector<double>{0, 1}, At(5), rec).ok());
  ASSERT_TRUE(chart.Add(std::vector<double>{0, 4}, At(6), rec).ok());
  ASSERT_EQ(rec.points.size(), 2u);
  EXPECT_EQ(rec.points[1].index, 2);
  EXPECT_DOUBLE_EQ(rec.points[1].value, 3 * 2.0 * 2.0) << "a fresh subgroup: mean (0, 2)";
  EXPECT_EQ(chart.observations(), 6);
  EXPECT_EQ(chart.subgroups(), 2);
}

TEST(T2ChartTest, NelsonOneStrictBoundaryFiresOnlyAboveTheLimit) {
  // Identity covariance, centre 0, UCL 4: x = (2, 0) gives T^2 = 4 exactly.
  struct Case {
    double x0;
    bool fires;
  } cases[] = {{2.0, false}, {std::nextafter(2.0, 0.0), false}, {std::nextafter(2.0, 3.0), true}, {0.0, false}};
  for (const auto& c : cases) {
    T2Chart chart(Identity(1, 4.0, Boundary::kStrict));
    Recorder rec;
    ASSERT_TRUE(chart.Add(std::vector<double>{c.x0, 0}, At(0), rec).ok());
    ASSERT_EQ(rec.points.size(), 1u);
    EXPECT_EQ(rec.hits.size(), c.fires ? 1u : 0u) << c.x0 << " T2 " << rec.points[0].value;
  }
}

TEST(T2ChartTest, NelsonOneInclusiveBoundaryFiresOnTheLimitButNeverAtZero) {
  struct Case {
    double x0;
    bool fires;
  } cases[] = {{2.0, true}, {std::nextafter(2.0, 0.0), false}, {0.0, false}};
  for (const auto& c : cases) {
    T2Chart chart(Identity(1, 4.0, Boundary::kInclusive));
    Recorder rec;
    ASSERT_TRUE(chart.Add(std::vector<double>{c.x0, 0}, At(0), rec).ok());
    EXPECT_EQ(rec.hits.size(), c.fires ? 1u : 0u) << c.x0;
  }
}

TEST(T2ChartTest, NelsonOneCanBeTurnedOff) {
  T2ChartSpec spec = Identity(1, 4.0);
  spec.nelson1 = false;
  T2Chart chart(spec);
  Recorder rec;
  ASSERT_TRUE(chart.Add(std::vector<double>{5, 5}, At(0), rec).ok());
  EXPECT_EQ(rec.points.size(), 1u);
  EXPECT_TRUE(rec.hits.empty());
}

TEST(T2ChartTest, SuspectWindowStartsAtLastInControlPoint) {
  T2Chart chart(Identity(1, 4.0));
  Recorder rec;
  ASSERT_TRUE(chart.Add(std::vector<double>{0.1, 0}, At(10), rec).ok());
  ASSERT_TRUE(chart.Add(std::vector<double>{0.2, 0}, At(20), rec).ok());
  ASSERT_TRUE(chart.Add(std::vector<double>{5.0, 0}, At(30), rec).ok());
  ASSERT_TRUE(chart.Add(std::vector<double>{0, 6.0}, At(40), rec).ok());
  ASSERT_EQ(rec.hits.size(), 2u);
  EXPECT_EQ(rec.hits[0].index, 3);
  EXPECT_EQ(rec.hits[0].window_start, At(20));
  EXPECT_EQ(rec.hits[1].index, 4);
  EXPECT_EQ(rec.hits[1].window_start, At(20)) << "the last in-control point is still t=20";
}

TEST(T2ChartTest, FirstPointBeyondHasItsOwnTimeAsWindowStart) {
  T2Chart chart(Identity(1, 4.0));
  Recorder rec;
  ASSERT_TRUE(chart.Add(std::vector<double>{3, 0}, At(7), rec).ok());
  ASSERT_EQ(rec.hits.size(), 1u);
  EXPECT_EQ(rec.hits[0].window_start, At(7));
}

// ---- errors ---------------------------------------------------------------------------------

TEST(T2ChartTest, AddRejectsAWrongSizedOrNonFiniteObservationAndKeepsTheSubgroup) {
  T2Chart chart(Identity(2, 100.0));
  Recorder rec;
  ASSERT_TRUE(chart.Add(std::vector<double>{1, 0}, At(1), rec).ok());

  Status st = chart.Add(std::vector<double>{1, 2, 3}, At(2), rec);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(st, "observation has 3 values, expected variables = 2")) << st.message();

  st = chart.Add(std::vector<double>{1, std::nan("")}, At(3), rec);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(st, "observation value [1] is not a finite number")) << st.message();

  st = chart.Add(std::vector<double>{INFINITY, 0}, At(4), rec);
  EXPECT_TRUE(Contains(st, "observation value [0] is not a finite number: inf")) << st.message();

  EXPECT_TRUE(rec.points.empty());
  EXPECT_EQ(chart.observations(), 1) << "rejected observations are not counted";
  ASSERT_TRUE(chart.Add(std::vector<double>{3, 0}, At(5), rec).ok());
  ASSERT_EQ(rec.points.size(), 1u);
  EXPECT_DOUBLE_EQ(rec.points[0].value, 2 * 2.0 * 2.0) << "the subgroup is (1,0), (3,0): mean (2, 0)";
  EXPECT_EQ(rec.points[0].ts, At(5));
}

TEST(T2ChartTest, SingularPhaseOneCovarianceDiscardsTheBaseline) {
  T2ChartSpec spec;
  spec.variables = 2;
  spec.phase1_subgroups = 5;
  T2Chart chart(spec);
  Recorder rec;
  // x2 = 2 x1 + 1 exactly: S is singular.
  for (int i = 0; i < 4; ++i) {
    const double x1 = i * 1.5;
    ASSERT_TRUE(chart.Add(std::vector<double>{x1, 2 * x1 + 1}, At(i), rec).ok());
  }
  Status st = chart.Add(std::vector<double>{7.0, 15.0}, At(4), rec);
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Contains(st, "Phase I covariance of subgroups 1..5 is singular")) << st.message();
  EXPECT_TRUE(Contains(st, "variable index 1 is a linear combination of variables 0..0")) << st.message();
  EXPECT_TRUE(Contains(st, "the baseline is discarded")) << st.message();
  EXPECT_TRUE(rec.points.empty());
  EXPECT_FALSE(chart.limits_ready());

  // A new baseline starts with the next observation; its points keep counting subgroups.
  const double good[5][2] = {{1, 2}, {2, 1}, {3, 5}, {4, 3}, {2, 2}};
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(chart.Add(good[i], At(10 + i), rec).ok());
  ASSERT_TRUE(chart.limits_ready());
  ASSERT_EQ(rec.points.size(), 5u);
  EXPECT_EQ(rec.points.front().index, 6);
  EXPECT_EQ(rec.points.back().index, 10);
}

TEST(T2ChartTest, ConstantVariableInSubgroupBaselineIsReported) {
  T2ChartSpec spec;
  spec.variables = 2;
  spec.subgroup_size = 3;
  spec.phase1_subgroups = 2;
  ASSERT_TRUE(spec.Validate().ok()) << spec.Validate().ToString();
  T2Chart chart(spec);
  Recorder rec;
  Status st;
  for (int i = 0; i < 6; ++i) st = chart.Add(std::vector<double>{static_cast<double>(i % 4), 3.0}, At(i), rec);
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Contains(st, "variable index 1 has variance 0")) << st.message();
  EXPECT_TRUE(rec.points.empty());
}

TEST(T2ChartSpecTest, ValidateNamesTheOffendingValue) {
  struct Case {
    T2ChartSpec spec;
    std::string fragment;
  };
  std::vector<Case> cases;
  auto add = [&](auto edit, std::string fragment) {
    T2ChartSpec s;
    edit(s);
    cases.push_back({s, std::move(fragment)});
  };
  add([](T2ChartSpec& s) { s.variables = 1; }, "variables must be in 2..32, found 1");
  add([](T2ChartSpec& s) { s.variables = 33; s.phase1_subgroups = 50; }, "variables must be in 2..32, found 33");
  add([](T2ChartSpec& s) { s.subgroup_size = 0; }, "subgroup_size must be >= 1, found 0");
  add([](T2ChartSpec& s) { s.variables = 8; s.phase1_subgroups = 9; },
      "phase1_subgroups must be >= variables + 2 = 10 for individual observations");
  add([](T2ChartSpec& s) { s.variables = 8; s.phase1_subgroups = 9; }, "found 9");
  add([](T2ChartSpec& s) { s.variables = 8; s.subgroup_size = 2; s.phase1_subgroups = 7; },
      "phase1_subgroups * (subgroup_size - 1) must be >= variables = 8");
  add([](T2ChartSpec& s) { s.variables = 8; s.subgroup_size = 2; s.phase1_subgroups = 7; }, "found 7 * 1 = 7");
  add([](T2ChartSpec& s) { s.subgroup_size = 5; s.phase1_subgroups = 1; }, "phase1_subgroups must be >= 2, found 1");
  add([](T2ChartSpec& s) { s.phase1_subgroups = kT2MaxPhase1Subgroups + 1; },
      "phase1_subgroups must be <= 1000000, found 1000001");
  add([](T2ChartSpec& s) { s.confidence = 1.0; }, "confidence must be in (0, 1), found 1");
  add([](T2ChartSpec& s) { s.confidence = 0.0; }, "confidence must be in (0, 1), found 0");
  add([](T2ChartSpec& s) { s.confidence = std::nan(""); }, "confidence must be in (0, 1), found nan");
  add([](T2ChartSpec& s) { s.center = {1, 2}; }, "center is set but mode is phase1");
  add([](T2ChartSpec& s) { s.explicit_ucl = 3.0; }, "explicit_ucl is set (3) but mode is phase1");
  for (const auto& c : cases) {
    Status st = c.spec.Validate();
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << c.fragment;
    EXPECT_TRUE(Contains(st, c.fragment)) << "want \"" << c.fragment << "\", got \"" << st.message() << "\"";
  }
  // The boundaries themselves are valid.
  T2ChartSpec ok;
  ok.variables = 8;
  ok.phase1_subgroups = 10;
  EXPECT_TRUE(ok.Validate().ok()) << ok.Validate().ToString();
  ok.subgroup_size = 2;
  ok.phase1_subgroups = 8;
  EXPECT_TRUE(ok.Validate().ok()) << ok.Validate().ToString();
  ok.variables = 32;
  ok.subgroup_size = 1;
  ok.phase1_subgroups = 34;
  EXPECT_TRUE(ok.Validate().ok()) << ok.Validate().ToString();
}

TEST(T2ChartSpecTest, ValidateChecksAKnownCovariance) {
  struct Case {
    std::vector<double> center, covariance;
    std::string fragment;
  } cases[] = {
      {{0, 0}, {1, 2, 2, 4}, "covariance is not positive definite: variable index 1 is a linear combination of "
                             "variables 0..0"},
      {{0, 0}, {1, 2, 2, 1}, "of its variance 1, -3 is left unexplained"},
      {{0, 0}, {1, 0.5, 0.4, 1}, "covariance is not symmetric: [1][0] = 0.4 but [0][1] = 0.5"},
      {{0, 0}, {-1, 0, 0, 1}, "covariance[0][0] (a variance) must be > 0, found -1"},
      {{0, 0}, {1, 0, 0, 1, 0}, "covariance has 5 values, expected variables^2 = 4"},
      {{0, 0, 0}, {1, 0, 0, 1}, "center has 3 values, expected variables = 2"},
      {{0, INFINITY}, {1, 0, 0, 1}, "center[1] is not a finite number"},
      {{0, 0}, {1, std::nan(""), std::nan(""), 1}, "covariance[0][1] is not a finite number"},
  };
  for (const auto& c : cases) {
    T2ChartSpec s;
    s.mode = T2ChartSpec::LimitMode::kKnown;
    s.center = c.center;
    s.covariance = c.covariance;
    Status st = s.Validate();
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << c.fragment;
    EXPECT_TRUE(Contains(st, c.fragment)) << "want \"" << c.fragment << "\", got \"" << st.message() << "\"";
  }
}

TEST(T2ChartSpecTest, ValidateChecksKnownLimitOptions) {
  T2ChartSpec s = Identity(1, std::nullopt);
  s.known_from_subgroups = 2;
  Status st = s.Validate();
  EXPECT_TRUE(Contains(st, "known_from_subgroups must be >= variables + 1 = 3 for individual observations"))
      << st.message();
  s.known_from_subgroups = -1;
  st = s.Validate();
  EXPECT_TRUE(Contains(st, "known_from_subgroups must be >= 0 (0: exact parameters), found -1")) << st.message();
  s.known_from_subgroups = 3;
  EXPECT_TRUE(s.Validate().ok()) << s.Validate().ToString();

  s = Identity(1, -2.0);
  st = s.Validate();
  EXPECT_TRUE(Contains(st, "explicit_ucl must be a finite number > 0, found -2")) << st.message();
  s = Identity(1, 5.0);
  s.known_from_subgroups = 10;
  st = s.Validate();
  EXPECT_TRUE(Contains(st, "explicit_ucl and known_from_subgroups (10) are both set")) << st.message();
}

// ---- allocation -----------------------------------------------------------------------------

struct Counts {
  std::uint64_t news, mallocs;
};
Counts Now() {
  return {g_operator_news.load(std::memory_order_relaxed), g_mallocs.load(std::memory_order_relaxed)};
}

// Feeds `count` observations of p standard-normal-ish variables (correlated through a shared
// term) and returns how many heap allocations the Add() calls made, of each kind.
Counts AllocationsOfAdds(T2Chart& chart, int p, int count, CountingObserver& obs) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> data(static_cast<std::size_t>(p) * static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    const double shared = normal(rng);
    for (int v = 0; v < p; ++v) data[static_cast<std::size_t>(i * p + v)] = 10 * v + shared + normal(rng);
  }
  const Counts before = Now();
  for (int i = 0; i < count; ++i) {
    Status st = chart.Add(std::span<const double>(data.data() + static_cast<std::size_t>(i * p),
                                                  static_cast<std::size_t>(p)),
                          At(i), obs);
    if (!st.ok()) {
      ADD_FAILURE() << st.ToString();
      break;
    }
  }
  const Counts after = Now();
  return {after.news - before.news, after.mallocs - before.mallocs};
}

TEST(T2ChartTest, CountersSeeEigenAndOperatorNew) {
  if (!SHEWHART_T2_COUNT_ALLOCATIONS) GTEST_SKIP() << "allocation counting is off under AddressSanitizer";
  // The counters must be able to fail: a Phase I chart's constructor allocates its buffers
  // with operator new and its Eigen matrices with malloc.
  T2ChartSpec spec;
  spec.variables = 8;
  spec.phase1_subgroups = 25;
  const Counts before = Now();
  T2Chart chart(spec);
  const Counts after = Now();
  EXPECT_GT(after.news - before.news, 0u);
  EXPECT_GT(after.mallocs - before.mallocs, 0u) << "Eigen's mallocs are counted too";
}

TEST(T2ChartTest, AddDoesNotAllocateForIndividuals) {
  if (!SHEWHART_T2_COUNT_ALLOCATIONS) GTEST_SKIP() << "allocation counting is off under AddressSanitizer";
  T2ChartSpec spec;
  spec.variables = 8;
  spec.phase1_subgroups = 25;
  T2Chart chart(spec);
  CountingObserver obs;
  // The baseline (including the Add that completes it: estimation, Cholesky, the
  // retrospective judgement) and 2000 Phase II points.
  Counts c = AllocationsOfAdds(chart, 8, 2025, obs);
  ASSERT_TRUE(chart.limits_ready());
  EXPECT_EQ(obs.points, 2025);
  EXPECT_EQ(c.news, 0u);
  EXPECT_EQ(c.mallocs, 0u);
}

TEST(T2ChartTest, AddDoesNotAllocateForSubgroupsOfThirtyTwoVariables) {
  if (!SHEWHART_T2_COUNT_ALLOCATIONS) GTEST_SKIP() << "allocation counting is off under AddressSanitizer";
  // p = 32 takes Eigen's blocked Cholesky path.
  T2ChartSpec spec;
  spec.variables = 32;
  spec.subgroup_size = 5;
  spec.phase1_subgroups = 20;
  ASSERT_TRUE(spec.Validate().ok()) << spec.Validate().ToString();
  T2Chart chart(spec);
  CountingObserver obs;
  Counts c = AllocationsOfAdds(chart, 32, 5 * 220, obs);
  ASSERT_TRUE(chart.limits_ready());
  EXPECT_EQ(obs.points, 220);
  EXPECT_EQ(c.news, 0u);
  EXPECT_EQ(c.mallocs, 0u);
}

TEST(T2ChartTest, AddDoesNotAllocateWithKnownParameters) {
  if (!SHEWHART_T2_COUNT_ALLOCATIONS) GTEST_SKIP() << "allocation counting is off under AddressSanitizer";
  T2Chart chart(Identity(1, std::nullopt));
  CountingObserver obs;
  Counts c = AllocationsOfAdds(chart, 2, 1000, obs);
  EXPECT_EQ(obs.points, 1000);
  EXPECT_GT(obs.hits, 0) << "the data sit far from centre 0: every point fires, and firing must not allocate either";
  EXPECT_EQ(c.news, 0u);
  EXPECT_EQ(c.mallocs, 0u);
}

}  // namespace
}  // namespace shewhart::rules

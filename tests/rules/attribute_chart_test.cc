#include "shewhart/rules/attribute_chart.h"

#include <gtest/gtest.h>

#include <boost/math/distributions/binomial.hpp>
#include <boost/math/distributions/poisson.hpp>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "../test_util.h"
#include "chart_recorder.h"

namespace shewhart::rules {
namespace {

using test::Recorder;
using test::At;


// R prints 7 significant digits (dropping trailing zeros: 0.215 is 0.2150000): a value matches
// a printed figure when it rounds to it.
::testing::AssertionResult MatchesPrinted(double actual, const std::string& printed) {
  const double p = std::stod(printed);
  if (p == 0) {
    if (actual == 0) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << actual << " is not the printed 0";
  }
  const double tol = 0.5 * std::pow(10.0, std::floor(std::log10(std::fabs(p))) - 6) * (1 + 1e-9);
  if (std::fabs(actual - p) <= tol) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << actual << " does not round to the printed " << printed << " (tolerance "
                                       << tol << ")";
}

// One row of an attribute-data CSV from the reference folder. Columns are found by name in the
// header line that follows the '# source:' line; `sample` is the row number when the file has
// no sample column, `trial` is true when it has no trial column.
struct Row {
  std::int64_t sample = 0;
  std::int64_t count = 0;
  double n = 0;
  bool trial = true;
};

std::vector<std::string> SplitCsv(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream ss(line);
  std::string field;
  while (std::getline(ss, field, ',')) out.push_back(field);
  return out;
}

std::vector<Row> ReadRows(const std::string& path, const std::string& count_column) {
  std::ifstream in(path);
  std::string line;
  std::vector<Row> rows;
  int sample_col = -1, count_col = -1, size_col = -1, trial_col = -1;
  bool header_seen = false;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> f = SplitCsv(line);
    if (!header_seen) {
      for (int i = 0; i < static_cast<int>(f.size()); ++i) {
        if (f[i] == "sample") sample_col = i;
        if (f[i] == count_column) count_col = i;
        if (f[i] == "size") size_col = i;
        if (f[i] == "trial") trial_col = i;
      }
      header_seen = true;
      continue;
    }
    if (count_col < 0 || size_col < 0) break;
    Row r;
    r.sample = sample_col >= 0 ? std::stoll(f[sample_col]) : static_cast<std::int64_t>(rows.size()) + 1;
    r.count = std::stoll(f[count_col]);
    r.n = std::stod(f[size_col]);
    r.trial = trial_col < 0 || f[trial_col] == "TRUE";
    rows.push_back(r);
  }
  return rows;
}

std::vector<Row> Select(const std::vector<Row>& rows, bool trial) {
  std::vector<Row> out;
  for (const auto& r : rows) {
    if (r.trial == trial) out.push_back(r);
  }
  return out;
}

// The chart indexes (1-based positions in `rows`) of the given sample numbers.
std::vector<std::int64_t> PositionsOf(const std::vector<Row>& rows, std::initializer_list<std::int64_t> samples) {
  std::vector<std::int64_t> out;
  for (std::int64_t s : samples) {
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (rows[i].sample == s) out.push_back(static_cast<std::int64_t>(i) + 1);
    }
  }
  return out;
}

AttributeChartSpec Phase1(AttributeChartKind kind, int subgroups) {
  AttributeChartSpec s;
  s.kind = kind;
  s.phase1_subgroups = subgroups;
  return s;
}

AttributeChartSpec Known(AttributeChartKind kind, double center, Boundary b = Boundary::kStrict) {
  AttributeChartSpec s;
  s.kind = kind;
  s.mode = AttributeChartSpec::LimitMode::kKnown;
  s.center = center;
  s.boundary = b;
  return s;
}

// Feeds `rows` to `chart` with event times 0, 1, ... seconds; every subgroup must be accepted.
void Feed(AttributeChart& chart, const std::vector<Row>& rows, Recorder& rec) {
  for (std::size_t i = 0; i < rows.size(); ++i) {
    Status st = chart.Add(rows[i].count, rows[i].n, At(static_cast<int>(i)), rec);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
}

double Statistic(AttributeChartKind kind, const Row& r) {
  const auto c = static_cast<double>(r.count);
  return (kind == AttributeChartKind::kP || kind == AttributeChartKind::kU) ? c / r.n : c;
}

// The chart indexes whose statistic lies strictly beyond the published limits.
std::vector<std::int64_t> BeyondPublished(AttributeChartKind kind, const std::vector<Row>& rows, double lcl,
                                          double ucl) {
  std::vector<std::int64_t> out;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const double v = Statistic(kind, rows[i]);
    if (v > ucl || v < lcl) out.push_back(static_cast<std::int64_t>(i) + 1);
  }
  return out;
}

#define SKIP_WITHOUT_REFDATA(dir)                                                                       \
  const std::string dir = testing::RefdataDir();                                                       \
  if (dir.empty()) GTEST_SKIP() << "../shared/refdata is absent (set SHEWHART_REFDATA): published-data test skipped"

// --- Published figures (qcc 3.0 vignette; refdata/attribute_charts_expected.md) ---------------

TEST(AttributeChartTest, OrangejuicePChartMatchesQcc) {
  SKIP_WITHOUT_REFDATA(dir);
  const std::vector<Row> trial = Select(ReadRows(dir + "/orangejuice.csv", "D"), true);
  ASSERT_EQ(trial.size(), 30u);
  AttributeChartSpec spec = Phase1(AttributeChartKind::kP, 30);
  ASSERT_TRUE(spec.Validate().ok());
  AttributeChart chart(spec);
  Recorder rec;
  Feed(chart, trial, rec);
  ASSERT_TRUE(chart.limits_ready());
  // center 0.2313333, std.dev 0.05963526, LCL 0.05242755, UCL 0.4102391.
  EXPECT_TRUE(MatchesPrinted(chart.center(), "0.2313333"));
  EXPECT_TRUE(MatchesPrinted(chart.sigma_at(50), "0.05963526"));
  const AttributeLimits lim = chart.limits_at(50);
  EXPECT_TRUE(MatchesPrinted(lim.cl, "0.2313333"));
  EXPECT_TRUE(MatchesPrinted(lim.lcl, "0.05242755"));
  EXPECT_TRUE(MatchesPrinted(lim.ucl, "0.4102391"));
  ASSERT_EQ(rec.points.size(), 30u);
  for (std::size_t i = 0; i < rec.points.size(); ++i) {
    const ChartPoint& p = rec.points[i];
    EXPECT_EQ(p.chart, ChartKind::kP);
    EXPECT_EQ(p.phase, Phase::kOne);
    EXPECT_EQ(p.index, static_cast<std::int64_t>(i) + 1);
    EXPECT_EQ(p.n, 50);
    EXPECT_DOUBLE_EQ(p.value, static_cast<double>(trial[i].count) / 50);
    EXPECT_DOUBLE_EQ(p.ucl, lim.ucl);
    EXPECT_DOUBLE_EQ(p.lcl, lim.lcl);
  }
  // The points beyond the published limits, and only they, fire (samples 15 and 23 in the data).
  const std::vector<std::int64_t> expected = BeyondPublished(AttributeChartKind::kP, trial, 0.05242755, 0.4102391);
  ASSERT_FALSE(expected.empty());
  EXPECT_EQ(rec.HitIndexes(), expected);
  for (const auto& h : rec.hits) {
    EXPECT_EQ(h.rule, RuleKind::kNelson1);
    EXPECT_EQ(h.chart, ChartKind::kP);
  }
}

TEST(AttributeChartTest, OrangejuiceNpChartMatchesQcc) {
  SKIP_WITHOUT_REFDATA(dir);
  const std::vector<Row> trial = Select(ReadRows(dir + "/orangejuice.csv", "D"), true);
  ASSERT_EQ(trial.size(), 30u);
  AttributeChart chart(Phase1(AttributeChartKind::kNp, 30));
  Recorder rec;
  Feed(chart, trial, rec);
  // center 11.56667, std.dev 2.981763, LCL 2.621377, UCL 20.51196.
  EXPECT_TRUE(MatchesPrinted(chart.center_line_at(50), "11.56667"));
  EXPECT_TRUE(MatchesPrinted(chart.sigma_at(50), "2.981763"));
  const AttributeLimits lim = chart.limits_at(50);
  EXPECT_TRUE(MatchesPrinted(lim.cl, "11.56667"));
  EXPECT_TRUE(MatchesPrinted(lim.lcl, "2.621377"));
  EXPECT_TRUE(MatchesPrinted(lim.ucl, "20.51196"));
  EXPECT_DOUBLE_EQ(chart.fixed_n(), 50);
  ASSERT_EQ(rec.points.size(), 30u);
  EXPECT_EQ(rec.points[0].chart, ChartKind::kNp);
  EXPECT_DOUBLE_EQ(rec.points[0].value, static_cast<double>(trial[0].count));
  const std::vector<std::int64_t> expected = BeyondPublished(AttributeChartKind::kNp, trial, 2.621377, 20.51196);
  ASSERT_FALSE(expected.empty());
  EXPECT_EQ(rec.HitIndexes(), expected);
}

TEST(AttributeChartTest, OrangejuiceExcludingSamples15And23MatchesQcc) {
  SKIP_WITHOUT_REFDATA(dir);
  const std::vector<Row> rows = ReadRows(dir + "/orangejuice.csv", "D");
  const std::vector<Row> trial = Select(rows, true);
  const std::vector<Row> fresh = Select(rows, false);
  ASSERT_EQ(trial.size(), 30u);
  ASSERT_EQ(fresh.size(), 24u);
  AttributeChart first(Phase1(AttributeChartKind::kP, 30));
  Recorder rec;
  Feed(first, trial, rec);
  ASSERT_EQ(first.baseline().size(), 30u);
  const std::vector<std::int64_t> drop = PositionsOf(trial, {15, 23});
  ASSERT_EQ(drop.size(), 2u);
  Result<double> center = EstimateAttributeCenter(AttributeChartKind::kP, first.baseline(), drop);
  ASSERT_TRUE(center.ok()) << center.status().ToString();
  // center 0.215, std.dev 0.05809905, LCL 0.04070284, UCL 0.3892972.
  EXPECT_TRUE(MatchesPrinted(*center, "0.215"));
  AttributeChartSpec spec = Known(AttributeChartKind::kP, *center);
  ASSERT_TRUE(spec.Validate().ok());
  AttributeChart second(spec);
  EXPECT_TRUE(MatchesPrinted(second.sigma_at(50), "0.05809905"));
  const AttributeLimits lim = second.limits_at(50);
  EXPECT_TRUE(MatchesPrinted(lim.lcl, "0.04070284"));
  EXPECT_TRUE(MatchesPrinted(lim.ucl, "0.3892972"));
  // The new data (samples 31-54) are judged as they arrive, against those limits.
  Recorder rec2;
  Feed(second, fresh, rec2);
  ASSERT_EQ(rec2.points.size(), 24u);
  for (const auto& p : rec2.points) {
    EXPECT_EQ(p.phase, Phase::kTwo);
    EXPECT_DOUBLE_EQ(p.ucl, lim.ucl);
    EXPECT_DOUBLE_EQ(p.lcl, lim.lcl);
  }
  EXPECT_EQ(rec2.HitIndexes(), BeyondPublished(AttributeChartKind::kP, fresh, 0.04070284, 0.3892972));
}

TEST(AttributeChartTest, Orangejuice2PChartClampsLclAtZero) {
  SKIP_WITHOUT_REFDATA(dir);
  const std::vector<Row> rows = ReadRows(dir + "/orangejuice2.csv", "D");
  const std::vector<Row> trial = Select(rows, true);
  const std::vector<Row> fresh = Select(rows, false);
  ASSERT_EQ(trial.size(), 24u);
  ASSERT_EQ(fresh.size(), 40u);
  AttributeChart chart(Phase1(AttributeChartKind::kP, 24));
  Recorder rec;
  Feed(chart, trial, rec);
  Feed(chart, fresh, rec);
  // center 0.1108333, std.dev 0.04439579, LCL 0 (clamped), UCL 0.2440207.
  EXPECT_TRUE(MatchesPrinted(chart.center(), "0.1108333"));
  EXPECT_TRUE(MatchesPrinted(chart.sigma_at(50), "0.04439579"));
  const AttributeLimits lim = chart.limits_at(50);
  EXPECT_TRUE(MatchesPrinted(lim.lcl, "0"));
  EXPECT_TRUE(MatchesPrinted(lim.ucl, "0.2440207"));
  ASSERT_EQ(rec.points.size(), 64u);
  EXPECT_EQ(rec.points[23].phase, Phase::kOne);
  EXPECT_EQ(rec.points[24].phase, Phase::kTwo);
  EXPECT_EQ(rec.points[24].index, 25);
  std::vector<Row> all = trial;
  all.insert(all.end(), fresh.begin(), fresh.end());
  EXPECT_EQ(rec.HitIndexes(), BeyondPublished(AttributeChartKind::kP, all, 0, 0.2440207));
}

TEST(AttributeChartTest, CircuitCChartFlagsSamples6And20) {
  SKIP_WITHOUT_REFDATA(dir);
  const std::vector<Row> trial = Select(ReadRows(dir + "/circuit.csv", "x"), true);
  ASSERT_EQ(trial.size(), 26u);
  AttributeChart chart(Phase1(AttributeChartKind::kC, 26));
  Recorder rec;
  Feed(chart, trial, rec);
  // center 19.84615, std.dev 4.454902, LCL 6.481447, UCL 33.21086; samples 6 and 20 outside.
  EXPECT_TRUE(MatchesPrinted(chart.center(), "19.84615"));
  EXPECT_TRUE(MatchesPrinted(chart.sigma_at(100), "4.454902"));
  const AttributeLimits lim = chart.limits_at(100);
  EXPECT_TRUE(MatchesPrinted(lim.lcl, "6.481447"));
  EXPECT_TRUE(MatchesPrinted(lim.ucl, "33.21086"));
  EXPECT_EQ(rec.HitIndexes(), PositionsOf(trial, {6, 20}));
  ASSERT_EQ(rec.hits.size(), 2u);
  EXPECT_EQ(rec.hits[0].chart, ChartKind::kC);
  // Suspect windows start at the last in-control point before each (samples 5 and 19).
  EXPECT_EQ(rec.hits[0].window_start, At(4));
  EXPECT_EQ(rec.hits[1].window_start, At(18));
}

TEST(AttributeChartTest, CircuitCChartExcluding6And20MatchesQcc) {
  SKIP_WITHOUT_REFDATA(dir);
  const std::vector<Row> rows = ReadRows(dir + "/circuit.csv", "x");
  const std::vector<Row> trial = Select(rows, true);
  const std::vector<Row> fresh = Select(rows, false);
  ASSERT_EQ(fresh.size(), 20u);
  AttributeChart first(Phase1(AttributeChartKind::kC, 26));
  Recorder rec;
  Feed(first, trial, rec);
  Result<double> center =
      EstimateAttributeCenter(AttributeChartKind::kC, first.baseline(), PositionsOf(trial, {6, 20}));
  ASSERT_TRUE(center.ok()) << center.status().ToString();
  // center 19.66667, std.dev 4.434712, LCL 6.362532, UCL 32.9708.
  EXPECT_TRUE(MatchesPrinted(*center, "19.66667"));
  AttributeChartSpec spec = Known(AttributeChartKind::kC, *center);
  AttributeChart second(spec);
  EXPECT_TRUE(MatchesPrinted(second.sigma_at(100), "4.434712"));
  const AttributeLimits lim = second.limits_at(100);
  EXPECT_TRUE(MatchesPrinted(lim.lcl, "6.362532"));
  EXPECT_TRUE(MatchesPrinted(lim.ucl, "32.9708"));
  Recorder rec2;
  Feed(second, fresh, rec2);
  ASSERT_EQ(rec2.points.size(), 20u);
  EXPECT_EQ(rec2.HitIndexes(), BeyondPublished(AttributeChartKind::kC, fresh, 6.362532, 32.9708));
}

TEST(AttributeChartTest, CircuitUChartExcluding6And20MatchesQcc) {
  SKIP_WITHOUT_REFDATA(dir);
  const std::vector<Row> rows = ReadRows(dir + "/circuit.csv", "x");
  const std::vector<Row> trial = Select(rows, true);
  const std::vector<Row> fresh = Select(rows, false);
  AttributeChart first(Phase1(AttributeChartKind::kU, 26));
  Recorder rec;
  Feed(first, trial, rec);
  EXPECT_EQ(rec.HitIndexes(), PositionsOf(trial, {6, 20})) << "the u chart of equal sizes flags what the c chart does";
  Result<double> center =
      EstimateAttributeCenter(AttributeChartKind::kU, first.baseline(), PositionsOf(trial, {6, 20}));
  ASSERT_TRUE(center.ok()) << center.status().ToString();
  // center 0.1966667, std.dev 0.4434712 (qcc's per-unit sd.u: sigma at n = 1), LCL 0.06362532,
  // UCL 0.329708.
  EXPECT_TRUE(MatchesPrinted(*center, "0.1966667"));
  AttributeChart second(Known(AttributeChartKind::kU, *center));
  EXPECT_TRUE(MatchesPrinted(second.sigma_at(1), "0.4434712"));
  const AttributeLimits lim = second.limits_at(100);
  EXPECT_TRUE(MatchesPrinted(lim.cl, "0.1966667"));
  EXPECT_TRUE(MatchesPrinted(lim.lcl, "0.06362532"));
  EXPECT_TRUE(MatchesPrinted(lim.ucl, "0.329708"));
  Recorder rec2;
  Feed(second, fresh, rec2);
  ASSERT_EQ(rec2.points.size(), 20u);
  EXPECT_EQ(rec2.points[0].chart, ChartKind::kU);
  EXPECT_DOUBLE_EQ(rec2.points[0].value, static_cast<double>(fresh[0].count) / 100);
  EXPECT_EQ(rec2.points[0].n, 100);
  EXPECT_EQ(rec2.HitIndexes(), BeyondPublished(AttributeChartKind::kU, fresh, 0.06362532, 0.329708));
}

TEST(AttributeChartTest, PcmanufactUChartMatchesQcc) {
  SKIP_WITHOUT_REFDATA(dir);
  const std::vector<Row> rows = ReadRows(dir + "/pcmanufact.csv", "x");
  ASSERT_EQ(rows.size(), 20u);
  AttributeChart chart(Phase1(AttributeChartKind::kU, 20));
  Recorder rec;
  Feed(chart, rows, rec);
  // center 1.93, std.dev 1.389244, LCL 0.06613305, UCL 3.793867.
  EXPECT_TRUE(MatchesPrinted(chart.center(), "1.93"));
  EXPECT_TRUE(MatchesPrinted(chart.sigma_at(1), "1.389244"));
  const AttributeLimits lim = chart.limits_at(5);
  EXPECT_TRUE(MatchesPrinted(lim.lcl, "0.06613305"));
  EXPECT_TRUE(MatchesPrinted(lim.ucl, "3.793867"));
  ASSERT_EQ(rec.points.size(), 20u);
  EXPECT_EQ(rec.HitIndexes(), BeyondPublished(AttributeChartKind::kU, rows, 0.06613305, 3.793867));
}

// No published figures: the limits per roll are checked against u-bar +/- 3 sqrt(u-bar / n_i).
TEST(AttributeChartTest, DyedclothUChartLimitsFollowEachRollsSize) {
  SKIP_WITHOUT_REFDATA(dir);
  const std::vector<Row> rows = ReadRows(dir + "/dyedcloth.csv", "x");
  ASSERT_EQ(rows.size(), 10u);
  double x_sum = 0, n_sum = 0;
  std::set<double> sizes;
  for (const auto& r : rows) {
    x_sum += static_cast<double>(r.count);
    n_sum += r.n;
    sizes.insert(r.n);
  }
  ASSERT_GT(sizes.size(), 1u) << "the data must have variable sizes";
  const double ubar = x_sum / n_sum;
  AttributeChart chart(Phase1(AttributeChartKind::kU, 10));
  Recorder rec;
  Feed(chart, rows, rec);
  EXPECT_NEAR(chart.center(), ubar, 1e-15);
  ASSERT_EQ(rec.points.size(), 10u);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const ChartPoint& p = rec.points[i];
    const double half = 3 * std::sqrt(ubar / rows[i].n);
    EXPECT_NEAR(p.value, static_cast<double>(rows[i].count) / rows[i].n, 1e-15) << i;
    EXPECT_NEAR(p.cl, ubar, 1e-15) << i;
    EXPECT_NEAR(p.ucl, ubar + half, 1e-12) << i;
    EXPECT_NEAR(p.lcl, std::max(0.0, ubar - half), 1e-12) << i;
    EXPECT_NEAR(chart.sigma_at(rows[i].n), std::sqrt(ubar / rows[i].n), 1e-15) << i;
    EXPECT_EQ(p.n, static_cast<int>(std::lround(rows[i].n))) << i;
  }
}

// --- Limits and judging without reference data -----------------------------------------------

TEST(AttributeChartTest, SigmaOfThePlottedStatisticPerKind) {
  EXPECT_DOUBLE_EQ(AttributeChart(Known(AttributeChartKind::kP, 0.2)).sigma_at(25), std::sqrt(0.2 * 0.8 / 25));
  EXPECT_DOUBLE_EQ(AttributeChart(Known(AttributeChartKind::kNp, 0.2)).sigma_at(25), std::sqrt(25 * 0.2 * 0.8));
  EXPECT_DOUBLE_EQ(AttributeChart(Known(AttributeChartKind::kC, 7.5)).sigma_at(25), std::sqrt(7.5));
  EXPECT_DOUBLE_EQ(AttributeChart(Known(AttributeChartKind::kU, 1.5)).sigma_at(2.5), std::sqrt(1.5 / 2.5));
  AttributeChart np(Known(AttributeChartKind::kNp, 0.2));
  EXPECT_DOUBLE_EQ(np.center_line_at(25), 5.0);
  EXPECT_DOUBLE_EQ(np.limits_at(25).ucl, 5.0 + 3 * 2.0);
}

TEST(AttributeChartTest, PChartLimitsVaryWithEachSubgroupSize) {
  AttributeChart chart(Phase1(AttributeChartKind::kP, 3));
  Recorder rec;
  const std::int64_t counts[] = {10, 30, 5};
  const double sizes[] = {100, 200, 50};
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(chart.Add(counts[i], sizes[i], At(i), rec).ok());
  const double pbar = 45.0 / 350.0;
  ASSERT_EQ(rec.points.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    const double half = 3 * std::sqrt(pbar * (1 - pbar) / sizes[i]);
    EXPECT_NEAR(rec.points[i].ucl, pbar + half, 1e-15) << i;
    EXPECT_NEAR(rec.points[i].lcl, std::max(0.0, pbar - half), 1e-15) << i;
    EXPECT_EQ(rec.points[i].n, static_cast<int>(sizes[i]));
  }
}

// More distinct sizes than the chart caches limits for, each seen twice: every point carries the
// limits of its own size.
TEST(AttributeChartTest, PointLimitsMatchTheirSizeAcrossManySizes) {
  for (auto type : {AttributeChartSpec::LimitType::kSigma, AttributeChartSpec::LimitType::kProbability}) {
    AttributeChartSpec spec = Known(AttributeChartKind::kU, 1.2);
    spec.limit_type = type;
    AttributeChart chart(spec);
    Recorder rec;
    std::vector<double> sizes;
    for (int round = 0; round < 2; ++round) {
      for (int k = 1; k <= 20; ++k) sizes.push_back(0.5 * k);
    }
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      ASSERT_TRUE(chart.Add(static_cast<std::int64_t>(i % 5), sizes[i], At(static_cast<int>(i)), rec).ok());
    }
    ASSERT_EQ(rec.points.size(), sizes.size());
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      const AttributeLimits lim = chart.limits_at(sizes[i]);
      EXPECT_EQ(rec.points[i].ucl, lim.ucl) << "n " << sizes[i];
      EXPECT_EQ(rec.points[i].lcl, lim.lcl) << "n " << sizes[i];
    }
    EXPECT_NE(rec.points[0].ucl, rec.points[1].ucl);
  }
}

TEST(AttributeChartTest, PAndNpUpperLimitsClampAtTheirRange) {
  // p-bar 0.5, n 4: 0.5 + 3 * 0.25 = 1.25 and 2 + 3 * 1 = 5 are past the top of the range.
  for (Boundary b : {Boundary::kStrict, Boundary::kInclusive}) {
    AttributeChart p(Known(AttributeChartKind::kP, 0.5, b));
    AttributeChart np(Known(AttributeChartKind::kNp, 0.5, b));
    EXPECT_DOUBLE_EQ(p.limits_at(4).ucl, 1.0);
    EXPECT_DOUBLE_EQ(p.limits_at(4).lcl, 0.0);
    EXPECT_DOUBLE_EQ(np.limits_at(4).ucl, 4.0);
    EXPECT_DOUBLE_EQ(np.limits_at(4).lcl, 0.0);
    Recorder rec;
    ASSERT_TRUE(p.Add(4, 4, At(0), rec).ok());
    ASSERT_TRUE(p.Add(0, 4, At(1), rec).ok());
    ASSERT_TRUE(np.Add(4, 4, At(2), rec).ok());
    ASSERT_TRUE(np.Add(0, 4, At(3), rec).ok());
    EXPECT_TRUE(rec.hits.empty()) << "a point on a clamped limit is within the limits";
  }
}

struct BoundaryCase {
  double cbar;
  std::int64_t count;
  bool strict_fires;
  bool inclusive_fires;
};

// c-bar 4: UCL 4 + 3*2 = 10, LCL clamped at 0. c-bar 16: LCL 16 - 12 = 4. c-bar 9: LCL exactly 0.
TEST(AttributeChartTest, NelsonOneBoundaryOnCChartLimits) {
  const BoundaryCase cases[] = {
      {4, 10, false, true}, {4, 11, true, true}, {4, 9, false, false}, {4, 0, false, false},
      {16, 4, false, true}, {16, 3, true, true}, {16, 5, false, false}, {9, 0, false, false},
  };
  for (const auto& c : cases) {
    for (Boundary b : {Boundary::kStrict, Boundary::kInclusive}) {
      AttributeChart chart(Known(AttributeChartKind::kC, c.cbar, b));
      Recorder rec;
      ASSERT_TRUE(chart.Add(c.count, 1, At(0), rec).ok());
      const bool expected = b == Boundary::kStrict ? c.strict_fires : c.inclusive_fires;
      EXPECT_EQ(rec.hits.size(), expected ? 1u : 0u)
          << "c-bar " << c.cbar << " count " << c.count << (b == Boundary::kStrict ? " strict" : " inclusive");
    }
  }
}

TEST(AttributeChartTest, NothingIsPlottedBeforeTheBaselineCompletes) {
  AttributeChart chart(Phase1(AttributeChartKind::kC, 4));
  Recorder rec;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(chart.Add(5 + i, 1, At(i), rec).ok());
  EXPECT_TRUE(rec.points.empty());
  EXPECT_FALSE(chart.limits_ready());
  ASSERT_TRUE(chart.Add(6, 1, At(3), rec).ok());
  EXPECT_TRUE(chart.limits_ready());
  ASSERT_EQ(rec.points.size(), 4u);
  EXPECT_DOUBLE_EQ(chart.center(), (5 + 6 + 7 + 6) / 4.0);
  ASSERT_TRUE(chart.Add(7, 1, At(4), rec).ok());
  ASSERT_EQ(rec.points.size(), 5u);
  EXPECT_EQ(rec.points.back().phase, Phase::kTwo);
  EXPECT_EQ(rec.points.back().index, 5);
  EXPECT_EQ(chart.subgroups(), 5);
  EXPECT_EQ(chart.baseline().size(), 4u);
}

TEST(AttributeChartTest, SuspectWindowStartsAtLastInControlSubgroup) {
  AttributeChart chart(Known(AttributeChartKind::kC, 4));  // UCL 10
  Recorder rec;
  ASSERT_TRUE(chart.Add(20, 1, At(5), rec).ok());  // beyond, nothing earlier in control
  ASSERT_TRUE(chart.Add(3, 1, At(10), rec).ok());
  ASSERT_TRUE(chart.Add(4, 1, At(20), rec).ok());
  ASSERT_TRUE(chart.Add(12, 1, At(30), rec).ok());  // window from t=20
  ASSERT_TRUE(chart.Add(13, 1, At(40), rec).ok());  // still from t=20
  ASSERT_EQ(rec.hits.size(), 3u);
  EXPECT_EQ(rec.hits[0].window_start, At(5));
  EXPECT_EQ(rec.hits[1].window_start, At(20));
  EXPECT_EQ(rec.hits[2].window_start, At(20));
  EXPECT_EQ(rec.hits[2].first, 5);
  EXPECT_EQ(rec.hits[2].last, 5);
  EXPECT_DOUBLE_EQ(rec.hits[2].value, 13);
}

TEST(AttributeChartTest, NelsonOneCanBeTurnedOff) {
  AttributeChartSpec spec = Known(AttributeChartKind::kC, 4);
  spec.nelson1 = false;
  AttributeChart chart(spec);
  Recorder rec;
  ASSERT_TRUE(chart.Add(50, 1, At(0), rec).ok());
  EXPECT_TRUE(rec.hits.empty());
  EXPECT_EQ(rec.points.size(), 1u);
}

// --- Probability limits --------------------------------------------------------------------

AttributeChartSpec Probability(AttributeChartKind kind, double center, double alpha,
                               Boundary b = Boundary::kStrict) {
  AttributeChartSpec s = Known(kind, center, b);
  s.limit_type = AttributeChartSpec::LimitType::kProbability;
  s.alpha = alpha;
  return s;
}

TEST(AttributeChartTest, ProbabilityLimitsApproachSigmaLimitsForLargeSamples) {
  struct Case {
    AttributeChartKind kind;
    double center;
    double n;
  } cases[] = {{AttributeChartKind::kP, 0.1, 1e6},
               {AttributeChartKind::kNp, 0.02, 5e6},
               {AttributeChartKind::kC, 1e6, 1},
               {AttributeChartKind::kU, 2.5, 4e5}};
  for (const auto& c : cases) {
    AttributeChart sigma(Known(c.kind, c.center));
    AttributeChart prob(Probability(c.kind, c.center, 0.0027));
    const double s = sigma.sigma_at(c.n);
    const AttributeLimits a = sigma.limits_at(c.n), b = prob.limits_at(c.n);
    // Discreteness and skewness move each limit by a count or two: a tiny fraction of sigma.
    EXPECT_NEAR(b.ucl, a.ucl, 0.02 * s) << ChartName(ToChartKind(c.kind));
    EXPECT_NEAR(b.lcl, a.lcl, 0.02 * s) << ChartName(ToChartKind(c.kind));
    EXPECT_NE(b.ucl, a.ucl) << "probability limits are whole counts";
  }
}

// Exact tail probabilities of the count in a subgroup, by summing the probability function.
struct Tails {
  double below;  // P(X < lo)
  double above;  // P(X > hi)
};

template <typename Dist>
Tails TailsOf(const Dist& d, double lo, double hi) {
  Tails t{0, 0};
  for (double x = 0; x < lo; x += 1) t.below += boost::math::pdf(d, x);
  double upto = 0;
  for (double x = 0; x <= hi; x += 1) upto += boost::math::pdf(d, x);
  t.above = boost::math::cdf(boost::math::complement(d, hi));
  EXPECT_NEAR(1 - upto, t.above, 1e-9);
  return t;
}

TEST(AttributeChartTest, ProbabilityLimitsKeepFalseAlarmWithinAlpha) {
  const double alphas[] = {0.0027, 0.01, 0.05};
  struct Case {
    AttributeChartKind kind;
    double center;
    double n;
  } cases[] = {
      {AttributeChartKind::kP, 0.2313333, 50}, {AttributeChartKind::kP, 0.01, 200},  {AttributeChartKind::kP, 0.5, 20},
      {AttributeChartKind::kNp, 0.05, 100},    {AttributeChartKind::kNp, 0.3, 1000}, {AttributeChartKind::kC, 0.5, 1},
      {AttributeChartKind::kC, 19.84615, 100}, {AttributeChartKind::kC, 300, 1},     {AttributeChartKind::kU, 1.93, 5},
      {AttributeChartKind::kU, 0.2, 9.5},
  };
  for (double alpha : alphas) {
    for (const auto& c : cases) {
      const std::string what = std::string(ChartName(ToChartKind(c.kind))) + " center " + std::to_string(c.center) +
                               " n " + std::to_string(c.n) + " alpha " + std::to_string(alpha);
      AttributeChart chart(Probability(c.kind, c.center, alpha));
      const AttributeLimits lim = chart.limits_at(c.n);
      const bool per_unit = c.kind == AttributeChartKind::kP || c.kind == AttributeChartKind::kU;
      const double lo = per_unit ? lim.lcl * c.n : lim.lcl;
      const double hi = per_unit ? lim.ucl * c.n : lim.ucl;
      ASSERT_NEAR(lo, std::round(lo), 1e-9) << what;
      ASSERT_NEAR(hi, std::round(hi), 1e-9) << what;
      const double L = std::round(lo), U = std::round(hi);
      Tails t{}, tighter_lo{}, tighter_hi{};
      if (c.kind == AttributeChartKind::kP || c.kind == AttributeChartKind::kNp) {
        const boost::math::binomial_distribution<double> d(c.n, c.center);
        t = TailsOf(d, L, U);
        tighter_lo = TailsOf(d, L + 1, U);
        tighter_hi = TailsOf(d, L, U - 1);
      } else {
        const boost::math::poisson_distribution<double> d(c.kind == AttributeChartKind::kU ? c.center * c.n : c.center);
        t = TailsOf(d, L, U);
        tighter_lo = TailsOf(d, L + 1, U);
        tighter_hi = TailsOf(d, L, U - 1);
      }
      EXPECT_LE(t.below + t.above, alpha) << what;
      EXPECT_LT(t.below, alpha / 2) << what;
      EXPECT_LE(t.above, alpha / 2) << what;
      // Each limit is the tightest one: a count further in would exceed its half of alpha.
      EXPECT_GE(tighter_lo.below, alpha / 2) << what;
      if (U > 0) {
        EXPECT_GT(tighter_hi.above, alpha / 2) << what;
      }
    }
  }
}

TEST(AttributeChartTest, ProbabilityLimitsFireOnTheSameCountsInBothBoundaryModes) {
  struct Case {
    AttributeChartKind kind;
    double center;
    double n;
  } cases[] = {{AttributeChartKind::kP, 0.2, 50}, {AttributeChartKind::kNp, 0.1, 40}, {AttributeChartKind::kC, 9, 1},
               {AttributeChartKind::kU, 1.5, 2.5}};
  for (const auto& c : cases) {
    AttributeChart strict(Probability(c.kind, c.center, 0.0027, Boundary::kStrict));
    AttributeChart inclusive(Probability(c.kind, c.center, 0.0027, Boundary::kInclusive));
    Recorder rs, ri;
    const std::int64_t top = c.kind == AttributeChartKind::kP || c.kind == AttributeChartKind::kNp
                                 ? static_cast<std::int64_t>(c.n)
                                 : 40;
    for (std::int64_t x = 0; x <= top; ++x) {
      ASSERT_TRUE(strict.Add(x, c.n, At(static_cast<int>(x)), rs).ok());
      ASSERT_TRUE(inclusive.Add(x, c.n, At(static_cast<int>(x)), ri).ok());
    }
    EXPECT_EQ(rs.HitIndexes(), ri.HitIndexes()) << ChartName(ToChartKind(c.kind));
    EXPECT_FALSE(rs.hits.empty()) << ChartName(ToChartKind(c.kind));
    // The inclusive limits lie one count outside the strict ones.
    const double per = c.kind == AttributeChartKind::kP || c.kind == AttributeChartKind::kU ? c.n : 1;
    EXPECT_NEAR((ri.points[0].ucl - rs.points[0].ucl) * per, 1, 1e-9) << ChartName(ToChartKind(c.kind));
  }
}

// --- Errors ----------------------------------------------------------------------------------

void ExpectInvalid(const Status& st, const std::string& fragment) {
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find(fragment), std::string::npos) << st.message();
}

TEST(AttributeChartTest, AddRejectsBadSubgroupsWithoutTakingAnIndex) {
  AttributeChart p(Known(AttributeChartKind::kP, 0.1));
  Recorder rec;
  ExpectInvalid(p.Add(-1, 50, At(0), rec), "count must be >= 0, found -1");
  ExpectInvalid(p.Add(1, 0, At(0), rec), "n must be > 0, found 0");
  ExpectInvalid(p.Add(1, std::nan(""), At(0), rec), "n must be > 0, found nan");
  ExpectInvalid(p.Add(1, 9.5, At(0), rec), "n must be a whole number of units for a p chart, found 9.5");
  ExpectInvalid(p.Add(51, 50, At(0), rec), "count 51 exceeds n 50 for a p chart");
  EXPECT_TRUE(rec.points.empty());
  EXPECT_EQ(p.subgroups(), 0);
  ASSERT_TRUE(p.Add(5, 50, At(1), rec).ok());
  ASSERT_EQ(rec.points.size(), 1u);
  EXPECT_EQ(rec.points[0].index, 1);

  AttributeChart np(Known(AttributeChartKind::kNp, 0.1));
  ASSERT_TRUE(np.Add(5, 50, At(2), rec).ok());
  ExpectInvalid(np.Add(5, 49, At(3), rec), "n 49 differs from the constant n 50 of an np chart");
  EXPECT_EQ(np.subgroups(), 1);

  AttributeChart c(Phase1(AttributeChartKind::kC, 5));
  ASSERT_TRUE(c.Add(5, 2.5, At(4), rec).ok());
  ExpectInvalid(c.Add(5, 3, At(5), rec), "n 3 differs from the constant n 2.5 of a c chart");

  AttributeChartSpec fixed = Known(AttributeChartKind::kU, 1);
  fixed.sample_size = 5;
  AttributeChart u(fixed);
  ExpectInvalid(u.Add(5, 4, At(6), rec), "n 4 differs from the constant n 5 of a u chart");
}

TEST(AttributeChartSpecTest, ValidateNamesTheOffendingFieldAndValue) {
  AttributeChartSpec ok;
  EXPECT_TRUE(ok.Validate().ok());

  AttributeChartSpec s = Phase1(AttributeChartKind::kP, 1);
  ExpectInvalid(s.Validate(), "phase1_subgroups must be >= 2, found 1");
  ExpectInvalid(Known(AttributeChartKind::kP, 1.5).Validate(),
                "center must be a proportion in (0, 1) for a p chart, found 1.5");
  ExpectInvalid(Known(AttributeChartKind::kNp, 0).Validate(),
                "center must be a proportion in (0, 1) for an np chart, found 0");
  ExpectInvalid(Known(AttributeChartKind::kC, -2).Validate(), "center must be > 0 for a c chart, found -2");
  ExpectInvalid(Known(AttributeChartKind::kU, 0).Validate(), "center must be > 0 for a u chart, found 0");
  s = Phase1(AttributeChartKind::kC, 20);
  s.k_sigma = -1;
  ExpectInvalid(s.Validate(), "k_sigma must be > 0, found -1");
  s = Phase1(AttributeChartKind::kC, 20);
  s.alpha = 1.5;
  ExpectInvalid(s.Validate(), "alpha must be in (0, 1), found 1.5");
  s.alpha = 0;
  ExpectInvalid(s.Validate(), "alpha must be in (0, 1), found 0");
  s = Phase1(AttributeChartKind::kU, 20);
  s.sample_size = -5;
  ExpectInvalid(s.Validate(), "sample_size must be >= 0 (0: set by the first subgroup), found -5");
  s = Phase1(AttributeChartKind::kNp, 20);
  s.sample_size = 9.5;
  ExpectInvalid(s.Validate(), "sample_size must be a whole number of units for an np chart, found 9.5");
  s = Phase1(AttributeChartKind::kU, 20);
  s.sample_size = 9.5;
  EXPECT_TRUE(s.Validate().ok()) << "inspection units may be fractional";
}

TEST(EstimateAttributeCenterTest, ExcludesByPositionAndReportsBadInput) {
  const AttributeSubgroup base[] = {{2, 10}, {4, 10}, {9, 10}, {1, 10}};
  Result<double> all = EstimateAttributeCenter(AttributeChartKind::kP, base);
  ASSERT_TRUE(all.ok());
  EXPECT_DOUBLE_EQ(*all, 16.0 / 40.0);
  const std::int64_t drop3[] = {3, 3};
  Result<double> kept = EstimateAttributeCenter(AttributeChartKind::kC, base, drop3);
  ASSERT_TRUE(kept.ok());
  EXPECT_DOUBLE_EQ(*kept, 7.0 / 3.0) << "a duplicate index drops the subgroup once";

  ExpectInvalid(EstimateAttributeCenter(AttributeChartKind::kP, {}).status(), "the baseline is empty");
  const std::int64_t out_of_range[] = {5};
  ExpectInvalid(EstimateAttributeCenter(AttributeChartKind::kP, base, out_of_range).status(),
                "exclude index 5 is outside the baseline 1..4");
  const std::int64_t zero[] = {0};
  ExpectInvalid(EstimateAttributeCenter(AttributeChartKind::kP, base, zero).status(),
                "exclude index 0 is outside the baseline 1..4");
  const std::int64_t every[] = {1, 2, 3, 4};
  ExpectInvalid(EstimateAttributeCenter(AttributeChartKind::kU, base, every).status(),
                "excluding all 4 baseline subgroups leaves none");
  const AttributeSubgroup varying[] = {{2, 10}, {4, 12}};
  ExpectInvalid(EstimateAttributeCenter(AttributeChartKind::kC, varying).status(),
                "baseline subgroup 2 has n 12 but subgroup 1 has n 10: a c chart needs a constant n");
  EXPECT_TRUE(EstimateAttributeCenter(AttributeChartKind::kU, varying).ok());
  const AttributeSubgroup bad[] = {{2, 10}, {11, 10}};
  ExpectInvalid(EstimateAttributeCenter(AttributeChartKind::kP, bad).status(),
                "baseline subgroup 2: count 11 exceeds n 10 for a p chart");
}

}  // namespace
}  // namespace shewhart::rules

namespace shewhart::rules {
namespace {

// Laney's p' and u' (Quality Engineering 14(4), 2002), computed here the obvious way from the
// definition: p-bar (u-bar) = sum(count) / sum(n); z_i = (stat_i - centre) / sqrt(centre (1 -
// centre) / n_i) (for u: sqrt(centre / n_i)); sigma_z = mean |z_i - z_(i-1)| / 1.128; limits
// centre +/- 3 sigma_i sigma_z. Large subgroups with a wandering rate: sigma_z well above 1.
struct LaneyReference {
  double center = 0, sigma_z = 0;
  std::vector<double> ucl, lcl;
};

LaneyReference Laney(const std::vector<AttributeSubgroup>& baseline, bool u) {
  LaneyReference r;
  double counts = 0, units = 0;
  for (const auto& s : baseline) {
    counts += static_cast<double>(s.count);
    units += s.n;
  }
  r.center = counts / units;
  std::vector<double> z;
  for (const auto& s : baseline) {
    const double sigma = u ? std::sqrt(r.center / s.n) : std::sqrt(r.center * (1 - r.center) / s.n);
    z.push_back((static_cast<double>(s.count) / s.n - r.center) / sigma);
  }
  double mr = 0;
  for (std::size_t i = 1; i < z.size(); ++i) mr += std::fabs(z[i] - z[i - 1]);
  r.sigma_z = mr / static_cast<double>(z.size() - 1) / 1.128;
  for (const auto& s : baseline) {
    const double sigma = u ? std::sqrt(r.center / s.n) : std::sqrt(r.center * (1 - r.center) / s.n);
    r.ucl.push_back(r.center + 3 * sigma * r.sigma_z);
    r.lcl.push_back(std::max(0.0, r.center - 3 * sigma * r.sigma_z));
  }
  return r;
}

AttributeChartSpec LaneySpec(AttributeChartKind kind, int subgroups) {
  AttributeChartSpec spec;
  spec.kind = kind;
  spec.limit_type = AttributeChartSpec::LimitType::kLaney;
  spec.phase1_subgroups = subgroups;
  return spec;
}

TEST(LaneyChartTest, PPrimeMatchesTheDefinition) {
  const std::vector<AttributeSubgroup> baseline = {{120, 10000}, {251, 12000}, {83, 9000},  {310, 11000},
                                                   {152, 10000}, {201, 9500},  {95, 10500}, {260, 12500}};
  const LaneyReference ref = Laney(baseline, false);
  ASSERT_GT(ref.sigma_z, 2) << "the example must be overdispersed";
  const AttributeChartSpec spec = LaneySpec(AttributeChartKind::kP, static_cast<int>(baseline.size()));
  ASSERT_TRUE(spec.Validate().ok());
  AttributeChart chart(spec);
  Recorder rec;
  for (std::size_t i = 0; i < baseline.size(); ++i) {
    ASSERT_TRUE(chart.Add(baseline[i].count, baseline[i].n, At(static_cast<int>(i)), rec).ok());
  }
  ASSERT_TRUE(chart.limits_ready());
  EXPECT_NEAR(chart.center(), ref.center, 1e-15);
  EXPECT_NEAR(chart.sigma_z(), ref.sigma_z, 1e-12);
  ASSERT_EQ(rec.points.size(), baseline.size());
  for (std::size_t i = 0; i < baseline.size(); ++i) {
    EXPECT_NEAR(rec.points[i].ucl, ref.ucl[i], 1e-12) << i;
    EXPECT_NEAR(rec.points[i].lcl, ref.lcl[i], 1e-12) << i;
  }
  // The plain p chart flags most of these subgroups; p' none.
  EXPECT_TRUE(rec.hits.empty());
  AttributeChartSpec plain = spec;
  plain.limit_type = AttributeChartSpec::LimitType::kSigma;
  AttributeChart p(plain);
  Recorder prec;
  for (std::size_t i = 0; i < baseline.size(); ++i) (void)p.Add(baseline[i].count, baseline[i].n, At(0), prec);
  EXPECT_GE(prec.hits.size(), 4u);
}

TEST(LaneyChartTest, UPrimeMatchesTheDefinitionWithFractionalUnits) {
  const std::vector<AttributeSubgroup> baseline = {{410, 95.5}, {530, 102.0}, {380, 88.25}, {620, 110.5},
                                                   {450, 99.0}, {505, 97.75}};
  const LaneyReference ref = Laney(baseline, true);
  AttributeChart chart(LaneySpec(AttributeChartKind::kU, static_cast<int>(baseline.size())));
  Recorder rec;
  for (std::size_t i = 0; i < baseline.size(); ++i) {
    ASSERT_TRUE(chart.Add(baseline[i].count, baseline[i].n, At(static_cast<int>(i)), rec).ok());
  }
  EXPECT_NEAR(chart.center(), ref.center, 1e-12);
  EXPECT_NEAR(chart.sigma_z(), ref.sigma_z, 1e-12);
  ASSERT_EQ(rec.points.size(), baseline.size());
  for (std::size_t i = 0; i < baseline.size(); ++i) EXPECT_NEAR(rec.points[i].ucl, ref.ucl[i], 1e-12) << i;
}

// A known standard: centre and sigma_z as given; sigma_z 1 is the plain chart exactly.
TEST(LaneyChartTest, KnownSigmaZAndTheValidationOfTheSpec) {
  AttributeChartSpec spec = LaneySpec(AttributeChartKind::kP, 20);
  spec.mode = AttributeChartSpec::LimitMode::kKnown;
  spec.center = 0.02;
  spec.sigma_z = 1;
  AttributeChartSpec plain = spec;
  plain.limit_type = AttributeChartSpec::LimitType::kSigma;
  EXPECT_DOUBLE_EQ(AttributeChart(spec).limits_at(1000).ucl, AttributeChart(plain).limits_at(1000).ucl);
  spec.sigma_z = 2.5;
  AttributeChart chart(spec);
  EXPECT_DOUBLE_EQ(chart.limits_at(1000).ucl, 0.02 + 3 * std::sqrt(0.02 * 0.98 / 1000) * 2.5);
  chart.SetKnownCenter(0.03, 1.5);
  EXPECT_DOUBLE_EQ(chart.sigma_z(), 1.5);
  EXPECT_DOUBLE_EQ(chart.limits_at(1000).ucl, 0.03 + 3 * std::sqrt(0.03 * 0.97 / 1000) * 1.5);

  AttributeChartSpec np = LaneySpec(AttributeChartKind::kNp, 20);
  const Status st = np.Validate();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("apply to p and u charts"), std::string::npos) << st.message();
  spec.sigma_z = -1;
  EXPECT_FALSE(spec.Validate().ok());
}

// With exclusion, sigma_z is re-estimated from the kept subgroups: a moving range that spans
// the excluded one is dropped, not bridged.
TEST(LaneyChartTest, ExclusionReestimatesSigmaZFromTheKeptSubgroups) {
  std::vector<AttributeSubgroup> baseline = {{100, 10000}, {108, 10000}, {95, 10000}, {104, 10000}, {99, 10000},
                                             {400, 10000}, {102, 10000}, {97, 10000}, {105, 10000}, {101, 10000}};
  AttributeChartSpec spec = LaneySpec(AttributeChartKind::kP, static_cast<int>(baseline.size()));
  spec.phase1_exclusion = Phase1Exclusion::kBeyondLimits;
  Result<AttributeBaselineEstimate> e = EstimateAttributeBaseline(spec, baseline);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->exclusions.excluded, (std::vector<std::int64_t>{6}));
  // The reference over the nine kept subgroups, without the two ranges around the sixth.
  std::vector<AttributeSubgroup> kept = baseline;
  kept.erase(kept.begin() + 5);
  double counts = 0, units = 0;
  for (const auto& s : kept) counts += static_cast<double>(s.count), units += s.n;
  const double center = counts / units;
  const double sigma = std::sqrt(center * (1 - center) / 10000);
  double mr = 0;
  int pairs = 0;
  for (std::size_t i = 1; i < baseline.size(); ++i) {
    if (i == 5 || i == 6) continue;  // the ranges 5-6 and 6-7 span the excluded subgroup
    mr += std::fabs(static_cast<double>(baseline[i].count - baseline[i - 1].count) / 10000 / sigma);
    ++pairs;
  }
  EXPECT_NEAR(e->center, center, 1e-15);
  EXPECT_NEAR(e->sigma_z, mr / pairs / 1.128, 1e-12);
}

}  // namespace
}  // namespace shewhart::rules

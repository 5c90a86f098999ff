#include "shewhart/rules/cusum_chart.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

namespace shewhart::rules {
namespace {

static_assert(std::is_trivially_copyable_v<CusumChart>);
static_assert(std::is_trivially_copyable_v<CusumPoint>);

struct Recorder : CusumObserver {
  std::vector<CusumPoint> points;
  std::vector<RuleHit> hits;
  void OnCusumPoint(const CusumPoint& p) override { points.push_back(p); }
  void OnRuleHit(const RuleHit& h) override { hits.push_back(h); }
  std::vector<std::int64_t> HitIndexes() const {
    std::vector<std::int64_t> out;
    for (const auto& h : hits) out.push_back(h.index);
    return out;
  }
};

EventTime At(int seconds) { return EventTime(std::chrono::seconds(seconds)); }

CusumChartSpec Spec(double centre, double sigma, double k, double h, double head_start = 0) {
  CusumChartSpec s;
  s.process.centre = centre;
  s.process.sigma = sigma;
  s.k = k;
  s.h = h;
  s.head_start = head_start;
  return s;
}

// Feeds individual values (n = 1) at times 1, 2, 3, ...
Recorder FeedIndividuals(const CusumChartSpec& spec, const std::vector<double>& xs) {
  EXPECT_TRUE(spec.Validate().ok()) << spec.Validate().ToString();
  CusumChart chart(spec);
  Recorder rec;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    EXPECT_TRUE(chart.Add(xs[i], 1, At(static_cast<int>(i) + 1), rec).ok());
  }
  return rec;
}

// ---- Montgomery, Introduction to Statistical Quality Control, Example 9.1 (Tables 9.1, 9.2) ----

// The 30 observations of Table 9.1 (mu0 = 10, sigma = 1, k = 0.5, h = 5): the tabular CUSUM of
// Table 9.2 signals first at period 29 with C+ = 5.28 and N+ = 7, so the book concludes the
// shift began after period 29 - 7 = 22. The runs N+ and N- are checked where the table gives them.
TEST(CusumChartTest, MontgomeryExampleNineOneRunCounters) {
  const std::vector<double> x = {9.45,  7.99,  9.29,  11.66, 12.16, 10.18, 8.04,  11.46, 9.20,  10.34,
                                 9.03,  11.47, 10.51, 9.40,  10.08, 9.37,  10.62, 10.31, 8.52,  10.84,
                                 10.90, 9.33,  12.29, 11.50, 10.60, 11.08, 10.38, 11.62, 11.31, 10.52};
  Recorder rec = FeedIndividuals(Spec(10, 1, 0.5, 5), x);
  ASSERT_EQ(rec.points.size(), 30u);
  auto at = [&](int period) { return rec.points[static_cast<std::size_t>(period - 1)]; };
  EXPECT_NEAR(at(29).upper, 5.28, 0.005);
  EXPECT_EQ(at(29).upper_run, 7);
  ASSERT_FALSE(rec.hits.empty());
  EXPECT_EQ(rec.hits.front().index, 29);
  EXPECT_EQ(rec.hits.front().first, 23);  // 29 - 7 + 1: the first period of the run
  // Table 9.2's N- for periods 1-3 (C- 0.05, 1.56, 1.77) and the runs around it.
  EXPECT_EQ(at(1).lower_run, 1);
  EXPECT_EQ(at(3).lower_run, 3);
  EXPECT_NEAR(at(3).lower, -1.77, 0.005);
  EXPECT_EQ(at(4).lower_run, 0);
  EXPECT_EQ(at(4).upper_run, 1);
  EXPECT_EQ(at(8).upper_run, 5);
  EXPECT_EQ(at(9).upper_run, 0);
  EXPECT_EQ(at(30).upper_run, 8);
}

// ---- qcc's own unit tests (tests/testthat/test-cusum.R) ----

TEST(CusumChartTest, QccFixtureSumsAndStrictDecisionInterval) {
  // center 0, std.dev 1, decision.interval 1, se.shift 1 (k = 0.5), head.start 0.
  Recorder rec = FeedIndividuals(Spec(0, 1, 0.5, 1), {1.5, 0.5, 0.6, -1.5, -0.5, -0.8});
  const double pos[] = {1.0, 1.0, 1.1, 0, 0, 0};
  const double neg[] = {0, 0, 0, -1.0, -1.0, -1.3};
  ASSERT_EQ(rec.points.size(), 6u);
  for (int i = 0; i < 6; ++i) {
    const CusumPoint& p = rec.points[i];
    EXPECT_EQ(p.index, i + 1);
    EXPECT_EQ(p.ts, At(i + 1));
    EXPECT_NEAR(p.upper, pos[i], 1e-12) << i;
    EXPECT_NEAR(p.lower, neg[i], 1e-12) << i;
    EXPECT_DOUBLE_EQ(p.h, 1);
    EXPECT_EQ(p.n, 1);
    EXPECT_EQ(p.phase, Phase::kTwo);
  }
  // Upper violation only at 3 (1.1 > 1; points 1 and 2 sit exactly on h), lower only at 6.
  ASSERT_EQ(rec.hits.size(), 2u);
  const RuleHit& up = rec.hits[0];
  EXPECT_EQ(up.rule, RuleKind::kNelson1);
  EXPECT_EQ(up.chart, ChartKind::kCusum);
  EXPECT_EQ(up.index, 3);
  EXPECT_NEAR(up.value, 1.1, 1e-12);
  EXPECT_EQ(up.first, 1) << "the upper sum left zero at point 1";
  EXPECT_EQ(up.last, 3);
  EXPECT_EQ(up.ts, At(3));
  EXPECT_EQ(up.window_start, At(1)) << "no point before `first`: first's own time";
  const RuleHit& down = rec.hits[1];
  EXPECT_EQ(down.index, 6);
  EXPECT_NEAR(down.value, -1.3, 1e-12);
  EXPECT_EQ(down.first, 4) << "the lower sum left zero at point 4";
  EXPECT_EQ(down.last, 6);
  // Point 3, just before `first`, signalled on the upper side; the window opens at point 2,
  // the newest point before the range that was in control (DESIGN.md).
  EXPECT_EQ(down.window_start, At(2));
}

TEST(CusumChartTest, InclusiveBoundarySignalsOnTheDecisionInterval) {
  CusumChartSpec spec = Spec(0, 1, 0.5, 1);
  spec.boundary = Boundary::kInclusive;
  Recorder rec = FeedIndividuals(spec, {1.5, 0.5, 0.6, -1.5, -0.5, -0.8});
  EXPECT_EQ(rec.HitIndexes(), (std::vector<std::int64_t>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(rec.hits[1].first, 1);
  EXPECT_EQ(rec.hits[4].first, 4);
}

TEST(CusumChartTest, QccFixtureVariableSampleSizesInPhaseTwo) {
  // Phase I rows (10,10,10) twice, n = 3; phase II rows (14,14,NA) -> mean 14 of n = 2 and
  // (16,16,16) -> n = 3. center 10, std.dev 2, decision.interval 10, se.shift 1.
  CusumChartSpec spec = Spec(10, 2, 0.5, 10);
  ASSERT_TRUE(spec.Validate().ok());
  CusumChart chart(spec);
  Recorder rec;
  ASSERT_TRUE(chart.Add(10, 3, At(1), rec, Phase::kOne).ok());
  ASSERT_TRUE(chart.Add(10, 3, At(2), rec, Phase::kOne).ok());
  ASSERT_TRUE(chart.Add(14, 2, At(3), rec).ok());
  ASSERT_TRUE(chart.Add(16, 3, At(4), rec).ok());
  const double pos[] = {0, 0, 2.32842712474619, 7.02457954745282};
  const int sizes[] = {3, 3, 2, 3};
  ASSERT_EQ(rec.points.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(rec.points[i].upper, pos[i], 1e-12) << i;
    EXPECT_DOUBLE_EQ(rec.points[i].lower, 0) << i;
    EXPECT_EQ(rec.points[i].n, sizes[i]);
    EXPECT_EQ(rec.points[i].phase, i < 2 ? Phase::kOne : Phase::kTwo);
  }
  EXPECT_TRUE(rec.hits.empty());
  EXPECT_NEAR(chart.upper(), pos[3], 1e-12);
}

TEST(CusumChartSpecTest, HeadStartMustBeBelowTheDecisionInterval) {
  // qcc: decision.interval 2, head.start 2 is an error.
  Status st = Spec(0, 1, 0.5, 2, 2).Validate();
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("head_start must satisfy 0 <= head_start < h, found head_start 2 with h 2"),
            std::string::npos)
      << st.message();
  st = Spec(0, 1, 0.5, 5, -0.5).Validate();
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("found head_start -0.5 with h 5"), std::string::npos) << st.message();
  EXPECT_TRUE(Spec(0, 1, 0.5, 2, std::nextafter(2.0, 0.0)).Validate().ok());
  EXPECT_TRUE(Spec(0, 1, 0.5, 2, 0).Validate().ok());
}

TEST(CusumChartSpecTest, ValidateNamesTheOffendingValue) {
  struct Case {
    CusumChartSpec spec;
    const char* fragment;
  };
  const Case cases[] = {
      {Spec(0, 1, -1, 5), "k must be >= 0, found -1"},
      {Spec(0, 1, std::nan(""), 5), "k must be >= 0, found nan"},
      {Spec(0, 1, 0.5, 0), "h must be > 0, found 0"},
      {Spec(0, 1, 0.5, std::numeric_limits<double>::infinity()), "h must be > 0, found inf"},
      {Spec(0, 0, 0.5, 5), "sigma must be > 0, found 0"},
      {Spec(std::nan(""), 1, 0.5, 5), "centre must be a finite number, found nan"},
  };
  for (const auto& c : cases) {
    Status st = c.spec.Validate();
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << c.fragment;
    EXPECT_NE(st.message().find(c.fragment), std::string::npos) << st.message();
  }
  EXPECT_TRUE(Spec(0, 1, 0, 5).Validate().ok()) << "k = 0 is allowed";
}

// ---- fast initial response ----

TEST(CusumChartTest, HeadStartShortensDetectionOfAnInitialShift) {
  // A one-sigma shift present from the first point: z = 1 each time, so C+ grows by
  // z - k = 0.5 a point. From 0 it first exceeds h = 5 at point 11 (5.5); from h/2 = 2.5
  // at point 6.
  const std::vector<double> shifted(15, 1.0);
  Recorder plain = FeedIndividuals(Spec(0, 1, 0.5, 5), shifted);
  Recorder fir = FeedIndividuals(Spec(0, 1, 0.5, 5, 2.5), shifted);
  ASSERT_FALSE(plain.hits.empty());
  ASSERT_FALSE(fir.hits.empty());
  EXPECT_EQ(plain.hits[0].index, 11);
  EXPECT_EQ(fir.hits[0].index, 6);
  EXPECT_LT(fir.hits[0].index, plain.hits[0].index);
  EXPECT_EQ(fir.hits[0].first, 1) << "the sum has not been at zero since the start";
  EXPECT_EQ(fir.hits[0].window_start, At(1));
  EXPECT_NEAR(fir.points[0].upper, 3.0, 1e-12);
}

TEST(CusumChartTest, HeadStartDecaysAwayWhenTheProcessIsOnTarget) {
  CusumChartSpec spec = Spec(0, 1, 0.5, 5, 2.5);
  CusumChart chart(spec);
  EXPECT_DOUBLE_EQ(chart.upper(), 2.5);
  EXPECT_DOUBLE_EQ(chart.lower(), -2.5);
  Recorder rec;
  for (int i = 1; i <= 6; ++i) ASSERT_TRUE(chart.Add(0, 1, At(i), rec).ok());
  // Each on-target point takes k = 0.5 off each sum: both reach zero at point 5.
  EXPECT_NEAR(rec.points[3].upper, 0.5, 1e-12);
  EXPECT_NEAR(rec.points[3].lower, -0.5, 1e-12);
  EXPECT_DOUBLE_EQ(rec.points[4].upper, 0);
  EXPECT_DOUBLE_EQ(rec.points[4].lower, 0);
  EXPECT_TRUE(rec.hits.empty());
}

TEST(CusumChartTest, SumsStartAtPositiveZero) {
  CusumChart chart(Spec(0, 1, 0.5, 5));
  EXPECT_FALSE(std::signbit(chart.lower())) << "-0 would print as -0 in replay output";
  EXPECT_FALSE(std::signbit(chart.upper()));
}

// ---- resets ----

// k = 0 and a head start of 0.9 with h = 1 leave both sums non-zero when one of them
// signals, so the three reset modes part: z = +0.2 (the upper sum signals) or -0.2 (the lower
// one, the mirror image), then 0.
TEST(CusumChartTest, ResetModesRestartTheirSidesFromTheHeadStart) {
  struct Case {
    CusumReset reset;
    double signalling_after, other_after;  // |sums| after point 1 and its reset
    std::vector<std::int64_t> hits;
  } cases[] = {
      {CusumReset::kNone, 1.1, 0.7, {1, 2}},
      {CusumReset::kBoth, 0.9, 0.9, {1}},
      {CusumReset::kSide, 0.9, 0.7, {1}},
  };
  for (const double sign : {1.0, -1.0}) {
    for (const auto& c : cases) {
      SCOPED_TRACE("reset " + std::to_string(static_cast<int>(c.reset)) + ", sign " + std::to_string(sign));
      CusumChartSpec spec = Spec(0, 1, 0, 1, 0.9);
      spec.reset = c.reset;
      ASSERT_TRUE(spec.Validate().ok());
      CusumChart chart(spec);
      Recorder rec;
      ASSERT_TRUE(chart.Add(0.2 * sign, 1, At(1), rec).ok());
      // The point shows the sums before the reset.
      EXPECT_NEAR(rec.points[0].upper, sign > 0 ? 1.1 : 0.7, 1e-12);
      EXPECT_NEAR(rec.points[0].lower, sign > 0 ? -0.7 : -1.1, 1e-12);
      const double upper_after = sign > 0 ? c.signalling_after : c.other_after;
      const double lower_after = -(sign > 0 ? c.other_after : c.signalling_after);
      EXPECT_NEAR(chart.upper(), upper_after, 1e-12);
      EXPECT_NEAR(chart.lower(), lower_after, 1e-12);
      ASSERT_TRUE(chart.Add(0.0, 1, At(2), rec).ok());
      EXPECT_NEAR(rec.points[1].upper, upper_after, 1e-12);
      EXPECT_NEAR(rec.points[1].lower, lower_after, 1e-12);
      EXPECT_EQ(rec.HitIndexes(), c.hits);
      for (const auto& h : rec.hits) EXPECT_EQ(h.value > 0, sign > 0) << "only the pushed side signals";
    }
  }
}

TEST(CusumChartTest, WithoutResetASustainedShiftSignalsEveryPointOfOneRun) {
  // z = 2: C+ grows by 1.5 a point and first exceeds h = 4 at point 3.
  Recorder rec = FeedIndividuals(Spec(0, 1, 0.5, 4), std::vector<double>(6, 2.0));
  EXPECT_EQ(rec.HitIndexes(), (std::vector<std::int64_t>{3, 4, 5, 6}));
  for (const auto& h : rec.hits) {
    EXPECT_EQ(h.first, 1);
    EXPECT_EQ(h.window_start, At(1));
  }
}

TEST(CusumChartTest, ResetStartsANewRunAfterTheSignal) {
  CusumChartSpec spec = Spec(0, 1, 0.5, 4);
  spec.reset = CusumReset::kBoth;
  Recorder rec = FeedIndividuals(spec, {0.0, 0.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0});
  // Run from point 3: 1.5, 3.0, 4.5 -> signal at 5; reset; 1.5, 3.0, 4.5 -> signal at 8.
  ASSERT_EQ(rec.HitIndexes(), (std::vector<std::int64_t>{5, 8}));
  EXPECT_EQ(rec.hits[0].first, 3);
  EXPECT_EQ(rec.hits[0].window_start, At(2));
  EXPECT_EQ(rec.hits[1].first, 6) << "the run restarts after the reset";
  EXPECT_EQ(rec.hits[1].last, 8);
  EXPECT_EQ(rec.hits[1].window_start, At(4)) << "point 5 signalled; point 4 was the last in control";
}

TEST(CusumChartTest, BothSidesCanSignalOnOnePoint) {
  // z = 10: C+ = 9.5 (signal). z = -4.6: C+ = 4.4 > 4 and C- = -4.1 < -4.
  Recorder rec = FeedIndividuals(Spec(0, 1, 0.5, 4), {10.0, -4.6});
  ASSERT_EQ(rec.hits.size(), 3u);
  EXPECT_EQ(rec.hits[1].index, 2);
  EXPECT_GT(rec.hits[1].value, 0) << "upper first";
  EXPECT_EQ(rec.hits[1].first, 1);
  EXPECT_LT(rec.hits[2].value, 0);
  EXPECT_EQ(rec.hits[2].first, 2);
  EXPECT_EQ(rec.hits[2].window_start, At(2)) << "no point was ever in control";
}

// ---- errors ----

TEST(CusumChartTest, AddRejectsBadInputAndChangesNothing) {
  CusumChart chart(Spec(0, 1, 0.5, 5));
  Recorder rec;
  ASSERT_TRUE(chart.Add(2, 1, At(1), rec).ok());
  const double up = chart.upper(), down = chart.lower();

  Status st = chart.Add(2, -3, At(2), rec);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("sample size must be >= 1, found -3"), std::string::npos) << st.message();
  st = chart.Add(-std::numeric_limits<double>::infinity(), 1, At(2), rec);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("statistic must be a finite number, found -inf"), std::string::npos) << st.message();

  EXPECT_EQ(rec.points.size(), 1u);
  EXPECT_EQ(chart.points(), 1);
  EXPECT_DOUBLE_EQ(chart.upper(), up);
  EXPECT_DOUBLE_EQ(chart.lower(), down);
}

}  // namespace
}  // namespace shewhart::rules

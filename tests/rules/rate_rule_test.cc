#include "shewhart/rules/rate_rule.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>

namespace shewhart::rules {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

// A shard keeps rules in fixed slots and checkpoints them by copy.
static_assert(std::is_trivially_copyable_v<RateRule>);
static_assert(std::is_trivially_copyable_v<RateSpec>);

constexpr double kInf = std::numeric_limits<double>::infinity();

RateSpec Spec(double max_rise, double max_fall, Boundary boundary = Boundary::kStrict) {
  RateSpec s;
  s.max_rise = max_rise;
  s.max_fall = max_fall;
  s.boundary = boundary;
  return s;
}

EventTime Ms(long long ms) { return EventTime(milliseconds(ms)); }

// ---- reference ----

TEST(RateRuleTest, FirstValueIsNotJudgedAndBecomesTheReference) {
  RateRule rule(Spec(1, 1));
  EXPECT_FALSE(rule.has_reference());
  RateVerdict v = rule.Evaluate(100, Ms(0));
  EXPECT_FALSE(v.judged);
  EXPECT_FALSE(v.fired) << "a first value far from anything does not fire";
  EXPECT_EQ(v.rate, 0);
  EXPECT_TRUE(rule.has_reference());
  EXPECT_EQ(rule.reference_value(), 100);
  EXPECT_EQ(rule.reference_ts(), Ms(0));
  v = rule.Evaluate(100.5, Ms(1000));
  EXPECT_TRUE(v.judged);
  EXPECT_FALSE(v.fired);
  EXPECT_EQ(v.rate, 0.5);
  EXPECT_EQ(rule.reference_value(), 100.5);
  EXPECT_EQ(rule.reference_ts(), Ms(1000));
}

// ---- limits: rises and falls, strict and inclusive ----

TEST(RateRuleTest, RiseExactlyAtTheLimitFiresOnlyWhenInclusive) {
  RateRule strict(Spec(2, kInf, Boundary::kStrict));
  RateRule inclusive(Spec(2, kInf, Boundary::kInclusive));
  for (RateRule* r : {&strict, &inclusive}) (void)r->Evaluate(0, Ms(0));
  RateVerdict s = strict.Evaluate(2, Ms(1000));
  RateVerdict i = inclusive.Evaluate(2, Ms(1000));
  EXPECT_EQ(s.rate, 2);
  EXPECT_EQ(i.rate, 2);
  EXPECT_TRUE(s.judged);
  EXPECT_FALSE(s.fired) << "strict: exactly max_rise is allowed";
  EXPECT_TRUE(i.fired) << "inclusive: exactly max_rise fires";
  // Just above the limit fires in both modes; just below in neither.
  const double above = std::nextafter(4.0, kInf);
  RateVerdict sa = strict.Evaluate(above, Ms(2000));
  EXPECT_GT(sa.rate, 2);
  EXPECT_TRUE(sa.fired);
  EXPECT_TRUE(inclusive.Evaluate(above, Ms(2000)).fired);
  RateRule inclusive2(Spec(2, kInf, Boundary::kInclusive));
  (void)inclusive2.Evaluate(0, Ms(0));
  RateVerdict b = inclusive2.Evaluate(std::nextafter(2.0, 0.0), Ms(1000));
  EXPECT_LT(b.rate, 2);
  EXPECT_FALSE(b.fired);
}

TEST(RateRuleTest, FallExactlyAtTheLimitFiresOnlyWhenInclusive) {
  RateRule strict(Spec(kInf, 2, Boundary::kStrict));
  RateRule inclusive(Spec(kInf, 2, Boundary::kInclusive));
  for (RateRule* r : {&strict, &inclusive}) (void)r->Evaluate(10, Ms(0));
  RateVerdict s = strict.Evaluate(8, Ms(1000));
  RateVerdict i = inclusive.Evaluate(8, Ms(1000));
  EXPECT_EQ(s.rate, -2) << "a fall is a negative rate";
  EXPECT_EQ(i.rate, -2);
  EXPECT_FALSE(s.fired) << "strict: a fall of exactly max_fall is allowed";
  EXPECT_TRUE(i.fired) << "inclusive: a fall of exactly max_fall fires";
  RateVerdict steeper = strict.Evaluate(5.5, Ms(2000));
  EXPECT_EQ(steeper.rate, -2.5);
  EXPECT_TRUE(steeper.fired);
}

TEST(RateRuleTest, EachLimitJudgesOnlyItsOwnDirection) {
  RateRule rise_only(Spec(1, kInf, Boundary::kInclusive));
  (void)rise_only.Evaluate(0, Ms(0));
  RateVerdict v = rise_only.Evaluate(-1000, Ms(1000));
  EXPECT_TRUE(v.judged);
  EXPECT_EQ(v.rate, -1000);
  EXPECT_FALSE(v.fired) << "max_fall +inf: falls are not checked, even inclusive";
  EXPECT_TRUE(rise_only.Evaluate(-998, Ms(2000)).fired);

  RateRule fall_only(Spec(kInf, 1, Boundary::kInclusive));
  (void)fall_only.Evaluate(0, Ms(0));
  EXPECT_FALSE(fall_only.Evaluate(1000, Ms(1000)).fired);
  EXPECT_TRUE(fall_only.Evaluate(998, Ms(2000)).fired);
}

TEST(RateRuleTest, FlatAndSlowStepsDoNotFire) {
  RateRule rule(Spec(1, 1, Boundary::kInclusive));
  (void)rule.Evaluate(5, Ms(0));
  RateVerdict flat = rule.Evaluate(5, Ms(1000));
  EXPECT_TRUE(flat.judged);
  EXPECT_EQ(flat.rate, 0);
  EXPECT_FALSE(flat.fired);
  EXPECT_FALSE(rule.Evaluate(5.5, Ms(2000)).fired);
  EXPECT_FALSE(rule.Evaluate(5.25, Ms(3000)).fired);
}

TEST(RateRuleTest, FiresOnEveryJudgedStepOfASteepRamp) {
  RateRule rule(Spec(1, kInf));
  (void)rule.Evaluate(0, Ms(0));
  for (int i = 1; i <= 5; ++i) {
    RateVerdict v = rule.Evaluate(2.0 * i, Ms(1000 * i));
    EXPECT_TRUE(v.fired) << i;
    EXPECT_EQ(v.rate, 2) << i;
  }
}

// ---- time ----

TEST(RateRuleTest, RateIsPerUnitOfEventTimeAcrossGaps) {
  RateRule rule(Spec(3, 3));
  (void)rule.Evaluate(0, Ms(0));
  RateVerdict v = rule.Evaluate(4, Ms(2000));  // +4 over 2 s
  EXPECT_EQ(v.rate, 2);
  EXPECT_FALSE(v.fired);
  v = rule.Evaluate(5, Ms(2250));  // +1 over 250 ms
  EXPECT_EQ(v.rate, 4);
  EXPECT_TRUE(v.fired);
  v = rule.Evaluate(-1, Ms(62250));  // -6 over a 60 s gap
  EXPECT_EQ(v.rate, -0.1);
  EXPECT_FALSE(v.fired) << "a large change over a long gap is a slow rate";
  v = rule.Evaluate(-1.5, Ms(62350));  // -0.5 over 100 ms
  EXPECT_EQ(v.rate, -5);
  EXPECT_TRUE(v.fired);
}

TEST(RateRuleTest, PerSetsTheUnitOfTheRateAndOfTheLimits) {
  RateSpec spec = Spec(90, kInf);
  spec.per = minutes(1);
  RateRule rule(spec);
  (void)rule.Evaluate(0, Ms(0));
  RateVerdict v = rule.Evaluate(1.5, Ms(1000));  // 1.5 per second = 90 per minute
  EXPECT_EQ(v.rate, 90);
  EXPECT_FALSE(v.fired);
  v = rule.Evaluate(3.25, Ms(2000));  // 105 per minute
  EXPECT_EQ(v.rate, 105);
  EXPECT_TRUE(v.fired);
  // Microsecond resolution: +1 over 1 us with per = 1 us.
  RateSpec fine = Spec(0.5, kInf);
  fine.per = microseconds(1);
  RateRule micro(fine);
  (void)micro.Evaluate(0, EventTime(microseconds(7)));
  v = micro.Evaluate(1, EventTime(microseconds(8)));
  EXPECT_EQ(v.rate, 1);
  EXPECT_TRUE(v.fired);
}

TEST(RateRuleTest, EqualTimestampIsNotJudgedAndKeepsTheOldReference) {
  RateRule rule(Spec(5, 5));
  (void)rule.Evaluate(0, Ms(1000));
  RateVerdict v = rule.Evaluate(100, Ms(1000));
  EXPECT_FALSE(v.judged);
  EXPECT_FALSE(v.fired) << "an infinite rate is not judged";
  EXPECT_EQ(v.rate, 0);
  EXPECT_EQ(rule.reference_value(), 0) << "the first value at an instant stays the reference";
  EXPECT_EQ(rule.reference_ts(), Ms(1000));
  v = rule.Evaluate(1, Ms(2000));
  EXPECT_TRUE(v.judged);
  EXPECT_EQ(v.rate, 1) << "judged against 0 at 1 s, not 100";
  EXPECT_FALSE(v.fired);
}

TEST(RateRuleTest, EarlierTimestampIsNotJudgedAndKeepsTheOldReference) {
  RateRule rule(Spec(5, 5));
  (void)rule.Evaluate(0, Ms(5000));
  RateVerdict v = rule.Evaluate(50, Ms(3000));
  EXPECT_FALSE(v.judged);
  EXPECT_FALSE(v.fired);
  EXPECT_EQ(rule.reference_ts(), Ms(5000)) << "a late event does not move the reference back";
  v = rule.Evaluate(1, Ms(6000));
  EXPECT_TRUE(v.judged);
  EXPECT_EQ(v.rate, 1);
}

TEST(RateRuleTest, PairsCloserThanMinIntervalAreNotJudgedAndKeepTheReference) {
  RateSpec spec = Spec(10, 10);
  spec.min_interval = milliseconds(100);
  RateRule rule(spec);
  (void)rule.Evaluate(0, Ms(0));
  RateVerdict v = rule.Evaluate(1, Ms(50));
  EXPECT_FALSE(v.judged);
  EXPECT_FALSE(v.fired) << "20 per second over 50 ms: too close to judge";
  v = rule.Evaluate(0.5, EventTime(microseconds(99999)));
  EXPECT_FALSE(v.judged) << "one microsecond short of min_interval";
  EXPECT_EQ(rule.reference_ts(), Ms(0));
  v = rule.Evaluate(0.5, Ms(100));
  EXPECT_TRUE(v.judged) << "exactly min_interval apart is judged";
  EXPECT_EQ(v.rate, 5) << "against the reference at 0 ms";
  EXPECT_FALSE(v.fired);
  EXPECT_EQ(rule.reference_ts(), Ms(100));
}

TEST(RateRuleTest, RampSampledFasterThanMinIntervalStillFires) {
  // +0.25 every 10 ms is 25 per second; every pair is closer than 100 ms, but each judged
  // step spans the 100 ms since the reference.
  RateSpec spec = Spec(10, kInf);
  spec.min_interval = milliseconds(100);
  RateRule rule(spec);
  int fired = 0, judged = 0;
  for (int i = 0; i <= 30; ++i) {
    RateVerdict v = rule.Evaluate(0.25 * i, Ms(10 * i));
    if (v.judged) {
      ++judged;
      EXPECT_EQ(v.rate, 25) << i;
      EXPECT_EQ(i % 10, 0) << "judged every 100 ms";
    }
    if (v.fired) ++fired;
  }
  EXPECT_EQ(judged, 3);
  EXPECT_EQ(fired, 3);
}

TEST(RateRuleTest, SpikeWithinMinIntervalOfTheReferenceIsNotSeen) {
  RateSpec spec = Spec(10, 10);
  spec.min_interval = milliseconds(100);
  RateRule rule(spec);
  (void)rule.Evaluate(0, Ms(0));
  EXPECT_FALSE(rule.Evaluate(50, Ms(30)).fired);
  RateVerdict v = rule.Evaluate(0, Ms(120));
  EXPECT_TRUE(v.judged);
  EXPECT_EQ(v.rate, 0);
  EXPECT_FALSE(v.fired);
}

// ---- extremes ----

TEST(RateRuleTest, OverflowingProductFallsBackAndOverflowingDifferenceIsInfinite) {
  RateRule rule(Spec(1e304, 1));
  (void)rule.Evaluate(0, Ms(0));
  // (1e303 * 1e6) overflows; 1e303 / 1e6 * 1e6 does not.
  RateVerdict v = rule.Evaluate(1e303, Ms(1000));
  EXPECT_TRUE(std::isfinite(v.rate));
  EXPECT_NEAR(v.rate / 1e303, 1, 1e-15);
  EXPECT_FALSE(v.fired);

  RateRule wide(Spec(1e300, 1e300));
  (void)wide.Evaluate(-1.5e308, Ms(0));
  v = wide.Evaluate(1.5e308, Ms(1000));
  EXPECT_EQ(v.rate, kInf);
  EXPECT_TRUE(v.fired);
  v = wide.Evaluate(-1.5e308, Ms(2000));
  EXPECT_EQ(v.rate, -kInf);
  EXPECT_TRUE(v.fired);

  // An infinite limit is no check, even against an infinite rate in inclusive mode.
  RateRule fall_only(Spec(kInf, 1, Boundary::kInclusive));
  (void)fall_only.Evaluate(-1.5e308, Ms(0));
  v = fall_only.Evaluate(1.5e308, Ms(1000));
  EXPECT_EQ(v.rate, kInf);
  EXPECT_FALSE(v.fired);
}

// ---- state ----

TEST(RateRuleTest, ResetForgetsTheReference) {
  RateRule rule(Spec(1, 1));
  (void)rule.Evaluate(0, Ms(0));
  rule.Reset();
  EXPECT_FALSE(rule.has_reference());
  RateVerdict v = rule.Evaluate(100, Ms(1000));
  EXPECT_FALSE(v.judged);
  EXPECT_FALSE(v.fired);
  EXPECT_EQ(rule.reference_value(), 100);
  EXPECT_EQ(rule.reference_ts(), Ms(1000));
}

TEST(RateRuleTest, ACopyIsACheckpoint) {
  RateRule rule(Spec(1, 1));
  (void)rule.Evaluate(0, Ms(0));
  RateRule restored = rule;
  RateVerdict v = restored.Evaluate(3, Ms(1000));
  EXPECT_TRUE(v.judged);
  EXPECT_TRUE(v.fired);
  EXPECT_EQ(rule.reference_value(), 0) << "the original is untouched";
}

// ---- Validate ----

TEST(RateSpecTest, ValidateNamesTheFieldAndTheValueFound) {
  struct Case {
    RateSpec spec;
    const char* fragment;
  };
  auto with_per = [](microseconds per) {
    RateSpec s = Spec(1, kInf);
    s.per = per;
    return s;
  };
  auto with_min_interval = [](microseconds d) {
    RateSpec s = Spec(1, kInf);
    s.min_interval = d;
    return s;
  };
  RateSpec bad_boundary = Spec(1, 1);
  bad_boundary.boundary = static_cast<Boundary>(9);
  const double nan = std::nan("");
  const Case cases[] = {
      {Spec(-1, 1), "rate max_rise must be > 0 (or +inf: no check), found -1"},
      {Spec(0, 1), "rate max_rise must be > 0 (or +inf: no check), found 0"},
      {Spec(nan, 1), "rate max_rise must be > 0 (or +inf: no check), found nan"},
      {Spec(-kInf, 1), "rate max_rise must be > 0 (or +inf: no check), found -inf"},
      {Spec(1, -2), "rate max_fall must be > 0, a fall written as a positive number (or +inf: no check), found -2"},
      {Spec(kInf, 0), "rate max_fall must be > 0, a fall written as a positive number (or +inf: no check), found 0"},
      {Spec(kInf, kInf), "rate needs a finite max_rise or max_fall, found both +inf"},
      {with_per(microseconds(0)), "rate per must be > 0, found 0us"},
      {with_per(seconds(-1)), "rate per must be > 0, found -1000000us"},
      {with_min_interval(microseconds(-1)), "rate min_interval must be >= 0, found -1us"},
      {bad_boundary, "rate boundary must be strict or inclusive, found 9"},
  };
  for (const auto& c : cases) {
    Status st = c.spec.Validate();
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << c.fragment;
    EXPECT_NE(st.message().find(c.fragment), std::string::npos) << st.message();
  }
}

TEST(RateSpecTest, ValidateAcceptsTheEdgesOfEachRange) {
  EXPECT_TRUE(Spec(1, kInf).Validate().ok());
  EXPECT_TRUE(Spec(kInf, 1).Validate().ok());
  EXPECT_TRUE(Spec(std::numeric_limits<double>::denorm_min(), 1e308).Validate().ok());
  RateSpec s = Spec(1, 1, Boundary::kInclusive);
  s.per = microseconds(1);
  s.min_interval = microseconds(0);
  EXPECT_TRUE(s.Validate().ok());
  s.min_interval = minutes(5);
  EXPECT_TRUE(s.Validate().ok()) << "min_interval may exceed per";
}

// ---- preconditions (bugs in the caller, not input errors) ----

TEST(RateRuleDeathTest, NonFiniteValueIsAPreconditionViolation) {
  RateRule rule(Spec(1, 1));
  EXPECT_DEATH((void)rule.Evaluate(std::nan(""), Ms(0)), "SHEWHART_CHECK failed: std::isfinite\\(value\\)");
  (void)rule.Evaluate(0, Ms(0));
  EXPECT_DEATH((void)rule.Evaluate(-kInf, Ms(1000)), "SHEWHART_CHECK failed: std::isfinite\\(value\\)");
}

TEST(RateRuleDeathTest, ConstructingFromAnInvalidSpecAborts) {
  EXPECT_DEATH(RateRule(Spec(kInf, kInf)), "SHEWHART_CHECK failed: spec_.Validate\\(\\).ok\\(\\)");
}

}  // namespace
}  // namespace shewhart::rules

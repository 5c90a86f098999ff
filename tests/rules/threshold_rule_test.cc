#include "shewhart/rules/threshold_rule.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>

namespace shewhart::rules {
namespace {

// A shard keeps rules in fixed slots and checkpoints them by copy.
static_assert(std::is_trivially_copyable_v<ThresholdRule>);
static_assert(std::is_trivially_copyable_v<ThresholdSpec>);

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr Boundary kBothModes[] = {Boundary::kStrict, Boundary::kInclusive};

ThresholdSpec Spec(std::optional<double> low, std::optional<double> high, double hysteresis = 0,
                   Boundary boundary = Boundary::kStrict) {
  ThresholdSpec s;
  s.low = low;
  s.high = high;
  s.hysteresis = hysteresis;
  s.boundary = boundary;
  return s;
}

const char* ModeName(Boundary b) { return b == Boundary::kStrict ? "strict" : "inclusive"; }

// ---- firing on entry ----

TEST(ThresholdRuleTest, FiresOnTheValueThatEntersAHighExcursionAndOnlyThen) {
  ThresholdRule rule(Spec(std::nullopt, 10));
  EXPECT_EQ(rule.Evaluate(9), ThresholdSide::kNone);
  EXPECT_FALSE(rule.active());
  EXPECT_EQ(rule.active_side(), ThresholdSide::kNone);
  EXPECT_EQ(rule.Evaluate(10.5), ThresholdSide::kHigh);
  EXPECT_TRUE(rule.active());
  EXPECT_EQ(rule.active_side(), ThresholdSide::kHigh);
  // Further values beyond the limit belong to the same excursion.
  EXPECT_EQ(rule.Evaluate(11), ThresholdSide::kNone);
  EXPECT_EQ(rule.Evaluate(1e6), ThresholdSide::kNone);
  EXPECT_EQ(rule.Evaluate(10.5), ThresholdSide::kNone);
  EXPECT_TRUE(rule.active());
  EXPECT_EQ(rule.active_side(), ThresholdSide::kHigh);
}

TEST(ThresholdRuleTest, StrictValueOnTheLimitIsInsideInclusiveValueOnTheLimitFires) {
  ThresholdRule strict(Spec(0, 10, 0, Boundary::kStrict));
  EXPECT_EQ(strict.Evaluate(10), ThresholdSide::kNone);
  EXPECT_EQ(strict.Evaluate(0), ThresholdSide::kNone);
  EXPECT_FALSE(strict.active());
  EXPECT_EQ(strict.Evaluate(std::nextafter(10.0, kInf)), ThresholdSide::kHigh);

  ThresholdRule inclusive(Spec(0, 10, 0, Boundary::kInclusive));
  EXPECT_EQ(inclusive.Evaluate(std::nextafter(10.0, 0.0)), ThresholdSide::kNone);
  EXPECT_EQ(inclusive.Evaluate(10), ThresholdSide::kHigh);
  ThresholdRule inclusive_low(Spec(0, 10, 0, Boundary::kInclusive));
  EXPECT_EQ(inclusive_low.Evaluate(std::nextafter(0.0, 10.0)), ThresholdSide::kNone);
  EXPECT_EQ(inclusive_low.Evaluate(0), ThresholdSide::kLow);
}

TEST(ThresholdRuleTest, FiresOnceOnEntryIntoALowExcursion) {
  ThresholdRule rule(Spec(-5, std::nullopt, 1));
  EXPECT_EQ(rule.Evaluate(-4), ThresholdSide::kNone);
  EXPECT_EQ(rule.Evaluate(-5.5), ThresholdSide::kLow);
  EXPECT_EQ(rule.active_side(), ThresholdSide::kLow);
  EXPECT_EQ(rule.Evaluate(-7), ThresholdSide::kNone);
  EXPECT_EQ(rule.Evaluate(-4.5), ThresholdSide::kNone) << "inside the band (-5, -4): not re-armed";
  EXPECT_EQ(rule.Evaluate(-6), ThresholdSide::kNone);
  EXPECT_TRUE(rule.active());
  EXPECT_EQ(rule.Evaluate(-4), ThresholdSide::kNone) << "re-arms at low + hysteresis";
  EXPECT_FALSE(rule.active());
  EXPECT_EQ(rule.Evaluate(-6), ThresholdSide::kLow);
}

TEST(ThresholdRuleTest, OneSidedSpecsIgnoreTheOtherDirection) {
  ThresholdRule high_only(Spec(std::nullopt, 10));
  EXPECT_EQ(high_only.Evaluate(-1e300), ThresholdSide::kNone);
  EXPECT_FALSE(high_only.active());
  ThresholdRule low_only(Spec(10, std::nullopt));
  EXPECT_EQ(low_only.Evaluate(1e300), ThresholdSide::kNone);
  EXPECT_FALSE(low_only.active());
}

// ---- no refire inside an excursion; re-arming ----

TEST(ThresholdRuleTest, NoRefireWhileTheValueStaysInsideTheHysteresisBand) {
  ThresholdRule rule(Spec(std::nullopt, 10, 2));
  EXPECT_EQ(rule.Evaluate(11), ThresholdSide::kHigh);
  // Chatter around the limit, never down to 8: one firing only.
  for (double v : {9.0, 10.5, 8.5, 12.0, 9.99, 10.01, 8.000001}) {
    EXPECT_EQ(rule.Evaluate(v), ThresholdSide::kNone) << v;
    EXPECT_TRUE(rule.active()) << v;
    EXPECT_EQ(rule.active_side(), ThresholdSide::kHigh) << v;
  }
  EXPECT_EQ(rule.Evaluate(7), ThresholdSide::kNone);
  EXPECT_FALSE(rule.active());
  EXPECT_EQ(rule.Evaluate(10.01), ThresholdSide::kHigh) << "re-armed: a new excursion fires";
}

TEST(ThresholdRuleTest, HighRearmsAtExactlyHighMinusHysteresisInBothModes) {
  for (Boundary b : kBothModes) {
    ThresholdRule rule(Spec(std::nullopt, 10, 2, b));
    EXPECT_EQ(rule.Evaluate(11), ThresholdSide::kHigh) << ModeName(b);
    EXPECT_EQ(rule.Evaluate(std::nextafter(8.0, kInf)), ThresholdSide::kNone) << ModeName(b);
    EXPECT_TRUE(rule.active()) << ModeName(b) << ": just above 8 does not re-arm";
    EXPECT_EQ(rule.Evaluate(8), ThresholdSide::kNone) << ModeName(b);
    EXPECT_FALSE(rule.active()) << ModeName(b) << ": exactly high - hysteresis re-arms";
    EXPECT_EQ(rule.active_side(), ThresholdSide::kNone) << ModeName(b);
    EXPECT_EQ(rule.Evaluate(11), ThresholdSide::kHigh) << ModeName(b);
  }
}

TEST(ThresholdRuleTest, LowRearmsAtExactlyLowPlusHysteresisInBothModes) {
  for (Boundary b : kBothModes) {
    ThresholdRule rule(Spec(0, 100, 1.5, b));
    EXPECT_EQ(rule.Evaluate(-1), ThresholdSide::kLow) << ModeName(b);
    EXPECT_EQ(rule.Evaluate(std::nextafter(1.5, 0.0)), ThresholdSide::kNone) << ModeName(b);
    EXPECT_TRUE(rule.active()) << ModeName(b) << ": just below 1.5 does not re-arm";
    EXPECT_EQ(rule.Evaluate(1.5), ThresholdSide::kNone) << ModeName(b);
    EXPECT_FALSE(rule.active()) << ModeName(b) << ": exactly low + hysteresis re-arms";
    EXPECT_EQ(rule.Evaluate(-1), ThresholdSide::kLow) << ModeName(b);
  }
}

TEST(ThresholdRuleTest, ZeroHysteresisRearmsAsSoonAsAValueIsNotBeyond) {
  ThresholdRule strict(Spec(0, 10, 0, Boundary::kStrict));
  EXPECT_EQ(strict.Evaluate(11), ThresholdSide::kHigh);
  EXPECT_EQ(strict.Evaluate(10), ThresholdSide::kNone);
  EXPECT_FALSE(strict.active()) << "strict: a value on the limit is not beyond, so it re-arms";
  EXPECT_EQ(strict.Evaluate(10.5), ThresholdSide::kHigh);
  EXPECT_EQ(strict.Evaluate(-1), ThresholdSide::kLow);
  EXPECT_EQ(strict.Evaluate(0), ThresholdSide::kNone);
  EXPECT_FALSE(strict.active());
  EXPECT_EQ(strict.Evaluate(-1), ThresholdSide::kLow);

  ThresholdRule inclusive(Spec(0, 10, 0, Boundary::kInclusive));
  EXPECT_EQ(inclusive.Evaluate(10), ThresholdSide::kHigh);
  EXPECT_EQ(inclusive.Evaluate(10), ThresholdSide::kNone);
  EXPECT_TRUE(inclusive.active()) << "inclusive: a value on the limit is beyond; the excursion goes on";
  EXPECT_EQ(inclusive.Evaluate(std::nextafter(10.0, 0.0)), ThresholdSide::kNone);
  EXPECT_FALSE(inclusive.active());
  EXPECT_EQ(inclusive.Evaluate(10), ThresholdSide::kHigh);
  EXPECT_EQ(inclusive.Evaluate(0), ThresholdSide::kLow);
  EXPECT_EQ(inclusive.Evaluate(0), ThresholdSide::kNone);
  EXPECT_TRUE(inclusive.active());
  EXPECT_EQ(inclusive.Evaluate(std::nextafter(0.0, 10.0)), ThresholdSide::kNone);
  EXPECT_FALSE(inclusive.active());
}

// ---- both sides ----

TEST(ThresholdRuleTest, JumpFromAboveHighStraightBelowLowFiresLowAtOnce) {
  ThresholdRule rule(Spec(0, 10, 2));
  EXPECT_EQ(rule.Evaluate(11), ThresholdSide::kHigh);
  EXPECT_EQ(rule.Evaluate(-1), ThresholdSide::kLow);
  EXPECT_EQ(rule.active_side(), ThresholdSide::kLow);
  EXPECT_EQ(rule.Evaluate(-3), ThresholdSide::kNone) << "same low excursion";
  EXPECT_EQ(rule.Evaluate(12), ThresholdSide::kHigh) << "and back up: high fires at once";
  EXPECT_EQ(rule.active_side(), ThresholdSide::kHigh);
  EXPECT_EQ(rule.Evaluate(9), ThresholdSide::kNone);
  EXPECT_EQ(rule.Evaluate(1), ThresholdSide::kNone) << "inside: re-arms high";
  EXPECT_FALSE(rule.active());
}

TEST(ThresholdRuleTest, ExcursionsOnBothSidesEachFireOnce) {
  ThresholdRule rule(Spec(0, 10, 1));
  const double values[] = {5, 10.5, 11, 9.5, 10.2, 9, 5, -0.5, -2, 0.5, -0.1, 1, 5, 10.1};
  const ThresholdSide kN = ThresholdSide::kNone, kH = ThresholdSide::kHigh, kL = ThresholdSide::kLow;
  const ThresholdSide expected[] = {kN, kH, kN, kN, kN, kN, kN, kL, kN, kN, kN, kN, kN, kH};
  for (std::size_t i = 0; i < std::size(values); ++i) {
    EXPECT_EQ(rule.Evaluate(values[i]), expected[i]) << "value " << i << " = " << values[i];
  }
}

TEST(ThresholdRuleTest, HysteresisOfHalfTheGapLetsTheMidpointRearmEitherSide) {
  for (Boundary b : kBothModes) {
    ThresholdRule rule(Spec(0, 10, 5, b));
    EXPECT_EQ(rule.Evaluate(11), ThresholdSide::kHigh) << ModeName(b);
    EXPECT_EQ(rule.Evaluate(5), ThresholdSide::kNone) << ModeName(b);
    EXPECT_FALSE(rule.active()) << ModeName(b);
    EXPECT_EQ(rule.Evaluate(-1), ThresholdSide::kLow) << ModeName(b);
    EXPECT_EQ(rule.Evaluate(std::nextafter(5.0, 0.0)), ThresholdSide::kNone) << ModeName(b);
    EXPECT_TRUE(rule.active()) << ModeName(b);
    EXPECT_EQ(rule.Evaluate(5), ThresholdSide::kNone) << ModeName(b);
    EXPECT_FALSE(rule.active()) << ModeName(b);
  }
}

// ---- state ----

TEST(ThresholdRuleTest, ResetForgetsTheExcursion) {
  ThresholdRule rule(Spec(0, 10, 2));
  EXPECT_EQ(rule.Evaluate(11), ThresholdSide::kHigh);
  rule.Reset();
  EXPECT_FALSE(rule.active());
  EXPECT_EQ(rule.active_side(), ThresholdSide::kNone);
  EXPECT_EQ(rule.Evaluate(11), ThresholdSide::kHigh) << "the same value fires again after Reset";
}

TEST(ThresholdRuleTest, ACopyIsACheckpoint) {
  ThresholdRule rule(Spec(0, 10, 2));
  EXPECT_EQ(rule.Evaluate(11), ThresholdSide::kHigh);
  ThresholdRule restored = rule;
  EXPECT_EQ(restored.active_side(), ThresholdSide::kHigh);
  EXPECT_EQ(restored.Evaluate(12), ThresholdSide::kNone);
  EXPECT_EQ(restored.Evaluate(8), ThresholdSide::kNone);
  EXPECT_EQ(restored.Evaluate(12), ThresholdSide::kHigh);
  EXPECT_EQ(rule.active_side(), ThresholdSide::kHigh) << "the original is untouched";
}

// ---- Validate ----

TEST(ThresholdSpecTest, ValidateNamesTheFieldAndTheValueFound) {
  struct Case {
    ThresholdSpec spec;
    const char* fragment;
  };
  const double nan = std::nan("");
  const Case cases[] = {
      {Spec(std::nullopt, std::nullopt), "threshold needs high or low (or both), found neither"},
      {Spec(std::nullopt, kInf), "threshold high must be a finite number, found inf"},
      {Spec(nan, 10), "threshold low must be a finite number, found nan"},
      {Spec(-kInf, std::nullopt), "threshold low must be a finite number, found -inf"},
      {Spec(5, 5), "threshold low must be below high, found low 5 with high 5"},
      {Spec(7, 3), "threshold low must be below high, found low 7 with high 3"},
      {Spec(0, 10, -1), "threshold hysteresis must be >= 0, found -1"},
      {Spec(std::nullopt, 10, nan), "threshold hysteresis must be >= 0, found nan"},
      {Spec(0, std::nullopt, kInf), "threshold hysteresis must be a finite number, found inf"},
      {Spec(0, 10, 5.5),
       "threshold hysteresis must be at most half of high - low, found hysteresis 5.5 with low 0 and high 10 "
       "(re-arm levels cross: low + hysteresis 5.5 > high - hysteresis 4.5)"},
      {Spec(std::nullopt, -1e308, 1e308),
       "threshold hysteresis 1e+308 puts the high re-arm level (high - hysteresis) out of range with high -1e+308, "
       "found -inf"},
      {Spec(1e308, std::nullopt, 1e308),
       "threshold hysteresis 1e+308 puts the low re-arm level (low + hysteresis) out of range with low 1e+308, "
       "found inf"},
      {Spec(0, 10, 0, static_cast<Boundary>(7)), "threshold boundary must be strict or inclusive, found 7"},
  };
  for (const auto& c : cases) {
    Status st = c.spec.Validate();
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << c.fragment;
    EXPECT_NE(st.message().find(c.fragment), std::string::npos) << st.message();
  }
}

TEST(ThresholdSpecTest, ValidateAcceptsTheEdgesOfEachRange) {
  EXPECT_TRUE(Spec(std::nullopt, 10).Validate().ok());
  EXPECT_TRUE(Spec(-3, std::nullopt).Validate().ok());
  EXPECT_TRUE(Spec(std::nextafter(10.0, 0.0), 10).Validate().ok()) << "low just below high";
  EXPECT_TRUE(Spec(0, 10, 0).Validate().ok()) << "hysteresis 0";
  EXPECT_TRUE(Spec(0, 10, 5).Validate().ok()) << "hysteresis exactly half the gap: the levels meet";
  EXPECT_TRUE(Spec(std::nullopt, 10, 1e6).Validate().ok()) << "one-sided: any finite band";
  EXPECT_TRUE(Spec(0, 10, 0, Boundary::kInclusive).Validate().ok());
}

// ---- preconditions (bugs in the caller, not input errors) ----

TEST(ThresholdRuleDeathTest, NonFiniteValueIsAPreconditionViolation) {
  ThresholdRule rule(Spec(0, 10));
  EXPECT_DEATH(rule.Evaluate(std::nan("")), "SHEWHART_CHECK failed: std::isfinite\\(value\\)");
  EXPECT_DEATH(rule.Evaluate(kInf), "SHEWHART_CHECK failed: std::isfinite\\(value\\)");
}

TEST(ThresholdRuleDeathTest, ConstructingFromAnInvalidSpecAborts) {
  EXPECT_DEATH(ThresholdRule(Spec(10, 0)), "SHEWHART_CHECK failed: spec_.Validate\\(\\).ok\\(\\)");
}

}  // namespace
}  // namespace shewhart::rules

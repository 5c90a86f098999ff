#include "shewhart/rules/threshold_rule.h"

#include <cmath>
#include <string>

#include "shewhart/rules/format.h"

namespace shewhart::rules {

Status ThresholdSpec::Validate() const {
  if (!high && !low) return InvalidArgument("threshold needs high or low (or both), found neither");
  if (high && !std::isfinite(*high)) {
    return InvalidArgument("threshold high must be a finite number, found " + FormatNumber(*high));
  }
  if (low && !std::isfinite(*low)) {
    return InvalidArgument("threshold low must be a finite number, found " + FormatNumber(*low));
  }
  if (high && low && !(*low < *high)) {
    return InvalidArgument("threshold low must be below high, found low " + FormatNumber(*low) + " with high " +
                           FormatNumber(*high));
  }
  if (!(hysteresis >= 0)) {
    return InvalidArgument("threshold hysteresis must be >= 0, found " + FormatNumber(hysteresis));
  }
  if (!std::isfinite(hysteresis)) {
    return InvalidArgument("threshold hysteresis must be a finite number, found " + FormatNumber(hysteresis));
  }
  // The levels exactly as the rule computes them, so that what passes here is what it uses.
  if (high && !std::isfinite(*high - hysteresis)) {
    return InvalidArgument("threshold hysteresis " + FormatNumber(hysteresis) +
                           " puts the high re-arm level (high - hysteresis) out of range with high " +
                           FormatNumber(*high) + ", found " + FormatNumber(*high - hysteresis));
  }
  if (low && !std::isfinite(*low + hysteresis)) {
    return InvalidArgument("threshold hysteresis " + FormatNumber(hysteresis) +
                           " puts the low re-arm level (low + hysteresis) out of range with low " +
                           FormatNumber(*low) + ", found " + FormatNumber(*low + hysteresis));
  }
  if (high && low && !(*low + hysteresis <= *high - hysteresis)) {
    return InvalidArgument("threshold hysteresis must be at most half of high - low, found hysteresis " +
                           FormatNumber(hysteresis) + " with low " + FormatNumber(*low) + " and high " +
                           FormatNumber(*high) + " (re-arm levels cross: low + hysteresis " +
                           FormatNumber(*low + hysteresis) + " > high - hysteresis " +
                           FormatNumber(*high - hysteresis) + ")");
  }
  if (boundary != Boundary::kStrict && boundary != Boundary::kInclusive) {
    return InvalidArgument("threshold boundary must be strict or inclusive, found " +
                           std::to_string(static_cast<int>(boundary)));
  }
  return Status::Ok();
}

ThresholdRule::ThresholdRule(const ThresholdSpec& spec) : spec_(spec) {
  SHEWHART_CHECK(spec_.Validate().ok());
  if (spec_.high) high_rearm_ = *spec_.high - spec_.hysteresis;
  if (spec_.low) low_rearm_ = *spec_.low + spec_.hysteresis;
}

bool ThresholdRule::BeyondHigh(double value) const {
  if (!spec_.high) return false;
  return spec_.boundary == Boundary::kStrict ? value > *spec_.high : value >= *spec_.high;
}

bool ThresholdRule::BeyondLow(double value) const {
  if (!spec_.low) return false;
  return spec_.boundary == Boundary::kStrict ? value < *spec_.low : value <= *spec_.low;
}

ThresholdSide ThresholdRule::Evaluate(double value) {
  SHEWHART_CHECK(std::isfinite(value));
  // low < high, so a value is beyond at most one limit.
  if (BeyondHigh(value)) {
    if (active_ == ThresholdSide::kHigh) return ThresholdSide::kNone;
    active_ = ThresholdSide::kHigh;
    return ThresholdSide::kHigh;
  }
  if (BeyondLow(value)) {
    if (active_ == ThresholdSide::kLow) return ThresholdSide::kNone;
    active_ = ThresholdSide::kLow;
    return ThresholdSide::kLow;
  }
  if (active_ == ThresholdSide::kHigh && value <= high_rearm_) active_ = ThresholdSide::kNone;
  if (active_ == ThresholdSide::kLow && value >= low_rearm_) active_ = ThresholdSide::kNone;
  return ThresholdSide::kNone;
}

}  // namespace shewhart::rules

#include "shewhart/rules/rate_rule.h"

#include <cmath>
#include <string>

#include "shewhart/rules/format.h"

namespace shewhart::rules {

namespace {

// A limit is > 0 or +inf; NaN, 0 and negatives (a fall written as a negative number) are not.
bool ValidLimit(double limit) { return limit > 0; }

std::string FormatMicros(std::chrono::microseconds d) { return std::to_string(d.count()) + "us"; }

}  // namespace

Status RateSpec::Validate() const {
  if (!ValidLimit(max_rise)) {
    return InvalidArgument("rate max_rise must be > 0 (or +inf: no check), found " + FormatNumber(max_rise));
  }
  if (!ValidLimit(max_fall)) {
    return InvalidArgument(
        "rate max_fall must be > 0, a fall written as a positive number (or +inf: no check), found " +
        FormatNumber(max_fall));
  }
  if (std::isinf(max_rise) && std::isinf(max_fall)) {
    return InvalidArgument("rate needs a finite max_rise or max_fall, found both +inf");
  }
  if (per.count() <= 0) return InvalidArgument("rate per must be > 0, found " + FormatMicros(per));
  if (min_interval.count() < 0) {
    return InvalidArgument("rate min_interval must be >= 0, found " + FormatMicros(min_interval));
  }
  if (boundary != Boundary::kStrict && boundary != Boundary::kInclusive) {
    return InvalidArgument("rate boundary must be strict or inclusive, found " +
                           std::to_string(static_cast<int>(boundary)));
  }
  return Status::Ok();
}

RateRule::RateRule(const RateSpec& spec) : spec_(spec) {
  SHEWHART_CHECK(spec_.Validate().ok());
  check_rise_ = std::isfinite(spec_.max_rise);
  check_fall_ = std::isfinite(spec_.max_fall);
}

RateVerdict RateRule::Evaluate(double value, EventTime ts) {
  SHEWHART_CHECK(std::isfinite(value));
  if (!has_reference_) {
    has_reference_ = true;
    reference_value_ = value;
    reference_ts_ = ts;
    return RateVerdict{};
  }
  const std::chrono::microseconds dt = ts - reference_ts_;
  if (dt.count() <= 0 || dt < spec_.min_interval) return RateVerdict{};

  const double delta = value - reference_value_;
  const double per = static_cast<double>(spec_.per.count());
  const double span = static_cast<double>(dt.count());
  double rate = delta * per / span;
  if (!std::isfinite(rate)) rate = delta / span * per;

  bool fired = false;
  if (spec_.boundary == Boundary::kStrict) {
    fired = (check_rise_ && rate > spec_.max_rise) || (check_fall_ && -rate > spec_.max_fall);
  } else {
    fired = (check_rise_ && rate >= spec_.max_rise) || (check_fall_ && -rate >= spec_.max_fall);
  }
  reference_value_ = value;
  reference_ts_ = ts;
  return RateVerdict{fired, rate, true};
}

}  // namespace shewhart::rules

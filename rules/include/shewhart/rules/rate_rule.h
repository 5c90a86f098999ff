#pragma once
// Rate of change per unit of event time ("rate" in DESIGN.md's rule names): fires on a step
// from one value to the next that rises or falls faster than the spec allows.
//
// Semantics, value by value (the spec has passed Validate()):
//
//  * Reference. The rule keeps one reference: the value and event time of the newest value it
//    judged, or of the first value since construction or Reset(). Each value is compared with
//    the reference only, never with the values in between.
//  * Judged or not. Let dt = ts - reference ts. A value is judged when dt > 0 and
//    dt >= min_interval (a pair exactly min_interval apart is judged). The first value, and a
//    value with dt <= 0 (equal or earlier event time) or dt < min_interval, is not judged:
//    Evaluate returns judged = false, fired = false, rate = 0, and the reference stays as it was
//    (the first value becomes it). Keeping the reference matters: a ramp sampled faster than
//    min_interval is judged over the first interval that reaches min_interval instead of never,
//    and a late or duplicate event cannot move the reference back in time. The price: a spike
//    that comes and goes within min_interval of the reference is not seen (that is what
//    min_interval is for), and after one event stamped far in the future nothing is judged
//    until event time passes it (the engine rejects such events; Reset() clears the reference).
//  * Rate. rate = (value - reference value) * per / dt, computed in that order in double: the
//    signed change per `per` (a fall is negative). It is exact whenever
//    (value - reference value) * per is, e.g. +0.5 over 250 ms per 1 s is exactly 2. When that
//    product overflows it is computed as (value - reference value) / dt * per instead; a
//    difference that itself overflows double gives an infinite rate, which fires against any
//    finite limit.
//  * Firing. A judged value fires when rate > max_rise or -rate > max_fall (Boundary::kStrict,
//    the default), or rate >= max_rise or -rate >= max_fall (kInclusive). An infinite limit is
//    no check in either mode. Every judged step is judged on its own: a steep ramp fires on
//    every step (one alarm per excursion is the responder's job). A judged value becomes the
//    reference whether it fired or not.
//  * Values must be finite (SHEWHART_CHECK: a NaN or infinity is a bug in the caller; decoders
//    reject such measurements before they reach a rule). Two successive event times must lie
//    within EventTime's range of each other (about 292,000 years), so that dt does not overflow.
//
// Threading: a rule is owned by one shard thread; no method is thread-safe.
// Allocation: none; the rule holds no heap memory (it is trivially copyable, which is also how
// a shard checkpoints it).

#include <chrono>
#include <limits>
#include <type_traits>

#include "shewhart/base/status.h"
#include "shewhart/rules/types.h"

namespace shewhart::rules {

struct RateSpec {
  // Largest allowed increase per `per`: > 0, or +inf for no check on rises (the default).
  double max_rise = std::numeric_limits<double>::infinity();
  // Largest allowed decrease per `per`, as a positive number: > 0, or +inf for no check on
  // falls (the default). max_fall 2 fires on a rate below -2.
  double max_fall = std::numeric_limits<double>::infinity();
  // The time unit of the limits and of RateVerdict::rate, > 0. One second by default.
  std::chrono::microseconds per{std::chrono::seconds(1)};
  // Pairs closer in event time than this are not judged, >= 0. 0 (the default) judges every
  // pair with a later event time. A few sampling periods guards against a rate blown up by
  // two values stamped microseconds apart (jitter, a batch flushed at once), at the cost of
  // not seeing changes that revert within it.
  std::chrono::microseconds min_interval{0};
  // kStrict (the default): a rate exactly on a limit is allowed. kInclusive: it fires.
  Boundary boundary = Boundary::kStrict;

  // Returns InvalidArgument naming the field and the value found, e.g.
  // "rate max_rise must be > 0 (or +inf: no check), found -1". Checks, in order: max_rise,
  // max_fall, at least one of them finite, per, min_interval, boundary.
  Status Validate() const;
};

// What Evaluate says about one value.
struct RateVerdict {
  bool fired = false;  // the step exceeded max_rise or max_fall (only when judged)
  double rate = 0;     // signed change per `per` from the reference (0 when not judged)
  bool judged = false; // false for the first value and for values too close to the reference
};

class RateRule {
 public:
  // `spec` must have passed Validate() (checked: a spec that fails is a bug in the caller).
  explicit RateRule(const RateSpec& spec);

  // Judges the step from the reference to (value, ts) (see the semantics above).
  // Precondition (SHEWHART_CHECK): `value` is finite.
  RateVerdict Evaluate(double value, EventTime ts);

  // Forgets the reference: the next value is not judged and becomes the reference.
  void Reset() { has_reference_ = false; }

  // Whether there is a reference, and what it is (meaningful only when there is one).
  bool has_reference() const { return has_reference_; }
  double reference_value() const { return reference_value_; }
  EventTime reference_ts() const { return reference_ts_; }
  const RateSpec& spec() const { return spec_; }

 private:
  RateSpec spec_;
  // Derived from spec_ at construction.
  bool check_rise_ = false;
  bool check_fall_ = false;
  bool has_reference_ = false;
  double reference_value_ = 0;
  EventTime reference_ts_{};
};
static_assert(std::is_trivially_copyable_v<RateSpec>);
static_assert(std::is_trivially_copyable_v<RateVerdict>);
static_assert(std::is_trivially_copyable_v<RateRule>);

}  // namespace shewhart::rules

#pragma once
// Absolute threshold with hysteresis ("threshold" in DESIGN.md's rule names): fires once when a
// value enters an excursion beyond a fixed high or low limit, and not again until a value has
// come back far enough inside to re-arm it.
//
// Semantics, value by value (the spec has passed Validate(); `high`/`low` may each be absent):
//
//  * Beyond. A value is beyond `high` when value > high (Boundary::kStrict, the default) or
//    value >= high (Boundary::kInclusive); beyond `low` when value < low (kStrict) or
//    value <= low (kInclusive). The boundary mode applies to the limits only.
//  * Firing. A value beyond a limit fires that side (Evaluate returns kHigh or kLow) unless an
//    excursion on that same side is already active: one firing per excursion. The value that
//    fires makes that side the active one.
//  * Re-arming. An active high excursion ends (the rule is re-armed) at the first value that is
//    not beyond `high` and is <= high - hysteresis; an active low excursion at the first value
//    not beyond `low` and >= low + hysteresis. The re-arm levels are reached inclusively in both
//    boundary modes: a value exactly on high - hysteresis re-arms. With hysteresis 0 this is "as
//    soon as a value is not beyond the limit": under kStrict a value equal to `high` re-arms,
//    under kInclusive it is beyond and keeps the excursion going. A value inside the band
//    (between the re-arm level and the limit) neither fires nor re-arms: the excursion goes on.
//    The value that re-arms does not fire (it is not beyond either limit) and returns kNone.
//  * Crossing. A value beyond the opposite limit fires that side at once, whatever the active
//    side was: a jump from above `high` straight below `low` returns kLow and leaves the low
//    side active (the high excursion is over: Validate() guarantees that such a value is also
//    past the high re-arm level). At most one side is active at a time.
//  * Values must be finite (SHEWHART_CHECK: a NaN or infinity is a bug in the caller; decoders
//    reject such measurements before they reach a rule).
//
// Threading: a rule is owned by one shard thread; no method is thread-safe.
// Allocation: none; the rule holds no heap memory (it is trivially copyable, which is also how
// a shard checkpoints it).

#include <cstdint>
#include <optional>
#include <type_traits>

#include "shewhart/base/status.h"
#include "shewhart/rules/types.h"

namespace shewhart::rules {

struct ThresholdSpec {
  // Upper limit: a value beyond it fires kHigh. Absent: no upper check. Finite.
  std::optional<double> high;
  // Lower limit: a value beyond it fires kLow. Absent: no lower check. Finite, below `high`.
  std::optional<double> low;
  // Width of the re-arm band inside each limit, >= 0 and finite. 0 (the default) re-arms as
  // soon as a value is back inside; a band of the size of the measurement noise stops a
  // process that sits on a limit from firing on every other value, at the cost of missing a
  // second excursion that starts before the value has come back through the band. With both
  // limits, at most half of high - low (low + hysteresis <= high - hysteresis): the two re-arm
  // levels must not cross, so that a value in the middle re-arms either side and a value beyond
  // one limit is always past the other side's re-arm level.
  double hysteresis = 0;
  // kStrict (the default): a value on a limit is inside. kInclusive: a value on a limit fires.
  Boundary boundary = Boundary::kStrict;

  // Returns InvalidArgument naming the field and the value found, e.g.
  // "threshold hysteresis must be >= 0, found -1". Checks, in order: at least one of high/low;
  // high and low finite; low < high; hysteresis finite and >= 0; the re-arm levels
  // (high - hysteresis, low + hysteresis) finite and, with both limits, not crossing; boundary
  // one of the enumerators.
  Status Validate() const;
};

// The side of a threshold excursion (kNone: no side).
enum class ThresholdSide : std::uint8_t { kNone, kHigh, kLow };

class ThresholdRule {
 public:
  // `spec` must have passed Validate() (checked: a spec that fails is a bug in the caller).
  explicit ThresholdRule(const ThresholdSpec& spec);

  // Judges one value (see the semantics above): returns kHigh or kLow when the value enters an
  // excursion on that side, kNone otherwise (inside, inside the band, or still in the same
  // excursion). Precondition (SHEWHART_CHECK): `value` is finite.
  ThresholdSide Evaluate(double value);

  // True while an excursion (high or low) is active, i.e. fired and not yet re-armed.
  bool active() const { return active_ != ThresholdSide::kNone; }
  // The side of the active excursion; kNone when none is active.
  ThresholdSide active_side() const { return active_; }

  // Forgets the active excursion: the next value beyond a limit fires (after a restart without
  // a checkpoint, or a changed spec that the caller re-validated and rebuilt the rule with).
  void Reset() { active_ = ThresholdSide::kNone; }

  const ThresholdSpec& spec() const { return spec_; }

 private:
  bool BeyondHigh(double value) const;
  bool BeyondLow(double value) const;

  ThresholdSpec spec_;
  // Derived from spec_ at construction: high - hysteresis and low + hysteresis (unused for an
  // absent limit).
  double high_rearm_ = 0;
  double low_rearm_ = 0;
  ThresholdSide active_ = ThresholdSide::kNone;
};
static_assert(std::is_trivially_copyable_v<ThresholdSpec>);
static_assert(std::is_trivially_copyable_v<ThresholdRule>);

}  // namespace shewhart::rules

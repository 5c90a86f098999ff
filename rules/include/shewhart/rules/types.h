#pragma once
// Plain vocabulary types of the SPC core: chart and rule names, chart points, rule hits.
// No I/O, no YAML; every type here is trivially copyable so that shards can keep them in
// fixed rings without allocating.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace shewhart::rules {

// Event time: microseconds since the Unix epoch, UTC.
using EventTime = std::chrono::sys_time<std::chrono::microseconds>;

enum class ChartKind : std::uint8_t {
  kIndividuals, kMovingRange, kXbar, kR, kS, kP, kNp, kC, kU, kEwma, kCusum, kT2,
};

// The public chart names of DESIGN.md ("individuals", "mr").
std::string_view ChartName(ChartKind kind);

enum class RuleKind : std::uint8_t {
  kNelson1,   // one point strictly beyond a control limit (or on it, with Boundary::kInclusive)
  kSpecLsl,   // an individual value below the lower spec limit
  kSpecUsl,   // an individual value above the upper spec limit
  kNelson2,   // K (9) points in a row on the same side of the centre line
  kNelson3,   // K (6) points in a row all increasing or all decreasing
  kNelson4,   // K (14) points in a row alternating up and down
  kNelson5,   // K-1 of K (2 of 3) points beyond 2 sigma, same side
  kNelson6,   // K-1 of K (4 of 5) points beyond 1 sigma, same side
  kNelson7,   // K (15) points in a row within 1 sigma, either side
  kNelson8,   // K (8) points in a row beyond 1 sigma, either side
  kWe1,       // Western Electric 1: one point beyond 3 sigma
  kWe2,       // Western Electric 2: 2 of 3 beyond 2 sigma, same side
  kWe3,       // Western Electric 3: 4 of 5 beyond 1 sigma, same side
  kWe4,       // Western Electric 4: 8 in a row on the same side
  kThreshold, // a value beyond an absolute threshold (with hysteresis before it fires again)
  kRate,      // a change between successive values faster than allowed per unit of time
  kStale,     // no measurement of a characteristic for longer than allowed
};
inline constexpr int kRuleKindCount = 17;

// The public rule names of DESIGN.md ("nelson.1", "spec.lsl", "spec.usl").
std::string_view RuleName(RuleKind kind);
std::optional<RuleKind> RuleFromName(std::string_view name);

// Whether a point lying exactly on a control limit is beyond it.
// kStrict (qcc, the default): only points strictly beyond a limit fire.
// kInclusive (Minitab): a point on the limit fires too.
enum class Boundary : std::uint8_t { kStrict, kInclusive };

enum class Phase : std::uint8_t { kOne, kTwo };
inline std::string_view PhaseName(Phase p) { return p == Phase::kOne ? "I" : "II"; }

// One plotted point of one chart. `index` counts observations of the characteristic from 1;
// a moving-range point carries the index of the observation that closes its range (so the
// first mr point has index 2).
struct ChartPoint {
  ChartKind chart;
  Phase phase;
  std::int64_t index;
  EventTime ts;
  double value;
  double cl;
  double ucl;
  double lcl;
  int n;  // observations behind the point (1 for individuals, 2 for mr)
  // kCusum only: the upper (>= 0) and lower (<= 0) sums; `value` is then the larger in
  // magnitude, cl 0 and the limits +/-h. And their runs (CusumPoint::upper_run, lower_run).
  double upper = 0;
  double lower = 0;
  std::int64_t upper_run = 0;
  std::int64_t lower_run = 0;
};

// One rule firing on one point. [first, last] are the observation indexes the rule
// implicates. window_start is the event time of the last observation before `first` that was
// judged in control (the start of the suspect window; DESIGN.md), or of `first` itself when
// no earlier observation was ever in control.
struct RuleHit {
  RuleKind rule;
  ChartKind chart;
  std::int64_t index;
  std::int64_t first;
  std::int64_t last;
  EventTime ts;
  EventTime window_start;
  double value;
};

// Receives what a chart produces. Called on the thread that calls the chart; must not retain
// references past the call.
class ChartObserver {
 public:
  virtual ~ChartObserver() = default;
  virtual void OnPoint(const ChartPoint& point) = 0;
  virtual void OnRuleHit(const RuleHit& hit) = 0;
};

// True if `value` lies beyond [lcl, ucl] under `boundary`.
inline bool BeyondLimits(double value, double lcl, double ucl, Boundary boundary) {
  if (boundary == Boundary::kStrict) return value > ucl || value < lcl;
  return value >= ucl || value <= lcl;
}

}  // namespace shewhart::rules

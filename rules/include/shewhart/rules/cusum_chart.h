#pragma once
// Tabular (two-sided) CUSUM chart of a stream of plotted statistics, in standard-error units
// (Montgomery's tabular CUSUM as qcc computes it).
//
// Each point is a statistic x_i (an individual value, n_i = 1, or a subgroup mean of n_i
// values), standardised as z_i = (x_i - centre) / (sigma / sqrt(n_i)). The chart keeps
//   upper: C+_i = max(0, C+_{i-1} + z_i - k)
//   lower: C-_i = min(0, C-_{i-1} + z_i + k)      (non-positive, as qcc reports it)
// with C+_0 = head_start and C-_0 = -head_start, and signals when C+_i > h or C-_i < -h
// (>= h / <= -h with Boundary::kInclusive). k is the reference value (half the shift to
// detect, qcc's se.shift / 2) and h the decision interval (qcc's decision.interval), both in
// standard errors of the plotted statistic.
//
// The chart does not estimate anything: the caller gives the in-control centre and sigma
// (ProcessParameters, from ewma_chart.h), known or estimated from a Phase I chart.
//
// Threading: a chart is owned by one shard thread; no method is thread-safe.
// Allocation: none; the chart holds no heap memory (it is trivially copyable).

#include <cstdint>

#include "shewhart/base/status.h"
#include "shewhart/rules/ewma_chart.h"  // ProcessParameters
#include "shewhart/rules/types.h"

namespace shewhart::rules {

// What the chart does to its sums after a point signals (after reporting that point).
enum class CusumReset : std::uint8_t {
  // The sums carry on (qcc, and the tabular CUSUM as Montgomery prints it): a sustained
  // shift keeps both the sum and the signals going on every point until it goes away. The
  // default: one alarm per excursion is the responder's job, not the chart's.
  kNone,
  // After a signal on either side, both sums restart from their start values (+/-head_start):
  // the chart starts afresh, as after an adjustment of the process (Lucas & Crosier's FIR
  // restart when head_start > 0).
  kBoth,
  // After a signal, only the side (or sides) that signalled restarts from its start value;
  // the other keeps its evidence.
  kSide,
};

struct CusumChartSpec {
  ProcessParameters process;
  // Reference value (allowance) k in standard errors, >= 0: half the shift the chart is tuned
  // to detect. 0.5 (qcc's se.shift = 1) is tuned to a one-standard-error shift.
  double k = 0.5;
  // Decision interval h in standard errors, > 0. 5 (qcc's default) with k = 0.5 gives an
  // in-control ARL of about 465; 4 about 168 and a quicker response.
  double h = 5;
  // Fast initial response: both sums start (and, with a reset, restart) at +/-head_start, in
  // standard errors; 0 <= head_start < h. h/2 is customary; 0 is the traditional chart.
  double head_start = 0;
  CusumReset reset = CusumReset::kNone;
  // kStrict (qcc): a sum equal to h does not signal. kInclusive: it does.
  Boundary boundary = Boundary::kStrict;

  // Returns InvalidArgument naming the offending field and value.
  Status Validate() const;
};

// One plotted CUSUM point. `upper` >= 0 and `lower` <= 0 are the sums after this point, before
// any reset it triggers; `h` is the decision interval (the limits are +h and -h). upper_run and
// lower_run are Montgomery's N+ and N-: the number of consecutive points, this one included,
// over which that side's sum has been away from zero (0 when it is zero; with a head start, the
// points since the start or the last reset while the sum has not touched zero). When a side
// signals, the shift began about that many points before: the first point of the hit. Trivially
// copyable.
struct CusumPoint {
  std::int64_t index;  // counts points of the chart from 1
  EventTime ts;
  double upper;
  double lower;
  double h;
  int n;               // observations behind the point
  Phase phase;
  std::int64_t upper_run = 0;
  std::int64_t lower_run = 0;
};

// Receives what a CUSUM chart produces. Called on the thread that calls the chart; must not
// retain references past the call. (OnRuleHit has ChartObserver's signature, so one class can
// implement both interfaces with a single OnRuleHit.)
class CusumObserver {
 public:
  virtual ~CusumObserver() = default;
  virtual void OnCusumPoint(const CusumPoint& point) = 0;
  virtual void OnRuleHit(const RuleHit& hit) = 0;
};

class CusumChart {
 public:
  // `spec` must have passed Validate().
  explicit CusumChart(const CusumChartSpec& spec);

  // Adds one plotted statistic (a value, or the mean of `n` values) at event time `ts`, and
  // reports to `observer`, in order: its CusumPoint, then a kNelson1 RuleHit (chart kCusum)
  // for the upper side if it signals and one for the lower side if it signals (value = that
  // side's sum). A hit's [first, last] runs from the point where the signalling side's sum
  // last left zero (the first point of its current run of non-zero sums; with a head start,
  // the first point after the chart's start or the last reset when the sum has not been zero
  // since) through this point. Its window_start is the event time of the newest point before
  // `first` that was in control (neither side signalled): with no earlier signal that is the
  // point just before `first`; when no point before `first` was in control, it is the time of
  // `first` itself. Then the sums are reset as spec.reset says.
  // `phase` only labels the point (Phase::kOne when replaying a baseline).
  // Returns InvalidArgument, and leaves the chart unchanged and the observer uncalled, when
  // n < 1 or the statistic is not finite.
  Status Add(double statistic, int n, EventTime ts, CusumObserver& observer, Phase phase = Phase::kTwo);

  // The sums after the newest point and any reset it triggered (the start values before any).
  double upper() const { return upper_.sum; }
  double lower() const { return lower_.sum; }
  std::int64_t points() const { return count_; }
  const CusumChartSpec& spec() const { return spec_; }

 private:
  // One side's sum and its current run of non-zero values.
  struct Side {
    double sum = 0;
    std::int64_t first = 0;   // first point of the current run (0: none; the sum is zero or at its start value)
    EventTime window_start{};  // window_start of a hit on this run
  };
  // Opens or closes `side`'s run after point `index` moved its sum.
  void TrackRun(Side& side, std::int64_t index, EventTime ts) const;
  void Restart(Side& side, double start) const;

  CusumChartSpec spec_;
  Side upper_;
  Side lower_;
  std::int64_t count_ = 0;
  // The newest point judged in control (index 0: none yet).
  std::int64_t last_in_control_index_ = 0;
  EventTime last_in_control_ts_{};
};

}  // namespace shewhart::rules

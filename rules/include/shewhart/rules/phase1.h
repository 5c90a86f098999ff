#pragma once
// Phase I re-estimation after excluding out-of-control points: Montgomery's "trial control
// limits" (Introduction to Statistical Quality Control, sec. 6.2), shared by every chart that
// estimates its limits from a baseline (individuals, EWMA, CUSUM, x-bar/R, x-bar/S, p, np, c, u).
//
// With Phase1Exclusion::kBeyondLimits a baseline of N points is estimated in rounds:
//   1. estimate from the points kept so far (at first: all N);
//   2. find the kept points beyond the trial limits of that estimate: rule 1, strictly beyond
//      a limit or on it with Boundary::kInclusive. Which limits count is the chart's to say
//      (individuals, EWMA, CUSUM: the individuals limits mean +/- k sigma, never the moving
//      range's; x-bar: the x-bar or the R/S limits; p, np, c, u: the chart's own limits at each
//      subgroup's n). It is judged whatever rules the chart reports signals for;
//   3. none: the estimate is final;
//   4. if dropping them would leave fewer than Phase1MinimumKept(N) points, or points the
//      chart cannot estimate from, stop and keep the estimate of step 1 (`stopped_short`);
//      those points are not counted as excluded;
//   5. otherwise drop them, for good (an excluded point is never taken back), and go to 1.
// Every round drops at least one point, so there are at most N / 2 + 1 estimates. The chart
// then plots and judges every baseline point, excluded ones included, against the final
// limits (phase "I").
//
// This automates the textbook procedure without its judgement: Montgomery drops only points
// with an assignable cause and keeps a point that has none, while this drops every point beyond
// the limits. On Montgomery's orange-juice p chart the book (and qcc) drop samples 15 and 23 and
// keep sample 21, which the revised limits then flag; this procedure drops 21 as well.
//
// Pure; allocates a flag per baseline point and the list of exclusions.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace shewhart::rules {

enum class Phase1Exclusion : std::uint8_t {
  kNone,          // estimate once from every baseline point (the default)
  kBeyondLimits,  // re-estimate after excluding the points beyond the trial limits
};

// "none", "beyond_limits": the values of the configuration's `limits.phase1.exclude`.
inline std::string_view Phase1ExclusionName(Phase1Exclusion e) {
  return e == Phase1Exclusion::kBeyondLimits ? "beyond_limits" : "none";
}

// The fewest baseline points an estimate may rest on after exclusions: half the baseline,
// rounded up, and at least 2. A baseline with more than half of its points out of control does
// not describe an in-control process; its limits are kept as the last round left them.
inline std::size_t Phase1MinimumKept(std::size_t baseline_size) {
  return std::max<std::size_t>(2, (baseline_size + 1) / 2);
}

// What the re-estimation did.
struct Phase1Exclusions {
  // The excluded points, by 1-based position in the baseline (their chart index when the
  // baseline starts the chart), ascending.
  std::vector<std::int64_t> excluded;
  // Estimates made: 1 without exclusion or when nothing was beyond the first trial limits.
  int estimates = 1;
  // True when a round's points beyond the limits were left in (step 4 of the file comment).
  bool stopped_short = false;
};

// The rounds of the file comment, for any chart. `first` is the estimate from every point.
// `estimate(excluded)` returns the estimate from the points whose flag in `excluded` (one per
// baseline point, in order) is 0, or std::nullopt when they cannot give one; `beyond(e, i)`
// says whether point i (0-based) lies beyond the trial limits of estimate `e`. Returns the
// final estimate and describes the rounds in `out`.
template <typename Estimate, typename EstimateFn, typename BeyondFn>
Estimate IteratePhase1Exclusion(std::size_t size, Estimate first, EstimateFn&& estimate, BeyondFn&& beyond,
                                Phase1Exclusions& out) {
  out = Phase1Exclusions{};
  Estimate current = std::move(first);
  std::vector<char> excluded(size, 0);
  std::vector<std::size_t> found;
  std::size_t kept = size;
  const std::size_t minimum = Phase1MinimumKept(size);
  for (;;) {
    found.clear();
    for (std::size_t i = 0; i < size; ++i) {
      if (!excluded[i] && beyond(current, i)) found.push_back(i);
    }
    if (found.empty()) break;
    if (kept - found.size() < minimum) {
      out.stopped_short = true;
      break;
    }
    for (std::size_t i : found) excluded[i] = 1;
    std::optional<Estimate> next = estimate(excluded);
    if (!next) {
      for (std::size_t i : found) excluded[i] = 0;
      out.stopped_short = true;
      break;
    }
    current = std::move(*next);
    kept -= found.size();
    ++out.estimates;
  }
  for (std::size_t i = 0; i < size; ++i) {
    if (excluded[i]) out.excluded.push_back(static_cast<std::int64_t>(i) + 1);
  }
  return current;
}

}  // namespace shewhart::rules

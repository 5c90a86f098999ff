#pragma once
// `shewhart arl`: the average run length of a characteristic's configured chart and rule set,
// estimated by simulation, in control and under mean shifts.

#include <cstdint>
#include <string>
#include <vector>

#include "shewhart/base/status.h"
#include "shewhart/engine/config/config.h"

namespace shewhart::app {

struct ArlOptions {
  std::vector<double> shifts{0.0};    // mean shifts in process sigmas
  int runs = 1000;                    // simulated run lengths per shift
  std::uint64_t seed = 1;
  std::int64_t max_points = 1000000;  // a run still without a signal is cut off here (and counted)
};

struct ArlRow {
  double shift = 0;
  double arl = 0;         // mean points (phase II) to the first signal
  double sd = 0;          // standard deviation of the run lengths
  double se = 0;          // standard error of the mean
  double median = 0;
  std::int64_t censored = 0;  // runs cut off at max_points
};

// Simulates, for each shift: a fresh chart per run (its Phase I baseline, if any, in control),
// then phase II points from N(mean + shift * sigma, sigma) until the first signal of any chart
// rule (spec-limit rules are not counted: they judge the product, not the process). Supports
// individuals, xbar_r, xbar_s, ewma and cusum. Returns InvalidArgument for other chart types.
Result<std::vector<ArlRow>> EstimateArl(const engine::CharacteristicSpec& spec, const ArlOptions& options);

}  // namespace shewhart::app

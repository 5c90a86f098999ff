#pragma once
// A DESIGN.md budget beside a benchmark's figure: the rate the timed loop reached on this
// thread's CPU clock, compared with the budget, as the benchmark's label ("budget >= 20 M
// obs/s: met (23.4 M/s)") and as the counter budget_met (1 or 0). Figures from a short or
// disturbed run mean nothing; run the program alone, with repetitions.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>

namespace shewhart::bench {

// Thread CPU time in seconds (the clock Google Benchmark's rates use by default).
inline double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// `done` operations of `unit` in `seconds` of CPU time, against a budget of `budget_per_s`.
inline void ReportBudget(benchmark::State& state, double done, double seconds, double budget_per_s,
                         const char* unit) {
  const double rate = seconds > 0 ? done / seconds : 0;
  const bool met = rate >= budget_per_s;
  char label[160];
  std::snprintf(label, sizeof label, "budget >= %g M %s/s: %s (%.1f M/s)", budget_per_s / 1e6, unit,
                met ? "met" : "MISSED", rate / 1e6);
  state.SetLabel(label);
  state.counters["budget_met"] = met ? 1 : 0;
}

}  // namespace shewhart::bench

#pragma once
// Process capability and performance indices over a window of observations, as qcc's
// processCapability() computes them (qcc 3.0, R/capability.R).
//
// With centre mu (the window's mean: qcc's chart centre when the window is the Phase I
// baseline), sigma_within (the chart's estimate: uwave-r, ...), sigma_overall (the sample
// standard deviation of the window, divisor n - 1, no c4 correction, as qcc) and k = k_sigma:
//   Cp  = (USL - LSL) / (2 k sigma_within)      Pp  = the same with sigma_overall
//   Cpl = (mu - LSL) / (k sigma_within)         Ppl
//   Cpu = (USL - mu) / (k sigma_within)         Ppu
//   Cpk = min(Cpl, Cpu)                         Ppk
//   Cpm = Cp / sqrt(1 + ((mu - T) / sigma_within)^2)   Ppm = Pp / sqrt(1 + ((mu - T) / sigma_overall)^2)
// T is spec.target, or the midpoint of the spec limits when absent (qcc; Cpm is then optimistic).
// One-sided specs give only the indices they define: with LSL only, Cpl, Cpk (= Cpl), Ppl, Ppk;
// with USL only, Cpu, Cpk, Ppu, Ppk; Cp, Pp, Cpm and Ppm need both limits. The others are absent.
//
// Confidence intervals at `confidence_level` (two-sided, alpha = 1 - level), as qcc:
//   Cp, Pp: chi-square (Chou, Owen and Borrego 1990), idx * sqrt(chi2_{q}(n - 1) / (n - 1)),
//     q = alpha/2 and 1 - alpha/2;
//   Cpm, Ppm: the same with df = n (1 + d^2) / (1 + 2 d^2), d = (mu - T) / sigma (Boyles 1991);
//   Cpl, Cpu, Ppl, Ppu: Bissell (1990) Wald, idx +/- z sqrt(1 / (9 n) + idx^2 / (2 (n - 1))),
//     z = Phi^-1(level) (qcc's choice: a one-sided quantile for a printed two-sided interval);
//   Cpk, Ppk: the same with z = Phi^-1(1 - alpha / 2).
// The Wald form above is qcc's idx (1 +/- z sqrt(1 / (9 n idx^2) + 1 / (2 (n - 1)))) rewritten so
// that it stays defined at idx = 0 and keeps lower <= upper for a negative index (qcc prints the
// bounds of a negative index swapped).
//
// Expected fractions outside the spec use the normal model N(mu, sigma^2), given in parts per
// million for sigma_within (qcc's "Exp") and for sigma_overall (Minitab's "expected overall");
// qcc prints values below 0.01 % as 0, these are not rounded. Observed fractions count values
// strictly beyond a limit (a value on a limit is in spec, as the spec rules judge it).
//
// Thread-compatible value types and pure functions; nothing here allocates except the message
// of an error Status.

#include <cstdint>
#include <optional>
#include <vector>

#include "shewhart/base/status.h"
#include "shewhart/rules/individuals_chart.h"  // SpecLimits

namespace shewhart::rules {

struct CapabilitySpec {
  SpecLimits spec;                  // at least one of lsl, usl; target optional
  double k_sigma = 3;               // qcc's nsigmas: the half-width of the natural tolerance, > 0
  double confidence_level = 0.95;   // of the intervals, in (0, 1)

  // Returns InvalidArgument naming the offending field and value.
  Status Validate() const;
};

// What a window of observations contributes: count, mean, sample sd, and counts strictly
// below LSL / above USL (0 for an absent limit).
struct WindowStats {
  std::int64_t n = 0;
  double mean = 0;
  double sd = 0;
  std::int64_t below_lsl = 0;
  std::int64_t above_usl = 0;
};

// An index and its confidence interval.
struct CapabilityIndex {
  double value = 0;
  double lower = 0;
  double upper = 0;
};

struct Capability {
  std::int64_t n = 0;
  double center = 0;
  double sigma_within = 0;
  double sigma_overall = 0;
  std::optional<double> target;  // the T used by Cpm / Ppm (present with both spec limits)

  std::optional<CapabilityIndex> cp, cpl, cpu, cpk, cpm;
  std::optional<CapabilityIndex> pp, ppl, ppu, ppk, ppm;

  // Present for each side that has a limit.
  std::optional<double> expected_within_ppm_below_lsl, expected_within_ppm_above_usl;
  std::optional<double> expected_overall_ppm_below_lsl, expected_overall_ppm_above_usl;
  std::optional<double> observed_ppm_below_lsl, observed_ppm_above_usl;
};

// Computes every index `spec` defines. Returns InvalidArgument when the spec is invalid or
// sigma_within is not a finite number > 0, and FailedPrecondition when the window has fewer than
// 2 observations or a zero (or non-finite) standard deviation, naming the value.
Result<Capability> ComputeCapability(const CapabilitySpec& spec, const WindowStats& window, double sigma_within);

// The indices alone (no intervals, no expected fractions, no quantiles): cheap enough to compute
// for every characteristic at every scrape of /metrics. Each is NaN when `spec` does not define
// it (Cp, Pp, Cpm, Ppm without both limits; Cpl, Ppl without LSL; Cpu, Ppu without USL) and, all
// of them, when ComputeCapability would refuse the inputs (an invalid spec, sigma_within not a
// finite number > 0, fewer than 2 observations, a non-finite mean, an overall sd not > 0).
// Where defined, each equals ComputeCapability's `value`.
struct CapabilityValues {
  double cp, cpl, cpu, cpk, cpm;
  double pp, ppl, ppu, ppk, ppm;
};
CapabilityValues ComputeCapabilityValues(const CapabilitySpec& spec, const WindowStats& window, double sigma_within);

// Incremental window statistics: Welford's running mean and sum of squared deviations, and the
// out-of-spec counts. O(1) per value, no allocation.
// Threading: owned by one thread; no method is thread-safe.
class CapabilityAccumulator {
 public:
  explicit CapabilityAccumulator(const SpecLimits& spec) : spec_(spec) {}

  // Adds one observation. Non-finite values are the caller's to reject.
  void Add(double value);
  // Removes one observation added earlier (Welford's update reversed). Rounding accumulates over
  // many removals; CapabilityWindow recomputes from its values now and then.
  void Remove(double value);
  // Folds in another window over the same spec (Chan et al.'s pairwise update), e.g. to
  // combine per-interval accumulators.
  void Merge(const CapabilityAccumulator& other);
  // Empties the window.
  void Reset();

  std::int64_t n() const { return n_; }
  double mean() const { return mean_; }
  // Sample standard deviation (divisor n - 1); 0 below 2 observations.
  double sd() const;
  WindowStats stats() const;

 private:
  SpecLimits spec_;
  std::int64_t n_ = 0;
  double mean_ = 0;
  double m2_ = 0;  // sum of squared deviations from the running mean
  std::int64_t below_lsl_ = 0;
  std::int64_t above_usl_ = 0;
};

// The statistics of the last `capacity` observations (a sliding count window), or of every
// observation since construction with capacity 0. The ring of values is allocated once, at
// construction; Add() is O(1) amortised (the running sums are recomputed exactly from the ring
// once per `capacity` evictions, so rounding from removals cannot build up).
// Threading: owned by one thread; no method is thread-safe.
class CapabilityWindow {
 public:
  CapabilityWindow(const SpecLimits& spec, std::size_t capacity);
  void Add(double value);
  WindowStats stats() const { return acc_.stats(); }
  std::size_t capacity() const { return ring_.size(); }

 private:
  CapabilityAccumulator acc_;
  std::vector<double> ring_;  // empty with capacity 0
  std::size_t next_ = 0;      // slot of the next value
  std::size_t evictions_ = 0;
};

}  // namespace shewhart::rules

#include "shewhart/rules/capability.h"
#include "shewhart/rules/format.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include <boost/math/distributions/chi_squared.hpp>
#include <boost/math/distributions/normal.hpp>

namespace shewhart::rules {

namespace {

// Arguments are checked before every call, so Boost never has a reason to complain; should it,
// it sets errno and returns NaN instead of throwing.
using NoThrow = boost::math::policies::policy<
    boost::math::policies::domain_error<boost::math::policies::errno_on_error>,
    boost::math::policies::overflow_error<boost::math::policies::errno_on_error>,
    boost::math::policies::evaluation_error<boost::math::policies::errno_on_error>>;

double NormalQuantile(double p) {
  return boost::math::quantile(boost::math::normal_distribution<double, NoThrow>(), p);
}

double ChiSquaredQuantile(double p, double df) {
  return boost::math::quantile(boost::math::chi_squared_distribution<double, NoThrow>(df), p);
}

// Standard normal distribution function, accurate in both tails.
double Phi(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

// Chou (1990) / Boyles (1991): idx * sqrt(chi2_q(df) / df).
CapabilityIndex ChiSquareInterval(double idx, double df, double alpha) {
  return {idx, idx * std::sqrt(ChiSquaredQuantile(alpha / 2, df) / df),
          idx * std::sqrt(ChiSquaredQuantile(1 - alpha / 2, df) / df)};
}

// Bissell (1990): idx +/- z sqrt(1 / (9 n) + idx^2 / (2 (n - 1))).
CapabilityIndex WaldInterval(double idx, double z, double n) {
  const double half = z * std::sqrt(1 / (9 * n) + idx * idx / (2 * (n - 1)));
  return {idx, idx - half, idx + half};
}

// Boyles' degrees of freedom for Cpm / Ppm.
double CpmDf(double n, double d) { return n * (1 + d * d) / (1 + 2 * d * d); }

}  // namespace

Status CapabilitySpec::Validate() const {
  if (!spec.lsl && !spec.usl) return InvalidArgument("capability needs spec.lsl or spec.usl (or both), found neither");
  if (!(k_sigma > 0) || !std::isfinite(k_sigma))
    return InvalidArgument("k_sigma must be > 0, found " + FormatNumber(k_sigma));
  if (!(confidence_level > 0 && confidence_level < 1)) {
    return InvalidArgument("confidence_level must be between 0 and 1 (exclusive), found " +
                           FormatNumber(confidence_level));
  }
  return spec.Validate();
}

Result<Capability> ComputeCapability(const CapabilitySpec& spec, const WindowStats& window, double sigma_within) {
  SHEWHART_RETURN_IF_ERROR(spec.Validate());
  if (!(sigma_within > 0) || !std::isfinite(sigma_within)) {
    return InvalidArgument("sigma_within must be > 0, found " + FormatNumber(sigma_within));
  }
  if (window.n < 2) {
    return FailedPrecondition("capability needs at least 2 observations, found " + std::to_string(window.n));
  }
  if (!std::isfinite(window.mean)) return FailedPrecondition("window mean is not finite: " + FormatNumber(window.mean));
  if (!(window.sd > 0) || !std::isfinite(window.sd)) {
    return FailedPrecondition("overall standard deviation must be > 0, found " + FormatNumber(window.sd) + " over " +
                              std::to_string(window.n) + " observations");
  }

  Capability c;
  c.n = window.n;
  c.center = window.mean;
  c.sigma_within = sigma_within;
  c.sigma_overall = window.sd;
  const double n = static_cast<double>(window.n);
  const double k = spec.k_sigma;
  const double mu = window.mean;
  const double alpha = 1 - spec.confidence_level;
  const double z_side = NormalQuantile(spec.confidence_level);
  const double z_both = NormalQuantile(1 - alpha / 2);
  const std::optional<double>& lsl = spec.spec.lsl;
  const std::optional<double>& usl = spec.spec.usl;

  // The indices of one sigma: within (C) or overall (P).
  struct Family {
    std::optional<CapabilityIndex>* p;    // Cp / Pp
    std::optional<CapabilityIndex>* pl;   // Cpl / Ppl
    std::optional<CapabilityIndex>* pu;   // Cpu / Ppu
    std::optional<CapabilityIndex>* pk;   // Cpk / Ppk
    std::optional<CapabilityIndex>* pm;   // Cpm / Ppm
  };
  auto fill = [&](double sigma, Family f) {
    if (lsl) *f.pl = WaldInterval((mu - *lsl) / (k * sigma), z_side, n);
    if (usl) *f.pu = WaldInterval((*usl - mu) / (k * sigma), z_side, n);
    double worst = 0;
    if (lsl && usl) {
      worst = std::min((*f.pl)->value, (*f.pu)->value);
    } else {
      worst = lsl ? (*f.pl)->value : (*f.pu)->value;
    }
    *f.pk = WaldInterval(worst, z_both, n);
    if (lsl && usl) {
      const double p = (*usl - *lsl) / (2 * k * sigma);
      *f.p = ChiSquareInterval(p, n - 1, alpha);
      const double d = (mu - *c.target) / sigma;
      *f.pm = ChiSquareInterval(p / std::sqrt(1 + d * d), CpmDf(n, d), alpha);
    }
  };
  if (lsl && usl) c.target = spec.spec.target ? *spec.spec.target : (*lsl + *usl) / 2;
  fill(sigma_within, Family{&c.cp, &c.cpl, &c.cpu, &c.cpk, &c.cpm});
  fill(window.sd, Family{&c.pp, &c.ppl, &c.ppu, &c.ppk, &c.ppm});

  constexpr double kPpm = 1e6;
  if (lsl) {
    c.expected_within_ppm_below_lsl = Phi((*lsl - mu) / sigma_within) * kPpm;
    c.expected_overall_ppm_below_lsl = Phi((*lsl - mu) / window.sd) * kPpm;
    c.observed_ppm_below_lsl = static_cast<double>(window.below_lsl) / n * kPpm;
  }
  if (usl) {
    c.expected_within_ppm_above_usl = Phi((mu - *usl) / sigma_within) * kPpm;
    c.expected_overall_ppm_above_usl = Phi((mu - *usl) / window.sd) * kPpm;
    c.observed_ppm_above_usl = static_cast<double>(window.above_usl) / n * kPpm;
  }
  return c;
}

CapabilityValues ComputeCapabilityValues(const CapabilitySpec& spec, const WindowStats& window, double sigma_within) {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  CapabilityValues v{kNaN, kNaN, kNaN, kNaN, kNaN, kNaN, kNaN, kNaN, kNaN, kNaN};
  const std::optional<double>& lsl = spec.spec.lsl;
  const std::optional<double>& usl = spec.spec.usl;
  // ComputeCapability's preconditions (a valid spec builds no message).
  if (!spec.Validate().ok()) return v;
  if (!(sigma_within > 0) || !std::isfinite(sigma_within) || window.n < 2 || !std::isfinite(window.mean) ||
      !(window.sd > 0) || !std::isfinite(window.sd)) {
    return v;
  }
  const double k = spec.k_sigma;
  const double mu = window.mean;
  const double target = lsl && usl ? (spec.spec.target ? *spec.spec.target : (*lsl + *usl) / 2) : 0;
  auto fill = [&](double sigma, double& p, double& pl, double& pu, double& pk, double& pm) {
    if (lsl) pl = (mu - *lsl) / (k * sigma);
    if (usl) pu = (*usl - mu) / (k * sigma);
    pk = lsl && usl ? std::min(pl, pu) : lsl ? pl : pu;
    if (lsl && usl) {
      p = (*usl - *lsl) / (2 * k * sigma);
      const double d = (mu - target) / sigma;
      pm = p / std::sqrt(1 + d * d);
    }
  };
  fill(sigma_within, v.cp, v.cpl, v.cpu, v.cpk, v.cpm);
  fill(window.sd, v.pp, v.ppl, v.ppu, v.ppk, v.ppm);
  return v;
}

void CapabilityAccumulator::Add(double value) {
  ++n_;
  const double delta = value - mean_;
  mean_ += delta / static_cast<double>(n_);
  m2_ += delta * (value - mean_);
  if (spec_.lsl && value < *spec_.lsl) ++below_lsl_;
  if (spec_.usl && value > *spec_.usl) ++above_usl_;
}

void CapabilityAccumulator::Remove(double value) {
  SHEWHART_CHECK(n_ > 0);
  if (spec_.lsl && value < *spec_.lsl) --below_lsl_;
  if (spec_.usl && value > *spec_.usl) --above_usl_;
  if (n_ == 1) {
    n_ = 0;
    mean_ = 0;
    m2_ = 0;
    return;
  }
  const double old_mean = mean_;
  --n_;
  mean_ = (old_mean * static_cast<double>(n_ + 1) - value) / static_cast<double>(n_);
  m2_ -= (value - mean_) * (value - old_mean);
  if (m2_ < 0) m2_ = 0;  // rounding on a (near-)constant window
}

CapabilityWindow::CapabilityWindow(const SpecLimits& spec, std::size_t capacity) : acc_(spec), ring_(capacity) {}

void CapabilityWindow::Add(double value) {
  if (ring_.empty()) {
    acc_.Add(value);
    return;
  }
  const bool full = acc_.n() == static_cast<std::int64_t>(ring_.size());
  if (full) acc_.Remove(ring_[next_]);
  ring_[next_] = value;
  next_ = (next_ + 1) % ring_.size();
  acc_.Add(value);
  if (full && ++evictions_ == ring_.size()) {
    // Exact again: the window's values from the oldest (at next_) to the newest.
    evictions_ = 0;
    acc_.Reset();
    for (std::size_t i = 0; i < ring_.size(); ++i) acc_.Add(ring_[(next_ + i) % ring_.size()]);
  }
}

void CapabilityAccumulator::Merge(const CapabilityAccumulator& other) {
  SHEWHART_CHECK(spec_.lsl == other.spec_.lsl && spec_.usl == other.spec_.usl);
  if (other.n_ == 0) return;
  if (n_ == 0) {
    n_ = other.n_;
    mean_ = other.mean_;
    m2_ = other.m2_;
  } else {
    const double na = static_cast<double>(n_), nb = static_cast<double>(other.n_), total = na + nb;
    const double delta = other.mean_ - mean_;
    mean_ += delta * nb / total;
    m2_ += other.m2_ + delta * delta * na * nb / total;
    n_ += other.n_;
  }
  below_lsl_ += other.below_lsl_;
  above_usl_ += other.above_usl_;
}

void CapabilityAccumulator::Reset() {
  n_ = 0;
  mean_ = 0;
  m2_ = 0;
  below_lsl_ = 0;
  above_usl_ = 0;
}

double CapabilityAccumulator::sd() const {
  if (n_ < 2) return 0;
  return std::sqrt(m2_ / static_cast<double>(n_ - 1));
}

WindowStats CapabilityAccumulator::stats() const { return WindowStats{n_, mean_, sd(), below_lsl_, above_usl_}; }

}  // namespace shewhart::rules

#include "shewhart/rules/t2_chart.h"
#include "shewhart/rules/format.h"

// g++ 12 with -march=native (AVX-512) warns "__Y may be used uninitialized" inside its own
// avx512fintrin.h as inlined into Eigen's matrix-product kernel (the intrinsics' deliberate
// `__m512d __Y = __Y;`); the warning escapes the system-header exemption because it is
// issued after inlining. Silenced for Eigen's headers only; the pragma scope is the
// location of the warning, which lies inside them. Eigen 3.4's AVX/AVX-512 PacketMath.h
// also has unused variables, which -Wall reports when Eigen is included with -I rather than
// as a system header (-isystem, what CMake's Eigen3::Eigen target gives).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wunused-variable"
#include <Eigen/Cholesky>
#include <Eigen/Core>
#pragma GCC diagnostic pop
#include <boost/math/distributions/beta.hpp>
#include <boost/math/distributions/chi_squared.hpp>
#include <boost/math/distributions/fisher_f.hpp>
#include <boost/math/policies/policy.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>

namespace shewhart::rules {

namespace {

// Boost.Math raises on bad arguments by default; here a bad argument gives a NaN or an
// infinity instead, which ComputeT2Limits reports as a Status (no exception leaves rules/).
using NoThrowPolicy = boost::math::policies::policy<
    boost::math::policies::domain_error<boost::math::policies::ignore_error>,
    boost::math::policies::overflow_error<boost::math::policies::ignore_error>,
    boost::math::policies::evaluation_error<boost::math::policies::ignore_error>,
    boost::math::policies::pole_error<boost::math::policies::ignore_error>>;

// A variable whose variance left unexplained by the variables before it is below this
// fraction of its variance makes the covariance numerically singular: T^2 would divide by
// rounding noise.
constexpr double kSingularFraction = 1e-12;
// Relative tolerance on the symmetry of a known covariance.
constexpr double kSymmetryTolerance = 1e-9;
std::string Int(std::int64_t v) { return std::to_string(v); }

// Where the covariance `s` (lower triangle used, p x p) stops being positive definite: the
// first variable whose variance left unexplained by the variables before it (the pivot of
// the Cholesky factorization) is not above kSingularFraction of its own variance. Returns an
// empty string when there is none, else a sentence saying which variable and why. Builds
// small Eigen objects: for error reporting only, never on the per-point path.
std::string DescribeSingularity(const Eigen::MatrixXd& s) {
  const Eigen::Index p = s.rows();
  for (Eigen::Index k = 0; k < p; ++k) {
    const double variance = s(k, k);
    if (!(variance > 0)) {
      return "variable index " + Int(k) + " has variance " + FormatNumber(variance) + " (it must be > 0)";
    }
    double residual = variance;
    if (k > 0) {
      Eigen::MatrixXd lead = s.topLeftCorner(k, k).selfadjointView<Eigen::Lower>();
      Eigen::LLT<Eigen::MatrixXd> llt(lead);
      if (llt.info() != Eigen::Success) continue;  // reported at an earlier k
      Eigen::VectorXd cross = s.row(k).head(k).transpose();
      llt.matrixL().solveInPlace(cross);
      residual = variance - cross.squaredNorm();
    }
    if (!(residual > kSingularFraction * variance)) {
      return "variable index " + Int(k) + " is a linear combination of variables 0.." + Int(k - 1) +
             " (Cholesky pivot: of its variance " + FormatNumber(variance) + ", " + FormatNumber(residual) +
             " is left unexplained by them)";
    }
  }
  return "";
}

// True when the factor `l` of a successful LLT has every pivot above kSingularFraction of
// the variance it belongs to. Allocation-free: used when a baseline completes.
bool PivotsClearSingularity(const Eigen::MatrixXd& s, const Eigen::MatrixXd& l) {
  for (Eigen::Index k = 0; k < s.rows(); ++k) {
    if (!(l(k, k) * l(k, k) > kSingularFraction * s(k, k))) return false;
  }
  return true;
}

Status ValidateShape(const T2ChartSpec& s) {
  using Mode = T2ChartSpec::LimitMode;
  const int p = s.variables;
  if (p < kT2MinVariables || p > kT2MaxVariables) {
    return InvalidArgument("variables must be in " + Int(kT2MinVariables) + ".." + Int(kT2MaxVariables) +
                           ", found " + Int(p));
  }
  if (s.subgroup_size < 1) return InvalidArgument("subgroup_size must be >= 1, found " + Int(s.subgroup_size));
  if (s.confidence && !(*s.confidence > 0 && *s.confidence < 1)) {
    return InvalidArgument("confidence must be in (0, 1), found " + FormatNumber(*s.confidence));
  }
  const std::int64_t n = s.subgroup_size;
  // The lower bounds on the number of subgroups behind the estimates, for the limit formulas.
  auto check_m = [&](const char* field, std::int64_t m, bool phase1) -> Status {
    if (n == 1) {
      // Phase I beta shape (m-p-1)/2 > 0; Phase II F(p, m-p) needs m > p.
      const std::int64_t need = phase1 ? p + 2 : p + 1;
      if (m < need) {
        return InvalidArgument(std::string(field) + " must be >= variables + " + Int(need - p) + " = " + Int(need) +
                               " for individual observations (the " +
                               (phase1 ? "Phase I beta limit needs (m-p-1)/2 > 0" : "Phase II F limit needs m > p") +
                               "), found " + Int(m));
      }
      return Status::Ok();
    }
    if (m < (phase1 ? 2 : 1)) {
      return InvalidArgument(std::string(field) + " must be >= " + (phase1 ? "2" : "1") + ", found " + Int(m));
    }
    if (m * (n - 1) < p) {
      return InvalidArgument(std::string(field) + " * (subgroup_size - 1) must be >= variables = " + Int(p) +
                             " (the F limit has m(n-1)-p+1 degrees of freedom), found " + Int(m) + " * " +
                             Int(n - 1) + " = " + Int(m * (n - 1)));
    }
    return Status::Ok();
  };

  if (s.mode == Mode::kPhase1) {
    if (!s.center.empty()) return InvalidArgument("center is set but mode is phase1 (it applies to known limits)");
    if (!s.covariance.empty()) {
      return InvalidArgument("covariance is set but mode is phase1 (it applies to known limits)");
    }
    if (s.known_from_subgroups != 0) {
      return InvalidArgument("known_from_subgroups is set (" + Int(s.known_from_subgroups) +
                             ") but mode is phase1 (it applies to known limits)");
    }
    if (s.explicit_ucl) {
      return InvalidArgument("explicit_ucl is set (" + FormatNumber(*s.explicit_ucl) +
                             ") but mode is phase1 (it applies to known limits)");
    }
    if (s.phase1_subgroups > kT2MaxPhase1Subgroups) {
      return InvalidArgument("phase1_subgroups must be <= " + Int(kT2MaxPhase1Subgroups) + ", found " +
                             Int(s.phase1_subgroups));
    }
    return check_m("phase1_subgroups", s.phase1_subgroups, true);
  }

  // Known centre and covariance.
  const std::size_t up = static_cast<std::size_t>(p);
  if (s.center.size() != up) {
    return InvalidArgument("center has " + Int(static_cast<std::int64_t>(s.center.size())) +
                           " values, expected variables = " + Int(p));
  }
  if (s.covariance.size() != up * up) {
    return InvalidArgument("covariance has " + Int(static_cast<std::int64_t>(s.covariance.size())) +
                           " values, expected variables^2 = " + Int(p * p) + " (row-major)");
  }
  for (int i = 0; i < p; ++i) {
    if (!std::isfinite(s.center[i])) return InvalidArgument("center[" + Int(i) + "] is not a finite number");
  }
  auto cov = [&](int i, int j) { return s.covariance[static_cast<std::size_t>(i * p + j)]; };
  for (int i = 0; i < p; ++i) {
    for (int j = 0; j < p; ++j) {
      if (!std::isfinite(cov(i, j))) {
        return InvalidArgument("covariance[" + Int(i) + "][" + Int(j) + "] is not a finite number");
      }
    }
  }
  for (int i = 0; i < p; ++i) {
    if (!(cov(i, i) > 0)) {
      return InvalidArgument("covariance[" + Int(i) + "][" + Int(i) + "] (a variance) must be > 0, found " +
                             FormatNumber(cov(i, i)));
    }
    for (int j = 0; j < i; ++j) {
      const double a = cov(i, j), b = cov(j, i);
      if (std::fabs(a - b) > kSymmetryTolerance * std::max(std::fabs(a), std::fabs(b))) {
        return InvalidArgument("covariance is not symmetric: [" + Int(i) + "][" + Int(j) + "] = " + FormatNumber(a) +
                               " but [" + Int(j) + "][" + Int(i) + "] = " + FormatNumber(b));
      }
    }
  }
  Eigen::MatrixXd m(p, p);
  for (int i = 0; i < p; ++i) {
    for (int j = 0; j < p; ++j) m(i, j) = cov(i, j);
  }
  Eigen::LLT<Eigen::MatrixXd> llt(m);  // reads the lower triangle
  const bool factored = llt.info() == Eigen::Success;
  if (!factored || !PivotsClearSingularity(m, llt.matrixLLT())) {
    std::string why = DescribeSingularity(m);
    if (why.empty()) why = "Eigen LLT failed";  // not expected: DescribeSingularity mirrors LLT
    return InvalidArgument("covariance is not positive definite: " + why);
  }
  if (s.known_from_subgroups < 0) {
    return InvalidArgument("known_from_subgroups must be >= 0 (0: exact parameters), found " +
                           Int(s.known_from_subgroups));
  }
  if (s.known_from_subgroups > 0) {
    SHEWHART_RETURN_IF_ERROR(check_m("known_from_subgroups", s.known_from_subgroups, false));
  }
  if (s.explicit_ucl) {
    if (!(*s.explicit_ucl > 0) || !std::isfinite(*s.explicit_ucl)) {
      return InvalidArgument("explicit_ucl must be a finite number > 0, found " + FormatNumber(*s.explicit_ucl));
    }
    if (s.known_from_subgroups > 0) {
      return InvalidArgument("explicit_ucl and known_from_subgroups (" + Int(s.known_from_subgroups) +
                             ") are both set: give one");
    }
  }
  return Status::Ok();
}

double BetaQuantile(double a, double b, double q) {
  return boost::math::quantile(boost::math::beta_distribution<double, NoThrowPolicy>(a, b), q);
}
double FQuantile(double d1, double d2, double q) {
  return boost::math::quantile(boost::math::fisher_f_distribution<double, NoThrowPolicy>(d1, d2), q);
}
double ChiSquareQuantile(double df, double q) {
  return boost::math::quantile(boost::math::chi_squared_distribution<double, NoThrowPolicy>(df), q);
}

// Phase II (prediction) limit for a baseline of m subgroups of n, at probability q.
double PredictionQuantile(double p, double m, double n, double q) {
  if (n == 1) return p * (m + 1) * (m - 1) / (m * m - m * p) * FQuantile(p, m - p, q);
  const double df2 = m * n - m - p + 1;
  return p * (m + 1) * (n - 1) / df2 * FQuantile(p, df2, q);
}

// Phase I (control) limit for a baseline of m subgroups of n, at probability q.
double ControlQuantile(double p, double m, double n, double q) {
  if (n == 1) return (m - 1) * (m - 1) / m * BetaQuantile(p / 2, (m - p - 1) / 2, q);
  const double df2 = m * n - m - p + 1;
  return p * (m - 1) * (n - 1) / df2 * FQuantile(p, df2, q);
}

}  // namespace

double DefaultT2Confidence(int variables) { return std::pow(1 - 0.0027, variables); }

Result<T2ChartLimits> ComputeT2Limits(const T2ChartSpec& spec) {
  SHEWHART_RETURN_IF_ERROR(ValidateShape(spec));
  const double p = spec.variables, n = spec.subgroup_size, conf = spec.ConfidenceLevel();
  T2ChartLimits out;
  if (spec.mode == T2ChartSpec::LimitMode::kPhase1) {
    const double m = spec.phase1_subgroups;
    out.phase1 = T2Limits{ControlQuantile(p, m, n, 0.5), ControlQuantile(p, m, n, conf)};
    out.phase2 = T2Limits{PredictionQuantile(p, m, n, 0.5), PredictionQuantile(p, m, n, conf)};
  } else if (spec.known_from_subgroups > 0) {
    const double m0 = spec.known_from_subgroups;
    out.phase2 = T2Limits{PredictionQuantile(p, m0, n, 0.5), PredictionQuantile(p, m0, n, conf)};
  } else {
    out.phase2 = T2Limits{ChiSquareQuantile(p, 0.5),
                          spec.explicit_ucl ? *spec.explicit_ucl : ChiSquareQuantile(p, conf)};
  }
  for (const T2Limits* l : {out.phase1 ? &*out.phase1 : nullptr, &out.phase2}) {
    if (l == nullptr) continue;
    if (!std::isfinite(l->ucl) || !(l->ucl > 0) || !std::isfinite(l->cl)) {
      return InvalidArgument("confidence " + FormatNumber(conf) +
                             " gives a limit that is not a finite positive number (" + FormatNumber(l->ucl) + ")");
    }
  }
  return out;
}

Status T2ChartSpec::Validate() const { return ComputeT2Limits(*this).status(); }

struct T2Chart::Impl {
  explicit Impl(const T2ChartSpec& s);
  Status Add(std::span<const double> x, EventTime ts, ChartObserver& observer);
  Status CompleteBaseline(ChartObserver& observer);
  // T^2 of the subgroup mean `mean` against centre_ and the factor in llt_.
  double Statistic(const double* mean);
  void Judge(std::int64_t index, const double* mean, EventTime ts, Phase phase, ChartObserver& observer);
  EventTime WindowStart(std::int64_t first, EventTime first_ts) const {
    if (last_in_control_index > 0 && last_in_control_index < first) return last_in_control_ts;
    return first_ts;
  }

  T2ChartSpec spec;
  int p, n, m;
  T2ChartLimits limits;
  bool ready = false;

  Eigen::VectorXd centre;         // p
  Eigen::MatrixXd cov;            // p x p, full symmetric
  Eigen::LLT<Eigen::MatrixXd> llt;  // of cov
  double determinant = 0;
  Eigen::VectorXd work;           // p, the per-point solve

  // The subgroup being formed: its running mean and, in Phase I with n > 1, its co-moment
  // (Welford's update, lower triangle).
  int sub_count = 0;
  Eigen::VectorXd sub_mean;       // p
  Eigen::VectorXd sub_delta;      // p
  Eigen::MatrixXd sub_comoment;   // p x p (kPhase1, n > 1)

  // The Phase I baseline: subgroup means (m rows of p), their event times, and the sum of the
  // subgroups' co-moments (n > 1).
  std::vector<double> base_means;
  std::vector<EventTime> base_ts;
  int base_count = 0;
  Eigen::MatrixXd pooled;         // p x p (kPhase1, n > 1)

  std::int64_t observations = 0;
  std::int64_t subgroups = 0;
  EventTime last_in_control_ts{};
  std::int64_t last_in_control_index = 0;
};

T2Chart::Impl::Impl(const T2ChartSpec& s)
    : spec(s), p(s.variables), n(s.subgroup_size), m(s.phase1_subgroups), llt(s.variables) {
  Result<T2ChartLimits> l = ComputeT2Limits(spec);
  SHEWHART_CHECK(l.ok());  // the spec must have passed Validate()
  limits = *l;
  centre = Eigen::VectorXd::Zero(p);
  cov = Eigen::MatrixXd::Zero(p, p);
  work = Eigen::VectorXd::Zero(p);
  sub_mean = Eigen::VectorXd::Zero(p);
  sub_delta = Eigen::VectorXd::Zero(p);
  if (spec.mode == T2ChartSpec::LimitMode::kKnown) {
    for (int i = 0; i < p; ++i) {
      centre(i) = spec.center[static_cast<std::size_t>(i)];
      for (int j = 0; j <= i; ++j) cov(i, j) = cov(j, i) = spec.covariance[static_cast<std::size_t>(i * p + j)];
    }
    llt.compute(cov);
    SHEWHART_CHECK(llt.info() == Eigen::Success);
    determinant = llt.matrixLLT().diagonal().prod();
    determinant *= determinant;
    ready = true;
    return;
  }
  if (n > 1) {
    sub_comoment = Eigen::MatrixXd::Zero(p, p);
    pooled = Eigen::MatrixXd::Zero(p, p);
  }
  base_means.assign(static_cast<std::size_t>(m) * static_cast<std::size_t>(p), 0.0);
  base_ts.assign(static_cast<std::size_t>(m), EventTime{});
}

double T2Chart::Impl::Statistic(const double* mean) {
  work = Eigen::Map<const Eigen::VectorXd>(mean, p) - centre;
  llt.matrixL().solveInPlace(work);
  return static_cast<double>(n) * work.squaredNorm();
}

void T2Chart::Impl::Judge(std::int64_t index, const double* mean, EventTime ts, Phase phase,
                          ChartObserver& observer) {
  const T2Limits& lim = phase == Phase::kOne ? *limits.phase1 : limits.phase2;
  const double t2 = Statistic(mean);
  observer.OnPoint(ChartPoint{ChartKind::kT2, phase, index, ts, t2, lim.cl, lim.ucl, 0.0, n});
  // Only the upper limit is judged: a T^2 of 0 is a point on the centre, not a signal, even
  // under Boundary::kInclusive.
  const bool beyond = spec.boundary == Boundary::kStrict ? t2 > lim.ucl : t2 >= lim.ucl;
  if (spec.nelson1 && beyond) {
    observer.OnRuleHit(RuleHit{RuleKind::kNelson1, ChartKind::kT2, index, index, index, ts,
                               WindowStart(index, ts), t2});
    return;
  }
  last_in_control_index = index;
  last_in_control_ts = ts;
}

Status T2Chart::Impl::Add(std::span<const double> x, EventTime ts, ChartObserver& observer) {
  if (x.size() != static_cast<std::size_t>(p)) {
    return InvalidArgument("observation has " + Int(static_cast<std::int64_t>(x.size())) +
                           " values, expected variables = " + Int(p));
  }
  for (int i = 0; i < p; ++i) {
    if (!std::isfinite(x[static_cast<std::size_t>(i)])) {
      return InvalidArgument("observation value [" + Int(i) + "] is not a finite number: " +
                             FormatNumber(x[static_cast<std::size_t>(i)]));
    }
  }
  ++observations;
  ++sub_count;
  // Welford: mean_k = mean_{k-1} + (x - mean_{k-1}) / k; C_k = C_{k-1} + (x - mean_{k-1})(x - mean_k)'.
  const double k = sub_count;
  for (int i = 0; i < p; ++i) {
    sub_delta(i) = x[static_cast<std::size_t>(i)] - sub_mean(i);
    sub_mean(i) += sub_delta(i) / k;
  }
  const bool collecting = !ready;
  if (collecting && n > 1) {
    for (int i = 0; i < p; ++i) {
      for (int j = 0; j <= i; ++j) {
        sub_comoment(i, j) += sub_delta(i) * (x[static_cast<std::size_t>(j)] - sub_mean(j));
      }
    }
  }
  if (sub_count < n) return Status::Ok();

  // The subgroup is complete.
  sub_count = 0;
  const std::int64_t index = ++subgroups;
  if (ready) {
    Judge(index, sub_mean.data(), ts, Phase::kTwo, observer);
    sub_mean.setZero();
    return Status::Ok();
  }
  const std::size_t row = static_cast<std::size_t>(base_count) * static_cast<std::size_t>(p);
  for (int i = 0; i < p; ++i) base_means[row + static_cast<std::size_t>(i)] = sub_mean(i);
  base_ts[static_cast<std::size_t>(base_count)] = ts;
  ++base_count;
  sub_mean.setZero();
  if (n > 1) {
    pooled += sub_comoment;
    sub_comoment.setZero();
  }
  if (base_count < m) return Status::Ok();
  return CompleteBaseline(observer);
}

Status T2Chart::Impl::CompleteBaseline(ChartObserver& observer) {
  // Centre: the mean of the subgroup means (with equal n, the grand mean of all observations).
  centre.setZero();
  for (int r = 0; r < m; ++r) {
    const double* mean = base_means.data() + static_cast<std::size_t>(r) * static_cast<std::size_t>(p);
    for (int i = 0; i < p; ++i) centre(i) += mean[i];
  }
  centre /= static_cast<double>(m);
  // Covariance, lower triangle, then mirrored.
  if (n == 1) {
    cov.setZero();
    for (int r = 0; r < m; ++r) {
      const double* x = base_means.data() + static_cast<std::size_t>(r) * static_cast<std::size_t>(p);
      for (int i = 0; i < p; ++i) work(i) = x[i] - centre(i);
      for (int i = 0; i < p; ++i) {
        for (int j = 0; j <= i; ++j) cov(i, j) += work(i) * work(j);
      }
    }
    cov /= static_cast<double>(m - 1);
  } else {
    cov = pooled / (static_cast<double>(m) * static_cast<double>(n - 1));
  }
  for (int i = 0; i < p; ++i) {
    for (int j = 0; j < i; ++j) cov(j, i) = cov(i, j);
  }
  llt.compute(cov);
  const std::int64_t first_index = subgroups - m + 1;
  if (llt.info() != Eigen::Success || !PivotsClearSingularity(cov, llt.matrixLLT())) {
    std::string why = DescribeSingularity(cov);
    if (why.empty()) why = "Eigen LLT failed";
    base_count = 0;
    if (n > 1) pooled.setZero();
    return FailedPrecondition("Phase I covariance of subgroups " + Int(first_index) + ".." + Int(subgroups) +
                              " is singular: " + why +
                              "; nothing plotted, the baseline is discarded and a new one starts with the next "
                              "observation");
  }
  determinant = llt.matrixLLT().diagonal().prod();
  determinant *= determinant;
  ready = true;
  for (int r = 0; r < m; ++r) {
    Judge(first_index + r, base_means.data() + static_cast<std::size_t>(r) * static_cast<std::size_t>(p),
          base_ts[static_cast<std::size_t>(r)], Phase::kOne, observer);
  }
  // The baseline is no longer needed (freeing it does not allocate).
  std::vector<double>().swap(base_means);
  std::vector<EventTime>().swap(base_ts);
  return Status::Ok();
}

T2Chart::T2Chart(const T2ChartSpec& spec) : impl_(std::make_unique<Impl>(spec)) {}
T2Chart::~T2Chart() = default;
T2Chart::T2Chart(T2Chart&&) noexcept = default;
T2Chart& T2Chart::operator=(T2Chart&&) noexcept = default;

Status T2Chart::Add(std::span<const double> x, EventTime ts, ChartObserver& observer) {
  return impl_->Add(x, ts, observer);
}

bool T2Chart::limits_ready() const { return impl_->ready; }
const T2ChartLimits& T2Chart::limits() const { return impl_->limits; }
std::span<const double> T2Chart::center() const {
  if (!impl_->ready) return {};
  return {impl_->centre.data(), static_cast<std::size_t>(impl_->p)};
}
std::span<const double> T2Chart::covariance() const {
  if (!impl_->ready) return {};
  // Symmetric, so Eigen's column-major storage is also row-major.
  return {impl_->cov.data(), static_cast<std::size_t>(impl_->p) * static_cast<std::size_t>(impl_->p)};
}
double T2Chart::covariance_determinant() const { return impl_->ready ? impl_->determinant : 0.0; }
std::int64_t T2Chart::observations() const { return impl_->observations; }
std::int64_t T2Chart::subgroups() const { return impl_->subgroups; }

}  // namespace shewhart::rules

#include "shewhart/rules/constants.h"

#include <array>
#include <cmath>
#include <mutex>

#include <boost/math/quadrature/gauss_kronrod.hpp>

#include "shewhart/base/status.h"

namespace shewhart::rules {

namespace {

// qcc's exp.R.unscaled (d2), indexed by n; [0] and [1] unused. The familiar 3-decimal table of
// every SPC text (ASTM E2587, Montgomery Appendix VI).
constexpr std::array<double, kD2TableMax + 1> kD2Table = {
    0,     0,     1.128, 1.693, 2.059, 2.326, 2.534, 2.704, 2.847, 2.970, 3.078, 3.173, 3.258,
    3.336, 3.407, 3.472, 3.532, 3.588, 3.640, 3.689, 3.735, 3.778, 3.819, 3.858, 3.895, 3.931,
};

// qcc's se.R.unscaled (d3), indexed by n; [0] and [1] unused.
constexpr std::array<double, kD3TableMax + 1> kD3Table = {
    0,         0,         0.8525033, 0.8883697, 0.8798108, 0.8640855, 0.8480442, 0.8332108,
    0.8198378, 0.8078413, 0.7970584, 0.7873230, 0.7784873, 0.7704257, 0.7630330, 0.7562217,
    0.7499188, 0.7440627, 0.7386021, 0.7334929, 0.7286980, 0.7241851, 0.7199267, 0.7158987,
    0.7120802, 0.7084528, 0.7050004, 0.7017086, 0.6985648, 0.6955576, 0.6926770, 0.6899137,
    0.6872596, 0.6847074, 0.6822502, 0.6798821, 0.6775973, 0.6753910, 0.6732584, 0.6711952,
    0.6691976, 0.6672619, 0.6653848, 0.6635632, 0.6617943, 0.6600754, 0.6584041, 0.6567780,
    0.6551950, 0.6536532, 0.6521506,
};

// Beyond |x| = 13 the normal density is below 1e-37: nothing left to integrate.
constexpr double kTail = 13.0;
// Ranges of up to kMaxSubgroupSize normals: P(W > 25) is far below double precision.
constexpr double kMaxRange = 25.0;
constexpr double kTolerance = 1e-11;
constexpr unsigned kMaxDepth = 15;

// Upper tail of the standard normal, accurate far into the tail.
double UpperTail(double x) { return 0.5 * std::erfc(x / std::sqrt(2.0)); }

double Density(double x) {
  constexpr double kInvSqrt2Pi = 0.39894228040143267794;
  return kInvSqrt2Pi * std::exp(-0.5 * x * x);
}

// Phi(b) - Phi(a) for a <= b, without cancellation in either tail.
double Mass(double a, double b) {
  if (a >= 0) return UpperTail(a) - UpperTail(b);
  if (b <= 0) return UpperTail(-b) - UpperTail(-a);
  return 1.0 - UpperTail(-a) - UpperTail(b);
}

template <typename F>
double Integrate(F f, double a, double b) {
  double error = 0;
  return boost::math::quadrature::gauss_kronrod<double, 61>::integrate(f, a, b, kMaxDepth, kTolerance, &error);
}

struct Cache {
  std::array<std::once_flag, kMaxSubgroupSize + 1> d2_once;
  std::array<std::once_flag, kMaxSubgroupSize + 1> d3_once;
  std::array<double, kMaxSubgroupSize + 1> d2{};
  std::array<double, kMaxSubgroupSize + 1> d3{};
};

Cache& GetCache() {
  static Cache cache;
  return cache;
}

}  // namespace

double IntegratedD2(int n) {
  SHEWHART_CHECK(n >= 2);
  // The integrand 1 - Phi(x)^n - (1 - Phi(x))^n is even in x; for x >= 0 with q = 1 - Phi(x),
  // 1 - (1 - q)^n = -expm1(n log1p(-q)) keeps its digits where q is tiny.
  auto integrand = [n](double x) {
    const double q = UpperTail(x);
    return -std::expm1(n * std::log1p(-q)) - std::pow(q, n);
  };
  return 2.0 * Integrate(integrand, 0.0, kTail);
}

double IntegratedD3(int n) {
  SHEWHART_CHECK(n >= 2);
  auto survival_times_w = [n](double w) {
    auto density = [n, w](double x) {
      const double mass = Mass(x, x + w);
      return mass <= 0 ? 0.0 : Density(x) * std::pow(mass, n - 1);
    };
    const double cdf = n * Integrate(density, -kTail, kTail);
    return w * (1.0 - cdf);
  };
  const double second_moment = 2.0 * Integrate(survival_times_w, 0.0, kMaxRange);
  const double d2 = IntegratedD2(n);
  return std::sqrt(second_moment - d2 * d2);
}

double D2(int n) {
  SHEWHART_CHECK(n >= 2 && n <= kMaxSubgroupSize);
  if (n <= kD2TableMax) return kD2Table[static_cast<std::size_t>(n)];
  Cache& cache = GetCache();
  const auto i = static_cast<std::size_t>(n);
  std::call_once(cache.d2_once[i], [&] { cache.d2[i] = IntegratedD2(n); });
  return cache.d2[i];
}

double D3(int n) {
  SHEWHART_CHECK(n >= 2 && n <= kMaxSubgroupSize);
  if (n <= kD3TableMax) return kD3Table[static_cast<std::size_t>(n)];
  Cache& cache = GetCache();
  const auto i = static_cast<std::size_t>(n);
  std::call_once(cache.d3_once[i], [&] { cache.d3[i] = IntegratedD3(n); });
  return cache.d3[i];
}

double C4(std::int64_t n) {
  SHEWHART_CHECK(n >= 2);
  const double m = static_cast<double>(n);
  return std::sqrt(2.0 / (m - 1.0)) * std::exp(std::lgamma(m / 2.0) - std::lgamma((m - 1.0) / 2.0));
}

}  // namespace shewhart::rules

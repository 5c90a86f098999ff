#pragma once
// Control-chart constants of the normal distribution: d2, d3 (mean and standard deviation of
// the range of n standard normals) and c4 (mean of the sample standard deviation of n
// standard normals).
//
// Where published tables exist, the engine uses the table values, because published limits
// (qcc, textbooks) were computed with them and the engine must reproduce those limits:
//   d2(n), n = 2..25: qcc's `exp.R.unscaled` table, 3 decimals (1.128, 1.693, 2.059, 2.326, ...).
//   d3(n), n = 2..50: qcc's `se.R.unscaled` table, 7 decimals (0.8525033, 0.8883697, ...).
//     These agree with the classic 4-decimal tables (0.8525, 0.8884, 0.8798, 0.8641, ...), but
//     not to all 7 printed digits: they run high by 1e-6 (n = 2) to 1.2e-5 (n = 25) against
//     numerical integration (exact: d3(2) = sqrt(2 - 4/pi) = 0.8525025, qcc: 0.8525033). They
//     are used unchanged all the same, because qcc's R-chart limits depend on them (pistonrings
//     UCL 0.04812533 needs d3(5) = 0.8640855; the integrated 0.8640819 gives 0.04812523).
//   Beyond the tables (d2 for n = 26..kMaxSubgroupSize, d3 for n = 51..kMaxSubgroupSize) the
//   value is computed by numerical integration (IntegratedD2 / IntegratedD3), unrounded.
// c4(n) is exact for every n: sqrt(2 / (n - 1)) * Gamma(n / 2) / Gamma((n - 1) / 2).
//
// The 3-sigma textbook factors follow from these: A2 = 3 / (d2 sqrt(n)), D3 = max(0, 1 - 3 d3/d2),
// D4 = 1 + 3 d3/d2, A3 = 3 / (c4 sqrt(n)), B3 = max(0, 1 - 3 sqrt(1 - c4^2) / c4),
// B4 = 1 + 3 sqrt(1 - c4^2) / c4; the charts compute limits from d2, d3, c4 and sigma directly
// (qcc's way), which equals the textbook forms for a fixed subgroup size and k = 3.
//
// Threading: every function is thread-safe. The first call of D2 / D3 for a size beyond its
// table integrates and caches the value (std::call_once per size); later calls are lookups.
// Charts call these at construction, never per point.

#include <cstdint>

namespace shewhart::rules {

// The largest subgroup the subgroup charts and sigma estimators accept.
inline constexpr int kMaxSubgroupSize = 100;

// The largest n of the published tables the engine uses.
inline constexpr int kD2TableMax = 25;
inline constexpr int kD3TableMax = 50;

// d2(n): expected range of n standard normals. Requires 2 <= n <= kMaxSubgroupSize.
double D2(int n);

// d3(n): standard deviation of the range of n standard normals.
// Requires 2 <= n <= kMaxSubgroupSize.
double D3(int n);

// c4(n): E[s] / sigma for a sample of n normals (s with divisor n - 1). Requires n >= 2; any
// larger n is accepted (RMSDF uses c4 of the pooled degrees of freedom plus one).
double C4(std::int64_t n);

// d2(n) and d3(n) by adaptive Gauss-Kronrod quadrature, to about 1e-9, for any n >= 2:
//   d2 = integral over x of [1 - Phi(x)^n - (1 - Phi(x))^n],
//   E[W^2] = 2 * integral over w >= 0 of w * (1 - F_W(w)), with the range distribution
//   F_W(w) = n * integral over x of phi(x) * (Phi(x + w) - Phi(x))^(n - 1),
//   d3 = sqrt(E[W^2] - d2^2).
// Uncached; IntegratedD3 costs about 10 ms. Exposed for tests and for sizes beyond the tables.
double IntegratedD2(int n);
double IntegratedD3(int n);

}  // namespace shewhart::rules

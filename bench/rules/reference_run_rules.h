#pragma once
// A slow, obvious reference for the run rules, for the benchmarks' answer checks: it keeps the
// plotted points and re-derives every enabled rule from them at each point, with plain loops
// and no bit tricks, from the definitions in rules/include/shewhart/rules/run_rules.h. It
// counts firings per rule; a benchmark compares the counts with what RunRuleEvaluator reported
// before it times anything.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <deque>

#include "shewhart/rules/run_rules.h"

namespace shewhart::bench {

class ReferenceRunRules {
 public:
  explicit ReferenceRunRules(const rules::RunRulesSpec& spec) : spec_(spec) {}

  // Judges one point; adds one to fired()[rule] for each rule that fires on it.
  void Add(double value, double cl, double sigma) {
    points_.push_back({value, cl, sigma});
    if (points_.size() > 64) points_.pop_front();  // no pattern is longer than 50 points
    ++seen_;
    const Point& now = points_.back();
    const auto& s = spec_;
    using rules::RuleKind;
    if (s.nelson1.enabled && (Up(now, s.nelson1.sigmas) || Down(now, s.nelson1.sigmas))) Fire(RuleKind::kNelson1);
    if (s.nelson2.enabled && SameSide(s.nelson2.length)) Fire(RuleKind::kNelson2);
    if (s.nelson3.enabled && Trend(s.nelson3.length)) Fire(RuleKind::kNelson3);
    if (s.nelson4.enabled && Alternating(s.nelson4.length)) Fire(RuleKind::kNelson4);
    if (s.nelson5.enabled && MOfN(s.nelson5, 2)) Fire(RuleKind::kNelson5);
    if (s.nelson6.enabled && MOfN(s.nelson6, 1)) Fire(RuleKind::kNelson6);
    if (s.nelson7.enabled && AllPoints(s.nelson7.length, [&](const Point& p) { return !Up(p, 1) && !Down(p, 1); })) {
      Fire(RuleKind::kNelson7);
    }
    if (s.nelson8.enabled && Nelson8()) Fire(RuleKind::kNelson8);
    if (s.we1.enabled && (Up(now, s.we1.sigmas) || Down(now, s.we1.sigmas))) Fire(RuleKind::kWe1);
    if (s.we2.enabled && MOfN(s.we2, 2)) Fire(RuleKind::kWe2);
    if (s.we3.enabled && MOfN(s.we3, 1)) Fire(RuleKind::kWe3);
    if (s.we4.enabled && SameSide(s.we4.length)) Fire(RuleKind::kWe4);
  }

  const std::array<std::uint64_t, rules::kRuleKindCount>& fired() const { return fired_; }

 private:
  struct Point {
    double value, cl, sigma;
  };

  void Fire(rules::RuleKind rule) { ++fired_[static_cast<std::size_t>(rule)]; }
  bool Inclusive() const { return spec_.boundary == rules::Boundary::kInclusive; }
  // Beyond the k-sigma line on the point's own side of its centre line.
  bool Up(const Point& p, double k) const {
    const double line = std::fma(k, p.sigma, p.cl);
    return p.value > p.cl && (Inclusive() ? p.value >= line : p.value > line);
  }
  bool Down(const Point& p, double k) const {
    const double line = std::fma(-k, p.sigma, p.cl);
    return p.value < p.cl && (Inclusive() ? p.value <= line : p.value < line);
  }
  // The i-th of the last k points, oldest first (requires k <= points held).
  const Point& Last(int k, int i) const { return points_[points_.size() - static_cast<std::size_t>(k - i)]; }
  bool Have(int k) const { return static_cast<std::int64_t>(points_.size()) >= k; }

  template <typename Pred>
  bool AllPoints(int k, Pred pred) const {
    if (!Have(k)) return false;
    for (int i = 0; i < k; ++i) {
      if (!pred(Last(k, i))) return false;
    }
    return true;
  }
  bool SameSide(int k) const {
    return AllPoints(k, [](const Point& p) { return p.value > p.cl; }) ||
           AllPoints(k, [](const Point& p) { return p.value < p.cl; });
  }
  bool Trend(int k) const {
    if (!Have(k)) return false;
    bool rising = true, falling = true;
    for (int i = 1; i < k; ++i) {
      rising = rising && Last(k, i).value > Last(k, i - 1).value;
      falling = falling && Last(k, i).value < Last(k, i - 1).value;
    }
    return rising || falling;
  }
  bool Alternating(int k) const {
    if (!Have(k)) return false;
    for (int i = 1; i < k; ++i) {
      const double step = Last(k, i).value - Last(k, i - 1).value;
      if (step == 0) return false;
      if (i > 1 && (step > 0) == (Last(k, i - 1).value - Last(k, i - 2).value > 0)) return false;
    }
    return true;
  }
  // The current point beyond `zone` sigma on its side, and at least m of the last n (or of all
  // points seen, when fewer) beyond it on that side; read plainly (point_beyond false), m of
  // them beyond on one side, wherever the current point is; with full_window, only from the n-th
  // point on.
  bool MOfN(const rules::MOfNRuleParams& p, double zone) const {
    if (p.full_window && seen_ < p.n) return false;
    const int k = static_cast<int>(std::min<std::int64_t>(p.n, seen_));
    int up = 0, down = 0;
    for (int i = 0; i < k; ++i) {
      up += Up(Last(k, i), zone);
      down += Down(Last(k, i), zone);
    }
    if (!p.point_beyond) return up >= p.m || down >= p.m;
    const Point& now = points_.back();
    return (Up(now, zone) && up >= p.m) || (Down(now, zone) && down >= p.m);
  }
  bool Nelson8() const {
    const int k = spec_.nelson8.length;
    if (!AllPoints(k, [&](const Point& p) { return Up(p, 1) || Down(p, 1); })) return false;
    if (!spec_.nelson8.both_sides) return true;
    bool up = false, down = false;
    for (int i = 0; i < k; ++i) {
      up = up || Up(Last(k, i), 1);
      down = down || Down(Last(k, i), 1);
    }
    return up && down;
  }

  rules::RunRulesSpec spec_;
  std::deque<Point> points_;
  std::int64_t seen_ = 0;
  std::array<std::uint64_t, rules::kRuleKindCount> fired_{};
};

}  // namespace shewhart::bench

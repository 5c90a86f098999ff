#include "shewhart/rules/run_rules.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <string>

namespace shewhart::rules {

namespace {

// Shortest text that reads back as `v`; locale-independent.
std::string Num(double v) {
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}

std::string Name(RuleKind kind) { return std::string(RuleName(kind)); }

Status CheckSigmas(RuleKind kind, const SigmaRuleParams& p) {
  if (!std::isfinite(p.sigmas) || !(p.sigmas > 0)) {
    return InvalidArgument(Name(kind) + " sigmas must be a finite number > 0, found " + Num(p.sigmas));
  }
  return Status::Ok();
}

Status CheckLength(RuleKind kind, int length, int min_length) {
  if (length < min_length || length > kMaxRunLength) {
    return InvalidArgument(Name(kind) + " length must be in " + std::to_string(min_length) + ".." +
                           std::to_string(kMaxRunLength) + ", found " + std::to_string(length));
  }
  return Status::Ok();
}

Status CheckMOfN(RuleKind kind, const MOfNRuleParams& p) {
  if (p.m < 1 || p.m > p.n || p.n > kMaxRuleWindow) {
    return InvalidArgument(Name(kind) + " needs 1 <= m <= n <= " + std::to_string(kMaxRuleWindow) + ", found m " +
                           std::to_string(p.m) + ", n " + std::to_string(p.n));
  }
  return Status::Ok();
}

// The low `k` bits set (0 < k <= 64).
constexpr std::uint64_t LowBits(int k) { return k >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << k) - 1; }

// True when the newest `k` points all have their bit set in `history`.
constexpr bool RunOf(std::uint64_t history, int k) { return (history & LowBits(k)) == LowBits(k); }

// Points among the newest `n` with their bit set.
inline int CountOf(std::uint64_t history, int n) { return std::popcount(history & LowBits(n)); }

}  // namespace

RunRulesSpec RunRulesSpec::Nelson() {
  RunRulesSpec s;
  s.nelson1.enabled = s.nelson2.enabled = s.nelson3.enabled = s.nelson4.enabled = true;
  s.nelson5.enabled = s.nelson6.enabled = s.nelson7.enabled = s.nelson8.enabled = true;
  return s;
}

RunRulesSpec RunRulesSpec::WesternElectric() {
  RunRulesSpec s;
  s.we1.enabled = s.we2.enabled = s.we3.enabled = s.we4.enabled = true;
  return s;
}

RunRulesSpec RunRulesSpec::RulesOneToFour() {
  RunRulesSpec s;
  s.nelson1.enabled = s.nelson2.enabled = s.nelson3.enabled = s.nelson4.enabled = true;
  return s;
}

bool RunRulesSpec::IsRunRule(RuleKind kind) { return kind != RuleKind::kSpecLsl && kind != RuleKind::kSpecUsl; }

namespace {
// The `enabled` flag of `kind` in `s`, or nullptr for a kind that is not a run rule. Shared by
// the const and non-const accessors.
template <typename Spec>
auto EnabledFlag(Spec& s, RuleKind kind) -> decltype(&s.nelson1.enabled) {
  switch (kind) {
    case RuleKind::kNelson1: return &s.nelson1.enabled;
    case RuleKind::kNelson2: return &s.nelson2.enabled;
    case RuleKind::kNelson3: return &s.nelson3.enabled;
    case RuleKind::kNelson4: return &s.nelson4.enabled;
    case RuleKind::kNelson5: return &s.nelson5.enabled;
    case RuleKind::kNelson6: return &s.nelson6.enabled;
    case RuleKind::kNelson7: return &s.nelson7.enabled;
    case RuleKind::kNelson8: return &s.nelson8.enabled;
    case RuleKind::kWe1: return &s.we1.enabled;
    case RuleKind::kWe2: return &s.we2.enabled;
    case RuleKind::kWe3: return &s.we3.enabled;
    case RuleKind::kWe4: return &s.we4.enabled;
    case RuleKind::kSpecLsl:
    case RuleKind::kSpecUsl: return nullptr;
  }
  return nullptr;
}
}  // namespace

bool RunRulesSpec::Enabled(RuleKind kind) const {
  const bool* flag = EnabledFlag(*this, kind);
  return flag != nullptr && *flag;
}

Status RunRulesSpec::Enable(RuleKind kind, bool on) {
  bool* flag = EnabledFlag(*this, kind);
  if (flag == nullptr) return InvalidArgument(Name(kind) + " is not a run rule");
  *flag = on;
  return Status::Ok();
}

Status RunRulesSpec::Validate() const {
  SHEWHART_RETURN_IF_ERROR(CheckSigmas(RuleKind::kNelson1, nelson1));
  SHEWHART_RETURN_IF_ERROR(CheckLength(RuleKind::kNelson2, nelson2.length, kMinRunLength));
  SHEWHART_RETURN_IF_ERROR(CheckLength(RuleKind::kNelson3, nelson3.length, kMinRunLength));
  SHEWHART_RETURN_IF_ERROR(CheckLength(RuleKind::kNelson4, nelson4.length, 3));
  SHEWHART_RETURN_IF_ERROR(CheckMOfN(RuleKind::kNelson5, nelson5));
  SHEWHART_RETURN_IF_ERROR(CheckMOfN(RuleKind::kNelson6, nelson6));
  SHEWHART_RETURN_IF_ERROR(CheckLength(RuleKind::kNelson7, nelson7.length, kMinRunLength));
  SHEWHART_RETURN_IF_ERROR(CheckLength(RuleKind::kNelson8, nelson8.length, kMinRunLength));
  SHEWHART_RETURN_IF_ERROR(CheckSigmas(RuleKind::kWe1, we1));
  SHEWHART_RETURN_IF_ERROR(CheckMOfN(RuleKind::kWe2, we2));
  SHEWHART_RETURN_IF_ERROR(CheckMOfN(RuleKind::kWe3, we3));
  SHEWHART_RETURN_IF_ERROR(CheckLength(RuleKind::kWe4, we4.length, kMinRunLength));
  if (boundary != Boundary::kStrict && boundary != Boundary::kInclusive) {
    return InvalidArgument("boundary must be strict or inclusive, found " +
                           std::to_string(static_cast<int>(boundary)));
  }
  return Status::Ok();
}

RunRuleEvaluator::RunRuleEvaluator(const RunRulesSpec& spec) : spec_(spec) {
  SHEWHART_CHECK(spec_.Validate().ok());
  int w = 0;
  if (spec_.nelson1.enabled || spec_.we1.enabled) w = 1;
  for (const RunRuleParams* r : {&spec_.nelson2, &spec_.nelson3, &spec_.nelson4, &spec_.nelson7, &spec_.we4}) {
    if (r->enabled) w = std::max(w, r->length);
  }
  if (spec_.nelson8.enabled) w = std::max(w, spec_.nelson8.length);
  for (const MOfNRuleParams* r : {&spec_.nelson5, &spec_.nelson6, &spec_.we2, &spec_.we3}) {
    if (r->enabled) w = std::max(w, r->n);
  }
  window_ = w;
}

void RunRuleEvaluator::Reset() {
  count_ = 0;
  pos_ = 0;
  prev_value_ = 0;
  above_ = below_ = above1_ = below1_ = above2_ = below2_ = within1_ = 0;
  up_ = down_ = alternate_ = 0;
}

std::size_t RunRuleEvaluator::Evaluate(std::int64_t index, double value, double cl, double sigma,
                                       RuleFiring* out) {
  SHEWHART_CHECK(std::isfinite(value) && std::isfinite(cl) && std::isfinite(sigma) && sigma > 0);
  SHEWHART_CHECK(out != nullptr);
  SHEWHART_CHECK(count_ == 0 || index > ring_[pos_]);

  // Verdicts on this point, against its own centre line and sigma.
  const bool inclusive = spec_.boundary == Boundary::kInclusive;
  const bool above = value > cl;
  const bool below = value < cl;
  // Beyond the k-sigma line on the point's own side. Requiring the side keeps a point on the
  // centre line out of every zone even when a line rounds onto cl.
  auto beyond_above = [&](double k) {
    const double line = ZoneLine(cl, sigma, k);
    return above && (inclusive ? value >= line : value > line);
  };
  auto beyond_below = [&](double k) {
    const double line = ZoneLine(cl, sigma, -k);
    return below && (inclusive ? value <= line : value < line);
  };
  const bool a1 = beyond_above(1), b1 = beyond_below(1);
  const bool a2 = beyond_above(2), b2 = beyond_below(2);
  const bool has_step = count_ > 0;
  const bool up = has_step && value > prev_value_;
  const bool down = has_step && value < prev_value_;
  // The previous step is bit 0 of up_ / down_ before the shift (0 when it does not exist).
  const bool alternate = (up && (down_ & 1)) || (down && (up_ & 1));

  auto push = [](std::uint64_t& history, bool bit) { history = (history << 1) | static_cast<std::uint64_t>(bit); };
  push(above_, above);
  push(below_, below);
  push(above1_, a1);
  push(below1_, b1);
  push(above2_, a2);
  push(below2_, b2);
  push(within1_, !a1 && !b1);
  push(up_, up);
  push(down_, down);
  push(alternate_, alternate);
  pos_ = (pos_ + 1) & (kRingCapacity - 1);
  ring_[pos_] = index;
  prev_value_ = value;
  ++count_;

  std::size_t n = 0;
  // A firing over the newest `points` points.
  auto fire = [&](RuleKind rule, int points) { out[n++] = RuleFiring{rule, IndexBack(points - 1), index}; };
  auto m_of_n = [&](const MOfNRuleParams& p, bool cur_above, bool cur_below, std::uint64_t hist_above,
                    std::uint64_t hist_below) {
    return (cur_above && CountOf(hist_above, p.n) >= p.m) || (cur_below && CountOf(hist_below, p.n) >= p.m);
  };
  // Points in an m-of-n window: n, or all the points seen when fewer.
  auto window_points = [&](int n_points) {
    return static_cast<int>(std::min<std::int64_t>(n_points, count_));
  };

  const auto& s = spec_;
  if (s.nelson1.enabled && (beyond_above(s.nelson1.sigmas) || beyond_below(s.nelson1.sigmas))) {
    fire(RuleKind::kNelson1, 1);
  }
  if (s.nelson2.enabled && (RunOf(above_, s.nelson2.length) || RunOf(below_, s.nelson2.length))) {
    fire(RuleKind::kNelson2, s.nelson2.length);
  }
  if (s.nelson3.enabled && (RunOf(up_, s.nelson3.length - 1) || RunOf(down_, s.nelson3.length - 1))) {
    fire(RuleKind::kNelson3, s.nelson3.length);
  }
  if (s.nelson4.enabled && RunOf(alternate_, s.nelson4.length - 2)) {
    fire(RuleKind::kNelson4, s.nelson4.length);
  }
  if (s.nelson5.enabled && m_of_n(s.nelson5, a2, b2, above2_, below2_)) {
    fire(RuleKind::kNelson5, window_points(s.nelson5.n));
  }
  if (s.nelson6.enabled && m_of_n(s.nelson6, a1, b1, above1_, below1_)) {
    fire(RuleKind::kNelson6, window_points(s.nelson6.n));
  }
  if (s.nelson7.enabled && RunOf(within1_, s.nelson7.length)) {
    fire(RuleKind::kNelson7, s.nelson7.length);
  }
  if (s.nelson8.enabled) {
    const int k = s.nelson8.length;
    const bool run = RunOf(above1_ | below1_, k);
    const bool sides_ok = !s.nelson8.both_sides || ((above1_ & LowBits(k)) != 0 && (below1_ & LowBits(k)) != 0);
    if (run && sides_ok) fire(RuleKind::kNelson8, k);
  }
  if (s.we1.enabled && (beyond_above(s.we1.sigmas) || beyond_below(s.we1.sigmas))) {
    fire(RuleKind::kWe1, 1);
  }
  if (s.we2.enabled && m_of_n(s.we2, a2, b2, above2_, below2_)) {
    fire(RuleKind::kWe2, window_points(s.we2.n));
  }
  if (s.we3.enabled && m_of_n(s.we3, a1, b1, above1_, below1_)) {
    fire(RuleKind::kWe3, window_points(s.we3.n));
  }
  if (s.we4.enabled && (RunOf(above_, s.we4.length) || RunOf(below_, s.we4.length))) {
    fire(RuleKind::kWe4, s.we4.length);
  }
  return n;
}

}  // namespace shewhart::rules

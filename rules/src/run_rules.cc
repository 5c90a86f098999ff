#include "shewhart/rules/run_rules.h"
#include "shewhart/rules/format.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <string>

namespace shewhart::rules {

namespace {

std::string Name(RuleKind kind) { return std::string(RuleName(kind)); }

Status CheckSigmas(RuleKind kind, const SigmaRuleParams& p) {
  if (!std::isfinite(p.sigmas) || !(p.sigmas > 0)) {
    return InvalidArgument(Name(kind) + " sigmas must be a finite number > 0, found " + FormatNumber(p.sigmas));
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

bool RunRulesSpec::IsRunRule(RuleKind kind) {
  return kind <= RuleKind::kWe4 && kind != RuleKind::kSpecLsl && kind != RuleKind::kSpecUsl;
}

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
    case RuleKind::kSpecUsl:
    case RuleKind::kThreshold:
    case RuleKind::kRate:
    case RuleKind::kStale: return nullptr;
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
  const auto& s = spec_;
  inclusive_ = s.boundary == Boundary::kInclusive;
  nelson8_both_sides_ = s.nelson8.both_sides;
  nelson1_sigmas_ = s.nelson1.sigmas;
  we1_sigmas_ = s.we1.sigmas;
  // (enabled, history bits the pattern reads, points a firing implicates, m) per slot.
  struct Row {
    bool enabled;
    int bits;
    int points;
    int m;
  };
  const Row rows[kSlots] = {
      {s.nelson1.enabled, 1, 1, 0},
      {s.nelson2.enabled, s.nelson2.length, s.nelson2.length, 0},
      {s.nelson3.enabled, s.nelson3.length - 1, s.nelson3.length, 0},  // K points, K-1 steps
      {s.nelson4.enabled, s.nelson4.length - 2, s.nelson4.length, 0},  // K-1 steps, K-2 turns
      {s.nelson5.enabled, s.nelson5.n, s.nelson5.n, s.nelson5.m},
      {s.nelson6.enabled, s.nelson6.n, s.nelson6.n, s.nelson6.m},
      {s.nelson7.enabled, s.nelson7.length, s.nelson7.length, 0},
      {s.nelson8.enabled, s.nelson8.length, s.nelson8.length, 0},
      {s.we1.enabled, 1, 1, 0},
      {s.we2.enabled, s.we2.n, s.we2.n, s.we2.m},
      {s.we3.enabled, s.we3.n, s.we3.n, s.we3.m},
      {s.we4.enabled, s.we4.length, s.we4.length, 0},
  };
  for (int slot = 0; slot < kSlots; ++slot) {
    const Row& r = rows[slot];
    mask_[slot] = LowBits(r.bits);
    points_[slot] = r.points;
    min_count_[slot] = r.m;
    if (r.enabled) {
      enabled_ |= std::uint32_t{1} << slot;
      window_ = std::max(window_, r.points);
    }
  }
}

void RunRuleEvaluator::Reset() {
  count_ = 0;
  pos_ = 0;
  prev_value_ = 0;
  above_ = below_ = above1_ = below1_ = above2_ = below2_ = up_ = down_ = 0;
}

std::size_t RunRuleEvaluator::Evaluate(std::int64_t index, double value, double cl, double sigma,
                                       RuleFiring* out) {
  SHEWHART_CHECK(std::isfinite(value) & std::isfinite(cl) & std::isfinite(sigma) & (sigma > 0));
  SHEWHART_CHECK(out != nullptr);
  SHEWHART_CHECK(count_ == 0 || index > ring_[pos_]);
  return inclusive_ ? Judge<true>(index, value, cl, sigma, out) : Judge<false>(index, value, cl, sigma, out);
}

// The hot path computes every rule's verdict without short-circuit operators (random data
// would mispredict them) into one word of hit bits; only a point on which something fires
// takes the branch to WriteFirings.
template <bool kInclusive>
std::size_t RunRuleEvaluator::Judge(std::int64_t index, double value, double cl, double sigma, RuleFiring* out) {
  // Verdicts on this point, against its own centre line and sigma.
  const bool above = value > cl;
  const bool below = value < cl;
  // Beyond the k-sigma line on the point's own side. Requiring the side keeps a point on the
  // centre line out of every zone even when a line rounds onto cl.
  auto beyond_above = [&](double k) {
    const double line = ZoneLine(cl, sigma, k);
    return above & (kInclusive ? value >= line : value > line);
  };
  auto beyond_below = [&](double k) {
    const double line = ZoneLine(cl, sigma, -k);
    return below & (kInclusive ? value <= line : value < line);
  };
  const bool a1 = beyond_above(1), b1 = beyond_below(1);
  const bool a2 = beyond_above(2), b2 = beyond_below(2);
  const bool has_step = count_ > 0;
  auto push = [](std::uint64_t& history, bool bit) { history = (history << 1) | static_cast<std::uint64_t>(bit); };
  push(above_, above);
  push(below_, below);
  push(above1_, a1);
  push(below1_, b1);
  push(above2_, a2);
  push(below2_, b2);
  push(up_, has_step & (value > prev_value_));
  push(down_, has_step & (value < prev_value_));
  pos_ = (pos_ + 1) & (kRingCapacity - 1);
  ring_[pos_] = index;
  prev_value_ = value;
  ++count_;

  // The newest points selected by `mask` all have their bit set in `history`.
  auto all = [](std::uint64_t history, std::uint64_t mask) { return (history & mask) == mask; };
  // The current point is beyond on its side and at least m of the window are, on that side.
  auto m_of_n = [&](int slot, bool cur_above, bool cur_below, std::uint64_t hist_above, std::uint64_t hist_below) {
    const std::uint64_t mask = mask_[slot];
    const int m = min_count_[slot];
    return (cur_above & (std::popcount(hist_above & mask) >= m)) | (cur_below & (std::popcount(hist_below & mask) >= m));
  };
  const std::uint64_t beyond1 = above1_ | below1_;
  // A step that turns: up after down or down after up (bit j+1 is the step before bit j).
  const std::uint64_t turned = (up_ & (down_ >> 1)) | (down_ & (up_ >> 1));
  const std::uint64_t n8 = mask_[kN8];
  const bool n8_sides = (!nelson8_both_sides_) | (((above1_ & n8) != 0) & ((below1_ & n8) != 0));
  // Within 1 sigma: none of the last K beyond 1 sigma, and K points exist.
  const bool n7 = ((beyond1 & mask_[kN7]) == 0) & (count_ >= points_[kN7]);
  auto bit = [](bool hit, int slot) { return static_cast<std::uint32_t>(hit) << slot; };

  std::uint32_t hits =
      bit(beyond_above(nelson1_sigmas_) | beyond_below(nelson1_sigmas_), kN1) |
      bit(all(above_, mask_[kN2]) | all(below_, mask_[kN2]), kN2) |
      bit(all(up_, mask_[kN3]) | all(down_, mask_[kN3]), kN3) |
      bit(all(turned, mask_[kN4]), kN4) |
      bit(m_of_n(kN5, a2, b2, above2_, below2_), kN5) |
      bit(m_of_n(kN6, a1, b1, above1_, below1_), kN6) |
      bit(n7, kN7) |
      bit(all(beyond1, n8) & n8_sides, kN8) |
      bit(beyond_above(we1_sigmas_) | beyond_below(we1_sigmas_), kW1) |
      bit(m_of_n(kW2, a2, b2, above2_, below2_), kW2) |
      bit(m_of_n(kW3, a1, b1, above1_, below1_), kW3) |
      bit(all(above_, mask_[kW4]) | all(below_, mask_[kW4]), kW4);
  hits &= enabled_;
  if (hits == 0) return 0;
  return WriteFirings(hits, index, out);
}

std::size_t RunRuleEvaluator::WriteFirings(std::uint32_t hits, std::int64_t index, RuleFiring* out) const {
  static constexpr RuleKind kKinds[kSlots] = {
      RuleKind::kNelson1, RuleKind::kNelson2, RuleKind::kNelson3, RuleKind::kNelson4,
      RuleKind::kNelson5, RuleKind::kNelson6, RuleKind::kNelson7, RuleKind::kNelson8,
      RuleKind::kWe1,     RuleKind::kWe2,     RuleKind::kWe3,     RuleKind::kWe4,
  };
  std::size_t n = 0;
  for (; hits != 0; hits &= hits - 1) {
    const int slot = std::countr_zero(hits);
    int points = points_[slot];
    // An m-of-n window before n points exist is the points seen so far.
    if (min_count_[slot] > 0) points = static_cast<int>(std::min<std::int64_t>(points, count_));
    out[n++] = RuleFiring{kKinds[slot], IndexBack(points - 1), index};
  }
  return n;
}

bool RunRulesSpec::AnyBeyondRuleOne() const {
  for (int k = 0; k < kRuleKindCount; ++k) {
    const auto kind = static_cast<RuleKind>(k);
    if (kind != RuleKind::kNelson1 && kind != RuleKind::kWe1 && IsRunRule(kind) && Enabled(kind)) return true;
  }
  return false;
}

}  // namespace shewhart::rules

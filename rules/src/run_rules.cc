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

// The number of bits set in each 10-bit value: a popcount instruction is not in the portable
// x86-64 instruction set (std::popcount becomes a library call), and two lookups in this 1 KB
// table count an m-of-n window (n <= kMaxRuleWindow = 20).
struct BitCounts {
  std::uint8_t of[1024];
  constexpr BitCounts() : of() {
    for (int i = 1; i < 1024; ++i) of[i] = static_cast<std::uint8_t>(of[i / 2] + (i & 1));
  }
};
constexpr BitCounts kBitCounts;
static_assert(kMaxRuleWindow <= 20);
inline int CountBits20(std::uint64_t x) { return kBitCounts.of[x & 1023] + kBitCounts.of[(x >> 10) & 1023]; }

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

RunRuleEvaluator::RunRuleEvaluator(const RunRulesSpec& spec) {
  SHEWHART_CHECK(spec.Validate().ok());
  const auto& s = spec;
  nelson8_both_sides_ = s.nelson8.both_sides;
  zone_k_[0] = 1;
  zone_k_[1] = 2;
  zone_k_[2] = s.nelson1.sigmas;
  zone_k_[3] = s.we1.sigmas;
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
    points_[slot] = static_cast<std::uint8_t>(r.points);  // <= kMaxRunLength
    min_count_[slot] = static_cast<std::uint8_t>(r.m);    // <= kMaxRuleWindow
    if (r.enabled) {
      enabled_ |= std::uint32_t{1} << slot;
      window_ = static_cast<std::uint8_t>(std::max<int>(window_, r.points));
    }
  }
  const bool inclusive = s.boundary == Boundary::kInclusive;
  const bool zones = s.nelson5.enabled || s.nelson6.enabled || s.nelson7.enabled || s.nelson8.enabled ||
                     s.we2.enabled || s.we3.enabled;
  const bool we = s.we1.enabled || s.we2.enabled || s.we3.enabled || s.we4.enabled;
  variant_ = static_cast<std::uint8_t>(int{inclusive} | int{zones} << 1 | int{we} << 2);
}

void RunRuleEvaluator::Reset() {
  count_ = 0;
  pos_ = 0;
  prev_value_ = std::numeric_limits<double>::quiet_NaN();
  above_ = below_ = above1_ = below1_ = above2_ = below2_ = up_ = down_ = 0;
}

void RunRuleEvaluator::SetLines(double cl, double sigma) {
  SHEWHART_CHECK(std::isfinite(cl) && std::isfinite(sigma) && sigma > 0);
  for (int i = 0; i < 4; ++i) {
    upper_[i] = ZoneLine(cl, sigma, zone_k_[i]);
    lower_[i] = ZoneLine(cl, sigma, -zone_k_[i]);
  }
  lines_cl_ = cl;
  lines_sigma_ = sigma;
}

// The hot path computes every judged rule's verdict without short-circuit operators (random
// data would mispredict them) into one word of hit bits; only a point on which something fires
// takes the branch to WriteFirings. Where a rule looks at the side of the current point, the
// history of that side is picked with a select (a conditional move), not a branch. The zone
// lines are those of the last (cl, sigma) (SetLines), so a point costs no multiply-add.
template <bool kInclusive, bool kZones, bool kWe>
[[gnu::noinline]] std::size_t RunRuleEvaluator::Judge(std::int64_t index, double value, double cl, double sigma,
                                                      RuleFiring* out) {
  SHEWHART_CHECK(std::isfinite(value) & (out != nullptr) & ((count_ == 0) | (index > last_index_)) &
                 ((count_ == 0) | (index - last_index_ <= std::int64_t{0xffffffff})));
  // A NaN cl or sigma compares unequal, so SetLines sees (and refuses) it.
  if ((cl != lines_cl_) | (sigma != lines_sigma_)) [[unlikely]] SetLines(cl, sigma);
  // Verdicts on this point, against its own centre line and sigma.
  const bool above = value > cl;
  const bool below = value < cl;
  // Beyond the line i (zone_k_[i] sigma) above / below cl, on that side. Requiring the side
  // keeps a point on the centre line out of every zone even when a line rounds onto cl. A line
  // is never on the wrong side of cl (cl + k sigma rounds monotonically), so a point strictly
  // beyond it is on its side already: only the inclusive mode needs the side test.
  auto over = [&](int i) {
    if constexpr (kInclusive) {
      return static_cast<bool>(above & (value >= upper_[i]));
    } else {
      return value > upper_[i];
    }
  };
  auto under = [&](int i) {
    if constexpr (kInclusive) {
      return static_cast<bool>(below & (value <= lower_[i]));
    } else {
      return value < lower_[i];
    }
  };
  auto push = [](std::uint64_t& history, bool bit) { history = (history << 1) | static_cast<std::uint64_t>(bit); };
  // The newest points selected by `mask` all have their bit set in `history`.
  auto all = [](std::uint64_t history, std::uint64_t mask) { return (history & mask) == mask; };
  auto bit = [](bool hit, int slot) { return static_cast<std::uint32_t>(hit) << slot; };

  // A step needs a previous point: prev_value_ is NaN when there is none.
  const bool up = value > prev_value_;
  const bool down = value < prev_value_;
  push(above_, above);
  push(below_, below);
  push(up_, up);
  push(down_, down);
  pos_ = (pos_ + 1) & (kRingCapacity - 1);
  ring_[pos_] = static_cast<std::uint32_t>(index);
  last_index_ = index;
  prev_value_ = value;
  ++count_;

  // The history of the current point's side (of its step's direction). When it is on neither
  // side (a flat step) the other history is picked, whose bit 0 is clear, so a run test on a
  // mask that includes bit 0 fails, as it must.
  const std::uint64_t side = above ? above_ : below_;
  const std::uint64_t trend = up ? up_ : down_;
  // A step that turns: up after down or down after up (bit j+1 is the step before bit j).
  const std::uint64_t turned = (up_ & (down_ >> 1)) | (down_ & (up_ >> 1));

  std::uint32_t hits = bit(all(side, mask_[kN2]), kN2) | bit(all(trend, mask_[kN3]), kN3) |
                       bit(all(turned, mask_[kN4]), kN4) | bit(over(2) | under(2), kN1);
  if constexpr (kWe) hits |= bit(over(3) | under(3), kW1) | bit(all(side, mask_[kW4]), kW4);
  if constexpr (kZones) {
    const bool a1 = over(0), b1 = under(0);
    const bool a2 = over(1), b2 = under(1);
    push(above1_, a1);
    push(below1_, b1);
    push(above2_, a2);
    push(below2_, b2);
    // The zone history of the current point's side; bit 0 is set iff the point is beyond.
    const std::uint64_t side1 = a1 ? above1_ : below1_;
    const std::uint64_t side2 = a2 ? above2_ : below2_;
    // The current point is beyond on its side and at least m of the window are, on that side.
    auto m_of_n = [&](int slot, std::uint64_t history) {
      return static_cast<bool>((history & 1) & (CountBits20(history & mask_[slot]) >= min_count_[slot]));
    };
    const std::uint64_t beyond1 = above1_ | below1_;
    const std::uint64_t n8 = mask_[kN8];
    const bool n8_sides = (!nelson8_both_sides_) | (((above1_ & n8) != 0) & ((below1_ & n8) != 0));
    // Within 1 sigma: none of the last K beyond 1 sigma, and K points exist.
    const bool n7 = ((beyond1 & mask_[kN7]) == 0) & (count_ >= points_[kN7]);
    hits |= bit(m_of_n(kN5, side2), kN5) | bit(m_of_n(kN6, side1), kN6) |
            bit(n7, kN7) | bit(all(beyond1, n8) & n8_sides, kN8);
    if constexpr (kWe) {
      hits |= bit(m_of_n(kW2, side2), kW2) | bit(m_of_n(kW3, side1), kW3);
    }
  }
  hits &= enabled_;
  if (hits == 0) [[likely]] return 0;
  return WriteFirings(hits, index, out);
}

std::size_t RunRuleEvaluator::Evaluate(std::int64_t index, double value, double cl, double sigma,
                                       RuleFiring* out) {
  // Only a dispatch, so that it needs no stack frame: each Judge checks the preconditions.
  switch (variant_) {
    case 0: return Judge<false, false, false>(index, value, cl, sigma, out);
    case 1: return Judge<true, false, false>(index, value, cl, sigma, out);
    case 2: return Judge<false, true, false>(index, value, cl, sigma, out);
    case 3: return Judge<true, true, false>(index, value, cl, sigma, out);
    case 4: return Judge<false, false, true>(index, value, cl, sigma, out);
    case 5: return Judge<true, false, true>(index, value, cl, sigma, out);
    case 6: return Judge<false, true, true>(index, value, cl, sigma, out);
    default: return Judge<true, true, true>(index, value, cl, sigma, out);
  }
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
    out[n++] = RuleFiring{kKinds[slot], IndexBack(points - 1, index), index};
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

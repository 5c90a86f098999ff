#include "shewhart/rules/types.h"

namespace shewhart::rules {

std::string_view ChartName(ChartKind kind) {
  switch (kind) {
    case ChartKind::kIndividuals: return "individuals";
    case ChartKind::kMovingRange: return "mr";
    case ChartKind::kXbar: return "xbar";
    case ChartKind::kR: return "r";
    case ChartKind::kS: return "s";
    case ChartKind::kP: return "p";
    case ChartKind::kNp: return "np";
    case ChartKind::kC: return "c";
    case ChartKind::kU: return "u";
    case ChartKind::kEwma: return "ewma";
    case ChartKind::kCusum: return "cusum";
    case ChartKind::kT2: return "t2";
  }
  return "unknown";
}

std::string_view RuleName(RuleKind kind) {
  switch (kind) {
    case RuleKind::kNelson1: return "nelson.1";
    case RuleKind::kSpecLsl: return "spec.lsl";
    case RuleKind::kSpecUsl: return "spec.usl";
    case RuleKind::kNelson2: return "nelson.2";
    case RuleKind::kNelson3: return "nelson.3";
    case RuleKind::kNelson4: return "nelson.4";
    case RuleKind::kNelson5: return "nelson.5";
    case RuleKind::kNelson6: return "nelson.6";
    case RuleKind::kNelson7: return "nelson.7";
    case RuleKind::kNelson8: return "nelson.8";
    case RuleKind::kWe1: return "we.1";
    case RuleKind::kWe2: return "we.2";
    case RuleKind::kWe3: return "we.3";
    case RuleKind::kWe4: return "we.4";
    case RuleKind::kThreshold: return "threshold";
    case RuleKind::kRate: return "rate";
    case RuleKind::kStale: return "stale";
  }
  return "unknown";
}

std::optional<RuleKind> RuleFromName(std::string_view name) {
  for (int i = 0; i < kRuleKindCount; ++i) {
    auto kind = static_cast<RuleKind>(i);
    if (RuleName(kind) == name) return kind;
  }
  return std::nullopt;
}

}  // namespace shewhart::rules

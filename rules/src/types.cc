#include "shewhart/rules/types.h"

namespace shewhart::rules {

std::string_view ChartName(ChartKind kind) {
  switch (kind) {
    case ChartKind::kIndividuals: return "individuals";
    case ChartKind::kMovingRange: return "mr";
  }
  return "unknown";
}

std::string_view RuleName(RuleKind kind) {
  switch (kind) {
    case RuleKind::kNelson1: return "nelson.1";
    case RuleKind::kSpecLsl: return "spec.lsl";
    case RuleKind::kSpecUsl: return "spec.usl";
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

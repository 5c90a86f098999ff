#include "shewhart/rules/presets.h"

namespace shewhart::rules {

const std::vector<RulePreset>& RulePresets() {
  static const std::vector<RulePreset> presets = {
#include "presets_embedded.inc"
  };
  return presets;
}

std::optional<RulePreset> FindRulePreset(std::string_view name) {
  for (const auto& p : RulePresets()) {
    if (p.name == name) return p;
  }
  return std::nullopt;
}

}  // namespace shewhart::rules

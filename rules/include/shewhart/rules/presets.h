#pragma once
// Named rule sets (rules/presets/*.yaml: Nelson, Western Electric, Minitab, AIAG, Montgomery),
// embedded in the library at build time. rules/ does no YAML: the text is handed to the
// config loader, which reads a preset's `rules` list exactly as a characteristic's.

#include <optional>
#include <string_view>
#include <vector>

namespace shewhart::rules {

struct RulePreset {
  std::string_view name;  // the file name without .yaml, e.g. "western_electric"
  std::string_view text;  // the file's YAML text
};

// Every embedded preset, sorted by name.
const std::vector<RulePreset>& RulePresets();
// The preset called `name`, or nullopt.
std::optional<RulePreset> FindRulePreset(std::string_view name);

}  // namespace shewhart::rules

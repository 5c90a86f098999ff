#pragma once
// CLI11 validators with short messages, shared by `shewhart` and `shewhart-sim`. Header-only:
// the simulator links nothing of the project.

#include <algorithm>
#include <cmath>
#include <string>

#include <CLI/CLI.hpp>

namespace shewhart::app {

// CLI11 validators with short messages (CLI::NonNegativeNumber prints DBL_MAX in full, and
// CLI::Range lets NaN through). They see the text before it is converted.
inline const CLI::Validator kFinite(
    [](std::string& input) -> std::string {
      double value = 0;
      if (!CLI::detail::lexical_cast(input, value) || !std::isfinite(value)) {
        return "value " + input + " is not a finite number";
      }
      return {};
    },
    "FINITE");

inline const CLI::Validator kNonNegative(
    [](std::string& input) -> std::string {
      double value = 0;
      if (!CLI::detail::lexical_cast(input, value) || !std::isfinite(value) || value < 0) {
        return "value " + input + " is not a finite number >= 0";
      }
      return {};
    },
    "NONNEGATIVE");

// For unsigned and epoch options: CLI11 2.1 would wrap "-3" into a huge unsigned value.
inline const CLI::Validator kDigits(
    [](std::string& input) -> std::string {
      if (input.empty() || !std::all_of(input.begin(), input.end(),
                                        [](char c) { return c >= '0' && c <= '9'; })) {
        return "value " + input + " is not a non-negative integer";
      }
      return {};
    },
    "DIGITS");

}  // namespace shewhart::app

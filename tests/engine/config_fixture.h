#pragma once
// What the configuration tests share: every problem of a load as text, for failure messages.

#include <string>

#include "shewhart/engine/config/config.h"

namespace shewhart::engine::fixture {

inline std::string AllProblems(const ConfigLoad& load) {
  std::string s;
  for (const auto& p : load.problems) s += p.ToString() + "\n";
  return s;
}

}  // namespace shewhart::engine::fixture

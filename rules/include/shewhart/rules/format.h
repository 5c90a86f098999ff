#pragma once
// Number formatting for the messages rules/ returns: the shortest text that reads back as the
// same double, independent of the locale ("0.1", "-2", "1e+21").

#include <charconv>
#include <string>

namespace shewhart::rules {

inline std::string FormatNumber(double v) {
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}

}  // namespace shewhart::rules

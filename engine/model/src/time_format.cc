#include "shewhart/engine/model/time_format.h"

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>

namespace shewhart::engine {

namespace {

bool Digits(std::string_view s, std::size_t pos, std::size_t count, int& out) {
  if (pos + count > s.size()) return false;
  int v = 0;
  for (std::size_t i = 0; i < count; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

}  // namespace

std::optional<std::chrono::microseconds> ParseDuration(std::string_view s) {
  double v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  const std::string_view unit(ptr, static_cast<std::size_t>(s.data() + s.size() - ptr));
  static constexpr std::pair<std::string_view, double> kUnits[] = {{"us", 1},     {"ms", 1e3},     {"s", 1e6},
                                                                  {"m", 60e6},   {"h", 3600e6},   {"d", 86400e6},
                                                                  {"y", 365 * 86400e6}};
  double scale = 0;
  for (const auto& [name, micros] : kUnits) {
    if (unit == name) scale = micros;
  }
  if (ec != std::errc() || ptr == s.data() || !(v >= 0) || scale == 0 || !std::isfinite(v * scale) ||
      v * scale > 1e17) {
    return std::nullopt;
  }
  return std::chrono::microseconds(static_cast<std::int64_t>(std::llround(v * scale)));
}

std::optional<EventTime> ParseRfc3339(std::string_view s) {
  int year, month, day, hour, minute, second;
  if (!Digits(s, 0, 4, year) || s.size() < 20 || s[4] != '-' || !Digits(s, 5, 2, month) || s[7] != '-' ||
      !Digits(s, 8, 2, day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !Digits(s, 11, 2, hour) ||
      s[13] != ':' || !Digits(s, 14, 2, minute) || s[16] != ':' || !Digits(s, 17, 2, second)) {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  using namespace std::chrono;
  year_month_day ymd{std::chrono::year(year), std::chrono::month(static_cast<unsigned>(month)),
                     std::chrono::day(static_cast<unsigned>(day))};
  if (!ymd.ok()) return std::nullopt;
  std::size_t pos = 19;
  std::int64_t micros = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::size_t start = pos;
    int scale = 100000;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (pos - start < 6) {
        micros += (s[pos] - '0') * scale;
        scale /= 10;
      }
      ++pos;
    }
    if (pos == start || pos - start > 9) return std::nullopt;
  }
  if (pos >= s.size()) return std::nullopt;
  std::int64_t offset_minutes = 0;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    int oh, om;
    if (!Digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' || !Digits(s, pos + 4, 2, om) ||
        oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_minutes = (oh * 60 + om) * (s[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  auto days = sys_days(ymd);
  auto t = time_point_cast<microseconds>(days) + hours(hour) + minutes(minute) + seconds(second) +
           microseconds(micros) - minutes(offset_minutes);
  return EventTime(t);
}

void AppendRfc3339(std::string& out, EventTime ts) {
  using namespace std::chrono;
  auto days = floor<std::chrono::days>(ts);
  year_month_day ymd{days};
  auto in_day = ts - days;
  std::int64_t us = in_day.count();
  int h = static_cast<int>(us / 3'600'000'000LL);
  us %= 3'600'000'000LL;
  int m = static_cast<int>(us / 60'000'000LL);
  us %= 60'000'000LL;
  int sec = static_cast<int>(us / 1'000'000LL);
  int frac = static_cast<int>(us % 1'000'000LL);
  char buf[48];
  int len;
  if (frac % 1000 == 0) {
    len = std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", static_cast<int>(ymd.year()),
                        static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()), h, m, sec, frac / 1000);
  } else {
    len = std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%06dZ", static_cast<int>(ymd.year()),
                        static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()), h, m, sec, frac);
  }
  out.append(buf, static_cast<std::size_t>(len));
}

std::string FormatRfc3339(EventTime ts) {
  std::string s;
  AppendRfc3339(s, ts);
  return s;
}

}  // namespace shewhart::engine

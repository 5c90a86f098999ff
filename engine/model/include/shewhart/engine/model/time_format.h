#pragma once
// RFC 3339 event times: parse and format, locale-independent, allocation-free parse; durations;
// the wall clock. Pure functions, thread-safe.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "shewhart/rules/types.h"

namespace shewhart::engine {

using rules::EventTime;

// Parses "2026-11-27T08:00:00Z", "2026-11-27T08:00:00.125+01:00" (fraction up to 9 digits,
// truncated to microseconds; 'T' or 't' or ' ' separator; 'Z'/'z' or +hh:mm offset).
// Returns nullopt for anything else, including out-of-range fields.
std::optional<EventTime> ParseRfc3339(std::string_view text);

// Parses a duration: a non-negative decimal number and a unit (us, ms, s, m, h, d, y = 365 d),
// e.g. 500ms, 1.5s, 10m, 72h, 5y; at most 1e17 us. Returns nullopt for anything else (no unit, an unknown unit,
// a negative or non-finite number, trailing text). The config loader and the silence API use it.
std::optional<std::chrono::microseconds> ParseDuration(std::string_view text);

// Formats as UTC "YYYY-MM-DDTHH:MM:SS.mmmZ", with six fraction digits when the time is not a
// whole millisecond.
std::string FormatRfc3339(EventTime ts);
// Appends the same text to `out` without allocating beyond out's growth.
void AppendRfc3339(std::string& out, EventTime ts);

inline EventTime FromUnixMillis(std::int64_t ms) { return EventTime(std::chrono::microseconds(ms * 1000)); }
inline std::int64_t ToUnixMicros(EventTime ts) { return ts.time_since_epoch().count(); }
inline EventTime FromUnixMicros(std::int64_t us) { return EventTime(std::chrono::microseconds(us)); }

// The wall clock (system_clock) at microsecond resolution: the time of what people and the
// engine do (acknowledgements, audit records, tiers reached in `run`).
inline EventTime WallClock() {
  return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
}

}  // namespace shewhart::engine

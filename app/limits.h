#pragma once
// `shewhart limits list` and `shewhart limits recalc`: the versions of a characteristic's
// control limits in the store, and a new version estimated from recorded data.

#include <string>
#include <vector>

#include "shewhart/base/status.h"
#include "shewhart/engine/config/config.h"

namespace shewhart::app {

using rules::EventTime;

struct LimitsOptions {
  std::string store_path;      // empty: the config's store
  std::string characteristic;  // list: empty = every characteristic
  std::string effective;       // recalc: RFC 3339 or "now" (default)
  std::string user;
  std::string reason;
  bool dry_run = false;
  bool json = false;
};

// "now" (or empty) is the current time; otherwise RFC 3339.
Result<EventTime> ParseEffective(const std::string& text);

// Exit codes as the rest of the command line: 0 ok, 1 a finding (data that cannot give limits),
// 2 a usage or environment error (unknown characteristic, bad --effective, store, input files).
int LimitsList(const engine::Config& config, const LimitsOptions& options);
int LimitsRecalc(const engine::Config& config, const LimitsOptions& options, const std::vector<std::string>& inputs);

}  // namespace shewhart::app

#pragma once
// `shewhart trace backward SERIAL | forward --lot L | window --station S --from T1 [--to T2]`:
// genealogy queries against a store (engine/include/shewhart/engine/store.h defines them).
// Output is an aligned table, or JSON lines with --json (one object per unit). Exit codes:
// 0 something found, 1 nothing found (unknown serial, no unit), 2 usage or environment error
// (bad time, missing scope, missing or unreadable store).

#include <string>

namespace shewhart::app {

struct TraceCommand {
  std::string store_path;  // an existing store (a missing one is an error, not created)
  bool json = false;
  std::string serial;      // backward
  std::string lot;         // forward; window: scope label
  std::string station, machine, op;  // window: scope labels
  std::string from, to;    // window: RFC 3339; `to` optional (no end)
};

// The unit's route, then its ancestors and descendants, each with its route; table rows are
// records (a unit without records gets one row).
int TraceBackward(const TraceCommand& cmd);
// Every unit that consumed the lot, then every assembly containing one, recursively.
int TraceForward(const TraceCommand& cmd);
// The distinct units with a record in the scope within [from, to), with their first time.
int TraceWindow(const TraceCommand& cmd);

}  // namespace shewhart::app

#pragma once
// What the pipeline produces, as JSON documents: the replay's `point` and `signal` lines and the
// capability object of a characteristic's summary. Keys keep the order given here (a public
// format; DESIGN.md "Replay output"). Pure functions; thread-safe; each allocates its document.

#include <string>
#include <vector>

#include "shewhart/engine/config/config.h"
#include "shewhart/engine/model/json.h"
#include "shewhart/engine/pipeline/shard.h"
#include "shewhart/rules/capability.h"

namespace shewhart::engine {

Json PointJson(const std::string& characteristic, const rules::ChartPoint& p);
Json SignalJson(const std::string& characteristic, const Signal& s, const std::vector<ScopeKey>& scope_keys);
// Capability indices (only those the spec limits define) with their confidence intervals, and
// expected (normal model, within and overall sigma) and observed ppm out of spec.
Json CapabilityJson(const rules::Capability& c);

}  // namespace shewhart::engine

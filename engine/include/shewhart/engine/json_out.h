#pragma once
// JSON documents the engine writes: replay lines, API bodies, alarm messages. Keys keep the
// order given here (a public format; DESIGN.md "Replay output"). Numbers are written as the
// shortest decimal that round-trips, independent of locale.

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "shewhart/engine/reject.h"
#include "shewhart/engine/shard.h"
#include "shewhart/engine/store.h"
#include "shewhart/rules/capability.h"

namespace shewhart::engine {

using Json = nlohmann::ordered_json;

// How every JSON text the engine writes treats a string that is not UTF-8 (a reject's raw bytes,
// text stored by an older version): each bad byte becomes U+FFFD instead of an exception.
// Every dump is doc.dump(-1, ' ', false, kReplaceInvalidUtf8), never doc.dump().
inline constexpr auto kReplaceInvalidUtf8 = nlohmann::detail::error_handler_t::replace;

Json PointJson(const std::string& characteristic, const rules::ChartPoint& p);
Json SignalJson(const std::string& characteristic, const Signal& s, const std::vector<ScopeKey>& scope_keys);
Json AlarmJson(const AlarmRecord& a);
// {"type":"limits","characteristic","version","origin","effective","center","sigma","points",...}
Json LimitsJson(const LimitVersion& v);
// `units` are the hold's units (API) or the units just added (replay, with `added` true).
Json HoldJson(const HoldRecord& h, const std::vector<HeldUnit>& units, bool added = false);
// One disposition: hold, serial, state, ts, user, reason, meaning, note.
Json DispositionJson(const Disposition& d);
Json RejectJson(const RejectRecord& r);
// An outbox delivery (GET /api/deliveries): id, alarm, tier, action, idempotency_key, state,
// attempts, next_attempt (pending only), last_error, created, updated, payload (the document).
Json DeliveryJson(const DeliveryRecord& d);
Json ScopeJson(const ScopeLabels& scope);
// Capability indices (only those the spec limits define) with their confidence intervals, and
// expected (normal model, within and overall sigma) and observed ppm out of spec.
Json CapabilityJson(const rules::Capability& c);

}  // namespace shewhart::engine

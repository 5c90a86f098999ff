#pragma once
// The stored records as JSON documents: replay lines (`limits`, `alarm`, `hold`, `reject`) and
// API bodies. Keys keep the order given here (a public format; DESIGN.md "Replay output").
// Pure functions of their arguments; thread-safe; each allocates the document it returns.

#include <vector>

#include "shewhart/engine/model/json.h"
#include "shewhart/engine/model/reject.h"
#include "shewhart/engine/store/store.h"

namespace shewhart::engine {

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

}  // namespace shewhart::engine

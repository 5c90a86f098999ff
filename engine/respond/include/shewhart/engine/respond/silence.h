#pragma once
// Silences: people's way to stop the notifications of alarms they already know about (a
// planned tool change at station 2, a characteristic under investigation) without stopping
// the record. A silence has matchers (label = value, all must hold), a start and an end; while
// it is active, the notification actions of every tier an alarm matching it enters are not
// run. The alarm, its tier and its hold are recorded exactly as without it (docs/ARCHITECTURE.md,
// "Silences").
//
// This file holds the pure part: the labels an alarm is matched by, matching, the derived
// state, and the API's request and document. Pure functions, callable from any thread. The
// store keeps the silences (Store::InsertSilence ...); the responder asks it which are active.

#include <map>
#include <string>
#include <vector>

#include "shewhart/base/status.h"
#include "shewhart/engine/config/config.h"
#include "shewhart/engine/model/json.h"
#include "shewhart/engine/pipeline/shard.h"
#include "shewhart/engine/store/store.h"

namespace shewhart::engine {

// The labels a matcher may name, in documentation order: characteristic, policy, rule, chart,
// station, machine, lot, operator, model.
const std::vector<std::string>& SilenceLabelNames();

// The labels of alarm `a` as it enters a tier on signal `s` (null: a tier entered by time,
// `unacknowledged_for`): characteristic, policy, rule (the rule of the signal that opened the
// alarm, as its notifications say) and chart of the alarm; its scope values; and, for the
// context labels (station, machine, lot, operator, model) its scope does not hold, the labels
// of the measurement behind `s`. A label with no value is absent (never matched).
std::map<std::string, std::string> SilenceLabelsOf(const AlarmRecord& a, const Signal* s);

// True when every matcher of `silence` equals the label of the same name in `labels`.
bool SilenceMatches(const SilenceRecord& silence, const std::map<std::string, std::string>& labels);

// pending: `now` is before starts; active: starts <= now < ends; expired: now >= ends (an
// expiry by hand sets ends to the time of the expiry).
enum class SilenceState { kPending, kActive, kExpired };
SilenceState SilenceStateAt(const SilenceRecord& silence, EventTime now);
const char* SilenceStateName(SilenceState state);

// A silence from the body of POST /api/silences:
//   {"matchers":{"station":"st2","rule":"nelson.1"}, "duration":"2h" | "ends":RFC3339,
//    "starts":RFC3339 (optional, default `now`), "comment":TEXT}
// `ends` = starts + duration when a duration is given. `now` is the responder's clock,
// `created` the wall clock. Returns InvalidArgument with a message naming the offending field
// and value: not a JSON object, an unknown field, missing or empty matchers, an unknown label,
// a value that is not a non-empty string, a characteristic, policy, rule or chart the config
// does not know, both or neither of ends and duration, a bad time or duration, ends not after
// starts or not after `now`, a missing or empty comment. created_by is left empty.
Result<SilenceRecord> ParseSilenceRequest(const std::string& body, const Config& config, EventTime now,
                                          EventTime created);

// {"id","matchers":{...},"starts","ends","state","created","created_by","comment",
//  "expired","expired_by"} (the last two null unless it was expired by hand); state at `now`.
Json SilenceJson(const SilenceRecord& silence, EventTime now);

}  // namespace shewhart::engine

#pragma once
// The audit log: an append-only, hash-chained record of what the engine and its users did
// (DESIGN.md "Audit log"). Records live in the store's `audit_log` table and are appended by
// Store::AppendAudit, which assigns seq, prev_hash and hash. This header defines the chain, so
// that the engine, the command line and the tests agree on it, and verifies it.
//
// Canonical encoding of a record (the bytes that are hashed), version 1: its six fields in
// this order, each written as a netstring, `<decimal byte length>:<bytes>,`:
//   seq      decimal, as written by std::to_string (1, 2, ...)
//   ts       microseconds since the Unix epoch, decimal (the wall-clock time of the append)
//   kind     e.g. `alarm.opened`
//   subject  the object it is about, e.g. `alarm/12`
//   actor    `engine` for what the engine did by itself, else the user who asked
//   body     the stored JSON text, byte for byte
// and the record's hash is the lowercase hex SHA-256 of the previous record's hash (64 lowercase
// hex characters; 64 '0's for the first record) followed by that encoding. The body is written
// canonically (CanonicalJson: keys sorted by byte value, no whitespace), but verification hashes
// the stored text as it is, so a record verifies whatever JSON library later reads it.
// Example: seq 1, ts 1764230400000000, kind alarm.opened, subject alarm/1, actor engine, body
// {"id":1} encode as
//   1:1,16:1764230400000000,12:alarm.opened,7:alarm/1,6:engine,8:{"id":1},
// which `printf '%s' "$(printf '0%.0s' {1..64})$ENCODING" | sha256sum` reproduces by hand.

//
// Records the responder appends (alarm.*, hold.*, quality_case.opened) are part of its unit of
// work: they and the rows they describe commit together or not at all. config.loaded,
// limits.version, action.delivered/dead, silence.created/expired and store.pruned are appended
// in their own transaction after what they describe (a crash between loses the record, never the
// row). VerifyAuditLog reads the log in pages of 1000.

#include <string>
#include <string_view>

#include "shewhart/base/status.h"
#include "shewhart/engine/model/json.h"
#include "shewhart/engine/model/sha256.h"
#include "shewhart/engine/store/store.h"

namespace shewhart::engine {

// The prev_hash of the first record.
inline constexpr std::string_view kAuditGenesisHash =
    "0000000000000000000000000000000000000000000000000000000000000000";

// `body` as canonical JSON text: object keys sorted by byte value, no whitespace, numbers as
// the shortest text that round-trips, invalid UTF-8 replaced by U+FFFD.
std::string CanonicalJson(const Json& body);

// The canonical encoding of `r` (seq, ts, kind, subject, actor, body; see above).
std::string AuditEncoding(const AuditRecord& r);
// SHA-256 over `prev_hash` and the canonical encoding of `r` (r.prev_hash and r.hash are not read).
std::string AuditHash(std::string_view prev_hash, const AuditRecord& r);

// Appends a record with `body` in canonical form, at wall-clock time `ts`. Thread-safe (the
// store serialises appends, across processes too). Errors: Unavailable (database).
Result<AuditRecord> AppendAudit(Store& store, std::string kind, std::string subject, std::string actor,
                                const Json& body, EventTime ts);
// The same at the current wall-clock time.
Result<AuditRecord> AppendAudit(Store& store, std::string kind, std::string subject, std::string actor,
                                const Json& body);

// The bodies of the records about alarms, holds and limits versions, shared by the engine and
// the command line so that both describe an object the same way.
Json AlarmAuditBody(const AlarmRecord& a);                  // the replay `alarm` line without `type`
Json HoldAuditBody(const HoldRecord& h);                    // id, alarm, characteristic, scope, from
Json HeldUnitsAuditBody(const HoldRecord& h, const std::vector<HeldUnit>& added);  // hold, alarm, count, units
Json LimitsAuditBody(const LimitVersion& v);                // the `limits` line without `type`, plus `recorded`

// What VerifyAuditLog found.
struct AuditVerification {
  bool intact = true;
  std::int64_t verified = 0;    // records verified (before the first broken one, when broken)
  std::int64_t broken_seq = 0;  // the first broken record (intact: 0)
  std::string problem;          // names it and says what is wrong (intact: empty)
  std::string last_hash;        // hash of the last verified record (kAuditGenesisHash when none)
  std::int64_t anchor_seq = 0;  // records up to this one were pruned by retention (0: none)
};

// Walks the whole log in seq order, recomputing every hash: the first record must follow the
// genesis hash and be seq 1 (or, after retention pruned the oldest records, follow the anchor
// Store::AuditAnchor keeps: the seq and hash of the last record pruned), each later one must be the next seq and name
// its predecessor's hash as prev_hash, and each stored hash must equal the computed one. Stops at the first record that
// fails. Removing records from the end of the log is not detectable from the log alone: compare the last hash with one
// kept elsewhere. Errors: Unavailable (database).
Result<AuditVerification> VerifyAuditLog(Store& store);

// The rows that decide the MES interlock against the chain (issue 15: an UPDATE of held_units
// passed `audit verify`). Replays the chain's hold.created, hold.units_added and hold.disposed
// records into the state each unit of each hold must have, then compares every held_units row
// with it: a row no record took into its hold, a state the records do not give, and a unit the
// records hold that the table lacks are mismatches. Holds whose creation retention pruned are
// skipped (counted). Errors: Unavailable (database).
struct HoldCrossCheck {
  std::int64_t checked = 0;          // held_units rows compared
  std::int64_t skipped = 0;          // rows of holds created before the chain's anchor
  std::int64_t mismatches = 0;
  std::vector<std::string> problems;  // the first 20, each naming unit, hold and both states
};
Result<HoldCrossCheck> CrossCheckHolds(Store& store);

}  // namespace shewhart::engine

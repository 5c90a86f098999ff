#pragma once
// `shewhart audit verify` and `shewhart audit export`: the hash-chained audit log of a store
// (engine/include/shewhart/engine/audit.h defines the chain).

#include <cstdint>
#include <string>

namespace shewhart::app {

// Walks the chain of the store at `store_path`, recomputing every hash. Prints
// "N records verified, chain intact (last hash H)" and returns 0, or names the first broken
// record and returns 1; 2 when the store is missing or unreadable.
int AuditVerify(const std::string& store_path);

// Writes the records with seq >= `from_seq` as JSON lines (seq, ts, kind, subject, actor, body,
// prev_hash, hash), as stored: export does not verify. Returns 0, or 2 for a missing or
// unreadable store.
int AuditExport(const std::string& store_path, std::int64_t from_seq);

// Who a command-line user is when no --user is given: "os:" and the login name of the
// process's effective user id ("os:uid-N" when it has none).
std::string OsActor();

}  // namespace shewhart::app

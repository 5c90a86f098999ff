#pragma once
// The alarm directory: which alarm a rule signal belongs to, decided on the thread that raised
// the signal, so that its `signal` message can name the alarm before anything is stored.
//
// Per characteristic and scope (the alarm's key) it knows the open alarm and the last resolved
// one with its resolution time: a rule signal joins the open alarm, reopens the last resolved
// one when it comes within the policy's min_interval of its resolution, or opens a new alarm
// under the next id (an atomic counter above every id stored or reserved by an earlier run). A
// recovery (resolve_after) closes the key's open alarm. The responder then stores exactly what
// the claim says (Responder::Handle), and tells the directory of the resolutions it makes itself
// (a person's, a changed scope's) once they commit.
//
// Threading: Claim from any thread (the judging threads); the rest from the responder's thread.
// One mutex guards the keys (a claim is a map look-up under it: signals are rare next to
// measurements); the ids are atomics. Allocation: one entry per key that ever signalled, and the
// key's text per claim.

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "shewhart/engine/config/config.h"
#include "shewhart/engine/pipeline/shard.h"
#include "shewhart/engine/store/store.h"

namespace shewhart::engine {

// The scope labels of a signal: its characteristic's scope keys with the signal's values.
ScopeLabels SignalScope(const Config& config, const Signal& s);

class AlarmDirectory {
 public:
  using Key = std::pair<CharacteristicId, std::string>;  // characteristic, formatted scope

  // `config` must outlive the directory.
  explicit AlarmDirectory(const Config& config) : config_(config) {}

  // Gives a rule signal its alarm (Signal::claim, Signal::alarm) and records what it does to
  // its key; a recovery closes the key's open alarm (claim kCloses). A signal claimed already
  // is left as it is. Any thread.
  void Claim(Signal& s);

  // Before any claim: the open alarms (after the responder loaded them) and the first new id.
  void Reset(const std::vector<std::pair<Key, std::int64_t>>& open, std::int64_t next_id);
  // A resolution the responder committed itself (a person's, a changed scope's): the key's open
  // alarm, if it is still `alarm`, is resolved at `ts`.
  void Resolved(const Key& key, std::int64_t alarm, EventTime ts);

  // The id the next new alarm gets; raised (never lowered) by the responder after reading the
  // store, so that no id is given twice.
  std::int64_t next_id() const { return next_id_.load(std::memory_order_acquire); }
  void RaiseNextId(std::int64_t at_least);
  // The highest id the store has reserved: a `signal` message names only ids up to it.
  std::int64_t reserved() const { return reserved_.load(std::memory_order_acquire); }
  void SetReserved(std::int64_t up_to) { reserved_.store(up_to, std::memory_order_release); }

 private:
  struct Entry {
    std::int64_t open = 0;      // the open alarm's id, 0: none
    std::int64_t resolved = 0;  // the last resolved alarm's id, 0: none
    EventTime resolved_ts{};
  };
  const Config& config_;
  std::mutex mu_;
  std::map<Key, Entry> entries_;
  std::atomic<std::int64_t> next_id_{1};
  std::atomic<std::int64_t> reserved_{0};
};

}  // namespace shewhart::engine

#pragma once
// TraceWriter: the genealogy write path. Source threads append unit events into a bounded
// buffer; the responder thread commits them in batches (Flush), every 100 ms and before it
// handles a signal, so that a suspect-window query sees every unit that arrived before the
// signal, and so that each committed batch can be matched against the open holds (units joining
// while an alarm is open) before the next one is written.
//
// Threading: Append and Close from any thread; Flush, flushed, Joined and Abandon from the
// responder's thread only. Allocation: two vectors of kBatch records reserved at construction;
// they grow to at most kMaxPending records.

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "shewhart/base/status.h"
#include "shewhart/engine/model/measurement.h"
#include "shewhart/engine/store/store.h"

namespace shewhart::engine {

class TraceWriter {
 public:
  // `store` must outlive the writer.
  explicit TraceWriter(Store& store);

  // Blocks (back-pressure on the source, never on a shard) while kMaxPending records wait for
  // the responder's next Flush, unless `never_block` (inline mode, whose caller flushes).
  // Returns the number of records pending after it.
  std::size_t Append(const UnitEvent& e, bool never_block);

  // Commits what is pending (its own transaction, outside any unit of work) unless the batch
  // committed last has not been joined to the open holds yet (Joined). A batch that cannot be
  // stored is kept and tried again on the next call, before anything newer: nothing is dropped,
  // and sources wait (Append) while it is retried. Errors: the store's (counted there).
  Status Flush();

  // The batch the last Flush committed, until Joined (empty when none awaits).
  const std::vector<UnitEvent>& flushed() const { return stored_ ? writing_ : empty_; }
  // The flushed batch's units were joined to the holds in a committed unit of work.
  void Joined();

  // Records that were never stored: the engine stopped while the store refused them (/health's
  // "genealogy" check fails while it is not 0).
  std::uint64_t failed() const { return failed_.load(std::memory_order_relaxed); }
  // At stop, after the last Flush: what is still not stored is lost (logged, counted).
  void Abandon();

  // Appends no longer wait (the engine is stopping; the last Flush takes what is pending).
  void Close();

  // Inline mode flushes once this many records are pending.
  static constexpr std::size_t kBatch = 4096;

 private:
  // At most this many records (about 900 bytes each) wait for a commit in threaded mode.
  static constexpr std::size_t kMaxPending = 65536;
  Store& store_;
  std::mutex mu_;
  std::condition_variable space_;
  bool closed_ = false;
  std::vector<UnitEvent> pending_;
  std::vector<UnitEvent> writing_;  // the batch being stored, or stored and awaiting its joins
  bool stored_ = false;             // writing_ is committed; the responder has not joined it yet
  const std::vector<UnitEvent> empty_;
  std::atomic<std::uint64_t> failed_{0};
};

}  // namespace shewhart::engine

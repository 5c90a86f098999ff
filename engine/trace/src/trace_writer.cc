#include "shewhart/engine/trace/trace_writer.h"

#include <spdlog/spdlog.h>

namespace shewhart::engine {

TraceWriter::TraceWriter(Store& store) : store_(store) {
  pending_.reserve(kBatch);
  writing_.reserve(kBatch);
}

std::size_t TraceWriter::Append(const UnitEvent& e, bool never_block) {
  std::unique_lock lock(mu_);
  if (!never_block) space_.wait(lock, [&] { return pending_.size() < kMaxPending || closed_; });
  pending_.push_back(e);
  return pending_.size();
}

Status TraceWriter::Flush() {
  if (stored_) return Status::Ok();  // the last batch still awaits its joins
  if (writing_.empty()) {
    {
      std::lock_guard lock(mu_);
      writing_.swap(pending_);
    }
    space_.notify_all();
  }
  if (writing_.empty()) return Status::Ok();
  Status st = store_.AppendTrace(writing_);
  if (!st.ok()) {  // counted by the store (shewhart_store_write_failures_total)
    spdlog::error("genealogy: {} ({} records kept, tried again)", st.message(), writing_.size());
    return st;
  }
  stored_ = true;
  return Status::Ok();
}

void TraceWriter::Joined() {
  stored_ = false;
  writing_.clear();
}

void TraceWriter::Abandon() {
  std::lock_guard lock(mu_);
  const std::size_t lost = (stored_ ? 0 : writing_.size()) + pending_.size();
  if (lost == 0) return;
  failed_.fetch_add(lost, std::memory_order_relaxed);
  spdlog::error("genealogy: {} records could not be stored before the engine stopped", lost);
}

void TraceWriter::Close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  space_.notify_all();
}

}  // namespace shewhart::engine

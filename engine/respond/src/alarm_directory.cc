#include "shewhart/engine/respond/alarm_directory.h"

#include <algorithm>

namespace shewhart::engine {

ScopeLabels SignalScope(const Config& config, const Signal& s) {
  const auto& spec = config.characteristics[s.characteristic];
  ScopeLabels scope;
  for (std::size_t i = 0; i < s.scope_count; ++i)
    scope.emplace_back(spec.scope[i], std::string(s.scope_values[i].view()));
  return scope;
}

void AlarmDirectory::Claim(Signal& s) {
  if (s.claim != Signal::Claim::kNone) return;
  Key key{s.characteristic, FormatScope(SignalScope(config_, s))};
  std::lock_guard lock(mu_);
  Entry& e = entries_[key];
  if (s.kind == Signal::Kind::kRecovered) {
    s.claim = Signal::Claim::kCloses;
    if (e.open != 0) {
      e.resolved = e.open;
      e.resolved_ts = s.hit.ts;
      e.open = 0;
    }
    return;
  }
  if (e.open != 0) {
    s.claim = Signal::Claim::kJoins;
    s.alarm = e.open;
    return;
  }
  const auto min_interval = config_.ResponseFor(s.characteristic).min_interval;
  if (min_interval.count() > 0 && e.resolved != 0 && s.hit.ts - e.resolved_ts < min_interval) {
    s.claim = Signal::Claim::kReopens;
    s.alarm = e.resolved;
    e.resolved = 0;
  } else {
    s.claim = Signal::Claim::kOpens;
    s.alarm = next_id_.fetch_add(1, std::memory_order_acq_rel);
  }
  e.open = s.alarm;
}

void AlarmDirectory::Reset(const std::vector<std::pair<Key, std::int64_t>>& open, std::int64_t next_id) {
  std::lock_guard lock(mu_);
  entries_.clear();
  for (const auto& [key, id] : open) entries_[key].open = id;
  next_id_.store(next_id, std::memory_order_release);
}

void AlarmDirectory::Resolved(const Key& key, std::int64_t alarm, EventTime ts) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.open != alarm) return;
  it->second.open = 0;
  it->second.resolved = alarm;
  it->second.resolved_ts = ts;
}

void AlarmDirectory::RaiseNextId(std::int64_t at_least) {
  std::int64_t cur = next_id_.load(std::memory_order_acquire);
  while (cur < at_least && !next_id_.compare_exchange_weak(cur, at_least, std::memory_order_acq_rel)) {
  }
}

}  // namespace shewhart::engine

#include "shewhart/engine/store/postings.h"

#include <algorithm>
#include <functional>
#include <unordered_map>
#include <utility>

namespace shewhart::engine::postings {

Kind KindOf(ScopeKey key) {
  switch (key) {
    case ScopeKey::kStation: return Kind::kStation;
    case ScopeKey::kMachine: return Kind::kMachine;
    case ScopeKey::kOperator: return Kind::kOperator;
    case ScopeKey::kLot: return Kind::kLot;
    case ScopeKey::kModel: return Kind::kModel;
  }
  return Kind::kStation;
}

namespace {
void PutVarint(std::uint64_t v, std::string& out) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
}  // namespace

void Encode(const Entry& e, Entry& prev, std::string& data) {
  PutVarint(static_cast<std::uint64_t>(e.ts) - static_cast<std::uint64_t>(prev.ts), data);
  const std::int64_t delta =
      static_cast<std::int64_t>(static_cast<std::uint64_t>(e.event) - static_cast<std::uint64_t>(prev.event));
  PutVarint((static_cast<std::uint64_t>(delta) << 1) ^ static_cast<std::uint64_t>(delta >> 63), data);
  PutVarint(e.unit.size(), data);
  data.append(e.unit);
  prev.ts = e.ts;
  prev.event = e.event;
}

void Add(const Entry& e, Entry& prev, Chunk& c) {
  if (c.n == 0) {
    c.first_ts = e.ts;
    prev = Entry{e.ts, 0, {}};
  }
  Encode(e, prev, c.data);
  c.last_ts = e.ts;
  ++c.n;
}

namespace detail {
// Labels are few and postings many: each posting's (kind, label) is ranked through a hash map
// (the distinct ones sorted), then the postings are ordered by integers: rank, time, event.
void SortPostings(std::vector<Posting>& postings) {
  struct KeyHash {
    std::size_t operator()(const std::pair<Kind, std::string_view>& k) const {
      return std::hash<std::string_view>()(k.second) * 31 + static_cast<std::size_t>(k.first);
    }
  };
  std::unordered_map<std::pair<Kind, std::string_view>, std::uint32_t, KeyHash> ids;
  for (Posting& p : postings) {
    p.group = ids.emplace(std::make_pair(p.kind, p.label), static_cast<std::uint32_t>(ids.size())).first->second;
  }
  std::vector<std::pair<Kind, std::string_view>> keys(ids.size());
  for (const auto& [key, id] : ids) keys[id] = key;
  std::vector<std::uint32_t> order(keys.size());
  for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) { return keys[a] < keys[b]; });
  std::vector<std::uint32_t> rank(order.size());
  for (std::uint32_t r = 0; r < order.size(); ++r) rank[order[r]] = r;
  // Placed by rank (a counting sort), then each rank's run sorted by time and event.
  std::vector<std::size_t> start(rank.size() + 1, 0);
  for (Posting& p : postings) {
    p.group = rank[p.group];
    ++start[p.group + 1];
  }
  for (std::size_t r = 1; r < start.size(); ++r) start[r] += start[r - 1];
  std::vector<Posting> placed(postings.size());
  std::vector<std::size_t> next(start.begin(), start.end() - 1);
  for (const Posting& p : postings) placed[next[p.group]++] = p;
  for (std::size_t r = 0; r + 1 < start.size(); ++r) {
    std::sort(placed.begin() + static_cast<std::ptrdiff_t>(start[r]),
              placed.begin() + static_cast<std::ptrdiff_t>(start[r + 1]), [](const Posting& a, const Posting& b) {
                return a.entry.ts != b.entry.ts ? a.entry.ts < b.entry.ts : a.entry.event < b.entry.event;
              });
  }
  postings.swap(placed);
}
}  // namespace detail

}  // namespace shewhart::engine::postings

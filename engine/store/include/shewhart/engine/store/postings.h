#pragma once
// Genealogy postings: the store's index from a scope label (a station, machine, operator, model or
// lot) to the unit events that carry it, kept as chunks rather than one index row per event.
//
// A chunk holds the postings of one label within one AppendTrace batch, sorted by time and
// event id, whose times all lie in [first_ts, first_ts + kChunkSpanUs), at most kChunkEntries
// of them. It is one row of unit_postings (kind, label, first_ts, last_ts, n, data); a query
// for [from, to) reads the chunks of its label with first_ts in (from - kChunkSpanUs, to) and
// skips the entries outside the window. One row per label and batch instead of one B-tree
// insert per event and label is what takes genealogy ingest past 200 k events/s
// (bench/engine/trace_bench.cc; docs/PERFORMANCE.md).
//
// `data` is the entries one after another: varint(ts - previous ts), zigzag varint(event -
// previous event), varint(length of the serial), the serial's bytes; "previous" starts at
// (first_ts, 0). The span and the encoding are part of the schema (version 10; 11 adds kModel): changing
// either needs a migration.

// A label with an empty value (a record without a machine, say) is not posted, so no scope
// matches it. unit_events.lots joins a record's lots with ';': a lot containing ';' cannot be
// told apart from two lots (the wire format does not forbid it).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shewhart/base/status.h"
#include "shewhart/engine/config/config.h"

namespace shewhart::engine::postings {

constexpr std::int64_t kChunkSpanUs = 10LL * 60 * 1'000'000;  // 10 minutes
constexpr std::size_t kChunkEntries = 4096;

// The label kinds as stored (stable numbers, not the enum's order).
enum class Kind : std::int64_t { kStation = 1, kMachine = 2, kOperator = 3, kLot = 4, kModel = 5 };
Kind KindOf(ScopeKey key);

struct Entry {
  std::int64_t ts = 0;     // Unix microseconds
  std::int64_t event = 0;  // unit_events.id
  std::string_view unit;
};

// One label on one event, before it is chunked. The views must outlive BuildChunks' use.
struct Posting {
  Kind kind;
  std::string_view label;
  Entry entry;
  std::uint32_t group = 0;  // BuildChunks' use: the rank of (kind, label)
};

struct Chunk {
  Kind kind = Kind::kStation;
  std::string_view label;
  std::int64_t first_ts = 0, last_ts = 0;
  std::int64_t n = 0;
  std::string data;
};

// Sorts `postings` by kind, label, time and event, and cuts them into chunks (a new chunk
// where the label changes, where an entry is kChunkSpanUs or more after the chunk's first, or
// after kChunkEntries entries), calling `emit` with each; stops at the first error `emit`
// returns and returns it. The same (kind, label, event) given twice is posted once.
template <class Emit>
Status BuildChunks(std::vector<Posting>& postings, Emit&& emit);

// Appends one entry to `data` after `prev` (updated to `e`).
void Encode(const Entry& e, Entry& prev, std::string& data);

// Appends `e` to chunk `c` (its first entry when c.n is 0: first_ts, and `prev` restarted),
// updating last_ts and n. Entries must come in (ts, event) order.
void Add(const Entry& e, Entry& prev, Chunk& c);

// Calls f(const Entry&) for each entry of a chunk's data, in order, until f returns false.
// Returns false when `data` is malformed (cut short), having called f for what came before.
template <class F>
bool Decode(std::string_view data, std::int64_t first_ts, F&& f);

// ---- implementation ----

namespace detail {
inline bool ReadVarint(const unsigned char*& p, const unsigned char* end, std::uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (p == end) return false;
    const unsigned char b = *p++;
    v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}
void SortPostings(std::vector<Posting>& postings);
}  // namespace detail

template <class F>
bool Decode(std::string_view data, std::int64_t first_ts, F&& f) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  const unsigned char* end = p + data.size();
  Entry e{first_ts, 0, {}};
  while (p != end) {
    std::uint64_t dts, dev, len;
    if (!detail::ReadVarint(p, end, dts) || !detail::ReadVarint(p, end, dev) || !detail::ReadVarint(p, end, len)) {
      return false;
    }
    if (len > static_cast<std::uint64_t>(end - p)) return false;
    e.ts = static_cast<std::int64_t>(static_cast<std::uint64_t>(e.ts) + dts);
    const std::int64_t delta = static_cast<std::int64_t>(dev >> 1) ^ -static_cast<std::int64_t>(dev & 1);
    e.event = static_cast<std::int64_t>(static_cast<std::uint64_t>(e.event) + static_cast<std::uint64_t>(delta));
    e.unit = std::string_view(reinterpret_cast<const char*>(p), len);
    p += len;
    if (!f(static_cast<const Entry&>(e))) return true;
  }
  return true;
}

template <class Emit>
Status BuildChunks(std::vector<Posting>& postings, Emit&& emit) {
  detail::SortPostings(postings);
  Chunk c;
  Entry prev;
  auto flush = [&]() {
    Status st = emit(static_cast<const Chunk&>(c));
    c.data.clear();
    c.n = 0;
    return st;
  };
  const Posting* last = nullptr;
  for (const Posting& p : postings) {
    const bool same_label = last && last->group == p.group;
    if (same_label && last->entry.event == p.entry.event && last->entry.ts == p.entry.ts) continue;  // posted twice
    if (c.n > 0 && (!same_label || p.entry.ts - c.first_ts >= kChunkSpanUs ||
                    c.n >= static_cast<std::int64_t>(kChunkEntries))) {
      if (Status st = flush(); !st.ok()) return st;
    }
    c.kind = p.kind;
    c.label = p.label;
    Add(p.entry, prev, c);
    last = &p;
  }
  if (c.n > 0) return flush();
  return Status::Ok();
}

}  // namespace shewhart::engine::postings

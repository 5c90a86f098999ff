#pragma once
// Decoding of wire messages (DESIGN.md "Wire format") into Measurement / UnitEvent.
//
// One Decoder per thread: it owns a reused simdjson parser and padded buffer and allocates
// nothing per message in steady state (a reject allocates its record). Not thread-safe.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "shewhart/engine/model/measurement.h"
#include "shewhart/engine/model/reject.h"

namespace shewhart::engine {

// Interned characteristic ids by name; built once at config load, read-only afterwards.
class CharacteristicIndex {
 public:
  CharacteristicIndex() = default;
  // `attribute[i]` says characteristic i is charted from counts (count and n) rather than
  // values; `variables[i]` > 0 says it is charted from vectors of that many values (Hotelling
  // T^2: the `values` array). Absent entries mean a single `value`.
  explicit CharacteristicIndex(const std::vector<std::string>& ids, std::vector<bool> attribute = {},
                               std::vector<int> variables = {});
  // The id of `name`, or -1.
  std::int64_t Find(std::string_view name) const;
  std::size_t size() const { return names_.size(); }
  const std::string& name(CharacteristicId id) const { return names_[id]; }
  bool attribute(CharacteristicId id) const { return id < attribute_.size() && attribute_[id]; }
  // p, the number of values a measurement of `id` carries in `values`; 0 for a characteristic
  // charted from a single `value` or from counts.
  int variables(CharacteristicId id) const { return id < variables_.size() ? variables_[id] : 0; }

 private:
  std::vector<std::string> names_;
  std::vector<bool> attribute_;
  std::vector<int> variables_;
  // Open addressing (linear probing) over a power-of-two table at least twice the size of
  // names_: id + 1 of the name hashed there, 0 for an empty slot. Find hashes the name once
  // (FNV-1a) and compares it with the few names probed; no allocation, no division.
  std::vector<std::uint32_t> slots_;
  std::size_t slot_mask_ = 0;
};

enum class DecodedKind { kMeasurement, kUnitEvent, kReject };

// What one message decoded to. Only the member named by `kind` is meaningful.
struct Decoded {
  DecodedKind kind = DecodedKind::kReject;
  Measurement measurement;
  UnitEvent unit_event;
  // True when the message had no "ts" and was given the caller's `default_ts` (a source that
  // stamps arrival time can then read its clock only for such messages).
  bool ts_defaulted = false;
  RejectReason reason = RejectReason::kMalformed;
  std::string field;    // on reject
  std::string message;  // on reject
};

class Decoder {
 public:
  // `index` must outlive the decoder. Messages larger than `max_message_bytes` are rejected
  // with reason kOversize.
  Decoder(const CharacteristicIndex& index, std::size_t max_message_bytes);
  ~Decoder();

  // Decodes one JSON object. `default_ts` is used when the message has no "ts".
  // Fills `out` (reusing its storage) and returns out.kind.
  DecodedKind DecodeJson(std::string_view bytes, EventTime default_ts, Decoded& out);

  // Sets the CSV header (column names). Returns false and fills `error` for a bad header.
  bool SetCsvHeader(std::string_view header_line, std::string& error);
  // Decodes one CSV row against the header. Lots in a "lots" column, and the numbers of a
  // "values" column, are separated by ';'.
  DecodedKind DecodeCsv(std::string_view row, EventTime default_ts, Decoded& out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Fills `rec` from a rejected Decoded: reason, field, message, and the raw bytes capped.
void MakeRejectRecord(const Decoded& d, std::string_view source, std::int64_t position, std::string_view raw,
                      RejectRecord& rec);

}  // namespace shewhart::engine

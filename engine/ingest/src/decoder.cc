#include "shewhart/engine/ingest/decoder.h"

#include <simdjson.h>

#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "shewhart/engine/model/time_format.h"

namespace shewhart::engine {

namespace {
std::uint64_t NameHash(std::string_view s) {
  std::uint64_t h = 14695981039346656037ull;  // FNV-1a
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h ^ (h >> 29);
}
}  // namespace

CharacteristicIndex::CharacteristicIndex(const std::vector<std::string>& ids, std::vector<bool> attribute,
                                         std::vector<int> variables)
    : names_(ids), attribute_(std::move(attribute)), variables_(std::move(variables)) {
  std::size_t size = 8;
  while (size < 2 * names_.size()) size <<= 1;
  slots_.assign(size, 0);
  slot_mask_ = size - 1;
  for (std::size_t i = 0; i < names_.size(); ++i) {
    if (Find(names_[i]) >= 0) continue;  // a repeated name keeps its first id
    std::size_t at = NameHash(names_[i]) & slot_mask_;
    while (slots_[at] != 0) at = (at + 1) & slot_mask_;
    slots_[at] = static_cast<std::uint32_t>(i + 1);
  }
}

std::int64_t CharacteristicIndex::Find(std::string_view name) const {
  if (slots_.empty()) return -1;
  for (std::size_t at = NameHash(name) & slot_mask_;; at = (at + 1) & slot_mask_) {
    const std::uint32_t slot = slots_[at];
    if (slot == 0) return -1;
    if (names_[slot - 1] == name) return static_cast<std::int64_t>(slot - 1);
  }
}

namespace {

// The fields of one message, as found, before interpretation. Views point into the parser's
// buffers and live until the next message.
enum class FieldType : std::uint8_t { kAbsent, kString, kNumber, kArray, kOther };
struct RawField {
  FieldType type = FieldType::kAbsent;
  std::string_view text;  // string contents, or the number's token
  double number = 0;
  bool integral = false;
  std::int64_t integer = 0;
};

enum Field : int {
  kCharacteristic, kValue, kCount, kN, kTs, kSerial, kStation, kMachine, kOperator, kLot, kModel, kSubgroup,
  kUnit, kParent, kLots, kValues, kFieldCount
};
constexpr std::array<std::string_view, kFieldCount> kFieldNames = {
    "characteristic", "value", "count", "n", "ts", "serial", "station", "machine", "operator", "lot", "model",
    "subgroup", "unit", "parent", "lots", "values"};

int FieldIndex(std::string_view key) {
  // By length first: most keys are then decided by one comparison.
  auto is = [&](int field) { return key == kFieldNames[static_cast<std::size_t>(field)] ? field : -1; };
  switch (key.size()) {
    case 1: return is(kN);
    case 2: return is(kTs);
    case 3: return is(kLot);
    case 4: {
      const int f = is(kUnit);
      return f >= 0 ? f : is(kLots);
    }
    case 5: {
      const int f = is(kValue);
      if (f >= 0) return f;
      const int g = is(kCount);
      return g >= 0 ? g : is(kModel);
    }
    case 6: {
      const int f = is(kSerial);
      if (f >= 0) return f;
      const int g = is(kParent);
      return g >= 0 ? g : is(kValues);
    }
    case 7: {
      const int f = is(kStation);
      return f >= 0 ? f : is(kMachine);
    }
    case 8: {
      const int f = is(kOperator);
      return f >= 0 ? f : is(kSubgroup);
    }
    case 14: return is(kCharacteristic);
    default: return -1;
  }
}

constexpr std::size_t kMaxLots = kMaxLotsPerUnit;

// The elements of a `values` array (f[kValues].type == kArray): the first kMaxValues numbers,
// how many elements there were, and the first element that is not a finite number.
struct ValueList {
  std::array<double, kMaxValues> numbers;
  std::size_t count = 0;  // every element, also those beyond kMaxValues
  int bad = -1;           // position of the first element that is not a finite number, or -1
  FieldType bad_type = FieldType::kAbsent;
  std::string_view bad_text;

  // Records element number `count` (call in order).
  void Add(double v) {
    if (count < kMaxValues) numbers[count] = v;
    ++count;
  }
  void AddBad(FieldType type, std::string_view text) {
    if (bad < 0) {
      bad = static_cast<int>(count);
      bad_type = type;
      bad_text = text;
    }
    ++count;
  }
};

struct FieldSet {
  std::array<RawField, kFieldCount> f;
  std::array<std::string_view, kMaxLots> lots;
  std::size_t lot_count = 0;
  bool lots_overflow = false;
  ValueList values;
  void Reset() {
    for (auto& x : f) x = RawField{};
    lot_count = 0;
    lots_overflow = false;
    values.count = 0;
    values.bad = -1;
  }
};

DecodedKind Reject(Decoded& out, RejectReason reason, std::string_view field, std::string message) {
  out.kind = DecodedKind::kReject;
  out.reason = reason;
  out.field.assign(field);
  out.message = std::move(message);
  return out.kind;
}

// The first byte at which `text` stops being UTF-8 (text.size() when it is UTF-8 throughout).
std::size_t FirstNonUtf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0 || i + n > text.size()) return i;
    if (n > 1 && !simdjson::validate_utf8(text.data() + i, n)) return i;
    i += n;
  }
  return i;
}

// A message that is not UTF-8 (a source sending Latin-1 or GBK): rejected whole, naming the first bad byte.
DecodedKind NotUtf8(Decoded& out, std::string_view bytes) {
  const std::size_t at = FirstNonUtf8(bytes);
  char hex[8];
  std::snprintf(hex, sizeof hex, "0x%02X", at < bytes.size() ? static_cast<unsigned char>(bytes[at]) : 0);
  return Reject(out, RejectReason::kEncoding, "",
                "not UTF-8: byte " + std::string(hex) + " at offset " + std::to_string(at) +
                    " (text must be UTF-8; a Latin-1 or GBK source must be converted)");
}

std::string Quote(std::string_view s) {
  std::string q = "'";
  q.append(s.substr(0, 64));
  if (s.size() > 64) q += "...";
  q += "'";
  return q;
}

// Parses a whole token as a finite double.
bool ParseDouble(std::string_view text, double& out) {
  if (text.empty()) return false;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && p == text.data() + text.size() && std::isfinite(out);
}

bool ParseInt(std::string_view text, std::int64_t& out) {
  if (text.empty()) return false;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && p == text.data() + text.size();
}

// Interprets a field set (from JSON or CSV). With `text_numbers`, string fields are parsed
// as numbers where numbers are expected (CSV has no types).
DecodedKind Interpret(const FieldSet& fs, bool text_numbers, const CharacteristicIndex& index, EventTime default_ts,
                      Decoded& out) {
  const auto& f = fs.f;
  out.ts_defaulted = false;
  auto number = [&](int field, double& v) -> int {  // 1 ok, 0 absent, -1 wrong
    const RawField& r = f[static_cast<std::size_t>(field)];
    if (r.type == FieldType::kAbsent) return 0;
    if (r.type == FieldType::kNumber) {
      v = r.number;
      return std::isfinite(v) ? 1 : -1;
    }
    if (r.type == FieldType::kString && text_numbers) {
      if (r.text.empty()) return 0;
      return ParseDouble(r.text, v) ? 1 : -1;
    }
    return -1;
  };
  auto integer = [&](int field, std::int64_t& v) -> int {
    const RawField& r = f[static_cast<std::size_t>(field)];
    if (r.type == FieldType::kAbsent) return 0;
    if (r.type == FieldType::kNumber) {
      if (!r.integral) return -1;
      v = r.integer;
      return 1;
    }
    if (r.type == FieldType::kString && text_numbers) {
      if (r.text.empty()) return 0;
      return ParseInt(r.text, v) ? 1 : -1;
    }
    return -1;
  };
  auto type_error = [&](int field, std::string_view expected) {
    const RawField& r = f[static_cast<std::size_t>(field)];
    std::string found = r.type == FieldType::kString ? "string " + Quote(r.text)
                        : r.type == FieldType::kNumber ? "number " + std::string(r.text)
                                                       : std::string("an object, array or boolean");
    return Reject(out, RejectReason::kWrongType, kFieldNames[static_cast<std::size_t>(field)],
                  std::string(kFieldNames[static_cast<std::size_t>(field)]) + " must be " + std::string(expected) +
                      ", found " + found);
  };
  // A label: string (or a number's token); empty / absent leaves it empty.
  auto label = [&](int field, auto& dst) -> bool {
    const RawField& r = f[static_cast<std::size_t>(field)];
    dst.clear();
    if (r.type == FieldType::kAbsent) return true;
    if (r.type == FieldType::kOther) {
      type_error(field, "a string");
      return false;
    }
    if (!dst.Assign(r.text)) {
      Reject(out, RejectReason::kOversize, kFieldNames[static_cast<std::size_t>(field)],
             std::string(kFieldNames[static_cast<std::size_t>(field)]) + " is " + std::to_string(r.text.size()) +
                 " bytes; at most " + std::to_string(Label::kCapacity) + " are allowed");
      return false;
    }
    return true;
  };
  // ts: RFC 3339 text or integer epoch milliseconds.
  auto timestamp = [&](EventTime& ts) -> bool {
    const RawField& r = f[kTs];
    if (r.type == FieldType::kAbsent || (r.type == FieldType::kString && r.text.empty())) {
      ts = default_ts;
      out.ts_defaulted = true;
      return true;
    }
    // Epoch milliseconds from 1970 to the end of 9999: beyond, the microseconds of EventTime
    // would wrap (9223372036854775807 became 1969, 10^16 the year -3553).
    constexpr std::int64_t kMaxMs = 253402300799999;
    auto in_range = [&](std::int64_t v) {
      if (v >= 0 && v <= kMaxMs) return true;
      Reject(out, v < 0 ? RejectReason::kTooOld : RejectReason::kFuture, "ts",
             "ts " + std::to_string(v) + " ms is outside 1970-01-01 .. 9999-12-31");
      return false;
    };
    std::int64_t ms;
    if (r.type == FieldType::kNumber && r.integral) {
      if (!in_range(r.integer)) return false;
      ts = FromUnixMillis(r.integer);
      return true;
    }
    if (r.type == FieldType::kString) {
      if (auto t = ParseRfc3339(r.text)) {
        if (t->time_since_epoch().count() < 0) return in_range(-1);
        ts = *t;
        return true;
      }
      if (text_numbers && ParseInt(r.text, ms)) {
        if (!in_range(ms)) return false;
        ts = FromUnixMillis(ms);
        return true;
      }
    }
    if (r.type == FieldType::kNumber && !r.integral && std::isfinite(r.number) && std::trunc(r.number) == r.number) {
      // 1e16, or 9223372036854775808 and more (not an int64): an integer out of every range.
      Reject(out, r.number < 0 ? RejectReason::kTooOld : RejectReason::kFuture, "ts",
             "ts " + std::string(r.text) + " ms is outside 1970-01-01 .. 9999-12-31");
      return false;
    }
    type_error(kTs, "an RFC 3339 time or integer epoch milliseconds");
    return false;
  };

  // The `values` of a T^2 characteristic of p variables, into m.values.
  auto vector_values = [&](int p, Measurement& m) -> bool {
    const RawField& r = f[kValues];
    auto who = [&] {  // only on a reject: a good message allocates nothing
      return Quote(f[kCharacteristic].text) + " is charted on Hotelling T^2 of " + std::to_string(p) + " variables";
    };
    if (r.type == FieldType::kAbsent) {
      Reject(out, RejectReason::kMissingField, "values",
             who() + ": the measurement needs 'values', an array of " + std::to_string(p) + " numbers");
      return false;
    }
    if (r.type != FieldType::kArray) {
      type_error(kValues, "an array of " + std::to_string(p) + " finite numbers");
      return false;
    }
    const ValueList& v = fs.values;
    if (v.count > kMaxValues) {
      Reject(out, RejectReason::kOversize, "values",
             "values has " + std::to_string(v.count) + " elements; at most " + std::to_string(kMaxValues) +
                 " are allowed (" + who() + ")");
      return false;
    }
    if (v.bad >= 0) {
      std::string found = v.bad_type == FieldType::kString   ? "string " + Quote(v.bad_text)
                          : v.bad_type == FieldType::kNumber ? "number " + std::string(v.bad_text)
                                                             : std::string("an object, array, boolean or null");
      Reject(out, RejectReason::kWrongType, "values",
             "values[" + std::to_string(v.bad) + "] must be a finite number, found " + found);
      return false;
    }
    if (v.count != static_cast<std::size_t>(p)) {
      Reject(out, RejectReason::kWrongType, "values",
             "values has " + std::to_string(v.count) + " element" + (v.count == 1 ? "" : "s") + "; " + who() +
                 ", so it needs exactly " + std::to_string(p));
      return false;
    }
    for (std::size_t i = 0; i < v.count; ++i) m.values[i] = v.numbers[i];
    m.value_count = static_cast<std::uint8_t>(v.count);
    return true;
  };

  const bool is_measurement = f[kCharacteristic].type != FieldType::kAbsent;
  const bool is_unit = f[kUnit].type != FieldType::kAbsent &&
                       !(f[kUnit].type == FieldType::kString && f[kUnit].text.empty());
  if (is_measurement && is_unit &&
      !(f[kCharacteristic].type == FieldType::kString && f[kCharacteristic].text.empty())) {
    return Reject(out, RejectReason::kMalformed, "unit",
                  "message has both 'characteristic' (a measurement) and 'unit' (a unit event)");
  }
  if (is_measurement && !(f[kCharacteristic].type == FieldType::kString && f[kCharacteristic].text.empty())) {
    Measurement& m = out.measurement;
    if (f[kCharacteristic].type != FieldType::kString) return type_error(kCharacteristic, "a string");
    std::int64_t id = index.Find(f[kCharacteristic].text);
    if (id < 0) {
      return Reject(out, RejectReason::kUnknownCharacteristic, "characteristic",
                    "unknown characteristic " + Quote(f[kCharacteristic].text));
    }
    m.characteristic = static_cast<CharacteristicId>(id);
    m.value_count = 0;
    int rv = number(kValue, m.value);
    if (rv < 0) return type_error(kValue, "a finite number");
    m.has_value = rv > 0;
    int rc = integer(kCount, m.count);
    if (rc < 0) return type_error(kCount, "an integer");
    int rn = number(kN, m.n);
    if (rn < 0) return type_error(kN, "a number");
    m.has_count = rc > 0;
    if (const int p = index.variables(m.characteristic); p > 0) {
      if (!vector_values(p, m)) return out.kind;
    } else if (index.attribute(m.characteristic) && !m.has_count) {
      // Checked before "neither": an attribute measurement without count misses `count`
      // (field count, as documented), whether or not it carries a `value`.
      return Reject(
          out, RejectReason::kMissingField, "count",
          Quote(f[kCharacteristic].text) + " is charted from counts: the measurement needs 'count' (and 'n')");
    } else if (!m.has_value && !m.has_count) {
      return Reject(out, RejectReason::kMissingField, "value",
                    "measurement of " + Quote(f[kCharacteristic].text) + " has neither 'value' nor 'count'");
    } else if (!index.attribute(m.characteristic) && !m.has_value) {
      return Reject(out, RejectReason::kMissingField, "value",
                    Quote(f[kCharacteristic].text) + " is charted from values: the measurement needs 'value'");
    }
    if (m.has_count && rn == 0) m.n = 1;
    if (m.has_count && (m.count < 0 || !(m.n > 0))) {
      return Reject(out, RejectReason::kWrongType, m.count < 0 ? "count" : "n",
                    "count must be >= 0 and n > 0, found count " + std::to_string(m.count) + ", n " +
                        std::string(f[kN].text));
    }
    if (!timestamp(m.ts)) return out.kind;
    if (!label(kSerial, m.serial) || !label(kStation, m.station) || !label(kMachine, m.machine) ||
        !label(kOperator, m.op) || !label(kLot, m.lot) || !label(kModel, m.model) || !label(kSubgroup, m.subgroup)) {
      return out.kind;
    }
    out.kind = DecodedKind::kMeasurement;
    return out.kind;
  }
  if (is_unit) {
    UnitEvent& u = out.unit_event;
    if (f[kUnit].type != FieldType::kString) return type_error(kUnit, "a string");
    if (!label(kUnit, u.unit)) return out.kind;
    if (f[kStation].type == FieldType::kAbsent ||
        (f[kStation].type == FieldType::kString && f[kStation].text.empty())) {
      return Reject(out, RejectReason::kMissingField, "station",
                  "unit event of " + Quote(f[kUnit].text) + " has no 'station'");
    }
    if (!label(kStation, u.station) || !label(kMachine, u.machine) || !label(kOperator, u.op) ||
        !label(kModel, u.model) || !label(kParent, u.parent)) {
      return out.kind;
    }
    if (!timestamp(u.ts)) return out.kind;
    if (fs.lots_overflow) {
      return Reject(out, RejectReason::kOversize, "lots",
                    "unit event lists more than " + std::to_string(kMaxLots) + " lots");
    }
    if (f[kLots].type == FieldType::kOther) return type_error(kLots, "a list of strings");
    u.lot_count = 0;
    for (std::size_t i = 0; i < fs.lot_count; ++i) {
      if (!u.lots[i].Assign(fs.lots[i])) {
        return Reject(out, RejectReason::kOversize, "lots",
                      "lot id " + Quote(fs.lots[i]) + " is longer than " + std::to_string(Label::kCapacity) + " bytes");
      }
      ++u.lot_count;
    }
    // A single "lot" is accepted as a one-element "lots".
    if (u.lot_count == 0 && f[kLot].type != FieldType::kAbsent) {
      if (!label(kLot, u.lots[0])) return out.kind;
      if (!u.lots[0].empty()) u.lot_count = 1;
    }
    u.from_measurement = false;
    out.kind = DecodedKind::kUnitEvent;
    return out.kind;
  }
  return Reject(out, RejectReason::kMissingField, "characteristic",
                "message has neither 'characteristic' (a measurement) nor 'unit' (a unit event)");
}

}  // namespace

struct Decoder::Impl {
  const CharacteristicIndex& index;
  std::size_t max_bytes;
  simdjson::ondemand::parser parser;
  std::vector<char> buffer;  // max_bytes + padding
  FieldSet fields;
  std::vector<std::string> csv_header;
  std::vector<int> csv_columns;  // field index per column, -1 for ignored columns
  std::vector<std::string_view> csv_cells;
  std::string csv_unquoted;  // storage for unquoted CSV cells

  Impl(const CharacteristicIndex& i, std::size_t m)
      : index(i), max_bytes(m), parser(m + 64), buffer(m + simdjson::SIMDJSON_PADDING) {}

  DecodedKind ParseJson(std::string_view bytes, EventTime default_ts, Decoded& out);
};

Decoder::Decoder(const CharacteristicIndex& index, std::size_t max_message_bytes)
    : impl_(std::make_unique<Impl>(index, max_message_bytes)) {
  impl_->csv_unquoted.reserve(4096);
}
Decoder::~Decoder() = default;

DecodedKind Decoder::DecodeJson(std::string_view bytes, EventTime default_ts, Decoded& out) {
  return impl_->ParseJson(bytes, default_ts, out);
}

DecodedKind Decoder::Impl::ParseJson(std::string_view bytes, EventTime default_ts, Decoded& out) {
  using namespace simdjson;
  if (bytes.size() > max_bytes) {
    return Reject(out, RejectReason::kOversize, "",
                  "message is " + std::to_string(bytes.size()) + " bytes; at most " + std::to_string(max_bytes) +
                      " are allowed");
  }
  std::memcpy(buffer.data(), bytes.data(), bytes.size());
  std::memset(buffer.data() + bytes.size(), 0, SIMDJSON_PADDING);
  fields.Reset();
  ondemand::document doc;
  auto malformed = [&](error_code e) {
    return Reject(out, RejectReason::kMalformed, "", std::string("malformed JSON: ") + error_message(e));
  };
  error_code err = parser.iterate(buffer.data(), bytes.size(), buffer.size()).get(doc);
  if (err == UTF8_ERROR) return NotUtf8(out, bytes);
  if (err) return malformed(err);
  ondemand::object obj;
  err = doc.get_object().get(obj);
  if (err) return malformed(err);
  std::uint64_t seen = 0;  // the known fields met so far (bit per field index)
  static_assert(kFieldCount <= 64);
  for (auto field_result : obj) {
    if ((err = field_result.error())) return malformed(err);
    ondemand::field field = field_result.value_unsafe();
    std::string_view key;
    if ((err = field.unescaped_key().get(key))) return malformed(err);
    int idx = FieldIndex(key);
    if (idx >= 0) {
      // Last-wins would let `{"characteristic":"nope","characteristic":"fz"}` be charted as fz.
      if (seen >> idx & 1u) {
        return Reject(out, RejectReason::kDuplicateField, key, "field '" + std::string(key) + "' appears twice");
      }
      seen |= std::uint64_t{1} << idx;
    }
    ondemand::value value = field.value();
    ondemand::json_type type;
    if ((err = value.type().get(type))) return malformed(err);
    if (idx < 0) continue;  // unknown fields are ignored (forward compatibility)
    RawField& r = fields.f[static_cast<std::size_t>(idx)];
    switch (type) {
      case ondemand::json_type::string: {
        r.type = FieldType::kString;
        if ((err = value.get_string().get(r.text))) return malformed(err);
        break;
      }
      case ondemand::json_type::number: {
        r.type = FieldType::kNumber;
        r.text = value.raw_json_token();
        while (!r.text.empty() && (r.text.back() == ' ' || r.text.back() == '\n' || r.text.back() == '\r' ||
                                   r.text.back() == '\t')) {
          r.text.remove_suffix(1);
        }
        ondemand::number num;
        if ((err = value.get_number().get(num))) return malformed(err);
        if (num.is_int64()) {
          r.integral = true;
          r.integer = num.get_int64();
          r.number = static_cast<double>(r.integer);
        } else if (num.is_uint64()) {
          r.number = static_cast<double>(num.get_uint64());
        } else {
          r.number = num.get_double();
        }
        break;
      }
      case ondemand::json_type::null:
        break;  // null is absent
      case ondemand::json_type::array: {
        if (idx == kValues) {
          r.type = FieldType::kArray;
          ondemand::array arr;
          if ((err = value.get_array().get(arr))) return malformed(err);
          for (auto item : arr) {
            ondemand::value iv;
            if ((err = item.get(iv))) return malformed(err);
            ondemand::json_type item_type;
            if ((err = iv.type().get(item_type))) return malformed(err);
            if (item_type == ondemand::json_type::number) {
              double d;
              if ((err = iv.get_double().get(d))) return malformed(err);
              fields.values.Add(d);
            } else if (item_type == ondemand::json_type::string) {
              std::string_view text;
              if ((err = iv.get_string().get(text))) return malformed(err);
              fields.values.AddBad(FieldType::kString, text);
            } else {
              fields.values.AddBad(FieldType::kOther, {});
            }
          }
          break;
        }
        if (idx != kLots) {
          r.type = FieldType::kOther;
          break;
        }
        r.type = FieldType::kString;  // marks presence
        ondemand::array arr;
        if ((err = value.get_array().get(arr))) return malformed(err);
        for (auto item : arr) {
          std::string_view lot;
          ondemand::value iv;
          if ((err = item.get(iv))) return malformed(err);
          if (iv.get_string().get(lot)) {
            r.type = FieldType::kOther;
            continue;
          }
          if (fields.lot_count == kMaxLots) {
            fields.lots_overflow = true;
            continue;
          }
          fields.lots[fields.lot_count++] = lot;
        }
        break;
      }
      default:
        r.type = FieldType::kOther;
        break;
    }
  }
  if (doc.current_location().error() != OUT_OF_BOUNDS)
    return Reject(out, RejectReason::kMalformed, "", "trailing content after the JSON object");
  return Interpret(fields, /*text_numbers=*/false, index, default_ts, out);
}

namespace {

// Splits one CSV row (RFC 4180 quoting) into cells; quoted cells are unquoted into `storage`.
// Returns false on an unterminated quote.
bool SplitCsv(std::string_view row, std::vector<std::string_view>& cells, std::string& storage) {
  cells.clear();
  storage.clear();
  if (storage.capacity() < row.size()) storage.reserve(row.size());
  while (!row.empty() && (row.back() == '\r' || row.back() == '\n')) row.remove_suffix(1);
  std::size_t i = 0;
  while (true) {
    if (i < row.size() && row[i] == '"') {
      std::size_t start = storage.size();
      ++i;
      bool closed = false;
      while (i < row.size()) {
        if (row[i] == '"') {
          if (i + 1 < row.size() && row[i + 1] == '"') {
            storage.push_back('"');
            i += 2;
            continue;
          }
          closed = true;
          ++i;
          break;
        }
        storage.push_back(row[i++]);
      }
      if (!closed) return false;
      cells.emplace_back(storage.data() + start, storage.size() - start);
      if (i < row.size() && row[i] != ',') return false;
    } else {
      std::size_t end = row.find(',', i);
      if (end == std::string_view::npos) end = row.size();
      cells.push_back(row.substr(i, end - i));
      i = end;
    }
    if (i >= row.size()) break;
    ++i;  // the comma
    if (i == row.size()) {
      cells.emplace_back();
      break;
    }
  }
  return true;
}

}  // namespace

bool Decoder::SetCsvHeader(std::string_view header_line, std::string& error) {
  auto& im = *impl_;
  std::vector<std::string_view> cells;
  std::string storage;
  if (!SplitCsv(header_line, cells, storage)) {
    error = "the CSV header has an unterminated quote";
    return false;
  }
  im.csv_header.assign(cells.begin(), cells.end());
  im.csv_columns.clear();
  bool has_char = false, has_unit = false;
  for (const auto& name : im.csv_header) {
    int idx = FieldIndex(name);
    im.csv_columns.push_back(idx);
    has_char |= idx == kCharacteristic;
    has_unit |= idx == kUnit;
  }
  if (!has_char && !has_unit) {
    error = "the CSV header names neither a 'characteristic' nor a 'unit' column";
    return false;
  }
  // The buffer the cells point into must not move while cells are in use.
  storage.reserve(im.max_bytes);
  return true;
}

DecodedKind Decoder::DecodeCsv(std::string_view row, EventTime default_ts, Decoded& out) {
  auto& im = *impl_;
  if (row.size() > im.max_bytes) {
    return Reject(out, RejectReason::kOversize, "",
                  "row is " + std::to_string(row.size()) + " bytes; at most " + std::to_string(im.max_bytes) +
                      " are allowed");
  }
  if (!simdjson::validate_utf8(row.data(), row.size())) return NotUtf8(out, row);
  if (im.csv_unquoted.capacity() < row.size()) im.csv_unquoted.reserve(row.size());
  if (!SplitCsv(row, im.csv_cells, im.csv_unquoted)) {
    return Reject(out, RejectReason::kMalformed, "", "unterminated or misplaced quote");
  }
  if (im.csv_cells.size() != im.csv_columns.size()) {
    return Reject(out, RejectReason::kMalformed, "",
                  "row has " + std::to_string(im.csv_cells.size()) + " cells; the header has " +
                      std::to_string(im.csv_columns.size()));
  }
  im.fields.Reset();
  for (std::size_t c = 0; c < im.csv_cells.size(); ++c) {
    int idx = im.csv_columns[c];
    if (idx < 0) continue;
    std::string_view cell = im.csv_cells[c];
    if (idx == kLots) {
      std::size_t start = 0;
      while (start <= cell.size() && !cell.empty()) {
        std::size_t end = cell.find(';', start);
        if (end == std::string_view::npos) end = cell.size();
        if (end > start) {
          if (im.fields.lot_count == kMaxLots) im.fields.lots_overflow = true;
          else im.fields.lots[im.fields.lot_count++] = cell.substr(start, end - start);
        }
        start = end + 1;
      }
      continue;
    }
    if (idx == kValues) {
      if (cell.empty()) continue;
      im.fields.f[kValues].type = FieldType::kArray;
      std::size_t start = 0;
      while (true) {
        std::size_t end = cell.find(';', start);
        if (end == std::string_view::npos) end = cell.size();
        const std::string_view item = cell.substr(start, end - start);
        double v;
        if (ParseDouble(item, v)) im.fields.values.Add(v);
        else im.fields.values.AddBad(FieldType::kString, item);
        if (end == cell.size()) break;
        start = end + 1;
      }
      continue;
    }
    if (cell.empty()) continue;
    RawField& r = im.fields.f[static_cast<std::size_t>(idx)];
    r.type = FieldType::kString;
    r.text = cell;
  }
  return Interpret(im.fields, /*text_numbers=*/true, im.index, default_ts, out);
}

void MakeRejectRecord(const Decoded& d, std::string_view source, std::int64_t position, std::string_view raw,
                      RejectRecord& rec) {
  rec.source.assign(source);
  rec.position = position;
  rec.reason = d.reason;
  rec.field = d.field;
  rec.message = d.message;
  rec.raw_truncated = raw.size() > kRejectRawCap;
  std::size_t keep = std::min(raw.size(), kRejectRawCap);
  if (rec.raw_truncated && d.reason != RejectReason::kEncoding) {
    // Not inside a character: back to the start of the one the cap falls in (at most 3 bytes).
    while (keep > 0 && kRejectRawCap - keep < 3 && (static_cast<unsigned char>(raw[keep]) & 0xC0) == 0x80) --keep;
  }
  rec.raw.assign(raw.substr(0, keep));
}

}  // namespace shewhart::engine

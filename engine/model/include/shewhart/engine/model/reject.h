#pragma once
// Reject records: what happened to a message the engine could not use.

#include <cstdint>
#include <string>
#include <string_view>

namespace shewhart::engine {

enum class RejectReason : std::uint8_t {
  kMalformed,              // not JSON / not a CSV row of the header's width
  kMissingField,           // a required field is absent
  kWrongType,              // a field has the wrong type or an unparsable value
  kUnknownCharacteristic,  // "characteristic" names nothing in the config
  kOversize,               // the message or one of its labels exceeds its limit
  kLate,                   // event time too far behind the characteristic's newest (late_tolerance)
  kDuplicateField,         // a field appears twice in one JSON object
  kEncoding,               // the text is not UTF-8 (Latin-1, GBK, broken sequences)
  kFuture,                 // event time implausibly far ahead of the clock (engine.future_tolerance)
  kTooOld,                 // event time implausibly far behind the clock (engine.past_tolerance)
};
inline constexpr int kRejectReasonCount = 10;
std::string_view RejectReasonName(RejectReason reason);

// The raw bytes kept in a reject record are capped at this size (cut at a UTF-8 character
// boundary when the message is UTF-8).
inline constexpr std::size_t kRejectRawCap = 1024;

struct RejectRecord {
  std::string source;     // the source label ("zmq0", "file1", a file path in replay)
  std::int64_t position;  // message number within the source (1-based), or line number for files
  RejectReason reason;
  std::string field;      // the offending field, empty when not applicable
  std::string message;    // human-readable reason naming the offending value
  std::string raw;        // at most kRejectRawCap bytes of the message
  bool raw_truncated = false;
  std::int64_t id = 0;    // store row id (filled by Store::ListRejects)
};

}  // namespace shewhart::engine

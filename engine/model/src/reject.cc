#include "shewhart/engine/model/reject.h"

namespace shewhart::engine {

std::string_view RejectReasonName(RejectReason reason) {
  switch (reason) {
    case RejectReason::kMalformed: return "malformed";
    case RejectReason::kMissingField: return "missing_field";
    case RejectReason::kWrongType: return "wrong_type";
    case RejectReason::kUnknownCharacteristic: return "unknown_characteristic";
    case RejectReason::kOversize: return "oversize";
    case RejectReason::kLate: return "late";
    case RejectReason::kDuplicateField: return "duplicate_field";
    case RejectReason::kEncoding: return "encoding";
    case RejectReason::kFuture: return "future";
    case RejectReason::kTooOld: return "too_old";
  }
  return "unknown";
}

}  // namespace shewhart::engine

#include "shewhart/engine/model/api_response.h"

#include "shewhart/engine/model/json.h"

namespace shewhart::engine {

ApiResponse ApiError(int status, const std::string& message) {
  return ApiResponse{status, "application/json", Json{{"error", message}}.dump(-1, ' ', false, kReplaceInvalidUtf8)};
}

}  // namespace shewhart::engine

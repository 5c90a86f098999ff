#pragma once
// The answer to a request made through the API: an HTTP status, a content type and a body
// (JSON: the object asked for, or {"error": "..."}). Made by the subsystems that carry out a
// request (the responder acts on alarms and holds) and sent by the HTTP server. A value type;
// ApiError allocates the body.

#include <string>

namespace shewhart::engine {

struct ApiResponse {
  int status = 200;
  std::string content_type;
  std::string body;
};

// A JSON error answer: `status` with the body {"error": message} (invalid UTF-8 replaced).
ApiResponse ApiError(int status, const std::string& message);

}  // namespace shewhart::engine

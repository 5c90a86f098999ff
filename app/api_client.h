#pragma once
// A small HTTP client of a running engine's API (libcurl: HTTP, and HTTPS where the engine is
// behind a TLS proxy): what `shewhart alarms`, `holds` and `silences` share -- the request, the
// bearer token, the error text. One call at a time per thread; each call allocates its handle.

#include <optional>
#include <string>

namespace shewhart::app {

struct ApiReply {
  int status = 0;
  std::string body;
};

// Sends `method` ("GET", "POST", "DELETE") `target` to the engine at `url` ("http://HOST:PORT"
// or "https://..."),
// with `body` as JSON (POST) and `Authorization: Bearer <token>` when `token` is not empty.
// Returns nullopt, with `error` saying why, for a malformed URL or an engine that cannot be
// reached (15 s for the whole exchange). Any HTTP status is a reply.
std::optional<ApiReply> CallApi(const std::string& url, const std::string& method, const std::string& target,
                                const std::string& body, const std::string& token, std::string& error);

// The bearer token: `token` when given, else the first line of `token_file` when given, else
// $SHEWHART_TOKEN. Empty, with `error` set, when there is none.
std::string ReadToken(const std::string& token, const std::string& token_file, std::string& error);

// The engine's `error` text of a refused request (its JSON body's "error"), or the body.
std::string ApiError(const ApiReply& reply);

}  // namespace shewhart::app

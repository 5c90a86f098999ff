#pragma once
// A small HTTP/1.1 server (Boost.Beast) for the engine's API and /metrics.
//
// One background thread runs an io_context with the accept loop and every connection. The
// handler is called on that thread only, one request at a time across all connections, so a
// slow handler delays every client; it needs no locking against other handler calls, but must
// synchronise with the rest of the engine itself. Method and path routing is the handler's job.
// Boost types stay out of this header.

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shewhart/base/status.h"

namespace shewhart::engine {

// Requests whose body is larger than this are answered with 413 and the connection is closed;
// the handler is not called.
inline constexpr std::size_t kMaxHttpRequestBodyBytes = std::size_t{1} << 20;  // 1 MiB

// One request as the handler sees it. Nothing is percent-decoded.
struct HttpRequest {
  std::string method;         // "GET", "POST", ... exactly as sent
  std::string target;         // path without query string, e.g. "/api/alarms"
  std::string query;          // raw query string after '?', may be empty
  std::string body;           // at most kMaxHttpRequestBodyBytes
  std::string authorization;  // value of the Authorization header, may be empty
  // Every header as sent (name in the client's spelling, value), in order.
  std::vector<std::pair<std::string, std::string>> headers;
  // The value of the first header named `name` (case-insensitive), or empty.
  std::string Header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (k.size() == name.size() && std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
            return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
          })) {
        return v;
      }
    }
    return "";
  }
};

// What the handler answers. The server adds Content-Length, `Server: shewhart` and, when the
// client asked for it or the request could not be read, `Connection: close`.
struct HttpResponse {
  // Must be 200..599; anything else is answered as 500 with a JSON error naming the value.
  // For 204 and 304 the body is not sent (HTTP forbids it), nor a Content-Length.
  int status = 200;
  std::string content_type = "application/json";
  // For a HEAD request the body is not sent, but its size is given as Content-Length.
  std::string body;
};

// Called on the server thread for every complete request. An exception it throws is caught
// and answered with 500 and {"error":"..."}; the connection stays usable.
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

// How much nicer than the thread that starts it the server thread runs, by default (Linux nice
// values are per thread): a /metrics render or an API query then yields the CPU to the sources,
// shards and responder when the cores are short, and takes what they leave. On a machine with an
// idle core it changes nothing. Measured by bench/metrics_bench: with 10 000 characteristics
// scraped every second on two busy cores, arrival-to-signal p99 while scraping went from
// hundreds of milliseconds at the same priority to about 2 ms at this one.
inline constexpr int kHttpServerNice = 10;

// Connections open at once, by default (SetMaxConnections): well under a 1024-descriptor limit,
// leaving descriptors to the sources, the store and the outbox.
inline constexpr std::size_t kDefaultMaxHttpConnections = 256;

// Owns the listening socket, the server thread and every open connection.
//
// Start(), Stop() and port() are called by the owner, from one thread at a time (not
// concurrently with each other), and never from inside the handler. Not copyable or movable:
// the server thread refers to this object.
//
// Connections: keep-alive is supported; a connection idle (or slow to send a request) for
// 30 s is closed. A request that cannot be parsed gets 400 (431 for headers over 8 KiB) and
// the connection is closed.
class HttpServer {
 public:
  // Stores the arguments; does not parse `listen` or bind yet. `listen` is "host:port", e.g.
  // "127.0.0.1:9464", "0.0.0.0:9464", "[::1]:9464" or "localhost:9464"; port 0 asks the OS
  // for an ephemeral port (see port()). The server thread's nice value is the starting
  // thread's plus `nice` (at most 19; 0 keeps it; lowering a priority needs no privilege, and
  // should the call fail the thread runs on at the inherited priority, logged once).
  HttpServer(std::string listen, HttpHandler handler, int nice = kHttpServerNice);
  // Calls Stop().
  ~HttpServer();

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Parses `listen`, binds, listens and starts the server thread. Errors (no exception escapes):
  //   InvalidArgument     `listen` is malformed (message names it), or the handler is empty;
  //   Unavailable         the host does not resolve, or open/bind/listen failed (message names
  //                       the address and the OS error, e.g. "Address already in use"), or the
  //                       thread could not be started;
  //   FailedPrecondition  already started.
  // On error nothing is left running and Start() may be called again. After Stop() the server
  // may be started again.
  Status Start();

  // Closes the listening socket and every open connection (a request being answered is cut
  // off), waits for the handler call in progress, if any, to return, and joins the server
  // thread. Idempotent; does nothing if never started. Must not be called from the handler
  // (that would join the calling thread: checked, aborts).
  void Stop() noexcept;

  // The bound port (the OS's choice when `listen` asked for 0) while started; 0 otherwise.
  int port() const { return port_; }

  // At most `n` (>= 1) connections open at once; a connection beyond is answered 503 at once
  // and closed (counted by refused()). Takes effect at the next Start().
  void SetMaxConnections(std::size_t n);
  // Connections refused because `max connections` were open, since the last Start().
  std::uint64_t refused() const;

 private:
  struct Impl;

  const std::string listen_;
  const HttpHandler handler_;
  const int nice_;
  std::size_t max_connections_ = kDefaultMaxHttpConnections;
  std::unique_ptr<Impl> impl_;  // non-null exactly while started
  int port_ = 0;
};

}  // namespace shewhart::engine

#include "shewhart/engine/api/http_server.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <charconv>
#include <chrono>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "shewhart/base/thread.h"

namespace shewhart::engine {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

// How long a connection may take to send one request (headers and body), or to take one
// response, and how long it may sit idle between keep-alive requests.
constexpr std::chrono::seconds kIoTimeout{30};
// After an answer that closes the connection, how long unread request bytes are drained so
// the peer sees the answer rather than a reset.
constexpr std::chrono::seconds kLingerTimeout{2};
// Pause before accepting again after an accept error (e.g. out of file descriptors).
constexpr std::chrono::milliseconds kAcceptRetryDelay{100};
constexpr std::uint32_t kMaxHeaderBytes = 8 * 1024;

HttpResponse ErrorResponse(int status, std::string_view message) {
  return HttpResponse{.status = status,
                      .body = nlohmann::json{{"error", message}}.dump(-1, ' ', false,
                                                                      nlohmann::json::error_handler_t::replace)};
}

struct ListenAddress {
  std::string host;       // without IPv6 brackets
  std::string port_text;  // decimal, as written
  unsigned short port = 0;
};

// Splits "host:port" / "[v6]:port". Only the syntax is checked; the host is resolved later.
Status ParseListen(const std::string& listen, ListenAddress* out) {
  const auto malformed = [&listen](const std::string& why) {
    return InvalidArgument("listen address '" + listen + "' is malformed: " + why +
                           " (expected host:port, e.g. 127.0.0.1:9464 or [::1]:9464)");
  };
  const std::size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return malformed("no ':port'");
  std::string host = listen.substr(0, colon);
  const std::string port = listen.substr(colon + 1);
  if (!host.empty() && host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return malformed("unbalanced '[' in host");
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string::npos) {
    return malformed("an IPv6 host must be in brackets");
  }
  if (host.empty()) return malformed("host is empty (use 0.0.0.0 for all interfaces)");
  unsigned value = 0;
  const char* const first = port.data();
  const char* const last = port.data() + port.size();
  const auto [end, ec] = std::from_chars(first, last, value);
  if (port.empty() || port.size() > 5 || ec != std::errc() || end != last || value > 65535) {
    return malformed("port '" + port + "' is not a number from 0 to 65535");
  }
  out->host = std::move(host);
  out->port_text = port;
  out->port = static_cast<unsigned short>(value);
  return Status::Ok();
}

std::string EndpointText(const tcp::endpoint& endpoint) {
  const std::string address = endpoint.address().to_string();
  const std::string port = std::to_string(endpoint.port());
  return endpoint.address().is_v6() ? "[" + address + "]:" + port : address + ":" + port;
}

bool IsHttpProtocolError(const beast::error_code& ec) {
  return ec.category() == beast::error_code(http::error::end_of_stream).category();
}

// One connection. Lives as long as an operation of its own is pending (each completion handler
// holds a shared_ptr). All members are used on the server thread only.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const HttpHandler& handler)
      : stream_(std::move(socket)), handler_(handler) {}

  void Start() { ReadHeader(); }

  // Closes the socket; the pending operation completes with an error and the session ends.
  void Close() { stream_.close(); }

 private:
  void ReadHeader() {
    parser_.emplace();
    parser_->header_limit(kMaxHeaderBytes);
    parser_->body_limit(kMaxHttpRequestBodyBytes);
    stream_.expires_after(kIoTimeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              self->OnHeader(ec);
                            });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    if (parser_->is_done()) return Dispatch();
    const auto& req = parser_->get();
    if (req.version() >= 11 && beast::iequals(req[http::field::expect], "100-continue")) {
      // The body fits the limit (checked on the header): ask the client to send it.
      continue_ = http::response<http::empty_body>(http::status::continue_, req.version());
      http::async_write(stream_, continue_,
                        [self = shared_from_this()](beast::error_code write_ec, std::size_t) {
                          if (write_ec) return self->Close();
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       if (ec) return self->OnReadError(ec);
                       self->Dispatch();
                     });
  }

  void OnReadError(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      return WriteError(413, "request body exceeds " + std::to_string(kMaxHttpRequestBodyBytes) +
                                 " bytes");
    }
    if (ec == http::error::header_limit) {
      return WriteError(431, "request header exceeds " + std::to_string(kMaxHeaderBytes) + " bytes");
    }
    if (IsHttpProtocolError(ec) && ec != http::error::end_of_stream &&
        ec != http::error::partial_message) {
      return WriteError(400, "malformed request: " + ec.message());
    }
    // The peer closed (between or within requests), timed out, reset, or Stop() closed the
    // socket: there is nobody to answer.
    Close();
  }

  // Answers an unreadable request and closes: the rest of the stream cannot be trusted.
  void WriteError(int status, const std::string& message) {
    Prepare(ErrorResponse(status, message), 11, /*head=*/false, /*close=*/true);
    Write(/*close=*/true);
  }

  void Dispatch() {
    auto& req = parser_->get();
    HttpRequest request;
    request.method = std::string(req.method_string());
    const std::string_view target(req.target().data(), req.target().size());
    const std::size_t question = target.find('?');
    request.target = std::string(target.substr(0, question));
    if (question != std::string_view::npos) request.query = std::string(target.substr(question + 1));
    request.authorization = std::string(req[http::field::authorization]);
    for (const auto& field : req) {
      request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    request.body = std::move(req.body());

    const bool close = !req.keep_alive();
    Prepare(CallHandler(request), req.version(), req.method() == http::verb::head, close);
    Write(close);
  }

  HttpResponse CallHandler(const HttpRequest& request) {
    try {
      return handler_(request);
    } catch (const std::exception& e) {
      return ErrorResponse(500, std::string("handler failed: ") + e.what());
    } catch (...) {
      return ErrorResponse(500, "handler failed with a non-standard exception");
    }
  }

  void Prepare(HttpResponse r, unsigned version, bool head, bool close) {
    if (r.status < 200 || r.status > 599) {
      r = ErrorResponse(500, "handler returned invalid HTTP status " + std::to_string(r.status));
    } else if (r.content_type.find_first_of("\r\n") != std::string::npos) {
      r = ErrorResponse(500, "handler returned a Content-Type with a line break: '" +
                                 r.content_type + "'");
    }
    response_ = {};
    response_.version(version);
    response_.result(static_cast<unsigned>(r.status));
    response_.set(http::field::server, "shewhart");
    if (!r.content_type.empty()) response_.set(http::field::content_type, r.content_type);
    response_.keep_alive(!close);
    if (r.status == 204 || r.status == 304) return;  // no body, no Content-Length
    response_.content_length(r.body.size());
    if (!head) response_.body() = std::move(r.body);
  }

  void Write(bool close) {
    stream_.expires_after(kIoTimeout);
    http::async_write(stream_, response_,
                      [self = shared_from_this(), close](beast::error_code ec, std::size_t) {
                        if (ec) return self->Close();
                        if (close) return self->LingeringClose();
                        self->ReadHeader();
                      });
  }

  // Half-closes, then discards what the peer still sends until it closes or kLingerTimeout
  // passes, so that closing with unread data does not reset the answer away.
  void LingeringClose() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(kLingerTimeout);
    Drain();
  }

  void Drain() {
    stream_.async_read_some(net::buffer(drain_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (ec) return self->Close();
                              self->Drain();
                            });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::empty_body> continue_;
  http::response<http::string_body> response_;
  std::array<char, 4096> drain_{};
  const HttpHandler& handler_;  // owned by HttpServer, outlives every session
};

}  // namespace

// Everything that exists while the server is started. After Start() returns, the members are
// touched on the server thread only, except `thread` (owner) and `ioc` (post/stop are safe).
struct HttpServer::Impl {
  explicit Impl(const HttpHandler& h) : handler(h) {}

  Status Listen(const tcp::endpoint& endpoint, const std::string& listen) {
    beast::error_code ec;
    const auto failed = [&](const char* what) {
      return Unavailable(std::string("cannot ") + what + " " + EndpointText(endpoint) +
                         " (listen address '" + listen + "'): " + ec.message());
    };
    acceptor.open(endpoint.protocol(), ec);
    if (ec) return failed("open a socket for");
    acceptor.set_option(net::socket_base::reuse_address(true), ec);
    if (ec) return failed("set SO_REUSEADDR for");
    acceptor.bind(endpoint, ec);
    if (ec) return failed("bind");
    acceptor.listen(net::socket_base::max_listen_connections, ec);
    if (ec) return failed("listen on");
    return Status::Ok();
  }

  void DoAccept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
      OnAccept(ec, std::move(socket));
    });
  }

  void OnAccept(beast::error_code ec, tcp::socket socket) {
    // An accept that completed just before CloseAll() ran is dropped with its socket.
    if (stopping || ec == net::error::operation_aborted) return;
    if (ec) {
      // E.g. EMFILE: the pending connection stays queued, so retrying at once would spin.
      accept_retry.expires_after(kAcceptRetryDelay);
      accept_retry.async_wait([this](beast::error_code wait_ec) {
        if (!wait_ec && !stopping) DoAccept();
      });
      return;
    }
    try {
      beast::error_code ignored;
      std::erase_if(sessions, [](const std::weak_ptr<Session>& s) { return s.expired(); });
      if (sessions.size() >= max_connections) {
        // Full: told so at once and closed, so that idle or half-open clients cannot take the
        // descriptors the sources and the store need (nor /health's).
        static constexpr std::string_view kFull =
            "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: application/json\r\n"
            "Content-Length: 46\r\n\r\n{\"error\":\"too many connections; try again\"}\n";
        refused.fetch_add(1, std::memory_order_relaxed);  // before the client can see the answer
        socket.non_blocking(true, ignored);
        (void)socket.write_some(net::buffer(kFull.data(), kFull.size()), ignored);
        socket.close(ignored);
        DoAccept();
        return;
      }
      socket.set_option(tcp::no_delay(true), ignored);
      auto session = std::make_shared<Session>(std::move(socket), handler);
      sessions.push_back(session);
      session->Start();
    } catch (const std::exception& e) {
      // Out of memory for one connection: drop it, keep accepting.
      spdlog::warn("http server: dropping a connection: {}", e.what());
    }
    DoAccept();
  }

  // Runs on the server thread. Once the pending operations finish with errors, run() returns.
  void CloseAll() {
    stopping = true;
    beast::error_code ignored;
    acceptor.close(ignored);
    accept_retry.cancel();
    for (const auto& weak : sessions) {
      if (auto session = weak.lock()) session->Close();
    }
    sessions.clear();
  }

  void Run() {
    for (;;) {
      try {
        ioc.run();
        return;
      } catch (const std::exception& e) {
        // Only allocation failures can get here (handler exceptions are caught per request);
        // the connection concerned is lost, the others keep being served.
        spdlog::error("http server: {}", e.what());
      } catch (...) {
        spdlog::error("http server: unknown exception");
      }
    }
  }

  const HttpHandler& handler;
  // Declared before the I/O objects that use it, so it is destroyed after them.
  net::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  net::steady_timer accept_retry{ioc};
  std::vector<std::weak_ptr<Session>> sessions;
  std::size_t max_connections = kDefaultMaxHttpConnections;
  std::atomic<std::uint64_t> refused{0};
  bool stopping = false;
  std::thread thread;
};

HttpServer::HttpServer(std::string listen, HttpHandler handler, int nice)
    : listen_(std::move(listen)), handler_(std::move(handler)), nice_(nice) {}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::SetMaxConnections(std::size_t n) { max_connections_ = std::max<std::size_t>(1, n); }

std::uint64_t HttpServer::refused() const { return impl_ ? impl_->refused.load(std::memory_order_relaxed) : 0; }

Status HttpServer::Start() {
  if (impl_) return FailedPrecondition("HTTP server on '" + listen_ + "' is already started");
  if (!handler_) return InvalidArgument("HTTP server on '" + listen_ + "' has an empty handler");
  ListenAddress address;
  SHEWHART_RETURN_IF_ERROR(ParseListen(listen_, &address));
  try {
    auto impl = std::make_unique<Impl>(handler_);
    impl->max_connections = max_connections_;

    beast::error_code ec;
    tcp::endpoint endpoint;
    const net::ip::address literal = net::ip::make_address(address.host, ec);
    if (!ec) {
      endpoint = tcp::endpoint(literal, address.port);
    } else {
      tcp::resolver resolver(impl->ioc);
      const auto results = resolver.resolve(address.host, address.port_text,
                                            tcp::resolver::passive | tcp::resolver::numeric_service, ec);
      if (ec || results.empty()) {
        return Unavailable("cannot resolve host '" + address.host + "' of listen address '" +
                           listen_ + "': " + (ec ? ec.message() : std::string("no addresses")));
      }
      endpoint = results.begin()->endpoint();
    }

    SHEWHART_RETURN_IF_ERROR(impl->Listen(endpoint, listen_));
    const tcp::endpoint bound = impl->acceptor.local_endpoint(ec);
    if (ec) {
      return Unavailable("cannot read the bound address of listen address '" + listen_ +
                         "': " + ec.message());
    }
    impl->DoAccept();
    Impl* raw = impl.get();
    impl->thread = std::thread([raw, nice = nice_] {
      SetThreadName("shw-http");
      if (nice > 0) {
        // Linux: the nice value of this thread only (PRIO_PROCESS with a thread id).
        const auto tid = static_cast<id_t>(gettid());
        errno = 0;
        const int inherited = getpriority(PRIO_PROCESS, tid);
        if (errno == 0 && setpriority(PRIO_PROCESS, tid, std::min(19, inherited + nice)) != 0) {
          spdlog::warn("http server: cannot lower the server thread's priority: {}", std::strerror(errno));
        }
      }
      raw->Run();
    });
    impl_ = std::move(impl);
    port_ = bound.port();
    return Status::Ok();
  } catch (const std::exception& e) {
    // Thread creation or an allocation failed; `impl` (if any) was destroyed unstarted.
    return Unavailable("cannot start HTTP server on '" + listen_ + "': " + e.what());
  }
}

void HttpServer::Stop() noexcept {
  if (!impl_) return;
  SHEWHART_CHECK(std::this_thread::get_id() != impl_->thread.get_id());
  Impl* impl = impl_.get();
  try {
    net::post(impl->ioc, [impl] { impl->CloseAll(); });
  } catch (...) {
    // Could not queue the orderly close: stop the loop; destroying `ioc` closes the rest.
    impl->ioc.stop();
  }
  if (impl->thread.joinable()) impl->thread.join();
  impl_.reset();
  port_ = 0;
}

}  // namespace shewhart::engine

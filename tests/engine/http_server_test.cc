#include "shewhart/engine/api/http_server.h"

#include <gtest/gtest.h>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace shewhart::engine {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

// Records every request the server hands over; the handler runs on the server thread.
class Recorder {
 public:
  void Add(const HttpRequest& request) {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(request);
  }
  std::vector<HttpRequest> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<HttpRequest> requests_;
};

// A handler with a few routes, enough to exercise the server.
HttpHandler RoutingHandler(Recorder* recorder) {
  return [recorder](const HttpRequest& request) -> HttpResponse {
    recorder->Add(request);
    if (request.target == "/api/alarms") return {.status = 200, .body = R"({"alarms":[]})"};
    if (request.target == "/echo") {
      return {.status = 201, .content_type = "text/plain", .body = request.body};
    }
    if (request.target == "/boom") throw std::runtime_error("exploded \"here\"");
    if (request.target == "/bad-status") return {.status = 42, .body = "{}"};
    if (request.target == "/no-content") return {.status = 204, .body = "dropped"};
    return {.status = 404, .body = R"({"error":"not found"})"};
  };
}

// A synchronous Beast client on one keep-alive connection to 127.0.0.1.
class Client {
 public:
  explicit Client(int port) : socket_(ioc_) {
    socket_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
  }

  http::response<http::string_body> Send(http::verb method, const std::string& target,
                                         const std::string& body = "",
                                         const std::string& authorization = "") {
    http::request<http::string_body> request(method, target, 11);
    request.set(http::field::host, "127.0.0.1");
    if (!authorization.empty()) request.set(http::field::authorization, authorization);
    request.body() = body;
    request.prepare_payload();
    http::write(socket_, request);
    return Read();
  }

  http::response<http::string_body> Read() {
    http::response<http::string_body> response;
    http::read(socket_, buffer_, response);
    return response;
  }

  tcp::socket& socket() { return socket_; }
  beast::flat_buffer& buffer() { return buffer_; }

 private:
  net::io_context ioc_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

TEST(HttpServerTest, ServesHandlerResponseOnEphemeralPort) {
  Recorder recorder;
  HttpServer server("127.0.0.1:0", RoutingHandler(&recorder));
  const Status status = server.Start();
  ASSERT_TRUE(status.ok()) << status.ToString();
  ASSERT_GT(server.port(), 0);

  Client client(server.port());
  const auto response = client.Send(http::verb::get, "/api/alarms?limit=5&since=now");
  EXPECT_EQ(response.result_int(), 200u);
  EXPECT_EQ(response.body(), R"({"alarms":[]})");
  EXPECT_EQ(response[http::field::content_type], "application/json");
  EXPECT_EQ(response[http::field::content_length], std::to_string(response.body().size()));
  EXPECT_EQ(response[http::field::server], "shewhart");

  const auto requests = recorder.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "GET");
  EXPECT_EQ(requests[0].target, "/api/alarms");
  EXPECT_EQ(requests[0].query, "limit=5&since=now");
  EXPECT_EQ(requests[0].body, "");
  EXPECT_EQ(requests[0].authorization, "");
  server.Stop();
}

// The server thread runs kHttpServerNice nicer than the thread that started it (capped at 19),
// or at the same priority with nice 0.
TEST(HttpServerTest, ServerThreadRunsNicerThanItsStarter) {
  errno = 0;
  const int mine = getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
  ASSERT_EQ(errno, 0);
  auto handler = [](const HttpRequest&) -> HttpResponse {
    return {.status = 200, .body = std::to_string(getpriority(PRIO_PROCESS, static_cast<id_t>(gettid())))};
  };
  HttpServer nicer("127.0.0.1:0", handler);
  ASSERT_TRUE(nicer.Start().ok());
  EXPECT_EQ(Client(nicer.port()).Send(http::verb::get, "/").body(),
            std::to_string(std::min(19, mine + kHttpServerNice)));
  nicer.Stop();
  HttpServer same("127.0.0.1:0", handler, 0);
  ASSERT_TRUE(same.Start().ok());
  EXPECT_EQ(Client(same.port()).Send(http::verb::get, "/").body(), std::to_string(mine));
  same.Stop();
  // The starting thread keeps its own.
  EXPECT_EQ(getpriority(PRIO_PROCESS, static_cast<id_t>(gettid())), mine);
}

TEST(HttpServerTest, PassesHandlerStatusThrough) {
  Recorder recorder;
  HttpServer server("127.0.0.1:0", RoutingHandler(&recorder));
  ASSERT_TRUE(server.Start().ok());
  Client client(server.port());
  const auto response = client.Send(http::verb::get, "/nowhere");
  EXPECT_EQ(response.result_int(), 404u);
  EXPECT_EQ(response.body(), R"({"error":"not found"})");
}

TEST(HttpServerTest, PostBodyAndAuthorizationReachHandler) {
  Recorder recorder;
  HttpServer server("127.0.0.1:0", RoutingHandler(&recorder));
  ASSERT_TRUE(server.Start().ok());
  Client client(server.port());
  const auto response =
      client.Send(http::verb::post, "/echo", R"({"hold":"line-3"})", "Bearer s3cret");
  EXPECT_EQ(response.result_int(), 201u);
  EXPECT_EQ(response[http::field::content_type], "text/plain");
  EXPECT_EQ(response.body(), R"({"hold":"line-3"})");

  const auto requests = recorder.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].target, "/echo");
  EXPECT_EQ(requests[0].query, "");
  EXPECT_EQ(requests[0].body, R"({"hold":"line-3"})");
  EXPECT_EQ(requests[0].authorization, "Bearer s3cret");
}

TEST(HttpServerTest, ThrowingHandlerYields500WithJsonErrorAndKeepsConnection) {
  Recorder recorder;
  HttpServer server("127.0.0.1:0", RoutingHandler(&recorder));
  ASSERT_TRUE(server.Start().ok());
  Client client(server.port());
  const auto failed = client.Send(http::verb::get, "/boom");
  EXPECT_EQ(failed.result_int(), 500u);
  EXPECT_EQ(failed[http::field::content_type], "application/json");
  EXPECT_EQ(failed.body(), R"({"error":"handler failed: exploded \"here\""})");
  EXPECT_TRUE(failed.keep_alive());

  const auto next = client.Send(http::verb::get, "/api/alarms");
  EXPECT_EQ(next.result_int(), 200u);
}

TEST(HttpServerTest, InvalidStatusFromHandlerYields500NamingIt) {
  Recorder recorder;
  HttpServer server("127.0.0.1:0", RoutingHandler(&recorder));
  ASSERT_TRUE(server.Start().ok());
  Client client(server.port());
  const auto response = client.Send(http::verb::get, "/bad-status");
  EXPECT_EQ(response.result_int(), 500u);
  EXPECT_EQ(response.body(), R"({"error":"handler returned invalid HTTP status 42"})");
}

TEST(HttpServerTest, NoContentResponseCarriesNoBody) {
  Recorder recorder;
  HttpServer server("127.0.0.1:0", RoutingHandler(&recorder));
  ASSERT_TRUE(server.Start().ok());
  Client client(server.port());
  const auto response = client.Send(http::verb::delete_, "/no-content");
  EXPECT_EQ(response.result_int(), 204u);
  EXPECT_EQ(response.body(), "");
  EXPECT_EQ(response.count(http::field::content_length), 0u);
  // The connection is still in step: the next answer is read correctly.
  EXPECT_EQ(client.Send(http::verb::get, "/api/alarms").result_int(), 200u);
}

TEST(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  Recorder recorder;
  HttpServer server("127.0.0.1:0", RoutingHandler(&recorder));
  ASSERT_TRUE(server.Start().ok());
  Client client(server.port());
  for (int i = 0; i < 3; ++i) {
    const auto response = client.Send(http::verb::post, "/echo", "n=" + std::to_string(i));
    EXPECT_EQ(response.result_int(), 201u);
    EXPECT_EQ(response.body(), "n=" + std::to_string(i));
    EXPECT_TRUE(response.keep_alive());
  }
  EXPECT_EQ(recorder.requests().size(), 3u);
}

TEST(HttpServerTest, HeadGetsContentLengthButNoBody) {
  Recorder recorder;
  HttpServer server("127.0.0.1:0", RoutingHandler(&recorder));
  ASSERT_TRUE(server.Start().ok());
  Client client(server.port());

  http::request<http::empty_body> head(http::verb::head, "/api/alarms", 11);
  head.set(http::field::host, "127.0.0.1");
  http::write(client.socket(), head);
  http::response_parser<http::empty_body> parser;
  parser.skip(true);  // a response to HEAD has no body whatever Content-Length says
  http::read(client.socket(), client.buffer(), parser);
  EXPECT_EQ(parser.get().result_int(), 200u);
  EXPECT_EQ(parser.get()[http::field::content_length], std::to_string(std::string(R"({"alarms":[]})").size()));
  ASSERT_EQ(recorder.requests().size(), 1u);
  EXPECT_EQ(recorder.requests()[0].method, "HEAD");

  // Had the body been sent, this read would see it instead of the next response.
  const auto next = client.Send(http::verb::get, "/nowhere");
  EXPECT_EQ(next.result_int(), 404u);
}

TEST(HttpServerTest, BodyOfExactlyOneMebibyteReachesHandler) {
  Recorder recorder;
  HttpServer server("127.0.0.1:0", RoutingHandler(&recorder));
  ASSERT_TRUE(server.Start().ok());
  Client client(server.port());
  const std::string body(kMaxHttpRequestBodyBytes, 'x');
  const auto response = client.Send(http::verb::post, "/echo", body);
  EXPECT_EQ(response.result_int(), 201u);
  EXPECT_EQ(response.body().size(), kMaxHttpRequestBodyBytes);
}

TEST(HttpServerTest, BodyOverOneMebibyteYields413WithoutCallingHandler) {
  Recorder recorder;
  HttpServer server("127.0.0.1:0", RoutingHandler(&recorder));
  ASSERT_TRUE(server.Start().ok());
  Client client(server.port());
  const std::string body(kMaxHttpRequestBodyBytes + 1, 'x');
  const auto response = client.Send(http::verb::post, "/echo", body);
  EXPECT_EQ(response.result_int(), 413u);
  EXPECT_EQ(response[http::field::content_type], "application/json");
  EXPECT_EQ(response.body(), R"({"error":"request body exceeds 1048576 bytes"})");
  EXPECT_FALSE(response.keep_alive());
  EXPECT_TRUE(recorder.requests().empty());
}

TEST(HttpServerTest, ExpectContinueGetsInterimResponseBeforeBody) {
  Recorder recorder;
  HttpServer server("127.0.0.1:0", RoutingHandler(&recorder));
  ASSERT_TRUE(server.Start().ok());
  Client client(server.port());

  http::request<http::string_body> request(http::verb::post, "/echo", 11);
  request.set(http::field::host, "127.0.0.1");
  request.set(http::field::expect, "100-continue");
  request.body() = "payload";
  request.prepare_payload();
  http::request_serializer<http::string_body> serializer(request);
  http::write_header(client.socket(), serializer);

  http::response<http::empty_body> interim;
  http::read(client.socket(), client.buffer(), interim);
  EXPECT_EQ(interim.result(), http::status::continue_);
  EXPECT_TRUE(recorder.requests().empty());

  http::write(client.socket(), serializer);
  const auto response = client.Read();
  EXPECT_EQ(response.result_int(), 201u);
  EXPECT_EQ(response.body(), "payload");
}

TEST(HttpServerTest, MalformedRequestYields400AndClose) {
  Recorder recorder;
  HttpServer server("127.0.0.1:0", RoutingHandler(&recorder));
  ASSERT_TRUE(server.Start().ok());
  Client client(server.port());
  net::write(client.socket(), net::buffer(std::string("this is not http\r\n\r\n")));
  const auto response = client.Read();
  EXPECT_EQ(response.result_int(), 400u);
  EXPECT_NE(response.body().find(R"({"error":"malformed request: )"), std::string::npos)
      << response.body();
  EXPECT_FALSE(response.keep_alive());
  EXPECT_TRUE(recorder.requests().empty());
}

TEST(HttpServerTest, MalformedListenStringIsInvalidArgumentNamingIt) {
  Recorder recorder;
  for (const std::string listen :
       {"127.0.0.1", "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:65536", "127.0.0.1:-1",
        ":9464", "::1:9464", "[::1:9464", "[]:9464"}) {
    HttpServer server(listen, RoutingHandler(&recorder));
    const Status status = server.Start();
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << listen << ": " << status.ToString();
    EXPECT_NE(status.message().find("'" + listen + "'"), std::string::npos) << status.message();
    EXPECT_EQ(server.port(), 0);
  }
}

TEST(HttpServerTest, EmptyHandlerIsInvalidArgument) {
  HttpServer server("127.0.0.1:0", HttpHandler());
  const Status status = server.Start();
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("empty handler"), std::string::npos) << status.message();
}

TEST(HttpServerTest, PortInUseIsUnavailableNamingAddressAndOsError) {
  Recorder recorder;
  HttpServer first("127.0.0.1:0", RoutingHandler(&recorder));
  ASSERT_TRUE(first.Start().ok());
  const std::string taken = "127.0.0.1:" + std::to_string(first.port());

  HttpServer second(taken, RoutingHandler(&recorder));
  const Status status = second.Start();
  EXPECT_EQ(status.code(), StatusCode::kUnavailable) << status.ToString();
  EXPECT_NE(status.message().find(taken), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("Address already in use"), std::string::npos) << status.message();
  EXPECT_EQ(second.port(), 0);

  // The first server is untouched, and the failed one can be stopped safely.
  second.Stop();
  Client client(first.port());
  EXPECT_EQ(client.Send(http::verb::get, "/api/alarms").result_int(), 200u);
}

// 1100 half-open connections under a 1024-descriptor limit took /health down: past the cap a
// connection is answered 503 at once and closed, and one slot freed serves again.
TEST(HttpServerTest, ConnectionsBeyondTheCapAreRefusedAtOnceAndServedAgainWhenOneCloses) {
  Recorder recorder;
  HttpServer server("127.0.0.1:0", RoutingHandler(&recorder));
  server.SetMaxConnections(3);
  ASSERT_TRUE(server.Start().ok());
  net::io_context ioc;
  std::vector<std::unique_ptr<tcp::socket>> idle;
  for (int i = 0; i < 2; ++i) {  // half-open: connected, never send a request
    idle.push_back(std::make_unique<tcp::socket>(ioc));
    idle.back()->connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(server.port())));
  }
  Client third(server.port());
  EXPECT_EQ(third.Send(http::verb::get, "/api/alarms").result_int(), 200) << "under the cap";
  tcp::socket fourth(ioc);
  fourth.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(server.port())));
  std::string answer;
  beast::error_code ec;
  char buf[256];
  for (;;) {
    const std::size_t n = fourth.read_some(net::buffer(buf), ec);
    answer.append(buf, n);
    if (ec) break;
  }
  EXPECT_EQ(answer.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0), 0u) << answer;
  EXPECT_NE(answer.find("too many connections"), std::string::npos) << answer;
  EXPECT_EQ(ec, net::error::eof) << "closed after the answer";
  EXPECT_EQ(server.refused(), 1u);
  idle.front()->close();
  idle.erase(idle.begin());
  bool served = false;
  for (int attempt = 0; attempt < 50 && !served; ++attempt) {  // the server sees the close
    try {
      Client again(server.port());
      served = again.Send(http::verb::get, "/api/alarms").result_int() == 200;
    } catch (const std::exception&) {
    }
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(served) << "a freed slot serves again";
}

TEST(HttpServerTest, StartTwiceIsFailedPrecondition) {
  Recorder recorder;
  HttpServer server("127.0.0.1:0", RoutingHandler(&recorder));
  ASSERT_TRUE(server.Start().ok());
  const int port = server.port();
  const Status status = server.Start();
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("already started"), std::string::npos) << status.message();
  EXPECT_EQ(server.port(), port);
}

TEST(HttpServerTest, StopClosesIdleConnectionsPromptlyAndIsIdempotent) {
  Recorder recorder;
  HttpServer server("127.0.0.1:0", RoutingHandler(&recorder));
  ASSERT_TRUE(server.Start().ok());
  Client client(server.port());
  ASSERT_EQ(client.Send(http::verb::get, "/api/alarms").result_int(), 200u);

  const auto before = std::chrono::steady_clock::now();
  server.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(5));
  EXPECT_EQ(server.port(), 0);

  // The kept-alive connection was closed by the server.
  http::response<http::string_body> response;
  beast::error_code ec;
  http::read(client.socket(), client.buffer(), response, ec);
  EXPECT_EQ(ec, http::error::end_of_stream) << ec.message();

  server.Stop();
  EXPECT_EQ(server.port(), 0);
}

TEST(HttpServerTest, StopWithoutStartIsSafe) {
  Recorder recorder;
  HttpServer server("127.0.0.1:0", RoutingHandler(&recorder));
  server.Stop();
  server.Stop();
  EXPECT_EQ(server.port(), 0);
}

TEST(HttpServerTest, RestartsAfterStop) {
  Recorder recorder;
  HttpServer server("127.0.0.1:0", RoutingHandler(&recorder));
  ASSERT_TRUE(server.Start().ok());
  server.Stop();
  const Status status = server.Start();
  ASSERT_TRUE(status.ok()) << status.ToString();
  Client client(server.port());
  EXPECT_EQ(client.Send(http::verb::get, "/api/alarms").result_int(), 200u);
}

TEST(HttpServerTest, ResolvesHostName) {
  Recorder recorder;
  HttpServer server("localhost:0", RoutingHandler(&recorder));
  const Status status = server.Start();
  ASSERT_TRUE(status.ok()) << status.ToString();

  // "localhost" may have resolved to ::1 or 127.0.0.1: try each, as a client would.
  net::io_context ioc;
  tcp::resolver resolver(ioc);
  tcp::socket socket(ioc);
  net::connect(socket, resolver.resolve("localhost", std::to_string(server.port())));
  http::request<http::empty_body> request(http::verb::get, "/api/alarms", 11);
  request.set(http::field::host, "localhost");
  http::write(socket, request);
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(socket, buffer, response);
  EXPECT_EQ(response.result_int(), 200u);
}

}  // namespace
}  // namespace shewhart::engine

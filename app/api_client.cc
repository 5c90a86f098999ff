#include "api_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>

namespace shewhart::app {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

// "http://host:port" -> host, port. Only plain HTTP (the engine serves nothing else).
bool ParseUrl(const std::string& url, std::string& host, std::string& port) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) return false;
  std::string rest = url.substr(scheme.size());
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  const std::size_t colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == rest.size()) return false;
  host = rest.substr(0, colon);
  port = rest.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return port.find_first_not_of("0123456789") == std::string::npos;
}

}  // namespace

std::optional<ApiReply> CallApi(const std::string& url, const std::string& method, const std::string& target,
                                const std::string& body, const std::string& token, std::string& error) {
  std::string host, port;
  if (!ParseUrl(url, host, port)) {
    error = "--url: expected http://HOST:PORT, found '" + url + "'";
    return std::nullopt;
  }
  const http::verb verb = http::string_to_verb(method);
  if (verb == http::verb::unknown) {
    error = "unknown HTTP method '" + method + "'";
    return std::nullopt;
  }
  try {
    boost::asio::io_context io;
    tcp::resolver resolver(io);
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(15));
    stream.connect(resolver.resolve(host, port));
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, host);
    req.set(http::field::user_agent, "shewhart-cli");
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    if (verb == http::verb::post) {
      req.set(http::field::content_type, "application/json");
      req.body() = body;
      req.prepare_payload();
    }
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    return ApiReply{static_cast<int>(res.result_int()), res.body()};
  } catch (const std::exception& e) {
    error = "cannot reach the engine at " + url + ": " + e.what();
    return std::nullopt;
  }
}

std::string ReadToken(const std::string& token, const std::string& token_file, std::string& error) {
  if (!token.empty()) return token;
  if (!token_file.empty()) {
    std::ifstream in(token_file);
    std::string line;
    if (!in || !std::getline(in, line)) {
      error = "cannot read a token from '" + token_file + "'";
      return "";
    }
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    return line;
  }
  if (const char* env = std::getenv("SHEWHART_TOKEN"); env && *env) return env;
  error = "no token: give --token-file FILE or set SHEWHART_TOKEN (a token of the engine's http.tokens file)";
  return "";
}

std::string ApiError(const ApiReply& reply) {
  const auto j = nlohmann::json::parse(reply.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("error") && j["error"].is_string()) return j["error"].get<std::string>();
  return reply.body;
}

}  // namespace shewhart::app

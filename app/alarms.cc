#include "alarms.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <optional>

namespace shewhart::app {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

struct Reply {
  int status = 0;
  std::string body;
};

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

std::optional<Reply> Call(const AlarmCommand& c, http::verb verb, const std::string& target, const std::string& body,
                          const std::string& token, std::string& error) {
  std::string host, port;
  if (!ParseUrl(c.url, host, port)) {
    error = "--url: expected http://HOST:PORT, found '" + c.url + "'";
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
    return Reply{static_cast<int>(res.result_int()), res.body()};
  } catch (const std::exception& e) {
    error = "cannot reach the engine at " + c.url + ": " + e.what();
    return std::nullopt;
  }
}

std::string Token(const AlarmCommand& c, std::string& error) {
  if (!c.token.empty()) return c.token;
  if (!c.token_file.empty()) {
    std::ifstream in(c.token_file);
    std::string line;
    if (!in || !std::getline(in, line)) {
      error = "cannot read a token from '" + c.token_file + "'";
      return "";
    }
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    return line;
  }
  if (const char* env = std::getenv("SHEWHART_TOKEN"); env && *env) return env;
  error = "no token: give --token-file FILE or set SHEWHART_TOKEN (a token of the engine's http.tokens file)";
  return "";
}

int Report(const char* what, const AlarmCommand& c, const std::optional<Reply>& reply, const std::string& error) {
  if (!reply) {
    std::fprintf(stderr, "shewhart alarms %s: %s\n", what, error.c_str());
    return 2;
  }
  nlohmann::json j = nlohmann::json::parse(reply->body, nullptr, /*allow_exceptions=*/false);
  if (reply->status >= 300) {
    const std::string msg = j.is_object() && j.contains("error") ? j["error"].get<std::string>() : reply->body;
    std::fprintf(stderr, "shewhart alarms %s: alarm %lld: %s (HTTP %d)\n", what, c.alarm_id, msg.c_str(), reply->status);
    return reply->status >= 500 ? 2 : 1;
  }
  if (c.json || !j.is_object()) {
    std::printf("%s\n", reply->body.c_str());
    return 0;
  }
  std::printf("alarm #%lld %s: %s, state %s, tier %d, %s since %s\n", c.alarm_id, j.value("characteristic", "").c_str(),
              j.value("rule", "").c_str(), j.value("state", "").c_str(), j.value("tier", 0),
              j["scope"].dump().c_str(), j.value("window_start", "").c_str());
  if (j.contains("actions")) {
    for (const auto& a : j["actions"]) {
      std::printf("  %s %s by %s%s%s%s\n", a.value("ts", "").c_str(), a.value("kind", "").c_str(),
                  a.value("user", "").c_str(), a.contains("cause") ? (": cause " + a.value("cause", "")).c_str() : "",
                  a.contains("action") ? (", action " + a.value("action", "")).c_str() : "",
                  a.contains("note") ? (" -- " + a.value("note", "")).c_str() : "");
    }
  }
  return 0;
}

}  // namespace

int AlarmAck(const AlarmCommand& c) {
  std::string error;
  const std::string token = Token(c, error);
  if (token.empty()) return std::fprintf(stderr, "shewhart alarms ack: %s\n", error.c_str()), 2;
  nlohmann::json body{{"cause", c.cause}, {"action", c.action}};
  if (!c.note.empty()) body["note"] = c.note;
  auto reply = Call(c, http::verb::post, "/api/alarms/" + std::to_string(c.alarm_id) + "/ack", body.dump(), token, error);
  return Report("ack", c, reply, error);
}

int AlarmResolve(const AlarmCommand& c) {
  std::string error;
  const std::string token = Token(c, error);
  if (token.empty()) return std::fprintf(stderr, "shewhart alarms resolve: %s\n", error.c_str()), 2;
  nlohmann::json body = nlohmann::json::object();
  if (!c.note.empty()) body["note"] = c.note;
  auto reply =
      Call(c, http::verb::post, "/api/alarms/" + std::to_string(c.alarm_id) + "/resolve", body.dump(), token, error);
  return Report("resolve", c, reply, error);
}

int AlarmShow(const AlarmCommand& c) {
  std::string error;
  auto reply = Call(c, http::verb::get, "/api/alarms/" + std::to_string(c.alarm_id), "", "", error);
  return Report("show", c, reply, error);
}

}  // namespace shewhart::app

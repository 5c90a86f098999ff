#include "alarms.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <optional>

#include "api_client.h"
#include "shewhart/engine/model/json.h"

namespace shewhart::app {

namespace {

std::optional<ApiReply> Call(const AlarmCommand& c, const std::string& method, const std::string& target,
                              const std::string& body, const std::string& token, std::string& error) {
  return CallApi(c.url, method, target, body, token, error);
}

std::string Token(const AlarmCommand& c, std::string& error) { return ReadToken(c.token, c.token_file, error); }

int Report(const char* what, const AlarmCommand& c, const std::optional<ApiReply>& reply, const std::string& error) {
  if (!reply) {
    std::fprintf(stderr, "shewhart alarms %s: %s\n", what, error.c_str());
    return 2;
  }
  nlohmann::json j = nlohmann::json::parse(reply->body, nullptr, /*allow_exceptions=*/false);
  if (reply->status >= 300) {
    const std::string msg = ApiError(*reply);
    std::fprintf(stderr, "shewhart alarms %s: alarm %lld: %s (HTTP %d)\n", what, c.alarm_id, msg.c_str(),
                 reply->status);
    return reply->status >= 500 ? 2 : 1;
  }
  if (c.json || !j.is_object()) {
    std::printf("%s\n", reply->body.c_str());
    return 0;
  }
  std::printf("alarm #%lld %s: %s, state %s, tier %d, %s since %s\n", c.alarm_id, j.value("characteristic", "").c_str(),
              j.value("rule", "").c_str(), j.value("state", "").c_str(), j.value("tier", 0),
              j["scope"].dump(-1, ' ', false, engine::kReplaceInvalidUtf8).c_str(),
              j.value("window_start", "").c_str());
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
  auto reply = Call(c, "POST", "/api/alarms/" + std::to_string(c.alarm_id) + "/ack",
                    body.dump(-1, ' ', false, engine::kReplaceInvalidUtf8), token, error);
  return Report("ack", c, reply, error);
}

int AlarmResolve(const AlarmCommand& c) {
  std::string error;
  const std::string token = Token(c, error);
  if (token.empty()) return std::fprintf(stderr, "shewhart alarms resolve: %s\n", error.c_str()), 2;
  nlohmann::json body = nlohmann::json::object();
  if (!c.note.empty()) body["note"] = c.note;
  auto reply = Call(c, "POST", "/api/alarms/" + std::to_string(c.alarm_id) + "/resolve",
                    body.dump(-1, ' ', false, engine::kReplaceInvalidUtf8), token, error);
  return Report("resolve", c, reply, error);
}

int AlarmShow(const AlarmCommand& c) {
  std::string error;
  auto reply = Call(c, "GET", "/api/alarms/" + std::to_string(c.alarm_id), "", "", error);
  return Report("show", c, reply, error);
}

}  // namespace shewhart::app

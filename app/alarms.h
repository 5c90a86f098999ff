#pragma once
// `shewhart alarms ack|resolve|show`: a person's actions on an alarm of a running engine, through
// its HTTP API (POST /api/alarms/ID/ack, /resolve; GET /api/alarms/ID) with a bearer token.

#include <string>

namespace shewhart::app {

struct AlarmCommand {
  std::string url = "http://127.0.0.1:9464";  // the engine's http.listen
  std::string token;                          // the bearer token (or token_file)
  std::string token_file;                     // a file whose first line is the token
  long long alarm_id = 0;
  std::string cause, action, note;
  bool json = false;
};

// Exit codes: 0 done; 1 refused by the engine (4xx: unknown code, already acknowledged, no such
// alarm, bad token); 2 usage or environment (no token, bad URL, engine unreachable, 5xx).
int AlarmAck(const AlarmCommand& c);
int AlarmResolve(const AlarmCommand& c);
int AlarmShow(const AlarmCommand& c);

}  // namespace shewhart::app

// What people ask of the responder: acknowledge or resolve an alarm, dispose of held units.
#include "shewhart/engine/respond/responder.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <climits>
#include <limits>
#include <unordered_set>

#include "shewhart/base/thread.h"
#include "shewhart/engine/model/time_format.h"
#include "shewhart/engine/respond/silence.h"
#include "shewhart/engine/store/audit.h"
#include "shewhart/engine/store/record_json.h"

namespace shewhart::engine {

// A person's acknowledgement (state open -> acknowledged, with cause and action codes) or
// resolution by hand of alarm `id`; on the responder's thread. Recorded in the store.
ApiResponse Responder::Act(std::int64_t id, AlarmAction act) {
  AlarmRecord* open = nullptr;
  Key open_key;
  for (auto& [key, a] : open_) {
    if (a.id == id) open = &a, open_key = key;
  }
  AlarmRecord stored;
  if (!open) {
    auto got = store_.GetAlarm(id);
    if (!got.ok()) {
      return got.status().code() == StatusCode::kNotFound ? ApiError(404, "no alarm " + std::to_string(id))
                                                          : ApiError(503, got.status().message());
    }
    stored = *got;
  }
  AlarmRecord& a = open ? *open : stored;
  if (act.kind == "acknowledged" && a.state == "acknowledged") {
    return ApiError(409, "alarm " + std::to_string(id) + " is acknowledged already");
  }
  if (act.kind == "resolved" && a.state == "resolved") {
    return ApiError(409, "alarm " + std::to_string(id) + " is resolved already");
  }
  Status st = store_.InsertAlarmAction(act);
  if (!st.ok()) return ApiError(503, st.message());
  if (act.kind == "acknowledged") {
    // A resolved alarm keeps its state: the cause is recorded after the fact.
    if (a.state == "open") a.state = "acknowledged";
  } else {
    a.state = "resolved";
    a.resolved_ts = act.ts;
  }
  st = store_.UpdateAlarm(a);
  if (!st.ok()) return ApiError(503, st.message());
  {
    Json audit{{"alarm", a.id}, {"state", a.state}};
    if (!act.cause.empty()) audit["cause"] = act.cause;
    if (!act.action.empty()) audit["action"] = act.action;
    if (!act.note.empty()) audit["note"] = act.note;
    Audit(act.kind == "acknowledged" ? "alarm.acknowledged" : "alarm.resolved", "alarm/" + std::to_string(a.id),
             audit, act.user);
  }
  spdlog::info("alarm #{} {} by {}{}{}{}", a.id, act.kind, act.user, act.cause.empty() ? "" : ": cause " + act.cause,
               act.action.empty() ? "" : ", action " + act.action, act.note.empty() ? "" : " (" + act.note + ")");
  if (listener_) listener_->OnAlarm(a, false);
  Json body = AlarmJson(a);
  if (act.kind == "resolved") {
    SendResolved(a);
    CloseHoldIfDone(a);
  }
  if (open && act.kind == "resolved") {
    // The judging threads claim against it once it is stored (a signal claimed before then is
    // counted on it: Handle). Before Close: `a` is the open record Close erases.
    store_.AfterCommit([this, open_key, id = a.id, ts = act.ts] { directory_.Resolved(open_key, id, ts); });
    Close(open_key);  // the hold keeps its units, stops growing
  }
  UpdateGauges();
  return ApiResponse{200, "application/json", body.dump(-1, ' ', false, kReplaceInvalidUtf8)};
}

// Held units of one hold disposed of by a person (Engine::HoldApi checked the request): in
// the store (all or nothing), then audited as hold.disposed with the user as actor.
ApiResponse Responder::Dispose(const std::vector<std::string>& serials, const Disposition& d) {
  auto done = store_.Dispose(serials, d);
  if (!done.ok()) {
    const StatusCode code = done.status().code();
    const int status = code == StatusCode::kNotFound ? 404 : code == StatusCode::kFailedPrecondition ? 409 : 503;
    return ApiError(status, done.status().message());
  }
  Json units = Json::array();
  for (const auto& r : *done) units.push_back(r.serial);
  Json body{{"hold", d.hold_id}, {"state", d.state}, {"reason", d.reason}, {"meaning", d.meaning},
            {"count", done->size()}, {"units", units}};
  if (!d.note.empty()) body["note"] = d.note;
  Audit("hold.disposed", "hold/" + std::to_string(d.hold_id), body, d.user);
  spdlog::info("hold #{}: {} units {} by {} ({}, {})", d.hold_id, done->size(), d.state, d.user, d.reason, d.meaning);
  // The counts move by what changed (a recount would read every row of held_units).
  const auto n = static_cast<std::int64_t>(done->size());
  held_total_ -= n;
  hold_counts_.units[d.state] += n;
  auto hold = store_.GetHold(d.hold_id);
  if (hold.ok()) {
    body["held"] = hold->held;
    body["hold_state"] = hold->state;
    if (hold->state == "closed") {  // only units of an open hold can be disposed of: this closed it
      holds_open_count_ -= 1;
      hold_counts_.holds["closed"] += 1;
    }
  } else {
    Fail(hold.status());
  }
  UpdateGauges();
  return ApiResponse{200, "application/json", body.dump(-1, ' ', false, kReplaceInvalidUtf8)};
}

// A person's request (Act, Dispose) as one unit of work: an answer of 500 or more rolls it
// back; a commit that fails answers 503.
ApiResponse Responder::Request(const std::function<ApiResponse()>& body) {
  ApiResponse r;
  Status st = RunUnit([&] {
    r = body();
    if (r.status >= 500) Fail(Unavailable(r.body));
  });
  if (!st.ok() && r.status < 500)
    r = ApiError(503, st.message());
  return r;
}

}  // namespace shewhart::engine

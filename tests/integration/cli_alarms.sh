#!/usr/bin/env bash
# A person acknowledges and resolves an alarm of a running engine: `shewhart alarms ack` with a
# bearer token records cause and action codes; bad tokens, unknown codes and a second ack are
# refused with clear errors and change nothing; `resolve` ends the alarm (its hold stops
# growing); everything survives a restart.
source "$(dirname "$0")/lib.sh"
HTTP=$(free_port)
cat > "$WORK/tokens.yaml" <<'YAML'
anna: "anna-0123456789abcdef"
bob: "bob-0123456789abcdef"
YAML
echo "anna-0123456789abcdef" >"$WORK/anna.token"
echo "wrong-0123456789abcdef" >"$WORK/wrong.token"
cat > "$WORK/in.jsonl" <<'JSONL'
{"characteristic":"bore","value":10.0,"ts":"2026-11-27T08:00:00Z","serial":"U1","station":"A"}
{"characteristic":"bore","value":10.9,"ts":"2026-11-27T08:00:01Z","serial":"U2","station":"A"}
JSONL
cat > "$WORK/config.yaml" <<YAML
sources:
  - file: { path: "$WORK/in.jsonl" }
store: { sqlite: "$WORK/s.db" }
engine: { past_tolerance: 36500d }   # fixed event times, long past
http: { listen: "127.0.0.1:$HTTP", tokens: "$WORK/tokens.yaml" }
codes: { causes: [tool_wear, material], actions: [replaced_tool, adjusted] }
characteristics:
  - id: bore
    chart: { type: individuals, mr_rules: false }
    limits: { mean: 10, sigma: 0.1 }
    rules: [nelson.1]
YAML
start_engine() {
  "$SHEWHART" run -c "$WORK/config.yaml" >>"$WORK/run.log" 2>>"$WORK/engine.log" &
  ENGINE=$!
  PIDS+=("$ENGINE")
  wait_http "http://127.0.0.1:$HTTP/health" 10 || fail "engine did not answer on port $HTTP"
}
start_engine
has_alarm() { curl -fs "http://127.0.0.1:$HTTP/api/alarms/1" >/dev/null; }
WAIT_S=10 wait_for has_alarm || fail "alarm 1 was not opened"
A=("$SHEWHART" alarms)
U=(--url "http://127.0.0.1:$HTTP")
"${A[@]}" show 1 "${U[@]}" | contains "state open" || fail "alarm 1 is not open"
rc=0; "${A[@]}" ack 1 "${U[@]}" --cause tool_wear --action replaced_tool 2>"$WORK/err.txt" || rc=$?
[ "$rc" -eq 2 ] && grep -q "no token" "$WORK/err.txt" || fail "ack without a token: rc $rc $(cat "$WORK/err.txt")"
rc=0; "${A[@]}" ack 1 "${U[@]}" --token-file "$WORK/wrong.token" --cause tool_wear --action replaced_tool \
  2>"$WORK/err.txt" || rc=$?
[ "$rc" -eq 1 ] && grep -q "unknown token (HTTP 401)" "$WORK/err.txt" || fail "bad token: rc $rc $(cat "$WORK/err.txt")"
rc=0; "${A[@]}" ack 1 "${U[@]}" --token-file "$WORK/anna.token" --cause gremlins --action replaced_tool \
  2>"$WORK/err.txt" || rc=$?
[ "$rc" -eq 1 ] && grep -q "unknown cause code 'gremlins'; the config's codes.causes: tool_wear, material" "$WORK/err.txt" \
  || fail "unknown code: rc $rc $(cat "$WORK/err.txt")"
"${A[@]}" show 1 "${U[@]}" | contains "state open" || fail "a refused ack changed the alarm"
"${A[@]}" ack 1 "${U[@]}" --token-file "$WORK/anna.token" --cause tool_wear --action replaced_tool \
  --note "insert chipped" >"$WORK/ack.txt" || fail "ack failed: $(cat "$WORK/ack.txt")"
grep -q "state acknowledged" "$WORK/ack.txt" || fail "ack did not acknowledge: $(cat "$WORK/ack.txt")"
rc=0; SHEWHART_TOKEN="bob-0123456789abcdef" "${A[@]}" ack 1 "${U[@]}" --cause material --action adjusted \
  2>"$WORK/err.txt" || rc=$?
[ "$rc" -eq 1 ] && grep -q "acknowledged already (HTTP 409)" "$WORK/err.txt" || fail "second ack: rc $rc $(cat "$WORK/err.txt")"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$HTTP/api/alarms/1/resolve")
[ "$code" = 401 ] || fail "resolve without a token answered $code"
SHEWHART_TOKEN="bob-0123456789abcdef" "${A[@]}" resolve 1 "${U[@]}" --note "tool replaced, checked 5 parts" \
  >"$WORK/resolve.txt" || fail "resolve failed"
grep -q "state resolved" "$WORK/resolve.txt" || fail "not resolved: $(cat "$WORK/resolve.txt")"
rc=0; "${A[@]}" show 99 "${U[@]}" 2>"$WORK/err.txt" || rc=$?
[ "$rc" -eq 1 ] && grep -q "no alarm 99" "$WORK/err.txt" || fail "unknown alarm: rc $rc $(cat "$WORK/err.txt")"
# The engine's own lines: the acknowledgement as such, the resolution with its time (not the epoch).
grep -q '^ACK    #1  bore .* acknowledged$' "$WORK/run.log" || fail "no ACK line: $(cat "$WORK/run.log")"
grep -q '^RESOLVED #1 .* in control again at 20[0-9][0-9]-' "$WORK/run.log" || fail "no RESOLVED line with its time: $(cat "$WORK/run.log")"
! grep -q '1970-01-01' "$WORK/run.log" || fail "a line of the engine prints the epoch: $(grep 1970-01-01 "$WORK/run.log")"
# SIGHUP does not end the engine (no reload yet: logged and ignored).
kill -HUP "$ENGINE"
sleep 0.3
kill -0 "$ENGINE" 2>/dev/null || fail "SIGHUP ended the engine"
grep -q "SIGHUP: ignored" "$WORK/engine.log" || fail "SIGHUP not logged"
term_and_check "$ENGINE" 2
start_engine
"${A[@]}" show 1 "${U[@]}" --json >"$WORK/show.json"
grep -q '"state":"resolved"' "$WORK/show.json" || fail "resolution lost over a restart: $(cat "$WORK/show.json")"
grep -q '"kind":"acknowledged","ts":"[^"]*","user":"anna","cause":"tool_wear","action":"replaced_tool","note":"insert chipped"' \
  "$WORK/show.json" || fail "acknowledgement lost: $(cat "$WORK/show.json")"
grep -q '"kind":"resolved","ts":"[^"]*","user":"bob","note":"tool replaced, checked 5 parts"' "$WORK/show.json" \
  || fail "resolution record lost: $(cat "$WORK/show.json")"
term_and_check "$ENGINE" 2
echo "cli_alarms: ok"

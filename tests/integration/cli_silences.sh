#!/usr/bin/env bash
# A person silences station st2 through `shewhart silences add` (bearer token); the engine then
# reads a signal at st1 and one at st2 (a second run on the same store: a file source is read
# at start). Both alarms are recorded (/api/alarms, their holds), but only st1's exec hook is
# called; st2's tier is audited as alarm.silenced. `silences list` shows the silence, `expire`
# ends it; bad tokens, unknown labels and a second expiry are refused with clear errors.
source "$(dirname "$0")/lib.sh"
HTTP=$(free_port)
mkdir -p "$WORK/calls"
cp "$ROOT/tests/engine/data/record_hook.sh" "$WORK/hook.sh"
chmod +x "$WORK/hook.sh"
cat >"$WORK/tokens.yaml" <<'YAML'
anna: "anna-0123456789abcdef"
YAML
echo "anna-0123456789abcdef" >"$WORK/anna.token"
echo "wrong-0123456789abcdef" >"$WORK/wrong.token"
cat >"$WORK/in.jsonl" <<'JSONL'
{"characteristic":"bore","value":10.0,"ts":"2026-11-27T08:00:00Z","serial":"U1","station":"st1"}
{"characteristic":"bore","value":10.9,"ts":"2026-11-27T08:00:01Z","serial":"U2","station":"st1"}
{"characteristic":"bore","value":10.0,"ts":"2026-11-27T08:00:02Z","serial":"U3","station":"st2"}
{"characteristic":"bore","value":10.9,"ts":"2026-11-27T08:00:03Z","serial":"U4","station":"st2"}
JSONL
body() {
  cat <<YAML
store: { sqlite: "$WORK/s.db" }
engine: { past_tolerance: 36500d }   # fixed event times, long past
http: { listen: "127.0.0.1:$HTTP", tokens: "$WORK/tokens.yaml" }
characteristics:
  - id: bore
    chart: { type: individuals, mr_rules: false }
    limits: { mean: 10, sigma: 0.1 }
    rules: [nelson.1]
    response: line
responses:
  line: { tiers: [ { tier: 1, when: { signal: any }, do: [log, quarantine, notify] } ] }
hooks:
  notify: { exec: { argv: ["$WORK/hook.sh", "$WORK/calls", "0", "{station}"], retries: 0 } }
YAML
}
body >"$WORK/idle.yaml"  # no source: the first run only takes the silence
{ echo "sources: [ { file: { path: \"$WORK/in.jsonl\" } } ]"; body; } >"$WORK/config.yaml"
start_engine() {
  "$SHEWHART" run -c "$1" >>"$WORK/run.log" 2>>"$WORK/engine.log" &
  ENGINE=$!
  PIDS+=("$ENGINE")
  wait_http "http://127.0.0.1:$HTTP/health" 10 || fail "engine did not answer on port $HTTP"
}
S=("$SHEWHART" silences)
U=(--url "http://127.0.0.1:$HTTP")
start_engine "$WORK/idle.yaml"
rc=0; "${S[@]}" add "${U[@]}" --match station=st2 --duration 1h --comment "tool change" 2>"$WORK/err.txt" || rc=$?
[ "$rc" -eq 2 ] && grep -q "no token" "$WORK/err.txt" || fail "add without a token: rc $rc $(cat "$WORK/err.txt")"
rc=0; "${S[@]}" add "${U[@]}" --token-file "$WORK/wrong.token" --match station=st2 --duration 1h --comment x \
  2>"$WORK/err.txt" || rc=$?
[ "$rc" -eq 1 ] && grep -q "unknown token (HTTP 401)" "$WORK/err.txt" || fail "bad token: rc $rc $(cat "$WORK/err.txt")"
rc=0; "${S[@]}" add "${U[@]}" --token-file "$WORK/anna.token" --match shift=night --duration 1h --comment x \
  2>"$WORK/err.txt" || rc=$?
[ "$rc" -eq 1 ] && grep -q "unknown label 'shift' in matchers (labels: characteristic, policy, rule, chart, station" \
  "$WORK/err.txt" || fail "unknown label: rc $rc $(cat "$WORK/err.txt")"
rc=0; "${S[@]}" add "${U[@]}" --token-file "$WORK/anna.token" --match station --duration 1h --comment x \
  2>"$WORK/err.txt" || rc=$?
[ "$rc" -eq 2 ] && grep -q "expected LABEL=VALUE" "$WORK/err.txt" || fail "bad --match: rc $rc $(cat "$WORK/err.txt")"
rc=0; "${S[@]}" add "${U[@]}" --token-file "$WORK/anna.token" --match station=st2 --comment x 2>"$WORK/err.txt" || rc=$?
[ "$rc" -eq 2 ] && grep -q "give either --duration" "$WORK/err.txt" || fail "no end: rc $rc $(cat "$WORK/err.txt")"
rc=0; "${S[@]}" add "${U[@]}" --token-file "$WORK/anna.token" --match station=st2 --ends 2020-01-01T00:00:00Z \
  --comment x 2>"$WORK/err.txt" || rc=$?
[ "$rc" -eq 1 ] && grep -q "is in the past" "$WORK/err.txt" || fail "past end: rc $rc $(cat "$WORK/err.txt")"
"${S[@]}" list "${U[@]}" --json >"$WORK/list.json" || fail "list failed"
[ ! -s "$WORK/list.json" ] || fail "a refused add stored a silence: $(cat "$WORK/list.json")"
"${S[@]}" add "${U[@]}" --token-file "$WORK/anna.token" --match station=st2 --match characteristic=bore \
  --duration 1h --comment "tool change at st2" >"$WORK/add.txt" || fail "add failed: $(cat "$WORK/add.txt")"
grep -q "^silence #1 active .* by anna: station=st2, characteristic=bore -- tool change at st2$" "$WORK/add.txt" \
  || fail "unexpected add output: $(cat "$WORK/add.txt")"
term_and_check "$ENGINE" 5

start_engine "$WORK/config.yaml"
two_alarms() { [ "$(curl -fs "http://127.0.0.1:$HTTP/api/alarms" | grep -o '"type":"alarm"' | wc -l)" -eq 2 ]; }
WAIT_S=10 wait_for two_alarms || fail "the two alarms were not opened: $(curl -s "http://127.0.0.1:$HTTP/api/alarms")"
one_call() { [ -s "$WORK/calls/calls.txt" ]; }
WAIT_S=10 wait_for one_call || fail "st1's hook was not called"
"${S[@]}" list "${U[@]}" >"$WORK/list.txt" || fail "list failed"
cat "$WORK/list.txt"
grep -Eq "^1 +active +[0-9TZ:.-]+ +[0-9TZ:.-]+ +anna +station=st2, characteristic=bore +tool change at st2$" \
  "$WORK/list.txt" || fail "list does not show the active silence"
"${S[@]}" expire 1 "${U[@]}" --token-file "$WORK/anna.token" >"$WORK/expire.txt" || fail "expire failed"
grep -q "^silence #1 expired " "$WORK/expire.txt" || fail "not expired: $(cat "$WORK/expire.txt")"
rc=0; "${S[@]}" expire 1 "${U[@]}" --token-file "$WORK/anna.token" 2>"$WORK/err.txt" || rc=$?
[ "$rc" -eq 1 ] && grep -q "silence 1 has expired already (it ended at .*) (HTTP 409)" "$WORK/err.txt" \
  || fail "second expiry: rc $rc $(cat "$WORK/err.txt")"
rc=0; "${S[@]}" expire 9 "${U[@]}" --token-file "$WORK/anna.token" 2>"$WORK/err.txt" || rc=$?
[ "$rc" -eq 1 ] && grep -q "no silence 9 (HTTP 404)" "$WORK/err.txt" || fail "unknown silence: rc $rc $(cat "$WORK/err.txt")"
"${S[@]}" list "${U[@]}" --json >"$WORK/list.json"
grep -q '"id":1,.*"state":"expired",.*"expired_by":"anna"' "$WORK/list.json" || fail "list: $(cat "$WORK/list.json")"
curl -fs "http://127.0.0.1:$HTTP/api/alarms" >"$WORK/alarms.json"
grep -q '"id":2,"characteristic":"bore","state":"open","tier":1,.*"scope":{"station":"st2"},"hold":2' "$WORK/alarms.json" \
  || fail "the silenced alarm is not recorded: $(cat "$WORK/alarms.json")"
curl -fs "http://127.0.0.1:$HTTP/api/holds/2" | contains '"alarm":2,.*"serial":"U4"' || fail "the silenced alarm has no hold"
curl -fs "http://127.0.0.1:$HTTP/metrics" | contains '^shewhart_alarms_silenced_total 1$' || fail "not counted"
sleep 0.5  # a wrong second hook call would come now
term_and_check "$ENGINE" 5
cat "$WORK/calls/calls.txt"
[ "$(wc -l <"$WORK/calls/calls.txt")" -eq 1 ] || fail "expected exactly one hook call"
grep -q '^1-1-notify|1|1|1|notify|bore|station=st1|.*|st1$' "$WORK/calls/calls.txt" || fail "st1's alarm was not notified"
"$SHEWHART" audit verify --store "$WORK/s.db" || fail "the audit chain does not verify"
"$SHEWHART" audit export --store "$WORK/s.db" >"$WORK/audit.jsonl"
grep -q '"kind":"silence.created","subject":"silence/1","actor":"anna"' "$WORK/audit.jsonl" || fail "silence.created not audited"
grep -q '"kind":"alarm.silenced","subject":"alarm/2","actor":"engine","body":{"actions":\["notify"\],"alarm":2,"silence":1,"tier":1,' \
  "$WORK/audit.jsonl" || fail "alarm.silenced not audited: $(grep silenced "$WORK/audit.jsonl")"
grep -q '"kind":"silence.expired","subject":"silence/1","actor":"anna"' "$WORK/audit.jsonl" || fail "silence.expired not audited"
echo "cli_silences: ok"

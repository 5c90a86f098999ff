#!/usr/bin/env bash
# Holds end to end through `shewhart run`: an alarm at station A holds A's units since the last
# in-control point and the assembly one of them went into; `holds list|show|export` read them
# from the store, `holds status` asks the MES interlock, `holds dispose` releases and scraps
# them through the API with a token — and every refusal (no token, wrong token, unknown reason,
# a unit not held) changes nothing.
source "$(dirname "$0")/lib.sh"
HTTP=$(free_port)
URL="http://127.0.0.1:$HTTP"
cat > "$WORK/tokens.yaml" <<'YAML'
anna: "anna-0123456789abcdef"
YAML
echo "anna-0123456789abcdef" > "$WORK/token"
echo "wrong-token-00000000000" > "$WORK/wrong"
cat > "$WORK/in.jsonl" <<'JSONL'
{"unit":"U1","station":"A","ts":"2026-01-05T08:00:00Z","lots":["L1"],"machine":"M1","operator":"op1"}
{"characteristic":"bore","value":10.0,"ts":"2026-01-05T08:00:00Z","serial":"U1","station":"A"}
{"unit":"U2","station":"A","ts":"2026-01-05T08:01:00Z","lots":["L1","L7"],"machine":"M1","operator":"op2"}
{"characteristic":"bore","value":10.05,"ts":"2026-01-05T08:01:00Z","serial":"U2","station":"A"}
{"unit":"X1","station":"B","ts":"2026-01-05T08:01:30Z","lots":["L9"],"machine":"M9","operator":"op9"}
{"unit":"U3","station":"A","ts":"2026-01-05T08:02:00Z","lots":["L2"],"machine":"M1","operator":"op1"}
{"unit":"U4","station":"A","ts":"2026-01-05T08:03:00Z","lots":["L2"],"machine":"M1","operator":"op1"}
{"characteristic":"bore","value":10.9,"ts":"2026-01-05T08:03:00Z","serial":"U4","station":"A"}
{"unit":"U3","station":"ASSY","ts":"2026-01-05T08:04:00Z","parent":"P1","machine":"M5","operator":"op5"}
{"unit":"P1","station":"ASSY","ts":"2026-01-05T08:04:00Z","machine":"M5","operator":"op5"}
JSONL
cat > "$WORK/config.yaml" <<YAML
sources:
  - file: { path: "$WORK/in.jsonl" }
store: { sqlite: "$WORK/s.db" }
engine: { past_tolerance: 36500d }   # fixed event times, long past
http: { listen: "127.0.0.1:$HTTP", tokens: "$WORK/tokens.yaml" }
characteristics:
  - id: bore
    chart: { type: individuals, mr_rules: false }
    limits: { mean: 10, sigma: 0.1 }
    rules: [nelson.1]
    scope: [station]
    response: line
responses:
  line:
    tiers:
      - { tier: 1, when: { signal: any }, do: [log, quarantine] }
YAML
"$SHEWHART" run -c "$WORK/config.yaml" >"$WORK/run.log" 2>"$WORK/engine.log" &
ENGINE=$!
PIDS+=("$ENGINE")
wait_http "$URL/health" 10 || fail "engine did not answer on port $HTTP"
status() { "$SHEWHART" holds status "$1" --url "$URL"; }
WAIT_S=10 wait_for sh -c "'$SHEWHART' holds status P1 --url '$URL' | grep -q held" || fail "P1 (assembly of U3) not held: $(status P1)"

# The interlock.
[ "$(status U4)" = "U4: held (hold #1), may not move on" ] || fail "status U4: $(status U4)"
[ "$(status U1)" = "U1: free, may move on" ] || fail "U1 is before the window: $(status U1)"
[ "$(status X1)" = "X1: free, may move on" ] || fail "X1 is at another station: $(status X1)"

# The store: list, show, export.
"$SHEWHART" holds list --store "$WORK/s.db" >"$WORK/list.txt"
for u in U2 U3 U4 P1; do grep -Eq "^1 +1 +bore +station=A +$u +held" "$WORK/list.txt" || fail "holds list lacks $u: $(cat "$WORK/list.txt")"; done
grep -q "4 units held in 1 hold" "$WORK/list.txt" || fail "holds list summary: $(tail -n 2 "$WORK/list.txt")"
"$SHEWHART" holds export 1 --store "$WORK/s.db" >"$WORK/export.csv" 2>"$WORK/export.err"
head -n 1 "$WORK/export.csv" | grep -q '^hold,alarm,characteristic,serial,state,since,route,machines,operators,lots,assemblies$' \
  || fail "export header: $(head -n 1 "$WORK/export.csv")"
grep -q '^1,1,bore,U2,held,2026-01-05T08:01:00.000Z,A@2026-01-05T08:01:00.000Z,M1,op2,L1;L7,$' "$WORK/export.csv" \
  || fail "export U2: $(cat "$WORK/export.csv")"
grep -q '^1,1,bore,U3,held,.*,A@2026-01-05T08:02:00.000Z;ASSY@2026-01-05T08:04:00.000Z,M1;M5,op1;op5,L2,P1$' "$WORK/export.csv" \
  || fail "export U3 (route through the assembly station, assembly P1): $(cat "$WORK/export.csv")"
[ "$(wc -l <"$WORK/export.csv")" -eq 5 ] || fail "export: $(cat "$WORK/export.csv")"
"$SHEWHART" holds export 1 --store "$WORK/s.db" --format json 2>/dev/null | contains '"serial":"U2".*"lots":\["L1","L7"\]' \
  || fail "json export lacks U2's lots"
rc=0; "$SHEWHART" holds export 9 --store "$WORK/s.db" 2>"$WORK/err.txt" || rc=$?
[ "$rc" -eq 1 ] && grep -q "no hold 9" "$WORK/err.txt" || fail "export of an unknown hold: exit $rc, $(cat "$WORK/err.txt")"
rc=0; "$SHEWHART" holds export 1 --store "$WORK/s.db" --format xml 2>"$WORK/err.txt" || rc=$?
[ "$rc" -eq 2 ] || fail "export --format xml: exit $rc"

# Refusals change nothing.
dispose() { "$SHEWHART" holds dispose 1 --url "$URL" "$@"; }
rc=0; env -u SHEWHART_TOKEN "$SHEWHART" holds dispose 1 --url "$URL" --state released --reason other --meaning "released by" --serial U2 2>"$WORK/err.txt" || rc=$?
[ "$rc" -eq 2 ] && grep -q "no token" "$WORK/err.txt" || fail "dispose without a token: exit $rc, $(cat "$WORK/err.txt")"
rc=0; dispose --token-file "$WORK/wrong" --state released --reason other --meaning "released by" --serial U2 2>"$WORK/err.txt" || rc=$?
[ "$rc" -eq 1 ] && grep -q "unknown token (HTTP 401)" "$WORK/err.txt" || fail "dispose with a wrong token: exit $rc, $(cat "$WORK/err.txt")"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/api/holds/1/dispose" -d '{"state":"released","reason":"other","meaning":"released by","serials":["U2"]}')
[ "$code" = 401 ] || fail "POST without Authorization: HTTP $code"
rc=0; dispose --token-file "$WORK/token" --state released --reason because --meaning "released by" --serial U2 2>"$WORK/err.txt" || rc=$?
[ "$rc" -eq 1 ] && grep -q "unknown reason 'because'" "$WORK/err.txt" || fail "unknown reason: exit $rc, $(cat "$WORK/err.txt")"
rc=0; dispose --token-file "$WORK/token" --state released --reason other --meaning "released by" --serial U2 --serial X1 2>"$WORK/err.txt" || rc=$?
[ "$rc" -eq 1 ] && grep -q "unit 'X1' is not in hold 1 (HTTP 404)" "$WORK/err.txt" || fail "a unit not held: exit $rc, $(cat "$WORK/err.txt")"
[ "$(status U2)" = "U2: held (hold #1), may not move on" ] || fail "a refused disposition changed U2: $(status U2)"

# Dispositions.
dispose --token-file "$WORK/token" --state released --reason conforming_on_retest --meaning "released by" \
  --serial U2 --note "re-measured 10.02" >"$WORK/d1.txt" || fail "release U2: $(cat "$WORK/d1.txt")"
grep -q "hold #1: 1 unit released (conforming_on_retest, released by); 3 still held, hold open" "$WORK/d1.txt" \
  || fail "release U2 output: $(cat "$WORK/d1.txt")"
[ "$(status U2)" = "U2: released, may move on" ] || fail "U2 after its release: $(status U2)"
rc=0; dispose --token-file "$WORK/token" --state scrapped --reason nonconforming --meaning "approved by" --serial U2 2>"$WORK/err.txt" || rc=$?
[ "$rc" -eq 1 ] && grep -q "no longer held: it was released (HTTP 409)" "$WORK/err.txt" || fail "twice: exit $rc, $(cat "$WORK/err.txt")"
SHEWHART_TOKEN="anna-0123456789abcdef" dispose --state scrapped --reason nonconforming --meaning "approved by" \
  --all --exclude P1 >"$WORK/d2.txt" || fail "bulk scrap: $(cat "$WORK/d2.txt")"
grep -q "2 units scrapped" "$WORK/d2.txt" || fail "bulk scrap output: $(cat "$WORK/d2.txt")"
# The interlock says what became of a unit: a scrapped one is not free (it answered free before).
[ "$(status U4)" = "U4: scrapped, may not move on" ] || fail "status of scrapped U4: $(status U4)"
curl -fs "$URL/api/units/U4" | contains '"status":"scrapped","may_move":false' || fail "interlock JSON for U4: $(curl -s "$URL/api/units/U4")"
[ "$(status P1)" = "P1: held (hold #1), may not move on" ] || fail "P1 was excluded: $(status P1)"
"$SHEWHART" holds show 1 --store "$WORK/s.db" >"$WORK/show.txt"
grep -Eq "^U2 +released .*released by anna .*conforming_on_retest +re-measured 10.02$" "$WORK/show.txt" || fail "show U2: $(cat "$WORK/show.txt")"
grep -Eq "^U4 +scrapped .*approved by anna" "$WORK/show.txt" || fail "show U4: $(cat "$WORK/show.txt")"
grep -Eq "^P1 +held" "$WORK/show.txt" || fail "show P1: $(cat "$WORK/show.txt")"
term_and_check "$ENGINE" 5
"$SHEWHART" audit verify --store "$WORK/s.db" >"$WORK/verify.txt" || fail "audit chain: $(cat "$WORK/verify.txt")"
"$SHEWHART" audit export --store "$WORK/s.db" | grep -c '"kind":"hold.disposed"' | grep -qx 2 || fail "two hold.disposed audit records expected"
echo "cli_holds: ok"

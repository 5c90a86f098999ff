#!/usr/bin/env bash
# A store that cannot be written (here: a file-size limit, as `ulimit -f` sets, which fails the
# WAL's growth with EFBIG as a full disk fails it with ENOSPC) loses no signal: the responder
# rolls each batch back, keeps it and tries it again; the queues fill and the file source waits;
# /health fails and /metrics counts every failure. Once the limit is lifted every alarm, hold and
# notification exists: the same alarms, signals, tiers and deliveries as a run without the limit.
# Usage: disk_full.sh SHEWHART SIM ROOT
source "$(dirname "$0")/lib.sh"
command -v prlimit >/dev/null || fail "prlimit (util-linux) is missing"
HTTP=$(free_port)
HOOK=$(free_port)
N=2400
python3 "$ROOT/tests/integration/webhook_receiver.py" "$HOOK" "$WORK/calls.txt" &
PIDS+=("$!")
python3 - "$N" >"$WORK/in.jsonl" <<'PY'
import json, random, sys, time
random.seed(7)
t = int(time.time() * 1000) - 3600 * 1000  # within engine.past_tolerance of the wall clock
for i in range(int(sys.argv[1])):
    st = "st%d" % (i % 3 + 1)
    serial = "U%06d" % i
    print(json.dumps({"unit": serial, "station": st, "ts": t + 10 * i}))
    print(json.dumps({"characteristic": "bore", "value": round(74 + random.gauss(0, 0.01), 5),
                      "ts": t + 10 * i, "serial": serial, "station": st}))
PY
config() {  # $1: store, $2: input
  cat <<YAML
sources: [ { file: { path: "$2" } } ]
store: { sqlite: "$1" }
http: { listen: "127.0.0.1:$HTTP" }
engine: { retry_base: 50ms, retry_max: 200ms }
characteristics:
  - id: bore
    chart: { type: individuals, mr_rules: false }
    limits: { mean: 74, sigma: 0.004 }
    rules: [nelson.1]
    scope: [station]
    response: line
responses:
  line:
    resolve_after: 3
    tiers:
      - { tier: 1, when: { signal: any }, do: [quarantine, notify] }
      - { tier: 2, when: { signals: 4, within: 1h, group_by: station }, do: [escalate] }
hooks:
  notify: { webhook: { url: "http://127.0.0.1:$HOOK/n", retries: 1000 } }
  escalate: { webhook: { url: "http://127.0.0.1:$HOOK/e", retries: 1000 } }
YAML
}
metric() { curl -fs "http://127.0.0.1:$HTTP/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
all_in() {
  [ "$(metric shewhart_engine_measurements_total)" = "$N" ] &&
    [ "$(curl -fs "http://127.0.0.1:$HTTP/metrics" | awk '/^shewhart_queue_depth/ {s += $2} END {print s + 0}')" = 0 ] &&
    [ "$(q "$1" "SELECT count(*) FROM deliveries WHERE state != 'delivered'")" = 0 ]
}
q() { sqlite3 -batch -noheader -separator ' ' "$1" "$2"; }
summary() {  # what must be the same with and without the limit
  q "$1" "SELECT count(*), sum(signals), sum(tier = 2), sum(hold_id > 0) FROM alarms"
  q "$1" "SELECT count(*) FROM deliveries"
}

# The reference: the same input, no limit.
config "$WORK/ref.db" "$WORK/in.jsonl" >"$WORK/ref.yaml"
"$SHEWHART" run -c "$WORK/ref.yaml" >"$WORK/ref-run.log" 2>"$WORK/ref-engine.log" &
ENGINE=$!
PIDS+=("$ENGINE")
wait_http "http://127.0.0.1:$HTTP/health" 10 || fail "reference engine did not answer"
WAIT_S=120 wait_for all_in "$WORK/ref.db" || fail "reference run did not take the whole input"
term_and_check "$ENGINE" 10
ref=$(summary "$WORK/ref.db")
read -r ref_alarms _ <<<"$ref"
((ref_alarms >= 50)) || fail "the reference opened only $ref_alarms alarms"

# The store made first (empty input), then the engine started with room for a few pages more.
: >"$WORK/empty.jsonl"
config "$WORK/s.db" "$WORK/empty.jsonl" >"$WORK/empty.yaml"
"$SHEWHART" run -c "$WORK/empty.yaml" --duration 0.5 >/dev/null 2>"$WORK/create.log" || fail "could not create the store"
config "$WORK/s.db" "$WORK/in.jsonl" >"$WORK/config.yaml"
# Per file: the WAL cannot grow past a few pages, nor the database by a single page.
limit=32768
prlimit --fsize="$limit":unlimited -- "$SHEWHART" run -c "$WORK/config.yaml" >"$WORK/run.log" 2>"$WORK/engine.log" &
ENGINE=$!
PIDS+=("$ENGINE")
wait_http "http://127.0.0.1:$HTTP/health" 10 || fail "engine did not answer"
failing() { [ "$(metric shewhart_store_write_failures_total)" -ge 3 ] 2>/dev/null; }
WAIT_S=30 wait_for failing || fail "the store never failed under a file-size limit of $limit bytes"
code=$(curl -s -o "$WORK/health.json" -w '%{http_code}' "http://127.0.0.1:$HTTP/health")
[ "$code" = 503 ] || fail "/health answered $code while the store refused writes"
grep -q '"name":"store","status":"failing"' "$WORK/health.json" || fail "/health does not name the store: $(cat "$WORK/health.json")"
read -r _ ref_signals _ <<<"$ref"
[ "$(metric shewhart_engine_signals_total)" -lt "$ref_signals" ] || fail "every signal counted as handled although the store refused writes"
grep -q "nothing of this batch was stored, it is kept and tried again" "$WORK/engine.log" || fail "the failure is not logged"
failures=$(metric shewhart_store_write_failures_total)
prlimit --pid "$ENGINE" --fsize=unlimited
WAIT_S=120 wait_for all_in "$WORK/s.db" || fail "the engine did not take the whole input once the store wrote again"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP/health")
[ "$code" = 200 ] || fail "/health answered $code after the store wrote again"
[ "$(metric shewhart_signals_lost_total)" = 0 ] || fail "signals lost"
term_and_check "$ENGINE" 10
got=$(summary "$WORK/s.db")
[ "$got" = "$ref" ] || fail "after the limit was lifted: alarms, signals, tier 2, holds / deliveries: $(echo $got) (without the limit: $(echo $ref))"
no_hold=$(q "$WORK/s.db" "SELECT a.id FROM alarms a LEFT JOIN holds h ON h.id = a.hold_id AND h.alarm_id = a.id WHERE h.id IS NULL")
[ -z "$no_hold" ] || fail "alarms without their hold: $no_hold"
"$SHEWHART" audit verify --store "$WORK/s.db" >"$WORK/verify.log" 2>&1 || fail "audit verify: $(cat "$WORK/verify.log")"
echo "disk_full: ok: $failures failed commits counted; then $(echo $got) (alarms, signals, at tier 2, with holds / deliveries), as without the limit"

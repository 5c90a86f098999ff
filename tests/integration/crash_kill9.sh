#!/usr/bin/env bash
# kill -9 at random instants under load (docs/ARCHITECTURE.md "Fail closed"): the simulator feeds
# three stations through ZeroMQ while alarms open, escalate, take holds and resolve; the engine is
# killed and restarted KILLS times (argument 4, default 10; 30 or more by hand; RATE sets the load, default 1500 units/s). Then, with the
# simulator stopped and one last run draining the outbox:
#   - every alarm that reached a tier has that tier's hold and delivery (none at tier 0, none
#     without its hold, none without its webhook row), and every delivery was received;
#   - nothing committed before a kill is lost: every alarm id seen after a kill still exists, the
#     audit log only grew and `shewhart audit verify` passes;
#   - no idempotency key was received for two different alarms.
# Usage: crash_kill9.sh SHEWHART SIM ROOT [KILLS]
source "$(dirname "$0")/lib.sh"
KILLS=${4:-10}
RATE=${RATE:-1500}  # units/s across three stations: about a quarter of them signal
ZMQ=$(free_port)
HTTP=$(free_port)
HOOK=$(free_port)
python3 "$ROOT/tests/integration/webhook_receiver.py" "$HOOK" "$WORK/calls.txt" &
PIDS+=("$!")
cat >"$WORK/config.yaml" <<YAML
sources: [ { zmq: { bind: "tcp://127.0.0.1:$ZMQ" } } ]
store: { sqlite: "$WORK/s.db" }
http: { listen: "127.0.0.1:$HTTP" }
engine: { retry_base: 50ms, retry_max: 200ms }
characteristics:
  - id: bore_diameter
    chart: { type: individuals, mr_rules: false }
    limits: { mean: 74, sigma: 0.004 }     # the simulator's sigma is 0.01: signals are frequent
    rules: [nelson.1]
    scope: [station]
    response: line
responses:
  line:
    resolve_after: 3
    tiers:
      - { tier: 1, when: { signal: any }, do: [quarantine, notify] }
      - { tier: 2, when: { signals: 4, within: 1h }, do: [escalate] }
hooks:
  notify: { webhook: { url: "http://127.0.0.1:$HOOK/n", retries: 1000 } }
  escalate: { webhook: { url: "http://127.0.0.1:$HOOK/e", retries: 1000 } }
YAML
"$SIM" --connect "tcp://127.0.0.1:$ZMQ" --rate "$RATE" --stations 3 --drift-per-unit 0 --duration 600 --quiet \
  >"$WORK/sim.log" 2>&1 &
SIMPID=$!
PIDS+=("$SIMPID")
q() { sqlite3 -batch -noheader "$WORK/s.db" "$1"; }
: >"$WORK/committed.txt"
audit_max=0
for i in $(seq 1 "$KILLS"); do
  "$SHEWHART" run -c "$WORK/config.yaml" >>"$WORK/run.log" 2>>"$WORK/engine.log" &
  ENGINE=$!
  PIDS+=("$ENGINE")
  wait_http "http://127.0.0.1:$HTTP/health" 10 || fail "engine did not answer (run $i)"
  sleep "$(python3 -c 'import random; print(round(random.uniform(0.3, 1.5), 3))')"
  kill -KILL "$ENGINE"
  wait "$ENGINE" 2>/dev/null || true
  q "SELECT id FROM alarms" >>"$WORK/committed.txt"
  seq_now=$(q "SELECT coalesce(max(seq), 0) FROM audit_log")
  ((seq_now >= audit_max)) || fail "the audit log shrank across a kill: $audit_max -> $seq_now"
  audit_max=$seq_now
  echo "kill $i: $(q "SELECT count(*) FROM alarms") alarms, audit seq $seq_now"
done
kill -TERM "$SIMPID"
wait "$SIMPID" 2>/dev/null || true
"$SHEWHART" run -c "$WORK/config.yaml" >>"$WORK/run.log" 2>>"$WORK/engine.log" &
ENGINE=$!
PIDS+=("$ENGINE")
wait_http "http://127.0.0.1:$HTTP/health" 10 || fail "engine did not answer (last run)"
drained() { [ "$(q "SELECT count(*) FROM deliveries WHERE state != 'delivered'")" = 0 ]; }
WAIT_S=30 wait_for drained || fail "deliveries not delivered: $(q "SELECT idempotency_key, state, last_error FROM deliveries WHERE state != 'delivered' LIMIT 5")"
term_and_check "$ENGINE" 10

alarms=$(q "SELECT count(*) FROM alarms")
((alarms >= KILLS)) || fail "only $alarms alarms under load: the test exercised too little"
[ "$(q "SELECT count(*) FROM alarms WHERE tier < 1")" = 0 ] ||
  fail "alarms stored without the tier their opening signal entered: $(q "SELECT id FROM alarms WHERE tier < 1")"
no_hold=$(q "SELECT a.id FROM alarms a LEFT JOIN holds h ON h.id = a.hold_id AND h.alarm_id = a.id WHERE h.id IS NULL")
[ -z "$no_hold" ] || fail "alarms at tier 1 without their hold: $no_hold"
for t in "1 notify" "2 escalate"; do
  set -- $t
  missing=$(q "SELECT id FROM alarms WHERE tier >= $1 AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.idempotency_key = alarms.id || '-$1-$2')")
  [ -z "$missing" ] || fail "alarms at tier $1 without their '$2' delivery: $missing"
done
lost=$(sort -u "$WORK/committed.txt" | while read -r id; do [ "$(q "SELECT count(*) FROM alarms WHERE id = $id")" = 1 ] || echo "$id"; done)
[ -z "$lost" ] || fail "alarms committed before a kill are gone: $lost"
((audit_max <= $(q "SELECT max(seq) FROM audit_log"))) || fail "audit records committed before a kill are gone"
"$SHEWHART" audit verify --store "$WORK/s.db" >"$WORK/verify.log" 2>&1 || fail "audit verify: $(cat "$WORK/verify.log")"
# Each key names one alarm (its first field); a key received twice is a retry of the same alarm's tier.
bad=$(awk '{split($1, k, "-"); if (k[1] != $2) print}' "$WORK/calls.txt" | head -3)
[ -z "$bad" ] || fail "idempotency keys received with another alarm's document: $bad"
keys_received=$(awk '{print $1}' "$WORK/calls.txt" | sort -u | wc -l)
keys_stored=$(q "SELECT count(*) FROM deliveries")
[ "$keys_received" = "$keys_stored" ] || fail "$keys_stored deliveries stored, $keys_received keys received"
echo "crash_kill9: ok: $KILLS kills, $alarms alarms ($(q "SELECT count(*) FROM alarms WHERE tier >= 2") at tier 2), $(q "SELECT count(*) FROM held_units") held units, $keys_stored deliveries each received ($(wc -l <"$WORK/calls.txt") requests), audit seq $(q "SELECT max(seq) FROM audit_log")"

#!/usr/bin/env bash
# kill -9 between publishing and storing (issue 17): a `signal` message leaves before its alarm
# is stored, so each claimed signal is in the signal journal (STORE-signals) first, and the
# restart stores what the killed run published and did not store. With engine.commit_delay at
# 100 ms the responder stores a batch 100 ms after its first signal, so a kill under load finds
# signals in the journal that the store does not have. Checked after the restart:
#   - it logs "storing N signal(s)" and the store gained exactly those N signals;
#   - the journal is empty, every alarm has its hold, `shewhart audit verify` passes;
#   - a second restart stores nothing again.
# Usage: journal_kill9.sh SHEWHART SIM ROOT
source "$(dirname "$0")/lib.sh"
ZMQ=$(free_port)
HTTP=$(free_port)
cat >"$WORK/config.yaml" <<YAML
sources: [ { zmq: { bind: "tcp://127.0.0.1:$ZMQ" } } ]
store: { sqlite: "$WORK/s.db" }
http: { listen: "127.0.0.1:$HTTP" }
engine: { commit_delay: 100ms }
characteristics:
  - id: bore_diameter
    chart: { type: individuals, mr_rules: false }
    limits: { mean: 74, sigma: 0.004 }     # the simulator's sigma is 0.01: signals are frequent
    rules: [nelson.1]
    scope: [station]
YAML
q() { sqlite3 -batch -noheader "$WORK/s.db" "$1"; }
signals() { q "SELECT coalesce(sum(signals), 0) FROM alarms"; }
journal="$WORK/s.db-signals"
"$SIM" --connect "tcp://127.0.0.1:$ZMQ" --rate 400 --stations 3 --drift-per-unit 0 --duration 60 --quiet \
  >"$WORK/sim.log" 2>&1 &
SIMPID=$!
PIDS+=("$SIMPID")
caught=0
for attempt in 1 2 3 4 5; do
  "$SHEWHART" run -c "$WORK/config.yaml" >>"$WORK/run.log" 2>"$WORK/engine$attempt.log" &
  ENGINE=$!
  PIDS+=("$ENGINE")
  wait_http "http://127.0.0.1:$HTTP/health" 10 || fail "engine did not answer (attempt $attempt)"
  sleep "$(python3 -c 'import random; print(round(random.uniform(0.5, 1.0), 3))')"
  kill -KILL "$ENGINE"
  wait "$ENGINE" 2>/dev/null || true
  if [ -s "$journal" ]; then caught=1; break; fi
done
((caught)) || fail "five kills found the journal empty: nothing was published and unstored"
kill -TERM "$SIMPID"
wait "$SIMPID" 2>/dev/null || true
before=$(signals)
"$SHEWHART" run -c "$WORK/config.yaml" --duration 1 >>"$WORK/run.log" 2>"$WORK/restart.log" ||
  fail "the restart failed: $(tail -5 "$WORK/restart.log")"
n=$(sed -n 's/.*storing \([0-9]*\) signal(s) that the last run published and did not store.*/\1/p' "$WORK/restart.log")
[ -n "$n" ] && ((n > 0)) || fail "the restart did not store the journaled signals: $(grep -i journal "$WORK/restart.log")"
after=$(signals)
((after == before + n)) || fail "the store had $before signals, the restart stored $n, now it has $after"
[ ! -s "$journal" ] || fail "the journal is not empty after the restart ($(stat -c %s "$journal") bytes)"
no_hold=$(q "SELECT a.id FROM alarms a LEFT JOIN holds h ON h.id = a.hold_id AND h.alarm_id = a.id WHERE h.id IS NULL")
[ -z "$no_hold" ] || fail "alarms without their hold: $no_hold"
"$SHEWHART" audit verify --store "$WORK/s.db" >"$WORK/verify.log" 2>&1 || fail "audit verify: $(cat "$WORK/verify.log")"
"$SHEWHART" run -c "$WORK/config.yaml" --duration 1 >>"$WORK/run.log" 2>"$WORK/restart2.log" || fail "second restart"
! grep -q "storing .* signal(s)" "$WORK/restart2.log" || fail "the second restart stored journaled signals again"
(($(signals) == after)) || fail "the second restart changed the signals: $after -> $(signals)"
echo "journal_kill9: ok: killed with $n signal(s) published and not stored; the restart stored them ($before -> $after signals in $(q "SELECT count(*) FROM alarms") alarms)"

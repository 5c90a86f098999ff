#!/usr/bin/env bash
# Alarms and holds survive a restart: a second `shewhart run` on the same store lists the
# same alarms and held units, and new st2 signals join the open st2 alarm instead of opening
# another.
source "$(dirname "$0")/lib.sh"
PULL=$(free_port); HTTP=$(free_port)
cat > "$WORK/config.yaml" <<YAML
sources:
  - zmq: { bind: "tcp://127.0.0.1:$PULL" }
store: { sqlite: "$WORK/s.db" }
engine: { past_tolerance: 36500d }   # the simulator starts at a fixed date, long past
http: { listen: "127.0.0.1:$HTTP" }
characteristics:
  - id: bore_diameter
    chart: { type: individuals, mr_rules: false }
    limits: { mean: 74.0, sigma: 0.01 }
    rules: [nelson.1]
    scope: [station]
YAML
start_engine() {
  "$SHEWHART" run -c "$WORK/config.yaml" >>"$WORK/run.log" 2>>"$WORK/engine.log" &
  ENGINE=$!
  PIDS+=("$ENGINE")
  wait_http "http://127.0.0.1:$HTTP/health" 10 || fail "engine did not answer on port $HTTP"
}
feed() {  # feed UNITS START_TS
  "$SIM" --connect "tcp://127.0.0.1:$PULL" --rate 0 --units "$1" --drift-after 0.3 --drift-per-unit 0.05 \
    --seed 11 --start-ts "$2" --quiet 2>>"$WORK/sim.log" || fail "simulator failed"
  WAIT_S=20 wait_for sh -c "curl -fs http://127.0.0.1:$HTTP/metrics | grep -q 'shewhart_measurements_total{source=\"zmq0\"} $1'" \
    || fail "not every measurement arrived"
}
st2_alarms() { curl -fs "http://127.0.0.1:$HTTP/api/alarms" | grep -o '"id":[0-9]*,"characteristic":"bore_diameter"[^}]*"station":"st2"' | grep -o '^"id":[0-9]*'; }

start_engine
feed 1000 1795766400000
# Measurements are counted as they arrive; the responder may still be working on signals.
has_st2_alarm() { [ -n "$(st2_alarms)" ]; }
WAIT_S=20 wait_for has_st2_alarm || fail "no st2 alarm in the first run"
before_alarm=$(st2_alarms)
term_and_check "$ENGINE" 2
"$SHEWHART" holds list --store "$WORK/s.db" | grep -v '^hold #' >"$WORK/holds1.txt"
n1=$(grep -c ' SN' "$WORK/holds1.txt")
[ "$n1" -gt 0 ] || fail "no held units after the first run"

start_engine
after_alarm=$(st2_alarms)
[ "$after_alarm" = "$before_alarm" ] || fail "st2 alarm changed over the restart: '$before_alarm' -> '$after_alarm'"
curl -fs "http://127.0.0.1:$HTTP/metrics" | contains -xF "shewhart_held_units{state=\"held\"} $n1" || fail "held-unit gauge not restored to $n1"
feed 1000 1795766500000
[ "$(st2_alarms)" = "$before_alarm" ] || fail "new st2 signals opened another alarm: $(st2_alarms)"
curl -fs "http://127.0.0.1:$HTTP/metrics" | contains -x "shewhart_alarms_total 0" || fail "the second run opened alarms"
term_and_check "$ENGINE" 2
n2=$("$SHEWHART" holds list --store "$WORK/s.db" | grep -c ' SN')
[ "$n2" -gt "$n1" ] || fail "the open hold did not grow after the restart ($n1 -> $n2)"
echo "run_restart: ok ($n1 units held before the restart, $n2 after)"

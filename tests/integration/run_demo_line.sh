#!/usr/bin/env bash
# The simulated line over ZeroMQ into `shewhart run`: station st2 drifts, an alarm opens for
# station st2 and holds its serials; /metrics, /api/alarms, /api/holds and `holds list` show
# them; SIGTERM drains and exits 0 within 2 s.
source "$(dirname "$0")/lib.sh"
PULL=$(free_port); PUB=$(free_port); HTTP=$(free_port)
cat > "$WORK/config.yaml" <<YAML
sources:
  - zmq: { bind: "tcp://127.0.0.1:$PULL" }
store: { sqlite: "$WORK/s.db" }
http: { listen: "127.0.0.1:$HTTP" }
engine: { shards: 2, past_tolerance: 36500d }   # the simulator starts at a fixed date, long past
characteristics:
  - id: bore_diameter
    spec: { lsl: 73.95, usl: 74.05 }
    chart: { type: individuals, mr_rules: false }
    limits: { mean: 74.0, sigma: 0.01 }
    rules: [nelson.1, spec]
    scope: [station]
    response: r
responses:
  r: { tiers: [ { tier: 1, when: { signal: any }, do: [log, quarantine, pub] } ] }
hooks:
  pub: { zmq_pub: { bind: "tcp://127.0.0.1:$PUB" } }
YAML
"$SHEWHART" run -c "$WORK/config.yaml" >"$WORK/run.log" 2>"$WORK/engine.log" &
ENGINE=$!
PIDS+=("$ENGINE")
wait_http "http://127.0.0.1:$HTTP/health" 10 || fail "engine did not answer on port $HTTP"
# 3000 units as fast as possible, 1 ms of event time each; st2 drifts after 1 s of event time.
"$SIM" --connect "tcp://127.0.0.1:$PULL" --rate 0 --units 3000 --drift-after 1 --drift-per-unit 0.05 \
  --seed 7 --start-ts 1795766400000 --quiet 2>"$WORK/sim.log" || fail "simulator failed"
WAIT_S=20 wait_for sh -c "curl -fs http://127.0.0.1:$HTTP/metrics | grep -q 'shewhart_measurements_total{source=\"zmq0\"} 3000'" \
  || fail "not every measurement arrived: $(curl -fs http://127.0.0.1:$HTTP/metrics | grep _total)"
m=$(curl -fs "http://127.0.0.1:$HTTP/metrics")
grep -qF 'shewhart_unit_events_total{source="zmq0"} 3000' <<<"$m" || fail "unit events missing"
# Measurements are counted as they arrive; the responder may still be working on signals.
WAIT_S=20 wait_for sh -c "curl -fs http://127.0.0.1:$HTTP/api/alarms | grep -q '\"scope\":{\"station\":\"st2\"}'" \
  || fail "no alarm for station st2: $(curl -fs http://127.0.0.1:$HTTP/api/alarms)"
list=$(curl -fs "http://127.0.0.1:$HTTP/api/holds")
[[ "$list" =~ \"id\":([0-9]+) ]] || fail "no hold: $list"
holds=$(curl -fs "http://127.0.0.1:$HTTP/api/holds/${BASH_REMATCH[1]}?limit=50")
grep -q '"serial":"SN' <<<"$holds" || fail "no held serials: $holds"
# The MES interlock: a held unit is "held" (with its hold), the first unit (station st1, before
# the drift) is "free".
[[ "$holds" =~ \"serial\":\"(SN[0-9]+)\" ]] || fail "no held serial in $holds"
held_serial=${BASH_REMATCH[1]}
unit=$(curl -fs "http://127.0.0.1:$HTTP/api/units/$held_serial")
grep -q '"status":"held"' <<<"$unit" || fail "interlock: $held_serial is not held: $unit"
grep -q '"holds":\[[0-9]' <<<"$unit" || fail "interlock: $held_serial names no hold: $unit"
unit=$(curl -fs "http://127.0.0.1:$HTTP/api/units/SN00000001")
grep -q '"status":"free"' <<<"$unit" || fail "interlock: SN00000001 is not free: $unit"
grep -q "^ALARM .*station=st2" "$WORK/run.log" || fail "the alarm was not printed"
grep -q "^HOLD .*station=st2 .*SN" "$WORK/run.log" || fail "held serials were not printed"
term_and_check "$ENGINE" 2
"$SHEWHART" holds list --store "$WORK/s.db" >"$WORK/holds.txt"
grep -Eq "^[0-9]+ +[0-9]+ +bore_diameter +station=st2 +SN[0-9]+ +held" "$WORK/holds.txt" || fail "holds list lacks st2 units: $(head "$WORK/holds.txt")"
# The drifting station's held units are st2's: every held serial of the st2 hold was made there
# (the simulator assigns stations round robin: st2 is serial number 2, 5, 8, ...).
awk '$4=="station=st2" {n=substr($5,3)+0; if (n%3!=2) {print "not an st2 unit: " $5; bad=1}} END {exit bad}' "$WORK/holds.txt" \
  || fail "a unit of another station is in the st2 hold"
tail -n 4 "$WORK/holds.txt"
echo "run_demo_line: ok"

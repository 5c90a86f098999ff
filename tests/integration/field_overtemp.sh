#!/usr/bin/env bash
# The field scenario (examples/field-overtemp) through `shewhart run`: five days of power-bank
# temperatures from a file, the engine's clock following their event times. 100 over-temperature
# signals of one model within 72 h raise tier 2 (notify the quality department: here an exec
# hook standing in for the example's webhook); 4 h without acknowledgement raise tier 3: a
# quality case in the audit log and the lock hook, each called exactly once, with its
# idempotency key. The audit chain verifies.
source "$(dirname "$0")/lib.sh"
HTTP=$(free_port)
EX="$ROOT/examples/field-overtemp"
# The example's data must be what its generator writes.
"$EX/make_data.sh" | cmp -s - "$EX/data.jsonl" || fail "examples/field-overtemp/data.jsonl differs from make_data.sh's output"
mkdir -p "$WORK/calls"
cp "$ROOT/tests/engine/data/record_hook.sh" "$WORK/hook.sh"
chmod +x "$WORK/hook.sh"
sed -e "s|^store: .*|store: { sqlite: \"$WORK/s.db\" }\nsources: [ { file: { path: \"$EX/data.jsonl\" } } ]\nhttp: { listen: \"127.0.0.1:$HTTP\" }|" \
    -e "s|^engine: { clock: event, |engine: { clock: event, retry_base: 100ms, retry_max: 1s, |" \
    -e "s|^  notify_quality: .*|  notify_quality: { exec: { argv: [\"$WORK/hook.sh\", \"$WORK/calls\", \"0\", \"quality\", \"{characteristic}\"] } }|" \
    -e "s|^  lock_shipments: .*|  lock_shipments: { exec: { argv: [\"$WORK/hook.sh\", \"$WORK/calls\", \"0\", \"lock\", \"--alarm={id}\"] } }|" \
    "$EX/config.yaml" >"$WORK/config.yaml"
"$SHEWHART" check -c "$WORK/config.yaml" || fail "the test's config is invalid"
"$SHEWHART" run -c "$WORK/config.yaml" >"$WORK/run.log" 2>"$WORK/engine.log" &
ENGINE=$!
PIDS+=("$ENGINE")
wait_http "http://127.0.0.1:$HTTP/health" 10 || fail "engine did not answer on port $HTTP"
two_calls() { [ "$(wc -l <"$WORK/calls/calls.txt" 2>/dev/null || echo 0)" -ge 2 ]; }
WAIT_S=30 wait_for two_calls || fail "the hooks were not both called: $(cat "$WORK/calls/calls.txt" 2>/dev/null)"
sleep 1  # anything more would arrive now
term_and_check "$ENGINE" 5
cat "$WORK/calls/calls.txt"
[ "$(wc -l <"$WORK/calls/calls.txt")" -eq 2 ] || fail "expected exactly two hook calls"
grep -q '^1-2-notify_quality|1|1|2|notify_quality|battery_temp|.*|quality battery_temp$' "$WORK/calls/calls.txt" \
  || fail "tier 2 did not notify the quality department once"
grep -q '^1-3-lock_shipments|1|1|3|lock_shipments|battery_temp|.*|lock --alarm=1$' "$WORK/calls/calls.txt" \
  || fail "tier 3 did not call the lock hook once"
grep -q '"tier":3' "$WORK/calls/1-3-lock_shipments.json" || fail "the lock hook's stdin is not the tier-3 alarm"
grep -q "ALARM #1 tier 2 battery_temp: spec.usl" "$WORK/engine.log" || fail "no tier 2 in the log"
grep -q "not acknowledged within 14400 s of tier 2: tier 3" "$WORK/engine.log" || fail "no tier 3 in the log"
"$SHEWHART" audit verify --store "$WORK/s.db" || fail "the audit chain does not verify"
"$SHEWHART" audit export --store "$WORK/s.db" >"$WORK/audit.jsonl"
grep -q '"kind":"quality_case.opened"' "$WORK/audit.jsonl" || fail "no quality case in the audit log"
[ "$(grep -c '"kind":"action.delivered"' "$WORK/audit.jsonl")" -eq 2 ] || fail "the two hooks' outcomes are not audited"
grep -q '"kind":"alarm.tier".*"to":2' "$WORK/audit.jsonl" || fail "the tier 2 escalation is not audited"
grep -q '"kind":"alarm.tier".*"to":3' "$WORK/audit.jsonl" || fail "the tier 3 escalation is not audited"
# Only model PB-10K runs hot: the alarm is scoped by model, and its hold takes that model's units
# only (it took all 30 units of three models when model could not be a scope key).
q() { sqlite3 -batch -noheader "$WORK/s.db" "$1"; }
[ "$(q "SELECT scope FROM holds WHERE id = 1")" = "model=PB-10K" ] || fail "hold scope: $(q "SELECT scope FROM holds")"
held=$(q "SELECT count(*) FROM held_units WHERE hold_id = 1")
other=$(q "SELECT count(*) FROM held_units h WHERE hold_id = 1 AND EXISTS (SELECT 1 FROM unit_events e WHERE e.unit = h.serial AND e.model != 'PB-10K')")
[ "$held" -gt 0 ] && [ "$other" = 0 ] || fail "hold 1 holds $held units, $other of other models"
echo "field_overtemp: ok ($held PB-10K units held)"

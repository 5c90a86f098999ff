#!/usr/bin/env bash
# shewhart trace: a replay of unit events (and a measurement with a serial) into a store, then
# `trace backward`, `trace forward` and `trace window`, as tables and JSON lines: routes with
# every lot, assemblies above and components below, half-open windows; exit 1 for an unknown
# serial, a lot nobody used and an empty window; exit 2 for a bad time, a missing scope or
# option, a missing store.
source "$(dirname "$0")/lib.sh"
cat > "$WORK/config.yaml" <<'YAML'
store: { sqlite: trace.db }
engine: { past_tolerance: 36500d }   # fixed event times, long past
characteristics:
  - id: shaft
    chart: { type: individuals, mr_rules: false }
    limits: { mean: 10, sigma: 0.1 }
    rules: [nelson.1]
    scope: [station]
    response: r
responses:
  r:
    tiers:
      - { tier: 1, when: { signal: any }, do: [log] }
YAML
# C1 and C2 consumed lot L1 (C1 also L2, second), C3 lot L3; C1 was measured at the gauge with
# lot L9; C1 and C2 went into assembly A1, A1 into crate K1 (which has no record of its own).
cat > "$WORK/input.jsonl" <<'JSONL'
{"unit":"C1","station":"press","ts":"2026-11-27T08:00:00Z","lots":["L1","L2"],"machine":"M1","operator":"op1"}
{"unit":"C2","station":"press","ts":"2026-11-27T08:00:10Z","lots":["L1"],"machine":"M1","operator":"op1"}
{"unit":"C3","station":"press","ts":"2026-11-27T08:00:20Z","lots":["L3"],"machine":"M2","operator":"op2"}
{"characteristic":"shaft","value":10.0,"ts":"2026-11-27T08:00:30Z","serial":"C1","station":"gauge","lot":"L9"}
{"unit":"C1","station":"assembly","ts":"2026-11-27T08:01:00Z","machine":"M3","operator":"op1","parent":"A1"}
{"unit":"C2","station":"assembly","ts":"2026-11-27T08:01:00Z","machine":"M3","operator":"op1","parent":"A1"}
{"unit":"A1","station":"assembly","ts":"2026-11-27T08:01:00Z","lots":["H1"],"machine":"M3","operator":"op1","parent":"K1"}
JSONL
cd "$WORK"
"$SHEWHART" replay -c config.yaml --store trace.db input.jsonl >replay.jsonl 2>replay.log || fail "replay failed"

# backward, table: C1's three records in time order, then A1 and K1 above it.
"$SHEWHART" trace backward C1 -c config.yaml >back.txt || fail "backward C1: rc $?"
cat back.txt
head -1 back.txt | grep -Eq '^UNIT +RELATION +DEPTH +VIA +STATION +TS +MACHINE +OPERATOR +LOTS +PARENT$' || fail "header"
sed -n 2p back.txt | grep -Eq '^C1 +unit +0 +press +2026-11-27T08:00:00.000Z +M1 +op1 +L1;L2$' || fail "first record"
sed -n 3p back.txt | grep -Eq '^C1 +unit +0 +gauge +2026-11-27T08:00:30.000Z +L9$' || fail "measured record"
sed -n 4p back.txt | grep -Eq '^C1 +unit +0 +assembly +2026-11-27T08:01:00.000Z +M3 +op1 +A1$' || fail "assembly record"
sed -n 5p back.txt | grep -Eq '^A1 +ancestor +1 +C1 +assembly .* H1 +K1$' || fail "parent"
sed -n 6p back.txt | grep -Eq '^K1 +ancestor +2 +A1 +- +\(no records\)$' || fail "grandparent"
grep -q '^C1: 3 records, 2 ancestors, 0 descendants$' back.txt || fail "summary"
# Columns are aligned: every row's TS starts where the header's does.
col=$(head -1 back.txt | grep -bo 'TS ' | head -1 | cut -d: -f1)
for n in 2 3 4 5; do
  [ "$(sed -n ${n}p back.txt | cut -c$((col + 1))-$((col + 4)))" = "2026" ] || fail "row $n is not aligned"
done

# backward, JSON lines: one object per unit; K1 (only named as a parent) has its components.
"$SHEWHART" trace backward K1 --store trace.db --json >k1.jsonl || fail "backward K1: rc $?"
[ "$(wc -l <k1.jsonl)" -eq 4 ] || fail "K1: $(cat k1.jsonl)"
head -1 k1.jsonl | grep -q '^{"serial":"K1","relation":"unit","depth":0,"route":\[\]}$' || fail "K1 line: $(head -1 k1.jsonl)"
grep -q '^{"serial":"A1","relation":"descendant","depth":1,"via":"K1","route":\[{"station":"assembly","ts":"2026-11-27T08:01:00.000Z","machine":"M3","operator":"op1","lots":\["H1"\],"model":"","parent":"K1"}\]}$' k1.jsonl \
  || fail "A1 line: $(cat k1.jsonl)"
grep -q '"serial":"C2","relation":"descendant","depth":2,"via":"A1"' k1.jsonl || fail "C2 below A1"

# forward: L1's consumers, then the assemblies above them; L2 was C1's second lot.
"$SHEWHART" trace forward --lot L1 -c config.yaml --json >l1.jsonl || fail "forward L1: rc $?"
[ "$(cat l1.jsonl | tr '\n' ' ')" = '{"lot":"L1","serial":"C1","depth":0,"ts":"2026-11-27T08:00:00.000Z"} {"lot":"L1","serial":"C2","depth":0,"ts":"2026-11-27T08:00:10.000Z"} {"lot":"L1","serial":"A1","depth":1,"via":"C1"} {"lot":"L1","serial":"K1","depth":2,"via":"A1"} ' ] \
  || fail "forward L1: $(cat l1.jsonl)"
"$SHEWHART" trace forward --lot L2 -c config.yaml >l2.txt || fail "forward L2: rc $?"
cat l2.txt
grep -Eq '^C1 +0 +2026-11-27T08:00:00.000Z$' l2.txt && grep -Eq '^A1 +1 +C1$' l2.txt || fail "forward L2 table"
grep -q '^lot L2: 1 unit consumed it, 2 assemblies contain them$' l2.txt || fail "forward L2 summary"

# window: from inclusive, to exclusive; a lot scope matches the measurement's lot too.
"$SHEWHART" trace window --station press --from 2026-11-27T08:00:00Z --to 2026-11-27T08:00:20Z -c config.yaml >w.txt \
  || fail "window: rc $?"
cat w.txt
[ "$(sed -n '2,3p' w.txt | awk '{print $1}' | tr '\n' ' ')" = "C1 C2 " ] || fail "window units"
grep -q '^2 units in station=press from 2026-11-27T08:00:00.000Z to 2026-11-27T08:00:20.000Z (exclusive)$' w.txt || fail "window summary"
"$SHEWHART" trace window --machine M2 --operator op2 --from 2026-11-27T08:00:20Z -c config.yaml --json >w2.jsonl || fail "window M2"
[ "$(cat w2.jsonl)" = '{"serial":"C3","first":"2026-11-27T08:00:20.000Z"}' ] || fail "window M2: $(cat w2.jsonl)"
"$SHEWHART" trace window --lot L9 --from 2026-11-27T08:00:00+01:00 -c config.yaml --json >w3.jsonl || fail "window L9"
[ "$(cat w3.jsonl)" = '{"serial":"C1","first":"2026-11-27T08:00:30.000Z"}' ] || fail "window L9: $(cat w3.jsonl)"

# Nothing found: exit 1 with the reason on stderr.
rc=0; "$SHEWHART" trace backward NOPE -c config.yaml >out.txt 2>err.txt || rc=$?
[ "$rc" -eq 1 ] && grep -q "no genealogy record of unit 'NOPE'" err.txt || fail "unknown serial: rc $rc $(cat err.txt)"
rc=0; "$SHEWHART" trace forward --lot NOPE -c config.yaml >out.txt 2>err.txt || rc=$?
[ "$rc" -eq 1 ] && grep -q "no unit consumed lot 'NOPE'" err.txt || fail "unknown lot: rc $rc $(cat err.txt)"
rc=0; "$SHEWHART" trace window --station press --from 2026-11-28T00:00:00Z -c config.yaml >out.txt 2>err.txt || rc=$?
[ "$rc" -eq 1 ] || fail "empty window: rc $rc"

# Usage: exit 2.
rc=0; "$SHEWHART" trace window --station press --from yesterday -c config.yaml 2>err.txt || rc=$?
[ "$rc" -eq 2 ] && grep -q "bad --from time 'yesterday'" err.txt || fail "bad time: rc $rc $(cat err.txt)"
rc=0; "$SHEWHART" trace window --station press --from 2026-11-27T08:00:00Z --to 08:00 -c config.yaml 2>err.txt || rc=$?
[ "$rc" -eq 2 ] && grep -q "bad --to time '08:00'" err.txt || fail "bad --to: rc $rc $(cat err.txt)"
rc=0; "$SHEWHART" trace window --station press --from 2026-11-27T09:00:00Z --to 2026-11-27T08:00:00Z -c config.yaml 2>err.txt || rc=$?
[ "$rc" -eq 2 ] && grep -q "not after 'from'" err.txt || fail "reversed window: rc $rc $(cat err.txt)"
rc=0; "$SHEWHART" trace window --from 2026-11-27T08:00:00Z -c config.yaml 2>err.txt || rc=$?
[ "$rc" -eq 2 ] && grep -q "give a scope" err.txt || fail "no scope: rc $rc $(cat err.txt)"
rc=0; "$SHEWHART" trace window --station press -c config.yaml 2>err.txt || rc=$?
[ "$rc" -eq 2 ] || fail "no --from: rc $rc"
rc=0; "$SHEWHART" trace forward -c config.yaml 2>err.txt || rc=$?
[ "$rc" -eq 2 ] || fail "forward without --lot: rc $rc"
rc=0; "$SHEWHART" trace backward C1 2>err.txt || rc=$?
[ "$rc" -eq 2 ] && grep -q "give -c CONFIG or --store PATH" err.txt || fail "no store named: rc $rc"
rc=0; "$SHEWHART" trace backward C1 --store missing.db 2>err.txt || rc=$?
[ "$rc" -eq 2 ] && grep -q "no store at 'missing.db'" err.txt && [ ! -e missing.db ] || fail "missing store: rc $rc $(cat err.txt)"
echo "ok"

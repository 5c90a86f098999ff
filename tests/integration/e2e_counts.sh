#!/usr/bin/env bash
# The load harness counts correctly (not timed): shewhart-load's out-of-control points fire
# exactly one nelson.1 signal each and nothing else (checked by replaying its messages), and
# `bench/run-e2e --counts-only N` reports N frames received by the count sink and N measurements
# processed by `shewhart run`, no loss, and the number of signals computed here independently.
# Usage: e2e_counts.sh SHEWHART SIM ROOT SHEWHART_LOAD
source "$(dirname "$0")/lib.sh"
LOAD=$4
BUILD=$(dirname "$(dirname "$SHEWHART")")  # the build directory: app/shewhart inside it
K=7 S=3 P=10

# Expected signals: characteristic c gets measurements c, c+K, ...: n_c = N/K (+1 for c < N%K);
# its j-th is out of control when (j + o_c) % P == P - 1, o_c = c*P/K: floor((n_c + o_c) / P) of them.
expected_signals() {
  local n=$1 c sum=0 nc
  for ((c = 0; c < K; c++)); do
    nc=$((n / K + (c < n % K ? 1 : 0)))
    sum=$((sum + (nc + c * P / K) / P))
  done
  echo "$sum"
}

# 1. The messages themselves: replayed through every Nelson rule, only the planned nelson.1 signals.
N1=20003
"$LOAD" --print-config --characteristics $K >"$WORK/chars.yaml"
"$LOAD" --output "$WORK/msgs.jsonl" --count $N1 --characteristics $K --stations $S --ooc-every $P --unit-ratio 0.1 \
  --quiet >"$WORK/gen.json" || fail "shewhart-load --output failed"
[ "$(wc -l <"$WORK/msgs.jsonl")" -eq $((N1 + N1 / 10)) ] || fail "expected $((N1 + N1 / 10)) lines, found $(wc -l <"$WORK/msgs.jsonl")"
want=$(expected_signals $N1)
python3 - "$WORK/gen.json" $N1 "$want" <<'PY' || fail "generator summary wrong: $(cat "$WORK/gen.json")"
import json, sys
g = json.load(open(sys.argv[1]))
n, want = int(sys.argv[2]), int(sys.argv[3])
assert g["measurements"] == n and g["unit_events"] == n // 10 and g["expected_signals"] == want, g
PY
"$SHEWHART" replay -c "$WORK/chars.yaml" "$WORK/msgs.jsonl" >"$WORK/replay.jsonl" 2>"$WORK/replay.log" || fail "replay failed"
points=$(grep -c '"type":"point","characteristic":"c[0-9]*","chart":"individuals"' "$WORK/replay.jsonl" || true)
signals=$(grep -c '"type":"signal"' "$WORK/replay.jsonl" || true)
nelson1=$(grep '"type":"signal"' "$WORK/replay.jsonl" | grep -c '"rule":"nelson.1"' || true)
[ "$points" -eq $N1 ] || fail "replay plotted $points individuals points, expected $N1"
[ "$signals" -eq "$want" ] || fail "replay gave $signals signals, expected $want: $(grep '"type":"signal"' "$WORK/replay.jsonl" | grep -v nelson.1 | head -3)"
[ "$nelson1" -eq "$want" ] || fail "$nelson1 of the signals are nelson.1, expected all $want"
echo "replay: $points points, $signals signals (all nelson.1), as planned"

# 2. The harness over ZeroMQ: the count sink and the engine.
N2=200000
want=$(expected_signals $N2)
"$ROOT/bench/run-e2e" --counts-only $N2 --build-dir "$BUILD" --characteristics $K --stations $S --ooc-every $P \
  --work-dir "$WORK/e2e" --json-out "$WORK/e2e.json" >"$WORK/harness.log" 2>&1 || fail "run-e2e failed: $(tail -5 "$WORK/harness.log")"
python3 - "$WORK/e2e.json" $N2 "$want" <<'PY' || fail "harness figures wrong"
import json, sys
r = json.load(open(sys.argv[1]))
n, want = int(sys.argv[2]), int(sys.argv[3])
raw = r["raw"]["runs"][0]
eng = r["engine_unpaced"]["runs"][0]
checks = [
    ("raw frames received", raw["received"], n),
    ("raw loss", raw["loss"], 0),
    ("engine measurements sent", eng["sent"], n),
    ("engine measurements processed", eng["processed"], n),
    ("engine loss", eng["loss"], 0),
    ("engine rejects", eng["rejects"], 0),
    ("engine signals", eng["signals"], want),
    ("harness's expected signals", eng["expected_signals"], want),
    ("latencies recorded", eng["latency"].get("count"), want),
    ("failures", r["failures"], []),
]
bad = [f"{name}: {got!r}, expected {exp!r}" for name, got, exp in checks if got != exp]
for b in bad:
    print(b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
contains "raw ZeroMQ -> count sink" <"$WORK/harness.log" || fail "no table printed"
echo "e2e_counts: ok ($N2 measurements, $want signals counted by the harness)"

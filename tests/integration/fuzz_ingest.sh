#!/usr/bin/env bash
# Hostile input through ZeroMQ and a file source at once: N mutated frames (truncated, oversize,
# NaN/Infinity/1e999, deep nesting, invalid UTF-8, Latin-1 and GBK text, duplicate keys, extreme
# timestamps, garbage) among good measurements and unit events (tests/integration/fuzz_mutator.py,
# deterministic from the seed). Checks: the engine stays up and stops cleanly; every frame is
# accounted for (accepted + rejected = sent, per source); exactly the good frames are charted and
# recorded; no bad frame left a trace (bad frames carry serials X...; none is in the store).
# A deeply nested *unknown* field is not a bad frame: unknown fields are ignored (README, wire
# format), so that category is left out; a whole frame nested deeply is in.
# Usage: fuzz_ingest.sh SHEWHART SIM ROOT [N]   (N default 20000; 1000000 by hand)
source "$(dirname "$0")/lib.sh"
N=${4:-20000}
ZMQ=$(free_port)
HTTP=$(free_port)
M="$ROOT/tests/integration/fuzz_mutator.py"
cats=$(python3 "$M" --list-categories | grep -vx deep_nesting_field | paste -sd, -)
python3 "$M" --seed 11 --count "$N" --base-ms "$(date +%s%3N)" --max-bytes 65536 --only "$cats" \
  --out-frames "$WORK/f.bin" --out-expect "$WORK/f.json" --jsonl "$WORK/f.jsonl" || fail "mutator failed"
expect() { python3 -c "import json,sys; d=json.load(open('$WORK/f.json')); d=d['jsonl'] if sys.argv[1]=='file' else d; print(eval(sys.argv[2]))" "$@"; }
cat >"$WORK/config.yaml" <<YAML
sources:
  - zmq: { bind: "tcp://127.0.0.1:$ZMQ" }
  - file: { path: "$WORK/f.jsonl" }
store: { sqlite: "$WORK/s.db" }
http: { listen: "127.0.0.1:$HTTP" }
engine: { max_message_bytes: 65536 }
characteristics:
  - id: bore
    chart: { type: individuals, mr_rules: false }
    limits: { mean: 74, sigma: 0.01 }
    rules: [nelson.1]
YAML
"$SHEWHART" run -c "$WORK/config.yaml" >"$WORK/run.log" 2>"$WORK/engine.log" &
ENGINE=$!
PIDS+=("$ENGINE")
wait_http "http://127.0.0.1:$HTTP/health" 10 || fail "engine did not answer"
start=$(date +%s%N)
python3 "$ROOT/tests/integration/fuzz_send.py" --connect "tcp://127.0.0.1:$ZMQ" --frames "$WORK/f.bin" >"$WORK/send.log" 2>&1 ||
  fail "sending failed: $(cat "$WORK/send.log")"
sum() {  # $1 source: accepted measurements, unit events, rejects
  curl -fs "http://127.0.0.1:$HTTP/metrics" | awk -v s="source=\"$1\"" '
    index($1, s) && $1 ~ /^shewhart_measurements_total/ {m += $2}
    index($1, s) && $1 ~ /^shewhart_unit_events_total/ {u += $2}
    index($1, s) && $1 ~ /^shewhart_rejected_total/ {r += $2}
    END {printf "%d %d %d\n", m, u, r}'
}
counted() {  # $1 source, $2 frames
  local m u r
  read -r m u r <<<"$(sum "$1")"
  [ $((m + u + r)) -eq "$2" ]
}
sent=$(expect zmq "d['frames']")
lines=$(expect file "d['frames']")
WAIT_S=120 wait_for counted zmq0 "$sent" || fail "zmq0: accepted + rejected = $(sum zmq0) (measurements, unit events, rejects), sent $sent"
WAIT_S=120 wait_for counted file1 "$lines" || fail "file1: $(sum file1), lines $lines"
elapsed=$(awk -v a="$start" -v b="$(date +%s%N)" 'BEGIN {printf "%.1f", (b - a) / 1e9}')
kill -0 "$ENGINE" 2>/dev/null || fail "the engine died"
for s in "zmq0 zmq" "file1 file"; do
  set -- $s
  read -r m u r <<<"$(sum "$1")"
  want_m=$(expect "$2" "d['good_by_kind']['measurement']")
  want_u=$(expect "$2" "d['good_by_kind']['unit']")
  want_r=$(expect "$2" "d['bad']")
  [ "$m $u $r" = "$want_m $want_u $want_r" ] ||
    fail "$1: accepted $m measurements, $u unit events, rejected $r; expected $want_m, $want_u, $want_r"
done
[ "$(curl -fs "http://127.0.0.1:$HTTP/metrics" | awk '$1 == "shewhart_engine_measurements_total" {print $2}')" = \
  "$(($(expect zmq "d['good_by_kind']['measurement']") + $(expect file "d['good_by_kind']['measurement']")))" ] ||
  fail "not every accepted measurement was charted"
term_and_check "$ENGINE" 10
leaked=$(sqlite3 "$WORK/s.db" "SELECT count(*) FROM unit_events WHERE unit LIKE 'X%'")
[ "$leaked" = 0 ] || fail "$leaked records of bad frames are in the store: $(sqlite3 "$WORK/s.db" "SELECT unit, ts FROM unit_events WHERE unit LIKE 'X%' LIMIT 5")"
good=$(sqlite3 "$WORK/s.db" "SELECT count(DISTINCT unit) FROM unit_events")
echo "fuzz_ingest: ok: $sent frames over ZeroMQ and $lines lines from a file, every one accounted for, $good good units recorded, no bad one, in ${elapsed} s"

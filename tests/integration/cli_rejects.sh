#!/usr/bin/env bash
# shewhart run over a JSONL file with good lines, a malformed line, an unknown characteristic
# and a non-numeric value: each bad line is a reject with its reason in /metrics and
# /api/rejects; every good line is processed. SIGTERM stops it with exit 0 within 2 s.
source "$(dirname "$0")/lib.sh"
HTTP=$(free_port)
cat > "$WORK/in.jsonl" <<'JSONL'
{"characteristic":"bore","value":10.01,"ts":1000,"serial":"S1","station":"st1"}
{"characteristic":"bore","value":
{"characteristic":"bore","value":9.98,"ts":2000,"serial":"S2","station":"st1"}
{"characteristic":"nope","value":1,"ts":3000}
{"characteristic":"bore","value":"abc","ts":4000}
{"characteristic":"bore","value":10.02,"ts":5000,"serial":"S3","station":"st1"}
JSONL
cat > "$WORK/config.yaml" <<YAML
sources:
  - file: { path: "$WORK/in.jsonl" }
store: { sqlite: "$WORK/s.db" }
engine: { past_tolerance: 36500d }   # fixed event times, long past
http: { listen: "127.0.0.1:$HTTP" }
characteristics:
  - id: bore
    chart: { type: individuals }
    limits: { mean: 10, sigma: 0.1 }
YAML
"$SHEWHART" run -c "$WORK/config.yaml" >"$WORK/run.log" 2>&1 &
ENGINE=$!
PIDS+=("$ENGINE")
wait_http "http://127.0.0.1:$HTTP/health" 10 || fail "engine did not answer on port $HTTP"
metrics() { curl -fs "http://127.0.0.1:$HTTP/metrics"; }
WAIT_S=10 wait_for sh -c "curl -fs http://127.0.0.1:$HTTP/metrics | grep -q 'shewhart_measurements_total{source=\"file0\"} 3'" \
  || fail "3 good measurements were not all processed: $(metrics | grep measurements_total)"
m=$(metrics)
for want in 'shewhart_rejected_total{source="file0",reason="malformed"} 1' \
            'shewhart_rejected_total{source="file0",reason="unknown_characteristic"} 1' \
            'shewhart_rejected_total{source="file0",reason="wrong_type"} 1'; do
  grep -qF "$want" <<<"$m" || fail "metrics lack: $want"
done
api=$(curl -fs "http://127.0.0.1:$HTTP/api/rejects")
echo "$api"
grep -q '"position":2,"reason":"malformed"' <<<"$api" || fail "/api/rejects lacks the malformed line 2"
grep -q '"position":4,"reason":"unknown_characteristic","field":"characteristic","message":"unknown characteristic '"'"'nope'"'"'"' <<<"$api" \
  || fail "/api/rejects lacks the unknown characteristic on line 4"
grep -q '"position":5,"reason":"wrong_type","field":"value"' <<<"$api" || fail "/api/rejects lacks the wrong type on line 5"
term_and_check "$ENGINE" 2
echo "cli_rejects: ok"

#!/usr/bin/env bash
# kill -9 of the engine between an action's commit and its delivery: the delivery is in the
# store (the outbox commits before it sends); after a restart it is delivered, exactly once.
source "$(dirname "$0")/lib.sh"
HTTP=$(free_port)
mkdir -p "$WORK/calls"
# The hook fails until $WORK/up exists (the receiver is "down"), then records its call.
cat >"$WORK/hook.sh" <<SH
#!/bin/sh
[ -e "$WORK/up" ] || exit 1
printf '%s %s\n' "\$SHEWHART_IDEMPOTENCY_KEY" "\$SHEWHART_ATTEMPT" >>"$WORK/calls/calls.txt"
SH
chmod +x "$WORK/hook.sh"
cat >"$WORK/in.jsonl" <<'JSONL'
{"characteristic":"bore","value":10.0,"ts":"2026-11-27T08:00:00Z","serial":"U1","station":"A"}
{"characteristic":"bore","value":10.9,"ts":"2026-11-27T08:00:01Z","serial":"U2","station":"A"}
JSONL
cat >"$WORK/config.yaml" <<YAML
sources: [ { file: { path: "$WORK/in.jsonl" } } ]
store: { sqlite: "$WORK/s.db" }
http: { listen: "127.0.0.1:$HTTP" }
engine: { past_tolerance: 36500d, retry_base: 200ms, retry_max: 400ms }
characteristics:
  - id: bore
    chart: { type: individuals, mr_rules: false }
    limits: { mean: 10, sigma: 0.1 }
    rules: [nelson.1]
    response: line
responses:
  line: { tiers: [ { tier: 1, when: { signal: any }, do: [notify] } ] }
hooks:
  notify: { exec: { argv: ["$WORK/hook.sh"], retries: 1000 } }
YAML
"$SHEWHART" run -c "$WORK/config.yaml" >"$WORK/run1.log" 2>"$WORK/engine1.log" &
ENGINE=$!
PIDS+=("$ENGINE")
wait_http "http://127.0.0.1:$HTTP/health" 10 || fail "engine did not answer on port $HTTP"
failed_twice() { curl -fs "http://127.0.0.1:$HTTP/api/deliveries?state=pending" | contains '"attempts":[2-9]'; }
WAIT_S=15 wait_for failed_twice || fail "the delivery was not pending after failed attempts: $(curl -s "http://127.0.0.1:$HTTP/api/deliveries")"
kill -KILL "$ENGINE"
wait "$ENGINE" 2>/dev/null || true
[ ! -e "$WORK/calls/calls.txt" ] || fail "the hook recorded a call while down"
touch "$WORK/up"  # the receiver is back
# The restart reads the same file again: the alarm is open already, so no new delivery is made.
"$SHEWHART" run -c "$WORK/config.yaml" >"$WORK/run2.log" 2>"$WORK/engine2.log" &
ENGINE=$!
PIDS+=("$ENGINE")
wait_http "http://127.0.0.1:$HTTP/health" 10 || fail "engine did not answer after the restart"
delivered() { curl -fs "http://127.0.0.1:$HTTP/api/deliveries?state=delivered" | contains '"idempotency_key":"1-1-notify"'; }
WAIT_S=15 wait_for delivered || fail "the pending delivery was not delivered after the restart"
sleep 1
term_and_check "$ENGINE" 5
cat "$WORK/calls/calls.txt"
[ "$(wc -l <"$WORK/calls/calls.txt")" -eq 1 ] || fail "the delivery happened $(wc -l <"$WORK/calls/calls.txt") times, wanted once"
grep -q '^1-1-notify ' "$WORK/calls/calls.txt" || fail "wrong idempotency key"
echo "outbox_crash: ok"

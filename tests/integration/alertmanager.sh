#!/usr/bin/env bash
# The engine's alarms in a real Prometheus Alertmanager (Debian package prometheus-alertmanager,
# installed by scripts/setup): an alarm whose policy's tier 1 runs an `alertmanager` hook shows
# up in Alertmanager's /api/v2/alerts with its labels; resolved by hand in the engine, the alert
# is sent again with endsAt and is no longer active in Alertmanager. Alertmanager's
# resolve_timeout is 2 s here: the hook's refresh (500 ms) keeps the open alarm's alert active
# well past it.
source "$(dirname "$0")/lib.sh"
AM_BIN=""
for b in prometheus-alertmanager alertmanager; do
  if command -v "$b" >/dev/null; then AM_BIN=$(command -v "$b"); break; fi
done
[ -n "$AM_BIN" ] || fail "no prometheus-alertmanager binary on PATH: install the Debian package prometheus-alertmanager (scripts/setup does)"
AM=$(free_port)
HTTP=$(free_port)
[ "$AM" != "$HTTP" ] || HTTP=$(free_port)

cat > "$WORK/alertmanager.yml" <<'YAML'
global:
  resolve_timeout: 2s
route:
  receiver: "null"
receivers:
  - name: "null"
YAML
mkdir -p "$WORK/am-data"
"$AM_BIN" --config.file="$WORK/alertmanager.yml" --storage.path="$WORK/am-data" \
  --web.listen-address="127.0.0.1:$AM" --cluster.listen-address= --log.level=warn \
  >"$WORK/alertmanager.log" 2>&1 &
PIDS+=("$!")
WAIT_S=20 wait_for curl -fs -o /dev/null "http://127.0.0.1:$AM/-/ready" || fail "alertmanager did not become ready on port $AM"

cat > "$WORK/tokens.yaml" <<'YAML'
anna: "anna-0123456789abcdef"
YAML
# Event times in the past: the resolution by hand (wall clock) comes after the opening.
cat > "$WORK/in.jsonl" <<'JSONL'
{"characteristic":"bore","value":10.0,"ts":"2026-01-05T08:00:00Z","serial":"U1","station":"A"}
{"characteristic":"bore","value":10.9,"ts":"2026-01-05T08:00:01Z","serial":"U2","station":"A"}
JSONL
cat > "$WORK/config.yaml" <<YAML
sources:
  - file: { path: "$WORK/in.jsonl" }
store: { sqlite: "$WORK/s.db" }
engine: { past_tolerance: 36500d }   # fixed event times, long past
http: { listen: "127.0.0.1:$HTTP", tokens: "$WORK/tokens.yaml" }
characteristics:
  - id: bore
    chart: { type: individuals, mr_rules: false }
    limits: { mean: 10, sigma: 0.1 }
    rules: [nelson.1]
    scope: [station]
    response: line
responses:
  line:
    tiers:
      - { tier: 1, when: { signal: any }, do: [log, am] }
hooks:
  am:
    alertmanager:
      url: "http://127.0.0.1:$AM"
      generator_url: "http://127.0.0.1:$HTTP/api/alarms/{id}"
      timeout: 2s
      refresh: 500ms
      retries: 20
YAML
"$SHEWHART" run -c "$WORK/config.yaml" >>"$WORK/run.log" 2>>"$WORK/engine.log" &
ENGINE=$!
PIDS+=("$ENGINE")
wait_http "http://127.0.0.1:$HTTP/health" 10 || fail "engine did not answer on port $HTTP"

alerts() { curl -fs "http://127.0.0.1:$AM/api/v2/alerts" >"$WORK/alerts.json"; }
firing() {
  alerts || return 1
  grep -q '"alertname":"ShewhartAlarm"' "$WORK/alerts.json" && grep -q '"alarm":"1"' "$WORK/alerts.json"
}
WAIT_S=20 wait_for firing || fail "alarm 1 did not appear in alertmanager: $(cat "$WORK/alerts.json")"
for want in '"characteristic":"bore"' '"rule":"nelson.1"' '"station":"A"' '"chart":"individuals"' '"tier":"1"' \
  '"policy":"line"' '"startsAt":"2026-01-05T08:00:01.000Z"' '"state":"active"' \
  "\"generatorURL\":\"http://127.0.0.1:$HTTP/api/alarms/1\"" '"summary":"bore: nelson.1 on the individuals chart at station=A'; do
  grep -qF "$want" "$WORK/alerts.json" || fail "the alert lacks $want: $(cat "$WORK/alerts.json")"
done
echo "alert firing in alertmanager"
sleep 4
firing || fail "alarm 1 was not kept active past resolve_timeout (2 s): $(cat "$WORK/alerts.json")"
grep -q '"state":"active"' "$WORK/alerts.json" || fail "alarm 1 is no longer active: $(cat "$WORK/alerts.json")"
echo "alert still firing after 4 s (refreshed)"

SHEWHART_TOKEN="anna-0123456789abcdef" "$SHEWHART" alarms resolve 1 --url "http://127.0.0.1:$HTTP" --note "fixed" \
  >"$WORK/resolve.txt" || fail "resolve failed: $(cat "$WORK/resolve.txt")"
grep -q "state resolved" "$WORK/resolve.txt" || fail "not resolved: $(cat "$WORK/resolve.txt")"
delivered() {
  curl -fs "http://127.0.0.1:$HTTP/api/deliveries?state=delivered" >"$WORK/deliveries.json" &&
    grep -q '"idempotency_key":"1-resolved-1-am"' "$WORK/deliveries.json"
}
WAIT_S=20 wait_for delivered || fail "the resolution was not delivered: $(curl -s "http://127.0.0.1:$HTTP/api/deliveries")"
# Alertmanager lists only alerts whose endsAt has not passed: a resolved alert leaves the list.
gone() { alerts && ! grep -q '"alarm":"1"' "$WORK/alerts.json"; }
WAIT_S=10 wait_for gone || fail "alarm 1 is still active in alertmanager after its resolution: $(cat "$WORK/alerts.json")"
echo "alert resolved in alertmanager"
term_and_check "$ENGINE" 5
echo "alertmanager: ok"

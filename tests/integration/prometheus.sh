#!/usr/bin/env bash
# /metrics, the dashboards and the rule files against a real Prometheus (Debian package
# prometheus, installed by scripts/setup): `shewhart run` fed by the simulator (station st2
# drifts: alarms, a hold, held units; a webhook hook whose receiver is down: failed
# deliveries), scraped every second by `prometheus` configured from dashboards/prometheus/.
#   - `promtool check metrics` passes on a scrape of /metrics;
#   - `promtool check rules` on recording.yml and alerts.yml, `promtool test rules` on
#     alerts_test.yml;
#   - every expression of every panel of every dashboard (template variables resolved, the
#     characteristic bore_diameter) returns at least one series through /api/v1/query, and so
#     does every recording rule (tests/integration/dashboard_queries.py names any that does not).
source "$(dirname "$0")/lib.sh"
for b in prometheus promtool python3; do
  command -v "$b" >/dev/null || fail "no $b on PATH: install the Debian package ${b/promtool/prometheus} (scripts/setup does)"
done
PULL=$(free_port); PUB=$(free_port); HTTP=$(free_port); PROM=$(free_port); DEAD=$(free_port)
[ "$(printf '%s\n' "$PULL" "$PUB" "$HTTP" "$PROM" "$DEAD" | sort -u | wc -l)" -eq 5 ] || fail "port collision, run again"

cat > "$WORK/config.yaml" <<YAML
sources:
  - zmq: { bind: "tcp://127.0.0.1:$PULL" }
store: { sqlite: "$WORK/s.db" }
http: { listen: "127.0.0.1:$HTTP" }
engine: { shards: 2, retry_base: 100ms, retry_max: 200ms }
characteristics:
  - id: bore_diameter
    unit: mm
    spec: { lsl: 73.95, target: 74.0, usl: 74.05 }
    chart: { type: individuals }
    limits: { mean: 74.0, sigma: 0.01 }
    rules: [nelson.1, nelson.2, spec]
    scope: [station]
    response: dimensional
responses:
  dimensional:
    tiers:
      - { tier: 1, when: { signal: any }, do: [log, quarantine, pub, line] }
      - { tier: 2, when: { signals: 3, within: 1h }, do: [log] }
      - { tier: 3, when: { rule: [spec] }, do: [log] }
hooks:
  pub: { zmq_pub: { bind: "tcp://127.0.0.1:$PUB" } }
  line: { webhook: { url: "http://127.0.0.1:$DEAD/line/{station}", timeout: 1s, retries: 2 } }
YAML
"$SHEWHART" run -c "$WORK/config.yaml" >"$WORK/run.log" 2>"$WORK/engine.log" &
ENGINE=$!
PIDS+=("$ENGINE")
wait_http "http://127.0.0.1:$HTTP/health" 10 || fail "engine did not answer on port $HTTP"

# Prometheus from the example: every second, this engine, the rule files beside it.
mkdir -p "$WORK/prom/data"
cp "$ROOT/dashboards/prometheus/recording.yml" "$ROOT/dashboards/prometheus/alerts.yml" \
  "$ROOT/dashboards/prometheus/alerts_test.yml" "$WORK/prom/"
sed -e 's/scrape_interval: [0-9]*s/scrape_interval: 1s/' -e 's/scrape_timeout: [0-9]*s/scrape_timeout: 1s/' \
  -e 's/evaluation_interval: [0-9]*s/evaluation_interval: 1s/' -e "s/127\.0\.0\.1:9464/127.0.0.1:$HTTP/" \
  "$ROOT/dashboards/prometheus/prometheus.yml" >"$WORK/prom/prometheus.yml"
contains -F "127.0.0.1:$HTTP" <"$WORK/prom/prometheus.yml" || fail "the example's target (127.0.0.1:9464) was not found to replace"
! contains -E "(scrape|evaluation)_interval: ([02-9]|1[0-9])" <"$WORK/prom/prometheus.yml" || fail "an interval of the example was not set to 1s"
promtool check config "$WORK/prom/prometheus.yml" >"$WORK/promtool-config.log" 2>&1 || fail "promtool check config: $(cat "$WORK/promtool-config.log")"
( cd "$WORK/prom" && promtool check rules recording.yml alerts.yml ) >"$WORK/promtool-rules.log" 2>&1 \
  || fail "promtool check rules: $(cat "$WORK/promtool-rules.log")"
( cd "$WORK/prom" && promtool test rules alerts_test.yml ) >"$WORK/promtool-test.log" 2>&1 \
  || fail "promtool test rules: $(cat "$WORK/promtool-test.log")"
echo "promtool: config, rules and rule tests pass"
prometheus --config.file="$WORK/prom/prometheus.yml" --storage.tsdb.path="$WORK/prom/data" \
  --web.listen-address="127.0.0.1:$PROM" --log.level=warn >"$WORK/prometheus.log" 2>&1 &
PIDS+=("$!")
WAIT_S=30 wait_for curl -fs -o /dev/null "http://127.0.0.1:$PROM/-/ready" || fail "prometheus did not become ready on port $PROM"

# The line: 300 units a second for 60 s of which the first 3 are in control; st2 then drifts.
"$SIM" --connect "tcp://127.0.0.1:$PULL" --rate 300 --duration 60 --drift-after 3 --drift-per-unit 0.05 \
  --seed 7 --quiet 2>"$WORK/sim.log" &
PIDS+=("$!")

# The value of an instant query's first series ("" when none).
prom_value() {
  curl -fs --get "http://127.0.0.1:$PROM/api/v1/query" --data-urlencode "query=$1" |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")'
}
prom_at_least() { local v; v=$(prom_value "$1"); [ -n "$v" ] && python3 -c "import sys; sys.exit(0 if float('$v') >= $2 else 1)"; }
WAIT_S=40 wait_for prom_at_least 'sum(shewhart_held_units{state="held"})' 1 || fail "no held units in prometheus: $(prom_value 'sum(shewhart_held_units)')"
WAIT_S=20 wait_for prom_at_least 'sum(shewhart_station_units_held_total{station="st2"})' 1 || fail "no held st2 units counted"
WAIT_S=20 wait_for prom_at_least 'sum(shewhart_hook_deliveries_total{action="line",outcome="failed"})' 1 || fail "no failed webhook delivery counted"
WAIT_S=20 wait_for prom_at_least 'count_over_time(up{job="shewhart"}[1m])' 8 || fail "prometheus scraped the engine fewer than 8 times"
prom_at_least 'sum(shewhart_alarms_open)' 1 || fail "no open alarm in prometheus"
prom_at_least 'min(up{job="shewhart"})' 1 || fail "the target is down: $(curl -fs "http://127.0.0.1:$PROM/api/v1/targets")"
echo "prometheus sees alarms, held units, first-pass-yield counters and failed hook deliveries"

# The exposition as promtool lints it (HELP and TYPE, names, suffixes, histogram shape).
curl -fs "http://127.0.0.1:$HTTP/metrics" >"$WORK/metrics.txt" || fail "GET /metrics failed"
promtool check metrics <"$WORK/metrics.txt" >"$WORK/promtool-metrics.log" 2>&1 || fail "promtool check metrics: $(cat "$WORK/promtool-metrics.log")"
[ ! -s "$WORK/promtool-metrics.log" ] || fail "promtool check metrics: $(cat "$WORK/promtool-metrics.log")"
for family in shewhart_chart_value shewhart_capability shewhart_alarms_open shewhart_held_units shewhart_holds \
  shewhart_station_units_total shewhart_hook_deliveries_total shewhart_arrival_to_signal_seconds \
  shewhart_arrival_to_response_seconds; do
  contains -x "# TYPE $family [a-z]*" <"$WORK/metrics.txt" || fail "no TYPE line for $family"
done
! contains -E '(serial|lot|unit)="' <"$WORK/metrics.txt" || fail "a serial, lot or unit label in /metrics"
echo "promtool check metrics: $(grep -c '^# TYPE' "$WORK/metrics.txt") families, $(grep -vc '^#' "$WORK/metrics.txt") samples, no problem"

python3 "$ROOT/tests/integration/dashboard_queries.py" "http://127.0.0.1:$PROM" "$ROOT"/dashboards/grafana/*.json \
  --var characteristic=bore_diameter --rules "$ROOT/dashboards/prometheus/recording.yml" >"$WORK/queries.log" 2>"$WORK/queries.err" \
  || { cat "$WORK/queries.log"; fail "dashboard queries: $(cat "$WORK/queries.err")"; }
tail -n 1 "$WORK/queries.log"
term_and_check "$ENGINE" 5
echo "prometheus: ok"

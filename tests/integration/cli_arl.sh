#!/usr/bin/env bash
# shewhart arl: simulated average run lengths agree with the textbook values (rule 1 alone:
# 370.4 in control, 43.9 at a 1-sigma shift; tabular CUSUM k 0.5 h 5: about 465 and 10.4),
# and the command refuses what it cannot simulate.
source "$(dirname "$0")/lib.sh"
cat > "$WORK/config.yaml" <<'YAML'
characteristics:
  - { id: r1, chart: { type: individuals, mr_rules: false }, limits: { mean: 10, sigma: 2 }, rules: [nelson.1] }
  - { id: cusum, chart: { type: cusum, k: 0.5, h: 5 }, limits: { mean: 0, sigma: 1 } }
  - { id: defects, chart: { type: c }, limits: { center: 4 } }
YAML
# Within 4 standard errors of the known value (fixed seed: the result is deterministic).
within() {  # within VALUE SE EXPECTED
  awk -v v="$1" -v se="$2" -v e="$3" 'BEGIN { d = v - e; if (d < 0) d = -d; exit !(d <= 4 * se) }'
}
"$SHEWHART" arl -c "$WORK/config.yaml" --characteristic r1 --shift 0,1 --runs 3000 --json >"$WORK/r1.jsonl" \
  || fail "arl failed"
cat "$WORK/r1.jsonl"
read -r arl0 se0 < <(sed -n 1p "$WORK/r1.jsonl" | sed -E 's/.*"arl":([0-9.e+-]+),"sd":[0-9.e+-]+,"se":([0-9.e+-]+).*/\1 \2/')
read -r arl1 se1 < <(sed -n 2p "$WORK/r1.jsonl" | sed -E 's/.*"arl":([0-9.e+-]+),"sd":[0-9.e+-]+,"se":([0-9.e+-]+).*/\1 \2/')
within "$arl0" "$se0" 370.4 || fail "in-control ARL of rule 1 is $arl0 (se $se0), expected about 370.4"
within "$arl1" "$se1" 43.9 || fail "ARL of rule 1 at a 1-sigma shift is $arl1 (se $se1), expected about 43.9"
"$SHEWHART" arl -c "$WORK/config.yaml" --characteristic cusum --shift 1 --runs 1000 --json >"$WORK/cusum.jsonl" \
  || fail "arl on cusum failed"
read -r arlc sec < <(sed -E 's/.*"arl":([0-9.e+-]+),"sd":[0-9.e+-]+,"se":([0-9.e+-]+).*/\1 \2/' "$WORK/cusum.jsonl")
within "$arlc" "$sec" 10.4 || fail "CUSUM ARL at a 1-sigma shift is $arlc (se $sec), expected about 10.4"
"$SHEWHART" arl -c "$WORK/config.yaml" --characteristic r1 --runs 200 | contains "^SHIFT" || fail "no table"
rc=0
"$SHEWHART" arl -c "$WORK/config.yaml" --characteristic defects 2>"$WORK/err.txt" || rc=$?
[ "$rc" -eq 2 ] && grep -q "attribute chart" "$WORK/err.txt" || fail "attribute chart not refused (rc $rc): $(cat "$WORK/err.txt")"
rc=0
"$SHEWHART" arl -c "$WORK/config.yaml" --characteristic nope 2>"$WORK/err.txt" || rc=$?
[ "$rc" -eq 2 ] && grep -q "no characteristic 'nope'" "$WORK/err.txt" || fail "unknown characteristic not refused"
rc=0
"$SHEWHART" arl -c "$WORK/config.yaml" --characteristic r1 --shift 1,x 2>"$WORK/err.txt" || rc=$?
[ "$rc" -eq 2 ] && grep -q "found 'x'" "$WORK/err.txt" || fail "bad --shift not refused"
echo "cli_arl: ok (rule 1: $arl0 in control, $arl1 at 1 sigma; cusum: $arlc at 1 sigma)"

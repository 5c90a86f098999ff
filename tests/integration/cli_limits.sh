#!/usr/bin/env bash
# shewhart limits: recalc records a version estimated from a file (x-bar/R, uwave-r), list shows
# it, replay on the same store judges later points against it, and bad requests are refused.
source "$(dirname "$0")/lib.sh"
cat > "$WORK/config.yaml" <<'YAML'
store: { sqlite: limits.db }
engine: { past_tolerance: 36500d }   # fixed event times, long past
characteristics:
  - id: bore
    chart: { type: xbar_r, subgroup_size: 2 }
    limits: { mean: 0, sigma: 1 }
    rules: [nelson.1]
YAML
# Four subgroups of 2: (10, 12) (11, 11) (9, 13) (10, 12): mean 11, R-bar 2, sigma 2 / 1.128.
for v in 10 12 11 11 9 13 10 12; do echo "{\"characteristic\":\"bore\",\"value\":$v}"; done >"$WORK/study.jsonl"
cd "$WORK"
"$SHEWHART" limits recalc -c config.yaml --characteristic bore --effective 2026-11-27T09:00:00Z \
  --user anna --reason "new fixture" study.jsonl >out.txt || fail "recalc failed: $(cat out.txt)"
cat out.txt
grep -q "recorded limits of 'bore' as version 1: centre 11, sigma 1.773049645390071 from 4 points" out.txt \
  || fail "unexpected recalc output"
"$SHEWHART" limits list -c config.yaml --json >list.jsonl || fail "list failed"
grep -q '"version":1,"origin":"recalc","effective":"2026-11-27T09:00:00.000Z","center":11.0' list.jsonl \
  || fail "list does not show the version: $(cat list.jsonl)"
grep -q '"user":"anna","reason":"new fixture"' list.jsonl || fail "user and reason not recorded"
"$SHEWHART" limits list -c config.yaml | contains "1 limits version" || fail "no table"
# Before 09:00 the config's limits (mean 0) judge: both subgroups fire; from 09:00 the version's.
cat >run.jsonl <<'JSONL'
{"characteristic":"bore","value":11,"ts":"2026-11-27T08:59:00Z"}
{"characteristic":"bore","value":11,"ts":"2026-11-27T08:59:01Z"}
{"characteristic":"bore","value":11,"ts":"2026-11-27T09:00:00Z"}
{"characteristic":"bore","value":11,"ts":"2026-11-27T09:00:01Z"}
JSONL
"$SHEWHART" replay -c config.yaml --store limits.db run.jsonl >replay.jsonl 2>replay.log || fail "replay failed"
[ "$(grep -c '"type":"point".*"chart":"xbar".*"cl":0.0' replay.jsonl)" -eq 1 ] || fail "first subgroup not judged against mean 0"
[ "$(grep -c '"type":"point".*"chart":"xbar".*"cl":11.0' replay.jsonl)" -eq 1 ] || fail "second subgroup not judged against the version"
grep -q '"type":"summary".*"signals":1' replay.jsonl || fail "expected exactly one signal: $(grep summary replay.jsonl)"
rc=0; "$SHEWHART" limits recalc -c config.yaml --characteristic nope study.jsonl 2>err.txt || rc=$?
[ "$rc" -eq 2 ] && grep -q "no characteristic 'nope'" err.txt || fail "unknown characteristic: rc $rc $(cat err.txt)"
rc=0; "$SHEWHART" limits recalc -c config.yaml --characteristic bore --effective soon study.jsonl 2>err.txt || rc=$?
[ "$rc" -eq 2 ] && grep -q "found 'soon'" err.txt || fail "bad --effective: rc $rc $(cat err.txt)"
head -1 study.jsonl >one.jsonl
rc=0; "$SHEWHART" limits recalc -c config.yaml --characteristic bore one.jsonl 2>err.txt || rc=$?
[ "$rc" -eq 1 ] && grep -q "needs at least 2" err.txt || fail "too little data: rc $rc $(cat err.txt)"
rc=0; "$SHEWHART" limits recalc -c config.yaml --characteristic bore missing.jsonl 2>err.txt || rc=$?
[ "$rc" -eq 2 ] || fail "missing input file: rc $rc $(cat err.txt)"
"$SHEWHART" limits recalc -c config.yaml --characteristic bore --dry-run study.jsonl | contains "would record" \
  || fail "dry run"
"$SHEWHART" limits list -c config.yaml | contains "1 limits version" || fail "the dry run recorded something"
echo "cli_limits: ok"

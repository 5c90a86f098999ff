#!/usr/bin/env bash
# shewhart check: every problem at once with line and column, and the exit codes 0 / 1 / 2.
source "$(dirname "$0")/lib.sh"

cat > "$WORK/bad.yaml" <<'YAML'
characteristics:
  - id: bore
    chart: { type: individuals }
    limits: { mean: 74.0, sigma: wide }
    colour: red
    unit: mm
    unit: inch
YAML
rc=0
"$SHEWHART" check -c "$WORK/bad.yaml" >"$WORK/out.txt" 2>&1 || rc=$?
cat "$WORK/out.txt"
[ "$rc" -eq 1 ] || fail "check of an invalid config exited $rc (wanted 1)"
grep -q "bad.yaml:4:34: characteristics\[0\].limits.sigma: expected a number, found 'wide'" "$WORK/out.txt" || fail "wrong type not reported at 4:34"
grep -q "bad.yaml:5:5: characteristics\[0\].colour: unknown key 'colour'" "$WORK/out.txt" || fail "unknown key not reported at 5:5"
grep -q "bad.yaml:7:5: characteristics\[0\].unit: duplicate key 'unit'" "$WORK/out.txt" || fail "duplicate key not reported at 7:5"
grep -q "3 problems in" "$WORK/out.txt" || fail "no problem count"

rc=0
"$SHEWHART" check -c "$ROOT/examples/line-demo/config.yaml" >"$WORK/ok.txt" 2>&1 || rc=$?
[ "$rc" -eq 0 ] || { cat "$WORK/ok.txt"; fail "the demo config does not check (exit $rc)"; }
grep -q ": ok (1 characteristic, 1 source)" "$WORK/ok.txt" || fail "no ok line: $(cat "$WORK/ok.txt")"

rc=0
"$SHEWHART" check -c "$WORK/missing.yaml" >"$WORK/missing.txt" 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "check of a missing file exited $rc (wanted 2)"
grep -q "cannot read config file '$WORK/missing.yaml'" "$WORK/missing.txt" || fail "missing file not named"

rc=0
"$SHEWHART" check --bogus >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "an unknown option exited $rc (wanted 2)"
rc=0
"$SHEWHART" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "no subcommand exited $rc (wanted 2)"
"$SHEWHART" --help | contains "replay" || fail "--help does not list replay"
# One version everywhere (CMakeLists.txt's project version); usage errors in one line, exit 2.
"$SHEWHART" --version | contains -x "shewhart $(sed -n 's/^project(shewhart VERSION \([0-9.]*\).*/\1/p' "$ROOT/CMakeLists.txt")" \
  || fail "--version: $("$SHEWHART" --version)"
rc=0; "$SHEWHART" bogus 2>"$WORK/err.txt" || rc=$?
[ "$rc" -eq 2 ] && grep -q "unknown subcommand 'bogus'; one of: run, check, replay" "$WORK/err.txt" \
  || fail "unknown subcommand: rc $rc $(cat "$WORK/err.txt")"
"$SHEWHART" check -v -c "$ROOT/examples/line-demo/config.yaml" >/dev/null 2>&1 || fail "-v after the subcommand is refused"
rc=0; "$SHEWHART" run -c "$ROOT/examples/line-demo/config.yaml" --duration abc 2>"$WORK/err.txt" || rc=$?
[ "$rc" -eq 2 ] && grep -qx -- "--duration: value abc is not a finite number >= 0" "$WORK/err.txt" \
  || fail "--duration abc: rc $rc $(cat "$WORK/err.txt")"

# shewhart routes: each characteristic's key group (FNV-1a of the id mod 256), shard and judging source.
cat > "$WORK/routes.yaml" <<'YAML'
engine: { shards: 2 }
sources:
  - zmq: { bind: "tcp://127.0.0.1:5601" }
characteristics:
  - { id: foobar, chart: { type: individuals }, limits: { mean: 1, sigma: 1 } }
  - { id: a, chart: { type: individuals }, limits: { mean: 1, sigma: 1 } }
YAML
"$SHEWHART" routes -c "$WORK/routes.yaml" >"$WORK/routes.txt" || fail "routes failed"
grep -Eq '^foobar +104 +0  source zmq0 \(tcp://127.0.0.1:5601\)$' "$WORK/routes.txt" || fail "routes: $(cat "$WORK/routes.txt")"
grep -Eq '^a +44 +0  source zmq0' "$WORK/routes.txt" || fail "routes (a): $(cat "$WORK/routes.txt")"
"$SHEWHART" routes -c "$WORK/routes.yaml" --shards 3 --json >"$WORK/routes.json" || fail "routes --json failed"
grep -qx '{"characteristic":"foobar","group":104,"shard":2,"source":null,"endpoint":null}' "$WORK/routes.json" \
  || fail "routes --json: $(cat "$WORK/routes.json")"
rc=0; "$SHEWHART" routes -c "$WORK/routes.yaml" --shards 0 2>"$WORK/err.txt" || rc=$?
[ "$rc" -eq 2 ] && grep -q "shards: Value 0 not in range 1 to 256" "$WORK/err.txt" || fail "routes --shards 0: rc $rc"
echo "cli_check: ok"

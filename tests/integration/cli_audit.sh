#!/usr/bin/env bash
# shewhart audit: a replay into a store records config, alarm, hold and limits events in the
# hash-chained audit log; `audit verify` passes on it and, when the sqlite3 command is
# installed, fails with exit 1 naming the record after one byte of one record is changed or a
# record is deleted; `audit export` writes the records as JSON lines; a hash recomputed with
# sha256sum from the documented encoding matches the stored one.
source "$(dirname "$0")/lib.sh"
cat > "$WORK/config.yaml" <<'YAML'
store: { sqlite: audit.db }
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
    resolve_after: 2
    tiers:
      - { tier: 1, when: { signal: any }, do: [log, quarantine] }
YAML
cat > "$WORK/input.jsonl" <<'JSONL'
{"characteristic":"shaft","value":10.0,"ts":"2026-11-27T08:00:01Z","serial":"U1","station":"A"}
{"characteristic":"shaft","value":10.1,"ts":"2026-11-27T08:00:02Z","serial":"U2","station":"A"}
{"characteristic":"shaft","value":11.0,"ts":"2026-11-27T08:00:03Z","serial":"U3","station":"A"}
{"unit":"U4","station":"A","ts":"2026-11-27T08:00:03.500Z"}
{"characteristic":"shaft","value":10.0,"ts":"2026-11-27T08:00:04Z","serial":"U5","station":"A"}
{"characteristic":"shaft","value":10.0,"ts":"2026-11-27T08:00:05Z","serial":"U6","station":"A"}
JSONL
for v in 10 10.2 9.8 10.1; do echo "{\"characteristic\":\"shaft\",\"value\":$v}"; done >"$WORK/study.jsonl"
cd "$WORK"

"$SHEWHART" replay -c config.yaml --store audit.db input.jsonl >replay.jsonl 2>replay.log || fail "replay failed"
grep -q '"type":"alarm".*"state":"resolved"' replay.jsonl || fail "the input should open and resolve an alarm"
"$SHEWHART" limits recalc -c config.yaml --characteristic shaft --effective 2026-11-27T09:00:00Z --user anna \
  --reason "new gauge" study.jsonl >recalc.txt || fail "recalc failed: $(cat recalc.txt)"

"$SHEWHART" audit verify -c config.yaml >verify.txt || fail "verify of an untouched log failed: $(cat verify.txt)"
cat verify.txt
grep -Eq '^7 records verified, chain intact \(last hash [0-9a-f]{64}\)$' verify.txt || fail "unexpected verify output"

"$SHEWHART" audit export -c config.yaml >export.jsonl || fail "export failed"
[ "$(wc -l <export.jsonl)" -eq 7 ] || fail "expected 7 exported records: $(cat export.jsonl)"
kinds=$(sed -E 's/.*"kind":"([^"]*)","subject":"([^"]*)","actor":"([^"]*)".*/\1 \2 \3/' export.jsonl | tr '\n' ';')
[ "$kinds" = "config.loaded config engine;alarm.opened alarm/1 engine;hold.created hold/1 engine;hold.units_added hold/1 engine;hold.units_added hold/1 engine;alarm.resolved alarm/1 engine;limits.version limits/shaft anna;" ] \
  || fail "unexpected records: $kinds"
head -1 export.jsonl | grep -q '"seq":1,.*"body":{.*"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","hash":"' \
  || fail "first record: $(head -1 export.jsonl)"
grep -q "\"sha256\":\"$(sha256sum config.yaml | cut -c1-64)\"" export.jsonl || fail "config.loaded lacks the config's SHA-256"
grep -q '"kind":"hold.units_added".*"units":\[{"serial":"U2",.*{"serial":"U3",' export.jsonl || fail "held units not listed"
last=$(tail -1 export.jsonl | sed -E 's/.*"hash":"([0-9a-f]{64})".*/\1/')
grep -q "last hash $last" verify.txt || fail "verify's last hash is not the last record's"
"$SHEWHART" audit export --store audit.db --from 6 >from6.jsonl || fail "export --from failed"
[ "$(wc -l <from6.jsonl)" -eq 2 ] && head -1 from6.jsonl | grep -q '^{"seq":6,' || fail "--from 6: $(cat from6.jsonl)"

rc=0; "$SHEWHART" audit verify --store missing.db >out.txt 2>err.txt || rc=$?
[ "$rc" -eq 2 ] && grep -q "no store at 'missing.db'" err.txt && [ ! -e missing.db ] || fail "missing store: rc $rc $(cat err.txt)"
rc=0; "$SHEWHART" audit verify 2>err.txt || rc=$?
[ "$rc" -eq 2 ] || fail "verify without -c or --store: rc $rc"

if ! command -v sqlite3 >/dev/null; then
  echo "cli_audit: the sqlite3 command is not installed: tampering checks skipped"
  echo "cli_audit: ok"
  exit 0
fi
# The hash of record 2, recomputed from the stored columns with the documented encoding.
export LC_ALL=C  # ${#x} counts bytes
IFS='|' read -r seq ts kind subject actor prev hash < <(sqlite3 audit.db \
  "SELECT seq, ts, kind, subject, actor, prev_hash, hash FROM audit_log WHERE seq = 2")
body=$(sqlite3 audit.db "SELECT body FROM audit_log WHERE seq = 2")
enc="${#seq}:$seq,${#ts}:$ts,${#kind}:$kind,${#subject}:$subject,${#actor}:$actor,${#body}:$body,"
[ "$(printf '%s%s' "$prev" "$enc" | sha256sum | cut -c1-64)" = "$hash" ] || fail "record 2's hash is not SHA-256(prev_hash || encoding)"

# One byte of the alarm.opened record's body: tier 1 -> 2.
cp audit.db tampered.db
sqlite3 tampered.db "UPDATE audit_log SET body = replace(body, '\"tier\":1', '\"tier\":2') WHERE seq = 2"
rc=0; "$SHEWHART" audit verify --store tampered.db >out.txt || rc=$?
cat out.txt
[ "$rc" -eq 1 ] || fail "verify of a changed record: rc $rc"
grep -Eq '^record 2 \(alarm.opened, [0-9TZ:.-]+\): stored hash [0-9a-f]{64} != computed [0-9a-f]{64}$' out.txt \
  || fail "verify does not name record 2"
grep -q "chain broken at record 2: 1 record before it verified" out.txt || fail "no summary line"

cp audit.db deleted.db
sqlite3 deleted.db "DELETE FROM audit_log WHERE seq = 4"
rc=0; "$SHEWHART" audit verify --store deleted.db >out.txt || rc=$?
cat out.txt
[ "$rc" -eq 1 ] && grep -q "^record 4 is missing (record 5 follows record 3)$" out.txt || fail "deleted record: rc $rc"

# The rows the interlock answers from are checked against the chain: a unit released, or one
# taken out of its hold, by SQL behind the engine's back fails verify (it passed before).
grep -Eq "^[0-9]+ held units? match the audit log" verify.txt || fail "verify does not check held units: $(cat verify.txt)"
for tamper in "UPDATE held_units SET state = 'released' WHERE serial = 'U3'" \
              "DELETE FROM held_units WHERE serial = 'U3'" \
              "INSERT INTO held_units(hold_id, serial, state, since) VALUES(1, 'X9', 'held', 0)"; do
  cp audit.db units.db
  sqlite3 units.db "$tamper"
  rc=0; "$SHEWHART" audit verify --store units.db >out.txt || rc=$?
  cat out.txt
  [ "$rc" -eq 1 ] && grep -q "held units differ from the audit log: 1 mismatch" out.txt || fail "'$tamper' passed verify: rc $rc"
done
grep -q "^unit X9 of hold 1 is in held_units (held) but no audit record took it into the hold$" out.txt || fail "X9 not named"

"$SHEWHART" audit verify --store audit.db >/dev/null || fail "the original no longer verifies"
echo "cli_audit: ok"

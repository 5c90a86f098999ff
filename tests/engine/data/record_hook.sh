#!/bin/sh
# An exec hook for outbox_test.cc: run by the engine without a shell (this file's own
# interpreter reads it). Arguments: OUTDIR FAIL_FIRST ARG...
# Counts its calls in OUTDIR/count and exits 3 for the first FAIL_FIRST calls; after that it
# writes its standard input to OUTDIR/<idempotency key>.json and appends one line to
# OUTDIR/calls.txt: key|alarm id|attempt|tier|action|characteristic|scope|HOOK_VAR|remaining arguments.
out=$1
fail_first=$2
shift 2
n=$(cat "$out/count" 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" > "$out/count"
if [ "$n" -le "$fail_first" ]; then
  exit 3
fi
cat > "$out/$SHEWHART_IDEMPOTENCY_KEY.json"
printf '%s|%s|%s|%s|%s|%s|%s|%s|%s\n' "$SHEWHART_IDEMPOTENCY_KEY" "$SHEWHART_ALARM_ID" "$SHEWHART_ATTEMPT" \
  "$SHEWHART_TIER" "$SHEWHART_ACTION" "$SHEWHART_CHARACTERISTIC" "$SHEWHART_SCOPE" "$HOOK_VAR" "$*" >> "$out/calls.txt"

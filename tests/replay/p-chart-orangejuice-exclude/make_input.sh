#!/usr/bin/env bash
# Writes this case's input from the published data, which is read where it stands (it is not
# copied into the project): Montgomery's frozen orange-juice cans as in qcc's orangejuice data,
# 30 trial samples then 24 samples after the machine adjustment, each of n = 50, one a minute.
# Usage: make_input.sh REFDATA_DIR > input.jsonl
set -euo pipefail
csv=$1/orangejuice.csv
[ -r "$csv" ] || { echo "cannot read $csv" >&2; exit 1; }
grep -v '^#' "$csv" | tail -n +2 | awk -F, '
  NF == 4 {
    printf "{\"characteristic\":\"cans\",\"count\":%d,\"n\":%d,\"ts\":%.0f,\"serial\":\"S%02d\",\"station\":\"filler1\"}\n",
           $2, $3, 1795766400000 + 60000 * $1, $1
  }'

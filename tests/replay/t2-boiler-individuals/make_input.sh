#!/usr/bin/env bash
# Writes this case's input from the published data, which is read where it stands (it is not
# copied into the project): Mason & Young (2002) p. 86 as in qcc's boiler data, 25
# observations of the temperatures t1..t8 of eight burners.
# One measurement per observation, one second apart; then the same 25 observations again as
# new data judged against the Phase II limit.
# Usage: make_input.sh REFDATA_DIR > input.jsonl
set -euo pipefail
csv=$1/boiler.csv
[ -r "$csv" ] || { echo "cannot read $csv" >&2; exit 1; }
for pass in 0 1; do
  grep -v '^#' "$csv" | tail -n +2 | awk -F, -v pass="$pass" '
    NF == 8 {
      t = NR + 25 * pass
      printf "{\"characteristic\":\"boiler\",\"values\":[%s,%s,%s,%s,%s,%s,%s,%s],\"ts\":%.0f,\"serial\":\"B%03d\",\"station\":\"boiler1\"}\n",
             $1, $2, $3, $4, $5, $6, $7, $8, 1795766400000 + 1000 * t, t
    }'
done

#!/usr/bin/env bash
# Writes this case's input from the published data, which is read where it stands (it is not
# copied into the project): Ryan (2011) Table 9.2 as in qcc's RyanMultivar, 20 subgroups of 4
# observations of two variables X1, X2 (row: sample, X1_1..X1_4, X2_1..X2_4).
# One measurement per observation, labelled by its subgroup, one second apart; then the same
# 20 subgroups again (labels 21-40) as new data judged against the Phase II limit.
# Usage: make_input.sh REFDATA_DIR > input.jsonl
set -euo pipefail
csv=$1/ryan_multivar.csv
[ -r "$csv" ] || { echo "cannot read $csv" >&2; exit 1; }
for pass in 0 1; do
  grep -v '^#' "$csv" | tail -n +2 | awk -F, -v pass="$pass" '
    NF == 9 {
      g = $1 + 20 * pass
      for (j = 1; j <= 4; j++) {
        t = (g - 1) * 4 + j
        printf "{\"characteristic\":\"ryan\",\"values\":[%s,%s],\"ts\":%.0f,\"serial\":\"R%03d\",\"station\":\"lab\",\"subgroup\":\"%d\"}\n",
               $(1 + j), $(5 + j), 1795766400000 + 1000 * t, t, g
      }
    }'
done

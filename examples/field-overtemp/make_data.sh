#!/usr/bin/env bash
# Writes data.jsonl: 30 power banks in the field (10 each of models PB-5K, PB-10K, PB-20K) report
# their battery temperature every 2 hours for 5 days from 2026-11-20T00:00Z. From day 2 a batch
# defect makes PB-10K units run hot: about half of their readings are above 60 degC. Deterministic
# (its own linear congruential generator). Usage: make_data.sh > data.jsonl
set -euo pipefail
awk 'BEGIN {
  seed = 20261120
  t0 = 1795132800000            # 2026-11-20T00:00:00Z in ms
  split("PB-5K PB-10K PB-20K", models, " ")
  for (step = 0; step < 60; step++) {
    for (u = 0; u < 30; u++) {
      model = models[int(u / 10) + 1]
      seed = (seed * 1103515245 + 12345) % 2147483648; r1 = seed / 2147483648
      seed = (seed * 1103515245 + 12345) % 2147483648; r2 = seed / 2147483648
      temp = 31 + 6 * (r1 + r2 - 1)                  # about 31 +/- 4 degC
      if (model == "PB-10K" && step >= 12 && r1 > 0.5) temp = 61 + 8 * r2
      ts = t0 + step * 7200000 + u * 60000            # units report a minute apart
      printf "{\"characteristic\":\"battery_temp\",\"value\":%.1f,\"ts\":%.0f,\"serial\":\"PB%03d\",\"model\":\"%s\"}\n", temp, ts, u + 1, model
    }
  }
}'

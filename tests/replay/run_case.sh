#!/usr/bin/env bash
# Runs one replay golden case: shewhart replay over the case's input must print exactly
# expected.jsonl, and a second run must print the same bytes.
# Usage: run_case.sh SHEWHART_BINARY CASE_DIR
set -euo pipefail
bin=$1
dir=$2
inputs=()
for f in "$dir"/input*.jsonl "$dir"/input*.csv; do [ -e "$f" ] && inputs+=("$(basename "$f")"); done
out1=$(mktemp)
out2=$(mktemp)
trap 'rm -f "$out1" "$out2"' EXIT
(cd "$dir" && "$bin" replay -c config.yaml "${inputs[@]}" >"$out1" 2>/dev/null)
(cd "$dir" && "$bin" replay -c config.yaml "${inputs[@]}" >"$out2" 2>/dev/null)
if ! cmp -s "$out1" "$out2"; then
  echo "replay is not deterministic: two runs differ" >&2
  diff "$out1" "$out2" | head -20 >&2
  exit 1
fi
if ! diff -u "$dir/expected.jsonl" "$out1"; then
  echo "replay output differs from $dir/expected.jsonl (regenerate with: cd $dir && $bin replay -c config.yaml ${inputs[*]} > expected.jsonl, then review the diff)" >&2
  exit 1
fi
echo "replay case $(basename "$dir"): $(wc -l <"$out1") lines match"

#!/usr/bin/env bash
# Runs one replay golden case: shewhart replay over the case's input must print exactly
# expected.jsonl, a second run must print the same bytes, and so must a third run with the
# CPU's runtime dispatch masked: glibc told to hide AVX, AVX2, FMA and AVX-512 (so libm's ifunc
# picks its SSE2 exp/log/pow, as on an older x86-64 CPU) and simdjson forced to its fallback
# kernel. A portable build must print the same bytes on every x86-64 machine; this run is that
# check on a single machine. Where the machine has none of those features the run is the same.
# A case over published data has no input file: its make_input.sh writes input.jsonl from the
# reference data where it stands ($SHEWHART_REFDATA, else REFDATA_DIR); when that folder is
# absent the case is skipped (exit 77).
# Usage: run_case.sh SHEWHART_BINARY CASE_DIR [REFDATA_DIR]
set -euo pipefail
bin=$1
dir=$2
refdata=${SHEWHART_REFDATA:-${3:-}}
inputs=()
for f in "$dir"/input*.jsonl "$dir"/input*.csv; do [ -e "$f" ] && inputs+=("$(basename "$f")"); done
out1=$(mktemp)
out2=$(mktemp)
out3=$(mktemp)
made=$(mktemp -d)
trap 'rm -rf "$out1" "$out2" "$out3" "$made"' EXIT
if [ -x "$dir/make_input.sh" ]; then
  if [ -z "$refdata" ] || [ ! -d "$refdata" ]; then
    echo "replay case $(basename "$dir"): skipped, the reference data folder '${refdata}' is absent (set SHEWHART_REFDATA)"
    exit 77
  fi
  "$dir/make_input.sh" "$refdata" >"$made/input.jsonl"
  inputs+=("$made/input.jsonl")
fi
(cd "$dir" && "$bin" replay -c config.yaml "${inputs[@]}" >"$out1" 2>/dev/null)
(cd "$dir" && "$bin" replay -c config.yaml "${inputs[@]}" >"$out2" 2>/dev/null)
if ! cmp -s "$out1" "$out2"; then
  echo "replay is not deterministic: two runs differ" >&2
  diff "$out1" "$out2" | head -20 >&2
  exit 1
fi
masked="glibc.cpu.hwcaps=-AVX,-AVX2,-FMA,-FMA4,-AVX512F,-AVX512DQ,-AVX512BW,-AVX512VL,-AVX512CD"
(cd "$dir" && GLIBC_TUNABLES=$masked SIMDJSON_FORCE_IMPLEMENTATION=fallback \
  "$bin" replay -c config.yaml "${inputs[@]}" >"$out3" 2>/dev/null)
if ! cmp -s "$out1" "$out3"; then
  echo "replay output depends on the CPU: with AVX/AVX2/FMA/AVX-512 hidden from glibc and simdjson's fallback kernel it differs" >&2
  diff "$out1" "$out3" | head -20 >&2
  exit 1
fi
if ! diff -u "$dir/expected.jsonl" "$out1"; then
  echo "replay output differs from $dir/expected.jsonl (regenerate with: cd $dir && $bin replay -c config.yaml ${inputs[*]} > expected.jsonl, then review the diff; make_input.sh writes a generated input)" >&2
  exit 1
fi
echo "replay case $(basename "$dir"): $(wc -l <"$out1") lines match"

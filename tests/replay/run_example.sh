#!/usr/bin/env bash
# Runs one example of examples/ through `shewhart replay` and checks what the example is there
# to show: exit 0, the same output on a second run, and each expectation given. Unlike the
# golden cases beside it, the output is not pinned byte for byte: only the points, signals and
# alarms that the example's comments promise, so that an example can be read as documentation
# and still fail loudly when the engine stops doing what it says.
#
# Usage: run_example.sh SHEWHART_BINARY CONFIG INPUT EXPECTATION...
# (CONFIG and INPUT relative to the working directory; ctest runs it from the project root.)
# Expectations, one argument each (CHART is a chart name of the replay output: individuals,
# mr, xbar, r, s, ewma, cusum, p, np, c, u, t2; RULE a rule name: nelson.1, we.2, spec.usl, ...):
#   points=CHART:N          exactly N points on CHART
#   phase1=CHART:N          exactly N of them are phase I (baseline) points
#   first=CHART:RULE:I      the first signal of RULE on CHART is at point index I
#   signals=CHART:RULE:N    exactly N signals of RULE on CHART (0: the rule never fires)
#   quiet=CHART:I[:RULE]    no signal on CHART (of RULE, else of any rule) at a point index
#                           below I: the in-control stretch before the cause raises no alarm
#   alarms=N                exactly N alarms opened
#   resolved=N              exactly N alarms resolved
#   rejects=N               exactly N reject lines
#   summary=TEXT            the summary line contains TEXT (a fixed string)
set -euo pipefail
if [ $# -lt 4 ]; then
  echo "usage: $0 SHEWHART_BINARY CONFIG INPUT EXPECTATION..." >&2
  exit 2
fi
bin=$1
config=$2
input=$3
shift 3
out=$(mktemp)
again=$(mktemp)
err=$(mktemp)
trap 'rm -f "$out" "$again" "$err"' EXIT

rc=0
"$bin" replay -c "$config" "$input" >"$out" 2>"$err" || rc=$?
if [ "$rc" -ne 0 ]; then
  echo "FAIL: shewhart replay -c $config $input exited $rc" >&2
  cat "$err" >&2
  exit 1
fi
"$bin" replay -c "$config" "$input" >"$again" 2>/dev/null
if ! cmp -s "$out" "$again"; then
  echo "FAIL: replay is not deterministic: two runs differ" >&2
  diff "$out" "$again" | head -20 >&2
  exit 1
fi

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
# Lines of one type; for points and signals, of one chart (and rule). The replay output writes
# its keys in a fixed order: "type","characteristic","chart","index" for points and
# "type","characteristic","chart","rule","index" for signals.
# (grep finding nothing is not an error here: each helper ends in `|| true` for pipefail.)
lines_of() { grep -F "\"type\":\"$1\"" "$out" || true; }
points_of() { lines_of point | grep -F "\"chart\":\"$1\",\"index\":" || true; }
signals_of() { lines_of signal | grep -F "\"chart\":\"$1\",\"rule\":\"$2\"," || true; }
count() { grep -cF -- "${1:-}" || true; }  # lines (containing $1)
indexes() { sed -E 's/.*"index":([0-9]+),.*/\1/'; }

for expectation in "$@"; do
  key=${expectation%%=*}
  value=${expectation#*=}
  IFS=: read -r a b c <<<"$value"
  case $key in
    points)
      n=$(points_of "$a" | count)
      [ "$n" -eq "$b" ] || fail "$expectation: $n points on chart $a"
      ;;
    phase1)
      n=$(points_of "$a" | count '"phase":"I"')
      [ "$n" -eq "$b" ] || fail "$expectation: $n phase I points on chart $a"
      ;;
    first)
      i=$(signals_of "$a" "$b" | head -1 | indexes)
      [ "$i" = "$c" ] || fail "$expectation: the first $b signal on chart $a is at index '${i:-none}'"
      ;;
    signals)
      n=$(signals_of "$a" "$b" | count)
      [ "$n" -eq "$c" ] || fail "$expectation: $n $b signals on chart $a"
      ;;
    quiet)
      early=$(lines_of signal | { grep -F "\"chart\":\"$a\",\"rule\":${c:+\"$c\",}" || true; } | indexes |
        awk -v limit="$b" '$1 < limit' | head -5 | tr '\n' ' ')
      [ -z "$early" ] || fail "$expectation: signals on chart $a at index $early"
      ;;
    alarms)
      n=$(lines_of alarm | count '"state":"open"')
      [ "$n" -eq "$a" ] || fail "$expectation: $n alarms opened"
      ;;
    resolved)
      n=$(lines_of alarm | count '"state":"resolved"')
      [ "$n" -eq "$a" ] || fail "$expectation: $n alarms resolved"
      ;;
    rejects)
      n=$(lines_of reject | count)
      [ "$n" -eq "$a" ] || fail "$expectation: $n reject lines"
      ;;
    summary)
      lines_of summary | grep -qF -- "$value" || fail "$expectation: not in the summary line"
      ;;
    *)
      echo "run_example.sh: unknown expectation '$expectation'" >&2
      exit 2
      ;;
  esac
done

# What the run showed, for the test log: signals per chart and rule, with the first index.
echo "example $config over $input: $(wc -l <"$out") lines"
lines_of signal | sed -E 's/.*"chart":"([^"]*)","rule":"([^"]*)","index":([0-9]+),.*/\1 \2 \3/' |
  awk '{ k = $1 " " $2; if (!(k in n)) { order[++m] = k; first[k] = $3 } n[k]++ }
       END { for (i = 1; i <= m; i++) printf "  %-24s %3d signals, first at %s\n", order[i], n[order[i]], first[order[i]] }'
if [ "$failures" -gt 0 ]; then
  echo "$failures expectation(s) failed for $config" >&2
  exit 1
fi
echo "example $config: $# expectations hold"

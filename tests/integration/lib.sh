# Shared helpers for the integration tests (sourced). Each test gets $SHEWHART, $SIM, $ROOT
# and a scratch directory $WORK removed on exit, with every process it started stopped.
set -euo pipefail
SHEWHART=$1
SIM=$2
ROOT=$3
WORK=$(mktemp -d /tmp/shewhart-it.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true; done
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  for f in "$WORK"/*.log; do [ -e "$f" ] && { echo "--- $f" >&2; tail -n 30 "$f" >&2; }; done
  exit 1
}

# `producer | contains [GREP OPTIONS] PATTERN`: grep -q over the whole input. A plain `| grep -q`
# exits at the first match, and under pipefail the producer's SIGPIPE (curl, a long listing)
# then fails the pipeline although the pattern matched.
contains() {
  local all
  all=$(cat)
  grep -q "$@" <<<"$all"
}

# A TCP port on 127.0.0.1 that nothing listens on.
free_port() {
  local p
  for _ in $(seq 1 200); do
    # Below Linux's ephemeral range (32768-60999): a port there may be taken between this check
    # and the bind by any client's outgoing connection (curl, ZeroMQ, Prometheus scrapes).
    p=$((20000 + RANDOM % 12000))
    if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo "$p"; return 0; fi
  done
  echo "no free port found" >&2
  return 1
}

# Waits until GET $1 answers (any HTTP status), for at most $2 seconds.
wait_http() {
  local deadline=$((SECONDS + ${2:-10}))
  until curl -s -o /dev/null "$1"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

# Waits until the command "$@" succeeds, for at most $WAIT_S seconds (default 15).
wait_for() {
  local deadline=$((SECONDS + ${WAIT_S:-15}))
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# Sends SIGTERM to pid $1 and checks it exits 0 within $2 seconds.
term_and_check() {
  local pid=$1 limit=$2 start rc=0
  start=$(date +%s%N)
  kill -TERM "$pid"
  wait "$pid" || rc=$?
  local ms=$((($(date +%s%N) - start) / 1000000))
  [ "$rc" -eq 0 ] || fail "exit status $rc after SIGTERM (wanted 0)"
  [ "$ms" -le $((limit * 1000)) ] || fail "took ${ms} ms to stop after SIGTERM (limit ${limit} s)"
  echo "stopped on SIGTERM in ${ms} ms, exit 0"
}

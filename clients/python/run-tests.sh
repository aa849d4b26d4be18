#!/usr/bin/env bash
# Runs the Python client's tests against live daemons: one where this user is an operator (stopped
# and continued by the deadline test), one that closes idle connections after 0.5 s.
# Usage: clients/python/run-tests.sh PRACTICED_BINARY   (needs Debian's python3 and python3-protobuf)
set -euo pipefail
practiced=$(realpath "${1:?usage: run-tests.sh PRACTICED_BINARY}")
cd "$(dirname "$0")"
python=/usr/bin/python3
work=$(mktemp -d /tmp/practiced-pytest.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
start() {  # name, extra args...
  local name=$1; shift
  "$practiced" --socket "$work/$name.sock" --state-dir "$work/$name" --operator-uids "$(id -u)" "$@" 2>"$work/$name.log" &
  pids+=($!)
  last_pid=$!
  for _ in $(seq 1 200); do [ -S "$work/$name.sock" ] && return 0; sleep 0.05; done
  echo "practiced ($name) did not start:" >&2; cat "$work/$name.log" >&2; exit 1
}
start operator
operator_pid=$last_pid
start idle --idle-timeout-ms 500
PYTHONPATH=$PWD PRACTICED_SOCKET="$work/operator.sock" PRACTICED_PID=$operator_pid \
  PRACTICED_IDLE_SOCKET="$work/idle.sock" "$python" -m unittest discover -s tests -v 2>&1

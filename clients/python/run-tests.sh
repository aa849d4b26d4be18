#!/usr/bin/env bash
# Runs the Python client's tests against live daemons: one where this user is an operator (stopped
# and continued by the deadline test), one that closes idle connections after 0.5 s.
# Usage: clients/python/run-tests.sh PRACTICED_BINARY   (needs Debian's python3 and python3-protobuf)
set -euo pipefail
practiced=$(realpath "${1:?usage: run-tests.sh PRACTICED_BINARY}")
cd "$(dirname "$0")"
source ../../scripts/lib/daemons.sh
python=/usr/bin/python3
work=$(mktemp -d /tmp/practiced-pytest.XXXXXX)
trap 'stop_daemons; rm -rf "$work"' EXIT
start_daemon operator --operator-uids "$(id -u)"
operator_pid=$last_pid
start_daemon idle --operator-uids "$(id -u)" --idle-timeout-ms 500
PYTHONPATH=$PWD PRACTICED_SOCKET="$work/operator.sock" PRACTICED_PID=$operator_pid \
  PRACTICED_IDLE_SOCKET="$work/idle.sock" "$python" -m unittest discover -s tests -v 2>&1

#!/usr/bin/env bash
# Builds the C client and runs its example and tests against live daemons:
#   one where this (root) user is an operator, one where it is no peer class at all.
# Usage: clients/c/run-tests.sh PRACTICED_BINARY
set -euo pipefail
cd "$(dirname "$0")"
practiced=${1:?usage: run-tests.sh PRACTICED_BINARY}
make -s -j2 >/dev/null

work=$(mktemp -d /tmp/practiced-ctest.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

start() {  # name, extra args...
  local name=$1; shift
  "$practiced" --socket "$work/$name.sock" --state-dir "$work/$name" --test-hooks "$@" 2>"$work/$name.log" &
  pids+=($!)
  last_pid=$!
  for _ in $(seq 1 200); do [ -S "$work/$name.sock" ] && return 0; sleep 0.05; done
  echo "practiced ($name) did not start:" >&2; cat "$work/$name.log" >&2; exit 1
}
start operator --operator-uids 0
operator_pid=$last_pid
start denied --operator-uids "" --operator-groups "" --service-groups ""
start idle --operator-uids "" --operator-groups "" --service-groups "" --idle-timeout-ms 1000

echo "== one version: practiced, the library, its .pc file"
v_daemon=$("$practiced" --version)
v_lib=$(build/ctest --version)
v_pc=$(sed -n 's/^Version: //p' build/practiceclient.pc)
if [ "$v_daemon" != "$v_lib" ] || [ "$v_lib" != "$v_pc" ]; then
  echo "versions differ: practiced $v_daemon, library $v_lib, practiceclient.pc $v_pc" >&2
  exit 1
fi
echo "$v_lib"

echo "== C example"
build/create_location "$work/operator.sock"
echo "== C tests"
build/ctest "$work/operator.sock" "$work/denied.sock" "$work/idle.sock" "$operator_pid"

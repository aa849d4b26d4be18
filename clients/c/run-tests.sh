#!/usr/bin/env bash
# Builds the C client and runs its example and tests against live daemons:
#   one where this (root) user is an operator, one where it is no peer class at all.
# Usage: clients/c/run-tests.sh PRACTICED_BINARY
set -euo pipefail
practiced=$(realpath "${1:?usage: run-tests.sh PRACTICED_BINARY}")
cd "$(dirname "$0")"
source ../../scripts/lib/daemons.sh
make -s -j2 >/dev/null

work=$(mktemp -d /tmp/practiced-ctest.XXXXXX)
trap 'stop_daemons; rm -rf "$work"' EXIT
start_daemon operator --test-hooks --operator-uids 0
operator_pid=$last_pid
start_daemon denied --test-hooks --operator-uids "" --operator-groups "" --service-groups ""
start_daemon idle --test-hooks --operator-uids "" --operator-groups "" --service-groups "" --idle-timeout-ms 1000

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

#!/usr/bin/env bash
# scripts/bench instructions: instructions per request, counted by callgrind (deterministic on these
# shared, noisy machines, unlike rates), against budgets from docs/PERFORMANCE.md.
#   daemon, per GetBusinessInfo read; per one-occurrence CheckRoomAvailability (~2 conflicts);
#   per UpdateBusinessInfo write; and the Swift client per call.
# The daemon runs under `valgrind --tool=callgrind --instr-atstart=no`; after a warm-up, counting is
# switched on for exactly COUNT calls of one kind (practice-bench calls), dumped, and divided. The
# client's figure is the difference between two runs of practice-bench under callgrind (COUNT and
# 2 x COUNT reads against a native daemon), divided by COUNT: that cancels its start-up.
# Usage: bench/instructions.sh PRACTICED PRACTICE_BENCH
set -euo pipefail
practiced=${1:?usage: instructions.sh PRACTICED PRACTICE_BENCH}
bench=${2:?usage: instructions.sh PRACTICED PRACTICE_BENCH}
command -v valgrind >/dev/null && command -v callgrind_control >/dev/null || {
  echo "valgrind is missing (scripts/setup bench installs it)" >&2; exit 1; }

# Budgets (docs/PERFORMANCE.md, "Instructions per request"): each daemon figure at most 1.10 x the
# one this script measured on the code before the architecture work (commit 115738b, with this
# script's practice-bench calls); the Swift client at most the figure the architecture issue names.
budget_read=16880        # 1.10 x 15,345
budget_room=59860        # 1.10 x 54,418 (2.1 conflicts per check)
budget_write=395065      # 1.10 x 359,150
budget_client=29193      # the issue's figure; 27,885 on that code with this script

work=$(mktemp -d /tmp/practiced-instr.XXXXXX)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; [ -n "${KEEP_WORK:-}" ] || rm -rf "$work"; }
trap cleanup EXIT
# valgrind gives up on the release binaries' debug info: count copies without it (the symbols stay).
strip --strip-debug -o "$work/practiced" "$practiced"
strip --strip-debug -o "$work/practice-bench" "$bench"
practiced=$work/practiced
bench=$work/practice-bench

echo "== seed: the bench account, 20 rooms, 100,000 bookings (~2 conflicts per one-hour check)"
"$bench" seed --state-dir "$work/state" --rooms 20 --bookings 100000 >/dev/null
# No background work while counting: the scheduler and the health probe run once an hour.
# (A build from before the timed health probe, measured for a baseline, has no such key.)
printf 'scheduler.interval_seconds = 3600\n' >"$work/quiet.conf"
if "$practiced" --help 2>&1 | grep -q health-probe-interval; then
  printf 'health.probe_interval_ms = 3600000\n' >>"$work/quiet.conf"
fi

total() { awk '/^totals:/ {t = $2} END {print t}' "$1"; }

echo "== daemon under callgrind"
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/daemon.%p" \
  "$practiced" --socket "$work/p.sock" --state-dir "$work/state" --operator-uids 0 --log-level warning \
  --config "$work/quiet.conf" 2>"$work/daemon.log" &
pid=$!
for _ in $(seq 1 600); do [ -S "$work/p.sock" ] && break; sleep 0.1; done
[ -S "$work/p.sock" ] || { cat "$work/daemon.log" >&2; exit 1; }

# count KIND N: instructions of the daemon per call over N calls of KIND.
count() {
  local kind=$1 n=$2 before
  "$bench" calls --socket "$work/p.sock" --kind "$kind" --count 200 --rooms 20 --offset 900000 >/dev/null
  callgrind_control -z "$pid" >/dev/null
  callgrind_control -i on "$pid" >/dev/null
  "$bench" calls --socket "$work/p.sock" --kind "$kind" --count "$n" --rooms 20 >"$work/calls-$kind"
  callgrind_control -i off "$pid" >/dev/null
  callgrind_control -d "$pid" >/dev/null
  local dump
  dump=$(ls -t "$work"/daemon.* | head -1)
  awk -v t="$(total "$dump")" -v n="$n" 'BEGIN { printf "%.0f\n", t / n }'
}

read_ir=$(count read 2000)
room_ir=$(count room 1000)
write_ir=$(count write 300)
conflicts=$(awk '/CONFLICTS_PER_CALL/ {print $2}' "$work/calls-room")
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""

echo "== client under callgrind (against the daemon running natively)"
"$practiced" --socket "$work/n.sock" --state-dir "$work/state" --operator-uids 0 --log-level warning \
  --config "$work/quiet.conf" 2>>"$work/daemon.log" &
pid=$!
for _ in $(seq 1 200); do [ -S "$work/n.sock" ] && break; sleep 0.05; done
client_run() {
  valgrind --tool=callgrind --callgrind-out-file="$work/client-$1" \
    "$bench" calls --socket "$work/n.sock" --kind read --count "$1" >/dev/null 2>&1
  total "$work/client-$1"
}
small=$(client_run 2000)
large=$(client_run 4000)
client_ir=$(awk -v a="$small" -v b="$large" 'BEGIN { printf "%.0f\n", (b - a) / 2000 }')

report() {  # name value budget
  echo "RESULT instructions_$1 $2 instructions"
  awk -v n="$1" -v v="$2" -v b="$3" 'BEGIN {
    printf "RATIO instructions_%s %d goal <= %d %s\n", n, v, b, (v <= b ? "PASS" : "FAIL") }'
}
echo "RESULT instructions_room_conflicts_per_call $conflicts bookings"
report read_daemon "$read_ir" "$budget_read"
report room_check_daemon "$room_ir" "$budget_room"
report write_daemon "$write_ir" "$budget_write"
report client_per_call "$client_ir" "$budget_client"

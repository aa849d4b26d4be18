#!/usr/bin/env bash
# scripts/bench postgres: the PostgreSQL store beside SQLite, in one run, on this machine.
#   bench/postgres.sh PRACTICED PRACTICE-BENCH BOOKINGS SECONDS
# The same seeded account (BOOKINGS bookings over 200 rooms) is served by: a SQLite daemon; one
# PostgreSQL daemon; three PostgreSQL daemons on one database (connections spread over them). Each
# runs the reads (GetBusinessInfo, 1 and 64 connections), durable writes (1 writer, 64 writers on the
# one account, 64 writers on an account each) and room checks. `_server_cpu` is the CPU the server side spent per request: the
# daemon(s), and with PostgreSQL the database server's processes too. A throwaway server (Unix socket
# only) is started and stopped here. This machine has 2 cores: 3 instances show what a request costs,
# not how a fleet scales.
set -euo pipefail
practiced=$1 bench=$2 bookings=$3 seconds=$4
source scripts/lib/postgres.sh
work=$(mktemp -d /tmp/practiced-bench-pg.XXXXXX)
# The server runs as the postgres user: it must reach its directory inside.
chmod 711 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  stop_postgres
  rm -rf "$work"
}
trap cleanup EXIT
start_postgres "$work/pg"
postmaster=$(head -1 "$work/pg/data/postmaster.pid")
create_database bench
url=$(pg_url bench)

echo "== seed: $bookings bookings over 200 rooms (SQLite), copied into PostgreSQL"
"$bench" seed --state-dir "$work/state-sqlite" --rooms 200 --bookings "$bookings" >/dev/null
"$bench" pg-seed --from "$work/state-sqlite" --database "$url"
sync

# daemon NAME ARGS...: starts practiced on $work/NAME.sock; sets `pid`.
daemon() {
  local name=$1; shift
  "$practiced" --socket "$work/$name.sock" --state-dir "$work/state-$name" --operator-uids 0 --log-level warning \
    --instance-id "$name" "$@" 2>"$work/$name.log" &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 1 200); do [ -S "$work/$name.sock" ] && return 0; sleep 0.05; done
  cat "$work/$name.log" >&2; exit 1
}

# run TAG ARGS...: the workloads, each figure named TAG_...
run() {
  local tag=$1; shift
  "$bench" run --seconds "$seconds" --rooms 200 --workloads reads,writes,rooms "$@" \
    | sed -E "s/^(RESULT|RATIO) /\1 ${tag}_/" | tee -a "$work/results"
}

echo "== SQLite (the baseline, this run)"
daemon sqlite
run sqlite --socket "$work/sqlite.sock" --pid "$pid"
kill "$pid"; wait "$pid" 2>/dev/null || true

echo "== PostgreSQL, 1 instance"
daemon pg1 --database "$url"
run pg1 --socket "$work/pg1.sock" --pid "$pid" --db-pid "$postmaster"
kill "$pid"; wait "$pid" 2>/dev/null || true

echo "== PostgreSQL, 3 instances on one database"
daemon pgA --database "$url"; a=$pid
daemon pgB --database "$url"; b=$pid
daemon pgC --database "$url"; c=$pid
run pg3 --socket "$work/pgA.sock" --more-sockets "$work/pgB.sock" --more-sockets "$work/pgC.sock" \
  --pid "$a" --more-pids "$b" --more-pids "$c" --db-pid "$postmaster"

result() { awk -v k="$1" '$1 == "RESULT" && $2 == k {print $3}' "$work/results"; }
echo "== goals"
# 64 writers over many accounts (one each) over 1 writer; on one account its lock serializes them.
awk -v m="$(result pg1_writes_64accounts_per_s)" -v o="$(result pg1_writes_1writer_per_s)" \
  'BEGIN { v = m / o; printf "RATIO pg1_writes_64accounts_over_1 %.2f goal >= 3.00 %s\n", v, (v >= 3 ? "PASS" : "FAIL") }'
# Reads per CPU-second of the server side (PostgreSQL: daemon and database) over SQLite's.
awk -v p="$(result pg1_reads_64conn_server_cpu)" -v s="$(result sqlite_reads_64conn_server_cpu)" \
  'BEGIN { v = s / p; printf "RATIO pg1_reads_per_cpu_over_sqlite %.2f goal >= 0.50 %s\n", v, (v >= 0.5 ? "PASS" : "FAIL") }'
errors=$(cat "$work"/*.log | grep -c -iE "error|critical" || true)
echo "RESULT daemon_log_errors $errors lines"

#!/usr/bin/env bash
# scripts/bench: the daemon's memory while it exports an account with 100,000 bookings (PRODUCT.md:
# the export is built as it streams). Seeds its own database, starts a release daemon, samples its
# VmRSS every 10 ms while practicectl exports, and prints the growth over the RSS before.
# Usage: bench/export-rss.sh PRACTICED PRACTICE_BENCH PRACTICECTL
set -euo pipefail
practiced=${1:?usage: export-rss.sh PRACTICED PRACTICE_BENCH PRACTICECTL}
bench=${2:?}
ctl=${3:?}
work=$(mktemp -d /tmp/practiced-export.XXXXXX)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
"$bench" seed --state-dir "$work/state" --rooms 20 --bookings 100000 >/dev/null
"$practiced" --socket "$work/p.sock" --state-dir "$work/state" --operator-uids 0 --log-level warning 2>"$work/daemon.log" &
pid=$!
for _ in $(seq 1 100); do [ -S "$work/p.sock" ] && break; sleep 0.1; done
account=$("$ctl" account list --socket "$work/p.sock" --json |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["accounts"][0]["accountId"])')
"$ctl" account get "$account" --socket "$work/p.sock" >/dev/null
sleep 0.5
rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
before=$(rss)
echo "$before" >"$work/max"
( while kill -0 "$pid" 2>/dev/null; do
    r=$(rss); [ "$r" -gt "$(cat "$work/max")" ] && echo "$r" >"$work/max"; sleep 0.01
  done ) &
sampler=$!
start=$(date +%s.%N)
"$ctl" account export "$account" --socket "$work/p.sock" --out "$work/export.json" >/dev/null
end=$(date +%s.%N)
sleep 0.2
kill "$sampler" 2>/dev/null || true
max=$(cat "$work/max")
echo "RESULT export_100k_bookings_seconds $(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.2f", b - a}') s"
echo "RESULT export_100k_bookings_rss_growth $(( (max - before) / 1024 )) MiB"
awk -v g="$(( max - before ))" 'BEGIN { printf "RATIO export_rss_growth_mib %.1f goal <= 16.0 %s\n", g / 1024, (g <= 16 * 1024 ? "PASS" : "FAIL") }'

# Throwaway daemons for the scripts that test against live ones (sourced, not run):
# clients/c/run-tests.sh, clients/python/run-tests.sh, scripts/check-install, scripts/check-deb.
# The caller sets `practiced` (the binary) and `work` (a temporary directory), and traps EXIT to
# `stop_daemons` (and removes `work` itself).

pids=()

# start_daemon NAME [ARGS...]: practiced on $work/NAME.sock, its state in $work/NAME, its log in
# $work/NAME.log; returns once the socket is there. Sets `last_pid`.
start_daemon() {
  local name=$1; shift
  "$practiced" --socket "$work/$name.sock" --state-dir "$work/$name" "$@" 2>"$work/$name.log" &
  pids+=($!)
  last_pid=$!
  for _ in $(seq 1 200); do [ -S "$work/$name.sock" ] && return 0; sleep 0.05; done
  echo "practiced ($name) did not start:" >&2; cat "$work/$name.log" >&2; exit 1
}

# serves_socket_activated PRACTICECTL [COMMAND...]: $practiced under systemd-socket-activate on
# $work/activated.sock (this user an operator), started by PRACTICECTL's first call, whose health must
# say SERVING; then PRACTICECTL COMMAND, when given, must succeed. The daemon is stopped afterwards.
serves_socket_activated() {
  local ctl=$1 out
  shift
  systemd-socket-activate -l "$work/activated.sock" "$practiced" --state-dir "$work/activated" \
    --operator-uids "$(id -u)" >"$work/activated.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do [ -S "$work/activated.sock" ] && break; sleep 0.05; done
  out=$("$ctl" health --socket "$work/activated.sock") || { cat "$work/activated.log" >&2; echo "health: $out" >&2; return 1; }
  [ "$out" = SERVING ] || { echo "health said $out" >&2; return 1; }
  if [ $# -gt 0 ]; then "$ctl" "$@" --socket "$work/activated.sock" >/dev/null || return 1; fi
  stop_daemons
}

# Stops every daemon started here (continuing one a test stopped with SIGSTOP).
stop_daemons() {
  for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  pids=()
}

# A throwaway PostgreSQL server for tests and benchmarks (sourced, not run): a new cluster in a
# temporary directory, listening on a Unix socket there only (no TCP), run as the `postgres` user when
# started as root (initdb refuses root). Its settings are the defaults, fsync included: practiced
# refuses a server that could lose acknowledged writes.
#
# start_postgres DIR [SETTINGS]: initdb DIR/data, start it with its socket in DIR (SETTINGS: more
# postgresql.conf lines, which win over the defaults here); sets PG_SOCKET_DIR and PG_SUPERUSER.
# start_postgres_tls DIR PORT: the same, also on 127.0.0.1:PORT with TLS, its certificate for
# "localhost" only, signed by a CA of its own (DIR/ca.crt); sets PGPORT. stop_postgres: stops it
# (immediate mode). pg_url DBNAME: a database URL practiced takes. create_database NAME: creates a
# database owned by the superuser.

pg_bin=${PG_BIN:-/usr/lib/postgresql/15/bin}

as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_postgres() {
  local dir=$1
  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir"; PG_SUPERUSER=postgres; else PG_SUPERUSER=$(id -un); fi
  PG_SOCKET_DIR=$dir
  as_pg "$pg_bin/initdb" -D "$dir/data" -A trust -U "$PG_SUPERUSER" --no-sync >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; return 1; }
  # In its configuration, so that a plain `pg_ctl start` (the crash test's restart) brings it back the same.
  printf "listen_addresses = ''\nunix_socket_directories = '%s'\nmax_connections = 300\n%s\n" "$dir" "${2:-}" \
    | as_pg tee -a "$dir/data/postgresql.conf" >/dev/null
  as_pg "$pg_bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 start >/dev/null \
    || { cat "$dir/server.log" >&2; return 1; }
}

start_postgres_tls() {
  local dir=$1 port=$2
  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir"; fi
  as_pg openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=practiced test CA" \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
  as_pg openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
  echo "subjectAltName=DNS:localhost" | as_pg tee "$dir/san" >/dev/null
  as_pg openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial -days 2 \
    -extfile "$dir/san" -out "$dir/server.crt" 2>/dev/null
  export PGPORT=$port
  start_postgres "$dir" "listen_addresses = '127.0.0.1'
port = $port
ssl = on
ssl_cert_file = '$dir/server.crt'
ssl_key_file = '$dir/server.key'"
}

stop_postgres() {
  [ -n "${PG_SOCKET_DIR:-}" ] && [ -d "$PG_SOCKET_DIR/data" ] || return 0
  as_pg "$pg_bin/pg_ctl" -D "$PG_SOCKET_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
}

pg_url() { echo "postgresql://$PG_SUPERUSER@/$1?host=$PG_SOCKET_DIR"; }

create_database() {
  as_pg "$pg_bin/createdb" -h "$PG_SOCKET_DIR" -U "$PG_SUPERUSER" "$1"
}

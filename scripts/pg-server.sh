#!/bin/sh
# A real PostgreSQL 15 server for the tests and the benchmark: its own cluster
# in a temporary folder, listening on 127.0.0.1 only (a free port) and on a
# socket in that folder, with password (SCRAM) authentication over TCP.
# initdb and postgres run as an unprivileged user: the current one, or
# `postgres` (from the Debian package) when run as root.
#   scripts/pg-server.sh start | stop
# `start` writes .test-servers/pg.env (COFFER_TEST_PG_* variables) to source.
set -eu
cd "$(dirname "$0")/.."
STATE="$(pwd)/.test-servers"
ENV_FILE="$STATE/pg.env"
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)

say() { echo "pg-server: $*" >&2; }

as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
    [ -n "$BIN" ] || { say "no PostgreSQL server binaries in /usr/lib/postgresql (make deps installs postgresql-15)"; exit 1; }
    stop
    mkdir -p "$STATE"
    DIR=$(mktemp -d /tmp/coffer-pg-XXXXXX)
    chmod 700 "$DIR"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$DIR"
    PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
    PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    printf '%s\n' "$PASSWORD" > "$DIR/pw.tmp"
    [ "$(id -u)" = 0 ] && chown postgres "$DIR/pw.tmp"
    as_owner "$BIN/initdb" -D "$DIR/data" -U coffer_test --pwfile="$DIR/pw.tmp" -A scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 \
        || { cat "$DIR/initdb.log" >&2; exit 1; }
    rm -f "$DIR/pw.tmp"
    as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -c unix_socket_directories=$DIR -c fsync=off -c max_connections=50" start >/dev/null \
        || { cat "$DIR/server.log" >&2; exit 1; }
    umask 077
    cat > "$ENV_FILE" <<ENV
COFFER_TEST_PG_DIR=$DIR
COFFER_TEST_PG_BIN=$BIN
COFFER_TEST_PG_HOST=127.0.0.1
COFFER_TEST_PG_PORT=$PORT
COFFER_TEST_PG_USER=coffer_test
COFFER_TEST_PG_PASSWORD=$PASSWORD
COFFER_TEST_PG_URL=postgresql://coffer_test:$PASSWORD@127.0.0.1:$PORT/postgres
export COFFER_TEST_PG_DIR COFFER_TEST_PG_BIN COFFER_TEST_PG_HOST COFFER_TEST_PG_PORT COFFER_TEST_PG_USER COFFER_TEST_PG_PASSWORD COFFER_TEST_PG_URL
ENV
    say "PostgreSQL $("$BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT (data in $DIR)"
}

stop() {
    [ -f "$ENV_FILE" ] || return 0
    DIR=$(sed -n 's/^COFFER_TEST_PG_DIR=//p' "$ENV_FILE")
    if [ -n "$DIR" ] && [ -d "$DIR/data" ]; then
        as_owner "$BIN/pg_ctl" -D "$DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    [ -n "$DIR" ] && rm -rf "$DIR"
    rm -f "$ENV_FILE"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
*) echo "usage: $0 start|stop" >&2; exit 64 ;;
esac

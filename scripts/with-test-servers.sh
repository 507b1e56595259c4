#!/bin/sh
# Runs a command with the servers the tests need (SeaweedFS for S3, PostgreSQL),
# stopping them afterwards whatever happens; exits with the command's status.
#   scripts/with-test-servers.sh swift test
set -eu
cd "$(dirname "$0")/.."
trap './scripts/s3-server.sh stop; ./scripts/pg-server.sh stop' EXIT INT TERM
./scripts/s3-server.sh start
./scripts/pg-server.sh start
. ./.test-servers/s3.env
. ./.test-servers/pg.env
set +e
"$@"
status=$?
exit $status

#!/bin/sh
# Runs a command with the servers the tests need (SeaweedFS for S3), stopping
# them afterwards whatever happens; exits with the command's status.
#   scripts/with-test-servers.sh swift test
set -eu
cd "$(dirname "$0")/.."
./scripts/s3-server.sh start
trap './scripts/s3-server.sh stop' EXIT INT TERM
. ./.test-servers/s3.env
set +e
"$@"
status=$?
exit $status

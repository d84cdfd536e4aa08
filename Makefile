# keepalived-rs. `make test` installs what the tests need, then runs every tier.
SHELL := /bin/bash
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

APT_PACKAGES := keepalived ipvsadm iproute2 nftables

.PHONY: all build test deps lint unit vm fuzz bench-parse clean

all: build

build:
	$(CARGO) build --release

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@# keepalived's package starts the service where it can; the tests need it stopped.
	@-systemctl stop keepalived >/dev/null 2>&1 || true

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Tier 1 (unit, no privilege) and tier 2 (root, netns) run in `cargo test`;
# tier-2 tests fail when CI=true and they cannot run.
unit:
	$(CARGO) test --workspace

fuzz:
	./parser/fuzz/run-short.sh

# Tier 3: boots Debian's kernel (which has IPVS) under qemu TCG and runs the
# smoke checks there, ipvsadm and Debian's keepalived included.
vm:
	tests/vm/run setup
	tests/vm/run smoke

test: deps lint unit vm fuzz

bench-parse:
	./benches/parse.sh

clean:
	$(CARGO) clean

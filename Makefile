# keepalived-rs. `make test` installs what the tests need, then runs every tier.
SHELL := /bin/bash
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

APT_PACKAGES := keepalived ipvsadm iproute2 nftables tcpdump

.PHONY: all build test deps vm-setup lint unit vm fuzz bench-parse bench-ipvs bench-checkers bench-vrrp clean

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

# The VM tier's packages and cached kernel: tier-3 tests boot it from
# `cargo test` (ipvs/tests/kernel.rs, tests/ipvs_differential.rs).
vm-setup:
	tests/vm/run setup

# Tier 1 (unit, no privilege), tier 2 (root, netns) and tier 3 (tests that
# boot the VM themselves) all run in `cargo test`; tier-2/3 tests fail when
# CI=true and they cannot run.
unit:
	$(CARGO) test --workspace

fuzz:
	./parser/fuzz/run-short.sh

# Tier 3: boots Debian's kernel (which has IPVS) under qemu TCG and runs the
# smoke checks there, ipvsadm and Debian's keepalived included.
vm: vm-setup
	tests/vm/run smoke

test: deps vm-setup lint unit vm fuzz

bench-parse:
	./benches/parse.sh

bench-ipvs:
	./benches/ipvs.sh

bench-checkers:
	./benches/checkers.sh

bench-vrrp:
	./benches/vrrp_takeover.sh 9
	./benches/vrrp_scale.sh 20
	GARP_DELAY=0 ./benches/vrrp_scale.sh 20

clean:
	$(CARGO) clean

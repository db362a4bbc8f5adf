# Weir: `make run` sets up and runs the demo, `make test` sets up and runs the tests.
SWIFT ?= swift
APT_PACKAGES := librocksdb-dev rocksdb-tools pkg-config

.PHONY: setup build run test bench-state bench-checkpoint clean

## Install RocksDB (Debian packages) when it is missing.
setup:
	@if ! pkg-config --exists rocksdb 2>/dev/null || ! command -v db_bench >/dev/null 2>&1; then \
		echo "installing $(APT_PACKAGES) with apt-get"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] && echo "" || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(APT_PACKAGES); \
	fi

build: setup
	$(SWIFT) build

## The demo: the keyed state backend end to end on RocksDB (and on the heap), printing what it did.
run: setup
	$(SWIFT) run weir demo

## The whole test suite.
test: setup
	$(SWIFT) test

## The state benchmark (release build): Weir vs the raw RocksDB C API.
bench-state: setup
	$(SWIFT) run -c release weir-bench state

## The checkpoint benchmark (release build): checkpoint duration, size and restore time per strategy.
bench-checkpoint: setup
	$(SWIFT) run -c release weir-bench checkpoint

clean:
	rm -rf .build

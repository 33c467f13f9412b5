# Two commands do everything: `make run` (the quickstart search) and `make test`.
# Each installs what is missing first (scripts/setup.sh) and is quick when it is there.

VENV := $(CURDIR)/.venv
export VIRTUAL_ENV := $(VENV)
export PATH := $(VENV)/bin:$(PATH)
export LIBTORCH_USE_PYTORCH := 1

CONFIG ?= configs/quickstart.toml

.PHONY: setup build run test lint bench clean-runs gpu-check reliability-table

setup:
	@bash scripts/setup.sh

build: setup
	cargo build --release

run: build
	./target/release/nas-actor run $(CONFIG) $(ARGS)

test: setup
	cargo test --all-targets $(TEST_ARGS)

lint: setup
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings

gpu-check: setup
	bash scripts/gpu-check.sh

reliability-table: setup
	bash scripts/reliability-table.sh

clean-runs:
	rm -rf runs

# Strata's make targets. `make test` is the one command CI runs (.ci/run):
# it installs what the tests need, starts the services they need, runs the
# whole suite, and stops the services again.

GO        ?= go
PKGS      ?= ./...
# Packages with concurrency: `make race` runs them under the race detector.
RACE_PKGS ?= ./logstore/... ./meta/... ./tools/... ./cmd/... ./tier/... ./cache/... ./frontends/... ./internal/...
FUZZTIME  ?= 10s
BENCHTIME ?= 1s
TEST_TIMEOUT ?= 25m

.PHONY: all build test test-deps test-python race lint fuzz bench clean

all: build

build:
	$(GO) build -o bin/strata ./cmd/strata

# test-deps installs what the tests need: Debian packages via apt-get (none
# yet) and the Go tools pinned with the tool directive in go.mod.
test-deps:
	@scripts/test-deps.sh

# The S3 server (versitygw) runs for the whole suite on a free loopback port,
# with its state in a fresh bin/s3-test.* directory; the trap stops it
# whether the tests pass, fail or are interrupted.
test: test-deps
	@mkdir -p bin; state=$$(mktemp -d bin/s3-test.XXXXXX); \
	trap 'scripts/s3-server.sh stop "$$state"' EXIT; trap 'exit 130' INT TERM; \
	scripts/s3-server.sh start "$$state" || exit 1; \
	set -a; . "$$state/env"; set +a; \
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(PKGS) && \
	$(GO) test -count=1 -race -timeout $(TEST_TIMEOUT) $(RACE_PKGS)

# test-python runs the Python client's tests (tools/python) against a fresh
# bin/strata. They need pyarrow, torch and pytest, which the development
# machines lack, so `make test` does not run them.
PYTHON ?= python3
test-python:
	@$(PYTHON) tools/python/check_deps.py
	$(GO) build -o bin/strata ./cmd/strata
	cd tools/python && STRATA_BIN=$(CURDIR)/bin/strata $(PYTHON) -m pytest -q tests

race:
	$(GO) test -count=1 -race -timeout $(TEST_TIMEOUT) $(RACE_PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)

# fuzz runs every fuzz target for FUZZTIME each.
fuzz:
	@scripts/fuzz.sh $(FUZZTIME)

bench:
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -benchmem $(PKGS)

clean:
	rm -rf bin

# Strata's make targets. `make test` is the one command CI runs (.ci/run):
# it installs what the tests need, starts the services they need, runs the
# whole suite, and stops the services again.

GO        ?= go
PKGS      ?= ./...
# Packages with concurrency: `make race` runs them under the race detector.
RACE_PKGS ?= ./logstore/... ./meta/... ./tools/... ./cmd/...
FUZZTIME  ?= 10s
BENCHTIME ?= 1s
TEST_TIMEOUT ?= 25m

.PHONY: all build test test-deps race lint fuzz bench clean

all: build

build:
	$(GO) build -o bin/strata ./cmd/strata

# test-deps installs what the tests need: Debian packages via apt-get (none
# yet) and the Go tools pinned with the tool directive in go.mod.
test-deps:
	@scripts/test-deps.sh

test: test-deps
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)
	$(GO) test -count=1 -race -timeout $(TEST_TIMEOUT) $(RACE_PKGS)

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

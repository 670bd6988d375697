# ferry — build, test, benchmark, fuzz.
GO       ?= go
BINARY   ?= ferry
PREFIX   ?= /usr/local
FUZZTIME ?= 10s

.PHONY: build test bench fuzz install clean

build:
	$(GO) build -o $(BINARY) .

# vet and the whole suite with the race detector. The end-to-end tests need
# root (network namespaces); they skip without it, and fail under CI=true.
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

# Benchmarks: ferry against a bare quic-go copy measured in the same run.
bench:
	$(GO) run ./internal/bench $(BENCHFLAGS)

# Every fuzz target of every package, each for FUZZTIME.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$t ($(FUZZTIME))"; \
	    $(GO) test -run='^$$' -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s $$pkg; \
	  done; \
	done

install:
	$(GO) build -o $(DESTDIR)$(PREFIX)/bin/$(BINARY) .

clean:
	rm -f $(BINARY)

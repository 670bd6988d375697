# ferry — build, test, benchmark, fuzz.
GO       ?= go
BINARY   ?= ferry
PREFIX   ?= /usr/local
# A count of executions, not a duration: go1.26's fuzz coordinator can fail
# a target with a bare "context deadline exceeded" when a -fuzztime duration
# runs out (golang/go#75804, fixed in go1.27); a count has no deadline.
FUZZTIME ?= 200000x
# What ferry --version prints (cli.version, cli.commit); without them the
# binary falls back to what the Go toolchain recorded.
VERSION  ?= $(shell git describe --tags --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null)$(shell git diff --quiet HEAD -- 2>/dev/null; [ $$? -eq 1 ] && echo -dirty)
LDFLAGS  := -X github.com/ferry-lan/ferry/cli.version=$(VERSION) -X github.com/ferry-lan/ferry/cli.commit=$(COMMIT)

.PHONY: build test bench bench-web fuzz install man clean web-vendor

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BINARY) .

# The in-tree fork of the mDNS responder (third_party/zeroconf, see its
# FORK.md) is a module of its own, which ./... does not enter.
FORKS    := third_party/zeroconf

# vet and the whole suite with the race detector, ferry's and the forks'.
# The end-to-end tests need root (network namespaces); they skip without it,
# and fail under CI=true.
test:
	$(GO) vet ./...
	@set -e; for d in $(FORKS); do echo "vet $$d"; (cd $$d && $(GO) vet ./...); done
	$(GO) test -race -count=1 -timeout 20m ./...
	@set -e; for d in $(FORKS); do echo "test $$d"; (cd $$d && $(GO) test -race -count=1 -timeout 10m ./...); done

# Benchmarks: ferry against a bare quic-go copy measured in the same run.
bench:
	$(GO) run ./internal/bench $(BENCHFLAGS)

# The web page's upload alone: make bench's case w (ferry receive --web,
# Chromium in a phone namespace): a 1 GiB upload against curl's PATCHes of
# the same bytes to the same server, the receiver's peak RSS, URL-to-ready
# time, and a receiver killed at 40 %. WEBRATE (e.g. 500mbit) caps the
# phone's link as a Wi-Fi would.
bench-web:
	$(GO) run ./internal/bench -cases w -setups loopback -webrate=$(WEBRATE) $(BENCHFLAGS)

# Every fuzz target of every package, ferry's and the forks', each for
# FUZZTIME.
fuzz:
	@set -e; for dir in . $(FORKS); do \
	  for pkg in $$(cd $$dir && $(GO) list ./...); do \
	    for t in $$(cd $$dir && $(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	      echo "fuzz $$pkg $$t ($(FUZZTIME))"; \
	      (cd $$dir && $(GO) test -run='^$$' -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s $$pkg); \
	    done; \
	  done; \
	done

# Man pages (section 1), one per command, generated into ./man from the
# same definitions as ferry's help: man -l man/ferry-send.1
man:
	$(GO) run -ldflags "$(LDFLAGS)" ./internal/mangen man

# The web page's third-party scripts (transfer/web/static/vendor): re-fetch
# them from the npm registry at their pinned versions and fail unless each
# matches the committed SHA256SUMS.
web-vendor:
	transfer/web/static/vendor/fetch.sh

install:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(DESTDIR)$(PREFIX)/bin/$(BINARY) .

clean:
	rm -f $(BINARY)
	rm -rf man

# Roost: `make run` starts a single node; `make test` runs every test.
#
# Tools are pinned here (buf) and in go.mod (the protoc plugins), so a
# fresh clone needs only Go and make.

GO       ?= go
BUF      := $(GO) run github.com/bufbuild/buf/cmd/buf@v1.75.0
PKGS     := ./...

.PHONY: all build run test deps check proto proto-check lint vet fmt-check unit bench bench-mupdate bench-frontend fuzz clean

all: build

build:
	$(GO) build -o bin/ ./cmd/...

# A single-node cluster on loopback, data in ./roost-data.
run:
	$(GO) run ./cmd/roostd

# Everything CI runs: static checks, generated code up to date, and all
# tests (unit, fuzz seeds, multi-node and end-to-end) with the race
# detector.
test: deps check unit

# What the tests need besides Go: Debian's Cyrus packages as real peers.
deps:
	./tests/cyrus/install.sh

check: fmt-check vet proto-check

unit:
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

# Regenerate the gRPC and protobuf code from proto/.
proto:
	$(BUF) lint
	$(BUF) generate

# Fail if the committed generated code differs from what proto/ gives.
proto-check: proto
	@test -z "$$(git status --porcelain -- proto/)" || { git status --short -- proto/; echo "generated code is stale: run make proto and commit"; exit 1; }

# Benchmarks recorded in docs/benchmarks.md.
bench:
	$(GO) test -run XXX -bench 'Heap|Snapshot' -benchtime 1x ./raftfsm/
	$(GO) test -run XXX -bench 'ApplySingle|ApplyBatch' -benchmem ./raftfsm/
	$(GO) test -run XXX -bench ApplyInto1M -benchtime 400x ./raftfsm/
	$(GO) test -run XXX -bench Transport -benchtime 200000x ./raftfsm/grpcserver/
	$(GO) test -run XXX -bench OneWriter -benchtime 2000x ./raftfsm/grpcserver/
	$(GO) test -run XXX -bench StoreOpen -benchtime 10x ./raftfsm/
	$(GO) run ./tests/bench -store
	$(GO) test -run XXX -bench Failover -benchtime 15x -v ./tests/

# The MUPDATE benchmarks against Cyrus's own master (needs Cyrus, as make
# test installs it; MupdatePush alone takes about ten minutes).
bench-mupdate: deps
	$(GO) test -run XXX -bench 'MupdateVsCyrus|MupdateStreamLatency|MupdateDump|MupdatePush' -benchtime 1x -timeout 90m -v ./tests/

# The frontend's IMAP and LMTP benchmarks against direct access and
# Cyrus's own frontend (needs Cyrus, and root for LMTP's standard ports).
bench-frontend: deps
	$(GO) test -run XXX -bench 'Frontend|LMTP' -benchtime 1x -timeout 30m -v ./tests/

# Fuzz each parser for a while (the seed corpus also runs in `make test`).
FUZZTIME ?= 60s
fuzz:
	$(GO) test -run XXX -fuzz FuzzPatternMatch -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./raftfsm/
	$(GO) test -run XXX -fuzz FuzzReadSnapshot -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./raftfsm/
	$(GO) test -run XXX -fuzz FuzzDecodeCommand -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./raftfsm/
	$(GO) test -run XXX -fuzz FuzzReadCommand -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./mupdatecompat/internal/wire/
	$(GO) test -run XXX -fuzz FuzzReadCommand -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./frontend/imapwire/
	$(GO) test -run XXX -fuzz FuzzReadResponse -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./frontend/imapwire/
	$(GO) test -run XXX -fuzz FuzzParseAString -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./frontend/imapwire/
	$(GO) test -run XXX -fuzz FuzzRoundTrip -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./frontend/namespace/
	$(GO) test -run XXX -fuzz FuzzToExternal -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./frontend/namespace/
	$(GO) test -run XXX -fuzz FuzzRecipient -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./frontend/namespace/
	$(GO) test -run XXX -fuzz FuzzParseListArgs -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./frontend/imapproxy/
	$(GO) test -run XXX -fuzz FuzzParseRcpt -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./frontend/lmtpproxy/
	$(GO) test -run XXX -fuzz FuzzParamConn -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./frontend/lmtpproxy/
	$(GO) test -run XXX -fuzz FuzzCheckedReader -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./frontend/lmtpproxy/
	$(GO) test -run XXX -fuzz FuzzRawMessage -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./frontend/lmtpproxy/

clean:
	rm -rf bin/

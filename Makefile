# Sluice. `make demo` runs the platform on the embedded stack; `make test`
# runs lint and every test. Pinned tools install into bin/ on first use.

GO       ?= go
BIN      := $(CURDIR)/bin
PKGS     := ./...
# The Helm chart's tests are a module of their own (Helm and KEDA stay out
# of the binary's go.mod).
CHART_MOD := deploy/helm

STATICCHECK_VERSION   := v0.8.2
WORKFLOWCHECK_VERSION := v0.6.0
VERSITYGW_VERSION     := v1.8.0

STATICCHECK   := $(BIN)/staticcheck
WORKFLOWCHECK := $(BIN)/workflowcheck
VERSITYGW     := $(BIN)/versitygw

.PHONY: all build release tools lint test unit bench fuzz soak dev demo clean ptx gpucheck

all: build

## build: the sluice binary, in bin/
build:
	$(GO) build -o $(BIN)/sluice ./cmd/sluice

## release: a stripped, reproducible binary
release:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $(BIN)/sluice ./cmd/sluice

## ptx: recompile the GPU kernels (gpu/kernels/kernels.cu) to the committed
## PTX, with Debian's clang-14 (apt-get install clang-14) or nvcc
ptx:
	@if command -v clang-14 >/dev/null; then \
		clang-14 -x cuda --cuda-device-only --cuda-gpu-arch=sm_80 -nocudainc -nocudalib -O3 -S \
			gpu/kernels/kernels.cu -o gpu/kernels/kernels.ptx; \
	elif command -v nvcc >/dev/null; then \
		nvcc -ptx -arch=sm_80 -O3 -x cu gpu/kernels/kernels.cu -o gpu/kernels/kernels.ptx; \
	else echo "make ptx needs clang-14 (apt-get install clang-14) or nvcc" >&2; exit 1; fi

## gpucheck: the small static binary gpu/devicecheck.sh runs on a GPU machine
gpucheck:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $(BIN)/gpucheck ./cmd/gpucheck

$(STATICCHECK):
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

$(WORKFLOWCHECK):
	GOBIN=$(BIN) $(GO) install go.temporal.io/sdk/contrib/tools/workflowcheck@$(WORKFLOWCHECK_VERSION)

$(VERSITYGW):
	GOBIN=$(BIN) $(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)

## tools: the pinned lint tools and the S3 test server
tools: $(STATICCHECK) $(WORKFLOWCHECK) $(VERSITYGW)

## lint: go vet, staticcheck and Temporal's workflowcheck
lint: $(STATICCHECK) $(WORKFLOWCHECK)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet $(PKGS)
	$(STATICCHECK) $(PKGS)
	$(WORKFLOWCHECK) ./workflows/... ./pipelines/...
	cd $(CHART_MOD) && $(GO) vet ./... && $(STATICCHECK) ./...

## test: lint, then unit and integration tests on real servers
test: lint $(VERSITYGW)
	SLUICE_VERSITYGW=$(VERSITYGW) $(GO) test -count=1 -timeout 25m $(PKGS)
	cd $(CHART_MOD) && $(GO) test -count=1 ./...

## unit: the tests, without lint
unit: $(VERSITYGW)
	SLUICE_VERSITYGW=$(VERSITYGW) $(GO) test -count=1 $(PKGS)
	cd $(CHART_MOD) && $(GO) test -count=1 ./...

## bench: benchmarks; figures go to BENCHMARKS.md
bench: build $(VERSITYGW)
	$(GO) test -run '^$$' -bench . ./ml/...
	$(GO) test -run '^$$' -bench . -benchtime 5x ./sources/
	SLUICE_VERSITYGW=$(VERSITYGW) bash bench/lake.sh
	bash bench/features.sh
	bash bench/scoring.sh
	bash bench/serving.sh
	$(GO) test -run '^$$' -bench Upsert -benchtime 5x ./online/
	$(GO) test -run '^$$' -bench Get100 -benchtime 2000x ./online/
	$(GO) test -run '^$$' -bench TrainOverhead -benchtime 3x ./workflows/
	$(GO) test -run '^$$' -bench Drift10Mx30 -benchtime 3x ./monitor/
	bash bench/ml.sh
	bash bench/foundation.sh

## fuzz: each fuzz target for FUZZTIME (make test runs their corpora only);
## new findings land in the package's testdata/fuzz
FUZZTIME ?= 30s
FUZZ_TARGETS := ./spec:FuzzParse ./sources:FuzzCSV ./sources:FuzzJSONL \
	./ml/artifact:FuzzDecode ./ml/artifact:FuzzDecodeValidChecksum \
	./serving:FuzzPredict ./serving:FuzzInfer ./serving:FuzzServing ./api:FuzzAPIBodies \
	./ml/xgboost:FuzzImport
fuzz: $(VERSITYGW)
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; echo "== $$name ($$pkg, $(FUZZTIME))"; \
		SLUICE_VERSITYGW=$(VERSITYGW) $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s $$pkg || exit 1; \
	done

## soak: 10 minutes of online traffic at 2,000 req/s with two promotions and
## a reload of the online store; figures go to BENCHMARKS.md
soak:
	bash bench/soak.sh

## dev: the whole platform in one process, state in .sluice/
dev: build
	$(BIN)/sluice dev

## demo: the dev stack, proven end to end; Ctrl-C stops it
demo: build
	$(BIN)/sluice demo

clean:
	rm -rf $(BIN) .sluice

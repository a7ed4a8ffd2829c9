# dmseg: every target installs what it needs (Go modules, the XLA CPU plugin) first.
SHELL := /bin/bash
ROOT := $(CURDIR)
export GOMLX_NO_AUTO_INSTALL := 1
export DMSEG_PJRT_DIR := $(ROOT)/.pjrt
export PJRT_PLUGIN_LIBRARY_PATH := $(ROOT)/.pjrt
export DMSEG_REQUIRE_XLA := 1
GO ?= go
DMSEG := $(ROOT)/bin/dmseg
TEST_TIMEOUT ?= 30m
TIER ?= default
UPDATE ?= 0

.PHONY: all setup build test fuzz probe test-peers vet bench reproduce notebooks notebooks-html notebook-tools train-all clean help

all: build

help:
	@echo "make reproduce  - the main job: verify artifacts, regenerate and compare every table and figure"
	@echo "                  (TIER=verify: hashes only; UPDATE=1: accept changed outputs)"
	@echo "make test       - go vet + go test on the XLA CPU and pure-Go backends"
	@echo "make bench      - training-step benchmark vs PyTorch CPU -> thesis/PERFORMANCE.md"
	@echo "make notebooks  - execute notebooks/ headless (installs Jupyter + GoNB) and render notebooks/html/"
	@echo "make notebooks-html - only render the committed notebooks to notebooks/html/"
	@echo "make train-all  - retrain every experiment (slow)"
	@echo "make probe      - re-run the reliability probe (bad inputs, faults) with counts per class"
	@echo "make fuzz       - fuzz the PNG, NIfTI, checkpoint and manifest readers (FUZZTIME=10m)"

setup: .pjrt/pjrt_c_api_cpu_plugin.so
	@$(GO) mod download

.pjrt/pjrt_c_api_cpu_plugin.so: scripts/setup-pjrt.sh
	@./scripts/setup-pjrt.sh

build: setup
	@mkdir -p bin
	$(GO) build -o $(DMSEG) ./kernels/cmd/dmseg

vet: setup
	$(GO) vet ./...

# The notebook test (kernels/notebooktest) executes notebooks/ headless; make test installs its tools.
notebook-tools:
	@./scripts/install-notebook-tools.sh

# OpenCV (Debian python3-opencv) is the peer of the CLAHE comparison test.
test-peers:
	@/usr/bin/python3 -c 'import cv2' 2>/dev/null || { echo "installing python3-opencv (CLAHE reference)" >&2; \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y -qq --no-install-recommends python3-opencv >/dev/null || \
	  echo "warning: python3-opencv not installed; the OpenCV comparison test will skip" >&2; }

test: build vet notebook-tools test-peers
	DMSEG_REQUIRE_NOTEBOOKS=1 PATH="$$($(GO) env GOPATH)/bin:$$PATH" $(GO) test -timeout $(TEST_TIMEOUT) ./...
	@$(MAKE) --no-print-directory fuzz FUZZTIME=3s

# Fuzz targets of the decoders of untrusted files (PNG, NIfTI, checkpoints, manifests); make test runs
# each for a few seconds, `make fuzz FUZZTIME=10m` for longer. Their seed corpora also run in go test.
FUZZTIME ?= 30s
# The reliability probe's classes of bad input and faults (issue 16), re-run against bin/dmseg with counts per class (~2 min).
probe: setup
	@./scripts/probe-reliability.sh

fuzz: setup
	@for t in "FuzzDecodeGray ./kernels/imageio" "FuzzDecode ./kernels/data/nifti" \
	          "FuzzReadCheckpoint ./kernels/train" "FuzzReadManifest ./kernels/artifacts"; do \
	  set -- $$t; echo "fuzz $$1 ($(FUZZTIME))"; \
	  out=$$($(GO) test -run '^$$' -fuzz "^$$1\$$" -fuzztime $(FUZZTIME) $$2 2>&1) || { echo "$$out"; exit 1; }; done

bench: build
	./scripts/bench.sh

reproduce: build
	TIER=$(TIER) UPDATE=$(UPDATE) ./scripts/reproduce.sh

notebooks: build
	./scripts/notebooks.sh

# Render the committed (executed) notebooks to notebooks/html/ without executing them again.
notebooks-html:
	NOTEBOOK_HTML_ONLY=1 ./scripts/notebooks.sh

train-all: build
	./scripts/train-all.sh

clean:
	rm -rf bin

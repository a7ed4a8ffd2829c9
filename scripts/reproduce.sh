#!/usr/bin/env bash
# make reproduce: regenerate every figure and table that exists so far from the COMMITTED artifacts.
# Never trains (that is `make train-all`). Every output is stamped with the artifact id, the commit of
# the training run and of this code, and the backend.
#
#   REPRODUCE_EVAL_N   generated images for the chapter 2 quality table (default 128; 256 = the experiment's)
#   REPRODUCE_TIMING_N batch of the DDPM-1000 vs DDIM-50 timing (default 4; 0 skips it)
#   REPRODUCE_FAST=1   64 images and no timing (a quick check)
#   DMSEG_BACKEND      backend for all steps (default auto: CUDA, else XLA CPU, else pure Go)
#
# Other chapters add their own steps as executable scripts/reproduce.d/NN-name.sh (run in order,
# with $DMSEG pointing at the built binary).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
export GOMLX_NO_AUTO_INSTALL=1
export DMSEG_PJRT_DIR="${DMSEG_PJRT_DIR:-$ROOT/.pjrt}"
export PJRT_PLUGIN_LIBRARY_PATH="${PJRT_PLUGIN_LIBRARY_PATH:-$ROOT/.pjrt}"
export DMSEG="$ROOT/bin/dmseg"
mkdir -p bin plots
step() { echo; echo "== $* ($(date -u +%H:%M:%S))"; }

step "build"
go build -o bin/dmseg ./kernels/cmd/dmseg
go build -o bin/fig-ch2 ./kernels/figures/synthesis/cmd/fig-ch2
echo "code commit $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- 2>/dev/null || echo ' (with uncommitted changes)')"

if [ -x bin/dmseg ] && bin/dmseg help 2>&1 | grep -q '^  env '; then
  step "environment"
  bin/dmseg env
fi

step "verify every committed artifact (a changed byte fails here)"
bin/dmseg artifacts list
bin/dmseg artifacts verify

step "data: phantom sample grid -> plots/data-phantom-grid.png"
bin/dmseg data grid --out plots/data-phantom-grid.png

step "chapter 2: Figures 10 and 12, sample quality, DDPM vs DDIM time (artifact ch2-ddpm-uncond-cpu)"
if ! bin/dmseg artifacts show ch2-ddpm-uncond-cpu >/dev/null 2>&1; then
  echo "reproduce.sh: no committed artifact of ch2-ddpm-uncond-cpu in artifacts/; train it with 'make train-all'" >&2
  exit 1
fi
fig_args=(--artifact ch2-ddpm-uncond-cpu --out plots --eval-n "${REPRODUCE_EVAL_N:-128}" --timing-n "${REPRODUCE_TIMING_N:-4}")
if [ "${REPRODUCE_FAST:-0}" = 1 ]; then fig_args+=(--eval-n 64 --timing-n 0); fi
bin/fig-ch2 "${fig_args[@]}"
ls -l plots/fig10-* plots/fig12-*

if [ -d scripts/reproduce.d ]; then
  for s in scripts/reproduce.d/*.sh; do
    [ -x "$s" ] || continue
    step "$s"
    "$s"
  done
fi

step "done: outputs in plots/ (stamps: see each PNG's tEXt 'dmseg-stamp' and the .md/.json files)"

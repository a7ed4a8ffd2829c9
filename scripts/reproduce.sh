#!/usr/bin/env bash
# make reproduce: check every committed artifact and evaluation record, regenerate every table and figure
# from them and compare every number with the committed one. Never trains (that is `make train-all`).
#
#   TIER=verify    hashes only (seconds)
#   TIER=default   (the default) verify + regenerate + compare + re-sample a subset of each evaluation
#   UPDATE=1       accept regenerated outputs that differ (after an intended change)
#   DMSEG_BACKEND  backend (default auto: CUDA, else XLA CPU, else pure Go)
#
# The comparison and the outputs are made by `dmseg reproduce` (kernels/reproduce); timings go to
# thesis/reproduce-timings.md and are never compared.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
export GOMLX_NO_AUTO_INSTALL=1
export DMSEG_PJRT_DIR="${DMSEG_PJRT_DIR:-$ROOT/.pjrt}"
export PJRT_PLUGIN_LIBRARY_PATH="${PJRT_PLUGIN_LIBRARY_PATH:-$ROOT/.pjrt}"
mkdir -p bin plots
start=$(date +%s)
step() { echo; echo "== $* ($(date -u +%H:%M:%S))"; }

step "build"
go build -o bin/dmseg ./kernels/cmd/dmseg
echo "code commit $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- 2>/dev/null || echo ' (with uncommitted changes)')"

tier="${TIER:-default}"
if [ "$tier" != verify ]; then
  step "environment"
  bin/dmseg env
fi

step "artifacts"
bin/dmseg artifacts list

args=(reproduce --tier "$tier")
if [ "${UPDATE:-0}" = 1 ]; then args+=(--update); fi
step "dmseg ${args[*]}"
bin/dmseg "${args[@]}"

if [ "$tier" != verify ]; then
  step "data: phantom sample grid -> plots/data-phantom-grid.png"
  bin/dmseg data grid --out plots/data-phantom-grid.png
  if ! git diff --quiet -- plots/data-phantom-grid.png 2>/dev/null; then
    echo "reproduce.sh: plots/data-phantom-grid.png differs from the committed one" >&2
    [ "${UPDATE:-0}" = 1 ] || exit 1
  fi
fi

echo
echo "make reproduce ($tier tier) passed in $(( $(date +%s) - start )) s"

#!/usr/bin/env bash
# Dice vs sampling steps (issue 11, beyond the thesis): evaluates one chapter-3 DDPM on the first
# STEPS_N (default 50) validation images with DDIM-5, 10, 20, 50, 100 and ancestral DDPM-1000, one
# record each; `make reproduce` turns them into thesis/tables/ch3-steps.* and plots/ch3-dice-vs-steps.png.
# About 20 minutes on 2 cores (DDPM-1000 is most of it). Records that exist already are kept.
#
#   scripts/ch3-steps.sh [ARTIFACT]     (default: the newest ch3-ddpm-concat-lung-cpu)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
export GOMLX_NO_AUTO_INSTALL=1 DMSEG_PJRT_DIR="${DMSEG_PJRT_DIR:-$ROOT/.pjrt}" PJRT_PLUGIN_LIBRARY_PATH="${PJRT_PLUGIN_LIBRARY_PATH:-$ROOT/.pjrt}"
go build -o bin/dmseg ./kernels/cmd/dmseg
a=${1:-ch3-ddpm-concat-lung-cpu}
n=${STEPS_N:-50}
run() {
  local out
  if ! out=$(bin/dmseg evaluate --artifact "$a" --n "$n" "$@" 2>&1); then
    if grep -q "already" <<<"$out"; then echo "ch3-steps: $* exists already"; return 0; fi
    echo "$out" >&2; return 1
  fi
  tail -1 <<<"$out"
}
for s in 5 10 20 50 100; do echo "== DDIM-$s"; run --ddim-steps "$s"; done
echo "== DDPM-1000"; run --samplers ddpm

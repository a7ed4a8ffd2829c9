#!/usr/bin/env bash
# Chapter 4's sampling studies (issue 12, what the thesis leaves open), on the lung bridge at the CPU
# size and the first STUDY_N (default 25) validation images:
#   - Dice vs skip steps: 10, 20, 50, 100, 200 and 1000 steps at the experiment's eta (1);
#   - eta 0 vs eta 1 at 200 steps over 5 sampling seeds (is BBDM sampling deterministic?).
# One record each; `make reproduce` turns them into thesis/tables/ch4-steps.*, ch4-eta.* and
# plots/ch4-dice-vs-steps.png. About 25 minutes on 2 cores. Records that exist already are kept.
#
#   scripts/ch4-studies.sh [ARTIFACT]     (default: the newest ch4-bbdm-lung-cpu)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
export GOMLX_NO_AUTO_INSTALL=1 DMSEG_PJRT_DIR="${DMSEG_PJRT_DIR:-$ROOT/.pjrt}" PJRT_PLUGIN_LIBRARY_PATH="${PJRT_PLUGIN_LIBRARY_PATH:-$ROOT/.pjrt}"
go build -o bin/dmseg ./kernels/cmd/dmseg
a=${1:-ch4-bbdm-lung-cpu}
n=${STUDY_N:-25}
run() {
  local out
  if ! out=$(bin/dmseg evaluate --artifact "$a" --n "$n" "$@" 2>&1); then
    if grep -q "already" <<<"$out"; then echo "ch4-studies: $* exists already"; return 0; fi
    echo "$out" >&2; return 1
  fi
  tail -1 <<<"$out"
}
for s in 10 20 50 100 200; do echo "== $s steps"; run --steps "$s"; done
for eta in 0 1; do
  for seed in 1234 1235 1236 1237 1238; do echo "== eta $eta seed $seed"; run --eta "$eta" --seed "$seed"; done
done
echo "== 1000 steps"; run --steps 1000

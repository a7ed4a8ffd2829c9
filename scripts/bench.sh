#!/usr/bin/env bash
# make bench: dmseg's training-step benchmark on each backend beside PyTorch CPU (Debian python3-torch),
# in one run. Writes thesis/PERFORMANCE.md; the last line is train_step_ratio_vs_pytorch=R.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "bench: installing the PyTorch peer (Debian python3-torch) ..." >&2
  if [ "$(id -u)" = 0 ]; then apt_get="apt-get"; else apt_get="sudo apt-get"; fi
  $apt_get install -y --no-install-recommends python3-torch >/dev/null || {
    echo "bench: could not install python3-torch; the PyTorch column will be missing" >&2; }
fi
# Extra model benchmarks (go test -bench) are appended by later targets; the core is dmseg bench.
exec ./bin/dmseg bench --backends "${BENCH_BACKENDS:-xla:cpu,go}" --batch "${BENCH_BATCH:-16}" \
  --reps "${BENCH_REPS:-10}" --devices "${BENCH_DEVICES:-1,2,4}" --out thesis/PERFORMANCE.md

#!/usr/bin/env bash
# Device check for an NVIDIA machine (run with the device tool; bin/dmseg carried from a build here).
# Links the CUDA PJRT plugin from the installed JAX wheel as pjrt_c_api_cuda_plugin.so, then runs
# dmseg env and the probe benchmark on xla:cuda beside PyTorch on the same GPU when available.
set -uo pipefail
out=${OUT:-/tmp/out}; mkdir -p "$out"
nvidia-smi -L 2>&1 | tee "$out/gpu.txt"
so=$(python3 -c 'import jax_plugins, os, glob; [print(p) for d in jax_plugins.__path__ for p in glob.glob(os.path.join(d, "*", "xla_cuda_plugin.so"))]' 2>/dev/null | head -1)
[ -n "$so" ] || so=$(find / -xdev -name 'xla_cuda_plugin.so' 2>/dev/null | head -1)
echo "cuda plugin: $so" | tee -a "$out/gpu.txt"
pip list 2>/dev/null | grep -i -E "jax|torch|pjrt" | tee -a "$out/gpu.txt"
mkdir -p /tmp/pjrt && ln -sf "$so" /tmp/pjrt/pjrt_c_api_cuda_plugin.so
export DMSEG_PJRT_DIR=/tmp/pjrt GOMLX_NO_AUTO_INSTALL=1
timeout 120 ./bin/dmseg env --backend xla:cuda 2>&1 | tee "$out/env-cuda.txt"
GOMLX_BACKEND=xla:cuda timeout 60 ./bin/dmseg env --quick 2>&1 | tee "$out/env-gomlx-backend.txt"
py=python3; $py -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null || py=""
timeout 240 ./bin/dmseg bench --backends xla:cuda --python "$py" --torch-device cuda --batch 16 --reps 20 \
  --out "$out/PERFORMANCE-cuda.md" 2>&1 | tee "$out/bench-cuda.txt"
for b in 64 256; do
  timeout 120 ./bin/dmseg bench --backends xla:cuda --python "$py" --torch-device cuda --batch $b --reps 10 \
    --out "$out/PERFORMANCE-cuda-b$b.md" 2>&1 | tail -3 | tee -a "$out/bench-cuda.txt"
done

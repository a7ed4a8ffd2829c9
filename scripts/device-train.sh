#!/usr/bin/env bash
# One prepared GPU session (device tool): a speed probe of the Table 6 U-Net on xla:cuda, a few minutes
# of ch2-ddpm-uncond-h200 training sized from it, Figure-10-style samples (DDIM-50 and DDPM-1000) from
# the resulting artifact, then the model benchmark table beside PyTorch CUDA. Small outputs (reports, loss curve, manifest, samples) go to
# $OUT; the multi-GB checkpoint stays on the device.
# Dry run on CPU: EXP=ch2-ddpm-uncond-tiny BACKEND=xla:cpu MODELS=unet-tiny TRAIN_SECONDS=20 scripts/device-train.sh
set -uo pipefail
out=${OUT:-/tmp/out}; mkdir -p "$out"
EXP=${EXP:-ch2-ddpm-uncond-h200}
BACKEND=${BACKEND:-xla:cuda}
MODELS=${MODELS:-unet-table6,unet-cpu,dit-cpu}
TRAIN_SECONDS=${TRAIN_SECONDS:-180}
NSAMPLES=${NSAMPLES:-64}
export GOMLX_NO_AUTO_INSTALL=1 GOPJRT_CUDA_CHECKS=0
if [ "$BACKEND" = xla:cuda ]; then
  nvidia-smi -L > "$out/gpu.txt" 2>&1
  so=$(python3 -c 'import jax_plugins, os, glob; [print(p) for d in jax_plugins.__path__ for p in glob.glob(os.path.join(d, "*", "xla_cuda_plugin.so"))]' 2>/dev/null | head -1)
  mkdir -p /tmp/pjrt && ln -sf "$so" /tmp/pjrt/pjrt_c_api_cuda_plugin.so
  export DMSEG_PJRT_DIR=/tmp/pjrt
  py=python3; tdev=cuda
else
  py=/usr/bin/python3; tdev=cpu
fi
t0=$(date +%s)
model=$(./bin/dmseg train --list 2>/dev/null | awk -v e="$EXP" '$1==e {getline; print $2; exit}' | tr -d ,)
# Quick speed probe of the experiment's model alone, to size the step budget.
timeout 120 ./bin/dmseg bench --backends "$BACKEND" --models "$model" --models-only --batch 16 --reps 3 \
  --out "$out/PERFORMANCE-probe.md" > "$out/bench-probe.txt" 2>&1
echo "speed probe rc=$? after $(( $(date +%s) - t0 )) s" | tee -a "$out/log.txt"
# Step budget from the measured batch-16 training step of the experiment's model (batch 8 ~ 0.6x of it).
sec=$(grep -E "bench: .*: ${model} \(" "$out/bench-probe.txt" | sed -E 's/.*train step ([0-9.]+) s.*/\1/' | head -1)
steps=$(python3 -c "import sys; s=float(sys.argv[1] or 0.08); print(max(20, min(8000, int(${TRAIN_SECONDS}/(0.6*s+0.002)))))" "${sec:-}")
echo "model $model, batch-16 step ${sec:-?} s -> $steps steps" | tee -a "$out/log.txt"
export DMSEG_ARTIFACTS=/tmp/artifacts
t1=$(date +%s)
timeout $(( TRAIN_SECONDS + 150 )) ./bin/dmseg train --experiment "$EXP" --backend "$BACKEND" --steps "$steps" \
  --out /tmp/run > "$out/train.txt" 2>&1
echo "train rc=$? after $(( $(date +%s) - t1 )) s" | tee -a "$out/log.txt"
tr '\r' '\n' < "$out/train.txt" | grep -v '^step ' > "$out/train-summary.txt"; tr '\r' '\n' < "$out/train.txt" | grep '^step ' | tail -3 >> "$out/train-summary.txt"
rm -f "$out/train.txt"
cp /tmp/run/*.csv /tmp/run/*.png "$out/" 2>/dev/null
art=$(ls -td /tmp/artifacts/*/ 2>/dev/null | head -1)
if [ -n "$art" ]; then
  mkdir -p "$out/artifact"; cp "$art"/*.json "$out/artifact/" 2>/dev/null
  ls -la "$art" > "$out/artifact/files.txt"
  t2=$(date +%s)
  timeout 90 ./bin/dmseg sample --artifact "$EXP" --artifacts /tmp/artifacts --backend "$BACKEND" --sampler ddim --steps 50 \
    --n "$NSAMPLES" --seed 1 --out "$out/fig10-h200-ddim50.png" >> "$out/log.txt" 2>&1
  echo "ddim rc=$? after $(( $(date +%s) - t2 )) s" | tee -a "$out/log.txt"
  t3=$(date +%s)
  timeout 120 ./bin/dmseg sample --artifact "$EXP" --artifacts /tmp/artifacts --backend "$BACKEND" --sampler ddpm --steps 0 \
    --n 16 --seed 1 --out "$out/fig10-h200-ddpm1000.png" >> "$out/log.txt" 2>&1
  echo "ddpm rc=$? after $(( $(date +%s) - t3 )) s" | tee -a "$out/log.txt"
fi
# Full model table beside the PyTorch CUDA probe, with what time is left.
timeout 120 ./bin/dmseg bench --backends "$BACKEND" --models "$MODELS" --python "$py" \
  --torch-device "$tdev" --batch 16 --reps 6 --out "$out/PERFORMANCE-models.md" > "$out/bench.txt" 2>&1
echo "bench rc=$? after $(( $(date +%s) - t0 )) s" | tee -a "$out/log.txt"
echo "total $(( $(date +%s) - t0 )) s" | tee -a "$out/log.txt"

#!/usr/bin/env bash
# One prepared GPU session for chapter 3 (device tool): train the -gpu experiments (the thesis's scale of
# images seen: batch 512, 4,000 lung / 8,000 infection steps, eps objective, CPU-sized U-Net + RRDB),
# evaluate each on the validation split, and bring the artifacts (EMA weights only, a few MB each) and
# their records back under $OUT/artifacts/ to be committed. Each experiment gets at most EXP_SECONDS;
# one that does not finish leaves its checkpoint on the device and its log in $OUT.
#   EXPS         experiments, in order (default: the lung pair, then the infection pair)
#   STEPS        override the step budget of every experiment (recorded; changes the config hash)
#   EXP_SECONDS  wall-clock cap per experiment, training + evaluation (default 240)
# Dry run on CPU: EXPS=ch3-ddpm-concat-tiny BACKEND=xla:cpu scripts/device-ch3.sh
set -uo pipefail
out=${OUT:-/tmp/out}; mkdir -p "$out/artifacts"
EXPS=${EXPS:-ch3-ddpm-add-lung-gpu ch3-ddpm-concat-lung-gpu ch3-ddpm-add-infection-gpu ch3-ddpm-concat-infection-gpu}
BACKEND=${BACKEND:-xla:cuda}
DMSEG=${DMSEG:-./bin/dmseg}
EXP_SECONDS=${EXP_SECONDS:-240}
export GOMLX_NO_AUTO_INSTALL=1 GOPJRT_CUDA_CHECKS=0 DMSEG_ARTIFACTS=/tmp/artifacts
if [ "$BACKEND" = xla:cuda ]; then
  nvidia-smi -L > "$out/gpu.txt" 2>&1
  so=$(python3 -c 'import jax_plugins, os, glob; [print(p) for d in jax_plugins.__path__ for p in glob.glob(os.path.join(d, "*", "xla_cuda_plugin.so"))]' 2>/dev/null | head -1)
  mkdir -p /tmp/pjrt && ln -sf "$so" /tmp/pjrt/pjrt_c_api_cuda_plugin.so
  export DMSEG_PJRT_DIR=/tmp/pjrt
fi
t0=$(date +%s)
for e in $EXPS; do
  t1=$(date +%s)
  args=(train --experiment "$e" --backend "$BACKEND" --out "/tmp/runs/$e")
  [ -n "${STEPS:-}" ] && args+=(--steps "$STEPS")
  id=$(timeout "$EXP_SECONDS" "$DMSEG" "${args[@]}" 2> >(tr '\r' '\n' | grep -v '^step ' > "$out/train-$e.txt") | tail -1)
  echo "$e: train -> ${id:-none} after $(( $(date +%s) - t1 )) s" | tee -a "$out/log.txt"
  [ -n "$id" ] || continue
  left=$(( EXP_SECONDS - ($(date +%s) - t1) ))
  timeout "$(( left > 30 ? left : 30 ))" "$DMSEG" evaluate --artifact "$id" --backend "$BACKEND" >> "$out/eval-$e.txt" 2>&1
  echo "$e: evaluate rc=$? after $(( $(date +%s) - t1 )) s" | tee -a "$out/log.txt"
  cp -r "/tmp/artifacts/$id" "$out/artifacts/"
done
echo "total $(( $(date +%s) - t0 )) s" | tee -a "$out/log.txt"

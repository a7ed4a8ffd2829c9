#!/usr/bin/env bash
# make train-all (the retrain tier of make reproduce): retrain every experiment that fits this machine,
# store new artifacts, evaluate each into a record beside it, and regenerate the tables and figures
# (UPDATE: new artifacts give new numbers). Slow on 2 CPU cores: chapter 2 about 1.5 hours, chapter 3 about 5 hours (with the seed study), chapter 4 about 1.5 hours, the brain MRI about 20 minutes,
# chapter 5 about 1.5 hours (six VQ-GANs of 5-8 minutes, then eight latent models of about 5 minutes each: a latent model's config names its VQ-GANs, so they come first).
#
#   TRAIN_EXPERIMENTS  space-separated experiment names (default: the CPU-sized ones)
#   TRAIN_RESUME=1     continue interrupted runs from .cache/runs/NAME instead of starting over
#   DMSEG_BACKEND      backend (the *-paper experiments need a GPU: DMSEG_BACKEND=xla:cuda)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
export GOMLX_NO_AUTO_INSTALL=1
export DMSEG_PJRT_DIR="${DMSEG_PJRT_DIR:-$ROOT/.pjrt}"
export PJRT_PLUGIN_LIBRARY_PATH="${PJRT_PLUGIN_LIBRARY_PATH:-$ROOT/.pjrt}"
mkdir -p bin .cache/runs
go build -o bin/dmseg ./kernels/cmd/dmseg
exps=${TRAIN_EXPERIMENTS:-ch2-ddpm-uncond-cpu \
  ch3-ddpm-add-lung-cpu ch3-ddpm-concat-lung-cpu ch3-unet-lung-cpu \
  ch3-ddpm-add-infection-cpu ch3-ddpm-concat-infection-cpu ch3-unet-infection-cpu \
  ch3-ddpm-add-lung-cpu-seed2 ch3-ddpm-add-lung-cpu-seed3 ch3-ddpm-concat-lung-cpu-seed2 ch3-ddpm-concat-lung-cpu-seed3 \
  ch4-bbdm-lung-cpu ch4-bbdm-infection-cpu ch4-bbdm-lung-noclahe-cpu ch4-bbdm-lung-dit-cpu ch4-bbdm-infection-dit-cpu \
  brain-ddpm-concat-cpu brain-unet-cpu \
  ch5-vqgan-lung-f4-cpu ch5-vqgan-xray-f4-cpu ch5-vqgan-infection-f4-cpu \
  ch5-vqgan-lung-f8-cpu ch5-vqgan-xray-f8-cpu ch5-vqgan-infection-f8-cpu \
  ch5-ldm-lung-f4-cpu ch5-lbbdm-lung-f4-cpu ch5-ldm-infection-f4-cpu ch5-lbbdm-infection-f4-cpu \
  ch5-ldm-lung-f8-cpu ch5-lbbdm-lung-f8-cpu ch5-ldm-infection-f8-cpu ch5-lbbdm-infection-f8-cpu \
  ch5-vqgan-lung-f8-restart-cpu}
for e in $exps; do
  echo "== training $e ($(date -u +%H:%M:%S)); log: .cache/train-$e.log"
  args=(train --experiment "$e")
  if [ "${TRAIN_RESUME:-0}" = 1 ] && [ -f ".cache/runs/$e/checkpoint.dmck" ]; then args+=(--resume); fi
  id=$(bin/dmseg "${args[@]}" 2> >(tee ".cache/train-$e.log" >&2) | tail -1)
  if [ -z "$id" ]; then
    echo "train-all.sh: $e stopped before its step budget; rerun with TRAIN_RESUME=1" >&2
    exit 1
  fi
  echo "== $e -> artifact $id"
  bin/dmseg evaluate --artifact "$id"
done
bin/dmseg artifacts verify

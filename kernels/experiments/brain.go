package experiments

import (
	"github.com/dmseg/dmseg/kernels/data/dataset"
	"github.com/dmseg/dmseg/kernels/train"
)

// A second real dataset (the thesis's future work: "only one dataset"): the
// brain mask of the real T1 MRI embedded in dmseg (kernels/data/brainmri,
// ITK's KmeansTest volume, one subject, coronal slices at 64x64), segmented
// with chapter 3's DDPM in its better conditioning on our phantom lungs
// (concatenation, Table 1) and with the U-Net baseline. One subject and a
// few dozen slices: an end-to-end check on real anatomy, not a benchmark.
// CPU sizes only; their recipe is chapter 3's -cpu one (x0 objective, batch
// 16, lr 1e-3 decayed to 1e-4, EMA 0.99), with budgets sized to the small
// training split.

// brainData is the brain MRI's split (train/val/test blocks of slices).
func brainData() DataSpec {
	return DataSpec{Source: "brainmri", Phantom: dataset.PhantomConfig{Task: "brain", Size: 64},
		TrainSplit: "train", HeldOut: "val", ShuffleSeed: 11}
}

func init() {
	data := brainData()
	add(Experiment{
		Name: "brain-ddpm-concat-cpu", Kind: KindDDPMSeg, Chapter: "ext",
		Description: "Chapter 3's conditional DDPM (RRDB features concatenated with the noisy mask) on the embedded real brain MRI (brain mask = label > 0), " +
			"CPU U-Net, x0 objective, batch 16, lr 1e-3 decayed linearly to 1e-4, EMA 0.99, 600 steps; DDIM-50 eta 0, threshold 0.5.",
		Model: "unet-cpu-concat", Data: data, Diffusion: cpuSegDiffusion,
		Train: train.Config{Steps: 600, BatchSize: 16, Seed: 42,
			LR:       train.LRConfig{Schedule: "linear", LR: 1e-3, LRFinal: 1e-4},
			ClipNorm: 1, EMADecay: 0.99, CheckpointSeconds: 180, LogEvery: 1},
		Sampling: segSampling,
	})
	add(Experiment{
		Name: "brain-unet-cpu", Kind: KindUNetSeg, Chapter: "ext",
		Description: "Baseline on the embedded real brain MRI: the CPU U-Net maps the slice to brain-mask logits in one pass, BCE + soft Dice, " +
			"batch 16, lr 1e-3 decayed linearly to 1e-4, EMA 0.99, 300 steps; threshold 0.5.",
		Model: "unet-cpu", Data: data,
		Train: train.Config{Steps: 300, BatchSize: 16, Seed: 42,
			LR:       train.LRConfig{Schedule: "linear", LR: 1e-3, LRFinal: 1e-4},
			ClipNorm: 1, EMADecay: 0.99, CheckpointSeconds: 180, LogEvery: 1},
		Sampling: segSampling,
	})
}

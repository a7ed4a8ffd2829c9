package experiments

import (
	"github.com/dmseg/dmseg/kernels/data/clahe"
	"github.com/dmseg/dmseg/kernels/data/dataset"
	"github.com/dmseg/dmseg/kernels/models/vqgan"
	"github.com/dmseg/dmseg/kernels/train"
)

// Chapter 5's latent models (thesis 5.2-5.3, Tables 4-5): the chapter-3
// conditional DDPM (LDM, concatenation as Table 8's concat_mode) and the
// chapter-4 bridge (LBBDM) on the latents of the X-ray and mask VQ-GANs of
// the same downsampling rate, for each task and f4 / f8:
//
//   - -cpu: CPU-sized latent U-Nets on the -cpu VQ-GANs, chapters 3-4's CPU
//     recipes (x0 objective for the LDM, Table 7's bridge for the LBBDM),
//     batch 16, 1,000 steps: the f4 LDM trained at 42 img/s on 2 cores while
//     a VQ-GAN trained beside it (2026-12-02), so 1,000 steps take about 4
//     minutes alone and the eight latent models fit in one session beside
//     the six VQ-GANs.
//   - -gpu: the same nets on the -gpu VQ-GANs at chapter 3's scale of images
//     seen (batch 512), the thesis's eps objective for the LDM.
//   - -paper: Table 6 U-Net on the latents ("largely unchanged", 5.2) on the
//     Tables 9-10 VQ-GANs, with chapter 3's (LDM) and chapter 4's (LBBDM)
//     training settings; the thesis gives no others for chapter 5.
//
// The data is chapter 4's: the phantom of the task with CLAHE (clip 2, 8x8
// tiles), which the X-ray VQ-GANs were trained on. The -cpu and -gpu sizes
// standardise each latent channel (normalize_latent true): the diffusion
// assumes data of about unit scale, which nothing guarantees for VQ-GAN
// latents; -paper keeps Tables 9-10's normalize_latent false.
func init() {
	for _, task := range []string{"lung", "infection"} {
		data := segPhantom(task)
		data.CLAHE = &clahe.Params{Clip: 2, TilesX: 8, TilesY: 8}
		b := ch3Budgets[task]
		for _, f := range []string{"f4", "f8"} {
			vqs := func(size string) *LatentSpec {
				return &LatentSpec{ImageVQ: "ch5-vqgan-xray-" + f + "-" + size, MaskVQ: "ch5-vqgan-" + task + "-" + f + "-" + size, Normalize: size != "paper"}
			}
			ldm, lbbdm := "ch5-ldm-"+task+"-"+f, "ch5-lbbdm-"+task+"-"+f
			cpuTrain := train.Config{Steps: 1000, BatchSize: 16, Seed: 42,
				LR:       train.LRConfig{Schedule: "linear", LR: 1e-3, LRFinal: 1e-4},
				ClipNorm: 1, EMADecay: 0.99, CheckpointSeconds: 180, LogEvery: 1}
			gpuTrain := train.Config{Steps: b.gpuSteps, BatchSize: 512, Seed: 42,
				LR:       train.LRConfig{Schedule: "constant", LR: 1e-3},
				ClipNorm: 1, EMADecay: 0.999, CheckpointSeconds: 120, LogEvery: 10}
			add(Experiment{
				Name: ldm + "-cpu", Kind: KindLDMSeg, Chapter: "5",
				Description: "Latent DDPM (" + f + ") segmenting phantom " + task + "s: the X-ray latent concatenated (via the RRDB encoder) with the noisy mask latent, " +
					"CPU latent U-Net, x0 objective, batch 16, lr 1e-3 decayed to 1e-4, EMA 0.99, 1,000 steps; DDIM-50, decode, threshold 0.5.",
				Model: "unet-latent-" + f + "-cpu-concat", Data: data, Diffusion: cpuSegDiffusion, Latent: vqs("cpu"),
				Train: cpuTrain, Sampling: segSampling,
			})
			bridge := table7
			add(Experiment{
				Name: lbbdm + "-cpu", Kind: KindLBBDMSeg, Chapter: "5",
				Description: "Latent BBDM (" + f + ") for phantom " + task + "s: Table 7's bridge from the X-ray latent to the mask latent, CPU latent U-Net, " +
					"batch 16, lr 1e-3 decayed to 1e-4, EMA 0.99, 1,000 steps; 200 skip steps, decode, threshold 0.5.",
				Model: "unet-latent-" + f + "-cpu", Data: data, Bridge: &bridge, Latent: vqs("cpu"),
				Train: cpuTrain, Sampling: segSampling,
			})
			ldmGPU := gpuTrain
			ldmGPU.LR.LR = 3e-3
			add(Experiment{
				Name: ldm + "-gpu", Kind: KindLDMSeg, Chapter: "5",
				Description: "Latent DDPM (" + f + ", " + task + ") at chapter 3's scale of images seen (batch 512, lr 3e-3, eps objective) on the -gpu VQ-GANs: one H200.",
				Model:       "unet-latent-" + f + "-cpu-concat", Data: data, Diffusion: thesisDiffusion, Latent: vqs("gpu"),
				Train: ldmGPU, Sampling: segSampling,
			})
			gb := table7
			add(Experiment{
				Name: lbbdm + "-gpu", Kind: KindLBBDMSeg, Chapter: "5",
				Description: "Latent BBDM (" + f + ", " + task + ") at chapter 3's scale of images seen (batch 512, lr 1e-3) on the -gpu VQ-GANs: one H200.",
				Model:       "unet-latent-" + f + "-cpu", Data: data, Bridge: &gb, Latent: vqs("gpu"),
				Train: gpuTrain, Sampling: segSampling,
			})
			add(Experiment{
				Name: ldm + "-paper", Kind: KindLDMSeg, Chapter: "5",
				Description: "Thesis settings for the latent DDPM (" + f + ", " + task + "): Table 6 U-Net on the latents with SegDiff's RRDB encoder, Table 8 diffusion (eps), " +
					"chapter 3's batch 512 and lr 3e-3, on the Tables 9-10 VQ-GANs.",
				Model: "unet-table6-" + f + "-concat", Data: data, Diffusion: thesisDiffusion, Latent: vqs("paper"),
				Train: train.Config{Steps: b.gpuSteps, BatchSize: 512, Seed: 42, LR: train.LRConfig{Schedule: "constant", LR: 3e-3},
					ClipNorm: 1, EMADecay: 0.9999, CheckpointSeconds: 900, LogEvery: 10},
				Sampling: segSampling,
			})
			pb := table7
			pt := train.Config{Epochs: 200, BatchSize: 8, Seed: 42, LR: train.LRConfig{Schedule: "linear", LR: 1e-5, LRFinal: 1e-7},
				EMADecay: 0.9999, CheckpointSeconds: 900, LogEvery: 10}
			if task == "infection" {
				pt.Epochs = 1500
				pt.LR = train.LRConfig{Schedule: "plateau", LR: 1e-5, PlateauWindow: 250, PlateauPatience: 10, PlateauFactor: 0.5}
			}
			add(Experiment{
				Name: lbbdm + "-paper", Kind: KindLBBDMSeg, Chapter: "5",
				Description: "Thesis settings for the latent BBDM (" + f + ", " + task + "): Table 6 U-Net on the latents, Table 7's bridge, chapter 4's schedule for " + task +
					", on the Tables 9-10 VQ-GANs.",
				Model: "unet-table6-" + f, Data: data, Bridge: &pb, Latent: vqs("paper"), Train: pt, Sampling: segSampling,
			})
		}
	}

	// Tiny latent pipeline for tests: the tiny f4 VQ-GANs (X-ray and lung mask)
	// and a tiny latent U-Net, T=50.
	tinyData := DataSpec{Source: "phantom", Phantom: dataset.PhantomConfig{Task: "lung", Seed: 1, Size: 64, NTrain: 8, NVal: 4, NTest: 4},
		TrainSplit: "train", HeldOut: "val", ShuffleSeed: 11}
	add(Experiment{
		Name: "ch5-vqgan-xray-tiny", Kind: KindVQGAN, Chapter: "5",
		Description: "Seconds-long smoke test: the tiny f4 VQ-GAN on 64x64 phantom X-rays (L1), GAN from step 2.",
		Model:       "vqgan-f4-tiny", Data: tinyData,
		VQ: &VQSpec{Target: "image", Loss: vqgan.DefaultLoss(vqgan.ReconL1, 2)},
		Train: train.Config{Steps: 4, BatchSize: 2, Seed: 3, Beta1: 0.5, Beta2: 0.9, LR: train.LRConfig{Schedule: "constant", LR: 1e-3},
			ClipNorm: 1, CheckpointEvery: 2, LogEvery: 1},
		Sampling: SamplingSpec{EvalSeed: 1},
	})
	tinyLatent := &LatentSpec{ImageVQ: "ch5-vqgan-xray-tiny", MaskVQ: "ch5-vqgan-tiny", Normalize: true}
	tinyTrain := train.Config{Steps: 4, BatchSize: 4, Seed: 3, LR: train.LRConfig{Schedule: "constant", LR: 1e-3},
		ClipNorm: 1, EMADecay: 0.9, CheckpointEvery: 2, LogEvery: 1}
	tinySampling := segSampling
	tinySampling.DDIMSteps = 5
	add(Experiment{
		Name: "ch5-ldm-tiny", Kind: KindLDMSeg, Chapter: "5",
		Description: "Seconds-long smoke test of the latent DDPM: tiny latent U-Net on the tiny f4 VQ-GANs' latents, T=50, DDIM-5.",
		Model:       "unet-latent-tiny-concat", Data: tinyData, Latent: tinyLatent,
		Diffusion: DiffusionSpec{Timesteps: 50, Beta: "sqrt-linear", BetaStart: 1e-4, BetaEnd: 0.02, Param: "x0"},
		Train:     tinyTrain, Sampling: tinySampling,
	})
	tb := table7
	tb.Timesteps, tb.SampleSteps = 50, 5
	add(Experiment{
		Name: "ch5-lbbdm-tiny", Kind: KindLBBDMSeg, Chapter: "5",
		Description: "Seconds-long smoke test of the latent bridge: tiny latent U-Net on the tiny f4 VQ-GANs' latents, T=50, 5 skip steps.",
		Model:       "unet-latent-tiny", Data: tinyData, Latent: tinyLatent, Bridge: &tb,
		Train: tinyTrain, Sampling: segSampling,
	})
}

package experiments

import (
	"fmt"

	"github.com/dmseg/dmseg/kernels/data/clahe"
	"github.com/dmseg/dmseg/kernels/data/dataset"
	"github.com/dmseg/dmseg/kernels/train"
)

// Chapter 4 (thesis 4.1-4.2, section 1.3, Table 7): segmentation with a
// Brownian bridge from the CLAHE-equalised X-ray (x_T = y) to the mask (x_0),
// no extra condition. CLAHE's settings are not given in the thesis: clip 2.0
// on an 8x8 tile grid (the usual medical-imaging choice, and clahe.Default) at
// the 64x64 training size.
//
//   - -cpu: the CPU U-Net, Table 7's bridge, about 25-45 minutes on 2 cores.
//     The thesis's learning rate (1e-5 decayed to 1e-7 at batch 8) needs
//     hundreds of thousands of steps; the CPU size uses chapter 3's 1e-3
//     decayed to 1e-4 at batch 16.
//   - -gpu: the thesis's scale of images seen on the CPU-sized network.
//   - -paper: Table 6 U-Net, Table 7 exactly, the lung schedule of 4.1
//     (200 epochs, batch 8, lr 1e-5 -> 1e-7); infection runs 1,500 epochs with
//     reduce-on-plateau, whose settings are not given (window, patience and
//     factor are our choice, recorded).

// table7 is the thesis's Table 7 bridge: T 1000, m_t linear, max_var 1,
// objective grad, 200 skip-step sampling steps, eta 1; the official code's
// loss_type l1 and clip_denoised.
//
// thesis: table7
var table7 = BridgeSpec{Timesteps: 1000, MtType: "linear", MaxVar: 1, Objective: "grad", Loss: "l1", SampleSteps: 200, Eta: 1, ClipX0: 1}

func init() {
	for _, task := range []string{"lung", "infection"} {
		data := segPhantom(task)
		data.CLAHE = &clahe.Params{Clip: 2, TilesX: 8, TilesY: 8}
		steps := map[string]int64{"lung": 1000, "infection": 1800}[task]
		bridge := table7
		cpu := Experiment{
			Name: "ch4-bbdm-" + task + "-cpu", Kind: KindBBDMSeg, Chapter: "4",
			Description: "Brownian bridge from the CLAHE phantom X-ray to its " + task + " mask (Table 7: T=1000, linear m_t, max_var 1, grad objective, " +
				"200 sampling steps, eta 1), CPU U-Net, batch 16, lr 1e-3 decayed linearly to 1e-4 (the thesis's 1e-5 is far too slow at this budget), EMA 0.99.",
			Model: "unet-cpu", Data: data, Bridge: &bridge,
			Train: train.Config{Steps: steps, BatchSize: 16, Seed: 42,
				LR:       train.LRConfig{Schedule: "linear", LR: 1e-3, LRFinal: 1e-4},
				ClipNorm: 1, EMADecay: 0.99, CheckpointSeconds: 180, LogEvery: 1},
			Sampling: segSampling,
		}
		add(cpu)
		// Ablations at the -cpu budget (issue 12), each a copy of the -cpu
		// experiment with one change: CLAHE off (lung), and the DiT backbone
		// the thesis proposes (section 6) at equal wall-clock time.
		if task == "lung" {
			off := cpu
			off.Name, off.Data = "ch4-bbdm-lung-noclahe-cpu", segPhantom(task)
			off.Description = "CLAHE ablation: ch4-bbdm-lung-cpu with the plain phantom X-ray as y (no CLAHE), everything else equal."
			add(off)
		}
		// dit-cpu trains a batch-16 step in 1.05 s where unet-cpu takes 1.79 s
		// (registry benchmarks, one run, Intel Xeon, 2 cores under the same
		// load): 1.7x the steps was the lung plan. The trained lung runs then
		// measured 0.517 s (DiT) vs 1.167 s (U-Net) per step, a ratio of 2.26,
		// so the infection DiT gets 2.3x the steps for equal wall-clock time.
		factor := map[string]int64{"lung": 17, "infection": 23}[task]
		dt := cpu
		dt.Name, dt.Model, dt.Train.Steps = "ch4-bbdm-"+task+"-dit-cpu", "dit-cpu", steps*factor/10
		dt.Description = "Future work (thesis 6): the Table 7 bridge with a DiT backbone (patch 4, hidden 128, depth 4) for " + task +
			fmt.Sprintf(", %.1fx the U-Net bridge's steps for equal wall-clock time on 2 cores, same data, optimiser and schedule.", float64(factor)/10)
		add(dt)
		gpu := table7
		add(Experiment{
			Name: "ch4-bbdm-" + task + "-gpu", Kind: KindBBDMSeg, Chapter: "4",
			Description: "Table 7 bridge on the CPU-sized U-Net at chapter 3's scale of images seen for " + task + " (batch 512, lr 1e-3 constant): one H200.",
			Model:       "unet-cpu", Data: data, Bridge: &gpu,
			Train: train.Config{Steps: ch3Budgets[task].gpuSteps, BatchSize: 512, Seed: 42,
				LR:       train.LRConfig{Schedule: "constant", LR: 1e-3},
				ClipNorm: 1, EMADecay: 0.999, CheckpointSeconds: 120, LogEvery: 10},
			Sampling: segSampling,
		})
		paper := table7
		tc := train.Config{Epochs: 200, BatchSize: 8, Seed: 42, LR: train.LRConfig{Schedule: "linear", LR: 1e-5, LRFinal: 1e-7},
			EMADecay: 0.9999, CheckpointSeconds: 900, LogEvery: 10}
		how := "200 epochs, batch 8, lr 1e-5 decayed linearly to 1e-7 (thesis 4.1)"
		if task == "infection" {
			tc.Epochs = 1500
			tc.LR = train.LRConfig{Schedule: "plateau", LR: 1e-5, PlateauWindow: 250, PlateauPatience: 10, PlateauFactor: 0.5}
			how = "1,500 epochs, batch 8, reduce-on-plateau from 1e-5 (thesis 4.2, settings not given: our choice is a window of one epoch, 250 steps, patience 10, factor 0.5)"
		}
		add(Experiment{
			Name: "ch4-bbdm-" + task + "-paper", Kind: KindBBDMSeg, Chapter: "4",
			Description: "Thesis settings for " + task + ": Table 6 U-Net, Table 7 bridge, " + how + ".",
			Model:       "unet-table6", Data: data, Bridge: &paper, Train: tc, Sampling: segSampling,
		})
	}
	tiny := DataSpec{Source: "phantom", Phantom: dataset.PhantomConfig{Task: "lung", Seed: 1, Size: 16, NTrain: 32, NVal: 8, NTest: 8},
		TrainSplit: "train", HeldOut: "val", ShuffleSeed: 11, CLAHE: &clahe.Params{Clip: 2, TilesX: 2, TilesY: 2}}
	tb := table7
	tb.Timesteps, tb.SampleSteps = 50, 5
	add(Experiment{
		Name: "ch4-bbdm-tiny", Kind: KindBBDMSeg, Chapter: "4",
		Description: "Seconds-long smoke test of the chapter 4 pipeline: tiny U-Net, 16x16 CLAHE phantom lungs, T=50, 5 sampling steps.",
		Model:       "unet-tiny", Data: tiny, Bridge: &tb,
		Train: train.Config{Steps: 6, BatchSize: 4, Seed: 3, LR: train.LRConfig{Schedule: "constant", LR: 1e-3},
			ClipNorm: 1, EMADecay: 0.9, CheckpointEvery: 3, LogEvery: 1},
		Sampling: segSampling,
	})
}

package experiments

// ch2-ddpm-uncond-h200: the thesis's Table 6 U-Net and Table 8 diffusion, trained for a few
// minutes on one NVIDIA H200 by scripts/device-train.sh (the device budget of a session is
// about 10 minutes). Differences from ch2-ddpm-uncond-paper, because the run is short: a step
// budget that fits the device time, learning rate 2e-4 (DDPM's CIFAR-10 rate) and an EMA decay of
// 0.999, so that the averaged weights are not dominated by the initialisation after a few
// thousand steps.
func init() {
	e, err := Get("ch2-ddpm-uncond-paper")
	if err != nil {
		panic(err)
	}
	e.Name = "ch2-ddpm-uncond-h200"
	e.Description = "Table 6 U-Net + Table 8 diffusion on 64x64 phantom X-rays, a few minutes on one H200 " +
		"(scripts/device-train.sh): lr 2e-4 constant, EMA 0.999, batch 8; --steps sets the budget."
	e.Train.Steps = 6000
	e.Train.LR.LR = 2e-4
	e.Train.EMADecay = 0.999
	e.Train.CheckpointSeconds = 120
	e.Train.LogEvery = 50
	add(e)
}

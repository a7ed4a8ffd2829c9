package bench

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/dmseg/dmseg/kernels/models/registry"
	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
)

// ModelTiming is the speed of one named denoiser configuration on one backend.
type ModelTiming struct {
	Config        string  `json:"config"`
	Params        int     `json:"params"`
	Batch         int     `json:"batch"`
	Size          int     `json:"size"`
	ForwardSec    float64 `json:"forward_seconds"`
	TrainStepSec  float64 `json:"train_step_seconds"`
	ForwardImgS   float64 `json:"forward_images_per_second"`
	TrainStepImgS float64 `json:"train_step_images_per_second"`
	PeakRSSMiB    float64 `json:"peak_rss_mib,omitempty"` // peak resident memory of the measuring process
}

// PeakRSSMiB returns this process's peak resident set size (VmHWM) in MiB, or 0 where /proc is absent.
func PeakRSSMiB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			var kb float64
			if _, err := fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:")), "%f kB", &kb); err == nil {
				return kb / 1024
			}
		}
	}
	return 0
}

// Model times the forward pass and the training step (epsilon-prediction MSE, Adam) of a registry
// configuration at its native image size on random inputs.
func Model(b backends.Backend, name string, batch, reps int) (ModelTiming, error) {
	cfg, err := registry.Lookup(name)
	if err != nil {
		return ModelTiming{}, err
	}
	if cfg, err = cfg.Resolve(); err != nil {
		return ModelTiming{}, err
	}
	params, _ := cfg.ParamCount()
	size := cfg.ImageSize
	rng := rand.New(rand.NewPCG(4, 4))
	xt := randomTensor(rng, batch, size, size, cfg.DataChannels)
	noise := randomTensor(rng, batch, size, size, cfg.DataChannels)
	tData := make([]float32, batch)
	for i := range tData {
		tData[i] = float32(rng.IntN(1000))
	}
	tt := tensors.FromFlatDataAndDimensions(tData, batch)
	var cond *tensors.Tensor
	if cfg.Cond != registry.CondNone {
		cond = randomTensor(rng, batch, size, size, cfg.CondChannels)
	} else {
		cond = randomTensor(rng, 1) // unused placeholder
	}
	den := cfg.Denoiser()
	condOf := func(c *Node) *Node {
		if cfg.Cond == registry.CondNone {
			return nil
		}
		return c
	}
	ctx := context.New()
	fwd := context.MustNewExec(b, ctx, func(ctx *context.Context, x, t, c *Node) *Node {
		return den(ctx, x, t, condOf(c))
	})
	defer fwd.Finalize()
	fwdSec := timeIt(reps, func() { fwd.MustExec(xt, tt, cond)[0].FinalizeAll() })

	tctx := context.New()
	opt := optimizers.Adam().LearningRate(1e-4).Done()
	step := context.MustNewExec(b, tctx, func(ctx *context.Context, x, t, c, eps *Node) *Node {
		ctx.SetTraining(x.Graph(), true)
		loss := ReduceAllMean(Square(Sub(den(ctx, x, t, condOf(c)), eps)))
		opt.UpdateGraph(ctx, x.Graph(), loss)
		return loss
	})
	defer step.Finalize()
	stepSec := timeIt(reps, func() { step.MustExec(xt, tt, cond, noise)[0].FinalizeAll() })
	return ModelTiming{Config: name, Params: params, Batch: batch, Size: size, ForwardSec: fwdSec, TrainStepSec: stepSec,
		ForwardImgS: float64(batch) / fwdSec, TrainStepImgS: float64(batch) / stepSec}, nil
}

// String is a one-line summary.
func (m ModelTiming) String() string {
	return fmt.Sprintf("%s (%d params, %dx%d, batch %d): forward %.3f s (%.1f img/s), train step %.3f s (%.1f img/s)",
		m.Config, m.Params, m.Size, m.Size, m.Batch, m.ForwardSec, m.ForwardImgS, m.TrainStepSec, m.TrainStepImgS)
}

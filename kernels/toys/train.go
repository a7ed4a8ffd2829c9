package toys

import (
	"io"
	"math/rand/v2"
	"os"

	"github.com/dmseg/dmseg/kernels/diffusion"
	"github.com/dmseg/dmseg/kernels/diffusion/bbdm"
	"github.com/dmseg/dmseg/kernels/diffusion/ddpm"
	"github.com/dmseg/dmseg/kernels/diffusion/ncsn"
	"github.com/dmseg/dmseg/kernels/train"
	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// TrainConfig is a toy training run.
type TrainConfig struct {
	Steps     int     // default 3000
	BatchSize int     // default 256
	LR        float64 // Adam learning rate, default 2e-3
	// LRFinal > 0 decays the rate linearly from LR to LRFinal over the run (else constant).
	LRFinal float64
	Seed    int64
	// Progress receives train.Run's progress output (nil: silent).
	Progress io.Writer
}

func (c TrainConfig) withDefaults() TrainConfig {
	if c.Steps == 0 {
		c.Steps = 3000
	}
	if c.BatchSize == 0 {
		c.BatchSize = 256
	}
	if c.LR == 0 {
		c.LR = 2e-3
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	return c
}

// batches draws, for every step, BatchSize points (deterministic per step) from each pool.
func batches(cfg TrainConfig, pools ...[]float32) train.Batches {
	return train.BatchFunc(func(step int64) ([]*tensors.Tensor, error) {
		r := rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(step)))
		var out []*tensors.Tensor
		for _, p := range pools {
			n := len(p) / 2
			v := make([]float32, 2*cfg.BatchSize)
			for i := 0; i < cfg.BatchSize; i++ {
				k := r.IntN(n)
				v[2*i], v[2*i+1] = p[2*k], p[2*k+1]
			}
			out = append(out, tensors.FromFlatDataAndDimensions(v, cfg.BatchSize, 2))
		}
		return out, nil
	})
}

func run(backend backends.Backend, ctx *context.Context, loss train.LossFn, b train.Batches, cfg TrainConfig) (*train.Result, error) {
	dir, err := os.MkdirTemp("", "dmseg-toy-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	lr := train.LRConfig{Schedule: "constant", LR: cfg.LR}
	if cfg.LRFinal > 0 {
		lr = train.LRConfig{Schedule: "linear", LR: cfg.LR, LRFinal: cfg.LRFinal}
	}
	return train.Run(backend, ctx, loss, b, train.Config{
		Steps: int64(cfg.Steps), BatchSize: cfg.BatchSize, Seed: cfg.Seed,
		LR: lr, LogEvery: 50,
	}, train.Options{OutDir: dir, Progress: cfg.Progress})
}

// TrainDDPM fits m.Denoiser (e.g. MLP) to the points (flat [x, y, ...]) with ddpm.Loss (L_simple).
func TrainDDPM(backend backends.Backend, ctx *context.Context, m ddpm.Model, points []float32, cfg TrainConfig) (*train.Result, error) {
	cfg = cfg.withDefaults()
	loss := func(ctx *context.Context, batch []*Node) *Node { return ddpm.Loss(ctx, m, batch[0], nil) }
	return run(backend, ctx, loss, batches(cfg, points), cfg)
}

// TrainBridge fits a Brownian bridge from cloud y (domain B, where sampling starts) to cloud x0
// (domain A), pairing the two clouds at random in every batch (independent coupling), with the
// official L1 loss.
func TrainBridge(backend backends.Backend, ctx *context.Context, m bbdm.Model, x0, y []float32, cfg TrainConfig) (*train.Result, error) {
	cfg = cfg.withDefaults()
	loss := func(ctx *context.Context, batch []*Node) *Node { return bbdm.Loss(ctx, m, batch[0], batch[1], true) }
	return run(backend, ctx, loss, batches(cfg, x0, y), cfg)
}

// TrainNCSN fits den to the points by denoising score matching over the noise levels sigmas (ncsn.Loss).
func TrainNCSN(backend backends.Backend, ctx *context.Context, sigmas []float64, den diffusion.Denoiser, points []float32, cfg TrainConfig) (*train.Result, error) {
	cfg = cfg.withDefaults()
	loss := func(ctx *context.Context, batch []*Node) *Node { return ncsn.Loss(ctx, sigmas, den, batch[0], nil) }
	return run(backend, ctx, loss, batches(cfg, points), cfg)
}

package toys

import (
	"fmt"
	"math"

	"github.com/dmseg/dmseg/kernels/diffusion"
	"github.com/dmseg/dmseg/kernels/nn"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// MLPConfig sizes the toy denoiser.
type MLPConfig struct {
	Hidden int // width of the hidden layers (default 128)
	Layers int // number of hidden layers (default 3)
	// TimeScale maps the model time to [0, ~1] for the embedding: T-1 for 0-based DDPM/BBDM timesteps.
	TimeScale float64
}

// MLP returns a denoiser for [B, D] inputs: the input, a sinusoidal embedding of t/TimeScale
// (16 frequencies) and the condition (if any) are concatenated and passed through
// Layers x (nn.Dense + SiLU) and a final zero-initialised nn.Dense back to D. Its variables
// live under ctx.In("mlp").
func MLP(cfg MLPConfig) diffusion.Denoiser {
	if cfg.Hidden == 0 {
		cfg.Hidden = 128
	}
	if cfg.Layers == 0 {
		cfg.Layers = 3
	}
	if cfg.TimeScale == 0 {
		cfg.TimeScale = 1
	}
	return func(ctx *context.Context, xt, t, cond *Node) *Node {
		ctx = ctx.In("mlp")
		D := xt.Shape().Dimensions[1]
		parts := []*Node{xt, TimeEmbedding(DivScalar(t, cfg.TimeScale), 16)}
		if cond != nil {
			parts = append(parts, cond)
		}
		h := Concatenate(parts, -1)
		for i := 0; i < cfg.Layers; i++ {
			h = silu(nn.Dense(ctx.In(fmt.Sprintf("dense%d", i)), h, cfg.Hidden))
		}
		return nn.Dense(ctx.In("out"), h, D, nn.DenseZeroInit())
	}
}

// TimeEmbedding maps s [B] (about [0, 1]) to [B, 2k]: sin and cos of s 1000 / 10000^(j/k), j < k
// (the Transformer embedding of the thesis applied to the timestep s*1000).
func TimeEmbedding(s *Node, k int) *Node {
	f := make([]float32, k)
	for j := range f {
		f[j] = float32(1000 / math.Pow(10000, float64(j)/float64(k)))
	}
	arg := Mul(ExpandAxes(s, -1), Const(s.Graph(), [][]float32{f}))
	return Concatenate([]*Node{Sin(arg), Cos(arg)}, -1)
}

func silu(x *Node) *Node { return Mul(x, Sigmoid(x)) }

package bench

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/dmseg/dmseg/kernels/diffusion/schedule"
	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// DDIMCoefficients are the deterministic DDIM (eta 0) updates of the
// sampling benchmark: x_prev = C1[i] x + C2[i] eps_hat at step i, for T =
// 1000 linear betas 1e-4..0.02 and steps evenly spaced timesteps
// t_i = (S-1-i) * T/S (the CompVis spacing, plus one), as thesis (1.20) with
// sigma = 0. scripts/bench_torch.py computes the same numbers.
func DDIMCoefficients(steps int) (c1, c2 []float64) {
	const T = 1000
	s, err := schedule.NewDDPM(schedule.BetaLinear, T)
	if err != nil {
		panic(err) // a fixed, valid schedule
	}
	stride := T / steps
	for i := 0; i < steps; i++ {
		t := (steps-1-i)*stride + 1
		a, prev := s.AlphaCumprodAt(t), s.AlphaCumprodAt(max(t-stride, -1))
		c1 = append(c1, math.Sqrt(prev/a))
		c2 = append(c2, math.Sqrt(1-prev)-math.Sqrt(prev*(1-a)/a))
	}
	return c1, c2
}

// SampleLoop times DDIM sampling of batch 64x64x1 images with the probe
// network as the noise predictor (random weights): steps executions of one
// compiled update graph x <- C1 x + C2 probe(x), the way dmseg's samplers run
// (one graph per step, reused); the median of reps whole loops.
func SampleLoop(b backends.Backend, batch, steps, reps int) Timing {
	rng := rand.New(rand.NewPCG(6, 6))
	x0 := randomTensor(rng, batch, 64, 64, 1)
	c1, c2 := DDIMCoefficients(steps)
	ctx := context.New()
	e := context.MustNewExec(b, ctx, func(ctx *context.Context, x, a, c *Node) *Node {
		eps := ProbeUNet(ctx.In("probe"), x, 1)
		return Add(Mul(ConvertDType(a, x.DType()), x), Mul(ConvertDType(c, x.DType()), eps))
	})
	defer e.Finalize()
	s := timeIt(reps, func() {
		x := x0
		for i := 0; i < steps; i++ {
			next := e.MustExec(x, tensors.FromValue(float32(c1[i])), tensors.FromValue(float32(c2[i])))[0]
			if x != x0 {
				x.FinalizeAll()
			}
			x = next
		}
		x.FinalizeAll()
	})
	flops := ProbeUNetForwardFLOPs() * float64(batch*steps)
	return Timing{Name: fmt.Sprintf("probe-unet DDIM-%d sampling, %d images 64x64x1", steps, batch), Seconds: s,
		FLOPs: flops, GFLOPs: flops / s / 1e9, Reps: reps}
}

package ddpm

import (
	"math"

	"github.com/dmseg/dmseg/kernels/diffusion"
	"github.com/dmseg/dmseg/kernels/diffusion/analytic"
	"github.com/dmseg/dmseg/kernels/diffusion/schedule"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// AnalyticDenoiser is the exact (Bayes-optimal) network for a Gaussian target under
// schedule s, with output of parameterisation p: E[eps|x_t], E[x_0|x_t] or their v.
// x_t must be [B, D] with D the target's dimension; cond is ignored.
func AnalyticDenoiser(s *schedule.DDPM, g *analytic.Gaussian, p Param) diffusion.Denoiser {
	sa := make([]float64, s.T)
	sb := make([]float64, s.T)
	for i := range sa {
		sa[i] = math.Sqrt(s.AlphasCumprod[i])
		sb[i] = math.Sqrt(1 - s.AlphasCumprod[i])
	}
	return func(_ *context.Context, xt, t, _ *Node) *Node {
		a, b := diffusion.Lookup(sa, t), diffusion.Lookup(sb, t)
		switch p {
		case X0:
			return g.X0(xt, a, b)
		case V:
			a2, b2 := ExpandAxes(a, -1), ExpandAxes(b, -1)
			return Sub(Mul(a2, g.Eps(xt, a, b)), Mul(b2, g.X0(xt, a, b)))
		}
		return g.Eps(xt, a, b)
	}
}

package bbdm

import (
	"math"

	"github.com/dmseg/dmseg/kernels/diffusion"
	"github.com/dmseg/dmseg/kernels/diffusion/analytic"
	"github.com/dmseg/dmseg/kernels/diffusion/schedule"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// AnalyticDenoiser is the exact network for x_0 ~ N(mu, Sigma) independent of y:
// x_t - m_t y = (1-m_t) x_0 + sqrt(delta_t) eps, so E[x_0|x_t, y] is the Gaussian
// posterior mean. It needs y as its condition: use it with Model.CondIsY = true.
func AnalyticDenoiser(s *schedule.BBDM, g *analytic.Gaussian, o Objective) diffusion.Denoiser {
	oneMinusM := table(s.M, func(m float64) float64 { return 1 - m })
	sd := table(s.Delta, math.Sqrt)
	return func(_ *context.Context, xt, t, y *Node) *Node {
		if y == nil {
			panic("bbdm.AnalyticDenoiser needs y as the condition (Model.CondIsY = true)")
		}
		m := ExpandAxes(diffusion.Lookup(s.M, t), -1)
		a, b := diffusion.Lookup(oneMinusM, t), diffusion.Lookup(sd, t)
		u := Sub(xt, Mul(m, y))
		switch o {
		case Noise:
			return g.Eps(u, a, b)
		case YSubX:
			return Sub(y, g.X0(u, a, b))
		}
		return Sub(xt, g.X0(u, a, b))
	}
}

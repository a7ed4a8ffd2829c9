// Package sde implements the variance-preserving SDE of Song et al. (thesis section
// 1.2), dx = -1/2 beta(s) x ds + sqrt(beta(s)) dw on s in [0, 1] with
// beta(s) = beta_min + s (beta_max - beta_min) — the continuous limit of the DDPM
// linear schedule (beta_min = T beta_1, beta_max = T beta_T) — and its two samplers:
// reverse-time Euler-Maruyama (thesis Algorithm 3) and the probability-flow ODE
// (Euler). The score comes from an eps-predicting denoiser, score = -eps/sqrt(1-abar(s)),
// evaluated at model time s (T-1), so a network trained with ddpm.Loss plugs in.
package sde

import (
	"fmt"
	"math"

	"github.com/dmseg/dmseg/kernels/diffusion"
	"github.com/dmseg/dmseg/kernels/diffusion/analytic"
	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// VP is a variance-preserving SDE with a linear beta(s).
type VP struct {
	BetaMin, BetaMax float64
	// T is the DDPM step count the denoiser was trained with: model time = s (T-1).
	T int
}

// FromDDPMLinear is the VP-SDE matching the linear DDPM schedule 1e-4..0.02 with T steps.
func FromDDPMLinear(T int) VP {
	return VP{BetaMin: 1e-4 * float64(T), BetaMax: 0.02 * float64(T), T: T}
}

// Beta is beta(s).
func (v VP) Beta(s float64) float64 { return v.BetaMin + s*(v.BetaMax-v.BetaMin) }

// AlphaBar is abar(s) = exp(-int_0^s beta) = exp(-(beta_min s + (beta_max-beta_min) s^2/2)):
// the marginal is x_s = sqrt(abar(s)) x_0 + sqrt(1-abar(s)) eps.
func (v VP) AlphaBar(s float64) float64 {
	return math.Exp(-(v.BetaMin*s + 0.5*(v.BetaMax-v.BetaMin)*s*s))
}

// Options configure a sampler.
type Options struct {
	Steps int     // number of Euler(-Maruyama) steps N from s = 1 to s = End
	End   float64 // final time (default 1e-3, as score_sde), avoiding the singular score at s = 0
	// ProbabilityFlow selects the deterministic ODE dx = [f - 1/2 g^2 score] ds instead of the reverse SDE.
	ProbabilityFlow bool
}

// Sampler integrates the reverse SDE or the probability-flow ODE from x_1 ~ N(0, I).
type Sampler struct {
	vp   VP
	opts Options
	loop *diffusion.Loop
}

// NewSampler prepares a sampler around an eps-predicting denoiser; ctx holds its variables.
//
// thesis: alg3-em
func NewSampler(backend backends.Backend, ctx *context.Context, vp VP, den diffusion.Denoiser, opts Options) (*Sampler, error) {
	if opts.Steps < 1 {
		return nil, fmt.Errorf("sde: need at least 1 step, got %d", opts.Steps)
	}
	if opts.End == 0 {
		opts.End = 1e-3
	}
	if !(opts.End > 0 && opts.End < 1) {
		return nil, fmt.Errorf("sde: end time must be in (0, 1), got %g", opts.End)
	}
	// x' = x + cX x + cS eps_hat + noise z, with cX = beta dt / 2 and
	// cS = -beta dt / sqrt(1-abar) (SDE) or half that (ODE).
	step := func(ctx *context.Context, x, coefs, rng *Node, extra []*Node) (*Node, *Node) {
		var cond *Node
		if len(extra) > 0 {
			cond = extra[0]
		}
		c := func(i int) *Node { return diffusion.Coef(coefs, i) }
		eps := den(ctx, x, diffusion.BatchTime(c(0), x.Shape().Dimensions[0]), cond)
		rng, z := RandomNormal(rng, x.Shape())
		return Add(Add(Add(x, Mul(c(1), x)), Mul(c(2), eps)), Mul(c(3), z)), rng
	}
	loop, err := diffusion.NewLoop(backend, ctx, step)
	if err != nil {
		return nil, err
	}
	return &Sampler{vp: vp, opts: opts, loop: loop}, nil
}

// Coefs returns the rows [model time, cX, cS, noise] of each step.
func (s *Sampler) Coefs() [][]float32 {
	N := s.opts.Steps
	dt := (1 - s.opts.End) / float64(N)
	rows := make([][]float32, N)
	for k := 0; k < N; k++ {
		t := 1 - float64(k)*dt
		beta := s.vp.Beta(t)
		sd := math.Sqrt(1 - s.vp.AlphaBar(t))
		cS := -beta * dt / sd
		noise := math.Sqrt(beta * dt)
		if s.opts.ProbabilityFlow {
			cS /= 2
			noise = 0
		}
		if k == N-1 && !s.opts.ProbabilityFlow {
			noise = 0 // the last step returns the mean, as score_sde's EulerMaruyama with denoise
		}
		rows[k] = []float32{float32(t * float64(s.vp.T-1)), float32(0.5 * beta * dt), float32(cS), float32(noise)}
	}
	return rows
}

// Sample integrates from x_1 (usually diffusion.GaussianNoise) to s = End.
func (s *Sampler) Sample(x1, cond *tensors.Tensor, opts diffusion.Options) (*tensors.Tensor, error) {
	return s.loop.Run(x1, diffusion.Extra(cond), s.Coefs(), opts)
}

// AnalyticDenoiser is E[eps|x_s] for a Gaussian target under vp, with s = model time/(T-1).
func AnalyticDenoiser(vp VP, g *analytic.Gaussian) diffusion.Denoiser {
	return func(_ *context.Context, xt, t, _ *Node) *Node {
		s := DivScalar(t, float64(vp.T-1))
		// abar = exp(-(bmin s + (bmax-bmin) s^2/2))
		logab := Neg(Add(MulScalar(s, vp.BetaMin), MulScalar(Mul(s, s), 0.5*(vp.BetaMax-vp.BetaMin))))
		ab := Exp(logab)
		return g.Eps(xt, Sqrt(ab), Sqrt(OneMinus(ab)))
	}
}

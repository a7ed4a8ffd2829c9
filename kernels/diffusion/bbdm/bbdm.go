// Package bbdm implements the Brownian Bridge Diffusion Model of Li et al. (2023),
// thesis section 1.3, exactly as the official code does it: the forward bridge
// x_t = (1-m_t) x_0 + m_t y + sqrt(delta_t) eps, the three training objectives
// (grad, noise, ysubx) with an L1 or L2 loss, and full-chain or skip-step sampling
// starting at x_T = y, with the official eta semantics (see schedule.BBDM.StepCoefs).
//
// x_0 is domain A (e.g. the mask), y domain B (the condition image). Timesteps are
// 0-based as in the official code and passed to the denoiser as float32 [B].
package bbdm

import (
	"fmt"
	"math"

	"github.com/dmseg/dmseg/kernels/diffusion"
	"github.com/dmseg/dmseg/kernels/diffusion/schedule"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Objective is what the network predicts.
type Objective int

const (
	// Grad: m_t (y - x_0) + sqrt(delta_t) eps = x_t - x_0 (the paper's and official default); x0_hat = x_t - out.
	Grad Objective = iota
	// Noise: eps; x0_hat = (x_t - m_t y - sqrt(delta_t) out)/(1 - m_t).
	Noise
	// YSubX: y - x_0; x0_hat = y - out.
	YSubX
)

func (o Objective) String() string { return [...]string{"grad", "noise", "ysubx"}[o] }

// ParseObjective maps "grad", "noise", "ysubx" to an Objective.
func ParseObjective(s string) (Objective, error) {
	for o := Grad; o <= YSubX; o++ {
		if o.String() == s {
			return o, nil
		}
	}
	return 0, fmt.Errorf("bbdm: unknown objective %q (want grad, noise or ysubx)", s)
}

// Model is a bridge denoiser with its schedule and objective. If CondIsY, the
// denoiser receives y as its condition (the official "SpatialRescaler"-style
// conditioning); otherwise nil (the official "nocond").
type Model struct {
	Sched     *schedule.BBDM
	Denoiser  diffusion.Denoiser
	Objective Objective
	CondIsY   bool
}

func table(v []float64, f func(float64) float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = f(x)
	}
	return out
}

func id(x float64) float64 { return x }

// QSample returns x_t = (1-m_t) x_0 + m_t y + sqrt(delta_t) eps for per-example t (float32 [B]).
//
// thesis: eq4
func QSample(s *schedule.BBDM, x0, y, t, eps *Node) *Node {
	r := x0.Rank()
	m := diffusion.PerExample(diffusion.Lookup(s.M, t), r)
	sd := diffusion.PerExample(diffusion.Lookup(table(s.Delta, math.Sqrt), t), r)
	return Add(Add(Mul(OneMinus(m), x0), Mul(m, y)), Mul(sd, eps))
}

// Target is what the network of objective o should output for (x_0, y, eps) at m_t, sqrt(delta_t).
func Target(o Objective, x0, y, eps, m, sd *Node) *Node {
	switch o {
	case Noise:
		return eps
	case YSubX:
		return Sub(y, x0)
	}
	return Add(Mul(m, Sub(y, x0)), Mul(sd, eps))
}

// X0From converts a network output to x0_hat (the official predict_x0_from_objective).
func X0From(o Objective, out, xt, y, m, sd *Node) *Node {
	switch o {
	case Noise:
		return Div(Sub(Sub(xt, Mul(m, y)), Mul(sd, out)), OneMinus(m))
	case YSubX:
		return Sub(y, out)
	}
	return Sub(xt, out)
}

// LossAt is the official training loss at given t (float32 [B]) and eps: the mean over
// all elements of |target - out| (l1) or (target - out)^2 (l1 false: L2, F.mse_loss).
func LossAt(ctx *context.Context, m Model, x0, y, t, eps *Node, l1 bool) *Node {
	r := x0.Rank()
	mt := diffusion.PerExample(diffusion.Lookup(m.Sched.M, t), r)
	sd := diffusion.PerExample(diffusion.Lookup(table(m.Sched.Delta, math.Sqrt), t), r)
	xt := Add(Add(Mul(OneMinus(mt), x0), Mul(mt, y)), Mul(sd, eps))
	var cond *Node
	if m.CondIsY {
		cond = y
	}
	d := Sub(Target(m.Objective, x0, y, eps, mt, sd), m.Denoiser(ctx, xt, t, cond))
	if l1 {
		return ReduceAllMean(Abs(d))
	}
	return ReduceAllMean(Mul(d, d))
}

// Loss draws t ~ Uniform{0..T-1} and eps ~ N(0, I) from the context's random state and returns LossAt.
//
// thesis: alg1-bbdm
func Loss(ctx *context.Context, m Model, x0, y *Node, l1 bool) *Node {
	g := x0.Graph()
	B := x0.Shape().Dimensions[0]
	t := ConvertDType(ctx.RandomIntN(g, int32(m.Sched.T), shapes.Make(dtypes.Int32, B)), dtypes.Float32)
	eps := ctx.RandomNormal(g, x0.Shape())
	return LossAt(ctx, m, x0, y, t, eps, l1)
}

// SamplerOptions configure BBDM sampling.
type SamplerOptions struct {
	// Steps is the official sample_step: >= T runs the full chain T-1..0, fewer uses
	// the official skip-step list (schedule.BBDMTimesteps).
	Steps int
	// Eta scales only the added noise, as the official code (1: exact bridge posterior).
	Eta float64
	// ClipX0 > 0 clips x0_hat to [-ClipX0, ClipX0] (official clip_denoised).
	ClipX0 float64
}

// Sampler runs the official BBDM reverse process from x_T = y.
type Sampler struct {
	m    Model
	opts SamplerOptions
	ts   []int
	loop *diffusion.Loop
}

// NewSampler prepares a sampler; ctx holds the denoiser's variables.
func NewSampler(backend backends.Backend, ctx *context.Context, m Model, opts SamplerOptions) (*Sampler, error) {
	if opts.Eta < 0 {
		return nil, fmt.Errorf("bbdm: eta must be >= 0, got %g", opts.Eta)
	}
	ts, err := schedule.BBDMTimesteps(m.Sched.T, opts.Steps)
	if err != nil {
		return nil, err
	}
	clip := opts.ClipX0
	step := func(ctx *context.Context, x, coefs, rng *Node, extra []*Node) (*Node, *Node) {
		y := extra[0]
		c := func(i int) *Node { return diffusion.Coef(coefs, i) }
		t := diffusion.BatchTime(c(0), x.Shape().Dimensions[0])
		var cond *Node
		if m.CondIsY {
			cond = y
		}
		out := m.Denoiser(ctx, x, t, cond)
		mt, sd, mn, kx, sig := c(1), c(2), c(3), c(4), c(5)
		x0 := X0From(m.Objective, out, x, y, mt, sd)
		if clip > 0 {
			x0 = ClipScalar(x0, -clip, clip)
		}
		rng, z := RandomNormal(rng, x.Shape())
		mean := Add(Mul(OneMinus(mn), x0), Mul(mn, y))
		resid := Sub(Sub(x, Mul(OneMinus(mt), x0)), Mul(mt, y))
		return Add(Add(mean, Mul(kx, resid)), Mul(sig, z)), rng
	}
	loop, err := diffusion.NewLoop(backend, ctx, step)
	if err != nil {
		return nil, err
	}
	return &Sampler{m: m, opts: opts, ts: ts, loop: loop}, nil
}

// Timesteps returns the visited timesteps in sampling order.
func (s *Sampler) Timesteps() []int { return append([]int(nil), s.ts...) }

// Coefs returns the per-step rows [t, m_t, sqrt(delta_t), m_n, kx, eta sigma]; the
// step at t = 0 returns x0_hat (m_n = kx = sigma = 0), as the official p_sample.
func (s *Sampler) Coefs() [][]float32 {
	sc := s.m.Sched
	rows := make([][]float32, len(s.ts))
	for k, t := range s.ts {
		r := []float64{float64(t), sc.M[t], math.Sqrt(sc.Delta[t]), 0, 0, 0}
		if t > 0 {
			n := s.ts[k+1]
			sigma2, kx := sc.StepCoefs(t, n)
			r[3], r[4], r[5] = sc.M[n], kx, s.opts.Eta*math.Sqrt(math.Max(sigma2, 0))
		}
		rows[k] = make([]float32, len(r))
		for i, v := range r {
			rows[k][i] = float32(v)
		}
	}
	return rows
}

// Sample maps y (domain B, [B, ...]) to a sample of domain A.
//
// thesis: eq5 alg2-bbdm
func (s *Sampler) Sample(y *tensors.Tensor, opts diffusion.Options) (*tensors.Tensor, error) {
	return s.loop.Run(y, []*tensors.Tensor{y}, s.Coefs(), opts)
}

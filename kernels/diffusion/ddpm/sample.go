package ddpm

import (
	"fmt"
	"math"

	"github.com/dmseg/dmseg/kernels/diffusion"
	"github.com/dmseg/dmseg/kernels/diffusion/schedule"
	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Every DDPM/DDIM step is x_next = cX x_t + cA x0_hat + cE eps_hat + sigma z with
// per-step coefficients, coefs = [t, a_t, b_t, cX, cA, cE, sigma], a_t = sqrt(abar_t),
// b_t = sqrt(1-abar_t). One compiled graph serves every step.
//
// epsScale is the epsilon scaling of Ning et al. (2024, "Elucidating the exposure bias
// in diffusion models"): 0 or 1 leaves the graph as it is; otherwise eps_hat is
// replaced by eps_hat / epsScale and x0_hat by the x0 it implies,
// (x_t - b_t eps_hat / epsScale) / a_t, before clipping and the update.
func stepGraph(m Model, clip, epsScale float64) diffusion.StepGraph {
	return func(ctx *context.Context, x, coefs, rng *Node, extra []*Node) (*Node, *Node) {
		var cond *Node
		if len(extra) > 0 {
			cond = extra[0]
		}
		c := func(i int) *Node { return diffusion.Coef(coefs, i) }
		t := diffusion.BatchTime(c(0), x.Shape().Dimensions[0])
		out := m.Denoiser(ctx, x, t, cond)
		x0, eps := Predictions(m.Param, out, x, c(1), c(2))
		if EpsScaled(epsScale) {
			eps = MulScalar(eps, 1/epsScale)
			x0 = Div(Sub(x, Mul(c(2), eps)), c(1))
		}
		if clip > 0 {
			x0 = ClipScalar(x0, -clip, clip)
		}
		rng, z := RandomNormal(rng, x.Shape())
		next := Add(Add(Mul(c(3), x), Mul(c(4), x0)), Add(Mul(c(5), eps), Mul(c(6), z)))
		return next, rng
	}
}

func row(vals ...float64) []float32 {
	r := make([]float32, len(vals))
	for i, v := range vals {
		r[i] = float32(v)
	}
	return r
}

// AncestralOptions configure ancestral sampling.
type AncestralOptions struct {
	// LargeVariance uses sigma_t^2 = beta_t (Ho et al.'s alternative) instead of the
	// posterior variance beta-tilde_t (CompVis's default, "fixed small").
	LargeVariance bool
	// ClipX0, when > 0, clips x0_hat to [-ClipX0, ClipX0] before the posterior mean
	// (CompVis clip_denoised with 1 for images in [-1, 1]). 0: no clipping; then the
	// update is exactly thesis Algorithm 2: x_{t-1} = (x_t - beta_t/sqrt(1-abar_t) eps)/sqrt(alpha_t) + sigma_t z.
	ClipX0 float64
}

// Ancestral samples by the full T-step reverse chain (thesis Algorithm 2).
type Ancestral struct {
	m    Model
	opts AncestralOptions
	loop *diffusion.Loop
}

// NewAncestral prepares an ancestral sampler; ctx holds the denoiser's variables.
func NewAncestral(backend backends.Backend, ctx *context.Context, m Model, opts AncestralOptions) (*Ancestral, error) {
	loop, err := diffusion.NewLoop(backend, ctx, stepGraph(m, opts.ClipX0, 0))
	if err != nil {
		return nil, err
	}
	return &Ancestral{m: m, opts: opts, loop: loop}, nil
}

// Coefs returns the per-step coefficient rows (for inspection and tests).
func (a *Ancestral) Coefs() [][]float32 {
	s := a.m.Sched
	rows := make([][]float32, 0, s.T)
	for i := s.T - 1; i >= 0; i-- {
		v := s.PosteriorVariance[i]
		if a.opts.LargeVariance {
			v = s.Betas[i]
		}
		if i == 0 {
			v = 0
		}
		rows = append(rows, row(float64(i), math.Sqrt(s.AlphasCumprod[i]), math.Sqrt(1-s.AlphasCumprod[i]),
			s.PosteriorMeanCoef2[i], s.PosteriorMeanCoef1[i], 0, math.Sqrt(v)))
	}
	return rows
}

// Sample runs the chain from x_T (usually diffusion.GaussianNoise) to x_0.
//
// thesis: alg2-ddpm
func (a *Ancestral) Sample(xT, cond *tensors.Tensor, opts diffusion.Options) (*tensors.Tensor, error) {
	return a.loop.Run(xT, diffusion.Extra(cond), a.Coefs(), opts)
}

// EpsScaled reports whether an epsilon-scaling factor changes the sampler (0 and 1 are off).
func EpsScaled(s float64) bool { return s != 0 && s != 1 }

// CheckEpsScale rejects an epsilon-scaling factor that is negative, NaN or infinite.
func CheckEpsScale(s float64) error {
	if s < 0 || math.IsNaN(s) || math.IsInf(s, 0) {
		return fmt.Errorf("eps-scale must be a positive number (0 or 1: off), got %g", s)
	}
	return nil
}

// DDIMOptions configure DDIM sampling.
type DDIMOptions struct {
	Steps   int     // number of sampling steps S (network calls)
	Spacing string  // schedule.SpacingCompVis (default), SpacingLeading, SpacingTrailing or SpacingLinspace
	Eta     float64 // 0: deterministic DDIM; 1: DDPM-like posterior noise
	ClipX0  float64 // > 0: clip x0_hat to [-ClipX0, ClipX0] (eps_hat is kept, as in diffusers)
	// CompVisFinal makes the last step land on abar = alphas_cumprod[0] as CompVis's
	// DDIMSampler does, instead of on clean data (abar = 1, the default).
	CompVisFinal bool
	// EpsScale, when not 0 or 1, divides eps_hat by EpsScale at every step and
	// recomputes x0_hat from it (epsilon scaling, Ning et al. 2024); 0 or 1: off.
	EpsScale float64
}

// DDIM samples along a subset of timesteps with the non-Markovian process of Song et al.:
// x_prev = sqrt(abar_prev) x0_hat + sqrt(1-abar_prev-sigma^2) eps_hat + sigma z,
// sigma = eta sqrt((1-abar_prev)/(1-abar_t)) sqrt(1-abar_t/abar_prev). The step from
// timesteps[k] goes to timesteps[k+1] (the next element of the list, never t - T/S).
type DDIM struct {
	m    Model
	opts DDIMOptions
	ts   []int
	loop *diffusion.Loop
}

// NewDDIM prepares a DDIM sampler; ctx holds the denoiser's variables.
//
// thesis: eq6
func NewDDIM(backend backends.Backend, ctx *context.Context, m Model, opts DDIMOptions) (*DDIM, error) {
	if opts.Spacing == "" {
		opts.Spacing = schedule.SpacingCompVis
	}
	if opts.Eta < 0 {
		return nil, fmt.Errorf("ddpm: DDIM eta must be >= 0, got %g", opts.Eta)
	}
	if err := CheckEpsScale(opts.EpsScale); err != nil {
		return nil, fmt.Errorf("ddpm: DDIM %w", err)
	}
	ts, err := schedule.DDIMTimesteps(opts.Spacing, m.Sched.T, opts.Steps)
	if err != nil {
		return nil, err
	}
	if EpsScaled(opts.EpsScale) {
		for _, t := range ts {
			if m.Sched.AlphasCumprod[t] == 0 {
				return nil, fmt.Errorf("ddpm: DDIM eps-scale recomputes x0_hat = (x_t - sqrt(1-abar) eps_hat)/sqrt(abar), undefined at timestep %d where abar = 0 (a zero-terminal-SNR schedule)", t)
			}
		}
	}
	loop, err := diffusion.NewLoop(backend, ctx, stepGraph(m, opts.ClipX0, opts.EpsScale))
	if err != nil {
		return nil, err
	}
	return &DDIM{m: m, opts: opts, ts: ts, loop: loop}, nil
}

// Timesteps returns the visited timesteps in sampling order.
func (d *DDIM) Timesteps() []int { return append([]int(nil), d.ts...) }

func (d *DDIM) abarPrev(k int) float64 {
	s := d.m.Sched
	if k+1 < len(d.ts) {
		return s.AlphasCumprod[d.ts[k+1]]
	}
	if d.opts.CompVisFinal {
		return s.AlphasCumprod[0]
	}
	return 1
}

// Coefs returns the per-step coefficient rows of sampling.
func (d *DDIM) Coefs() [][]float32 {
	s := d.m.Sched
	rows := make([][]float32, len(d.ts))
	for k, t := range d.ts {
		at, ap := s.AlphasCumprod[t], d.abarPrev(k)
		sigma := d.opts.Eta * math.Sqrt((1-ap)/(1-at)*(1-at/ap))
		dir := math.Sqrt(math.Max(1-ap-sigma*sigma, 0))
		rows[k] = row(float64(t), math.Sqrt(at), math.Sqrt(1-at), 0, math.Sqrt(ap), dir, sigma)
	}
	return rows
}

// Sample runs DDIM from x_T to x_0.
//
// thesis: eq8
func (d *DDIM) Sample(xT, cond *tensors.Tensor, opts diffusion.Options) (*tensors.Tensor, error) {
	return d.loop.Run(xT, diffusion.Extra(cond), d.Coefs(), opts)
}

// EncodeCoefs returns the rows of the deterministic (eta = 0) DDIM inversion: the
// same grid walked upwards, each step from timestep u to the next larger v as
// x_v = sqrt(abar_v) x0_hat + sqrt(1-abar_v) eps_hat with the network evaluated at
// (x_u, u); the first step (from clean data) treats x_0 as x at the smallest timestep.
func (d *DDIM) EncodeCoefs() [][]float32 {
	s := d.m.Sched
	n := len(d.ts)
	rows := make([][]float32, n)
	for k := 0; k < n; k++ {
		v := d.ts[n-1-k] // target timestep
		u := v           // evaluation timestep: the current one, or the smallest for the first step
		if k > 0 {
			u = d.ts[n-k]
		}
		au, av := s.AlphasCumprod[u], s.AlphasCumprod[v]
		rows[k] = row(float64(u), math.Sqrt(au), math.Sqrt(1-au), 0, math.Sqrt(av), math.Sqrt(1-av), 0)
	}
	return rows
}

// Encode maps data x_0 to its DDIM latent x_T (eta = 0 inversion); Sample with
// Eta = 0 maps it back up to the discretisation error of the ODE.
func (d *DDIM) Encode(x0, cond *tensors.Tensor, opts diffusion.Options) (*tensors.Tensor, error) {
	return d.loop.Run(x0, diffusion.Extra(cond), d.EncodeCoefs(), opts)
}

// Package ncsn implements Noise Conditioned Score Networks (Song & Ermon 2019,
// thesis section 1.2): geometric noise levels, denoising score matching, and
// annealed Langevin dynamics (thesis "Algorithm 2 Annealed Langevin dynamics").
//
// Network convention: the denoiser gets the level index i (0 = smallest sigma, as
// the thesis's sigma_1 < ... < sigma_L) as float32 [B] and predicts the noise z of
// x = x_0 + sigma_i z, so the score is -out/sigma_i; the loss ||out - z||^2 is
// denoising score matching with the usual weight lambda(sigma) = sigma^2.
package ncsn

import (
	"fmt"
	"math"

	"github.com/dmseg/dmseg/kernels/diffusion"
	"github.com/dmseg/dmseg/kernels/diffusion/analytic"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Geometric returns L noise levels from sigmaMin to sigmaMax with a constant ratio, ascending.
func Geometric(sigmaMin, sigmaMax float64, L int) ([]float64, error) {
	if !(sigmaMin > 0 && sigmaMax > sigmaMin) || L < 2 {
		return nil, fmt.Errorf("ncsn: need 0 < sigma_min < sigma_max and L >= 2, got %g, %g, %d", sigmaMin, sigmaMax, L)
	}
	s := make([]float64, L)
	r := math.Log(sigmaMax / sigmaMin)
	for i := range s {
		s[i] = sigmaMin * math.Exp(r*float64(i)/float64(L-1))
	}
	return s, nil
}

// LossAt is denoising score matching at level indices t (float32 [B]) with noise z:
// mean of (out(x_0 + sigma_t z, t) - z)^2.
func LossAt(ctx *context.Context, sigmas []float64, den diffusion.Denoiser, x0, cond, t, z *Node) *Node {
	sg := diffusion.PerExample(diffusion.Lookup(sigmas, t), x0.Rank())
	d := Sub(den(ctx, Add(x0, Mul(sg, z)), t, cond), z)
	return ReduceAllMean(Mul(d, d))
}

// Loss draws the level uniformly and z ~ N(0, I) from the context's random state.
func Loss(ctx *context.Context, sigmas []float64, den diffusion.Denoiser, x0, cond *Node) *Node {
	g := x0.Graph()
	t := ConvertDType(ctx.RandomIntN(g, int32(len(sigmas)), shapes.Make(dtypes.Int32, x0.Shape().Dimensions[0])), dtypes.Float32)
	return LossAt(ctx, sigmas, den, x0, cond, t, ctx.RandomNormal(g, x0.Shape()))
}

// Options configure annealed Langevin dynamics.
type Options struct {
	StepsPerLevel int     // N Langevin iterations per level
	Epsilon       float64 // step size scale: gamma_i = Epsilon sigma_i^2 / sigma_1^2 (Song & Ermon)
	// FinalDenoise adds one Tweedie step x + sigma_1^2 score at the end (Jolicoeur-Martineau et al.).
	FinalDenoise bool
}

// Sampler runs annealed Langevin dynamics from sigma_L down to sigma_1.
type Sampler struct {
	sigmas []float64
	opts   Options
	loop   *diffusion.Loop
}

// NewSampler prepares the sampler; ctx holds the denoiser's variables.
//
// thesis: alg2-langevin
func NewSampler(backend backends.Backend, ctx *context.Context, sigmas []float64, den diffusion.Denoiser, opts Options) (*Sampler, error) {
	if opts.StepsPerLevel < 1 || !(opts.Epsilon > 0) {
		return nil, fmt.Errorf("ncsn: need StepsPerLevel >= 1 and Epsilon > 0, got %d, %g", opts.StepsPerLevel, opts.Epsilon)
	}
	// gamma_i / sigma_i^2 = Epsilon / sigma_1^2 at every level; at the top levels the target variance is
	// about sigma_i^2, and Langevin on a Gaussian of variance v diverges once gamma > 4 v.
	if r := opts.Epsilon / (sigmas[0] * sigmas[0]); r >= 4 {
		return nil, fmt.Errorf("ncsn: Epsilon/sigma_1^2 = %g >= 4: Langevin steps gamma_i = %g sigma_i^2 diverge at the large noise levels", r, r)
	}
	// x' = x + cS out + noise z; Langevin: cS = -gamma/(2 sigma), noise = sqrt(gamma).
	step := func(ctx *context.Context, x, coefs, rng *Node, extra []*Node) (*Node, *Node) {
		var cond *Node
		if len(extra) > 0 {
			cond = extra[0]
		}
		c := func(i int) *Node { return diffusion.Coef(coefs, i) }
		out := den(ctx, x, diffusion.BatchTime(c(0), x.Shape().Dimensions[0]), cond)
		rng, z := RandomNormal(rng, x.Shape())
		return Add(Add(x, Mul(c(1), out)), Mul(c(2), z)), rng
	}
	loop, err := diffusion.NewLoop(backend, ctx, step)
	if err != nil {
		return nil, err
	}
	return &Sampler{sigmas: sigmas, opts: opts, loop: loop}, nil
}

// Coefs returns the rows [level, cS, noise] of every Langevin iteration.
func (s *Sampler) Coefs() [][]float32 {
	var rows [][]float32
	s1 := s.sigmas[0]
	for i := len(s.sigmas) - 1; i >= 0; i-- {
		sg := s.sigmas[i]
		gamma := s.opts.Epsilon * sg * sg / (s1 * s1)
		for k := 0; k < s.opts.StepsPerLevel; k++ {
			rows = append(rows, []float32{float32(i), float32(-gamma / (2 * sg)), float32(math.Sqrt(gamma))})
		}
	}
	if s.opts.FinalDenoise {
		rows = append(rows, []float32{0, float32(-s1), 0})
	}
	return rows
}

// Sample starts from sigma_L z, with z the given standard normal tensor, and anneals down.
func (s *Sampler) Sample(z, cond *tensors.Tensor, opts diffusion.Options) (*tensors.Tensor, error) {
	L := len(s.sigmas)
	v := tensors.MustCopyFlatData[float32](z)
	for i := range v {
		v[i] *= float32(s.sigmas[L-1])
	}
	x := tensors.FromFlatDataAndDimensions(v, z.Shape().Dimensions...)
	defer x.FinalizeAll()
	return s.loop.Run(x, diffusion.Extra(cond), s.Coefs(), opts)
}

// AnalyticDenoiser is E[z|x] for a Gaussian target with x = x_0 + sigma_i z.
func AnalyticDenoiser(sigmas []float64, g *analytic.Gaussian) diffusion.Denoiser {
	return func(_ *context.Context, xt, t, _ *Node) *Node {
		sg := diffusion.Lookup(sigmas, t)
		return g.Eps(xt, OnesLike(sg), sg)
	}
}

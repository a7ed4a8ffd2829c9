// Package ddpm implements the DDPM forward process q(x_t|x_0), the L_simple
// training loss (eps, x0 or v parameterisation), ancestral sampling (thesis
// Algorithm 2) and DDIM sampling/encoding (thesis section 1.4) as GoMLX graph code
// around any diffusion.Denoiser.
//
// Timesteps are 0-based as in the reference code: index i in 0..T-1 is the
// thesis's t = i+1, and the denoiser receives i as a float32 [B].
package ddpm

import (
	"fmt"
	"math"

	"github.com/dmseg/dmseg/kernels/diffusion"
	"github.com/dmseg/dmseg/kernels/diffusion/schedule"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Param says what the denoiser outputs.
type Param int

const (
	// Eps: the network predicts the noise eps (Ho et al., the thesis's L_simple).
	Eps Param = iota
	// X0: the network predicts the clean sample x_0.
	X0
	// V: the network predicts v = sqrt(abar) eps - sqrt(1-abar) x_0 (Salimans & Ho).
	V
)

// ParseParam maps "eps", "x0" and "v" to a Param.
func ParseParam(s string) (Param, error) {
	switch s {
	case "eps":
		return Eps, nil
	case "x0":
		return X0, nil
	case "v":
		return V, nil
	}
	return 0, fmt.Errorf("ddpm: unknown parameterisation %q (want eps, x0 or v)", s)
}

func (p Param) String() string { return [...]string{"eps", "x0", "v"}[p] }

// Model is a denoiser together with its schedule and parameterisation.
type Model struct {
	Sched    *schedule.DDPM
	Denoiser diffusion.Denoiser
	Param    Param
}

// QSample returns x_t = sqrt(abar_t) x_0 + sqrt(1-abar_t) eps (thesis eq. 2) for
// per-example timesteps t (float32 [B] holding integers) and noise eps shaped like x0.
//
// thesis: eq2
func QSample(s *schedule.DDPM, x0, t, eps *Node) *Node {
	a, b := coefsAt(s, t, x0.Rank())
	return Add(Mul(a, x0), Mul(b, eps))
}

// coefsAt returns sqrt(abar_t) and sqrt(1-abar_t) shaped [B,1,...] for x of the given rank.
func coefsAt(s *schedule.DDPM, t *Node, rank int) (a, b *Node) {
	sa := make([]float64, s.T)
	sb := make([]float64, s.T)
	for i := range sa {
		sa[i] = math.Sqrt(s.AlphasCumprod[i])
		sb[i] = math.Sqrt(1 - s.AlphasCumprod[i])
	}
	return diffusion.PerExample(diffusion.Lookup(sa, t), rank), diffusion.PerExample(diffusion.Lookup(sb, t), rank)
}

// Target returns what a network of parameterisation p should output for (x_0, eps)
// at the per-example coefficients a = sqrt(abar), b = sqrt(1-abar).
func Target(p Param, x0, eps, a, b *Node) *Node {
	switch p {
	case X0:
		return x0
	case V:
		return Sub(Mul(a, eps), Mul(b, x0))
	}
	return eps
}

// Predictions converts a network output into the implied (x0_hat, eps_hat), given x_t and a, b.
//
// thesis: eq7
func Predictions(p Param, out, xt, a, b *Node) (x0, eps *Node) {
	switch p {
	case X0:
		return out, Div(Sub(xt, Mul(a, out)), b)
	case V:
		return Sub(Mul(a, xt), Mul(b, out)), Add(Mul(b, xt), Mul(a, out))
	}
	return Div(Sub(xt, Mul(b, out)), a), out
}

// LossAt is L_simple for given timesteps t (float32 [B]) and noise eps: the mean over
// all elements of (target - network(x_t, t, cond))^2, the target chosen by m.Param.
func LossAt(ctx *context.Context, m Model, x0, cond, t, eps *Node) *Node {
	mse, _ := LossAtX0(ctx, m, x0, cond, t, eps)
	return mse
}

// LossAtX0 is LossAt that also returns the network's implied x0_hat (eq7),
// for losses that add a term on the predicted clean sample.
//
// thesis: eq3 eq7
func LossAtX0(ctx *context.Context, m Model, x0, cond, t, eps *Node) (mse, x0Hat *Node) {
	a, b := coefsAt(m.Sched, t, x0.Rank())
	xt := Add(Mul(a, x0), Mul(b, eps))
	out := m.Denoiser(ctx, xt, t, cond)
	d := Sub(Target(m.Param, x0, eps, a, b), out)
	x0Hat, _ = Predictions(m.Param, out, xt, a, b)
	return ReduceAllMean(Mul(d, d)), x0Hat
}

// Loss is L_simple with t ~ Uniform{0..T-1} and eps ~ N(0, I) drawn from the
// context's random state (thesis Algorithm 1). Use it inside a training step.
//
// thesis: eq3 alg1-ddpm
func Loss(ctx *context.Context, m Model, x0, cond *Node) *Node {
	mse, _ := LossX0(ctx, m, x0, cond)
	return mse
}

// LossX0 is Loss that also returns x0_hat (LossAtX0), with t and eps drawn
// as in Loss.
func LossX0(ctx *context.Context, m Model, x0, cond *Node) (mse, x0Hat *Node) {
	g := x0.Graph()
	B := x0.Shape().Dimensions[0]
	t := ConvertDType(ctx.RandomIntN(g, int32(m.Sched.T), shapes.Make(dtypes.Int32, B)), dtypes.Float32)
	eps := ctx.RandomNormal(g, x0.Shape())
	return LossAtX0(ctx, m, x0, cond, t, eps)
}

func shapesF32(dims ...int) shapes.Shape { return shapes.Make(dtypes.Float32, dims...) }

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

// LeakyVariance is the exact output variance of a sampler, given by its step
// rows [t, a, b, cX, cA, cE, sigma] (Ancestral.Coefs, DDIM.Coefs), along one
// zero-mean Gaussian direction of data variance lambda, started from x_T ~
// N(0, 1), when the network is the exact denoiser with a leak: it returns
//
//	x0_hat = (1 - l(t)) E[x_0 | x_t] + l(t) x_t / a_t,
//
// i.e. it leaves the fraction l(t) of the noise it should remove in x0_hat
// (x_t / a_t is the estimate that removes nothing). leak nil means l = 0:
// the exact denoiser. This is the teaching model of issue 10's DDIM gap; see
// DDIMLeakInflation for what the deterministic path makes of a leak.
func LeakyVariance(rows [][]float32, lambda float64, leak func(t int) float64) float64 {
	v := 1.0
	for _, r := range rows {
		a, b := float64(r[1]), float64(r[2])
		cX, cA, cE, sig := float64(r[3]), float64(r[4]), float64(r[5]), float64(r[6])
		g := a * lambda / (a*a*lambda + b*b) // exact: x0_hat = g x_t
		if leak != nil {
			l := leak(int(r[0]))
			g = (1-l)*g + l/a
		}
		ge := (1 - a*g) / b // eps_hat = (x_t - a x0_hat) / b
		k := cX + cA*g + cE*ge
		v = k*k*v + sig*sig
	}
	return v
}

// DDIMLeakInflation is the factor by which a constant leak l (LeakyVariance)
// inflates the output variance of deterministic DDIM in the continuous-time
// limit, for data variance lambda: (1 + sigma_T^2 / lambda)^l with sigma_T^2 =
// (1 - abar_T) / abar_T. Derivation: in y = x_t / a_t and sigma = b_t / a_t
// the DDIM ODE is dy/dsigma = (y - x0_hat(y)) / sigma; the exact denoiser
// gives x0_hat = w y with w = lambda / (lambda + sigma^2), the leaky one
// ((1-l) w + l) y, so d ln Var(y) / dsigma = 2 (1-l)(1-w) / sigma and
// Var(y) at sigma -> 0 is lambda^(1-l) (lambda + sigma_T^2)^l. The factor
// grows as lambda shrinks: the finest image detail, which has the least
// variance, collects the most unremoved noise. Ancestral sampling draws
// most of each step's noise afresh and does not integrate the leak (its
// inflation stays near 1/(1-l)^2 whatever lambda is; TestLeakInflation).
func DDIMLeakInflation(lambda, abarT, leak float64) float64 {
	return math.Pow(1+(1-abarT)/abarT/lambda, leak)
}

// LeakRow is one line of LeakStudy: the output-variance inflation that a
// constant leak causes, relative to the same sampler with the exact denoiser.
type LeakRow struct {
	Lambda, Leak float64
	DDIM         float64 // deterministic DDIM over all T steps (the ODE, discretised finely)
	Ancestral    float64 // the ancestral DDPM chain
	ClosedForm   float64 // DDIMLeakInflation
}

// LeakStudy evaluates LeakyVariance exactly (host float64, no sampling) for
// every data variance and constant leak given, under schedule s.
func LeakStudy(s *schedule.DDPM, lambdas, leaks []float64) []LeakRow {
	d := &DDIM{m: Model{Sched: s, Param: Eps}, opts: DDIMOptions{Steps: s.T}}
	d.ts, _ = schedule.DDIMTimesteps(schedule.SpacingLinspace, s.T, s.T)
	anc := &Ancestral{m: Model{Sched: s, Param: Eps}}
	dr, ar := d.Coefs(), anc.Coefs()
	abarT := s.AlphasCumprod[s.T-1]
	var out []LeakRow
	for _, lam := range lambdas {
		d0, a0 := LeakyVariance(dr, lam, nil), LeakyVariance(ar, lam, nil)
		for _, l := range leaks {
			leak := func(int) float64 { return l }
			out = append(out, LeakRow{Lambda: lam, Leak: l, DDIM: LeakyVariance(dr, lam, leak) / d0,
				Ancestral: LeakyVariance(ar, lam, leak) / a0, ClosedForm: DDIMLeakInflation(lam, abarT, l)})
		}
	}
	return out
}

// EpsScaledRows rewrites step rows [t, a, b, cX, cA, cE, sigma] of a sampler
// that scales eps_hat by 1/s (DDIMOptions.EpsScale, without clipping) as rows
// of the same form for the unscaled network: eps' = eps_hat / s and
// x0' = (x_t - b eps') / a make the update cX x + cA x0' + cE eps' equal to
// (cX + cA/a) x + 0 x0_hat + ((cE - cA b/a) / s) eps_hat. LeakyVariance and the
// exact-law tests read the rewritten rows. For a constant leak l (LeakyVariance),
// s = 1 - l gives back the exact denoiser's x0_hat and eps_hat at every step.
func EpsScaledRows(rows [][]float32, s float64) [][]float32 {
	out := make([][]float32, len(rows))
	for k, r := range rows {
		a, b := float64(r[1]), float64(r[2])
		cX, cA, cE := float64(r[3]), float64(r[4]), float64(r[5])
		out[k] = row(float64(r[0]), a, b, cX+cA/a, 0, (cE-cA*b/a)/s, float64(r[6]))
	}
	return out
}

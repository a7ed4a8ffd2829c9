package schedule

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol || math.IsNaN(got) {
		t.Errorf("%s = %.10g, want %.10g (tol %g)", what, got, want, tol)
	}
}

// Hand-computed values of the three beta schedules.
func TestBetasHandValues(t *testing.T) {
	b, _ := Betas(BetaLinear, 1000)
	near(t, "linear beta[0]", b[0], 1e-4, 1e-15)
	near(t, "linear beta[999]", b[999], 0.02, 1e-15)
	near(t, "linear beta[1]", b[1], 1e-4+(0.02-1e-4)/999, 1e-15)
	b, _ = Betas(BetaSqrtLinear, 1000)
	near(t, "sqrt-linear beta[0]", b[0], 1e-4, 1e-15)
	near(t, "sqrt-linear beta[999]", b[999], 0.02, 1e-15)
	s := 0.01 + (math.Sqrt(0.02)-0.01)*500/999
	near(t, "sqrt-linear beta[500]", b[500], s*s, 1e-15)
	b, _ = Betas(BetaCosine, 1000)
	f := func(x float64) float64 { c := math.Cos((x + 0.008) / 1.008 * math.Pi / 2); return c * c }
	near(t, "cosine beta[0]", b[0], 1-f(0.001)/f(0), 1e-15)
	near(t, "cosine beta[999]", b[999], 0.999, 0) // clipped
	s2, _ := NewDDPM(BetaCosine, 1000)
	near(t, "cosine abar[499]", s2.AlphasCumprod[499], f(0.5)/f(0), 1e-9)
	if _, err := Betas("quadratic", 10); err == nil {
		t.Error("unknown schedule accepted")
	}
}

// q(x_t|x_0) in closed form against the iterated Markov chain x_t = sqrt(1-beta_t) x_{t-1} + sqrt(beta_t) z.
func TestClosedFormMatchesMarkovChain(t *testing.T) {
	for _, name := range BetaNames {
		s, _ := NewDDPM(name, 200)
		checkChain(t, name, s, 1, 9, 99, s.T-1)
	}
}

// checkChain iterates x_t = sqrt(1-beta_t) x_{t-1} + sqrt(beta_t) z from x_0 = 1.5
// for 20,000 samples and compares the sample mean and variance at the given
// timesteps with q(x_t|x_0) = N(sqrt(abar_t) x_0, 1-abar_t).
func checkChain(t *testing.T, name string, s *DDPM, seed uint64, at ...int) {
	t.Helper()
	const n = 20000
	x0 := 1.5
	rng := rand.New(rand.NewPCG(seed, seed+1))
	xs := make([]float64, n)
	for j := range xs {
		xs[j] = x0
	}
	for i := 0; i < s.T; i++ {
		a, sb := math.Sqrt(1-s.Betas[i]), math.Sqrt(s.Betas[i])
		for j := range xs {
			xs[j] = a*xs[j] + sb*rng.NormFloat64()
		}
		for _, k := range at {
			if i != k {
				continue
			}
			m, v := meanVar(xs)
			wv := 1 - s.AlphasCumprod[i]
			near(t, name+" chain mean", m, math.Sqrt(s.AlphasCumprod[i])*x0, 5*math.Sqrt(wv/n))
			near(t, name+" chain var", v, wv, 5*wv*math.Sqrt(2.0/n))
		}
	}
}

func meanVar(xs []float64) (m, v float64) {
	for _, x := range xs {
		m += x
	}
	m /= float64(len(xs))
	for _, x := range xs {
		v += (x - m) * (x - m)
	}
	return m, v / float64(len(xs)-1)
}

// regress fits y = a x + b by least squares and returns a, b and the residual variance.
func regress(x, y []float64) (a, b, rv float64) {
	mx, vx := meanVar(x)
	my, _ := meanVar(y)
	var cxy float64
	for i := range x {
		cxy += (x[i] - mx) * (y[i] - my)
	}
	cxy /= float64(len(x) - 1)
	a = cxy / vx
	b = my - a*mx
	for i := range x {
		r := y[i] - a*x[i] - b
		rv += r * r
	}
	return a, b, rv / float64(len(x)-2)
}

// The posterior q(x_{t-1}|x_t,x_0) against Bayes by sampling: draw x_{t-1} ~ q(.|x_0), x_t ~ q(x_t|x_{t-1}),
// then the regression of x_{t-1} on x_t must have slope coef2, intercept coef1 x_0 and residual variance beta-tilde.
func TestPosteriorByBayesSampling(t *testing.T) {
	s, _ := NewDDPM(BetaLinear, 1000)
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 200000
	x0 := 0.7
	for _, ti := range []int{1, 10, 500, 999} {
		xp, xt := make([]float64, n), make([]float64, n)
		ap := s.AlphasCumprod[ti-1]
		for j := range xp {
			xp[j] = math.Sqrt(ap)*x0 + math.Sqrt(1-ap)*rng.NormFloat64()
			xt[j] = math.Sqrt(s.Alphas[ti])*xp[j] + math.Sqrt(s.Betas[ti])*rng.NormFloat64()
		}
		a, b, rv := regress(xt, xp)
		pv := s.PosteriorVariance[ti]
		mx, vx := meanVar(xt)
		near(t, "posterior slope", a, s.PosteriorMeanCoef2[ti], 6*math.Sqrt(pv/n/vx))
		near(t, "posterior intercept", b, s.PosteriorMeanCoef1[ti]*x0, 6*math.Sqrt(pv/n*(1+mx*mx/vx)))
		near(t, "posterior variance", rv, pv, 6*pv*math.Sqrt(2.0/n))
	}
}

// DDIM's sigma with eta=1 and consecutive steps is the DDPM posterior standard deviation, and its mean
// coefficients (sqrt(abar_prev) x0 + sqrt(1-abar_prev-sigma^2) eps, eps = (x_t - sqrt(abar_t) x0)/sqrt(1-abar_t))
// reduce to the posterior mean coefficients.
func TestDDIMEta1IsDDPMPosterior(t *testing.T) {
	for _, name := range BetaNames {
		s, _ := NewDDPM(name, 1000)
		for _, ti := range []int{1, 2, 100, 700, 999} {
			sig := s.DDIMSigma(ti, ti-1, 1)
			near(t, name+" sigma^2", sig*sig, s.PosteriorVariance[ti], 1e-12)
			ap, at := s.AlphasCumprod[ti-1], s.AlphasCumprod[ti]
			k := math.Sqrt(1-ap-sig*sig) / math.Sqrt(1-at) // coefficient of x_t
			near(t, name+" coef x_t", k, s.PosteriorMeanCoef2[ti], 1e-9)
			near(t, name+" coef x_0", math.Sqrt(ap)-k*math.Sqrt(at), s.PosteriorMeanCoef1[ti], 1e-9)
		}
	}
}

func TestDDIMTimesteps(t *testing.T) {
	check := func(sp string, T, S int, first, second, last, n int) {
		t.Helper()
		ts, err := DDIMTimesteps(sp, T, S)
		if err != nil {
			t.Fatalf("%s: %v", sp, err)
		}
		if ts[0] != first || ts[1] != second || ts[len(ts)-1] != last || len(ts) != n {
			t.Errorf("%s T=%d S=%d: got %v..%v (len %d), want %d,%d..%d (len %d)", sp, T, S, ts[:2], ts[len(ts)-1], len(ts), first, second, last, n)
		}
	}
	check(SpacingCompVis, 1000, 50, 981, 961, 1, 50)
	check(SpacingLeading, 1000, 50, 980, 960, 0, 50)
	check(SpacingTrailing, 1000, 50, 999, 979, 19, 50)
	check(SpacingLinspace, 1000, 50, 999, 979, 0, 50)
	check(SpacingTrailing, 1000, 3, 999, 666, 332, 3)
	check(SpacingLinspace, 10, 4, 9, 6, 0, 4)
	check(SpacingCompVis, 1000, 500, 999, 997, 1, 500)
}

func TestDDIMCompVisOverflowRejected(t *testing.T) {
	// range(0,1000,333) + 1 = 1, 334, 667, 1000: 1000 is out of range (an IndexError in the reference code).
	// S = 600 gives c = 1 and so 1..1000, the same overflow. (S = T = 1000 is the full chain; see below.)
	for _, S := range []int{3, 600, 999} {
		ts, err := DDIMTimesteps(SpacingCompVis, 1000, S)
		if err == nil {
			t.Errorf("compvis T=1000 S=%d accepted: %v", S, ts)
			continue
		}
		for _, want := range []string{"= T", "+1 offset", "c divides T-1", "--spacing trailing or leading"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("compvis T=1000 S=%d: error %q does not mention %q", S, err, want)
			}
		}
	}
	// T = 1001: c = 333 does not divide T-1 = 1000, so range(0,1001,333) + 1 = 1, 334, 667, 1000
	// stays below T (four steps for S = 3, as in the reference code).
	if ts, err := DDIMTimesteps(SpacingCompVis, 1001, 3); err != nil || len(ts) != 4 || ts[0] != 1000 || ts[3] != 1 {
		t.Errorf("compvis T=1001 S=3: got %v, %v; want [1000 667 334 1]", ts, err)
	}
}

// With S = T every spacing visits the whole chain T-1, ..., 0 once (CompVis's +1
// offset would reach T, so compvis falls back to the full chain).
func TestDDIMFullChainAtSEqualsT(t *testing.T) {
	for _, T := range []int{1, 2, 7, 1000} {
		for _, sp := range SpacingNames {
			ts, err := DDIMTimesteps(sp, T, T)
			if err != nil {
				t.Errorf("%s T=S=%d: %v", sp, T, err)
				continue
			}
			if len(ts) != T {
				t.Errorf("%s T=S=%d: %d timesteps, want %d", sp, T, len(ts), T)
				continue
			}
			for k, v := range ts {
				if v != T-1-k {
					t.Errorf("%s T=S=%d: timestep #%d is %d, want %d", sp, T, k, v, T-1-k)
					break
				}
			}
		}
	}
}

// The zero-terminal-SNR rescale (Lin et al. 2024, Algorithm 1): sqrt(abar) is an
// affine map of the original that keeps the first value and ends at 0, and the
// iterated Markov chain of the rescaled betas forgets x_0 entirely at the end.
func TestRescaleZeroTerminalSNR(t *testing.T) {
	orig, _ := Betas(BetaSqrtLinear, 1000)
	b, err := RescaleZeroTerminalSNR(orig)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewZeroTerminalSNR(BetaSqrtLinear, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != BetaSqrtLinear+"+zero-terminal-snr" || !slices.Equal(s.Betas, b) {
		t.Errorf("NewZeroTerminalSNR: name %q, betas equal to the rescaled ones: %v", s.Name, slices.Equal(s.Betas, b))
	}
	o, _ := FromBetas(orig)
	near(t, "beta[0]", b[0], orig[0], 1e-15)
	near(t, "beta[T-1]", b[999], 1, 0)
	near(t, "abar[T-1]", s.AlphasCumprod[999], 0, 0)
	first, last := math.Sqrt(o.AlphasCumprod[0]), math.Sqrt(o.AlphasCumprod[999])
	for _, i := range []int{0, 1, 100, 500, 900, 998} {
		want := (math.Sqrt(o.AlphasCumprod[i]) - last) * first / (first - last)
		near(t, "sqrt(abar) affine", math.Sqrt(s.AlphasCumprod[i]), want, 1e-12)
		if !(b[i] > 0 && b[i] < 1) {
			t.Errorf("beta[%d] = %g not in (0, 1)", i, b[i])
		}
	}
	// The posterior at the last step does not use x_T (coef2 = sqrt(alpha_T) ... = 0)
	// and its variance is finite.
	near(t, "coef2[T-1]", s.PosteriorMeanCoef2[999], 0, 0)
	near(t, "posterior variance[T-1]", s.PosteriorVariance[999], 1-s.AlphasCumprod[998], 1e-15)
	if sig := s.DDIMSigma(999, 979, 1); math.IsNaN(sig) || sig <= 0 || sig > 1 {
		t.Errorf("DDIM sigma from the last timestep = %g", sig)
	}

	checkChain(t, "rescaled", s, 5, 99, s.T-1)

	bad := append([]float64(nil), b...)
	bad[10], bad[999] = 1, orig[999]
	if _, err := FromBetas(bad); err == nil || !strings.Contains(err.Error(), "beta[10]") {
		t.Errorf("beta 1 before the last step: err = %v", err)
	}
	if _, err := RescaleZeroTerminalSNR(b); err == nil {
		t.Error("rescaling a schedule that already ends at beta 1 was accepted")
	}
}

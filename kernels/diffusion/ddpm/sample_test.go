package ddpm

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/dmseg/dmseg/kernels/diffusion"
	"github.com/dmseg/dmseg/kernels/diffusion/analytic"
	"github.com/dmseg/dmseg/kernels/diffusion/internal/mcheck"
	"github.com/dmseg/dmseg/kernels/diffusion/schedule"
	"github.com/dmseg/dmseg/kernels/engine/enginetest"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// nSamples is the Monte Carlo sample count per backend (the pure-Go backend is ~10x slower).
func nSamples(b backends.Backend) int {
	if mcheck.IsGo(b) {
		return 4000
	}
	return 20000
}

func target(t testing.TB) *analytic.Gaussian {
	g, err := analytic.NewGaussian(mcheck.Mean, mcheck.Cov)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// propagate computes, in float64 on the host, the exact output law of the affine-Gaussian
// recursion that a step row [t, a, b, cX, cA, cE, sigma] defines when the denoiser is the
// exact one of g: x_next = cX x + cA x0_hat(x) + cE eps_hat(x) + sigma z, from x_T ~ N(0, I).
// Eigen-directions of the target covariance evolve independently.
func propagate(g *analytic.Gaussian, rows [][]float32) (mean []float64, cov [][]float64) {
	D := len(g.Mean)
	me := make([]float64, D) // target mean in eigen-coordinates
	for j := 0; j < D; j++ {
		for i := 0; i < D; i++ {
			me[j] += g.U[i][j] * g.Mean[i]
		}
	}
	m := make([]float64, D)
	v := make([]float64, D)
	for j := range v {
		v[j] = 1
	}
	for _, r := range rows {
		a, b := float64(r[1]), float64(r[2])
		cX, cA, cE, sig := float64(r[3]), float64(r[4]), float64(r[5]), float64(r[6])
		for j := 0; j < D; j++ {
			lam := g.Lambda[j]
			C := a*a*lam + b*b
			k := cX + cA*a*lam/C + cE*b/C
			c := cA*(me[j]-a*a*lam*me[j]/C) - cE*b*a*me[j]/C
			m[j] = k*m[j] + c
			v[j] = k*k*v[j] + sig*sig
		}
	}
	return g.FromEigenbasis(m, v)
}

// gaussianSetup is the common start of the exact-law tests: the Gaussian target, the thesis's
// linear schedule (T = 1000) and x_T ~ N(0, I) for the backend's number of samples.
func gaussianSetup(t *testing.T, b backends.Backend) (*analytic.Gaussian, *schedule.DDPM, *tensors.Tensor) {
	g := target(t)
	s, err := schedule.NewDDPM(schedule.BetaLinear, 1000)
	if err != nil {
		t.Fatal(err)
	}
	xT, err := diffusion.GaussianNoise(b, 1, nSamples(b), 2)
	if err != nil {
		t.Fatal(err)
	}
	return g, s, xT
}

// Every DDPM sampler driven by the exact denoiser of a Gaussian target: (1) the full T-step chains
// (ancestral, DDIM eta=0 and eta=1 with all 1000 steps) reproduce the target's mean and covariance;
// (2) with 50 steps the graph output matches the exact law of the discretised recursion, which is
// itself under-dispersed (the known few-step bias), and it gets closer to the target with more steps.
func TestSamplersReproduceGaussian(t *testing.T) {
	enginetest.ForEach(t, func(t *testing.T, b backends.Backend) {
		g, s, xT := gaussianSetup(t, b)
		run := func(name string, smp interface {
			Sample(xT, cond *tensors.Tensor, opts diffusion.Options) (*tensors.Tensor, error)
			Coefs() [][]float32
		}, slack float64, exactLaw bool) {
			x, err := smp.Sample(xT, nil, diffusion.Options{Seed: 2})
			if err != nil {
				t.Fatal(err)
			}
			pm, pc := propagate(g, smp.Coefs())
			if exactLaw {
				mcheck.Check(t, name+" vs exact law of the recursion", x, pm, pc, 0)
			} else {
				mcheck.Check(t, name+" vs target", x, g.Mean, g.Cov, slack)
			}
			t.Logf("%s: exact law of the discretised recursion: cov %.4f", name, pc)
		}
		if !mcheck.IsGo(b) { // 3000 steps: too slow for the pure-Go backend
			anc, err := NewAncestral(b, nil, Model{s, AnalyticDenoiser(s, g, Eps), Eps}, AncestralOptions{})
			if err != nil {
				t.Fatal(err)
			}
			run("ancestral T=1000", anc, 0.015, false)
			anc, _ = NewAncestral(b, nil, Model{s, AnalyticDenoiser(s, g, Eps), Eps}, AncestralOptions{LargeVariance: true})
			run("ancestral T=1000 sigma^2=beta", anc, 0.015, false)
			for _, eta := range []float64{0, 1} {
				d, _ := NewDDIM(b, nil, Model{s, AnalyticDenoiser(s, g, Eps), Eps}, DDIMOptions{Steps: 1000, Spacing: schedule.SpacingLinspace, Eta: eta})
				run(fmt.Sprintf("DDIM-1000 eta=%g", eta), d, 0.015, false)
			}
		}
		for _, p := range []Param{Eps, X0, V} {
			for _, eta := range []float64{0, 1} {
				if mcheck.IsGo(b) && p != Eps && eta == 1 {
					continue
				}
				d, err := NewDDIM(b, nil, Model{s, AnalyticDenoiser(s, g, p), p}, DDIMOptions{Steps: 50, Eta: eta})
				if err != nil {
					t.Fatal(err)
				}
				run(fmt.Sprintf("DDIM-50 %s eta=%g", p, eta), d, 0, true)
			}
		}
	})
}

// The few-step bias shrinks with the step count (host computation on the exact recursion).
func TestDDIMBiasShrinksWithSteps(t *testing.T) {
	g := target(t)
	s, _ := schedule.NewDDPM(schedule.BetaLinear, 1000)
	prev := math.Inf(1)
	for _, S := range []int{10, 50, 200, 1000} {
		d := &DDIM{m: Model{s, nil, Eps}, opts: DDIMOptions{Steps: S}}
		d.ts, _ = schedule.DDIMTimesteps(schedule.SpacingLinspace, 1000, S)
		_, c := propagate(g, d.Coefs())
		e := math.Abs(c[0][0]-g.Cov[0][0]) + math.Abs(c[1][1]-g.Cov[1][1])
		if e >= prev {
			t.Errorf("DDIM-%d covariance error %.4f did not shrink (previous %.4f)", S, e, prev)
		}
		prev = e
	}
	if prev > 0.01 {
		t.Errorf("DDIM-1000 covariance error %.4f > 0.01", prev)
	}
}

// A denoiser that leaves a fraction l of the noise in x0_hat: deterministic
// DDIM-1000 inflates the output variance by the closed form
// (1 + sigma_T^2/lambda)^l (relative to the same sampler with the exact
// denoiser), most for the directions of least data variance; ancestral
// sampling with the same leak stays near 1/(1-l)^2 for every lambda.
func TestLeakInflation(t *testing.T) {
	s, _ := schedule.NewDDPM(schedule.BetaLinear, 1000)
	d := &DDIM{m: Model{s, nil, Eps}, opts: DDIMOptions{Steps: 1000}}
	d.ts, _ = schedule.DDIMTimesteps(schedule.SpacingLinspace, 1000, 1000)
	anc := &Ancestral{m: Model{s, nil, Eps}}
	lams := []float64{1, 1e-2, 1e-3}
	for _, lam := range lams {
		exactDDIM := LeakyVariance(d.Coefs(), lam, nil)
		exactAnc := LeakyVariance(anc.Coefs(), lam, nil)
		if math.Abs(exactDDIM/lam-1) > 0.15 || math.Abs(exactAnc/lam-1) > 0.25 {
			t.Errorf("lambda %g: exact denoiser gives variance %.4g (DDIM-1000), %.4g (ancestral)", lam, exactDDIM, exactAnc)
		}
	}
	rows := LeakStudy(s, lams, []float64{0.02, 0.05})
	if len(rows) != 6 {
		t.Fatalf("%d rows", len(rows))
	}
	for _, r := range rows {
		if math.Abs(r.DDIM/r.ClosedForm-1) > 0.03 {
			t.Errorf("lambda %g leak %g: DDIM-1000 inflation %.4f, closed form %.4f", r.Lambda, r.Leak, r.DDIM, r.ClosedForm)
		}
		if want := 1 / ((1 - r.Leak) * (1 - r.Leak)); math.Abs(r.Ancestral-want) > 0.06 {
			t.Errorf("lambda %g leak %g: ancestral inflation %.4f, want about %.4f", r.Lambda, r.Leak, r.Ancestral, want)
		}
		if r.Lambda <= 1e-2 && r.Leak == 0.05 && r.DDIM < 1.5*r.Ancestral {
			t.Errorf("lambda %g: DDIM inflation %.3f is not well above the ancestral %.3f", r.Lambda, r.DDIM, r.Ancestral)
		}
	}
}

// Epsilon scaling (DDIMOptions.EpsScale) with the exact denoiser of a Gaussian target: the graph's
// output follows the exact law of the recursion it defines, x_next = cA (x - b eps_hat/s)/a + cE eps_hat/s
// + sigma z, i.e. the row [t, a, b, cX + cA/a, 0, (cE - cA b/a)/s, sigma]; for s < 1 (more noise
// removed) the output variance is below that of plain DDIM; s = 1 is plain DDIM bit for bit.
func TestDDIMEpsScaleExactLaw(t *testing.T) {
	enginetest.ForEach(t, func(t *testing.T, b backends.Backend) {
		g, s, xT := gaussianSetup(t, b)
		for _, p := range []Param{Eps, V} {
			plain, err := NewDDIM(b, nil, Model{s, AnalyticDenoiser(s, g, p), p}, DDIMOptions{Steps: 50, Spacing: schedule.SpacingTrailing, Eta: 0.5})
			if err != nil {
				t.Fatal(err)
			}
			want, err := plain.Sample(xT, nil, diffusion.Options{Seed: 3})
			if err != nil {
				t.Fatal(err)
			}
			one, _ := NewDDIM(b, nil, Model{s, AnalyticDenoiser(s, g, p), p}, DDIMOptions{Steps: 50, Spacing: schedule.SpacingTrailing, Eta: 0.5, EpsScale: 1})
			got, err := one.Sample(xT, nil, diffusion.Options{Seed: 3})
			if err != nil {
				t.Fatal(err)
			}
			w, err1 := tensors.CopyFlatData[float32](want)
			o, err2 := tensors.CopyFlatData[float32](got)
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			if !slices.Equal(w, o) {
				t.Errorf("%s: EpsScale 1 changed the samples", p)
			}
			_, plainCov := propagate(g, plain.Coefs())
			for _, es := range []float64{0.97, 1.03} {
				d, err := NewDDIM(b, nil, Model{s, AnalyticDenoiser(s, g, p), p}, DDIMOptions{Steps: 50, Spacing: schedule.SpacingTrailing, Eta: 0.5, EpsScale: es})
				if err != nil {
					t.Fatal(err)
				}
				x, err := d.Sample(xT, nil, diffusion.Options{Seed: 3})
				if err != nil {
					t.Fatal(err)
				}
				pm, pc := propagate(g, EpsScaledRows(d.Coefs(), es))
				mcheck.Check(t, fmt.Sprintf("DDIM-50 %s eps/%g vs exact law", p, es), x, pm, pc, 0)
				if shrink := pc[0][0] < plainCov[0][0]; shrink != (es < 1) {
					t.Errorf("%s eps/%g: variance %.4f vs plain DDIM %.4f", p, es, pc[0][0], plainCov[0][0])
				}
			}
		}
		if _, err := NewDDIM(b, nil, Model{s, AnalyticDenoiser(s, g, Eps), Eps}, DDIMOptions{Steps: 50, EpsScale: -1}); err == nil {
			t.Error("EpsScale -1 accepted")
		}
	})
}

// Epsilon scaling with s = 1 - l undoes a constant leak l exactly (EpsScaledRows):
// the leaky network's DDIM then has the exact denoiser's output variance in every
// direction, while s = 1 keeps the leak's inflation and an s for another leak
// does not undo it.
func TestEpsScaleUndoesConstantLeak(t *testing.T) {
	s, _ := schedule.NewDDPM(schedule.BetaLinear, 1000)
	for _, spacing := range []string{schedule.SpacingTrailing, schedule.SpacingLinspace} {
		d := &DDIM{m: Model{s, nil, Eps}, opts: DDIMOptions{Steps: 50, Eta: 0}}
		d.ts, _ = schedule.DDIMTimesteps(spacing, 1000, 50)
		rows := d.Coefs()
		for _, l := range []float64{0.02, 0.05} {
			leak := func(int) float64 { return l }
			for _, lam := range []float64{1, 1e-2, 1e-3} {
				exact := LeakyVariance(rows, lam, nil)
				leaky := LeakyVariance(rows, lam, leak)
				undone := LeakyVariance(EpsScaledRows(rows, 1-l), lam, leak)
				other := LeakyVariance(EpsScaledRows(rows, 1-l/2), lam, leak)
				if math.Abs(undone/exact-1) > 1e-4 {
					t.Errorf("%s leak %g lambda %g: eps/%g gives variance %.6g, exact denoiser %.6g", spacing, l, lam, 1-l, undone, exact)
				}
				if leaky/exact < 1.01 || math.Abs(other/exact-1) < 0.005 {
					t.Errorf("%s leak %g lambda %g: leaky %.4g, half-undone %.4g vs exact %.4g", spacing, l, lam, leaky, other, exact)
				}
			}
		}
	}
}

// A zero-terminal-SNR schedule (schedule.RescaleZeroTerminalSNR, abar = 0 at the
// last timestep) with the v objective: the exact denoiser's samplers start from
// pure noise that the network sees in training too. The full ancestral chain
// reproduces the target, DDIM-50 (trailing, so the first step is the abar = 0
// timestep) follows the exact law of its recursion with eta 0 and 1, nothing
// is NaN, and epsilon scaling, undefined there, is refused.
func TestZeroTerminalSNRSamplers(t *testing.T) {
	enginetest.ForEach(t, func(t *testing.T, b backends.Backend) {
		g, _, xT := gaussianSetup(t, b)
		s, err := schedule.NewZeroTerminalSNR(schedule.BetaSqrtLinear, 1000)
		if err != nil {
			t.Fatal(err)
		}
		m := Model{s, AnalyticDenoiser(s, g, V), V}
		check := func(name string, smp interface {
			Sample(xT, cond *tensors.Tensor, opts diffusion.Options) (*tensors.Tensor, error)
			Coefs() [][]float32
		}, exactLaw bool) {
			x, err := smp.Sample(xT, nil, diffusion.Options{Seed: 4})
			if err != nil {
				t.Fatal(err)
			}
			if exactLaw {
				pm, pc := propagate(g, smp.Coefs())
				mcheck.Check(t, name+" vs exact law of the recursion", x, pm, pc, 0)
			} else {
				mcheck.Check(t, name+" vs target", x, g.Mean, g.Cov, 0.015)
			}
		}
		if !mcheck.IsGo(b) {
			anc, err := NewAncestral(b, nil, m, AncestralOptions{})
			if err != nil {
				t.Fatal(err)
			}
			check("zero-SNR ancestral T=1000", anc, false)
		}
		for _, eta := range []float64{0, 1} {
			d, err := NewDDIM(b, nil, m, DDIMOptions{Steps: 50, Spacing: schedule.SpacingTrailing, Eta: eta})
			if err != nil {
				t.Fatal(err)
			}
			if ts := d.Timesteps(); ts[0] != 999 {
				t.Fatalf("trailing DDIM-50 starts at %d, want 999", ts[0])
			}
			check(fmt.Sprintf("zero-SNR DDIM-50 trailing eta=%g", eta), d, true)
		}
		if _, err := NewDDIM(b, nil, m, DDIMOptions{Steps: 50, Spacing: schedule.SpacingTrailing, EpsScale: 1.01}); err == nil || !strings.Contains(err.Error(), "abar = 0") {
			t.Errorf("eps-scale on a zero-terminal-SNR schedule: %v", err)
		}
	})
}

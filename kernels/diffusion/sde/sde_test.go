package sde

import (
	"math"
	"testing"

	"github.com/dmseg/dmseg/kernels/diffusion"
	"github.com/dmseg/dmseg/kernels/diffusion/analytic"
	"github.com/dmseg/dmseg/kernels/diffusion/internal/mcheck"
	"github.com/dmseg/dmseg/kernels/diffusion/schedule"
	"github.com/dmseg/dmseg/kernels/engine/enginetest"
	"github.com/gomlx/gomlx/backends"
)

// The VP-SDE's abar(s) at s = (i+1)/T tracks the discrete linear DDPM schedule it is the limit of.
func TestVPMatchesDDPMLimit(t *testing.T) {
	vp := FromDDPMLinear(1000)
	s, _ := schedule.NewDDPM(schedule.BetaLinear, 1000)
	for _, i := range []int{0, 99, 499, 999} {
		c := vp.AlphaBar(float64(i+1) / 1000)
		if math.Abs(c-s.AlphasCumprod[i]) > 2e-3 {
			t.Errorf("abar(%d/1000) = %.5f, discrete %.5f", i+1, c, s.AlphasCumprod[i])
		}
	}
}

// Reverse Euler-Maruyama and the probability-flow ODE, driven by the exact score of a Gaussian target,
// reproduce its mean and covariance.
func TestSDESamplersReproduceGaussian(t *testing.T) {
	enginetest.ForEach(t, func(t *testing.T, b backends.Backend) {
		g, _ := analytic.NewGaussian(mcheck.Mean, mcheck.Cov)
		vp := FromDDPMLinear(1000)
		n, steps, slack := 20000, 1000, 0.02
		if mcheck.IsGo(b) {
			n, steps, slack = 4000, 250, 0.05
		}
		x1, _ := diffusion.GaussianNoise(b, 11, n, 2)
		for _, pf := range []bool{false, true} {
			smp, err := NewSampler(b, nil, vp, AnalyticDenoiser(vp, g), Options{Steps: steps, ProbabilityFlow: pf})
			if err != nil {
				t.Fatal(err)
			}
			x, err := smp.Sample(x1, nil, diffusion.Options{Seed: 4})
			if err != nil {
				t.Fatal(err)
			}
			name := "reverse SDE (Euler-Maruyama)"
			if pf {
				name = "probability-flow ODE (Euler)"
			}
			mcheck.Check(t, name, x, g.Mean, g.Cov, slack)
		}
	})
}

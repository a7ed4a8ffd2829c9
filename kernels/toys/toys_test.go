package toys

import (
	"math"
	"testing"
	"time"

	"github.com/dmseg/dmseg/kernels/diffusion"
	"github.com/dmseg/dmseg/kernels/diffusion/bbdm"
	"github.com/dmseg/dmseg/kernels/diffusion/ddpm"
	"github.com/dmseg/dmseg/kernels/diffusion/schedule"
	"github.com/dmseg/dmseg/kernels/engine/enginetest"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

func TestDatasets(t *testing.T) {
	for _, name := range Datasets {
		a, err := Sample(name, 1000, 1)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := Sample(name, 1000, 1)
		var m, v [2]float64
		for i := 0; i < 1000; i++ {
			if a[2*i] != b[2*i] {
				t.Fatalf("%s not deterministic", name)
			}
			for j := 0; j < 2; j++ {
				m[j] += float64(a[2*i+j]) / 1000
				v[j] += float64(a[2*i+j]*a[2*i+j]) / 1000
			}
		}
		for j := 0; j < 2; j++ {
			sd := math.Sqrt(v[j] - m[j]*m[j])
			if math.Abs(m[j]) > 0.4 || sd < 0.4 || sd > 1.6 {
				t.Errorf("%s axis %d: mean %.3f sd %.3f, want centred with roughly unit spread", name, j, m[j], sd)
			}
		}
	}
	if _, err := Sample("spiral", 1, 1); err == nil {
		t.Error("unknown dataset accepted")
	}
}

// nearCenters is the fraction of points within 0.35 of one of the eight Gaussian centres (sd 0.1).
func nearCenters(x *tensors.Tensor) float64 {
	v := tensors.MustCopyFlatData[float32](x)
	n := len(v) / 2
	hit := 0
	for i := 0; i < n; i++ {
		for k := 0; k < 8; k++ {
			a := 2 * math.Pi * float64(k) / 8
			if math.Hypot(float64(v[2*i])-1.5*math.Cos(a), float64(v[2*i+1])-1.5*math.Sin(a)) < 0.35 {
				hit++
				break
			}
		}
	}
	return float64(hit) / float64(n)
}

// A small MLP trained for a few seconds as a DDPM, sampled with DDIM, lands on the eight Gaussians;
// a bridge trained from moons to the eight Gaussians carries moon points onto them.
func TestToyDDPMAndBridgeLearn(t *testing.T) {
	b := enginetest.XLA(t)
	data, _ := Sample("8gaussians", 4000, 2)
	s, _ := schedule.NewDDPM(schedule.BetaLinear, 1000)
	ctx := context.New()
	m := ddpm.Model{Sched: s, Denoiser: MLP(MLPConfig{TimeScale: 999}), Param: ddpm.Eps}
	start := time.Now()
	res, err := TrainDDPM(b, ctx, m, data, TrainConfig{Steps: 3000, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("DDPM toy: 3000 steps in %v, last loss %.4f", time.Since(start), res.LastLoss)
	d, err := ddpm.NewDDIM(b, ctx, m, ddpm.DDIMOptions{Steps: 50})
	if err != nil {
		t.Fatal(err)
	}
	xT, _ := diffusion.GaussianNoise(b, 3, 2000, 2)
	x, err := d.Sample(xT, nil, diffusion.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if f, f0 := nearCenters(x), nearCenters(xT); f < 0.75 || f0 > 0.3 {
		t.Errorf("DDIM samples near the 8 centres: %.2f (noise: %.2f), want >= 0.75", f, f0)
	} else {
		t.Logf("DDIM-50 samples near the 8 centres: %.2f (noise %.2f)", f, f0)
	}

	moons, _ := Sample("moons", 4000, 4)
	bs, _ := schedule.NewBBDM(schedule.MtLinear, 1000, 1)
	bctx := context.New()
	bm := bbdm.Model{Sched: bs, Denoiser: MLP(MLPConfig{TimeScale: 999}), Objective: bbdm.Grad, CondIsY: true}
	start = time.Now()
	if _, err := TrainBridge(b, bctx, bm, data, moons, TrainConfig{Steps: 3000, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	t.Logf("bridge toy: 3000 steps in %v", time.Since(start))
	smp, err := bbdm.NewSampler(b, bctx, bm, bbdm.SamplerOptions{Steps: 100, Eta: 1})
	if err != nil {
		t.Fatal(err)
	}
	y, _ := Tensor("moons", 2000, 7)
	out, err := smp.Sample(y, diffusion.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if f, f0 := nearCenters(out), nearCenters(y); f < 0.8 || f0 > 0.3 {
		t.Errorf("bridge samples near the 8 centres: %.2f (moons: %.2f), want >= 0.8", f, f0)
	} else {
		t.Logf("bridge samples near the 8 centres: %.2f (moons %.2f)", f, f0)
	}
}

// Noised against the closed form of q(x_t|x_0) (eq. 2): per coordinate, the
// mean is sqrt(abar_t) mean(x_0) and the variance abar_t var(x_0) + 1 - abar_t,
// within Monte Carlo error on 40,000 points, at several t; t outside the
// schedule is an error.
func TestNoisedMoments(t *testing.T) {
	s, err := schedule.NewDDPM(schedule.BetaLinear, 1000)
	if err != nil {
		t.Fatal(err)
	}
	const n = 40000
	x0, _ := Sample("8gaussians", n, 5)
	mv := func(p []float32, c int) (m, v float64) {
		for i := c; i < len(p); i += 2 {
			m += float64(p[i])
		}
		m /= n
		for i := c; i < len(p); i += 2 {
			v += (float64(p[i]) - m) * (float64(p[i]) - m)
		}
		return m, v / n
	}
	for _, ti := range []int{0, 100, 400, 999} {
		xt, err := Noised(x0, s, ti, 9)
		if err != nil {
			t.Fatal(err)
		}
		ab := s.AlphasCumprod[ti]
		for c := 0; c < 2; c++ {
			m0, v0 := mv(x0, c)
			m, v := mv(xt, c)
			wm, wv := math.Sqrt(ab)*m0, ab*v0+1-ab
			if math.Abs(m-wm) > 4*math.Sqrt(wv/n) || math.Abs(v-wv) > 0.03*wv {
				t.Errorf("t=%d coord %d: mean %.4f var %.4f, closed form %.4f %.4f", ti, c, m, v, wm, wv)
			}
		}
	}
	if _, err := Noised(x0, s, 1000, 1); err == nil {
		t.Error("t = T accepted")
	}
}

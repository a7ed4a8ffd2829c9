package ddpm

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dmseg/dmseg/kernels/diffusion"
	"github.com/dmseg/dmseg/kernels/diffusion/internal/mcheck"
	"github.com/dmseg/dmseg/kernels/diffusion/schedule"
	"github.com/dmseg/dmseg/kernels/engine/enginetest"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// samplesOfTarget draws n points of the 2-D target on the host (Cholesky of the covariance).
func samplesOfTarget(n int, seed uint64) *tensors.Tensor {
	r := rand.New(rand.NewPCG(seed, 1))
	c := mcheck.Cov
	l00 := math.Sqrt(c[0][0])
	l10 := c[1][0] / l00
	l11 := math.Sqrt(c[1][1] - l10*l10)
	v := make([]float32, 2*n)
	for i := 0; i < n; i++ {
		z0, z1 := r.NormFloat64(), r.NormFloat64()
		v[2*i] = float32(mcheck.Mean[0] + l00*z0)
		v[2*i+1] = float32(mcheck.Mean[1] + l10*z0 + l11*z1)
	}
	return tensors.FromFlatDataAndDimensions(v, n, 2)
}

// q_sample from one x_0 has mean sqrt(abar_t) x_0 and variance 1-abar_t (thesis eq. 2).
func TestQSampleMoments(t *testing.T) {
	enginetest.ForEach(t, func(t *testing.T, b backends.Backend) {
		s, _ := schedule.NewDDPM(schedule.BetaCosine, 1000)
		const n = 20000
		ti := 300
		x0 := []float64{2, -1}
		out := MustExecOnce(b, func(g *Graph) *Node {
			_, eps := RandomNormal(RNGStateFromSeedForGraph(g, 5), shapesF32(n, 2))
			x := BroadcastToDims(Const(g, [][]float32{{2, -1}}), n, 2)
			tt := Scalar(g, dtypes.Float32, float64(ti))
			return QSample(s, x, BroadcastToDims(tt, n), eps)
		})
		ab := s.AlphasCumprod[ti]
		cov := [][]float64{{1 - ab, 0}, {0, 1 - ab}}
		mcheck.Check(t, "q_sample", out, []float64{math.Sqrt(ab) * x0[0], math.Sqrt(ab) * x0[1]}, cov, 0)
	})
}

// L_simple evaluated with the Bayes-optimal network equals its closed-form minimum
// (1/D) sum_j a^2 lambda_j/(a^2 lambda_j + b^2); a network off by a constant is worse by exactly that constant^2.
func TestLSimpleAtOptimum(t *testing.T) {
	enginetest.ForEach(t, func(t *testing.T, b backends.Backend) {
		g := target(t)
		s, _ := schedule.NewDDPM(schedule.BetaLinear, 1000)
		const n = 20000
		x0 := samplesOfTarget(n, 9)
		for _, ti := range []int{50, 400} {
			for _, shift := range []float64{0, 0.1} {
				m := Model{s, AnalyticDenoiser(s, g, Eps), Eps}
				inner := m.Denoiser
				m.Denoiser = func(ctx *context.Context, xt, tt, cond *Node) *Node {
					return AddScalar(inner(ctx, xt, tt, cond), shift)
				}
				loss := context.MustExecOnce(b, context.New(), func(ctx *context.Context, x0 *Node) *Node {
					_, eps := RandomNormal(RNGStateFromSeedForGraph(x0.Graph(), 7), x0.Shape())
					tt := BroadcastToDims(Scalar(x0.Graph(), dtypes.Float32, float64(ti)), n)
					return LossAt(ctx, m, x0, nil, tt, eps)
				}, x0)
				got := float64(tensors.MustCopyFlatData[float32](loss)[0])
				ab := s.AlphasCumprod[ti]
				want := shift * shift
				for _, l := range g.Lambda {
					want += ab * l / (ab*l + 1 - ab) / 2
				}
				if math.Abs(got-want) > 0.03*want {
					t.Errorf("t=%d shift=%g: L_simple = %.4f, closed form %.4f", ti, shift, got, want)
				}
			}
		}
	})
}

// DDIM with eta = 0 is deterministic (independent of the sampler seed), and encoding
// then decoding a data batch returns it up to the ODE discretisation error.
func TestDDIMDeterminismAndRoundTrip(t *testing.T) {
	enginetest.ForEach(t, func(t *testing.T, b backends.Backend) {
		g := target(t)
		s, _ := schedule.NewDDPM(schedule.BetaLinear, 1000)
		d, err := NewDDIM(b, nil, Model{s, AnalyticDenoiser(s, g, Eps), Eps}, DDIMOptions{Steps: 100, Spacing: schedule.SpacingLinspace})
		if err != nil {
			t.Fatal(err)
		}
		xT, _ := diffusion.GaussianNoise(b, 3, 500, 2)
		x1, _ := d.Sample(xT, nil, diffusion.Options{Seed: 1})
		x2, _ := d.Sample(xT, nil, diffusion.Options{Seed: 99})
		v1, v2 := tensors.MustCopyFlatData[float32](x1), tensors.MustCopyFlatData[float32](x2)
		for i := range v1 {
			if v1[i] != v2[i] {
				t.Fatalf("eta=0 DDIM depends on the seed: %g vs %g at %d", v1[i], v2[i], i)
			}
		}
		data := samplesOfTarget(500, 4)
		dv := tensors.MustCopyFlatData[float32](data)
		var errs []float64
		var lat *tensors.Tensor
		for _, S := range []int{50, 200} {
			d, _ := NewDDIM(b, nil, Model{s, AnalyticDenoiser(s, g, Eps), Eps}, DDIMOptions{Steps: S, Spacing: schedule.SpacingLinspace})
			var err error
			lat, err = d.Encode(data, nil, diffusion.Options{})
			if err != nil {
				t.Fatal(err)
			}
			rec, _ := d.Sample(lat, nil, diffusion.Options{})
			rv := tensors.MustCopyFlatData[float32](rec)
			var maxErr float64
			for i := range dv {
				maxErr = math.Max(maxErr, math.Abs(float64(dv[i]-rv[i])))
			}
			t.Logf("DDIM-%d encode/decode max error %.4f", S, maxErr)
			errs = append(errs, maxErr)
		}
		// First-order discretisation: 4x the steps, about 1/4 the error (0.27 and 0.07 here).
		if errs[1] > errs[0]/2.5 || errs[1] > 0.1 {
			t.Errorf("DDIM round trip errors %.4f (50 steps), %.4f (200 steps): not first-order convergent", errs[0], errs[1])
		}
		// The latent of target data is ~N(0, I).
		mcheck.Check(t, "DDIM latent", lat, []float64{0, 0}, [][]float64{{1, 0}, {0, 1}}, 0.05)
	})
}

// LossAtX0 with a network that outputs the exact target of its
// parameterisation must give zero loss and return x0_hat = x0 (eq7 inverts
// the target at every t).
func TestLossAtX0ExactNetwork(t *testing.T) {
	enginetest.ForEach(t, func(t *testing.T, b backends.Backend) {
		s, _ := schedule.NewDDPM(schedule.BetaLinear, 1000)
		const n = 6
		x0v := make([]float32, n*4)
		for i := range x0v {
			x0v[i] = float32(i%5)/2 - 1
		}
		for _, p := range []Param{Eps, X0, V} {
			res := context.MustExecOnce(b, context.New(), func(ctx *context.Context, x0 *Node) *Node {
				g := x0.Graph()
				_, eps := RandomNormal(RNGStateFromSeedForGraph(g, 3), x0.Shape())
				tt := Const(g, []float32{0, 1, 250, 500, 900, 999})
				a, bb := coefsAt(s, tt, x0.Rank())
				m := Model{s, func(ctx *context.Context, xt, _, _ *Node) *Node { return Target(p, x0, eps, a, bb) }, p}
				mse, x0Hat := LossAtX0(ctx, m, x0, nil, tt, eps)
				return Stack([]*Node{mse, ReduceAllMax(Abs(Sub(x0Hat, x0)))}, 0)
			}, tensors.FromFlatDataAndDimensions(x0v, n, 2, 2, 1))
			v := tensors.MustCopyFlatData[float32](res)
			mse, dx := v[0], v[1]
			if mse != 0 || dx > 2e-3 {
				t.Errorf("%s: exact network gives L_simple %g and max |x0_hat - x0| %g, want 0 and ~0", p, mse, dx)
			}
		}
	})
}

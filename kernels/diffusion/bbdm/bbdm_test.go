package bbdm

import (
	"fmt"
	"math"
	"testing"

	"github.com/dmseg/dmseg/kernels/diffusion/analytic"
	"github.com/dmseg/dmseg/kernels/diffusion/internal/mcheck"
	"github.com/dmseg/dmseg/kernels/diffusion/schedule"
	"github.com/dmseg/dmseg/kernels/engine/enginetest"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/dmseg/dmseg/kernels/diffusion"
)

var yPoint = []float32{3, -2}

func yTensor(n int) *tensors.Tensor {
	v := make([]float32, 2*n)
	for i := 0; i < n; i++ {
		copy(v[2*i:], yPoint)
	}
	return tensors.FromFlatDataAndDimensions(v, n, 2)
}

// propagate is the exact law (host, float64) of the sampler recursion with the exact denoiser, from x_T = y.
func propagate(g *analytic.Gaussian, rows [][]float32) (mean []float64, cov [][]float64) {
	D := len(g.Mean)
	rot := func(v []float64) []float64 { // into eigen-coordinates
		o := make([]float64, D)
		for j := 0; j < D; j++ {
			for i := 0; i < D; i++ {
				o[j] += g.U[i][j] * v[i]
			}
		}
		return o
	}
	me := rot(g.Mean)
	ye := rot([]float64{float64(yPoint[0]), float64(yPoint[1])})
	m := append([]float64(nil), ye...)
	v := make([]float64, D)
	for _, r := range rows {
		mt, sd, mn, kx, sig := float64(r[1]), float64(r[2]), float64(r[3]), float64(r[4]), float64(r[5])
		a, b := 1-mt, sd
		for j := 0; j < D; j++ {
			lam := g.Lambda[j]
			C := a*a*lam + b*b
			// x0_hat = me + a lam/C (x - mt y - a me) = h x + c0
			h := a * lam / C
			c0 := me[j] + h*(-mt*ye[j]-a*me[j])
			// x_n = (1-mn) x0 + mn y + kx (x - (1-mt) x0 - mt y) + sig z
			k := (1-mn)*h + kx*(1-(1-mt)*h)
			c := (1-mn)*c0 + mn*ye[j] + kx*(-(1-mt)*c0-mt*ye[j])
			m[j] = k*m[j] + c
			v[j] = k*k*v[j] + sig*sig
		}
	}
	return g.FromEigenbasis(m, v)
}

// With the exact denoiser and eta = 1, the official sampler carries the point y onto the target
// x_0 ~ N(mu, Sigma): full chain (all objectives reach the target) and skip-step (matches the exact law
// of its recursion); eta = 0 (official semantics) is deterministic given y: zero variance, not the target.
func TestBridgeSamplerReachesTarget(t *testing.T) {
	enginetest.ForEach(t, func(t *testing.T, b backends.Backend) {
		g, _ := analytic.NewGaussian(mcheck.Mean, mcheck.Cov)
		s, _ := schedule.NewBBDM(schedule.MtLinear, 1000, 1)
		n := 20000
		if mcheck.IsGo(b) {
			n = 4000
		}
		y := yTensor(n)
		run := func(name string, o Objective, steps int, eta float64, exact bool) *tensors.Tensor {
			smp, err := NewSampler(b, nil, Model{s, AnalyticDenoiser(s, g, o), o, true}, SamplerOptions{Steps: steps, Eta: eta})
			if err != nil {
				t.Fatal(err)
			}
			x, err := smp.Sample(y, diffusion.Options{Seed: 5})
			if err != nil {
				t.Fatal(err)
			}
			pm, pc := propagate(g, smp.Coefs())
			t.Logf("%s: exact law of the recursion: mean %.4f cov %.4f", name, pm, pc)
			if exact {
				mcheck.Check(t, name+" vs exact law", x, pm, pc, 1e-3) // float32 rounding when the law is a point
			} else {
				mcheck.Check(t, name+" vs target", x, g.Mean, g.Cov, 0.015)
			}
			return x
		}
		if !mcheck.IsGo(b) {
			for _, o := range []Objective{Grad, YSubX} {
				run("full chain "+o.String(), o, 1000, 1, false)
			}
		}
		for _, o := range []Objective{Grad, Noise} {
			run(fmt.Sprintf("skip-step 200 %s", o), o, 200, 1, true)
		}
		x := run("skip-step 200 eta=0", Grad, 200, 0, true)
		_, c := mcheck.Moments(x)
		if c[0][0] > 1e-6 || c[1][1] > 1e-6 {
			t.Errorf("eta=0 bridge sampling is not deterministic given y: cov %v", c)
		}
	})
}

// q_sample gives the bridge marginals N((1-m_t) x_0 + m_t y, delta_t); the L2/L1 losses of a zero network
// equal E[target^2] and E|target| in closed form (grad objective, fixed x_0 and y).
func TestBridgeForwardAndLoss(t *testing.T) {
	enginetest.ForEach(t, func(t *testing.T, b backends.Backend) {
		s, _ := schedule.NewBBDM(schedule.MtSin, 1000, 1)
		const n = 40000
		ti := 700
		x0v, yv := []float32{0.5, -1}, []float32{-1, 2}
		for _, l1 := range []bool{false, true} {
			outs := context.MustExecOnceN(b, context.New(), func(ctx *context.Context, g *Graph) []*Node {
				_, eps := RandomNormal(RNGStateFromSeedForGraph(g, 3), shapes.Make(dtypes.Float32, n, 2))
				x0 := BroadcastToDims(Const(g, [][]float32{x0v}), n, 2)
				y := BroadcastToDims(Const(g, [][]float32{yv}), n, 2)
				tt := BroadcastToDims(Scalar(g, dtypes.Float32, float64(ti)), n)
				zero := func(_ *context.Context, xt, _, _ *Node) *Node { return ZerosLike(xt) }
				loss := LossAt(ctx, Model{s, zero, Grad, false}, x0, y, tt, eps, l1)
				return []*Node{QSample(s, x0, y, tt, eps), loss}
			})
			m, d := s.M[ti], s.Delta[ti]
			want := []float64{(1-m)*float64(x0v[0]) + m*float64(yv[0]), (1-m)*float64(x0v[1]) + m*float64(yv[1])}
			mcheck.Check(t, "bridge marginal", outs[0], want, [][]float64{{d, 0}, {0, d}}, 0)
			got := float64(tensors.MustCopyFlatData[float32](outs[1])[0])
			var exp float64
			for j := 0; j < 2; j++ {
				mu, sd := m*float64(yv[j]-x0v[j]), math.Sqrt(d)
				if l1 { // E|N(mu, sd^2)|
					exp += sd*math.Sqrt(2/math.Pi)*math.Exp(-mu*mu/(2*sd*sd)) + mu*math.Erf(mu/(sd*math.Sqrt2))
				} else {
					exp += mu*mu + sd*sd
				}
			}
			exp /= 2
			if math.Abs(got-exp) > 0.01*exp {
				t.Errorf("l1=%v: loss %.5f, closed form %.5f", l1, got, exp)
			}
		}
	})
}

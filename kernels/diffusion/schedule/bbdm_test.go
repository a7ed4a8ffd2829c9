package schedule

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestBBDMHandValues(t *testing.T) {
	s, _ := NewBBDM(MtLinear, 1000, 1)
	near(t, "m[0]", s.M[0], 0.001, 1e-15)
	near(t, "m[999]", s.M[999], 0.999, 1e-15)
	near(t, "delta[0]", s.Delta[0], 2*(0.001-0.001*0.001), 1e-15)
	near(t, "max delta", s.Delta[499], 2*(s.M[499]-s.M[499]*s.M[499]), 1e-15)
	near(t, "delta_cond[0] = delta[0]", s.DeltaCond[0], s.Delta[0], 1e-15)
	near(t, "posterior var[0]", s.PosteriorVariance[0], 0, 0)
	// At t=0 the update is x_{-1} = x_0 - grad prediction = x0_hat.
	near(t, "c_xt[0]", s.CXt[0], 1, 1e-12)
	near(t, "c_yt[0]", s.CYt[0], 0, 1e-12)
	near(t, "c_et[0]", s.CEt[0], 1, 1e-12)
	e, _ := NewBBDM(MtSin, 1000, 2)
	near(t, "sin m[0]", e.M[0], math.Pow(1.0075, -1000), 1e-18)
	near(t, "sin m[500]", e.M[500], math.Pow(1.0075, 500*1000.0/999-1000), 1e-12)
	near(t, "sin m[999] overridden", e.M[999], 0.999, 0)
	near(t, "max_var scales delta", e.Delta[300], 4*(e.M[300]-e.M[300]*e.M[300]), 1e-15)
	if _, err := NewBBDM("cosine", 10, 1); err == nil {
		t.Error("unknown m_t accepted")
	}
}

// The Markov transitions q(x_t|x_{t-1},y) = N(r x_{t-1} + (m_t - r m_{t-1}) y, delta_{t|t-1}), r = (1-m_t)/(1-m_{t-1}),
// iterated from x_0, reproduce the marginals N((1-m_t) x_0 + m_t y, delta_t).
func TestBBDMMarkovChainMarginals(t *testing.T) {
	for _, mt := range MtNames {
		s, _ := NewBBDM(mt, 200, 1)
		rng := rand.New(rand.NewPCG(5, 6))
		const n = 20000
		x0, y := -0.8, 1.3
		xs := make([]float64, n)
		for j := range xs { // t = 0 from x_0 (m_{-1}=0, delta_{-1}=0)
			xs[j] = (1-s.M[0])*x0 + s.M[0]*y + math.Sqrt(s.Delta[0])*rng.NormFloat64()
		}
		for ti := 1; ti < s.T; ti++ {
			r := (1 - s.M[ti]) / (1 - s.M[ti-1])
			c := s.M[ti] - r*s.M[ti-1]
			sd := math.Sqrt(s.DeltaCond[ti])
			for j := range xs {
				xs[j] = r*xs[j] + c*y + sd*rng.NormFloat64()
			}
			if ti == 20 || ti == 100 || ti == s.T-1 {
				m, v := meanVar(xs)
				wv := s.Delta[ti]
				near(t, mt+" bridge mean", m, (1-s.M[ti])*x0+s.M[ti]*y, 5*math.Sqrt(wv/n))
				near(t, mt+" bridge var", v, wv, 5*wv*math.Sqrt(2.0/n))
			}
		}
	}
}

// The official update at n = t-1 with eta = 1 is the Bayes posterior q(x_{t-1}|x_t,x_0,y), checked by sampling,
// and the paper's coefficients give the same mean with a MINUS sign on c_et.
func TestBBDMPosteriorAndPaperCoefficients(t *testing.T) {
	s, _ := NewBBDM(MtLinear, 1000, 1)
	rng := rand.New(rand.NewPCG(7, 8))
	x0, y := 0.4, -1.1
	for _, ti := range []int{1, 5, 500, 998} {
		sigma2, kx := s.StepCoefs(ti, ti-1)
		near(t, "official sigma2 = posterior variance", sigma2, s.PosteriorVariance[ti], 1e-12)
		// Bayes by sampling.
		const n = 200000
		xp, xt := make([]float64, n), make([]float64, n)
		r := (1 - s.M[ti]) / (1 - s.M[ti-1])
		for j := range xp {
			xp[j] = (1-s.M[ti-1])*x0 + s.M[ti-1]*y + math.Sqrt(s.Delta[ti-1])*rng.NormFloat64()
			xt[j] = r*xp[j] + (s.M[ti]-r*s.M[ti-1])*y + math.Sqrt(s.DeltaCond[ti])*rng.NormFloat64()
		}
		a, _, rv := regress(xt, xp)
		_, vx := meanVar(xt)
		near(t, "bayes slope = kx", a, kx, 6*math.Sqrt(sigma2/n/vx))
		near(t, "bayes residual var", rv, sigma2, 6*sigma2*math.Sqrt(2.0/n))
		// Official mean versus the paper's coefficients, at random (x_t, y, x0), with g = x_t - x_0 the "grad" target.
		for k := 0; k < 5; k++ {
			xtv, yv, x0v := rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()
			off := (1-s.M[ti-1])*x0v + s.M[ti-1]*yv + kx*(xtv-(1-s.M[ti])*x0v-s.M[ti]*yv)
			g := xtv - x0v
			minus := s.CXt[ti]*xtv + s.CYt[ti]*yv - s.CEt[ti]*g
			plus := s.CXt[ti]*xtv + s.CYt[ti]*yv + s.CEt[ti]*g
			near(t, "paper mean with -c_et", minus, off, 1e-9)
			if math.Abs(plus-off) < 1e-6 {
				t.Errorf("the +c_et form also matches at t=%d: the sign check cannot discriminate", ti)
			}
		}
	}
}

func TestBBDMTimesteps(t *testing.T) {
	ts, err := BBDMTimesteps(1000, 200)
	if err != nil {
		t.Fatal(err)
	}
	// step 999/198; index 22 is 999 - 111 = 888 exactly (float64 gives 887.9999..., float32 rounding 888).
	if ts[0] != 999 || ts[1] != 993 || ts[22] != 888 || ts[len(ts)-2] != 1 || ts[len(ts)-1] != 0 {
		t.Errorf("BBDM timesteps T=1000 S=200: %v ... %v", ts[:3], ts[len(ts)-3:])
	}
	if len(ts) != 200 {
		t.Errorf("BBDM T=1000 S=200 gives %d steps, want 200", len(ts))
	}
	// torch.arange(999, 1, step=-999/35).long() followed by 1, 0 (torch 1.13).
	want37 := []int{999, 970, 941, 913, 884, 856, 827, 799, 770, 742, 713, 685, 656, 627, 599, 570, 542, 513, 485, 456,
		428, 399, 371, 342, 313, 285, 256, 228, 199, 171, 142, 114, 85, 57, 28, 1, 0}
	got37, _ := BBDMTimesteps(1000, 37)
	if len(got37) != len(want37) {
		t.Fatalf("T=1000 S=37: %v, want %v", got37, want37)
	}
	for i := range want37 {
		if got37[i] != want37[i] {
			t.Fatalf("T=1000 S=37: %v, want %v", got37, want37)
		}
	}
	// T=200, S=199: the step 199/197 < 1 makes torch's list end ..., 3, 2, 1 and then the appended 1, 0.
	dup, _ := BBDMTimesteps(200, 199)
	if n := len(dup); n != 199 || dup[0] != 199 || dup[1] != 197 || dup[n-3] != 1 || dup[n-2] != 1 || dup[n-1] != 0 {
		t.Errorf("T=200 S=199: %v", dup)
	}
	full, _ := BBDMTimesteps(10, 10)
	if len(full) != 10 || full[0] != 9 || full[9] != 0 {
		t.Errorf("full chain: %v", full)
	}
	if _, err := BBDMTimesteps(1000, 2); err == nil {
		t.Error("S=2 accepted")
	}
}

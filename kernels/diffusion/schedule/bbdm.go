package schedule

import (
	"fmt"
	"math"
)

// BBDM m_t schedule names accepted by NewBBDM.
const (
	// MtLinear is m_t = linspace(0.001, 0.999, T).
	MtLinear = "linear"
	// MtSin is the official BBDM code's "sin" option, which is in fact exponential:
	// m = 1.0075^linspace(0, T, T) / 1.0075^T, then the last value set to 0.999.
	MtSin = "sin"
)

// MtNames lists the valid m_t schedule names.
var MtNames = []string{MtLinear, MtSin}

// BBDM holds the Brownian-bridge schedule of Li et al. (2023), indexed by the
// 0-based timestep t = 0..T-1 as the official code, with m_{-1} = delta_{-1} = 0.
type BBDM struct {
	MtName string
	T      int
	MaxVar float64 // s: delta_t = 2 s (m_t - m_t^2)
	// M is m_t: q(x_t|x_0,y) = N((1-m_t) x_0 + m_t y, delta_t I).
	M []float64
	// Delta is delta_t = 2 s (m_t - m_t^2) (the official code's variance_t).
	Delta []float64
	// DeltaCond is delta_{t|t-1} = delta_t - delta_{t-1} (1-m_t)^2/(1-m_{t-1})^2, the variance of q(x_t|x_{t-1},y).
	DeltaCond []float64
	// PosteriorVariance is delta-tilde_t = delta_{t|t-1} delta_{t-1}/delta_t, the variance of q(x_{t-1}|x_t,x_0,y).
	PosteriorVariance []float64
	// CXt, CYt, CEt are the paper's mean coefficients (thesis section 1.3):
	// mean of q(x_{t-1}|x_t,x_0,y) = c_xt x_t + c_yt y - c_et (m_t (y - x_0) + sqrt(delta_t) eps),
	// i.e. the sampler subtracts c_et times the "grad" prediction (x_t - x_0). The thesis prints
	// "+ c_et" in the mean and "- c_et" in Algorithm 2; the minus sign is the correct one (tested).
	CXt, CYt, CEt []float64
}

// NewBBDM builds the named m_t schedule with T steps and maximum-variance scale maxVar (default 1).
//
// thesis: eq4
func NewBBDM(mt string, T int, maxVar float64) (*BBDM, error) {
	if T < 2 || T > MaxTimesteps {
		return nil, fmt.Errorf("schedule: BBDM needs 2..%d timesteps, got %d", MaxTimesteps, T)
	}
	if !(maxVar > 0) {
		return nil, fmt.Errorf("schedule: BBDM max_var must be > 0, got %g", maxVar)
	}
	m := make([]float64, T)
	switch mt {
	case MtLinear:
		for i := range m {
			m[i] = lin(0.001, 0.999, i, T)
		}
	case MtSin:
		for i := range m {
			m[i] = math.Pow(1.0075, lin(0, float64(T), i, T))
		}
		last := m[T-1]
		for i := range m {
			m[i] /= last
		}
		m[T-1] = 0.999
	default:
		return nil, fmt.Errorf("schedule: unknown BBDM m_t schedule %q (want one of %v)", mt, MtNames)
	}
	s := &BBDM{MtName: mt, T: T, MaxVar: maxVar, M: m}
	s.Delta = make([]float64, T)
	s.DeltaCond = make([]float64, T)
	s.PosteriorVariance = make([]float64, T)
	s.CXt, s.CYt, s.CEt = make([]float64, T), make([]float64, T), make([]float64, T)
	for t := range m {
		s.Delta[t] = 2 * maxVar * (m[t] - m[t]*m[t])
	}
	for t := range m {
		mt, dt := m[t], s.Delta[t]
		mp, dp := s.MAt(t-1), s.DeltaAt(t-1)
		r := (1 - mt) / (1 - mp)
		s.DeltaCond[t] = dt - dp*r*r
		s.PosteriorVariance[t] = s.DeltaCond[t] * dp / dt
		s.CXt[t] = dp/dt*r + s.DeltaCond[t]/dt*(1-mp)
		s.CYt[t] = mp - mt*r*dp/dt
		s.CEt[t] = (1 - mp) * s.DeltaCond[t] / dt
	}
	return s, nil
}

// MAt is m_t, with m_{-1} = 0.
func (s *BBDM) MAt(t int) float64 {
	if t < 0 {
		return 0
	}
	return s.M[t]
}

// DeltaAt is delta_t, with delta_{-1} = 0.
func (s *BBDM) DeltaAt(t int) float64 {
	if t < 0 {
		return 0
	}
	return s.Delta[t]
}

// StepCoefs returns the coefficients of the official BBDM update from timestep
// t to timestep n < t:
//
//	sigma2 = (delta_t - delta_n (1-m_t)^2/(1-m_n)^2) delta_n/delta_t
//	x_n = (1-m_n) x0_hat + m_n y + kx (x_t - (1-m_t) x0_hat - m_t y) + eta sqrt(sigma2) z,
//	kx = sqrt((delta_n - sigma2)/delta_t).
//
// With eta = 1 it is the exact bridge posterior q(x_n|x_t,x_0,y). The official
// code uses eta only on the added noise (sigma2 inside kx is not scaled), so for
// eta < 1 the marginals are NOT preserved (unlike DDIM); this reproduces it.
func (s *BBDM) StepCoefs(t, n int) (sigma2, kx float64) {
	mt, mn := s.M[t], s.M[n]
	dt, dn := s.Delta[t], s.Delta[n]
	r := (1 - mt) / (1 - mn)
	sigma2 = (dt - dn*r*r) * dn / dt
	kx = math.Sqrt(math.Max(dn-sigma2, 0) / dt)
	return
}

// BBDMTimesteps returns the timesteps visited by the official BBDM sampler, in
// sampling order. With S >= T (no skipping) it is T-1, T-2, ..., 0. Otherwise it
// emulates torch.arange(T-1, 1, step=-(T-1)/(S-2)).long() (default dtype float32:
// values computed in float64, rounded to float32, truncated toward zero) followed
// by 1 and 0; that is about S network calls. Checked against torch 1.13 output.
func BBDMTimesteps(T, S int) ([]int, error) {
	if T < 2 || T > MaxTimesteps {
		return nil, fmt.Errorf("schedule: BBDM needs T in 2..%d, got %d", MaxTimesteps, T)
	}
	if S >= T {
		ts := make([]int, T)
		for i := range ts {
			ts[i] = T - 1 - i
		}
		return ts, nil
	}
	if S < 3 {
		return nil, fmt.Errorf("schedule: BBDM skip sampling needs sample steps >= 3 (the official formula divides by S-2), got %d", S)
	}
	step := -float64(T-1) / float64(S-2)
	n := int(math.Ceil((1 - float64(T-1)) / step))
	var ts []int
	for i := 0; i < n; i++ {
		v := float32(float64(T-1) + float64(i)*step)
		ts = append(ts, int(v))
	}
	ts = append(ts, 1, 0)
	// When (T-1)/(S-2) < 1 the official list repeats timestep 1 (e.g. T=200, S=199); the repeated step
	// (t = n) is an identity update (sigma2 = 0, kx = 1) that costs one network call. Kept as is.
	for k := 1; k < len(ts); k++ {
		if ts[k] > ts[k-1] {
			return nil, fmt.Errorf("schedule: BBDM timesteps increase at %d: %v", k, ts)
		}
	}
	return ts, nil
}

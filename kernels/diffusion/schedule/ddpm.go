// Package schedule computes the noise schedules of DDPM/DDIM and of the Brownian
// bridge (BBDM) in float64, with the 0-based timestep indexing of the reference
// implementations (CompVis latent-diffusion, the official BBDM code): array index
// i is the reference code's timestep t = i, i.e. the thesis's t = i+1 for DDPM.
//
// Everything here is plain Go on float64 slices; the graph code in the sibling
// packages converts the values it needs to float32 per step.
package schedule

import (
	"fmt"
	"math"
)

// Beta schedule names accepted by NewDDPM.
const (
	BetaLinear     = "linear"      // Ho et al.: beta_i = linspace(1e-4, 0.02, T)
	BetaSqrtLinear = "sqrt-linear" // CompVis "linear": linspace(sqrt(1e-4), sqrt(0.02), T)^2
	BetaCosine     = "cosine"      // Nichol & Dhariwal, s = 0.008, beta clipped at 0.999
)

// BetaNames lists the valid beta schedule names.
var BetaNames = []string{BetaLinear, BetaSqrtLinear, BetaCosine}

// Default linear schedule end points (Ho et al., thesis Table 8).
const (
	DefaultBetaStart = 1e-4
	DefaultBetaEnd   = 0.02
	CosineS          = 0.008
)

// DDPM holds a discrete variance-preserving schedule and every derived quantity,
// indexed by the 0-based timestep i = 0..T-1.
type DDPM struct {
	Name  string
	T     int
	Betas []float64 // beta_i
	// Alphas is 1 - beta_i.
	Alphas []float64
	// AlphasCumprod is alpha-bar_i = prod_{j<=i} alpha_j: q(x_i|x_0) = N(sqrt(abar_i) x_0, (1-abar_i) I).
	AlphasCumprod []float64
	// AlphasCumprodPrev is alpha-bar_{i-1}, with alpha-bar_{-1} = 1.
	AlphasCumprodPrev []float64
	// PosteriorVariance is beta-tilde_i = (1-abar_{i-1})/(1-abar_i) beta_i (0 at i = 0).
	PosteriorVariance []float64
	// PosteriorMeanCoef1 multiplies x_0 and PosteriorMeanCoef2 multiplies x_i in the mean of q(x_{i-1}|x_i,x_0):
	// coef1 = sqrt(abar_{i-1}) beta_i/(1-abar_i), coef2 = sqrt(alpha_i)(1-abar_{i-1})/(1-abar_i).
	PosteriorMeanCoef1 []float64
	PosteriorMeanCoef2 []float64
}

// Betas returns the beta_i of the named schedule with T steps. For "linear" and
// "sqrt-linear" it uses start/end 1e-4/0.02.
// MaxTimesteps caps T for every schedule (the thesis uses 1000): larger
// tables are refused before they are allocated.
const MaxTimesteps = 100000

func Betas(name string, T int) ([]float64, error) {
	if T < 2 || T > MaxTimesteps {
		return nil, fmt.Errorf("schedule: the number of timesteps must be in 2..%d, got %d", MaxTimesteps, T)
	}
	b := make([]float64, T)
	switch name {
	case BetaLinear:
		for i := range b {
			b[i] = lin(DefaultBetaStart, DefaultBetaEnd, i, T)
		}
	case BetaSqrtLinear:
		s0, s1 := math.Sqrt(DefaultBetaStart), math.Sqrt(DefaultBetaEnd)
		for i := range b {
			v := lin(s0, s1, i, T)
			b[i] = v * v
		}
	case BetaCosine:
		// abar(t) = f(t)/f(0), f(t) = cos^2(((t/T)+s)/(1+s) pi/2); beta_i = 1 - abar(i+1)/abar(i), clipped at 0.999.
		f := func(t int) float64 {
			c := math.Cos((float64(t)/float64(T) + CosineS) / (1 + CosineS) * math.Pi / 2)
			return c * c
		}
		for i := range b {
			b[i] = math.Min(1-f(i+1)/f(i), 0.999)
		}
	default:
		return nil, fmt.Errorf("schedule: unknown beta schedule %q (want one of %v)", name, BetaNames)
	}
	return b, nil
}

// lin is numpy's linspace(a, b, n)[i].
func lin(a, b float64, i, n int) float64 {
	if n == 1 {
		return a
	}
	if i == n-1 {
		return b
	}
	return a + (b-a)*float64(i)/float64(n-1)
}

// NewDDPM builds the named beta schedule with T steps and all derived quantities.
func NewDDPM(name string, T int) (*DDPM, error) {
	b, err := Betas(name, T)
	if err != nil {
		return nil, err
	}
	s, err := FromBetas(b)
	if err != nil {
		return nil, err
	}
	s.Name = name
	return s, nil
}

// RescaleZeroTerminalSNR returns betas whose schedule ends at zero signal:
// sqrt(abar) is shifted so that its last value is 0 and scaled so that its
// first value is unchanged, sqrt(abar_i) <- (sqrt(abar_i) - sqrt(abar_T))
// sqrt(abar_0) / (sqrt(abar_0) - sqrt(abar_T)), and the betas are read back as
// 1 - abar_i/abar_{i-1} (Lin et al. 2024, "Common diffusion noise schedules and
// sample steps are flawed", Algorithm 1). The last beta is then exactly 1: the
// network sees pure noise at the last timestep, as sampling starts from it,
// instead of noise with a residue of sqrt(abar_T) x_0 (0.028 x_0 for the
// CompVis-linear 1e-4..0.02 schedule, T = 1000). The eps parameterisation is
// undefined there (x0 = (x_t - sqrt(1-abar) eps)/sqrt(abar)); use v or x0.
func RescaleZeroTerminalSNR(betas []float64) ([]float64, error) {
	T := len(betas)
	if T < 2 {
		return nil, fmt.Errorf("schedule: need at least 2 betas, got %d", T)
	}
	sq := make([]float64, T)
	prod := 1.0
	for i, b := range betas {
		if !(b > 0 && b < 1) {
			return nil, fmt.Errorf("schedule: beta[%d] = %g is not in (0, 1)", i, b)
		}
		prod *= 1 - b
		sq[i] = math.Sqrt(prod)
	}
	first, last := sq[0], sq[T-1]
	out := make([]float64, T)
	prev := 1.0
	for i := range sq {
		v := (sq[i] - last) * first / (first - last)
		abar := v * v
		if i == T-1 {
			abar = 0
		}
		out[i] = 1 - abar/prev
		prev = abar
	}
	return out, nil
}

// NewZeroTerminalSNR builds the named beta schedule with T steps rescaled by
// RescaleZeroTerminalSNR; its name is the schedule's with "+zero-terminal-snr".
func NewZeroTerminalSNR(name string, T int) (*DDPM, error) {
	b, err := Betas(name, T)
	if err != nil {
		return nil, err
	}
	if b, err = RescaleZeroTerminalSNR(b); err != nil {
		return nil, err
	}
	s, err := FromBetas(b)
	if err != nil {
		return nil, err
	}
	s.Name = name + "+zero-terminal-snr"
	return s, nil
}

// FromBetas derives a DDPM schedule from arbitrary betas in (0, 1); the last
// beta may also be 1 (a zero-terminal-SNR schedule, RescaleZeroTerminalSNR).
//
// thesis: eq1
func FromBetas(betas []float64) (*DDPM, error) {
	T := len(betas)
	if T < 2 {
		return nil, fmt.Errorf("schedule: need at least 2 betas, got %d", T)
	}
	s := &DDPM{Name: "custom", T: T, Betas: append([]float64(nil), betas...)}
	s.Alphas = make([]float64, T)
	s.AlphasCumprod = make([]float64, T)
	s.AlphasCumprodPrev = make([]float64, T)
	s.PosteriorVariance = make([]float64, T)
	s.PosteriorMeanCoef1 = make([]float64, T)
	s.PosteriorMeanCoef2 = make([]float64, T)
	prod := 1.0
	for i, beta := range betas {
		if !(beta > 0 && (beta < 1 || beta == 1 && i == T-1)) {
			return nil, fmt.Errorf("schedule: beta[%d] = %g is not in (0, 1) (only the last may be 1)", i, beta)
		}
		a := 1 - beta
		s.Alphas[i] = a
		s.AlphasCumprodPrev[i] = prod
		prod *= a
		s.AlphasCumprod[i] = prod
		prev := s.AlphasCumprodPrev[i]
		s.PosteriorVariance[i] = (1 - prev) / (1 - prod) * beta
		s.PosteriorMeanCoef1[i] = math.Sqrt(prev) * beta / (1 - prod)
		s.PosteriorMeanCoef2[i] = math.Sqrt(a) * (1 - prev) / (1 - prod)
	}
	return s, nil
}

// SqrtAlphasCumprod returns sqrt(abar_i).
func (s *DDPM) SqrtAlphasCumprod(i int) float64 { return math.Sqrt(s.AlphasCumprod[i]) }

// SqrtOneMinusAlphasCumprod returns sqrt(1 - abar_i).
func (s *DDPM) SqrtOneMinusAlphasCumprod(i int) float64 { return math.Sqrt(1 - s.AlphasCumprod[i]) }

// AlphaCumprodAt returns abar_i for i >= 0 and 1 for i = -1 (clean data).
func (s *DDPM) AlphaCumprodAt(i int) float64 {
	if i < 0 {
		return 1
	}
	return s.AlphasCumprod[i]
}

// DDIMSigma returns the DDIM noise scale for a step from timestep t to timestep
// prev (prev = -1 means to clean data):
// sigma = eta sqrt((1-abar_prev)/(1-abar_t)) sqrt(1 - abar_t/abar_prev).
// With eta = 1 and prev = t-1 this is sqrt(beta-tilde_t), the DDPM posterior.
//
// thesis: eq6
func (s *DDPM) DDIMSigma(t, prev int, eta float64) float64 {
	at, ap := s.AlphaCumprodAt(t), s.AlphaCumprodAt(prev)
	return eta * math.Sqrt((1-ap)/(1-at)*(1-at/ap))
}

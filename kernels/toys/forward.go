package toys

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/dmseg/dmseg/kernels/diffusion/schedule"
)

// Noised draws x_t ~ q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I) for
// every point of x0 (flat [x, y, ...]) at the 0-based timestep t of s, with
// the noise from seed: the forward process of the chapter 1 notebook's
// slider, in plain Go (no graph) so that it answers instantly.
//
// thesis: eq2
func Noised(x0 []float32, s *schedule.DDPM, t int, seed uint64) ([]float32, error) {
	if t < 0 || t >= s.T {
		return nil, fmt.Errorf("toys: timestep %d outside 0..%d", t, s.T-1)
	}
	a, b := math.Sqrt(s.AlphasCumprod[t]), math.Sqrt(1-s.AlphasCumprod[t])
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	out := make([]float32, len(x0))
	for i, v := range x0 {
		out[i] = float32(a*float64(v) + b*r.NormFloat64())
	}
	return out, nil
}

// Package toys holds the 2-D teaching problems of the Chapter 1 notebook: point
// clouds (swiss roll, two moons, eight Gaussians, checkerboard), a small MLP
// denoiser that trains in seconds on a CPU, and helpers that train it as a DDPM
// or as a Brownian bridge between two clouds.
package toys

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// Dataset names accepted by Sample.
var Datasets = []string{"swissroll", "moons", "8gaussians", "checkerboard"}

// Sample draws n points of the named 2-D dataset, scaled to roughly unit spread, as a flat
// float32 slice [x0, y0, x1, y1, ...]. Deterministic per seed.
func Sample(name string, n int, seed uint64) ([]float32, error) {
	r := rand.New(rand.NewPCG(seed, 0x70f5))
	out := make([]float32, 0, 2*n)
	add := func(x, y float64) { out = append(out, float32(x), float32(y)) }
	switch name {
	case "swissroll":
		for i := 0; i < n; i++ {
			t := 1.5 * math.Pi * (1 + 2*r.Float64())
			add((t*math.Cos(t))/6+0.1*r.NormFloat64(), (t*math.Sin(t))/6+0.1*r.NormFloat64())
		}
	case "moons":
		for i := 0; i < n; i++ {
			a := math.Pi * r.Float64()
			if i%2 == 0 {
				add(math.Cos(a)-0.5+0.05*r.NormFloat64(), math.Sin(a)-0.25+0.05*r.NormFloat64())
			} else {
				add(1-math.Cos(a)-0.5+0.05*r.NormFloat64(), 0.5-math.Sin(a)-0.25+0.05*r.NormFloat64())
			}
		}
	case "8gaussians":
		for i := 0; i < n; i++ {
			k := r.IntN(8)
			a := 2 * math.Pi * float64(k) / 8
			add(1.5*math.Cos(a)+0.1*r.NormFloat64(), 1.5*math.Sin(a)+0.1*r.NormFloat64())
		}
	case "checkerboard": // FFJORD's: alternate unit squares of [-2, 2)^2
		for i := 0; i < n; i++ {
			x := 4*r.Float64() - 2
			y := r.Float64() - 2*float64(r.IntN(2))
			y += math.Mod(math.Mod(math.Floor(x), 2)+2, 2)
			add(x*0.8, y*0.8)
		}
	default:
		return nil, fmt.Errorf("toys: unknown dataset %q (want one of %v)", name, Datasets)
	}
	return out, nil
}

// Tensor draws n points of the named dataset as a float32 [n, 2] tensor.
func Tensor(name string, n int, seed uint64) (*tensors.Tensor, error) {
	v, err := Sample(name, n, seed)
	if err != nil {
		return nil, err
	}
	return tensors.FromFlatDataAndDimensions(v, n, 2), nil
}

// Package gradcheck compares GoMLX's reverse-mode gradients with central finite
// differences, in float64, along random directions.
//
// For a scalar function f of inputs x_1..x_n and a random direction u, the
// directional derivative <grad f, u> from autodiff must equal
// (f(x + h u) - f(x - h u)) / (2h) up to O(h^2). Checking several random
// directions per input tests every component of the gradient with a handful of
// evaluations, where an element-wise check would need two per element.
package gradcheck

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// Result of one directional check.
type Result struct {
	Input      int     // index of the input perturbed
	Autodiff   float64 // <grad, u>
	FiniteDiff float64 // central difference
	RelErr     float64 // |a - f| / max(|a|, |f|, 1e-8)
}

// Random returns a float64 tensor of the given dimensions with N(0,1) entries from rng.
func Random(rng *rand.Rand, dims ...int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	data := make([]float64, n)
	for i := range data {
		data[i] = rng.NormFloat64()
	}
	return tensors.FromFlatDataAndDimensions(data, dims...)
}

// Check evaluates fn (inputs -> scalar, all float64) and its gradient on backend b, then compares
// for each input and each of nDirs random directions. It returns every result; the caller asserts.
func Check(b backends.Backend, fn func(inputs []*Node) *Node, inputs []*tensors.Tensor, nDirs int, seed uint64) ([]Result, error) {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	gradExec, err := NewExec(b, func(in []*Node) []*Node {
		y := fn(in)
		if !y.IsScalar() {
			panic(fmt.Sprintf("gradcheck: function must return a scalar, got %s", y.Shape()))
		}
		return append([]*Node{y}, Gradient(y, in...)...)
	})
	if err != nil {
		return nil, err
	}
	fExec, err := NewExec(b, func(in []*Node) *Node { return fn(in) })
	if err != nil {
		return nil, err
	}
	args := make([]any, len(inputs))
	for i, t := range inputs {
		args[i] = t
	}
	outs, err := gradExec.Exec(args...)
	if err != nil {
		return nil, err
	}
	grads := make([][]float64, len(inputs))
	for i := range inputs {
		grads[i] = tensors.MustCopyFlatData[float64](outs[1+i])
	}
	eval := func(a []any) (float64, error) {
		o, err := fExec.Exec(a...)
		if err != nil {
			return 0, err
		}
		return tensors.MustCopyFlatData[float64](o[0])[0], nil
	}
	const h = 1e-5
	var results []Result
	for i, t := range inputs {
		base := tensors.MustCopyFlatData[float64](t)
		dims := t.Shape().Dimensions
		for d := 0; d < nDirs; d++ {
			u := make([]float64, len(base))
			ad := 0.0
			for k := range u {
				u[k] = rng.NormFloat64()
				ad += u[k] * grads[i][k]
			}
			plus, minus := make([]float64, len(base)), make([]float64, len(base))
			for k := range base {
				plus[k] = base[k] + h*u[k]
				minus[k] = base[k] - h*u[k]
			}
			a := append([]any(nil), args...)
			a[i] = tensors.FromFlatDataAndDimensions(plus, dims...)
			fp, err := eval(a)
			if err != nil {
				return nil, err
			}
			a[i] = tensors.FromFlatDataAndDimensions(minus, dims...)
			fm, err := eval(a)
			if err != nil {
				return nil, err
			}
			fd := (fp - fm) / (2 * h)
			rel := math.Abs(ad-fd) / math.Max(math.Max(math.Abs(ad), math.Abs(fd)), 1e-8)
			results = append(results, Result{Input: i, Autodiff: ad, FiniteDiff: fd, RelErr: rel})
		}
	}
	return results, nil
}

// MaxRelErr returns the largest relative error in results.
func MaxRelErr(results []Result) float64 {
	m := 0.0
	for _, r := range results {
		m = math.Max(m, r.RelErr)
	}
	return m
}

package nn

import (
	"math/rand/v2"
	"testing"

	"github.com/dmseg/dmseg/kernels/engine/enginetest"
	"github.com/dmseg/dmseg/kernels/gradcheck"
	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// plainGroupNorm is GroupNorm's forward left to automatic differentiation (the reference).
func plainGroupNorm(x, scale, offset *Node, groups int) *Node {
	d := x.Shape().Dimensions
	c, b := d[len(d)-1], d[0]
	xr := Reshape(x, b, x.Shape().Size()/(b*c), groups, c/groups)
	mean := ReduceAndKeep(xr, ReduceMean, 1, 3)
	centred := Sub(xr, mean)
	variance := ReduceAndKeep(Square(centred), ReduceMean, 1, 3)
	normed := Reshape(Div(centred, Sqrt(AddScalar(variance, 1e-5))), d...)
	return Add(Mul(normed, ExpandLeftToRank(scale, len(d))), ExpandLeftToRank(offset, len(d)))
}

// The closed-form backward pass of GroupNorm against central differences (float64).
func TestCustomVJPsFiniteDifferences(t *testing.T) {
	enginetest.ForEach(t, func(t *testing.T, be backends.Backend) {
		rng := rand.New(rand.NewPCG(8, 9))
		xt := gradcheck.Random(rng, 2, 3, 5, 8)
		st, ot := gradcheck.Random(rng, 8), gradcheck.Random(rng, 8)
		rt := gradcheck.Random(rng, 2, 3, 5, 8)
		for _, groups := range []int{1, 4, 8} {
			fn := func(in []*Node) *Node {
				// Tanh readout and the input reused outside the op: the custom gradient must add to other paths.
				y := groupNormOp(in[0], in[1], in[2], groups)
				return Add(ReduceAllSum(Mul(Tanh(y), in[3])), ReduceAllSum(Square(in[0])))
			}
			res, err := gradcheck.Check(be, fn, []*tensors.Tensor{xt, st, ot, rt}, 4, 7)
			if err != nil {
				t.Fatalf("groupnorm %d groups: %v", groups, err)
			}
			if m := gradcheck.MaxRelErr(res); m > 1e-6 {
				t.Errorf("groupnorm %d groups: max relative error %.3g: %+v", groups, m, res)
			}
		}
	})
}

// The bias add's matrix-vector backward against central differences and, in
// float32, its forward against the plain Add (bit-equal).
func TestChannelBiasVJP(t *testing.T) {
	enginetest.ForEach(t, func(t *testing.T, be backends.Backend) {
		rng := rand.New(rand.NewPCG(12, 13))
		yt, bt, rt := gradcheck.Random(rng, 2, 3, 4, 5), gradcheck.Random(rng, 5), gradcheck.Random(rng, 2, 3, 4, 5)
		fn := func(in []*Node) *Node {
			return Add(ReduceAllSum(Mul(Tanh(addChannelBias(in[0], in[1])), in[2])), ReduceAllSum(Square(in[1])))
		}
		res, err := gradcheck.Check(be, fn, []*tensors.Tensor{yt, bt, rt}, 4, 3)
		if err != nil {
			t.Fatal(err)
		}
		if m := gradcheck.MaxRelErr(res); m > 1e-6 {
			t.Errorf("max relative error %.3g: %+v", m, res)
		}
		y := tensors.FromFlatDataAndDimensions([]float32{0.1, -2, 3.5, 4, 1e-3, 7}, 3, 2)
		b := tensors.FromFlatDataAndDimensions([]float32{0.25, -1e-4}, 2)
		got := MustExecOnce(be, func(y, b *Node) *Node { return addChannelBias(y, b) }, y, b)
		want := MustExecOnce(be, func(y, b *Node) *Node { return Add(y, Reshape(b, 1, 2)) }, y, b)
		g, _ := tensors.CopyFlatData[float32](got)
		w, _ := tensors.CopyFlatData[float32](want)
		for i := range w {
			if g[i] != w[i] {
				t.Fatalf("forward %v, plain Add %v", g, w)
			}
		}
	})
}

// Forward values are exactly the plain formula's (committed artifacts re-sample
// bit-identically), and in float32 the gradients agree with automatic
// differentiation of the plain formula to rounding.
func TestCustomVJPsMatchAutodiff(t *testing.T) {
	enginetest.ForEach(t, func(t *testing.T, be backends.Backend) {
		rng := rand.New(rand.NewPCG(10, 11))
		f32 := func(dims ...int) *tensors.Tensor {
			n := 1
			for _, d := range dims {
				n *= d
			}
			v := make([]float32, n)
			for i := range v {
				v[i] = float32(rng.NormFloat64())
			}
			return tensors.FromFlatDataAndDimensions(v, dims...)
		}
		x, s, o, r := f32(4, 8, 8, 32), f32(32), f32(32), f32(4, 8, 8, 32)
		run := func(custom bool) [][]float32 {
			outs := MustExecOnceN(be, func(x, s, o, r *Node) []*Node {
				y := plainGroupNorm(x, s, o, 8)
				if custom {
					y = groupNormOp(x, s, o, 8)
				}
				loss := ReduceAllSum(Mul(Tanh(y), r))
				return append([]*Node{y}, Gradient(loss, x, s, o)...)
			}, x, s, o, r)
			var res [][]float32
			for _, t := range outs {
				v, _ := tensors.CopyFlatData[float32](t)
				res = append(res, v)
			}
			return res
		}
		got, want := run(true), run(false)
		names := []string{"forward", "d/dx", "d/dscale", "d/doffset"}
		for i := range want {
			scale, maxDiff := 0.0, 0.0
			for j := range want[i] {
				scale = max(scale, abs64(float64(want[i][j])))
				maxDiff = max(maxDiff, abs64(float64(got[i][j]-want[i][j])))
			}
			tol := 1e-5 * max(scale, 1)
			if i == 0 {
				tol = 0 // the forward is the same computation
			}
			if maxDiff > tol {
				t.Errorf("%s: max difference %.3g (scale %.3g, allowed %.3g)", names[i], maxDiff, scale, tol)
			}
		}
	})
}

func abs64(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// Package mops holds the small graph operations the dmseg networks share and that
// kernels/nn does not provide: SiLU, LeakyReLU, tanh-GELU, parameter-free LayerNorm,
// an axis pick that is differentiable on every backend, sinusoidal timestep
// embeddings, and multi-head scaled dot-product attention.
package mops

import (
	"fmt"
	"math"

	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// SiLU is x * sigmoid(x) (a.k.a. swish).
func SiLU(x *Node) *Node { return Mul(x, Sigmoid(x)) }

// LeakyReLU is max(x, slope*x) for 0 < slope < 1.
func LeakyReLU(x *Node, slope float64) *Node { return Max(x, MulScalar(x, slope)) }

// GELUTanh is the tanh approximation of GELU used by DiT's MLP (PyTorch approximate="tanh"):
// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
func GELUTanh(x *Node) *Node {
	inner := MulScalar(Add(x, MulScalar(Mul(x, Square(x)), 0.044715)), math.Sqrt(2/math.Pi))
	return Mul(MulScalar(x, 0.5), AddScalar(Tanh(inner), 1))
}

// LayerNorm normalises x over its last axis, without affine parameters:
// (x - mean) / sqrt(var + eps), the biased variance as in PyTorch.
func LayerNorm(x *Node, eps float64) *Node {
	mean := ReduceAndKeep(x, ReduceMean, -1)
	c := Sub(x, mean)
	v := ReduceAndKeep(Square(c), ReduceMean, -1)
	return Div(c, Sqrt(AddScalar(v, eps)))
}

// Pick returns x[..., i, ...] along axis (the axis is removed). It contracts the axis with a
// constant one-hot vector (a DotGeneral), because Slice has no gradient on the pure-Go backend.
func Pick(x *Node, axis, i int) *Node {
	if axis < 0 {
		axis += x.Rank()
	}
	n := x.Shape().Dimensions[axis]
	if i < 0 || i >= n {
		panic(fmt.Sprintf("mops.Pick: index %d out of range for axis %d of %s", i, axis, x.Shape()))
	}
	oh := make([]float64, n)
	oh[i] = 1
	sel := ConvertDType(Const(x.Graph(), oh), x.DType())
	return DotGeneral(x, []int{axis}, nil, sel, []int{0}, nil)
}

// TimestepEmbedding is the sinusoidal embedding of CompVis/guided-diffusion: for t [B] (float,
// possibly fractional) and half = dim/2, freq_i = exp(-ln(maxPeriod) i / half), i = 0..half-1,
// and the output [B, dim] is [cos(t freq), sin(t freq)] (cosines first), with a zero column
// appended when dim is odd.
func TimestepEmbedding(t *Node, dim int, maxPeriod float64) *Node {
	if t.Rank() != 1 {
		panic(fmt.Sprintf("mops.TimestepEmbedding: want t of shape [B], got %s", t.Shape()))
	}
	g := t.Graph()
	half := dim / 2
	freqs := make([]float64, half)
	for i := range freqs {
		freqs[i] = math.Exp(-math.Log(maxPeriod) * float64(i) / float64(half))
	}
	f := ConvertDType(Const(g, freqs), t.DType())
	args := Mul(InsertAxes(t, 1), InsertAxes(f, 0)) // [B, half]
	parts := []*Node{Cos(args), Sin(args)}
	if dim%2 == 1 {
		parts = append(parts, Zeros(g, shapes.Make(t.DType(), t.Shape().Dimensions[0], 1)))
	}
	return Concatenate(parts, 1)
}

// Attention is multi-head scaled dot-product attention on q, k, v of shape [B, T, H, D]:
// out[b,t,h,:] = sum_s softmax_s(q[b,t,h,:].k[b,s,h,:] * scale) v[b,s,h,:], returned as [B, T, H, D].
// The scale is applied to the logits (CompVis applies D^-1/4 to q and to k, the same number).
func Attention(q, k, v *Node, scale float64) *Node {
	logits := DotGeneral(q, []int{3}, []int{0, 2}, k, []int{3}, []int{0, 2}) // [B, H, T, S]
	w := Softmax(MulScalar(logits, scale), -1)
	out := DotGeneral(w, []int{3}, []int{0, 1}, v, []int{1}, []int{0, 2}) // [B, H, T, D]
	return TransposeAllDims(out, 0, 2, 1, 3)
}

// Dropout zeroes each entry of x with probability rate and scales the rest by 1/(1-rate), only
// while ctx is training the graph (ctx.IsTraining); otherwise it returns x unchanged.
// Random numbers come from ctx's RNG state, so a fixed seed gives fixed masks.
func Dropout(ctx *context.Context, x *Node, rate float64) *Node {
	g := x.Graph()
	if rate <= 0 || !ctx.IsTraining(g) {
		return x
	}
	u := ctx.RandomUniform(g, x.Shape())
	keep := GreaterOrEqual(u, Scalar(g, x.DType(), rate))
	return Where(keep, DivScalar(x, 1-rate), ZerosLike(x))
}

package nn

import (
	"fmt"

	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
)

// AvgPool2 halves H and W of x [B,H,W,C] by 2x2 averaging (H and W must be even).
// Written as Reshape + ReduceMean, whose gradient works on every backend.
func AvgPool2(x *Node) *Node {
	d := x.Shape().Dimensions
	if x.Rank() != 4 || d[1]%2 != 0 || d[2]%2 != 0 {
		panic(fmt.Sprintf("nn.AvgPool2: want [B,H,W,C] with even H, W; got %s", x.Shape()))
	}
	return ReduceMean(Reshape(x, d[0], d[1]/2, 2, d[2]/2, 2, d[3]), 2, 4)
}

// Upsample2 doubles H and W of x [B,H,W,C] by nearest-neighbour repetition.
func Upsample2(x *Node) *Node {
	d := x.Shape().Dimensions
	if x.Rank() != 4 {
		panic(fmt.Sprintf("nn.Upsample2: want [B,H,W,C], got %s", x.Shape()))
	}
	y := BroadcastToDims(Reshape(x, d[0], d[1], 1, d[2], 1, d[3]), d[0], d[1], 2, d[2], 2, d[3])
	return Reshape(y, d[0], 2*d[1], 2*d[2], d[3])
}

type denseConfig struct{ zeroInit, noBias bool }

// DenseOption configures Dense.
type DenseOption func(*denseConfig)

// DenseZeroInit initialises the layer to zero.
func DenseZeroInit() DenseOption { return func(c *denseConfig) { c.zeroInit = true } }

// DenseNoBias omits the bias.
func DenseNoBias() DenseOption { return func(c *denseConfig) { c.noBias = true } }

// Dense is a linear layer on the last axis of x: x . W + b, with W "weights" [in,out] and
// b "biases" [out] in ctx's scope, initialised like PyTorch's nn.Linear.
func Dense(ctx *context.Context, x *Node, out int, opts ...DenseOption) *Node {
	var cfg denseConfig
	for _, o := range opts {
		o(&cfg)
	}
	g := x.Graph()
	dims := x.Shape().Dimensions
	in := dims[len(dims)-1]
	init := uniformInit(ctx, float64(in), cfg.zeroInit)
	w := ctx.WithInitializer(init).VariableWithShape("weights", shapes.Make(x.DType(), in, out)).ValueGraph(g)
	y := DotGeneral(x, []int{x.Rank() - 1}, nil, w, []int{0}, nil)
	if !cfg.noBias {
		b := ctx.WithInitializer(init).VariableWithShape("biases", shapes.Make(x.DType(), out)).ValueGraph(g)
		y = Add(y, ExpandLeftToRank(b, y.Rank()))
	}
	return y
}

// GroupNorm normalises x [B, ..., C] over (spatial, channels-in-group) for each of `groups`
// channel groups, then applies a per-channel affine map ("scale" init 1, "offset" init 0).
// eps = 1e-5 as PyTorch's nn.GroupNorm.
func GroupNorm(ctx *context.Context, x *Node, groups int) *Node {
	d := x.Shape().Dimensions
	c := d[len(d)-1]
	if c%groups != 0 {
		panic(fmt.Sprintf("nn.GroupNorm(scope %s): %d channels not divisible into %d groups", ctx.Scope(), c, groups))
	}
	g := x.Graph()
	scale := ctx.WithInitializer(initializers.One).VariableWithShape("scale", shapes.Make(x.DType(), c)).ValueGraph(g)
	offset := ctx.WithInitializer(initializers.Zero).VariableWithShape("offset", shapes.Make(x.DType(), c)).ValueGraph(g)
	return groupNormOp(x, scale, offset, groups)
}

// groupNormOp is GroupNorm's computation on x [B, ..., C] with per-channel scale
// and offset; its backward is the closed form (groupNormVJP), not automatic
// differentiation through the reductions, which XLA CPU runs several times slower.
func groupNormOp(x, scale, offset *Node, groups int) *Node {
	d := x.Shape().Dimensions
	c := d[len(d)-1]
	b := d[0]
	spatial := x.Shape().Size() / (b * c)
	var normed, std *Node
	return withCustomVJP([]*Node{x, scale, offset}, func(in []*Node) *Node {
		xr := Reshape(in[0], b, spatial, groups, c/groups)
		mean := ReduceAndKeep(xr, ReduceMean, 1, 3)
		centred := Sub(xr, mean)
		variance := ReduceAndKeep(Square(centred), ReduceMean, 1, 3)
		std = Sqrt(AddScalar(variance, 1e-5))
		normed = Reshape(Div(centred, std), d...)
		return Add(Mul(normed, ExpandLeftToRank(in[1], len(d))), ExpandLeftToRank(in[2], len(d)))
	}, func(in []*Node, _, v *Node) []*Node {
		return groupNormVJP(v, normed, std, in[1], b, spatial, groups)
	})
}

// groupNormVJP: with xhat the normalised input, y = xhat*scale + offset and
// g = v*scale, per sample and group (means over the group's positions and channels):
//
//	dx = (g - mean(g) - xhat * mean(g * xhat)) / std,
//	dscale = sum over B and positions of v * xhat,   doffset = the same sum of v.
//
// Both group means come from the per-(sample, channel) sums of v and v*xhat,
// which also give dscale and doffset: two sums over the activations (matrix
// products with a ones vector, sumPositions) and one elementwise pass for dx.
func groupNormVJP(v, normed, std, scale *Node, b, spatial, groups int) []*Node {
	d := v.Shape().Dimensions
	c := d[len(d)-1]
	cg := c / groups
	v3 := Reshape(v, b, spatial, c)
	xhat3 := Reshape(normed, b, spatial, c)
	sv := sumPositions(v3)              // [B, C]: sum of v over positions
	svx := sumPositions(Mul(v3, xhat3)) // [B, C]: sum of v*xhat
	dOffset, dScale := ReduceSum(sv, 0), ReduceSum(svx, 0)
	n := float64(spatial * cg)
	sc := Reshape(scale, 1, c)
	m1 := DivScalar(ReduceSum(Reshape(Mul(sv, sc), b, groups, cg), 2), n)  // [B, G]: mean of g
	m2 := DivScalar(ReduceSum(Reshape(Mul(svx, sc), b, groups, cg), 2), n) // [B, G]: mean of g*xhat
	perChannel := func(m *Node) *Node {                                    // [B, G] -> [B, 1, C]
		return Reshape(BroadcastToDims(Reshape(m, b, groups, 1), b, groups, cg), b, 1, c)
	}
	stdC := perChannel(Reshape(std, b, groups))
	g := Mul(v3, Reshape(scale, 1, 1, c))
	dx := Div(Sub(Sub(g, perChannel(m1)), Mul(xhat3, perChannel(m2))), stdC)
	return []*Node{Reshape(dx, d...), dScale, dOffset}
}

// sumPositions sums x [B, S, C] over S as a matrix product with a ones vector,
// which XLA CPU runs at memory speed, unlike the equivalent ReduceSum.
func sumPositions(x *Node) *Node {
	ones := Ones(x.Graph(), shapes.Make(x.DType(), x.Shape().Dimensions[1]))
	return DotGeneral(ones, []int{0}, nil, x, []int{1}, nil)
}

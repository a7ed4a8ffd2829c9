// Package modeltest has the test helpers of the dmseg networks: running a model function on a
// backend, setting all variables to random values (so zero-initialised layers do not hide
// gradient paths), and checking gradients against central finite differences in float64.
package modeltest

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dmseg/dmseg/kernels/gradcheck"
	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Fn builds a graph from ctx and inputs; it returns one node.
type Fn func(ctx *context.Context, in []*Node) *Node

// Run executes fn once on backend b with the given input tensors and returns the output.
func Run(t testing.TB, b backends.Backend, ctx *context.Context, fn Fn, inputs ...*tensors.Tensor) *tensors.Tensor {
	t.Helper()
	if ctx.NumVariables() > 0 {
		ctx = ctx.Reuse()
	}
	exec, err := context.NewExec(b, ctx, func(ctx *context.Context, in []*Node) *Node { return fn(ctx, in) })
	if err != nil {
		t.Fatalf("NewExec: %v", err)
	}
	args := make([]any, len(inputs))
	for i, x := range inputs {
		args[i] = x
	}
	out, err := exec.Exec(args...)
	if err != nil {
		t.Fatalf("Exec: %v", err)
	}
	return out[0]
}

// Normal returns a tensor of the given dimensions with N(0,1) float64 entries from seed.
func Normal(seed uint64, dims ...int) *tensors.Tensor {
	return gradcheck.Random(rand.New(rand.NewPCG(seed, 7)), dims...)
}

// Floats copies a float64 or float32 tensor to []float64.
func Floats(x *tensors.Tensor) []float64 {
	switch x.DType().String() {
	case "Float32":
		f := tensors.MustCopyFlatData[float32](x)
		out := make([]float64, len(f))
		for i, v := range f {
			out[i] = float64(v)
		}
		return out
	default:
		return tensors.MustCopyFlatData[float64](x)
	}
}

// Randomize sets every float64 variable of ctx to scale * N(0,1) values from seed
// (variables whose name is "scale", GroupNorm's gain, get 1 + scale * N(0,1)).
func Randomize(t testing.TB, ctx *context.Context, seed uint64, scale float64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 11))
	for v := range ctx.IterVariables() {
		if !v.Trainable {
			continue
		}
		n := v.Shape().Size()
		vals := make([]float64, n)
		for i := range vals {
			vals[i] = scale * r.NormFloat64()
			if v.Name() == "scale" {
				vals[i] += 1
			}
		}
		v.MustSetValue(tensors.FromFlatDataAndDimensions(vals, v.Shape().Dimensions...))
	}
}

// GradCheck compares the gradient of the scalar loss(ctx, in) with respect to every variable of ctx
// against central finite differences along random directions: once along a joint direction of all
// variables, and once per variable for up to perVar variables (spread over the variable list).
// Model variables must be float64 and already exist (run the model once and Randomize first).
// It fails when |analytic - numeric| > tol * max(1, |analytic|, |numeric|).
func GradCheck(t *testing.T, b backends.Backend, ctx *context.Context, loss Fn, inputs []*tensors.Tensor, perVar int, tol float64) {
	t.Helper()
	var vars []*context.Variable
	for v := range ctx.IterVariables() {
		if v.Trainable {
			vars = append(vars, v)
		}
	}
	if len(vars) == 0 {
		t.Fatal("GradCheck: context has no variables")
	}
	ctx = ctx.Reuse()
	gradExec, err := context.NewExec(b, ctx, func(ctx *context.Context, in []*Node) []*Node {
		l := loss(ctx, in)
		g := l.Graph()
		nodes := make([]*Node, len(vars))
		for i, v := range vars {
			nodes[i] = v.ValueGraph(g)
		}
		return append([]*Node{l}, Gradient(l, nodes...)...)
	})
	if err != nil {
		t.Fatal(err)
	}
	lossExec, err := context.NewExec(b, ctx, func(ctx *context.Context, in []*Node) *Node { return loss(ctx, in) })
	if err != nil {
		t.Fatal(err)
	}
	args := make([]any, len(inputs))
	for i, x := range inputs {
		args[i] = x
	}
	outs, err := gradExec.Exec(args...)
	if err != nil {
		t.Fatal(err)
	}
	base := make([][]float64, len(vars))
	grads := make([][]float64, len(vars))
	for i, v := range vars {
		base[i] = Floats(v.MustValue())
		grads[i] = Floats(outs[1+i])
	}
	r := rand.New(rand.NewPCG(99, 3))
	evalAt := func(dir [][]float64, eps float64) float64 {
		for i, v := range vars {
			if dir[i] == nil {
				continue
			}
			p := make([]float64, len(base[i]))
			for j := range p {
				p[j] = base[i][j] + eps*dir[i][j]
			}
			v.MustSetValue(tensors.FromFlatDataAndDimensions(p, v.Shape().Dimensions...))
		}
		o, err := lossExec.Exec(args...)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range vars {
			if dir[i] != nil {
				v.MustSetValue(tensors.FromFlatDataAndDimensions(append([]float64(nil), base[i]...), v.Shape().Dimensions...))
			}
		}
		return Floats(o[0])[0]
	}
	check := func(label string, which []int) {
		dir := make([][]float64, len(vars))
		analytic := 0.0
		for _, i := range which {
			dir[i] = make([]float64, len(base[i]))
			for j := range dir[i] {
				dir[i][j] = r.NormFloat64()
				analytic += grads[i][j] * dir[i][j]
			}
		}
		const eps = 1e-5
		numeric := (evalAt(dir, eps) - evalAt(dir, -eps)) / (2 * eps)
		if d := math.Abs(analytic - numeric); d > tol*math.Max(1, math.Max(math.Abs(analytic), math.Abs(numeric))) || math.IsNaN(d) {
			t.Errorf("gradient %s: analytic directional derivative %.10g, finite difference %.10g", label, analytic, numeric)
		}
	}
	all := make([]int, len(vars))
	for i := range all {
		all[i] = i
	}
	check("(all variables)", all)
	if perVar > len(vars) {
		perVar = len(vars)
	}
	for k := 0; k < perVar; k++ {
		i := k * len(vars) / perVar
		check(vars[i].ScopeAndName(), []int{i})
	}
}

// TrainableParams is the number of scalars in ctx's trainable variables.
func TrainableParams(ctx *context.Context) int {
	n := 0
	for v := range ctx.IterVariables() {
		if v.Trainable {
			n += v.Shape().Size()
		}
	}
	return n
}

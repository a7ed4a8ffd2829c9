package registry

import (
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/dmseg/dmseg/kernels/engine"
	"github.com/dmseg/dmseg/kernels/engine/enginetest"
	"github.com/dmseg/dmseg/kernels/models/internal/modeltest"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

func TestLookup(t *testing.T) {
	if _, err := Lookup("no-such-net"); err == nil || !strings.Contains(err.Error(), "unet-table6") {
		t.Errorf("Lookup of an unknown name: error %v should list the known names", err)
	}
	c, err := Lookup("unet-table6-concat")
	if err != nil {
		t.Fatal(err)
	}
	if c.UNet.InChannels != 17 || c.UNet.OutChannels != 1 || c.Encoder.InChannels != 1 || c.Encoder.OutChannels != 16 {
		t.Errorf("unet-table6-concat: unet in/out %d/%d, encoder %d->%d; want 17/1, 1->16",
			c.UNet.InChannels, c.UNet.OutChannels, c.Encoder.InChannels, c.Encoder.OutChannels)
	}
	a, _ := Lookup("unet-table6-add")
	if a.UNet.InChannels != 1 || a.Encoder.OutChannels != 192 {
		t.Errorf("unet-table6-add: unet in %d, encoder out %d; want 1 and 192", a.UNet.InChannels, a.Encoder.OutChannels)
	}
	n, _ := Lookup("unet-table6")
	if total, _ := n.ParamCount(); total != 217859905 {
		t.Errorf("unet-table6 has %d parameters, the CompVis reference count is 217859905", total)
	}
	l, err := n.WithChannels(3)
	if err != nil || l.UNet.InChannels != 3 || l.UNet.OutChannels != 3 {
		t.Errorf("WithChannels(3): %v %+v", err, l.UNet)
	}
	if _, err := n.WithChannels(0); err == nil {
		t.Error("WithChannels(0) should fail")
	}
}

// TestEveryConfigShapes builds every registered network at its native size (graph construction
// only, no compilation) and checks the output shape and that the variables it creates hold
// exactly ParamCount parameters.
func TestEveryConfigShapes(t *testing.T) {
	b, _ := engine.MustNew("go")
	for _, name := range Names() {
		c, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.New()
		g := NewGraph(b, name)
		s := c.ImageSize
		xt := Parameter(g, "xt", shapes.Make(dtypes.Float32, 2, s, s, c.DataChannels))
		tt := Parameter(g, "t", shapes.Make(dtypes.Float32, 2))
		var cond *Node
		if c.Cond != CondNone {
			cond = Parameter(g, "cond", shapes.Make(dtypes.Float32, 2, s, s, c.CondChannels))
		}
		out := c.Denoiser()(ctx, xt, tt, cond)
		if !out.Shape().Equal(xt.Shape()) {
			t.Errorf("%s: output %s, want %s", name, out.Shape(), xt.Shape())
		}
		want, _ := c.ParamCount()
		if got := modeltest.TrainableParams(ctx); got != want {
			t.Errorf("%s: built %d parameters, ParamCount %d", name, got, want)
		}
		g.Finalize()
	}
}

func TestConditionErrors(t *testing.T) {
	b, _ := engine.MustNew("go")
	for _, tc := range []struct {
		name     string
		withCond bool
		msg      string
	}{{"unet-tiny", true, "unconditional"}, {"unet-tiny-add", false, "needs a condition"}} {
		c, _ := Lookup(tc.name)
		func() {
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(fmt.Sprint(r), tc.msg) || !strings.Contains(fmt.Sprint(r), tc.name) {
					t.Errorf("%s: panic %v, want one naming the model and %q", tc.name, r, tc.msg)
				}
			}()
			g := NewGraph(b, "x")
			xt := Parameter(g, "xt", shapes.Make(dtypes.Float32, 1, 16, 16, 1))
			var cond *Node
			if tc.withCond {
				cond = xt
			}
			c.Denoiser()(context.New(), xt, Parameter(g, "t", shapes.Make(dtypes.Float32, 1)), cond)
		}()
	}
}

// sgdStep builds loss = mean((net(xt,t,cond) - target)^2) and updates every trainable variable
// by plain gradient descent; it returns the loss before the update.
func sgdStep(c Config, lr float64) func(ctx *context.Context, in []*Node) *Node {
	return func(ctx *context.Context, in []*Node) *Node {
		var cond *Node
		if len(in) > 3 {
			cond = in[3]
		}
		out := c.Denoiser()(ctx, in[0], in[1], cond)
		loss := ReduceAllMean(Square(Sub(out, in[2])))
		var vars []*context.Variable
		var nodes []*Node
		for v := range ctx.IterVariables() {
			if v.Trainable && v.InUseByGraph(loss.Graph()) {
				vars = append(vars, v)
				nodes = append(nodes, v.ValueGraph(loss.Graph()))
			}
		}
		grads := Gradient(loss, nodes...)
		for i, v := range vars {
			v.SetValueGraph(Sub(nodes[i], MulScalar(grads[i], lr)))
		}
		return loss
	}
}

func batch(c Config, bs, s int) []*tensors.Tensor {
	in := []*tensors.Tensor{modeltest.Normal(1, bs, s, s, c.DataChannels), tensors.FromValue(make([]float32, bs)),
		modeltest.Normal(2, bs, s, s, c.DataChannels)}
	ts := make([]float32, bs)
	for i := range ts {
		ts[i] = float32(100 * (i + 1))
	}
	in[1] = tensors.FromValue(ts)
	if c.Cond != CondNone {
		in = append(in, modeltest.Normal(3, bs, s, s, c.CondChannels))
	}
	// float32 inputs (the precision training uses)
	for i, x := range in {
		if x.DType() == dtypes.Float64 {
			f := modeltest.Floats(x)
			g := make([]float32, len(f))
			for j := range f {
				g[j] = float32(f[j])
			}
			in[i] = tensors.FromFlatDataAndDimensions(g, x.Shape().Dimensions...)
		}
	}
	return in
}

// TestTrainFewSteps: every kind of denoiser (U-Net none/concat/add, DiT none/concat) trains on
// every backend: gradient descent on a fixed batch lowers the loss. On XLA two configs cover
// both architectures and the encoder (compilation dominates the time there).
func TestTrainFewSteps(t *testing.T) {
	for _, name := range []string{"unet-tiny", "unet-tiny-concat", "unet-tiny-add", "dit-tiny", "dit-tiny-concat"} {
		c, _ := Lookup(name)
		enginetest.ForEach(t, func(t *testing.T, b backends.Backend) {
			if strings.HasPrefix(b.Name(), "xla") && name != "unet-tiny-add" && name != "dit-tiny-concat" {
				t.Skip("XLA compilation is slow on the shared CPU; the pure-Go run covers this config")
			}
			ctx := context.New()
			exec, err := context.NewExec(b, ctx, sgdStep(c, 0.05))
			if err != nil {
				t.Fatal(err)
			}
			args := []any{}
			for _, x := range batch(c, 2, 8) {
				args = append(args, x)
			}
			var losses []float64
			for step := 0; step < 6; step++ {
				out, err := exec.Exec(args...)
				if err != nil {
					t.Fatal(err)
				}
				losses = append(losses, modeltest.Floats(out[0])[0])
			}
			if !(losses[5] < losses[0]) || math.IsNaN(losses[5]) {
				t.Errorf("%s: loss did not decrease: %v", name, losses)
			}
		})
	}
}

// Benchmarks: forward and SGD training step at the config's native size, batch 16.
// go test -run NONE -bench . ./kernels/models/registry  (DMSEG_BENCH_BACKEND=go for the pure-Go backend)
func benchmark(b *testing.B, name string, train bool) {
	c, err := Lookup(name)
	if err != nil {
		b.Fatal(err)
	}
	backendName := "xla:cpu"
	if v := getenv("DMSEG_BENCH_BACKEND"); v != "" {
		backendName = v
	}
	be, _, err := engine.New(backendName)
	if err != nil {
		b.Skip(err)
	}
	ctx := context.New()
	var fn any = func(ctx *context.Context, in []*Node) *Node {
		var cond *Node
		if len(in) > 3 {
			cond = in[3]
		}
		return c.Denoiser()(ctx, in[0], in[1], cond)
	}
	if train {
		fn = sgdStep(c, 1e-4)
	}
	exec, err := context.NewExecAny(be, ctx, fn)
	if err != nil {
		b.Fatal(err)
	}
	const bs = 16
	args := []any{}
	for _, x := range batch(c, bs, c.ImageSize) {
		args = append(args, x)
	}
	if _, err := exec.Exec(args...); err != nil { // compile + warm up
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out, err := exec.Exec(args...)
		if err != nil {
			b.Fatal(err)
		}
		out[0].FinalizeAll()
	}
	b.ReportMetric(float64(bs*b.N)/b.Elapsed().Seconds(), "images/s")
}

func BenchmarkForwardUNetCPU(b *testing.B)     { benchmark(b, "unet-cpu", false) }
func BenchmarkTrainUNetCPU(b *testing.B)       { benchmark(b, "unet-cpu", true) }
func BenchmarkTrainUNetCPUConcat(b *testing.B) { benchmark(b, "unet-cpu-concat", true) }
func BenchmarkForwardDiTCPU(b *testing.B)      { benchmark(b, "dit-cpu", false) }
func BenchmarkTrainDiTCPU(b *testing.B)        { benchmark(b, "dit-cpu", true) }
func BenchmarkForwardUNetTable6(b *testing.B)  { benchmark(b, "unet-table6", false) }
func BenchmarkTrainUNetTable6(b *testing.B)    { benchmark(b, "unet-table6", true) }

func getenv(k string) string { return os.Getenv(k) }

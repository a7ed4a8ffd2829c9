package dit

import (
	"fmt"
	"math"
	"testing"

	"github.com/dmseg/dmseg/kernels/engine/enginetest"
	"github.com/dmseg/dmseg/kernels/models/internal/modeltest"
	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

func tiny() Config {
	return Config{InChannels: 2, OutChannels: 3, PatchSize: 2, Hidden: 8, Depth: 2, Heads: 2, MLPRatio: 4, FreqDim: 6}
}

func TestParamCountByHand(t *testing.T) {
	// tiny: D=8, p=2. x_embedder 2*2*2*8+8 = 72; t_embedder 6*8+8 + 8*8+8 = 128;
	// block: adaLN 8*48+48=432, qkv 8*24+24=216, proj 72, fc1 8*32+32=288, fc2 32*8+8=264 -> 1272;
	// final: adaLN 8*16+16=144, linear 8*12+12=108 -> 252.
	want := 72 + 128 + 2*1272 + 252
	got, blocks := tiny().ParamCount()
	if got != want || len(blocks) != 5 {
		t.Errorf("ParamCount = %d (%v), hand count %d", got, blocks, want)
	}
}

func TestPosEmbed2D(t *testing.T) {
	// dim 8, grid 2x3: token (i=1, j=2) is index 5; omega = (1, 1/100).
	e := PosEmbed2D(2, 3, 8)[5]
	want := []float64{math.Sin(2), math.Sin(0.02), math.Cos(2), math.Cos(0.02), math.Sin(1), math.Sin(0.01), math.Cos(1), math.Cos(0.01)}
	for k := range want {
		if math.Abs(e[k]-want[k]) > 1e-15 {
			t.Fatalf("PosEmbed2D token (1,2) = %v, want %v", e, want)
		}
	}
}

func fwd(cfg Config) modeltest.Fn {
	return func(ctx *context.Context, in []*Node) *Node { return Forward(ctx, cfg, in[0], in[1]) }
}

// TestForwardZeroInitAndUnpatchify: exact zeros at init; then with only the final linear bias set,
// the output must be that bias tiled over patches, pixel (i*p+u, j*p+v, c) = bias[(u*p+v)*C+c].
func TestForwardZeroInitAndUnpatchify(t *testing.T) {
	cfg := tiny()
	enginetest.ForEach(t, func(t *testing.T, b backends.Backend) {
		ctx := context.New()
		x := modeltest.Normal(1, 2, 4, 6, cfg.InChannels)
		ts := tensors.FromValue([]float64{5, 900})
		out := modeltest.Run(t, b, ctx, fwd(cfg), x, ts)
		if d := out.Shape().Dimensions; fmt.Sprint(d) != "[2 4 6 3]" {
			t.Fatalf("output shape %v", d)
		}
		for i, v := range modeltest.Floats(out) {
			if v != 0 {
				t.Fatalf("output[%d] = %g at init, want exactly 0", i, v)
			}
		}
		if got, want := modeltest.TrainableParams(ctx), func() int { n, _ := cfg.ParamCount(); return n }(); got != want {
			t.Errorf("built %d parameters, ParamCount %d", got, want)
		}
		bias := make([]float64, 12)
		for i := range bias {
			bias[i] = float64(i + 1)
		}
		ctx.GetVariableByScopeAndName("/final_layer/linear", "biases").MustSetValue(tensors.FromValue(bias))
		o := modeltest.Floats(modeltest.Run(t, b, ctx, fwd(cfg), x, ts))
		for bi := 0; bi < 2; bi++ {
			for y := 0; y < 4; y++ {
				for xx := 0; xx < 6; xx++ {
					for c := 0; c < 3; c++ {
						want := bias[((y%2)*2+xx%2)*3+c]
						if got := o[((bi*4+y)*6+xx)*3+c]; got != want {
							t.Fatalf("pixel (%d,%d,%d): %g, want %g", y, xx, c, got, want)
						}
					}
				}
			}
		}
	})
}

func TestGradients(t *testing.T) {
	cfg := tiny()
	enginetest.ForEach(t, func(t *testing.T, b backends.Backend) {
		ctx := context.New()
		x := modeltest.Normal(1, 2, 4, 4, cfg.InChannels)
		ts := tensors.FromValue([]float64{3, 711})
		r := modeltest.Normal(2, 2, 4, 4, cfg.OutChannels)
		loss := func(ctx *context.Context, in []*Node) *Node {
			return ReduceAllSum(Mul(Forward(ctx, cfg, in[0], in[1]), in[2]))
		}
		modeltest.Run(t, b, ctx, loss, x, ts, r)
		modeltest.Randomize(t, ctx, 5, 0.3)
		modeltest.GradCheck(t, b, ctx, loss, []*tensors.Tensor{x, ts, r}, 6, 1e-6)
	})
}

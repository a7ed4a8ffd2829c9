package rrdb

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

func tiny() Config { return Config{InChannels: 1, OutChannels: 3, Features: 4, Growth: 2, Blocks: 1} }

func TestParamCountByHand(t *testing.T) {
	// Thesis sizes with SegDiff's trunk: 1 -> 16 channels, nf 64, gc 32, 3 RRDBs.
	// RDB: convs 64->32, 96->32, 128->32, 160->32, 192->64 (3x3, with bias).
	rdb := (9*64*32 + 32) + (9*96*32 + 32) + (9*128*32 + 32) + (9*160*32 + 32) + (9*192*64 + 64) // 18464+27680+36896+46112+110656 = 239808
	want := (9*1*64 + 64) + 3*3*rdb + 2*(9*64*64+64) + (9*64*16 + 16)
	if rdb != 239808 || want != 640+9*239808+73856+9232 {
		t.Fatalf("hand arithmetic inconsistent: rdb %d total %d", rdb, want)
	}
	if got := SegDiff(1, 16).ParamCount(); got != want {
		t.Errorf("ParamCount = %d, hand count %d", got, want)
	}
}

// TestEncodeMatchesReference: on 1x1 images a "same" 3x3 convolution only uses the kernel's
// centre tap, so the whole encoder reduces to dense layers; compare with that plain-Go evaluation
// (checks the dense connectivity, the LeakyReLU placement and the 0.2 residual scalings).
func TestEncodeMatchesReference(t *testing.T) {
	cfg := tiny()
	enginetest.ForEach(t, func(t *testing.T, b backends.Backend) {
		ctx := context.New()
		x := modeltest.Normal(1, 2, 1, 1, cfg.InChannels)
		fn := func(ctx *context.Context, in []*Node) *Node { return Encode(ctx, cfg, in[0]) }
		modeltest.Run(t, b, ctx, fn, x)
		if got, want := modeltest.TrainableParams(ctx), cfg.ParamCount(); got != want {
			t.Errorf("built %d parameters, ParamCount %d", got, want)
		}
		modeltest.Randomize(t, ctx, 4, 0.4)
		got := modeltest.Floats(modeltest.Run(t, b, ctx, fn, x))
		conv := func(scope string, in []float64, cout int) []float64 {
			w := modeltest.Floats(ctx.GetVariableByScopeAndName(scope, "weights").MustValue())
			bias := modeltest.Floats(ctx.GetVariableByScopeAndName(scope, "biases").MustValue())
			cin := len(in)
			out := make([]float64, cout)
			for o := range out {
				out[o] = bias[o]
				for i := 0; i < cin; i++ {
					out[o] += in[i] * w[4*cin*cout+i*cout+o]
				}
			}
			return out
		}
		lrelu := func(v []float64) []float64 {
			for i := range v {
				if v[i] < 0 {
					v[i] *= 0.2
				}
			}
			return v
		}
		xs := modeltest.Floats(x)
		for bi := 0; bi < 2; bi++ {
			fea := conv("/conv_first", xs[bi:bi+1], cfg.Features)
			h := append([]float64(nil), fea...)
			for r := 0; r < cfg.Blocks; r++ {
				in := append([]float64(nil), h...)
				for d := 0; d < 3; d++ {
					s := fmt.Sprintf("/rrdb_%d/rdb_%d/", r, d)
					cat := append([]float64(nil), h...)
					for i := 1; i <= 4; i++ {
						cat = append(cat, lrelu(conv(s+fmt.Sprintf("conv%d", i), cat, cfg.Growth))...)
					}
					y := conv(s+"conv5", cat, cfg.Features)
					for i := range h {
						h[i] += 0.2 * y[i]
					}
				}
				for i := range h {
					h[i] = in[i] + 0.2*h[i]
				}
			}
			tr := conv("/trunk_conv", h, cfg.Features)
			for i := range fea {
				fea[i] += tr[i]
			}
			want := conv("/conv_last", lrelu(conv("/hr_conv", fea, cfg.Features)), cfg.OutChannels)
			for o := range want {
				if g := got[bi*cfg.OutChannels+o]; math.Abs(g-want[o]) > 1e-10 {
					t.Fatalf("batch %d channel %d: %g, reference %g", bi, o, g, want[o])
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
		r := modeltest.Normal(2, 2, 4, 4, cfg.OutChannels)
		loss := func(ctx *context.Context, in []*Node) *Node {
			return ReduceAllSum(Mul(Encode(ctx, cfg, in[0]), in[1]))
		}
		modeltest.Run(t, b, ctx, loss, x, r)
		modeltest.Randomize(t, ctx, 5, 0.3)
		modeltest.GradCheck(t, b, ctx, loss, []*tensors.Tensor{x, r}, 5, 1e-5)
	})
}

package unet

import (
	"bufio"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/dmseg/dmseg/kernels/engine/enginetest"
	"github.com/dmseg/dmseg/kernels/models/internal/modeltest"
	"github.com/dmseg/dmseg/kernels/models/mops"
	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// small is the config whose parameter count is derived by hand in TestParamCountByHand.
func small() Config {
	return Config{InChannels: 1, OutChannels: 1, ModelChannels: 32, ChannelMult: []int{1, 2}, NumResBlocks: 1,
		AttentionResolutions: []int{2}, NumHeadChannels: 32, NumHeads: -1, ResblockUpdown: true, NormGroups: 8}
}

// tiny is small enough for finite-difference checks on the pure-Go backend.
func tiny() Config {
	return Config{InChannels: 2, OutChannels: 3, ModelChannels: 8, ChannelMult: []int{1, 2}, NumResBlocks: 1,
		AttentionResolutions: []int{1, 2}, NumHeadChannels: 4, NumHeads: -1, ResblockUpdown: true, NormGroups: 4}
}

func TestParamCountByHand(t *testing.T) {
	// small(): mc=32, emb=128, levels (32, 64), one res block per level, attention at ds=2.
	// resblock(cin,cout) = 2cin + (9 cin cout + cout) + (128 cout + cout) + 2cout + (9 cout^2 + cout) [+ cin cout + cout]
	// attention(64) = 128 + (64*192+192) + (64*64+64) = 16768
	timeEmbed := 32*128 + 128 + 128*128 + 128                                     // 20736
	in0 := 9*32 + 32                                                              // 320
	rb32 := 64 + 9*32*32 + 32 + 128*32 + 32 + 64 + 9*32*32 + 32                   // 22752
	rb64 := 128 + 9*64*64 + 64 + 128*64 + 64 + 128 + 9*64*64 + 64                 // 82368
	rb32to64 := 64 + 9*32*64 + 64 + 128*64 + 64 + 128 + 9*64*64 + 64 + 32*64 + 64 // 65984
	attn64 := 128 + 64*192 + 192 + 64*64 + 64
	rb128to64 := 256 + 9*128*64 + 64 + 128*64 + 64 + 128 + 9*64*64 + 64 + 128*64 + 64
	rb96to64 := 192 + 9*96*64 + 64 + 128*64 + 64 + 128 + 9*64*64 + 64 + 96*64 + 64
	rb96to32 := 192 + 9*96*32 + 32 + 128*32 + 32 + 64 + 9*32*32 + 32 + 96*32 + 32
	rb64to32 := 128 + 9*64*32 + 32 + 128*32 + 32 + 64 + 9*32*32 + 32 + 64*32 + 32
	out := 64 + 9*32 + 1
	want := timeEmbed + in0 + rb32 /*in1*/ + rb32 /*in2 down*/ + rb32to64 + attn64 /*in3*/ +
		2*rb64 + attn64 /*middle*/ + rb128to64 + attn64 /*out0*/ + rb96to64 + attn64 + rb64 /*out1 + up*/ +
		rb96to32 + rb64to32 /*out2, out3*/ + out
	if want != 760289 {
		t.Fatalf("hand arithmetic inconsistent: %d", want)
	}
	got, blocks := small().ParamCount()
	if got != want {
		t.Errorf("ParamCount = %d, hand count %d; blocks %v", got, want, blocks)
	}
	// Without resblock_updown the resampling blocks are 3x3 convolutions instead.
	c := small()
	c.ResblockUpdown = false
	got2, _ := c.ParamCount()
	if w := want - rb32 + (9*32*32 + 32) - rb64 + (9*64*64 + 64); got2 != w {
		t.Errorf("ParamCount(resblock_updown=false) = %d, hand count %d", got2, w)
	}
}

// TestParamCountTable6 checks the thesis U-Net against the count of the PyTorch re-creation of
// CompVis's UNetModel in testdata/reference_params.py (its output is testdata/reference_params.txt).
func TestParamCountTable6(t *testing.T) {
	f, err := os.Open("testdata/reference_params.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blocks []Block
	checked := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "  ") {
			var b Block
			if _, err := fmt.Sscan(line, &b.Name, &b.Params); err != nil {
				t.Fatalf("reference_params.txt: %q: %v", line, err)
			}
			blocks = append(blocks, b)
			continue
		}
		var in, total int
		if _, err := fmt.Sscanf(line, "unet-table6 in_channels=%d out_channels=1 params=%d", &in, &total); err != nil {
			t.Fatalf("reference_params.txt: %q: %v", line, err)
		}
		c := Table6()
		c.InChannels = in
		got, gb := c.ParamCount()
		if got != total {
			t.Errorf("in_channels=%d: ParamCount %d, reference %d", in, got, total)
		}
		if len(gb) != len(blocks) {
			t.Fatalf("in_channels=%d: %d blocks, reference %d", in, len(gb), len(blocks))
		}
		for i := range gb {
			if gb[i] != blocks[i] {
				t.Errorf("in_channels=%d block %d: %v, reference %v", in, i, gb[i], blocks[i])
			}
		}
		blocks = nil
		checked++
	}
	if checked != 3 {
		t.Fatalf("expected 3 reference configurations, found %d", checked)
	}
	if got, _ := Table6().ParamCount(); got != 217859905 {
		t.Errorf("unet-table6 (1 -> 1 channels) has %d parameters, reference 217859905", got)
	}
}

func forwardFn(cfg Config) modeltest.Fn {
	return func(ctx *context.Context, in []*Node) *Node { return Forward(ctx, cfg, in[0], in[1], nil) }
}

func timesteps(b int) *tensors.Tensor {
	ts := make([]float32, b)
	for i := range ts {
		ts[i] = float32(137 * (i + 1) % 1000)
	}
	return tensors.FromValue(ts)
}

// TestForwardShapesParamsZeroInit: output shape, the built variables match ParamCount, and the
// output is exactly zero at initialisation (zero-initialised final convolution).
func TestForwardShapesParamsZeroInit(t *testing.T) {
	for _, cfg := range []Config{tiny(), small()} {
		enginetest.ForEach(t, func(t *testing.T, b backends.Backend) {
			if cfg.ModelChannels > 8 && strings.HasPrefix(b.Name(), "xla") {
				t.Skip("the larger config runs on the pure-Go backend only (XLA compile time)")
			}
			ctx := context.New()
			x := tensors.FromFlatDataAndDimensions(make([]float32, 2*8*8*cfg.InChannels), 2, 8, 8, cfg.InChannels)
			out := modeltest.Run(t, b, ctx, forwardFn(cfg), x, timesteps(2))
			if d := out.Shape().Dimensions; fmt.Sprint(d) != fmt.Sprint([]int{2, 8, 8, cfg.OutChannels}) {
				t.Errorf("output shape %v", d)
			}
			for i, v := range modeltest.Floats(out) {
				if v != 0 {
					t.Fatalf("output[%d] = %g at init, want exactly 0", i, v)
				}
			}
			want, _ := cfg.ParamCount()
			if got := modeltest.TrainableParams(ctx); got != want {
				t.Errorf("built %d parameters, ParamCount says %d", got, want)
			}
		})
	}
}

// TestGradients checks all gradients of a tiny U-Net (float64, randomised weights) against
// central finite differences.
func TestGradients(t *testing.T) {
	cfg := tiny()
	enginetest.ForEach(t, func(t *testing.T, b backends.Backend) {
		ctx := context.New()
		x := modeltest.Normal(1, 2, 4, 4, cfg.InChannels)
		ts := tensors.FromValue([]float64{3, 711})
		r := modeltest.Normal(2, 2, 4, 4, cfg.OutChannels)
		loss := func(ctx *context.Context, in []*Node) *Node {
			return ReduceAllSum(Mul(Forward(ctx, cfg, in[0], in[1], nil), in[2]))
		}
		modeltest.Run(t, b, ctx, loss, x, ts, r)
		modeltest.Randomize(t, ctx, 5, 0.3)
		modeltest.GradCheck(t, b, ctx, loss, []*tensors.Tensor{x, ts, r}, 6, 1e-6)
	})
}

// TestTimestepEmbedding compares with the formula evaluated by hand.
func TestTimestepEmbedding(t *testing.T) {
	enginetest.ForEach(t, func(t *testing.T, b backends.Backend) {
		for _, dim := range []int{6, 5} {
			ts := []float64{0, 1, 500}
			out := modeltest.Floats(modeltest.Run(t, b, context.New(), func(_ *context.Context, in []*Node) *Node {
				return mops.TimestepEmbedding(in[0], dim, 10000)
			}, tensors.FromValue(ts)))
			half := dim / 2
			for i, tv := range ts {
				for j := 0; j < dim; j++ {
					var want float64
					switch {
					case j < half:
						want = math.Cos(tv * math.Pow(10000, -float64(j)/float64(half)))
					case j < 2*half:
						want = math.Sin(tv * math.Pow(10000, -float64(j-half)/float64(half)))
					}
					if got := out[i*dim+j]; math.Abs(got-want) > 1e-12 {
						t.Errorf("dim %d t=%g component %d: %g, want %g", dim, tv, j, got, want)
					}
				}
			}
		}
		// dim 4, t = 1: freqs (1, 0.01): [cos 1, cos 0.01, sin 1, sin 0.01].
		out := modeltest.Floats(modeltest.Run(t, b, context.New(), func(_ *context.Context, in []*Node) *Node {
			return mops.TimestepEmbedding(in[0], 4, 10000)
		}, tensors.FromValue([]float64{1})))
		want := []float64{0.5403023058681398, 0.9999500004166653, 0.8414709848078965, 0.009999833334166664}
		for j := range want {
			if math.Abs(out[j]-want[j]) > 1e-12 {
				t.Errorf("dim 4, t=1: %v, want %v", out, want)
				break
			}
		}
	})
}

// TestAttentionBlockLegacyOrder compares AttentionBlock with a plain-loop implementation of
// CompVis's AttentionBlock + QKVAttentionLegacy (qkv channels ordered [head][q|k|v][d]).
func TestAttentionBlockLegacyOrder(t *testing.T) {
	const B, H, W, C, heads, groups = 2, 2, 3, 8, 2, 2
	enginetest.ForEach(t, func(t *testing.T, b backends.Backend) {
		ctx := context.New()
		x := modeltest.Normal(3, B, H, W, C)
		fn := func(ctx *context.Context, in []*Node) *Node { return AttentionBlock(ctx, in[0], heads, groups) }
		modeltest.Run(t, b, ctx, fn, x)
		modeltest.Randomize(t, ctx, 9, 0.5)
		got := modeltest.Floats(modeltest.Run(t, b, ctx, fn, x))
		v := func(scope, name string) []float64 {
			return modeltest.Floats(ctx.GetVariableByScopeAndName("/"+scope, name).MustValue())
		}
		gs, go_ := v("norm", "scale"), v("norm", "offset")
		wq, bq := v("qkv", "weights"), v("qkv", "biases")
		wp, bp := v("proj_out", "weights"), v("proj_out", "biases")
		xs := modeltest.Floats(x)
		T, dh := H*W, C/heads
		for bi := 0; bi < B; bi++ {
			// GroupNorm over (positions, channels of the group).
			hn := make([]float64, T*C)
			for g := 0; g < groups; g++ {
				cs := C / groups
				var m, s float64
				for p := 0; p < T; p++ {
					for c := g * cs; c < (g+1)*cs; c++ {
						m += xs[(bi*T+p)*C+c]
					}
				}
				m /= float64(T * cs)
				for p := 0; p < T; p++ {
					for c := g * cs; c < (g+1)*cs; c++ {
						d := xs[(bi*T+p)*C+c] - m
						s += d * d
					}
				}
				s /= float64(T * cs)
				for p := 0; p < T; p++ {
					for c := g * cs; c < (g+1)*cs; c++ {
						hn[p*C+c] = (xs[(bi*T+p)*C+c]-m)/math.Sqrt(s+1e-5)*gs[c] + go_[c]
					}
				}
			}
			qkv := make([]float64, T*3*C)
			for p := 0; p < T; p++ {
				for o := 0; o < 3*C; o++ {
					s := bq[o]
					for c := 0; c < C; c++ {
						s += hn[p*C+c] * wq[c*3*C+o]
					}
					qkv[p*3*C+o] = s
				}
			}
			a := make([]float64, T*C)
			for hd := 0; hd < heads; hd++ {
				q := func(p, d int) float64 { return qkv[p*3*C+hd*3*dh+d] }
				k := func(p, d int) float64 { return qkv[p*3*C+hd*3*dh+dh+d] }
				vv := func(p, d int) float64 { return qkv[p*3*C+hd*3*dh+2*dh+d] }
				for p := 0; p < T; p++ {
					w := make([]float64, T)
					var mx float64 = math.Inf(-1)
					for s := 0; s < T; s++ {
						for d := 0; d < dh; d++ {
							w[s] += q(p, d) * k(s, d)
						}
						w[s] /= math.Sqrt(float64(dh))
						mx = math.Max(mx, w[s])
					}
					var z float64
					for s := range w {
						w[s] = math.Exp(w[s] - mx)
						z += w[s]
					}
					for d := 0; d < dh; d++ {
						for s := 0; s < T; s++ {
							a[p*C+hd*dh+d] += w[s] / z * vv(s, d)
						}
					}
				}
			}
			for p := 0; p < T; p++ {
				for o := 0; o < C; o++ {
					want := xs[(bi*T+p)*C+o] + bp[o]
					for c := 0; c < C; c++ {
						want += a[p*C+c] * wp[c*C+o]
					}
					if g := got[(bi*T+p)*C+o]; math.Abs(g-want) > 1e-10 {
						t.Fatalf("batch %d pos %d ch %d: %g, reference %g", bi, p, o, g, want)
					}
				}
			}
		}
	})
}

// TestAttentionPermutationEquivariant: self-attention without positional information commutes
// with permutations of the positions (a property the formula implies; catches mixed-up axes).
func TestAttentionPermutationEquivariant(t *testing.T) {
	b := enginetest.XLA(t)
	q, k, v := modeltest.Normal(1, 1, 5, 2, 3), modeltest.Normal(2, 1, 5, 2, 3), modeltest.Normal(3, 1, 5, 2, 3)
	perm := rand.New(rand.NewPCG(1, 1)).Perm(5)
	permute := func(x *tensors.Tensor) *tensors.Tensor {
		f := modeltest.Floats(x)
		o := make([]float64, len(f))
		for i, p := range perm {
			copy(o[i*6:(i+1)*6], f[p*6:(p+1)*6])
		}
		return tensors.FromFlatDataAndDimensions(o, 1, 5, 2, 3)
	}
	fn := func(_ *context.Context, in []*Node) *Node { return mops.Attention(in[0], in[1], in[2], 0.7) }
	a := modeltest.Run(t, b, context.New(), fn, q, k, v)
	ap := modeltest.Floats(modeltest.Run(t, b, context.New(), fn, permute(q), permute(k), permute(v)))
	want := modeltest.Floats(permute(a))
	for i := range want {
		if math.Abs(ap[i]-want[i]) > 1e-12 {
			t.Fatalf("attention is not permutation-equivariant at %d: %g vs %g", i, ap[i], want[i])
		}
	}
}

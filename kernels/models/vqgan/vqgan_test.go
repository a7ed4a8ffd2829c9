package vqgan

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/dmseg/dmseg/kernels/engine/enginetest"
	"github.com/dmseg/dmseg/kernels/models/internal/modeltest"
	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

func dims(x *tensors.Tensor) string { return fmt.Sprint(x.Shape().Dimensions) }

// TestShapes runs the tiny f4 and f8 models on 64x64x1 images: the latent is 16x16x3 (f4) and
// 8x8x4 (f8) as in Tables 9 and 10, the indices lie in the codebook, the reconstruction has the
// input's shape, and the variables built are ParamCount's.
func TestShapes(t *testing.T) {
	for _, c := range []struct {
		cfg    Config
		latent string
	}{{TinyF4(), "[2 16 16 3]"}, {TinyF8(), "[2 8 8 4]"}} {
		enginetest.ForEach(t, func(t *testing.T, b backends.Backend) {
			if c.cfg.Factor() == 4 && strings.HasPrefix(b.Name(), "xla") {
				t.Skip("XLA compilation is slow on the shared CPU; f8 has every layer kind, f4 runs on the pure-Go backend")
			}
			ctx := context.New()
			x := modeltest.Normal(1, 2, 64, 64, 1)
			outs := func(ctx *context.Context, in []*Node) []*Node {
				ctx = ctx.Checked(false) // the decoder is applied twice
				h := Encode(ctx, c.cfg, in[0])
				q := Quantize(ctx.In(CodebookScope), c.cfg, h)
				return []*Node{h, q.ZQ, q.Indices, Decode(ctx, c.cfg, q.ZQ), DecodeLatent(ctx, c.cfg, h)}
			}
			exec, err := context.NewExec(b, ctx, outs)
			if err != nil {
				t.Fatal(err)
			}
			r, err := exec.Exec(x)
			if err != nil {
				t.Fatal(err)
			}
			if dims(r[0]) != c.latent || dims(r[1]) != c.latent {
				t.Errorf("Encode %s and z_q %s, want %s", dims(r[0]), dims(r[1]), c.latent)
			}
			if dims(r[2]) != c.latent[:len(c.latent)-3]+"]" {
				t.Errorf("indices %s", dims(r[2]))
			}
			for _, i := range tensors.MustCopyFlatData[int32](r[2]) {
				if i < 0 || int(i) >= c.cfg.NEmbed {
					t.Fatalf("index %d outside the codebook of %d", i, c.cfg.NEmbed)
				}
			}
			if dims(r[3]) != "[2 64 64 1]" || dims(r[4]) != "[2 64 64 1]" {
				t.Errorf("reconstruction %s, DecodeLatent %s; want [2 64 64 1]", dims(r[3]), dims(r[4]))
			}
			// DecodeLatent(Encode(x)) is the forward pass's reconstruction.
			a, d := modeltest.Floats(r[3]), modeltest.Floats(r[4])
			for i := range a {
				if math.Abs(a[i]-d[i]) > 1e-12 {
					t.Fatalf("DecodeLatent(Encode(x)) differs from Decode(Quantize(Encode(x))) at %d: %g vs %g", i, d[i], a[i])
				}
			}
			want, _ := c.cfg.ParamCount()
			if got := modeltest.TrainableParams(ctx); got != want {
				t.Errorf("built %d parameters, ParamCount %d", got, want)
			}
		})
	}
}

// TestGradients checks every gradient of the autoencoder without its quantiser (whose forward
// function is piecewise constant; see TestStraightThrough) and of a small discriminator against
// central finite differences (float64, randomised weights).
func TestGradients(t *testing.T) {
	cfg := gradCfg()
	enginetest.ForEach(t, func(t *testing.T, b backends.Backend) {
		ctx := context.New()
		x := modeltest.Normal(1, 2, 8, 8, 1)
		r := modeltest.Normal(2, 2, 8, 8, 1)
		loss := func(ctx *context.Context, in []*Node) *Node {
			return ReduceAllSum(Mul(Decode(ctx, cfg, Encode(ctx, cfg, in[0])), in[1]))
		}
		modeltest.Run(t, b, ctx, loss, x, r)
		modeltest.Randomize(t, ctx, 5, 0.3)
		modeltest.GradCheck(t, b, ctx, loss, []*tensors.Tensor{x, r}, 8, 1e-6)

		d := DiscConfig{InChannels: 1, NDF: 4, NLayers: 2, NormGroups: 2}
		dctx := context.New()
		xd := modeltest.Normal(3, 2, 16, 16, 1)
		rd := modeltest.Normal(4, 2, 2, 2, 1)
		dloss := func(ctx *context.Context, in []*Node) *Node {
			return ReduceAllSum(Mul(Discriminator(ctx, d, in[0]), in[1]))
		}
		modeltest.Run(t, b, dctx, dloss, xd, rd)
		modeltest.Randomize(t, dctx, 6, 0.3)
		modeltest.GradCheck(t, b, dctx, dloss, []*tensors.Tensor{xd, rd}, 4, 1e-6)
	})
}

// TestDiscriminatorPerExample: with GroupNorm in place of BatchNorm the logits of one image do
// not depend on the other images of the batch.
func TestDiscriminatorPerExample(t *testing.T) {
	d := DiscConfig{InChannels: 1, NDF: 4, NLayers: 2, NormGroups: 2}
	enginetest.ForEach(t, func(t *testing.T, b backends.Backend) {
		ctx := context.New()
		fn := func(ctx *context.Context, in []*Node) *Node { return Discriminator(ctx, d, in[0]) }
		a := modeltest.Floats(modeltest.Run(t, b, ctx, fn, modeltest.Normal(1, 2, 16, 16, 1)))
		x2 := modeltest.Floats(modeltest.Normal(1, 2, 16, 16, 1))
		for i := 256; i < 512; i++ {
			x2[i] = 3 * x2[i] // change only the second image
		}
		c := modeltest.Floats(modeltest.Run(t, b, ctx, fn, tensors.FromFlatDataAndDimensions(x2, 2, 16, 16, 1)))
		if len(a) != 8 {
			t.Fatalf("logits have %d values, want 2x2x2x1", len(a))
		}
		for i := 0; i < 4; i++ {
			if math.Abs(a[i]-c[i]) > 1e-12 {
				t.Errorf("logit %d of the first image changed from %g to %g with the second image", i, a[i], c[i])
			}
		}
		if a[4] == c[4] && a[5] == c[5] {
			t.Error("the second image's logits did not change with it")
		}
	})
}

package unet

import (
	"fmt"
	"math"
	"slices"

	"github.com/dmseg/dmseg/kernels/models/mops"
	"github.com/dmseg/dmseg/kernels/nn"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Forward applies the U-Net to x [B,H,W,InChannels] at timesteps t [B] (float, the same
// numbers the diffusion process uses, e.g. 0..999) and returns [B,H,W,OutChannels].
// H and W must be divisible by 2^Downsamplings(). If addAfterFirst is not nil it must be
// [B,H,W,ModelChannels]; it is added to the output of the first input block (SegDiff's
// "addition" conditioning). Variables live under ctx's current scope.
func Forward(ctx *context.Context, cfg Config, x, t, addAfterFirst *Node) *Node {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	d := x.Shape().Dimensions
	f := 1 << cfg.Downsamplings()
	if x.Rank() != 4 || d[3] != cfg.InChannels || d[1]%f != 0 || d[2]%f != 0 {
		panic(fmt.Sprintf("unet.Forward: want x [B,H,W,%d] with H, W divisible by %d, got %s", cfg.InChannels, f, x.Shape()))
	}
	if t.Rank() != 1 || t.Shape().Dimensions[0] != d[0] {
		panic(fmt.Sprintf("unet.Forward: want t of shape [%d], got %s", d[0], t.Shape()))
	}
	mc, embDim := cfg.ModelChannels, cfg.TimeEmbedDim()

	// Time embedding: sinusoidal(model_channels) -> Linear -> SiLU -> Linear (4*model_channels).
	te := mops.TimestepEmbedding(ConvertDType(t, x.DType()), mc, 10000)
	te = nn.Dense(ctx.In("time_embed").In("0"), te, embDim)
	emb := nn.Dense(ctx.In("time_embed").In("2"), mops.SiLU(te), embDim)

	h := nn.Conv2D(ctx.In("input_blocks_0"), x, mc, 3)
	if addAfterFirst != nil {
		if !slices.Equal(addAfterFirst.Shape().Dimensions, h.Shape().Dimensions) {
			panic(fmt.Sprintf("unet.Forward: added condition features must be %s, got %s", h.Shape(), addAfterFirst.Shape()))
		}
		h = Add(h, addAfterFirst)
	}
	hs := []*Node{h}
	ch, ds := mc, 1
	for level, m := range cfg.ChannelMult {
		for range cfg.NumResBlocks {
			bctx := ctx.In(fmt.Sprintf("input_blocks_%d", len(hs)))
			h = ResBlock(bctx.In("res"), cfg, h, emb, m*mc, 0)
			ch = m * mc
			if slices.Contains(cfg.AttentionResolutions, ds) {
				h = AttentionBlock(bctx.In("attn"), h, cfg.Heads(ch), cfg.NormGroups)
			}
			hs = append(hs, h)
		}
		if level != len(cfg.ChannelMult)-1 {
			bctx := ctx.In(fmt.Sprintf("input_blocks_%d", len(hs)))
			if cfg.ResblockUpdown {
				h = ResBlock(bctx.In("down"), cfg, h, emb, ch, -1)
			} else {
				// CompVis Downsample with conv_resample: 3x3 conv, stride 2, padding 1.
				h = nn.Conv2D(bctx.In("down"), h, ch, 3, nn.Stride(2), nn.Padding(1))
			}
			hs = append(hs, h)
			ds *= 2
		}
	}
	mctx := ctx.In("middle_block")
	h = ResBlock(mctx.In("res0"), cfg, h, emb, ch, 0)
	h = AttentionBlock(mctx.In("attn"), h, cfg.Heads(ch), cfg.NormGroups)
	h = ResBlock(mctx.In("res1"), cfg, h, emb, ch, 0)

	k := 0
	for level := len(cfg.ChannelMult) - 1; level >= 0; level-- {
		m := cfg.ChannelMult[level]
		for i := 0; i <= cfg.NumResBlocks; i++ {
			bctx := ctx.In(fmt.Sprintf("output_blocks_%d", k))
			skip := hs[len(hs)-1]
			hs = hs[:len(hs)-1]
			h = Concatenate([]*Node{h, skip}, -1)
			h = ResBlock(bctx.In("res"), cfg, h, emb, mc*m, 0)
			ch = mc * m
			if slices.Contains(cfg.AttentionResolutions, ds) {
				h = AttentionBlock(bctx.In("attn"), h, cfg.Heads(ch), cfg.NormGroups)
			}
			if level > 0 && i == cfg.NumResBlocks {
				if cfg.ResblockUpdown {
					h = ResBlock(bctx.In("up"), cfg, h, emb, ch, +1)
				} else {
					h = nn.Conv2D(bctx.In("up"), nn.Upsample2(h), ch, 3)
				}
				ds /= 2
			}
			k++
		}
	}
	h = mops.SiLU(nn.GroupNorm(ctx.In("out").In("norm"), h, cfg.NormGroups))
	return nn.Conv2D(ctx.In("out").In("conv"), h, cfg.OutChannels, 3, nn.ZeroInit())
}

// ResBlock is CompVis's ResBlock without scale-shift norm, on x [B,H,W,Cin] and the time
// embedding emb [B,E]:
//
//	h = conv3x3(resample(SiLU(GN(x))));  h += Linear(SiLU(emb));
//	h = conv3x3_zero(dropout(SiLU(GN(h))));  return skip(resample(x)) + h
//
// resample is 2x2 average pooling (updown = -1), nearest 2x upsampling (+1) or nothing (0);
// skip is the identity when Cin == outCh and a 1x1 convolution otherwise.
func ResBlock(ctx *context.Context, cfg Config, x, emb *Node, outCh, updown int) *Node {
	cin := x.Shape().Dimensions[3]
	h := mops.SiLU(nn.GroupNorm(ctx.In("in_norm"), x, cfg.NormGroups))
	switch updown {
	case -1:
		h, x = nn.AvgPool2(h), nn.AvgPool2(x)
	case +1:
		h, x = nn.Upsample2(h), nn.Upsample2(x)
	}
	h = nn.Conv2D(ctx.In("in_conv"), h, outCh, 3)
	e := nn.Dense(ctx.In("emb"), mops.SiLU(emb), outCh)
	h = Add(h, InsertAxes(e, 1, 1))
	h = mops.SiLU(nn.GroupNorm(ctx.In("out_norm"), h, cfg.NormGroups))
	if cfg.Dropout > 0 {
		h = mops.Dropout(ctx, h, cfg.Dropout)
	}
	h = nn.Conv2D(ctx.In("out_conv"), h, outCh, 3, nn.ZeroInit())
	if cin != outCh {
		x = nn.Conv2D(ctx.In("skip"), x, outCh, 1)
	}
	return Add(x, h)
}

// AttentionBlock is CompVis's AttentionBlock with QKVAttentionLegacy channel order: on x
// [B,H,W,C], qkv = Linear(GN(x)) (a 1x1 conv, C -> 3C) whose 3C channels are ordered
// [head][q|k|v][C/heads]; per head softmax(q k^T / sqrt(C/heads)) v; heads concatenated in order,
// then a zero-initialised 1x1 proj_out, added to x.
func AttentionBlock(ctx *context.Context, x *Node, heads, groups int) *Node {
	d := x.Shape().Dimensions
	b, c := d[0], d[3]
	tlen := d[1] * d[2]
	dh := c / heads
	h := nn.GroupNorm(ctx.In("norm"), x, groups)
	qkv := nn.Dense(ctx.In("qkv"), Reshape(h, b, tlen, c), 3*c)
	qkv = Reshape(qkv, b, tlen, heads, 3, dh)
	q, k, v := mops.Pick(qkv, 3, 0), mops.Pick(qkv, 3, 1), mops.Pick(qkv, 3, 2)
	a := Reshape(mops.Attention(q, k, v, 1/math.Sqrt(float64(dh))), b, tlen, c)
	out := nn.Dense(ctx.In("proj_out"), a, c, nn.DenseZeroInit())
	return Add(x, Reshape(out, d...))
}

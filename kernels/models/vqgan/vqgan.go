package vqgan

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/dmseg/dmseg/kernels/models/mops"
	"github.com/dmseg/dmseg/kernels/nn"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

func mustValidate(cfg Config) {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
}

func checkImage(what string, x *Node, channels, factor int) {
	d := x.Shape().Dimensions
	if x.Rank() != 4 || d[3] != channels || d[1]%factor != 0 || d[2]%factor != 0 {
		panic(fmt.Sprintf("vqgan.%s: want [B,H,W,%d] with H, W divisible by %d, got %s", what, channels, factor, x.Shape()))
	}
}

// Encoder is the reference Encoder (thesis section 5.1, Tables 9-10): x [B,H,W,InChannels] ->
// [B,H/f,W/f,ZChannels] with f = cfg.Factor(). Variables under ctx's scope: conv_in,
// down/<level>/{block,attn}/<i>, down/<level>/downsample, mid/{block_1,attn_1,block_2},
// norm_out, conv_out.
func Encoder(ctx *context.Context, cfg Config, x *Node) *Node {
	mustValidate(cfg)
	checkImage("Encoder", x, cfg.InChannels, cfg.Factor())
	last := len(cfg.ChMult) - 1
	h := nn.Conv2D(ctx.In("conv_in"), x, cfg.Ch, 3)
	res := cfg.Resolution
	for level, m := range cfg.ChMult {
		lctx := ctx.In("down").In(strconv.Itoa(level))
		for i := range cfg.NumResBlocks {
			h = ResnetBlock(lctx.In("block").In(strconv.Itoa(i)), cfg, h, m*cfg.Ch)
			if slices.Contains(cfg.AttnResolutions, res) {
				h = AttnBlock(lctx.In("attn").In(strconv.Itoa(i)), h, cfg.NormGroups)
			}
		}
		if level != last {
			// Downsample with conv: pad (0,1,0,1), then a 3x3 stride-2 conv without padding.
			h = nn.Conv2D(lctx.In("downsample"), h, m*cfg.Ch, 3, nn.Stride(2), nn.PadAsym(0, 1, 0, 1))
			res /= 2
		}
	}
	h = midBlock(ctx.In("mid"), cfg, h)
	h = mops.SiLU(nn.GroupNorm(ctx.In("norm_out"), h, cfg.NormGroups))
	return nn.Conv2D(ctx.In("conv_out"), h, cfg.ZChannels, 3)
}

// Decoder is the reference Decoder (thesis section 5.1, Tables 9-10): z [B,h,w,ZChannels] ->
// [B,h f,w f,OutCh]. Variables under ctx's scope: conv_in, mid/..., up/<level>/{block,attn}/<i>,
// up/<level>/upsample, norm_out, conv_out (whose weights are the "last layer" of the adaptive
// GAN weight, see LastLayer).
func Decoder(ctx *context.Context, cfg Config, z *Node) *Node {
	mustValidate(cfg)
	checkImage("Decoder", z, cfg.ZChannels, 1)
	last := len(cfg.ChMult) - 1
	h := nn.Conv2D(ctx.In("conv_in"), z, cfg.Ch*cfg.ChMult[last], 3)
	h = midBlock(ctx.In("mid"), cfg, h)
	res := cfg.Resolution >> last
	for level := last; level >= 0; level-- {
		lctx := ctx.In("up").In(strconv.Itoa(level))
		out := cfg.ChMult[level] * cfg.Ch
		for i := 0; i <= cfg.NumResBlocks; i++ {
			h = ResnetBlock(lctx.In("block").In(strconv.Itoa(i)), cfg, h, out)
			if slices.Contains(cfg.AttnResolutions, res) {
				h = AttnBlock(lctx.In("attn").In(strconv.Itoa(i)), h, cfg.NormGroups)
			}
		}
		if level != 0 {
			h = nn.Conv2D(lctx.In("upsample"), nn.Upsample2(h), out, 3)
			res *= 2
		}
	}
	h = mops.SiLU(nn.GroupNorm(ctx.In("norm_out"), h, cfg.NormGroups))
	return nn.Conv2D(ctx.In("conv_out"), h, cfg.OutCh, 3)
}

// midBlock is ResnetBlock, AttnBlock, ResnetBlock at constant width; the reference builds the
// attention unconditionally (make_attn "vanilla"), whatever attn_resolutions says.
func midBlock(ctx *context.Context, cfg Config, h *Node) *Node {
	ch := h.Shape().Dimensions[3]
	h = ResnetBlock(ctx.In("block_1"), cfg, h, ch)
	h = AttnBlock(ctx.In("attn_1"), h, cfg.NormGroups)
	return ResnetBlock(ctx.In("block_2"), cfg, h, ch)
}

// ResnetBlock is the reference ResnetBlock without time embedding on x [B,H,W,Cin]:
//
//	h = conv1(swish(norm1(x)));  h = conv2(dropout(swish(norm2(h))));  return nin_shortcut(x) + h
//
// with 3x3 convs and nin_shortcut a 1x1 conv present only when Cin != outCh.
func ResnetBlock(ctx *context.Context, cfg Config, x *Node, outCh int) *Node {
	cin := x.Shape().Dimensions[3]
	h := mops.SiLU(nn.GroupNorm(ctx.In("norm1"), x, cfg.NormGroups))
	h = nn.Conv2D(ctx.In("conv1"), h, outCh, 3)
	h = mops.SiLU(nn.GroupNorm(ctx.In("norm2"), h, cfg.NormGroups))
	if cfg.Dropout > 0 {
		h = mops.Dropout(ctx, h, cfg.Dropout)
	}
	h = nn.Conv2D(ctx.In("conv2"), h, outCh, 3)
	if cin != outCh {
		x = nn.Conv2D(ctx.In("nin_shortcut"), x, outCh, 1)
	}
	return Add(x, h)
}

// AttnBlock is the reference's single-head spatial self-attention on x [B,H,W,C]:
// h = norm(x); q, k, v = 1x1 convs of h; out = softmax(q k^T / sqrt(C)) v over the H*W positions;
// return x + proj_out(out). All four 1x1 convs have biases and PyTorch's default initialisation.
func AttnBlock(ctx *context.Context, x *Node, groups int) *Node {
	d := x.Shape().Dimensions
	b, c, t := d[0], d[3], d[1]*d[2]
	h := Reshape(nn.GroupNorm(ctx.In("norm"), x, groups), b, t, 1, c)
	q := nn.Dense(ctx.In("q"), h, c)
	k := nn.Dense(ctx.In("k"), h, c)
	v := nn.Dense(ctx.In("v"), h, c)
	a := Reshape(mops.Attention(q, k, v, 1/math.Sqrt(float64(c))), b, t, c)
	return Add(x, Reshape(nn.Dense(ctx.In("proj_out"), a, c), d...))
}

// Encode is VQModelInterface.encode: quant_conv(Encoder(x)), the latent BEFORE quantisation,
// [B,H/f,W/f,EmbedDim]. This is the space the thesis's LDMs and LBBDMs diffuse in; DecodeLatent
// quantises and decodes it. Variables under ctx's scopes encoder and quant_conv.
func Encode(ctx *context.Context, cfg Config, x *Node) *Node {
	return nn.Conv2D(ctx.In("quant_conv"), Encoder(ctx.In("encoder"), cfg, x), cfg.EmbedDim, 1)
}

// Decode is VQModel.decode: Decoder(post_quant_conv(zq)) for zq [B,h,w,EmbedDim].
func Decode(ctx *context.Context, cfg Config, zq *Node) *Node {
	checkImage("Decode", zq, cfg.EmbedDim, 1)
	return Decoder(ctx.In("decoder"), cfg, nn.Conv2D(ctx.In("post_quant_conv"), zq, cfg.ZChannels, 1))
}

// DecodeLatent is VQModelInterface.decode: quantise a latent (e.g. a diffusion model's sample)
// to its nearest codes, then Decode.
func DecodeLatent(ctx *context.Context, cfg Config, h *Node) *Node {
	return Decode(ctx, cfg, Quantize(ctx.In(CodebookScope), cfg, h).ZQ)
}

// Forward is VQModel.forward for training: x -> Encode -> Quantize -> Decode. It returns the
// decoder output [B,H,W,OutCh] (see ReconImage for the image it stands for) and the quantiser's
// result (straight-through latent, indices, loss).
func Forward(ctx *context.Context, cfg Config, x *Node) (dec *Node, q Quantized) {
	q = Quantize(ctx.In(CodebookScope), cfg, Encode(ctx, cfg, x))
	return Decode(ctx, cfg, q.ZQ), q
}

// LastLayer is the weights node of the decoder's conv_out in graph g (reference
// get_last_layer), for AdaptiveWeight. The model must have been built in ctx already.
func LastLayer(ctx *context.Context, g *Graph) *Node {
	v := ctx.In("decoder").In("conv_out").GetVariable("weights")
	if v == nil {
		panic(fmt.Sprintf("vqgan.LastLayer: no decoder/conv_out/weights under scope %s (build the model first)", ctx.Scope()))
	}
	return v.ValueGraph(g)
}

// Package dit is a Diffusion Transformer backbone (Peebles & Xie, "Scalable Diffusion Models with
// Transformers"), the thesis's proposed future-work denoiser for BBDM (section 5): patchify with a
// p x p stride-p convolution, add fixed 2-D sin-cos position embeddings, Depth transformer blocks
// whose LayerNorms are modulated by the timestep embedding (adaLN-Zero: shift, scale and a gate
// per branch, regressed by a zero-initialised linear layer), a modulated final layer and
// unpatchify. No class labels and no learned sigma. Tensors are NHWC.
package dit

import (
	"fmt"
	"math"

	"github.com/dmseg/dmseg/kernels/models/mops"
	"github.com/dmseg/dmseg/kernels/nn"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Config sizes the transformer.
type Config struct {
	InChannels  int `json:"in_channels"`
	OutChannels int `json:"out_channels"`
	PatchSize   int `json:"patch_size"` // p: the image is cut into p x p patches
	Hidden      int `json:"hidden"`     // D: token width (divisible by 4 and by Heads)
	Depth       int `json:"depth"`      // number of transformer blocks
	Heads       int `json:"heads"`
	MLPRatio    int `json:"mlp_ratio"` // MLP hidden width = MLPRatio * Hidden (DiT: 4)
	FreqDim     int `json:"freq_dim"`  // width of the sinusoidal timestep features (DiT: 256)
}

// Validate reports the first inconsistency.
func (c Config) Validate() error {
	switch {
	case c.InChannels < 1 || c.OutChannels < 1 || c.PatchSize < 1 || c.Depth < 0 || c.MLPRatio < 1 || c.FreqDim < 2:
		return fmt.Errorf("dit: invalid sizes %+v", c)
	case c.Hidden%4 != 0 || c.Heads < 1 || c.Hidden%c.Heads != 0:
		return fmt.Errorf("dit: hidden %d must be divisible by 4 and by heads %d", c.Hidden, c.Heads)
	}
	return nil
}

// Block is a named part of the network with its trainable parameter count.
type Block struct {
	Name   string
	Params int
}

func dense(in, out int) int { return in*out + out }

// ParamCount counts trainable parameters (the position embedding is fixed, not trainable).
func (c Config) ParamCount() (total int, blocks []Block) {
	d, p := c.Hidden, c.PatchSize
	add := func(name string, n int) { blocks = append(blocks, Block{name, n}); total += n }
	add("x_embedder", p*p*c.InChannels*d+d)
	add("t_embedder", dense(c.FreqDim, d)+dense(d, d))
	for i := 0; i < c.Depth; i++ {
		add(fmt.Sprintf("blocks.%d", i), dense(d, 6*d)+dense(d, 3*d)+dense(d, d)+dense(d, c.MLPRatio*d)+dense(c.MLPRatio*d, d))
	}
	add("final_layer", dense(d, 2*d)+dense(d, p*p*c.OutChannels))
	return total, blocks
}

// PosEmbed2D is DiT's fixed 2-D sin-cos position embedding for an h x w grid of tokens, as
// [h*w, dim] float64 values in row-major token order. The first dim/2 features encode the
// column index j, the last dim/2 the row index i (DiT's meshgrid(w, h) order); each half is
// [sin(pos*omega_k), cos(pos*omega_k)] with omega_k = 10000^(-k/(dim/4)), k < dim/4.
func PosEmbed2D(h, w, dim int) [][]float64 {
	q := dim / 4
	out := make([][]float64, h*w)
	for i := 0; i < h; i++ {
		for j := 0; j < w; j++ {
			e := make([]float64, dim)
			for half, pos := range []float64{float64(j), float64(i)} {
				for k := 0; k < q; k++ {
					a := pos * math.Pow(10000, -float64(k)/float64(q))
					e[half*2*q+k] = math.Sin(a)
					e[half*2*q+q+k] = math.Cos(a)
				}
			}
			out[i*w+j] = e
		}
	}
	return out
}

// Forward maps x [B,H,W,InChannels] at timesteps t [B] to [B,H,W,OutChannels]; H and W must be
// divisible by PatchSize. The output is exactly zero at initialisation (zero final layer).
func Forward(ctx *context.Context, cfg Config, x, t *Node) *Node {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	dims := x.Shape().Dimensions
	p, d := cfg.PatchSize, cfg.Hidden
	if x.Rank() != 4 || dims[3] != cfg.InChannels || dims[1]%p != 0 || dims[2]%p != 0 {
		panic(fmt.Sprintf("dit.Forward: want x [B,H,W,%d] with H, W divisible by %d, got %s", cfg.InChannels, p, x.Shape()))
	}
	if t.Rank() != 1 || t.Shape().Dimensions[0] != dims[0] {
		panic(fmt.Sprintf("dit.Forward: want t of shape [%d], got %s", dims[0], t.Shape()))
	}
	g := x.Graph()
	b, gh, gw := dims[0], dims[1]/p, dims[2]/p
	n := gh * gw
	tok := nn.Conv2D(ctx.In("x_embedder"), x, d, p, nn.Stride(p), nn.Padding(0))
	pos := ConvertDType(Const(g, PosEmbed2D(gh, gw, d)), x.DType())
	h := Add(Reshape(tok, b, n, d), InsertAxes(pos, 0))

	te := mops.TimestepEmbedding(ConvertDType(t, x.DType()), cfg.FreqDim, 10000)
	te = nn.Dense(ctx.In("t_embedder").In("0"), te, d)
	c := nn.Dense(ctx.In("t_embedder").In("2"), mops.SiLU(te), d)
	sc := mops.SiLU(c)

	for i := 0; i < cfg.Depth; i++ {
		h = TransformerBlock(ctx.Inf("blocks_%d", i), cfg, h, sc)
	}
	mod := Reshape(nn.Dense(ctx.In("final_layer").In("adaLN"), sc, 2*d, nn.DenseZeroInit()), b, 2, d)
	h = modulate(mops.LayerNorm(h, 1e-6), mops.Pick(mod, 1, 0), mops.Pick(mod, 1, 1))
	h = nn.Dense(ctx.In("final_layer").In("linear"), h, p*p*cfg.OutChannels, nn.DenseZeroInit())
	// Unpatchify: token (i,j) feature (u,v,c) -> pixel (i*p+u, j*p+v) channel c.
	h = Reshape(h, b, gh, gw, p, p, cfg.OutChannels)
	h = TransposeAllDims(h, 0, 1, 3, 2, 4, 5)
	return Reshape(h, b, gh*p, gw*p, cfg.OutChannels)
}

// modulate is x * (1 + scale) + shift with per-sample shift, scale [B,D] broadcast over tokens.
func modulate(x, shift, scale *Node) *Node {
	return Add(Mul(x, OnePlus(InsertAxes(scale, 1))), InsertAxes(shift, 1))
}

// TransformerBlock is a DiT block with adaLN-Zero on h [B,N,D] given SiLU(c) [B,D]:
//
//	shift1, scale1, gate1, shift2, scale2, gate2 = Linear_zero(SiLU(c))
//	h += gate1 * Attn(modulate(LN(h), shift1, scale1));  h += gate2 * MLP(modulate(LN(h), shift2, scale2))
//
// LN has no affine parameters (eps 1e-6); Attn is multi-head self-attention with a fused qkv
// linear ordered [q|k|v][head][d] (timm) and an output projection; MLP is Linear-GELU(tanh)-Linear.
func TransformerBlock(ctx *context.Context, cfg Config, h, siluC *Node) *Node {
	dims := h.Shape().Dimensions
	b, n, d := dims[0], dims[1], dims[2]
	dh := d / cfg.Heads
	mod := Reshape(nn.Dense(ctx.In("adaLN"), siluC, 6*d, nn.DenseZeroInit()), b, 6, d)
	m := func(i int) *Node { return mops.Pick(mod, 1, i) }

	a := modulate(mops.LayerNorm(h, 1e-6), m(0), m(1))
	qkv := Reshape(nn.Dense(ctx.In("attn").In("qkv"), a, 3*d), b, n, 3, cfg.Heads, dh)
	att := mops.Attention(mops.Pick(qkv, 2, 0), mops.Pick(qkv, 2, 1), mops.Pick(qkv, 2, 2), 1/math.Sqrt(float64(dh)))
	att = nn.Dense(ctx.In("attn").In("proj"), Reshape(att, b, n, d), d)
	h = Add(h, Mul(InsertAxes(m(2), 1), att))

	f := modulate(mops.LayerNorm(h, 1e-6), m(3), m(4))
	f = mops.GELUTanh(nn.Dense(ctx.In("mlp").In("fc1"), f, cfg.MLPRatio*d))
	f = nn.Dense(ctx.In("mlp").In("fc2"), f, d)
	return Add(h, Mul(InsertAxes(m(5), 1), f))
}

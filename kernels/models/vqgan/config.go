// Package vqgan is the VQ-GAN autoencoder of the thesis's chapter 5 (section 5.1, Appendix
// Tables 9 and 10): the first stage that maps X-rays and masks to the latent spaces of the LDMs
// and LBBDMs. It follows the CompVis VQModel the thesis adopted (latent-diffusion's
// ldm.models.autoencoder.VQModel with taming-transformers' VectorQuantizer2, also BBDM's copy):
//
//   - Encoder: conv_in, per level num_res_blocks ResnetBlocks (GroupNorm+swish, 3x3 convs, a 1x1
//     nin_shortcut when the width changes, no time embedding), single-head self-attention after
//     each block at the resolutions in attn_resolutions, a stride-2 3x3 conv with (0,1,0,1)
//     padding between levels; a middle block res-attn-res whose attention is always there (also
//     when attn_resolutions is empty); GroupNorm, swish, conv_out to z_channels (double_z false).
//   - quant_conv (1x1, z_channels -> embed_dim), the codebook (n_embed x embed_dim) with
//     nearest-neighbour quantisation and straight-through gradients, post_quant_conv (1x1,
//     embed_dim -> z_channels).
//   - Decoder: conv_in, the same middle block, per level (deepest first) num_res_blocks+1
//     ResnetBlocks (+ attention at attn_resolutions), nearest 2x upsampling + 3x3 conv between
//     levels; GroupNorm, swish, conv_out to out_ch.
//   - A PatchGAN discriminator (pix2pix NLayerDiscriminator) with the hinge loss, used only
//     in training (see loss.go).
//
// Tensors are NHWC. Variables live under the scopes encoder, quant_conv, quantize (variable
// "embedding"), post_quant_conv, decoder and (training only) discriminator.
//
// Differences from the PyTorch reference, all small and deliberate: GroupNorm uses
// kernels/nn's eps 1e-5 (the reference's Normalize uses 1e-6); the discriminator normalises with
// GroupNorm instead of BatchNorm2d (same trainable parameters, no running statistics, no coupling
// of the examples of a batch); there is no LPIPS network, so the reconstruction term is L1 (or
// BCE for masks) alone; Restarter, a guard against codebook collapse that the reference lacks,
// is offered for the training loop to use or not. The quantiser keeps the reference's (legacy)
// placement of beta, see Config.Legacy.
package vqgan

import (
	"fmt"
	"slices"
	"strings"
)

// Config holds the VQModel hyperparameters, named as in the CompVis/taming configs (the thesis's
// Tables 9 and 10), plus the three values the reference hard-codes.
type Config struct {
	EmbedDim   int   `json:"embed_dim"`  // width of a codebook vector (the latent channels the diffusion model sees)
	NEmbed     int   `json:"n_embed"`    // codebook size
	DoubleZ    bool  `json:"double_z"`   // must be false: a VQ model has no variance channels
	ZChannels  int   `json:"z_channels"` // encoder output / decoder input channels
	Resolution int   `json:"resolution"` // training image size; attention placement is relative to it
	InChannels int   `json:"in_channels"`
	OutCh      int   `json:"out_ch"`
	Ch         int   `json:"ch"`      // base width
	ChMult     []int `json:"ch_mult"` // width multiplier per level; len-1 downsamplings
	// NumResBlocks is the number of ResnetBlocks per encoder level (the decoder has one more).
	NumResBlocks int `json:"num_res_blocks"`
	// AttnResolutions lists feature-map SIZES (in pixels, relative to Resolution) whose levels get
	// self-attention after every ResnetBlock; empty (the thesis's "null") means only the middle
	// blocks attend.
	AttnResolutions []int   `json:"attn_resolutions"`
	Dropout         float64 `json:"dropout"`
	// NormGroups is the GroupNorm group count (the reference hard-codes 32).
	NormGroups int `json:"norm_groups"`
	// Beta weighs the quantiser's second loss term (the reference VQModel hard-codes 0.25).
	Beta float64 `json:"beta"`
	// Legacy is taming's VectorQuantizer2 `legacy` flag, true by default there and in every
	// VQModel the thesis could have used: beta multiplies the CODEBOOK term,
	//   loss = mean((z - sg[z_q])^2) + beta * mean((sg[z] - z_q)^2).
	// With Legacy false it is VQ-VAE's codebook + beta * commitment:
	//   loss = mean((sg[z] - z_q)^2) + beta * mean((z - sg[z_q])^2).
	Legacy bool `json:"legacy"`
}

// Table9 is the thesis's VQModel-f4 (Appendix Table 9): 64x64x1 -> 16x16x3, codebook 8192 x 3.
// It equals latent-diffusion's vq-f4-64.yaml with one input and output channel. The table's
// other rows (lr_g_factor 1.0, sane_index_shape false, normalize_latent false; Table 10's
// image_key) are training and data settings, not architecture.
//
// thesis: table9
func Table9() Config {
	return Config{EmbedDim: 3, NEmbed: 8192, ZChannels: 3, Resolution: 64, InChannels: 1, OutCh: 1,
		Ch: 128, ChMult: []int{1, 2, 4}, NumResBlocks: 2, AttnResolutions: nil, Dropout: 0,
		NormGroups: 32, Beta: 0.25, Legacy: true}
}

// Table10 is the thesis's VQModel-f8 (Appendix Table 10): 64x64x1 -> 8x8x4, codebook 16384 x 4.
// It is latent-diffusion's vq-f8 at resolution 64 instead of 256, so attn_resolutions [32]
// puts attention on the 32x32 level (width 256), not on the latent level as at 256.
//
// thesis: table10
func Table10() Config {
	return Config{EmbedDim: 4, NEmbed: 16384, ZChannels: 4, Resolution: 64, InChannels: 1, OutCh: 1,
		Ch: 128, ChMult: []int{1, 2, 2, 4}, NumResBlocks: 2, AttnResolutions: []int{32}, Dropout: 0,
		NormGroups: 32, Beta: 0.25, Legacy: true}
}

// CPUF4 is Table9 sized for the 2-core CPU: ch 16, GroupNorm(8), codebook 512.
func CPUF4() Config {
	c := Table9()
	c.Ch, c.NormGroups, c.NEmbed = 16, 8, 512
	return c
}

// CPUF8 is Table10 sized for the 2-core CPU: ch 16, GroupNorm(8), codebook 1024.
func CPUF8() Config {
	c := Table10()
	c.Ch, c.NormGroups, c.NEmbed = 16, 8, 1024
	return c
}

// TinyF4 has Table9's shape (64x64x1 -> 16x16x3) with ch 4 and one block per level, for tests.
func TinyF4() Config {
	return Config{EmbedDim: 3, NEmbed: 16, ZChannels: 3, Resolution: 64, InChannels: 1, OutCh: 1,
		Ch: 4, ChMult: []int{1, 2, 4}, NumResBlocks: 1, NormGroups: 2, Beta: 0.25, Legacy: true}
}

// TinyF8 has Table10's shape (64x64x1 -> 8x8x4, attention at 32) with ch 4, for tests.
func TinyF8() Config {
	return Config{EmbedDim: 4, NEmbed: 16, ZChannels: 4, Resolution: 64, InChannels: 1, OutCh: 1,
		Ch: 4, ChMult: []int{1, 2, 2, 4}, NumResBlocks: 1, AttnResolutions: []int{32}, NormGroups: 2,
		Beta: 0.25, Legacy: true}
}

// Factor is the downsampling factor 2^(len(ch_mult)-1) (4 for Table 9, 8 for Table 10).
func (c Config) Factor() int { return 1 << (len(c.ChMult) - 1) }

// LatentSize is the side of the latent of a Resolution-sized image.
func (c Config) LatentSize() int { return c.Resolution / c.Factor() }

// Validate reports the first inconsistency in c.
func (c Config) Validate() error {
	switch {
	case c.DoubleZ:
		return fmt.Errorf("vqgan: double_z must be false for a vector-quantised model")
	case c.EmbedDim < 1 || c.NEmbed < 1 || c.ZChannels < 1:
		return fmt.Errorf("vqgan: need embed_dim, n_embed, z_channels >= 1, got %d, %d, %d", c.EmbedDim, c.NEmbed, c.ZChannels)
	case c.InChannels < 1 || c.OutCh < 1:
		return fmt.Errorf("vqgan: in_channels/out_ch must be >= 1, got %d/%d", c.InChannels, c.OutCh)
	case c.Ch < 1 || len(c.ChMult) == 0 || c.NumResBlocks < 1:
		return fmt.Errorf("vqgan: need ch >= 1, a ch_mult and num_res_blocks >= 1")
	case c.NormGroups < 1:
		return fmt.Errorf("vqgan: norm groups must be >= 1, got %d", c.NormGroups)
	case c.Dropout < 0 || c.Dropout >= 1:
		return fmt.Errorf("vqgan: dropout %g not in [0,1)", c.Dropout)
	case c.Beta < 0:
		return fmt.Errorf("vqgan: beta %g < 0", c.Beta)
	case c.Resolution < 1 || c.Resolution%c.Factor() != 0:
		return fmt.Errorf("vqgan: resolution %d not divisible by the downsampling factor %d", c.Resolution, c.Factor())
	}
	if c.Ch%c.NormGroups != 0 {
		return fmt.Errorf("vqgan: ch %d not divisible into %d norm groups", c.Ch, c.NormGroups)
	}
	for _, m := range c.ChMult {
		if m < 1 || (m*c.Ch)%c.NormGroups != 0 {
			return fmt.Errorf("vqgan: level width %d (mult %d) not divisible into %d norm groups", m*c.Ch, m, c.NormGroups)
		}
	}
	return nil
}

// Part is one named part of a network with its number of trainable parameters. Names follow the
// reference's state_dict prefixes (encoder.down.0, quantize, decoder.up.1, ...).
type Part struct {
	Name   string
	Params int
}

// Counts are the parameter totals by component; Inference is what the reference VQModel holds
// (encoder, quant_conv, codebook, post_quant_conv, decoder), without the discriminator.
type Counts struct {
	Encoder, QuantConv, Codebook, PostQuantConv, Decoder, Inference int
}

func conv(cin, cout, k int) int { return k*k*cin*cout + cout }
func norm(ch int) int           { return 2 * ch }

// resnetParams: norm1 + conv1 3x3 + norm2 + conv2 3x3 (+ 1x1 nin_shortcut when cin != cout).
func resnetParams(cin, cout int) int {
	n := norm(cin) + conv(cin, cout, 3) + norm(cout) + conv(cout, cout, 3)
	if cin != cout {
		n += conv(cin, cout, 1)
	}
	return n
}

// attnParams: norm + q, k, v, proj_out (1x1 convs ch -> ch).
func attnParams(ch int) int { return norm(ch) + 4*conv(ch, ch, 1) }

// ParamCount derives the trainable parameters of the inference model (no discriminator) by
// arithmetic on the layer shapes, part by part in the reference's state_dict order.
func (c Config) ParamCount() (total int, parts []Part) {
	add := func(name string, n int) { parts = append(parts, Part{name, n}); total += n }
	last := len(c.ChMult) - 1
	mid := func(ch int) int { return 2*resnetParams(ch, ch) + attnParams(ch) }

	add("encoder.conv_in", conv(c.InChannels, c.Ch, 3))
	bin, res := c.Ch, c.Resolution
	for level, m := range c.ChMult {
		n, bout := 0, m*c.Ch
		for range c.NumResBlocks {
			n += resnetParams(bin, bout)
			bin = bout
			if slices.Contains(c.AttnResolutions, res) {
				n += attnParams(bout)
			}
		}
		if level != last {
			n += conv(bout, bout, 3)
			res /= 2
		}
		add(fmt.Sprintf("encoder.down.%d", level), n)
	}
	add("encoder.mid", mid(bin))
	add("encoder.norm_out", norm(bin))
	add("encoder.conv_out", conv(bin, c.ZChannels, 3))
	add("quant_conv", conv(c.ZChannels, c.EmbedDim, 1))
	add("quantize", c.NEmbed*c.EmbedDim)
	add("post_quant_conv", conv(c.EmbedDim, c.ZChannels, 1))

	bin, res = c.Ch*c.ChMult[last], c.Resolution>>last
	add("decoder.conv_in", conv(c.ZChannels, bin, 3))
	add("decoder.mid", mid(bin))
	up := make([]int, len(c.ChMult))
	for level := last; level >= 0; level-- {
		n, bout := 0, c.ChMult[level]*c.Ch
		for i := 0; i <= c.NumResBlocks; i++ {
			n += resnetParams(bin, bout)
			bin = bout
			if slices.Contains(c.AttnResolutions, res) {
				n += attnParams(bout)
			}
		}
		if level != 0 {
			n += conv(bout, bout, 3)
			res *= 2
		}
		up[level] = n
	}
	for level, n := range up {
		add(fmt.Sprintf("decoder.up.%d", level), n)
	}
	add("decoder.norm_out", norm(bin))
	add("decoder.conv_out", conv(bin, c.OutCh, 3))
	return total, parts
}

// Counts sums ParamCount's parts by component.
func (c Config) Counts() Counts {
	var k Counts
	total, parts := c.ParamCount()
	for _, p := range parts {
		switch {
		case strings.HasPrefix(p.Name, "encoder."):
			k.Encoder += p.Params
		case strings.HasPrefix(p.Name, "decoder."):
			k.Decoder += p.Params
		case p.Name == "quant_conv":
			k.QuantConv += p.Params
		case p.Name == "post_quant_conv":
			k.PostQuantConv += p.Params
		case p.Name == "quantize":
			k.Codebook += p.Params
		}
	}
	k.Inference = total
	return k
}

// DiscConfig sizes the PatchGAN discriminator (taming's NLayerDiscriminator: 4x4 convs, stride 2
// for the first NLayers, LeakyReLU 0.2, a normalisation after every conv but the first and last,
// which are the only ones with a bias).
type DiscConfig struct {
	InChannels int `json:"disc_in_channels"`
	NDF        int `json:"disc_ndf"`        // width of the first conv (reference 64)
	NLayers    int `json:"disc_num_layers"` // stride-2 convs (reference 3)
	// NormGroups: GroupNorm groups used where the reference has BatchNorm2d (see Discriminator).
	NormGroups int `json:"disc_norm_groups"`
}

// PatchGAN is the reference discriminator (ndf 64, 3 layers) for images with `in` channels.
func PatchGAN(in int) DiscConfig {
	return DiscConfig{InChannels: in, NDF: 64, NLayers: 3, NormGroups: 32}
}

// widths returns the output channels of the NLayers+2 convs (the reference caps the multiplier at 8).
func (d DiscConfig) widths() []int {
	w := []int{d.NDF}
	for n := 1; n <= d.NLayers; n++ {
		w = append(w, d.NDF*min(1<<n, 8))
	}
	return append(w, 1)
}

// Validate reports the first invalid size.
func (d DiscConfig) Validate() error {
	if d.InChannels < 1 || d.NDF < 1 || d.NLayers < 1 || d.NormGroups < 1 {
		return fmt.Errorf("vqgan: invalid discriminator sizes %+v", d)
	}
	w := d.widths()
	for _, ch := range w[1 : len(w)-1] {
		if ch%d.NormGroups != 0 {
			return fmt.Errorf("vqgan: discriminator width %d not divisible into %d norm groups", ch, d.NormGroups)
		}
	}
	return nil
}

// OutputSize is the side of the patch-logit map for an input of side s: each stride-2 4x4 conv
// with padding 1 halves it (floor), the two stride-1 4x4 convs take 1 each (64 -> 6 for 3 layers).
func (d DiscConfig) OutputSize(s int) int {
	for range d.NLayers {
		s = (s+2-4)/2 + 1
	}
	return s - 2
}

// ParamCount is the discriminator's trainable parameters by layer (conv.i, norm.i), in order.
func (d DiscConfig) ParamCount() (total int, parts []Part) {
	add := func(name string, n int) { parts = append(parts, Part{name, n}); total += n }
	w := d.widths()
	cin := d.InChannels
	for i, cout := range w {
		n := 16 * cin * cout
		if i == 0 || i == len(w)-1 {
			n += cout // bias only where there is no normalisation after the conv
		}
		add(fmt.Sprintf("discriminator.conv.%d", i), n)
		if i != 0 && i != len(w)-1 {
			add(fmt.Sprintf("discriminator.norm.%d", i), norm(cout))
		}
		cin = cout
	}
	return total, parts
}

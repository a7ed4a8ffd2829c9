// Package unet is the denoising U-Net of the thesis (section 2.4, Appendix Table 6) with the
// semantics of the CompVis latent-diffusion openaimodel UNetModel it was taken from
// (use_scale_shift_norm=false, use_spatial_transformer=false, conv_resample=true, no class
// labels): residual blocks with GroupNorm+SiLU and an additive time embedding, multi-head
// self-attention at chosen downsampling factors, skip concatenation in the decoder and
// zero-initialised output convolutions. Tensors are NHWC.
package unet

import (
	"fmt"
	"slices"
)

// Config holds the UNetModel hyperparameters, named as in CompVis's openaimodel.
type Config struct {
	InChannels    int   `json:"in_channels"`    // channels of the network input (x_t, plus concatenated condition features)
	OutChannels   int   `json:"out_channels"`   // channels of the prediction
	ModelChannels int   `json:"model_channels"` // base width; also the width of the sinusoidal timestep embedding
	ChannelMult   []int `json:"channel_mult"`   // width multiplier per resolution level
	NumResBlocks  int   `json:"num_res_blocks"` // residual blocks per level in the encoder (the decoder has one more)
	// AttentionResolutions lists DOWNSAMPLING FACTORS ds (1 at the input resolution, 2 after one
	// downsampling, ...) whose levels get self-attention after every non-resampling residual block.
	AttentionResolutions []int `json:"attention_resolutions"`
	// NumHeadChannels fixes the width of each attention head (heads = ch / NumHeadChannels);
	// -1 means use NumHeads heads instead.
	NumHeadChannels int `json:"num_head_channels"`
	NumHeads        int `json:"num_heads"`
	// ResblockUpdown: down/up-sample with a residual block (average pooling / nearest
	// interpolation inside it) instead of a strided / upsample-then-3x3 convolution.
	ResblockUpdown bool    `json:"resblock_updown"`
	Dropout        float64 `json:"dropout"`     // dropout rate inside residual blocks (only while training)
	NormGroups     int     `json:"norm_groups"` // GroupNorm groups (CompVis: 32)
}

// Table6 returns the thesis's U-Net (Appendix Table 6) with 1 input and 1 output channel.
//
// thesis: table6
func Table6() Config {
	return Config{
		InChannels: 1, OutChannels: 1, ModelChannels: 192, ChannelMult: []int{1, 2, 3, 4},
		NumResBlocks: 2, AttentionResolutions: []int{8, 4, 2}, NumHeadChannels: 64, NumHeads: -1,
		ResblockUpdown: true, Dropout: 0, NormGroups: 32,
	}
}

// TimeEmbedDim is the width of the time embedding fed to every residual block (4*ModelChannels).
func (c Config) TimeEmbedDim() int { return 4 * c.ModelChannels }

// Downsamplings is the number of factor-2 downsamplings; inputs must have H, W divisible by 2^that.
func (c Config) Downsamplings() int { return len(c.ChannelMult) - 1 }

// Heads is the number of attention heads used for a layer with ch channels.
func (c Config) Heads(ch int) int {
	if c.NumHeadChannels > 0 {
		return ch / c.NumHeadChannels
	}
	return c.NumHeads
}

// Validate reports the first inconsistency in c.
func (c Config) Validate() error {
	switch {
	case c.InChannels < 1 || c.OutChannels < 1:
		return fmt.Errorf("unet: in/out channels must be >= 1, got %d/%d", c.InChannels, c.OutChannels)
	case c.ModelChannels < 1 || len(c.ChannelMult) == 0 || c.NumResBlocks < 1:
		return fmt.Errorf("unet: need model_channels >= 1, a channel_mult and num_res_blocks >= 1")
	case c.NormGroups < 1:
		return fmt.Errorf("unet: norm groups must be >= 1, got %d", c.NormGroups)
	case c.NumHeadChannels <= 0 && c.NumHeads <= 0:
		return fmt.Errorf("unet: set num_head_channels or num_heads")
	case c.Dropout < 0 || c.Dropout >= 1:
		return fmt.Errorf("unet: dropout %g not in [0,1)", c.Dropout)
	}
	for _, m := range c.ChannelMult {
		ch := m * c.ModelChannels
		if m < 1 || ch%c.NormGroups != 0 {
			return fmt.Errorf("unet: level width %d (mult %d) not divisible into %d norm groups", ch, m, c.NormGroups)
		}
	}
	if c.ModelChannels%c.NormGroups != 0 {
		return fmt.Errorf("unet: model_channels %d not divisible into %d norm groups", c.ModelChannels, c.NormGroups)
	}
	ds := 1
	for level, m := range c.ChannelMult {
		ch := m * c.ModelChannels
		if slices.Contains(c.AttentionResolutions, ds) || level == len(c.ChannelMult)-1 {
			h := c.Heads(ch)
			if h < 1 || ch%h != 0 {
				return fmt.Errorf("unet: %d channels cannot be split into attention heads (%d heads, head width %d)",
					ch, h, c.NumHeadChannels)
			}
		}
		ds *= 2
	}
	return nil
}

// Block is one named part of a network and its number of trainable parameters.
type Block struct {
	Name   string
	Params int
}

func conv(cin, cout, k int) int { return k*k*cin*cout + cout }
func dense(in, out int) int     { return in*out + out }
func norm(ch int) int           { return 2 * ch }

// resBlockParams: in GroupNorm + 3x3 conv, time Linear, out GroupNorm + 3x3 conv, 1x1 skip if cin != cout.
func resBlockParams(cin, cout, emb int) int {
	n := norm(cin) + conv(cin, cout, 3) + dense(emb, cout) + norm(cout) + conv(cout, cout, 3)
	if cin != cout {
		n += conv(cin, cout, 1)
	}
	return n
}

// attentionParams: GroupNorm, qkv 1x1 (ch -> 3ch), proj_out 1x1 (ch -> ch).
func attentionParams(ch int) int { return norm(ch) + dense(ch, 3*ch) + dense(ch, ch) }

// ParamCount derives the number of trainable parameters by arithmetic on the layer shapes, block
// by block in CompVis's order (time_embed, input_blocks.i, middle_block, output_blocks.i, out).
func (c Config) ParamCount() (total int, blocks []Block) {
	mc, emb := c.ModelChannels, c.TimeEmbedDim()
	add := func(name string, n int) { blocks = append(blocks, Block{name, n}); total += n }
	add("time_embed", dense(mc, emb)+dense(emb, emb))
	add("input_blocks.0", conv(c.InChannels, mc, 3))
	chans := []int{mc}
	ch, ds := mc, 1
	for level, m := range c.ChannelMult {
		for range c.NumResBlocks {
			n := resBlockParams(ch, m*mc, emb)
			ch = m * mc
			if slices.Contains(c.AttentionResolutions, ds) {
				n += attentionParams(ch)
			}
			add(fmt.Sprintf("input_blocks.%d", len(chans)), n)
			chans = append(chans, ch)
		}
		if level != len(c.ChannelMult)-1 {
			n := conv(ch, ch, 3) // strided conv
			if c.ResblockUpdown {
				n = resBlockParams(ch, ch, emb)
			}
			add(fmt.Sprintf("input_blocks.%d", len(chans)), n)
			chans = append(chans, ch)
			ds *= 2
		}
	}
	add("middle_block", 2*resBlockParams(ch, ch, emb)+attentionParams(ch))
	k := 0
	for level := len(c.ChannelMult) - 1; level >= 0; level-- {
		m := c.ChannelMult[level]
		for i := 0; i <= c.NumResBlocks; i++ {
			ich := chans[len(chans)-1]
			chans = chans[:len(chans)-1]
			n := resBlockParams(ch+ich, mc*m, emb)
			ch = mc * m
			if slices.Contains(c.AttentionResolutions, ds) {
				n += attentionParams(ch)
			}
			if level > 0 && i == c.NumResBlocks {
				if c.ResblockUpdown {
					n += resBlockParams(ch, ch, emb)
				} else {
					n += conv(ch, ch, 3)
				}
				ds /= 2
			}
			add(fmt.Sprintf("output_blocks.%d", k), n)
			k++
		}
	}
	add("out", norm(ch)+conv(mc, c.OutChannels, 3))
	return total, blocks
}

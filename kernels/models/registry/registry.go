// Package registry names the denoiser configurations of dmseg (the thesis's Table 6 U-Net, CPU-
// sized U-Nets and DiTs, tiny ones for tests), each with a conditioning mode, and turns one into
// the denoiser function the diffusion code calls:
//
//	func(ctx *context.Context, xt, t, cond *graph.Node) *graph.Node
//
// xt [B,H,W,DataChannels], t [B] float timesteps, cond [B,H,W,CondChannels] or nil; the output
// has xt's shape. Conditioning modes (thesis 3.2, SegDiff): "none" (unconditional DDPM, or BBDM
// where the condition is already in x_t), "concat" (an RRDB encoder maps the condition to
// Encoder.OutChannels features that are concatenated with x_t at the input) and "add" (the RRDB
// encoder maps the condition to ModelChannels features added to the output of the U-Net's first
// block, as SegDiff does).
package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"

	"github.com/dmseg/dmseg/kernels/jsonkeys"
	"github.com/dmseg/dmseg/kernels/models/dit"
	"github.com/dmseg/dmseg/kernels/models/rrdb"
	"github.com/dmseg/dmseg/kernels/models/unet"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Denoiser is the network interface the diffusion package trains and samples with.
type Denoiser func(ctx *context.Context, xt, t, cond *Node) *Node

// Conditioning modes.
const (
	CondNone   = "none"
	CondConcat = "concat"
	CondAdd    = "add"
)

// Config is one named denoiser configuration.
//
// In JSON (artifact manifests) the keys are snake_case and a section that does not apply is
// omitted (see Recorded); UnmarshalJSON also reads the CamelCase keys of older manifests.
type Config struct {
	Name    string `json:"name"`
	Summary string `json:"summary,omitempty"`
	Arch    string `json:"arch"` // "unet" or "dit"
	// DataChannels is the channel count of x_t and of the prediction (1 for masks).
	DataChannels int `json:"data_channels"`
	// CondChannels is the channel count of the condition image (1 for X-ray); unused with "none".
	CondChannels int         `json:"cond_channels,omitzero"`
	Cond         string      `json:"cond"`                  // CondNone, CondConcat or CondAdd
	ImageSize    int         `json:"image_size"`            // native training resolution (the network accepts other sizes too)
	UNet         unet.Config `json:"unet,omitzero"`         // Arch "unet": its In/OutChannels are derived by Resolve
	DiT          dit.Config  `json:"dit,omitzero"`          // Arch "dit": its In/OutChannels are derived by Resolve
	Encoder      rrdb.Config `json:"cond_encoder,omitzero"` // condition encoder; In/OutChannels derived ("add": ModelChannels)
}

// Recorded returns the resolved config with the sections that do not apply zeroed (so that
// they are omitted from JSON): the DiT block of a U-Net, the U-Net block of a DiT, the
// condition encoder and condition channels of an unconditional model.
func (c Config) Recorded() (Config, error) {
	r, err := c.Resolve()
	if err != nil {
		return r, err
	}
	if r.Arch != "unet" {
		r.UNet = unet.Config{}
	}
	if r.Arch != "dit" {
		r.DiT = dit.Config{}
	}
	if r.Cond == CondNone {
		r.Encoder, r.CondChannels = rrdb.Config{}, 0
	}
	return r, nil
}

// UnmarshalJSON reads both the snake_case keys written now and the CamelCase keys of
// manifests written before (format dmseg-artifact/1).
func (c *Config) UnmarshalJSON(b []byte) error {
	type plain Config
	nb, err := jsonkeys.Snake(b)
	if err != nil {
		return err
	}
	var p plain
	dec := json.NewDecoder(bytes.NewReader(nb))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf("model config: %w", err)
	}
	*c = Config(p)
	return nil
}

// Block is one named part of a network with its trainable parameter count.
type Block struct {
	Name   string
	Params int
}

var configs = map[string]Config{}

func add(c Config) {
	if _, dup := configs[c.Name]; dup {
		panic("registry: duplicate config " + c.Name)
	}
	configs[c.Name] = c
}

// withModes registers base under its name (mode none) and, with encoder enc, as NAME-concat and
// (for U-Nets) NAME-add. The condition has base.CondChannels channels (default 1, an X-ray).
func withModes(base Config, enc rrdb.Config) {
	base.Cond, base.CondChannels, base.Encoder = CondNone, max(base.CondChannels, 1), enc
	add(base)
	c := base
	c.Name, c.Cond = base.Name+"-concat", CondConcat
	c.Summary = base.Summary + "; RRDB condition features concatenated with x_t at the input"
	add(c)
	if base.Arch == "unet" {
		a := base
		a.Name, a.Cond = base.Name+"-add", CondAdd
		a.Summary = base.Summary + "; RRDB condition features added after the first block"
		add(a)
	}
}

func init() {
	withModes(Config{Name: "unet-table6", Arch: "unet", DataChannels: 1, ImageSize: 64, UNet: unet.Table6(),
		Summary: "thesis Table 6 U-Net (model_channels 192, mult 1,2,3,4, attention at ds 8,4,2, 64-ch heads, resblock up/down)"},
		rrdb.SegDiff(1, 16))
	withModes(Config{Name: "unet-cpu", Arch: "unet", DataChannels: 1, ImageSize: 64, UNet: unet.Config{
		ModelChannels: 16, ChannelMult: []int{1, 2, 4}, NumResBlocks: 1, AttentionResolutions: []int{4},
		NumHeadChannels: 32, NumHeads: -1, ResblockUpdown: true, NormGroups: 8},
		Summary: "CPU-sized U-Net (model_channels 16, mult 1,2,4, 1 res block, attention at ds 4 with 32-ch heads, GroupNorm(8))"},
		rrdb.Config{Features: 16, Growth: 8, Blocks: 1, OutChannels: 16})
	// unet-cpu at 1.5x the width (about 2.2x the parameters and convolution FLOPs): the
	// capacity ablation of chapter 2's DDIM study (issue 10).
	withModes(Config{Name: "unet-cpu-w24", Arch: "unet", DataChannels: 1, ImageSize: 64, UNet: unet.Config{
		ModelChannels: 24, ChannelMult: []int{1, 2, 4}, NumResBlocks: 1, AttentionResolutions: []int{4},
		NumHeadChannels: 32, NumHeads: -1, ResblockUpdown: true, NormGroups: 8},
		Summary: "unet-cpu at 1.5x width (model_channels 24, mult 1,2,4, 1 res block, attention at ds 4 with 32-ch heads, GroupNorm(8))"},
		rrdb.Config{Features: 16, Growth: 8, Blocks: 1, OutChannels: 16})
	withModes(Config{Name: "unet-tiny", Arch: "unet", DataChannels: 1, ImageSize: 16, UNet: unet.Config{
		ModelChannels: 8, ChannelMult: []int{1, 2}, NumResBlocks: 1, AttentionResolutions: []int{2},
		NumHeadChannels: 8, NumHeads: -1, ResblockUpdown: true, NormGroups: 4},
		Summary: "tiny U-Net for tests (model_channels 8, mult 1,2)"},
		rrdb.Config{Features: 4, Growth: 2, Blocks: 1, OutChannels: 4})
	withModes(Config{Name: "dit-cpu", Arch: "dit", DataChannels: 1, ImageSize: 64, DiT: dit.Config{
		PatchSize: 4, Hidden: 128, Depth: 4, Heads: 4, MLPRatio: 4, FreqDim: 256},
		Summary: "CPU-sized DiT (patch 4, hidden 128, depth 4, 4 heads) for BBDM"},
		rrdb.Config{Features: 16, Growth: 8, Blocks: 1, OutChannels: 16})
	// Chapter 5's latent denoisers: data and condition are VQ-GAN latents (embed_dim channels;
	// f4: 16x16x3, f8: 8x8x4). The -cpu ones keep the CPU U-Net's design (channels 32 at the
	// smaller size); unet-table6-f4/-f8 are Table 6 on the latents ("largely unchanged", 5.2).
	cpuLatent := unet.Config{ModelChannels: 32, ChannelMult: []int{1, 2, 4}, NumResBlocks: 1, AttentionResolutions: []int{4},
		NumHeadChannels: 32, NumHeads: -1, ResblockUpdown: true, NormGroups: 8}
	withModes(Config{Name: "unet-latent-f4-cpu", Arch: "unet", DataChannels: 3, CondChannels: 3, ImageSize: 16, UNet: cpuLatent,
		Summary: "CPU U-Net on f4 latents 16x16x3 (model_channels 32, mult 1,2,4, attention at ds 4)"},
		rrdb.Config{Features: 16, Growth: 8, Blocks: 1, OutChannels: 16})
	f8 := cpuLatent
	f8.ChannelMult, f8.AttentionResolutions = []int{1, 2}, []int{2}
	withModes(Config{Name: "unet-latent-f8-cpu", Arch: "unet", DataChannels: 4, CondChannels: 4, ImageSize: 8, UNet: f8,
		Summary: "CPU U-Net on f8 latents 8x8x4 (model_channels 32, mult 1,2, attention at ds 2)"},
		rrdb.Config{Features: 16, Growth: 8, Blocks: 1, OutChannels: 16})
	withModes(Config{Name: "unet-table6-f4", Arch: "unet", DataChannels: 3, CondChannels: 3, ImageSize: 16, UNet: unet.Table6(),
		Summary: "thesis Table 6 U-Net on f4 latents 16x16x3"}, rrdb.SegDiff(3, 16))
	withModes(Config{Name: "unet-table6-f8", Arch: "unet", DataChannels: 4, CondChannels: 4, ImageSize: 8, UNet: unet.Table6(),
		Summary: "thesis Table 6 U-Net on f8 latents 8x8x4"}, rrdb.SegDiff(4, 16))
	withModes(Config{Name: "unet-latent-tiny", Arch: "unet", DataChannels: 3, CondChannels: 3, ImageSize: 16, UNet: unet.Config{
		ModelChannels: 8, ChannelMult: []int{1, 2}, NumResBlocks: 1, AttentionResolutions: []int{2},
		NumHeadChannels: 8, NumHeads: -1, ResblockUpdown: true, NormGroups: 4},
		Summary: "tiny U-Net on tiny f4 latents 16x16x3, for tests"},
		rrdb.Config{Features: 4, Growth: 2, Blocks: 1, OutChannels: 4})
	withModes(Config{Name: "dit-tiny", Arch: "dit", DataChannels: 1, ImageSize: 16, DiT: dit.Config{
		PatchSize: 2, Hidden: 16, Depth: 1, Heads: 2, MLPRatio: 2, FreqDim: 16},
		Summary: "tiny DiT for tests (patch 2, hidden 16, depth 1)"},
		rrdb.Config{Features: 4, Growth: 2, Blocks: 1, OutChannels: 4})
}

// Names lists the registered configurations, sorted.
func Names() []string {
	n := make([]string, 0, len(configs))
	for k := range configs {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// Lookup returns the named configuration with derived channel counts filled in.
func Lookup(name string) (Config, error) {
	c, ok := configs[name]
	if !ok {
		return Config{}, fmt.Errorf("unknown model config %q (known: %v)", name, Names())
	}
	return c.Resolve()
}

// WithChannels returns c for data channels `data` (x_t and prediction), re-resolved.
func (c Config) WithChannels(data int) (Config, error) {
	c.DataChannels = data
	return c.Resolve()
}

// Resolve fills the derived channel counts (network input/output, encoder input/output) and
// validates the result.
func (c Config) Resolve() (Config, error) {
	if c.DataChannels < 1 {
		return c, fmt.Errorf("config %s: data channels must be >= 1, got %d", c.Name, c.DataChannels)
	}
	in := c.DataChannels
	c.UNet.ChannelMult = slices.Clone(c.UNet.ChannelMult)
	c.UNet.AttentionResolutions = slices.Clone(c.UNet.AttentionResolutions)
	switch c.Cond {
	case CondNone:
	case CondConcat:
		c.Encoder.InChannels = c.CondChannels
		in += c.Encoder.OutChannels
	case CondAdd:
		if c.Arch != "unet" {
			return c, fmt.Errorf("config %s: conditioning %q needs a U-Net", c.Name, c.Cond)
		}
		c.Encoder.InChannels = c.CondChannels
		c.Encoder.OutChannels = c.UNet.ModelChannels
	default:
		return c, fmt.Errorf("config %s: unknown conditioning %q", c.Name, c.Cond)
	}
	if c.Cond != CondNone {
		if err := c.Encoder.Validate(); err != nil {
			return c, fmt.Errorf("config %s: %w", c.Name, err)
		}
	}
	switch c.Arch {
	case "unet":
		c.UNet.InChannels, c.UNet.OutChannels = in, c.DataChannels
		if err := c.UNet.Validate(); err != nil {
			return c, fmt.Errorf("config %s: %w", c.Name, err)
		}
	case "dit":
		c.DiT.InChannels, c.DiT.OutChannels = in, c.DataChannels
		if err := c.DiT.Validate(); err != nil {
			return c, fmt.Errorf("config %s: %w", c.Name, err)
		}
	default:
		return c, fmt.Errorf("config %s: unknown architecture %q", c.Name, c.Arch)
	}
	return c, nil
}

// ParamCount is the exact number of trainable parameters, by block (the condition encoder first).
func (c Config) ParamCount() (total int, blocks []Block) {
	if c.Cond != CondNone {
		blocks = append(blocks, Block{"cond_encoder (RRDB)", c.Encoder.ParamCount()})
		total += blocks[0].Params
	}
	switch c.Arch {
	case "unet":
		_, bs := c.UNet.ParamCount()
		for _, b := range bs {
			blocks = append(blocks, Block{"unet." + b.Name, b.Params})
			total += b.Params
		}
	case "dit":
		_, bs := c.DiT.ParamCount()
		for _, b := range bs {
			blocks = append(blocks, Block{"dit." + b.Name, b.Params})
			total += b.Params
		}
	}
	return total, blocks
}

// Denoiser returns the network of a resolved config. Its variables live under ctx's scopes
// "cond_encoder" and "unet" / "dit". It panics (with the config name) on inconsistent inputs:
// a condition given to a "none" config or missing for a conditional one, wrong channel counts.
func (c Config) Denoiser() Denoiser {
	return func(ctx *context.Context, xt, t, cond *Node) *Node {
		if xt.Rank() != 4 || xt.Shape().Dimensions[3] != c.DataChannels {
			panic(fmt.Sprintf("model %s: want x_t [B,H,W,%d], got %s", c.Name, c.DataChannels, xt.Shape()))
		}
		t = ConvertDType(t, xt.DType())
		var addFeat *Node
		in := xt
		switch c.Cond {
		case CondNone:
			if cond != nil {
				panic(fmt.Sprintf("model %s is unconditional (mode none) but a condition %s was given", c.Name, cond.Shape()))
			}
		default:
			if cond == nil {
				panic(fmt.Sprintf("model %s (conditioning %s) needs a condition image", c.Name, c.Cond))
			}
			d, cd := xt.Shape().Dimensions, cond.Shape().Dimensions
			if cond.Rank() != 4 || cd[0] != d[0] || cd[1] != d[1] || cd[2] != d[2] || cd[3] != c.CondChannels {
				panic(fmt.Sprintf("model %s: want condition [%d,%d,%d,%d], got %s", c.Name, d[0], d[1], d[2], c.CondChannels, cond.Shape()))
			}
			e := rrdb.Encode(ctx.In("cond_encoder"), c.Encoder, ConvertDType(cond, xt.DType()))
			if c.Cond == CondConcat {
				in = Concatenate([]*Node{xt, e}, -1)
			} else {
				addFeat = e
			}
		}
		if c.Arch == "dit" {
			return dit.Forward(ctx.In("dit"), c.DiT, in, t)
		}
		return unet.Forward(ctx.In("unet"), c.UNet, in, t, addFeat)
	}
}

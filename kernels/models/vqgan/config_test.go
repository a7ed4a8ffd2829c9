package vqgan

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/dmseg/dmseg/kernels/engine"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// gradCfg is small enough for finite differences and covers every layer kind: a width change
// (nin_shortcut), attention at a level (4x4) besides the middle ones, embed_dim != z_channels.
func gradCfg() Config {
	return Config{EmbedDim: 3, NEmbed: 6, ZChannels: 2, Resolution: 8, InChannels: 1, OutCh: 1,
		Ch: 4, ChMult: []int{1, 2}, NumResBlocks: 1, AttnResolutions: []int{4}, NormGroups: 2, Beta: 0.25, Legacy: true}
}

// TestParamCountByHand derives gradCfg's count layer by layer.
func TestParamCountByHand(t *testing.T) {
	conv3 := func(i, o int) int { return 9*i*o + o }
	conv1 := func(i, o int) int { return i*o + o }
	res := func(i, o int) int { // norm1, conv1, norm2, conv2 (+ nin_shortcut)
		n := 2*i + conv3(i, o) + 2*o + conv3(o, o)
		if i != o {
			n += conv1(i, o)
		}
		return n
	}
	attn := func(c int) int { return 2*c + 4*conv1(c, c) }
	want := map[string]int{
		"encoder.conv_in":  conv3(1, 4),                         // 40
		"encoder.down.0":   res(4, 4) + conv3(4, 4),             // 312 + 148 (downsample)
		"encoder.down.1":   res(4, 8) + attn(8),                 // 944 + 304 (at 4x4)
		"encoder.mid":      2*res(8, 8) + attn(8),               // 2704
		"encoder.norm_out": 16,                                  //
		"encoder.conv_out": conv3(8, 2),                         // 146
		"quant_conv":       conv1(2, 3),                         // 9
		"quantize":         6 * 3,                               // 18
		"post_quant_conv":  conv1(3, 2),                         // 8
		"decoder.conv_in":  conv3(2, 8),                         // 152
		"decoder.mid":      2*res(8, 8) + attn(8),               // 2704
		"decoder.up.1":     2*(res(8, 8)+attn(8)) + conv3(8, 8), // 3008 + 584 (upsample)
		"decoder.up.0":     res(8, 4) + res(4, 4),               // 500 + 312
		"decoder.norm_out": 8,                                   //
		"decoder.conv_out": conv3(4, 1),                         // 37
	}
	sum := 0
	for _, n := range want {
		sum += n
	}
	if sum != 11954 {
		t.Fatalf("hand arithmetic inconsistent: %d", sum)
	}
	total, parts := gradCfg().ParamCount()
	if total != sum || len(parts) != len(want) {
		t.Errorf("ParamCount = %d in %d parts, hand count %d in %d", total, len(parts), sum, len(want))
	}
	for _, p := range parts {
		if want[p.Name] != p.Params {
			t.Errorf("%s: %d, by hand %d", p.Name, p.Params, want[p.Name])
		}
	}
	k := gradCfg().Counts()
	if k.Encoder != 40+460+1248+2704+16+146 || k.Decoder != 152+2704+3592+812+8+37 || k.QuantConv != 9 ||
		k.Codebook != 18 || k.PostQuantConv != 8 || k.Inference != 11954 {
		t.Errorf("Counts %+v", k)
	}
	// PatchGAN with ndf 4, 2 layers, 1 input channel: widths 4, 8, 16, 1.
	d := DiscConfig{InChannels: 1, NDF: 4, NLayers: 2, NormGroups: 2}
	if got, _ := d.ParamCount(); got != (16*1*4+4)+(16*4*8)+16+(16*8*16)+32+(16*16*1+1) {
		t.Errorf("tiny discriminator: %d parameters", got)
	}
	if d.OutputSize(16) != 2 || PatchGAN(1).OutputSize(64) != 6 || PatchGAN(1).OutputSize(256) != 30 {
		t.Errorf("OutputSize: %d, %d, %d; want 2, 6, 30", d.OutputSize(16), PatchGAN(1).OutputSize(64), PatchGAN(1).OutputSize(256))
	}
}

var referenceConfigs = map[string]Config{
	"vqgan-f4-table9": Table9(), "vqgan-f8-table10": Table10(), "vqgan-f4-cpu": CPUF4(), "vqgan-f8-cpu": CPUF8(),
}

// TestParamCountReference compares every part with the PyTorch re-creation of the reference
// VQModel and NLayerDiscriminator (testdata/reference_params.py; its output is
// testdata/reference_params.txt).
func TestParamCountReference(t *testing.T) {
	f, err := os.Open("testdata/reference_params.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ref := map[string]int{}
	var order []string
	checked := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "  ") {
			var name string
			var n int
			if _, err := fmt.Sscan(line, &name, &n); err != nil {
				t.Fatalf("reference_params.txt: %q: %v", line, err)
			}
			ref[name] = n
			order = append(order, name)
			continue
		}
		var name string
		var total int
		if strings.HasPrefix(line, "patchgan ") {
			if _, err := fmt.Sscanf(line, "patchgan in_channels=1 ndf=64 n_layers=3 params=%d", &total); err != nil {
				t.Fatalf("reference_params.txt: %q: %v", line, err)
			}
			got, parts := PatchGAN(1).ParamCount()
			if got != total || len(parts) != len(order) {
				t.Errorf("discriminator: %d parameters in %d parts, reference %d in %d", got, len(parts), total, len(order))
			}
			for i, p := range parts {
				if i < len(order) && (p.Name != order[i] || p.Params != ref[order[i]]) {
					t.Errorf("discriminator part %d: %v, reference %s %d", i, p, order[i], ref[order[i]])
				}
			}
			checked["patchgan"] = true
		} else {
			i := strings.Index(line, " params=")
			if i < 0 {
				t.Fatalf("reference_params.txt: %q", line)
			}
			name = line[:i]
			fmt.Sscanf(line[i:], " params=%d", &total)
			cfg, ok := referenceConfigs[name]
			if !ok {
				t.Fatalf("reference_params.txt names %q, not one of ours", name)
			}
			got, parts := cfg.ParamCount()
			if got != total || len(parts) != len(ref) {
				t.Errorf("%s: %d parameters in %d parts, reference %d in %d", name, got, len(parts), total, len(ref))
			}
			for _, p := range parts {
				if r, ok := ref[p.Name]; !ok || r != p.Params {
					t.Errorf("%s %s: %d, reference %d", name, p.Name, p.Params, r)
				}
			}
			checked[name] = true
		}
		ref, order = map[string]int{}, nil
	}
	if len(checked) != len(referenceConfigs)+1 {
		t.Fatalf("checked %v, want the %d configs and the discriminator", checked, len(referenceConfigs))
	}
	// The numbers the report quotes.
	for _, c := range []struct {
		cfg  Config
		want Counts
	}{
		{Table9(), Counts{Encoder: 22335107, QuantConv: 12, Codebook: 24576, PostQuantConv: 12, Decoder: 32958465, Inference: 55318172}},
		{Table10(), Counts{Encoder: 25819524, QuantConv: 20, Codebook: 65536, PostQuantConv: 20, Decoder: 37887745, Inference: 63772845}},
	} {
		if got := c.cfg.Counts(); got != c.want {
			t.Errorf("counts %+v, want %+v", got, c.want)
		}
	}
	if d, _ := PatchGAN(1).ParamCount(); d != 2763585 {
		t.Errorf("discriminator: %d parameters, want 2763585", d)
	}
}

// TestBuiltVariablesMatchParamCount builds the registered-size networks (graph construction only,
// no compilation) and checks, part by part, that the variables under each part's scope hold
// exactly the counted parameters; also that the middle attention exists without
// attn_resolutions and the latent has the tables' shape.
func TestBuiltVariablesMatchParamCount(t *testing.T) {
	b, _ := engine.MustNew("go")
	check := func(name string, ctx *context.Context, parts []Part) {
		byPart := make(map[string]int, len(parts))
		for v := range ctx.IterVariables() {
			found := false
			for _, p := range parts {
				prefix := "/" + strings.ReplaceAll(p.Name, ".", "/")
				if v.Scope() == prefix || strings.HasPrefix(v.Scope(), prefix+"/") {
					byPart[p.Name] += v.Shape().Size()
					found = true
					break
				}
			}
			if !found {
				t.Errorf("%s: variable %s belongs to no counted part", name, v.ScopeAndName())
			}
		}
		for _, p := range parts {
			if byPart[p.Name] != p.Params {
				t.Errorf("%s %s: built %d parameters, counted %d", name, p.Name, byPart[p.Name], p.Params)
			}
		}
	}
	for _, name := range []string{"vqgan-f4-table9", "vqgan-f8-table10", "vqgan-f4-cpu", "vqgan-f8-cpu"} {
		cfg := referenceConfigs[name]
		ctx := context.New()
		g := NewGraph(b, name)
		x := Parameter(g, "x", shapes.Make(dtypes.Float32, 1, 64, 64, 1))
		dec, q := Forward(ctx, cfg, x)
		z := Encoder(ctx.Reuse().In("encoder"), cfg, x)
		s := 64 / cfg.Factor()
		if !dec.Shape().Equal(x.Shape()) || fmt.Sprint(q.ZQ.Shape().Dimensions) != fmt.Sprint([]int{1, s, s, cfg.EmbedDim}) ||
			fmt.Sprint(z.Shape().Dimensions) != fmt.Sprint([]int{1, s, s, cfg.ZChannels}) {
			t.Errorf("%s: decoder output %s, encoder output %s, latent %s", name, dec.Shape(), z.Shape(), q.ZQ.Shape())
		}
		_, parts := cfg.ParamCount()
		check(name, ctx, parts)
		if ctx.In("encoder").In("mid").In("attn_1").In("q").GetVariable("weights") == nil {
			t.Errorf("%s: no middle attention in the encoder", name)
		}
		g.Finalize()
	}
	ctx := context.New()
	g := NewGraph(b, "disc")
	logits := Discriminator(ctx.In("discriminator"), PatchGAN(1), Parameter(g, "x", shapes.Make(dtypes.Float32, 2, 64, 64, 1)))
	if fmt.Sprint(logits.Shape().Dimensions) != "[2 6 6 1]" {
		t.Errorf("discriminator logits %s, want [2 6 6 1]", logits.Shape())
	}
	_, parts := PatchGAN(1).ParamCount()
	check("discriminator", ctx, parts)
	g.Finalize()
}

func TestValidate(t *testing.T) {
	for _, c := range []Config{Table9(), Table10(), CPUF4(), CPUF8(), TinyF4(), TinyF8(), gradCfg()} {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	bad := func(f func(*Config)) Config { c := Table9(); f(&c); return c }
	for want, c := range map[string]Config{
		"double_z":      bad(func(c *Config) { c.DoubleZ = true }),
		"norm groups":   bad(func(c *Config) { c.Ch = 48 }),
		"downsampling":  bad(func(c *Config) { c.Resolution = 66 }),
		"dropout":       bad(func(c *Config) { c.Dropout = 1 }),
		"n_embed":       bad(func(c *Config) { c.NEmbed = 0 }),
		"beta":          bad(func(c *Config) { c.Beta = -1 }),
		"in_channels":   bad(func(c *Config) { c.OutCh = 0 }),
		"num_res_block": bad(func(c *Config) { c.NumResBlocks = 0 }),
	} {
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want an error about %s", err, want)
		}
	}
	if err := (DiscConfig{InChannels: 1, NDF: 6, NLayers: 3, NormGroups: 8}).Validate(); err == nil {
		t.Error("discriminator width 12 in 8 norm groups: want an error")
	}
}

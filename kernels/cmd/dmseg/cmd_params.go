package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/dmseg/dmseg/kernels/models/registry"
)

func init() {
	register("params", "exact parameter count of a model config (denoiser or VQ-GAN), block by block", runParams)
}

func runParams(args []string) error {
	fs := newFlags("params", "--config NAME [--in-channels C] [--list]", `
Prints the exact number of trainable parameters of a denoiser configuration with a per-block
breakdown (blocks named as in CompVis's UNetModel: time_embed, input_blocks.i, middle_block,
output_blocks.i, out; DiT: x_embedder, t_embedder, blocks.i, final_layer; the RRDB condition
encoder first for -concat/-add configs). Counting is arithmetic on the layer shapes; no network
is built. unet-table6 with 1 input and 1 output channel has 217,859,905 parameters, equal to
CompVis's UNetModel built with the thesis's Table 6 hyperparameters.

--in-channels sets the channels of x_t (and of the prediction), e.g. 3 for VQ-GAN f4 latents;
the network input adds the condition features in -concat configs (1 + 16 = 17 in the thesis).

Autoencoder configs (chapter 5 VQ-GANs) print the inference model part by part (named as the
reference VQModel's state_dict: encoder.down.i, encoder.mid, quant_conv, quantize, post_quant_conv,
decoder.up.i, ...), its totals by component, and the PatchGAN discriminator separately (training
only). vqgan-f4-table9 has 55,318,172 parameters and vqgan-f8-table10 63,772,845, equal to the
PyTorch re-creation of the reference in kernels/models/vqgan/testdata.

Configs: `+strings.Join(registry.Names(), ", ")+`
Autoencoders: `+strings.Join(registry.AutoencoderNames(), ", "))
	name := fs.String("config", "", "model config name (required)")
	in := fs.Int("in-channels", 0, "channels of x_t and of the prediction (default: the config's, 1)")
	list := fs.Bool("list", false, "list the configs with their summaries and totals")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	if err := inRange("in-channels", int64(*in), 0, 65536); err != nil {
		return err
	}
	if *list {
		for _, n := range registry.Names() {
			c, err := registry.Lookup(n)
			if err != nil {
				return err
			}
			total, _ := c.ParamCount()
			fmt.Printf("%-19s %11d  %s\n", n, total, c.Summary)
		}
		for _, n := range registry.AutoencoderNames() {
			a, err := registry.LookupAutoencoder(n)
			if err != nil {
				return err
			}
			total, _, disc, _ := a.ParamCount()
			fmt.Printf("%-19s %11d  %s (+ discriminator %d)\n", n, total, a.Summary, disc)
		}
		return nil
	}
	if *name == "" {
		fs.Usage()
		return fmt.Errorf("--config is required")
	}
	c, err := registry.Lookup(*name)
	if err != nil {
		a, aerr := registry.LookupAutoencoder(*name)
		if aerr != nil {
			return fmt.Errorf("unknown config %q (denoisers: %v; autoencoders: %v)", *name, registry.Names(), registry.AutoencoderNames())
		}
		if *in != 0 {
			return fmt.Errorf("--in-channels applies to denoiser configs, not to the autoencoder %s", a.Name)
		}
		return printAutoencoder(a)
	}
	if *in != 0 {
		if c, err = c.WithChannels(*in); err != nil {
			return err
		}
	}
	total, blocks := c.ParamCount()
	fmt.Printf("config %s: %s\n", c.Name, c.Summary)
	switch c.Arch {
	case "unet":
		fmt.Printf("unet in_channels=%d out_channels=%d conditioning=%s\n", c.UNet.InChannels, c.UNet.OutChannels, c.Cond)
	case "dit":
		fmt.Printf("dit in_channels=%d out_channels=%d conditioning=%s\n", c.DiT.InChannels, c.DiT.OutChannels, c.Cond)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, b := range blocks {
		fmt.Fprintf(w, "  %s\t%d\t%5.2f%%\t\n", b.Name, b.Params, 100*float64(b.Params)/float64(total))
	}
	fmt.Fprintf(w, "  total\t%d\t\t\n", total)
	return w.Flush()
}

// printAutoencoder prints a VQ-GAN's parameters part by part, its totals by component and its
// discriminator separately.
func printAutoencoder(a registry.Autoencoder) error {
	v := a.VQGAN
	total, parts, disc, discParts := a.ParamCount()
	fmt.Printf("config %s: %s\n", a.Name, a.Summary)
	fmt.Printf("vqgan in_channels=%d out_ch=%d latent %dx%dx%d (f%d) codebook %dx%d beta=%g legacy=%t\n",
		v.InChannels, v.OutCh, v.LatentSize(), v.LatentSize(), v.EmbedDim, v.Factor(), v.NEmbed, v.EmbedDim, v.Beta, v.Legacy)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, p := range parts {
		fmt.Fprintf(w, "  %s\t%d\t%5.2f%%\t\n", p.Name, p.Params, 100*float64(p.Params)/float64(total))
	}
	k := v.Counts()
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Println("by component:")
	w = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, r := range []struct {
		name string
		n    int
	}{{"encoder", k.Encoder}, {"quant_conv", k.QuantConv}, {"codebook (quantize)", k.Codebook},
		{"post_quant_conv", k.PostQuantConv}, {"decoder", k.Decoder}} {
		fmt.Fprintf(w, "  %s\t%d\t%5.2f%%\t\n", r.name, r.n, 100*float64(r.n)/float64(total))
	}
	fmt.Fprintf(w, "  total (inference)\t%d\t\t\n", total)
	if err := w.Flush(); err != nil {
		return err
	}
	d := a.Disc
	fmt.Printf("discriminator (training only): PatchGAN ndf=%d n_layers=%d in_channels=%d, GroupNorm(%d) where the reference has BatchNorm2d\n",
		d.NDF, d.NLayers, d.InChannels, d.NormGroups)
	w = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, p := range discParts {
		fmt.Fprintf(w, "  %s\t%d\t%5.2f%%\t\n", p.Name, p.Params, 100*float64(p.Params)/float64(disc))
	}
	fmt.Fprintf(w, "  total (discriminator)\t%d\t\t\n", disc)
	return w.Flush()
}

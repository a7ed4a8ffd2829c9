package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/dmseg/dmseg/kernels/models/registry"
)

func init() {
	register("params", "exact parameter count of a model config, block by block", runParams)
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

Configs: `+strings.Join(registry.Names(), ", "))
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
		return nil
	}
	if *name == "" {
		fs.Usage()
		return fmt.Errorf("--config is required")
	}
	c, err := registry.Lookup(*name)
	if err != nil {
		return err
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

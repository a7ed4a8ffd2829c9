package main

import (
	"regexp"
	"strings"
	"testing"
)

// dmseg params prints a VQ-GAN's counts by part, by component and its discriminator separately,
// with the totals of the PyTorch re-creation of the reference (kernels/models/vqgan/testdata).
func TestParamsAutoencoder(t *testing.T) {
	for _, c := range []struct {
		name  string
		lines []string
	}{
		{"vqgan-f4-table9", []string{`latent 16x16x3 \(f4\) codebook 8192x3`, `encoder  22335107 `, `quant_conv  12 `,
			`codebook \(quantize\)  24576 `, `post_quant_conv  12 `, `decoder  32958465 `, `total \(inference\)  55318172`,
			`discriminator\.norm\.3  1024 `, `total \(discriminator\)  2763585`}},
		{"vqgan-f8-table10", []string{`latent 8x8x4 \(f8\) codebook 16384x4`, `encoder  25819524 `, `codebook \(quantize\)  65536 `,
			`decoder  37887745 `, `total \(inference\)  63772845`, `decoder\.up\.1  4924672 `, `total \(discriminator\)  2763585`}},
	} {
		out, err := capture(t, func() error { return runParams([]string{"--config", c.name}) })
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for _, l := range c.lines {
			if !regexp.MustCompile(strings.ReplaceAll(l, "  ", `\s+`)).MatchString(out) {
				t.Errorf("%s: output lacks %q:\n%s", c.name, l, out)
			}
		}
	}
	if _, err := capture(t, func() error { return runParams([]string{"--config", "vqgan-f4-cpu", "--in-channels", "3"}) }); err == nil ||
		!strings.Contains(err.Error(), "--in-channels applies to denoiser configs") {
		t.Errorf("--in-channels with an autoencoder: %v", err)
	}
	if _, err := capture(t, func() error { return runParams([]string{"--config", "vqgan-f16"}) }); err == nil ||
		!strings.Contains(err.Error(), "vqgan-f8-table10") || !strings.Contains(err.Error(), "unet-table6") {
		t.Errorf("unknown config: %v, want an error listing denoisers and autoencoders", err)
	}
	out, err := capture(t, func() error { return runParams([]string{"--list"}) })
	if err != nil || !strings.Contains(out, "vqgan-f8-cpu") || !strings.Contains(out, "unet-table6") {
		t.Errorf("--list: %v\n%s", err, out)
	}
}

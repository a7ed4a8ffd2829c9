package registry

import (
	"strings"
	"testing"
)

func TestAutoencoders(t *testing.T) {
	for _, n := range AutoencoderNames() {
		if _, err := Lookup(n); err == nil {
			t.Errorf("%s names both a denoiser and an autoencoder", n)
		}
		a, err := LookupAutoencoder(n)
		if err != nil {
			t.Fatal(err)
		}
		if a.Disc.InChannels != a.VQGAN.OutCh || a.Name != n || a.Summary == "" {
			t.Errorf("%s: discriminator input %d for out_ch %d, name %q, summary %q", n, a.Disc.InChannels, a.VQGAN.OutCh, a.Name, a.Summary)
		}
	}
	for _, want := range []string{"vqgan-f4-table9", "vqgan-f8-table10", "vqgan-f4-cpu", "vqgan-f8-cpu"} {
		if _, err := LookupAutoencoder(want); err != nil {
			t.Error(err)
		}
	}
	if _, err := LookupAutoencoder("unet-table6"); err == nil || !strings.Contains(err.Error(), "vqgan-f8-table10") {
		t.Errorf("unknown autoencoder: %v, want an error listing the known ones", err)
	}
	a, _ := LookupAutoencoder("vqgan-f8-table10")
	inf, parts, disc, _ := a.ParamCount()
	if inf != 63772845 || disc != 2763585 || len(parts) != 19 {
		t.Errorf("vqgan-f8-table10: %d parameters in %d parts, discriminator %d", inf, len(parts), disc)
	}
	a.VQGAN.ChMult[0], a.VQGAN.AttnResolutions[0] = 99, 99 // Lookup returns copies
	if b, _ := LookupAutoencoder("vqgan-f8-table10"); b.VQGAN.ChMult[0] != 1 || b.VQGAN.AttnResolutions[0] != 32 {
		t.Errorf("LookupAutoencoder shares slices with the registry: %+v", b.VQGAN)
	}
}

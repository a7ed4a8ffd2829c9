package bench

import (
	"strings"
	"testing"

	"github.com/dmseg/dmseg/kernels/engine"
	"github.com/dmseg/dmseg/kernels/models/registry"
)

// The latent comparison on tiny configs: every time is positive, the
// sampling time per image follows its formula, the first case is the 1.0x
// reference, and the Markdown names every case. The CPU cases are registered.
func TestLatentSpeedTiny(t *testing.T) {
	b, _, err := engine.New("xla:cpu")
	if err != nil {
		t.Skip(err)
	}
	cases := []LatentCase{{"pixel", "unet-tiny-concat", ""}, {"f4", "unet-latent-tiny-concat", "vqgan-f4-tiny"}}
	ts, err := LatentSpeed(b, cases, 2, 5, 1)
	if err != nil {
		t.Fatal(err)
	}
	if ts[0].SpeedupVsPixel != 1 || ts[0].EncodeSec != 0 || !(ts[1].EncodeSec > 0) || !(ts[1].DecodeSec > 0) {
		t.Fatalf("%+v", ts)
	}
	for _, x := range ts {
		want := (5*x.ForwardSec + x.EncodeSec + x.DecodeSec) / 2
		if !(x.ForwardSec > 0) || !(x.TrainStepSec > 0) || x.SampleImgSec != want {
			t.Errorf("%+v: sampling %g, want %g", x, x.SampleImgSec, want)
		}
	}
	md := LatentMarkdown(ts)
	if !strings.Contains(md, "unet-latent-tiny-concat") || !strings.Contains(md, "vqgan-f4-tiny") {
		t.Errorf("markdown:\n%s", md)
	}
	for _, c := range LatentCases() {
		if _, err := registry.Lookup(c.Denoiser); err != nil {
			t.Error(err)
		}
		if c.Autoencoder != "" {
			if _, err := registry.LookupAutoencoder(c.Autoencoder); err != nil {
				t.Error(err)
			}
		}
	}
}

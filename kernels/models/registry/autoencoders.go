package registry

import (
	"fmt"
	"sort"

	"github.com/dmseg/dmseg/kernels/models/vqgan"
)

// Autoencoder is one named first-stage model of chapter 5: a VQ-GAN (the inference model the
// latent diffusion models use) with the PatchGAN discriminator that trains it.
type Autoencoder struct {
	Name    string           `json:"name"`
	Summary string           `json:"summary,omitempty"`
	VQGAN   vqgan.Config     `json:"vqgan"`
	Disc    vqgan.DiscConfig `json:"discriminator"`
}

var autoencoders = map[string]Autoencoder{}

func addAutoencoder(a Autoencoder) {
	if _, dup := autoencoders[a.Name]; dup {
		panic("registry: duplicate autoencoder " + a.Name)
	}
	if err := a.VQGAN.Validate(); err != nil {
		panic(fmt.Sprintf("registry: %s: %v", a.Name, err))
	}
	if err := a.Disc.Validate(); err != nil {
		panic(fmt.Sprintf("registry: %s: %v", a.Name, err))
	}
	autoencoders[a.Name] = a
}

// cpuDisc is the reference PatchGAN (3 layers) with ndf 16 instead of 64: at
// ndf 64 the discriminator's passes would cost several times the ch-16
// autoencoder's on 64x64 inputs.
var cpuDisc = vqgan.DiscConfig{InChannels: 1, NDF: 16, NLayers: 3, NormGroups: 8}

func init() {
	for _, a := range []Autoencoder{
		{Name: "vqgan-f4-table9", VQGAN: vqgan.Table9(),
			Summary: "thesis Table 9 VQ-GAN f4 (64x64x1 -> 16x16x3, codebook 8192x3, ch 128, mult 1,2,4, no attention but the middle blocks')"},
		{Name: "vqgan-f8-table10", VQGAN: vqgan.Table10(),
			Summary: "thesis Table 10 VQ-GAN f8 (64x64x1 -> 8x8x4, codebook 16384x4, ch 128, mult 1,2,2,4, attention at 32x32)"},
		{Name: "vqgan-f4-cpu", VQGAN: vqgan.CPUF4(), Disc: cpuDisc,
			Summary: "CPU-sized VQ-GAN f4 (Table 9 with ch 16, GroupNorm(8), codebook 512x3; PatchGAN ndf 16)"},
		{Name: "vqgan-f8-cpu", VQGAN: vqgan.CPUF8(), Disc: cpuDisc,
			Summary: "CPU-sized VQ-GAN f8 (Table 10 with ch 16, GroupNorm(8), codebook 1024x4; PatchGAN ndf 16)"},
		{Name: "vqgan-f4-tiny", VQGAN: vqgan.TinyF4(), Disc: vqgan.DiscConfig{InChannels: 1, NDF: 4, NLayers: 3, NormGroups: 2},
			Summary: "tiny VQ-GAN f4 for tests (ch 4, one block per level, codebook 16x3)"},
		{Name: "vqgan-f8-tiny", VQGAN: vqgan.TinyF8(), Disc: vqgan.DiscConfig{InChannels: 1, NDF: 4, NLayers: 3, NormGroups: 2},
			Summary: "tiny VQ-GAN f8 for tests (ch 4, one block per level, attention at 32x32, codebook 16x4)"},
	} {
		if a.Disc == (vqgan.DiscConfig{}) {
			a.Disc = vqgan.PatchGAN(a.VQGAN.OutCh)
		}
		addAutoencoder(a)
	}
}

// AutoencoderNames lists the registered autoencoders, sorted.
func AutoencoderNames() []string {
	n := make([]string, 0, len(autoencoders))
	for k := range autoencoders {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// LookupAutoencoder returns the named autoencoder.
func LookupAutoencoder(name string) (Autoencoder, error) {
	a, ok := autoencoders[name]
	if !ok {
		return Autoencoder{}, fmt.Errorf("unknown autoencoder %q (known: %v)", name, AutoencoderNames())
	}
	a.VQGAN.ChMult = append([]int(nil), a.VQGAN.ChMult...)
	a.VQGAN.AttnResolutions = append([]int(nil), a.VQGAN.AttnResolutions...)
	return a, nil
}

// ParamCount is the exact number of trainable parameters of the inference model (what the
// reference VQModel holds without its loss: encoder, quant_conv, codebook, post_quant_conv,
// decoder), part by part, and separately the discriminator's.
func (a Autoencoder) ParamCount() (inference int, parts []vqgan.Part, disc int, discParts []vqgan.Part) {
	inference, parts = a.VQGAN.ParamCount()
	disc, discParts = a.Disc.ParamCount()
	return
}

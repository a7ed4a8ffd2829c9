package experiments

import (
	"fmt"
	"sort"
	"strings"
)

// Kinds of experiment. Each has a runner package kernels/runners/<kind> once
// implemented; KindSpecs says what each needs.
const (
	KindDDPMUncond = "ddpm-uncond" // unconditional DDPM on images (chapter 2)
	KindDDPMSeg    = "ddpm-seg"    // conditional DDPM: mask given image, RRDB encoder (chapter 3)
	KindBBDMSeg    = "bbdm-seg"    // Brownian bridge image -> mask (chapter 4)
	KindVQGAN      = "vqgan"       // VQ-GAN autoencoder f4/f8 (chapter 5)
	KindLDMSeg     = "ldm-seg"     // conditional DDPM in VQ-GAN latents (chapter 5)
	KindLBBDMSeg   = "lbbdm-seg"   // Brownian bridge in VQ-GAN latents (chapter 5)
	KindUNetSeg    = "unet-seg"    // plain segmentation U-Net (BCE + Dice), the practitioner's baseline
)

// KindSpec is what a kind of experiment trains on, its loss, its sampler and its
// evaluation: the contract its runner fulfils.
type KindSpec struct {
	Kind       string
	Chapter    string
	Issue      int    // the issue that implements its runner
	Data       string // which arrays it reads: image, mask or both
	Loss       string
	Sampler    string
	Evaluation string
	DependsOn  string // artifacts it builds on ("" = none)
}

// KindSpecs lists every kind, in the thesis's order.
var KindSpecs = []KindSpec{
	{KindDDPMUncond, "2", 6, "images (phantom X-rays, COVID-QU-Ex, brain MRI)",
		"L_simple with eps, x0 or v target (ddpm.Loss)", "DDIM (eta, spacing) and ancestral DDPM",
		"sample quality: FD/KID vs held-out images, speckle fraction, DDIM and DDPM from the same x_T", ""},
	{KindDDPMSeg, "3", 11, "image (condition) + mask (generated)", "L_simple on the mask, RRDB encoder trained jointly",
		"DDIM-50 from noise given the image; threshold 0.5", "8 segmentation metrics, pooled and per image; K samples fused", ""},
	{KindBBDMSeg, "4", 12, "CLAHE image (x_T = y) + mask (x_0)", "bridge objective grad/noise/ysubx, L1 or L2",
		"official skip-step bridge sampler (sample_step, eta)", "8 segmentation metrics", ""},
	{KindVQGAN, "5", 13, "images or masks", "L1 + codebook + commitment (+ PatchGAN hinge after a delay)",
		"encode/decode", "reconstruction error, codebook usage", ""},
	{KindLDMSeg, "5", 13, "image + mask, through VQ-GAN latents", "L_simple in latent space",
		"DDIM-50 in latents, decode, threshold 0.5", "8 segmentation metrics", "the image and mask VQ-GAN artifacts"},
	{KindLBBDMSeg, "5", 13, "image + mask, through VQ-GAN latents (normalised per channel)", "bridge objective in latent space",
		"bridge sampler in latents, decode, threshold 0.5", "8 segmentation metrics", "the image and mask VQ-GAN artifacts"},
	{KindUNetSeg, "3 (baseline)", 11, "image + mask", "BCE + Dice", "one forward pass; threshold 0.5", "8 segmentation metrics", ""},
}

// Spec returns the spec of kind.
func Spec(kind string) (KindSpec, error) {
	for _, s := range KindSpecs {
		if s.Kind == kind {
			return s, nil
		}
	}
	var names []string
	for _, s := range KindSpecs {
		names = append(names, s.Kind)
	}
	sort.Strings(names)
	return KindSpec{}, fmt.Errorf("unknown experiment kind %q (known: %s)", kind, strings.Join(names, ", "))
}

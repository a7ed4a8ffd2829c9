package bench

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/dmseg/dmseg/kernels/models/registry"
	vq "github.com/dmseg/dmseg/kernels/models/vqgan"
	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// LatentCase is one row of the pixel-vs-latent speed comparison (thesis 5,
// issue 13): a segmentation denoiser and, for a latent one, the VQ-GAN whose
// encoder maps the X-ray and whose decoder maps the sampled latent back.
type LatentCase struct {
	Label       string
	Denoiser    string // registry denoiser config
	Autoencoder string // registry autoencoder config; "" = pixel space
}

// LatentCases are the CPU sizes: pixel space (chapter 3's concatenation
// DDPM), f4 and f8 (chapter 5's LDMs).
func LatentCases() []LatentCase {
	return []LatentCase{
		{"pixel 64x64x1", "unet-cpu-concat", ""},
		{"f4 16x16x3", "unet-latent-f4-cpu-concat", "vqgan-f4-cpu"},
		{"f8 8x8x4", "unet-latent-f8-cpu-concat", "vqgan-f8-cpu"},
	}
}

// LatentTiming is the measured cost of one case: the denoiser's training step
// and forward pass at its native size, the VQ-GAN's encode and decode, and
// the sampling time per image for Steps network calls.
type LatentTiming struct {
	Case           LatentCase `json:"case"`
	Batch          int        `json:"batch"`
	Steps          int        `json:"steps"`
	TrainStepSec   float64    `json:"train_step_seconds"`
	ForwardSec     float64    `json:"forward_seconds"`
	EncodeSec      float64    `json:"encode_seconds"` // batch of X-rays through the encoder (0 in pixel space)
	DecodeSec      float64    `json:"decode_seconds"` // batch of latents quantised and decoded
	SampleImgSec   float64    `json:"sample_seconds_per_image"`
	SpeedupVsPixel float64    `json:"sampling_speedup_vs_pixel"`
}

// LatentSpeed measures every case on backend b in one run: sampling per
// image = (steps x forward + encode + decode) / batch. The first case is the
// pixel-space reference of the speed-ups.
func LatentSpeed(b backends.Backend, cases []LatentCase, batch, steps, reps int) ([]LatentTiming, error) {
	var out []LatentTiming
	for _, c := range cases {
		mt, err := Model(b, c.Denoiser, batch, reps)
		if err != nil {
			return nil, err
		}
		t := LatentTiming{Case: c, Batch: batch, Steps: steps, TrainStepSec: mt.TrainStepSec, ForwardSec: mt.ForwardSec}
		if c.Autoencoder != "" {
			if t.EncodeSec, t.DecodeSec, err = Autoencoder(b, c.Autoencoder, batch, reps); err != nil {
				return nil, err
			}
		}
		t.SampleImgSec = (float64(steps)*t.ForwardSec + t.EncodeSec + t.DecodeSec) / float64(batch)
		out = append(out, t)
	}
	for i := range out {
		out[i].SpeedupVsPixel = out[0].SampleImgSec / out[i].SampleImgSec
	}
	return out, nil
}

// Autoencoder times a VQ-GAN's encoder (64x64x1 -> latent before
// quantisation) and its decoder of a latent (quantise, decode) on random
// inputs and weights, batch images at a time (medians).
func Autoencoder(b backends.Backend, name string, batch, reps int) (encode, decode float64, err error) {
	a, err := registry.LookupAutoencoder(name)
	if err != nil {
		return 0, 0, err
	}
	cfg := a.VQGAN
	rng := rand.New(rand.NewPCG(5, 5))
	x := randomTensor(rng, batch, cfg.Resolution, cfg.Resolution, cfg.InChannels)
	h := randomTensor(rng, batch, cfg.LatentSize(), cfg.LatentSize(), cfg.EmbedDim)
	ctx := context.New()
	enc, err := context.NewExec(b, ctx, func(ctx *context.Context, x *Node) *Node { return vq.Encode(ctx, cfg, x) })
	if err != nil {
		return 0, 0, err
	}
	defer enc.Finalize()
	encode = timeIt(reps, func() { enc.MustExec(x)[0].FinalizeAll() })
	dec, err := context.NewExec(b, ctx, func(ctx *context.Context, h *Node) *Node { return vq.DecodeLatent(ctx, cfg, h) })
	if err != nil {
		return 0, 0, err
	}
	defer dec.Finalize()
	decode = timeIt(reps, func() { dec.MustExec(h)[0].FinalizeAll() })
	return encode, decode, nil
}

// LatentMarkdown is the comparison as a Markdown section.
func LatentMarkdown(ts []LatentTiming) string {
	var b strings.Builder
	if len(ts) == 0 {
		return ""
	}
	fmt.Fprintf(&b, "## Pixel space vs VQ-GAN latents (chapter 5), batch %d, %d sampling steps\n\n", ts[0].Batch, ts[0].Steps)
	b.WriteString("| case | denoiser | autoencoder | train step s | forward s | encode s | decode s | sampling s / image | speed-up vs pixel |\n|---|---|---|---:|---:|---:|---:|---:|---:|\n")
	for _, t := range ts {
		ae := t.Case.Autoencoder
		if ae == "" {
			ae = "-"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %.3f | %.4f | %.4f | %.4f | %.4f | %.1fx |\n", t.Case.Label, t.Case.Denoiser, ae,
			t.TrainStepSec, t.ForwardSec, t.EncodeSec, t.DecodeSec, t.SampleImgSec, t.SpeedupVsPixel)
	}
	b.WriteString("\nSampling per image = (steps x forward + encode + decode) / batch, from medians measured in this run on random weights.\n")
	return b.String()
}

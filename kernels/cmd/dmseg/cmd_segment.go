package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/dmseg/dmseg/kernels/artifacts"
	"github.com/dmseg/dmseg/kernels/diffusion"
	"github.com/dmseg/dmseg/kernels/imageio"
	"github.com/dmseg/dmseg/kernels/runners/segeval"
)

func init() {
	register("segment", "segment your own X-ray with a trained segmentation artifact", runSegment)
}

func runSegment(args []string) error {
	fs := newFlags("segment", "--artifact ID --image IN.png --out MASK.png [--samples K] [--overlay FILE] [--uncertainty FILE]", `
Segments one image of any size with a trained model (a ddpm-seg, unet-seg or bbdm-seg artifact):
the image is converted to 8-bit gray, resized to the model's size (64x64, area averaging),
equalised with CLAHE when the artifact was trained on CLAHE images (chapter 4 on; the parameters
its config records), and segmented K times (a DDPM or bridge draws K masks from K noise seeds;
the U-Net baseline is deterministic).
The K binarised samples are averaged into a foreground probability, which is resized back to the
input size (bilinear) and thresholded at 0.5: MASK.png is a 0/255 mask of the input's size.

--overlay writes the input with the mask tinted green; --uncertainty writes the samples'
disagreement 2*sqrt(p(1-p)) as gray levels (black: all samples agree, white: an even split;
meaningful with --samples > 1). The models are trained on synthetic phantoms unless you trained
one on COVID-QU-Ex: read their masks as a demonstration, not a diagnosis.`)
	ref := fs.String("artifact", "", artifactHelp)
	in := fs.String("image", "", "input image, PNG of any size (required)")
	out := fs.String("out", "", "output mask PNG (required)")
	k := fs.Int("samples", 1, "samples fused per image (1..255)")
	seed := fs.Int64("seed", 1234, "sampling seed")
	overlay := fs.String("overlay", "", "also write the input with the mask overlaid (PNG)")
	unc := fs.String("uncertainty", "", "also write the per-pixel disagreement of the samples (PNG)")
	root := fs.String("artifacts", artifacts.Root(), "artifacts folder")
	be := backendFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	if *ref == "" || *in == "" || *out == "" {
		fs.Usage()
		return errors.New("--artifact, --image and --out are required")
	}
	if *k < 1 || *k > 255 {
		return fmt.Errorf("--samples must be in 1..255, got %d", *k)
	}
	img, err := imageio.ReadGray(*in)
	if err != nil {
		return err
	}
	a, err := openArtifact(os.Stderr, *root, *ref)
	if err != nil {
		return err
	}
	backend, _, err := openBackend(*be)
	if err != nil {
		return err
	}
	predict, size, release, err := segeval.PredictorFor(a, backend)
	if err != nil {
		return err
	}
	defer release()
	pre, err := segeval.Preprocess(a)
	if err != nil {
		return err
	}
	s, err := segeval.Segment(predict, size, img, pre, *k, *seed, diffusion.ProgressBar(os.Stderr, fmt.Sprintf("segment %d sample(s)", *k)))
	if err != nil {
		return err
	}
	if err := imageio.WriteGray(*out, s.Mask); err != nil {
		return err
	}
	if *overlay != "" {
		if err := imageio.WritePNG(*overlay, s.Overlay(img)); err != nil {
			return err
		}
	}
	if *unc != "" {
		if err := imageio.WriteGray(*unc, s.Uncertainty()); err != nil {
			return err
		}
	}
	fg := 0
	for _, v := range s.Mask.Pix {
		if v != 0 {
			fg++
		}
	}
	fmt.Fprintf(os.Stderr, "%s: %dx%d, %d sample(s) with %s: %.1f%% foreground -> %s\n", *in, img.W, img.H, *k, a.Manifest.ID,
		100*float64(fg)/float64(len(s.Mask.Pix)), *out)
	return nil
}

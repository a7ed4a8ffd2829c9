package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/dmseg/dmseg/kernels/diffusion/ddpm"
	"github.com/dmseg/dmseg/kernels/diffusion/schedule"

	"github.com/dmseg/dmseg/kernels/artifacts"
	"github.com/dmseg/dmseg/kernels/runners"
)

func init() {
	register("evaluate", "evaluate a trained artifact into a record beside it (artifacts/<id>/evals/<eval-id>/)", runEvaluate)
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func runEvaluate(args []string) error {
	fs := newFlags("evaluate", "--artifact ID [--split NAME] [--n N] [--samples K] [--seed S] [--batch B]", `
Runs the evaluation of the artifact's kind and stores it as an immutable record in
artifacts/<id>/evals/<eval-id>/: record.json (the protocol: sampler, steps, eta, spacing, seeds,
split, number of images, backend; the results; the code commit; timings; sha256 of every file)
and the samples or predicted masks as lossless PNGs. The eval id is derived from the protocol,
so the same evaluation is never stored twice. `+"`dmseg artifacts verify`"+` re-hashes records too.

ddpm-uncond: N samples each from DDIM (the experiment's steps, eta, spacing) and ancestral DDPM
from the same x_T, FD/KID against the held-out split with calibration rows (real, real-blurred,
noise) and the fraction of speckled samples.

ddpm-seg: one DDIM sample per image of the validation split (thesis 3.3; --samples K fuses K, with
metrics for k = 1, 3, 5, 9 of them), threshold 0.5, the 8 metrics pooled and per image, the masks
stored. unet-seg: one forward pass per image. vqgan: reconstructs the held-out split (PSNR and L1;
for mask VQ-GANs the 8 metrics of the thresholded reconstruction against the mask), codebook usage
and perplexity, the reconstructions stored.

bbdm-seg: one bridge sample per image from its CLAHE X-ray (x_T = y; thesis 4.1, Table 7: 200
skip steps, eta 1), threshold 0.5, the same metrics and stored masks as ddpm-seg.

--ddim-steps, --eta, --spacing and --clip-x0 replace the experiment's DDIM settings (ddpm-uncond,
ddpm-seg; ddpm-uncond also takes --eps-scale); --steps, --eta and --clip-x0 replace the bridge sampler's (bbdm-seg; --steps is
--ddim-steps for the DDPM kinds). The values that ran are part of the record's protocol and so of
its id. Choose them on the validation split, not on the split a table reports.`)
	ref := fs.String("artifact", "", artifactHelp)
	split := fs.String("split", "", "evaluation split (default: the experiment's held-out split)")
	n := fs.Int("n", 0, "images to evaluate (default: the experiment's)")
	samples := fs.Int("samples", 0, "samples per image, fused (segmentation kinds; default 1)")
	seed := fs.Int64("seed", 0, "sampling seed (default: the experiment's)")
	samplers := fs.String("samplers", "", "ddpm-uncond: comma-separated samplers (ddim,ddpm; default both)")
	ddimSteps := fs.Int("ddim-steps", 0, "DDIM steps (default: the experiment's, 50 in the thesis)")
	steps := fs.Int("steps", 0, "sampling steps: the bridge's skip steps (bbdm-seg, 200 in the thesis) or DDIM steps (default: the experiment's)")
	eta := fs.Float64("eta", -1, "DDIM eta >= 0 (default: the experiment's)")
	spacing := fs.String("spacing", "", "DDIM timestep spacing: "+strings.Join(schedule.SpacingNames, ", ")+" (default: the experiment's)")
	clip := fs.Float64("clip-x0", -1, "clip x0_hat to [-c, c] in DDIM, 0 = off (default: the experiment's)")
	epsScale := fs.Float64("eps-scale", 0, "ddpm-uncond: divide eps_hat by this factor at every DDIM step (epsilon scaling, Ning et al. 2024; 0 or 1 = off)")
	batch := fs.Int("batch", 0, "images per sampler call (part of the protocol: batch k uses seed+2k)")
	root := fs.String("artifacts", artifacts.Root(), "artifacts folder")
	be := backendFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *ref == "" {
		fs.Usage()
		return errors.New("--artifact is required")
	}
	if *n < 0 || *samples < 0 || *batch < 0 {
		return fmt.Errorf("--n, --samples and --batch must be >= 0, got %d, %d, %d", *n, *samples, *batch)
	}
	if *ddimSteps < 0 || *steps < 0 {
		return fmt.Errorf("--ddim-steps and --steps must be >= 1, got %d and %d", *ddimSteps, *steps)
	}
	if *ddimSteps > 0 && *steps > 0 && *ddimSteps != *steps {
		return fmt.Errorf("--ddim-steps %d and --steps %d disagree: give one of them", *ddimSteps, *steps)
	}
	dd := runners.DDIMOverride{Steps: max(*ddimSteps, *steps), Spacing: *spacing}
	if *eta != -1 {
		if *eta < 0 || math.IsNaN(*eta) || math.IsInf(*eta, 0) {
			return fmt.Errorf("--eta must be a finite number >= 0, got %g", *eta)
		}
		dd.Eta = eta
	}
	if *clip != -1 {
		if *clip < 0 || math.IsNaN(*clip) || math.IsInf(*clip, 0) {
			return fmt.Errorf("--clip-x0 must be a finite number >= 0 (0: off), got %g", *clip)
		}
		dd.ClipX0 = clip
	}
	if err := ddpm.CheckEpsScale(*epsScale); err != nil {
		return fmt.Errorf("--%w", err)
	}
	dd.EpsScale = *epsScale
	if *spacing != "" && !slices.Contains(schedule.SpacingNames, *spacing) {
		return fmt.Errorf("--spacing %q: want one of %s", *spacing, strings.Join(schedule.SpacingNames, ", "))
	}
	a, err := openArtifact(os.Stderr, *root, *ref)
	if err != nil {
		return err
	}
	r, _, err := runners.ForArtifact(a)
	if err != nil {
		return err
	}
	backend, info, err := openBackend(*be)
	if err != nil {
		return err
	}
	ev, err := r.Evaluate(a, runners.EvalOptions{Backend: backend, Info: info, Split: *split, N: *n, Samples: *samples,
		Seed: *seed, Batch: *batch, Samplers: splitList(*samplers), DDIM: dd, Log: os.Stderr, Progress: true})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "evaluation record %s written to %s (%d files)\n", ev.Record.ID, ev.Dir, len(ev.Record.Files))
	fmt.Println(ev.Record.ID)
	return nil
}

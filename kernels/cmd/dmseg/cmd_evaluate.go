package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

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
noise) and the fraction of speckled samples.`)
	ref := fs.String("artifact", "", "artifact id, unique prefix or experiment name (required)")
	split := fs.String("split", "", "evaluation split (default: the experiment's held-out split)")
	n := fs.Int("n", 0, "images to evaluate (default: the experiment's)")
	samples := fs.Int("samples", 0, "samples per image, fused (segmentation kinds; default 1)")
	seed := fs.Int64("seed", 0, "sampling seed (default: the experiment's)")
	samplers := fs.String("samplers", "", "ddpm-uncond: comma-separated samplers (ddim,ddpm; default both)")
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
	a, err := artifacts.Open(*root, *ref)
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
		Seed: *seed, Batch: *batch, Samplers: splitList(*samplers), Log: os.Stderr, Progress: true})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "evaluation record %s written to %s (%d files)\n", ev.Record.ID, ev.Dir, len(ev.Record.Files))
	fmt.Println(ev.Record.ID)
	return nil
}

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/dmseg/dmseg/kernels/artifacts"
	"github.com/dmseg/dmseg/kernels/atomicfile"
	"github.com/dmseg/dmseg/kernels/diffusion"
	"github.com/dmseg/dmseg/kernels/diffusion/ddpm"
	"github.com/dmseg/dmseg/kernels/diffusion/schedule"
	"github.com/dmseg/dmseg/kernels/engine"
	"github.com/dmseg/dmseg/kernels/figures/synthesis"
	"github.com/dmseg/dmseg/kernels/runners/ddpmuncond"
)

func init() {
	register("sample", "draw images from a trained DDPM artifact (DDPM ancestral or DDIM)", runSample)
}

func runSample(args []string) error {
	fs := newFlags("sample", "--artifact ID --sampler ddpm|ddim [--steps S] [--eta E] [--spacing NAME] [--clip-x0 C] [--eps-scale L] --n N --seed K --out FILE.png", `
Loads a verified artifact (any changed byte is refused), draws N images with the ancestral DDPM
sampler (all T steps; --steps must be T or 0) or DDIM (--steps S network calls, 50 in the thesis;
--eta 0 is deterministic, 1 adds DDPM-like noise; --spacing picks the visited timesteps; --clip-x0
clips x0_hat at every DDIM step; all default to the experiment's; --eps-scale divides eps_hat by L at
every DDIM step, the epsilon scaling of Ning et al. 2024, off by default), and writes them as a PNG grid. S = T works with every spacing. The PNG carries the stamp
(artifact id, commits, backend, sampler, seed) in a tEXt chunk and FILE.json beside it records the
same plus the timing. Same artifact + sampler + steps + seed + backend = same pixels.

ID: full artifact id, unique prefix, or an experiment name (its newest artifact of the experiment's
current definition, the one the tables use).`)
	ref := fs.String("artifact", "", artifactHelp)
	sampler := fs.String("sampler", "ddim", "ddpm (ancestral, T steps) or ddim")
	steps := fs.Int("steps", 0, "sampling steps (0: T for ddpm, the experiment's for ddim)")
	eta := fs.Float64("eta", -1, "DDIM eta >= 0 (default: the experiment's, 0 in the thesis)")
	spacing := fs.String("spacing", "", "DDIM timestep spacing: "+strings.Join(schedule.SpacingNames, ", ")+" (default: the experiment's)")
	clip := fs.Float64("clip-x0", -1, "DDIM: clip x0_hat to [-c, c], 0 = off (default: the experiment's)")
	epsScale := fs.Float64("eps-scale", 0, "DDIM: divide eps_hat by this factor at every step (epsilon scaling; 0 or 1 = off)")
	n := fs.Int("n", 16, "number of images")
	seed := fs.Int64("seed", 1, "seed of x_T (the sampler's own noise uses seed+1)")
	out := fs.String("out", "samples.png", "output PNG grid")
	cols := fs.Int("cols", 0, "grid columns (default ~sqrt(n))")
	batch := fs.Int("batch", 32, "images per sampler batch")
	root := fs.String("artifacts", artifacts.Root(), "artifacts folder")
	be := backendFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *ref == "" {
		fs.Usage()
		return errors.New("--artifact is required")
	}
	if *n < 1 || *batch < 1 {
		return errors.New("--n and --batch must be >= 1")
	}
	if *eta < 0 && *eta != -1 || math.IsNaN(*eta) || math.IsInf(*eta, 0) {
		return fmt.Errorf("--eta must be a finite number >= 0, got %g", *eta)
	}
	if *spacing != "" && !slices.Contains(schedule.SpacingNames, *spacing) {
		return fmt.Errorf("--spacing %q: want one of %s", *spacing, strings.Join(schedule.SpacingNames, ", "))
	}
	if *clip != -1 && (*clip < 0 || math.IsNaN(*clip) || math.IsInf(*clip, 0)) {
		return fmt.Errorf("--clip-x0 must be a finite number >= 0 (0: off), got %g", *clip)
	}
	if err := ddpm.CheckEpsScale(*epsScale); err != nil {
		return fmt.Errorf("--%w", err)
	}
	if ddpm.EpsScaled(*epsScale) && *sampler != "ddim" {
		return fmt.Errorf("--eps-scale applies to --sampler ddim")
	}
	if *clip != -1 && *sampler != "ddim" {
		return fmt.Errorf("--clip-x0 applies to --sampler ddim (the ancestral sampler clips as the experiment says)")
	}
	a, err := openArtifact(os.Stderr, *root, *ref)
	if err != nil {
		return err
	}
	backend, info, err := openBackend(*be)
	if err != nil {
		return err
	}
	l, err := ddpmuncond.Load(a)
	if err != nil {
		return err
	}
	spec, err := l.Spec(*sampler, *steps, *eta, *spacing)
	if err != nil {
		return err
	}
	if *clip != -1 {
		spec.ClipX0 = *clip
	}
	if ddpm.EpsScaled(*epsScale) {
		spec.EpsScale = *epsScale
	}
	s, err := l.NewSamplerSpec(backend, spec)
	if err != nil {
		return err
	}
	size := l.ImageSize()

	pix, sec, err := ddpmuncond.SampleBatched(s, *n, *batch, *seed, size, diffusion.ProgressBar(os.Stderr, *sampler))
	if err != nil {
		return err
	}

	c := *cols
	if c <= 0 {
		for c = 1; c*c < *n; c++ {
		}
	}
	imgs, err := synthesis.ToGray(pix, *n, size, size)
	if err != nil {
		return err
	}
	grid, err := synthesis.Grid(imgs, c, 2, 1)
	if err != nil {
		return err
	}
	head := artifacts.GitState(engine.ProjectRoot())
	stamp := fmt.Sprintf("%s code=%.12s %s sampler=%s steps=%d eta=%g spacing=%s clip_x0=%g eps_scale=%g seed=%d", a.Stamp(), head.Commit, info.String(),
		spec.Sampler, spec.Steps, spec.Eta, spec.Spacing, spec.ClipX0, spec.EpsScale, *seed)
	data, err := synthesis.EncodePNG(grid, map[string]string{"dmseg-stamp": stamp})
	if err != nil {
		return err
	}
	meta := map[string]any{"stamp": stamp, "artifact": a.Manifest.ID, "weights_sha256": a.Manifest.WeightsSHA256,
		"sampler": spec.Sampler, "steps": spec.Steps, "eta": spec.Eta, "spacing": spec.Spacing, "clip_x0": spec.ClipX0, "eps_scale": spec.EpsScale, "n": *n, "seed": *seed, "backend": info.Name, "seconds": sec,
		"seconds_per_image": sec / float64(*n), "code_commit": head.Commit, "code_dirty": head.Dirty}
	js, _ := json.MarshalIndent(meta, "", "  ")
	side := strings.TrimSuffix(*out, ".png") + ".json"
	var set atomicfile.Set // the PNG and its JSON appear together or not at all
	if err := set.Stage(*out, data); err != nil {
		return err
	}
	if err := set.Stage(side, js); err != nil {
		set.Abort()
		return err
	}
	if err := set.Commit(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "%d images, %s, %.1f s (%.2f s/image, including compilation) -> %s\n", *n, spec.Label(), sec, sec/float64(*n), *out)
	return nil
}

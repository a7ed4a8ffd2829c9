package ch3

import (
	"fmt"
	"image"
	"math"

	"github.com/dmseg/dmseg/kernels/data/dataset"
	"github.com/dmseg/dmseg/kernels/experiments"
	"github.com/dmseg/dmseg/kernels/figures/synthesis"
	"github.com/dmseg/dmseg/kernels/metrics/seg"
	"github.com/dmseg/dmseg/kernels/runners/ddpmseg"
	"github.com/dmseg/dmseg/kernels/runners/ddpmuncond"
	"github.com/dmseg/dmseg/kernels/runners/segeval"
	"github.com/gomlx/gomlx/backends"
)

// Explorer segments one validation image of a chapter-3 DDPM at a time with
// chosen DDIM settings and ensemble size: the computation behind notebook
// 03's interactive controls (number of DDIM steps, eta, samples fused), kept
// here so that it is tested headless. Samplers are built once per (steps, eta).
type Explorer struct {
	r        *Result
	l        *ddpmuncond.Loaded
	backend  backends.Backend
	samplers map[[2]float64]segeval.Predict
}

// NewExplorer opens the weights of a ddpm-seg result.
func NewExplorer(backend backends.Backend, r *Result) (*Explorer, error) {
	if !isDDPMSeg(r) {
		return nil, fmt.Errorf("explorer: %s is not a ddpm-seg model", r.Artifact.Manifest.ID)
	}
	l, err := ddpmseg.Load(r.Artifact)
	if err != nil {
		return nil, err
	}
	return &Explorer{r: r, l: l, backend: backend, samplers: map[[2]float64]segeval.Predict{}}, nil
}

func isDDPMSeg(r *Result) bool {
	var rc experiments.RunConfig
	return r.Artifact.DecodeConfig(&rc) == nil && rc.Experiment.Kind == experiments.KindDDPMSeg
}

// View is one setting of the controls: the image, its truth, the fused
// probability and the samples' disagreement, and the Dice of the fused mask.
type View struct {
	PNG  []byte
	Mask []uint8 // fused mask, 0/1
	Dice float64
}

// View segments validation image i with DDIM (steps, eta), fusing k samples
// drawn from seed (SampleSeed(seed, 0, s) for sample s).
func (x *Explorer) View(i, steps int, eta float64, k int, seed int64) (*View, error) {
	set := x.r.Set
	if i < 0 || i >= set.N {
		return nil, fmt.Errorf("explorer: image %d of %d", i, set.N)
	}
	if k < 1 || k > 255 {
		return nil, fmt.Errorf("explorer: samples must be in 1..255, got %d", k)
	}
	key := [2]float64{float64(steps), eta}
	predict, ok := x.samplers[key]
	if !ok {
		spec, err := x.l.Spec("ddim", steps, eta, "")
		if err != nil {
			return nil, err
		}
		s, err := x.l.NewSamplerSpec(x.backend, spec)
		if err != nil {
			return nil, err
		}
		predict = ddpmseg.Predictor(x.backend, s, nil)
		x.samplers[key] = predict
	}
	hw := set.H * set.W
	one := &dataset.Set{Source: set.Source, Split: set.Split, N: 1, H: set.H, W: set.W,
		Images: set.Images[i*hw : (i+1)*hw], Masks: set.Masks[i*hw : (i+1)*hw], CLAHE: set.CLAHE}
	pr, err := segeval.Run(one, segeval.Protocol{N: 1, Samples: k, Seed: seed, Batch: 1, Threshold: 0.5}, predict, nil)
	if err != nil {
		return nil, err
	}
	v := &View{Mask: pr.Masks(k, 0.5)}
	truth := make([]uint8, hw)
	for j, m := range one.Masks {
		if m >= 128 {
			truth[j] = 1
		}
	}
	c, err := seg.CountBinary(v.Mask, truth)
	if err != nil {
		return nil, err
	}
	v.Dice = seg.FromCounts(c).Dice
	gray := func(pix []uint8) *image.Gray {
		g := image.NewGray(image.Rect(0, 0, set.W, set.H))
		copy(g.Pix, pix)
		return g
	}
	prob, unc := make([]uint8, hw), make([]uint8, hw)
	for j, q := range pr.Prob {
		prob[j] = uint8(math.Round(255 * float64(q)))
		unc[j] = uint8(math.Round(255 * 2 * math.Sqrt(float64(q*(1-q)))))
	}
	grid, err := synthesis.Grid([]*image.Gray{gray(one.Images), gray(one.Masks), gray(prob), gray(unc)}, 4, 2, 4)
	if err != nil {
		return nil, err
	}
	v.PNG, err = synthesis.Labeled(grid, fmt.Sprintf("%s, image %d: DDIM-%d, eta %g, %d sample(s) fused: Dice %.4f", x.r.Model.Label, i, steps, eta, k, v.Dice),
		[]string{"X-ray", "ground truth", "P(foreground)", "2 sqrt(p(1-p))"}, nil, x.r.Artifact.Manifest.ID, 7)
	return v, err
}

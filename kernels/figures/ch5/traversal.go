package ch5

import (
	"fmt"
	"image"
	"math"
	"strings"

	"github.com/dmseg/dmseg/kernels/experiments"
	"github.com/dmseg/dmseg/kernels/figures/synthesis"
	vqrun "github.com/dmseg/dmseg/kernels/runners/vqgan"
	"github.com/gomlx/gomlx/backends"
)

// TraversalFigure walks the straight line between the latents of held-out
// images i and j through each VQ-GAN of vqs (one row each): the two
// originals at the ends, n decoded points between them, and per column the
// share of latent positions whose code differs from alpha 0's. It shows
// what chapter 5's latent models diffuse in: a continuous latent whose
// decoded image changes only where a code switches.
func TraversalFigure(vqs []*VQ, backend backends.Backend, i, j, n int) ([]byte, []*vqrun.Traversal, error) {
	if len(vqs) == 0 {
		return nil, nil, fmt.Errorf("traversal: no VQ-GAN given")
	}
	var cells []*image.Gray
	var rows, stamps []string
	var trs []*vqrun.Traversal
	for _, v := range vqs {
		l, err := vqrun.Load(v.Artifact)
		if err != nil {
			return nil, nil, err
		}
		var rc experiments.RunConfig
		if err := v.Artifact.DecodeConfig(&rc); err != nil {
			return nil, nil, err
		}
		set, err := rc.Experiment.LoadSplit(v.Protocol.Split)
		if err != nil {
			return nil, nil, err
		}
		if i < 0 || j < 0 || i >= set.N || j >= set.N {
			return nil, nil, fmt.Errorf("traversal: images %d and %d: the %s split holds %d", i, j, v.Protocol.Split, set.N)
		}
		image := v.Protocol.Target == "image"
		a, b := set.Gather([]int{i}, image), set.Gather([]int{j}, image)
		ta, tb, pa, pb := a.ImagesTensor(), b.ImagesTensor(), a.Images, b.Images
		if !image {
			ta, tb, pa, pb = a.MasksTensor(), b.MasksTensor(), a.Masks, b.Masks
		}
		tr, err := l.Traverse(backend, ta, tb, n)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", v.Artifact.Manifest.ID, err)
		}
		trs = append(trs, tr)
		hw := tr.H * tr.W
		cells = append(cells, gray(to8(pa), tr.W))
		for k := 0; k < n; k++ {
			cells = append(cells, gray(to8(tr.Images[k*hw:(k+1)*hw]), tr.W))
		}
		cells = append(cells, gray(to8(pb), tr.W))
		rows = append(rows, strings.TrimSuffix(strings.TrimPrefix(v.Experiment, "ch5-vqgan-"), "-cpu"))
		stamps = append(stamps, v.Artifact.Manifest.ID)
	}
	grid, err := synthesis.Grid(cells, n+2, 4, 2)
	if err != nil {
		return nil, nil, err
	}
	cols := []string{"image a"}
	for k := 0; k < n; k++ {
		c := fmt.Sprintf("a=%.2f", trs[0].Alphas[k])
		if len(trs) == 1 {
			c += fmt.Sprintf(" (%.0f%%)", 100*trs[0].Changed[k])
		}
		cols = append(cols, c)
	}
	cols = append(cols, "image b")
	png, err := synthesis.Labeled(grid, fmt.Sprintf("Latent traversal: decode(quantise((1-a) E(x_%d) + a E(x_%d)))", i, j), cols, rows,
		strings.Join(stamps, " "), 1.1*float64(n+2))
	return png, trs, err
}

// to8 maps [-1, 1] pixels to 8 bits.
func to8(x []float32) []uint8 {
	out := make([]uint8, len(x))
	for k, v := range x {
		out[k] = uint8(math.Round((math.Max(-1, math.Min(1, float64(v))) + 1) * 127.5))
	}
	return out
}

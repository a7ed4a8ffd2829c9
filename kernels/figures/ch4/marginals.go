package ch4

import (
	"fmt"
	"image"
	"math"
	"math/rand/v2"

	"github.com/dmseg/dmseg/kernels/data/clahe"
	"github.com/dmseg/dmseg/kernels/diffusion/schedule"
	"github.com/dmseg/dmseg/kernels/experiments"
	"github.com/dmseg/dmseg/kernels/figures/synthesis"
	"github.com/dmseg/dmseg/kernels/imageio"
)

// BridgePath draws the Brownian bridge's marginal x_t ~ q(x_t | x_0, y) =
// N((1 - m_t) x_0 + m_t y, delta_t I) (thesis eq. 4) for validation image i
// of a bridge experiment (y its CLAHE X-ray, x_0 its mask, both in [-1, 1])
// at the given 0-based timesteps, noise from seed, as one labelled strip: the
// path the bridge travels from the mask (t = 0) to the X-ray (t = T-1). It
// returns the figure and the images (t-major, 8-bit, clipped to [-1, 1]).
func BridgePath(e experiments.Experiment, i int, ts []int, seed uint64) ([]byte, [][]uint8, error) {
	if e.Bridge == nil {
		return nil, nil, fmt.Errorf("experiment %s has no bridge", e.Name)
	}
	s, err := schedule.NewBBDM(e.Bridge.MtType, e.Bridge.Timesteps, e.Bridge.MaxVar)
	if err != nil {
		return nil, nil, err
	}
	set, err := e.LoadSplit("val")
	if err != nil {
		return nil, nil, err
	}
	if i < 0 || i >= set.N {
		return nil, nil, fmt.Errorf("image %d of %d", i, set.N)
	}
	hw := set.H * set.W
	r := rand.New(rand.NewPCG(seed, 0xb41d))
	var cells []*image.Gray
	var imgs [][]uint8
	var labels []string
	for _, t := range ts {
		if t < 0 || t >= s.T {
			return nil, nil, fmt.Errorf("timestep %d outside 0..%d", t, s.T-1)
		}
		m, sd := s.M[t], math.Sqrt(s.Delta[t])
		g := image.NewGray(image.Rect(0, 0, set.W, set.H))
		for j := 0; j < hw; j++ {
			x0 := float64(set.Masks[i*hw+j])/127.5 - 1
			y := float64(set.Images[i*hw+j])/127.5 - 1
			v := (1-m)*x0 + m*y + sd*r.NormFloat64()
			g.Pix[j] = uint8(math.Round((math.Max(-1, math.Min(1, v)) + 1) * 127.5))
		}
		cells, imgs = append(cells, g), append(imgs, g.Pix)
		labels = append(labels, fmt.Sprintf("t=%d m=%.2f sd=%.2f", t, m, sd))
	}
	grid, err := synthesis.Grid(cells, len(cells), 2, 3)
	if err != nil {
		return nil, nil, err
	}
	fig, err := synthesis.Labeled(grid, fmt.Sprintf("Brownian bridge marginals (eq. 4) from the mask (t=0) to the CLAHE X-ray (t=%d), %s val #%d", s.T-1, e.Data.Phantom.Task, i),
		labels, nil, e.Name, 10)
	return fig, imgs, err
}

// CLAHEFigure shows the first n validation images of an experiment before
// and after its CLAHE (thesis 4.1: applied from chapter 4 on; the clip limit
// and tile grid are ours, recorded in the experiment).
func CLAHEFigure(e experiments.Experiment, n int) ([]byte, error) {
	if e.Data.CLAHE == nil {
		return nil, fmt.Errorf("experiment %s applies no CLAHE", e.Name)
	}
	raw := e
	raw.Data.CLAHE = nil
	set, err := raw.LoadSplit("val")
	if err != nil {
		return nil, err
	}
	n = min(n, set.N)
	hw := set.H * set.W
	var cells []*image.Gray
	for i := 0; i < n; i++ {
		before := &imageio.Gray{W: set.W, H: set.H, Pix: set.Images[i*hw : (i+1)*hw]}
		after, err := clahe.Apply(before, *e.Data.CLAHE)
		if err != nil {
			return nil, err
		}
		cells = append(cells, before.Image(), after.Image())
	}
	grid, err := synthesis.Grid(cells, 2, 2, 3)
	if err != nil {
		return nil, err
	}
	return synthesis.Labeled(grid, "CLAHE ("+e.Data.CLAHE.String()+"): phantom X-rays before and after", []string{"before", "after"}, nil, e.Name, 5)
}

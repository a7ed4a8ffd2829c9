package ch4

import (
	"bytes"
	"image/png"
	"math"
	"testing"

	"github.com/dmseg/dmseg/kernels/diffusion/schedule"
	"github.com/dmseg/dmseg/kernels/experiments"
)

// The bridge path starts at the mask and ends at the CLAHE X-ray: at t = 0 and
// t = T-1 every pixel lies within 4 sd (plus rounding) of (1-m_t) x_0 + m_t y;
// the figure decodes. The CLAHE figure decodes; a run without CLAHE is refused.
func TestBridgePathEnds(t *testing.T) {
	e, err := experiments.Get("ch4-bbdm-lung-cpu")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := schedule.NewBBDM(e.Bridge.MtType, e.Bridge.Timesteps, e.Bridge.MaxVar)
	ts := []int{0, 250, 500, 750, s.T - 1}
	fig, imgs, err := BridgePath(e, 2, ts, 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(fig)); err != nil || len(imgs) != len(ts) {
		t.Fatalf("figure: %v, %d images", err, len(imgs))
	}
	set, err := e.LoadSplit("val")
	if err != nil {
		t.Fatal(err)
	}
	hw := set.H * set.W
	for k, ti := range []int{0, len(ts) - 1} {
		tt := ts[ti]
		m, sd := s.M[tt], math.Sqrt(s.Delta[tt])
		for j := 0; j < hw; j++ {
			x0 := float64(set.Masks[2*hw+j])/127.5 - 1
			y := float64(set.Images[2*hw+j])/127.5 - 1
			want := ((1-m)*x0 + m*y + 1) * 127.5
			if d := math.Abs(float64(imgs[ti][j]) - want); d > 4*sd*127.5+1 {
				t.Fatalf("end %d (t=%d): pixel %d is %d, mean %.1f (sd %.4f)", k, tt, j, imgs[ti][j], want, sd)
			}
		}
	}
	if f, err := CLAHEFigure(e, 3); err != nil {
		t.Fatal(err)
	} else if _, err := png.Decode(bytes.NewReader(f)); err != nil {
		t.Fatal(err)
	}
	plain, _ := experiments.Get("ch3-unet-lung-cpu")
	if _, err := CLAHEFigure(plain, 3); err == nil {
		t.Error("an experiment without CLAHE accepted")
	}
}

package toyplots

import (
	"bytes"
	"image/png"
	"testing"
)

func TestFiguresDecode(t *testing.T) {
	l, err := Lines("betas", "t", "beta", true, Series{"a", []float64{0, 1, 2}, []float64{1e-4, 1e-3, 0.02}})
	if err != nil {
		t.Fatal(err)
	}
	c := Cloud{"pts", []float32{0, 0, 1, 1, -1, 0.5}}
	s, err := Scatter("cloud", 2, c)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Row(2, Panel{"a", []Cloud{c}}, Panel{"b", []Cloud{c}})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := Trajectories("paths", 2, [][]float32{{0, 0, 1, 1}, {0.5, 0.5, 1, 0}}, 10, c, c)
	if err != nil {
		t.Fatal(err)
	}
	single, _ := png.DecodeConfig(bytes.NewReader(s))
	for name, b := range map[string][]byte{"lines": l, "scatter": s, "row": r, "trajectories": tr} {
		cfg, err := png.DecodeConfig(bytes.NewReader(b))
		if err != nil || cfg.Width < 100 || cfg.Height < 100 {
			t.Errorf("%s: not a PNG of a sensible size: %v %+v", name, err, cfg)
		}
		if name == "row" && cfg.Width < 2*cfg.Height-10 {
			t.Errorf("row of two panels is %dx%d (single %dx%d)", cfg.Width, cfg.Height, single.Width, single.Height)
		}
	}
	if _, err := Lines("bad", "", "", false, Series{"x", []float64{1}, []float64{1, 2}}); err == nil {
		t.Error("mismatched series accepted")
	}
}

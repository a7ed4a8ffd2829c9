package ch3

import (
	"bytes"
	"image/png"
	"testing"

	"github.com/dmseg/dmseg/kernels/figures/synthesis"
)

// The steps figure renders DDIM points and a DDPM point as a PNG carrying its stamp.
func TestStepsFigure(t *testing.T) {
	pts := []StepPoint{{Sampler: "ddim", Steps: 5, Dice: 0.8, SecondsPerImage: 0.1, Eval: "a", N: 50},
		{Sampler: "ddim", Steps: 50, Dice: 0.95, SecondsPerImage: 1, Eval: "b", N: 50},
		{Sampler: "ddpm", Steps: 1000, Dice: 0.96, SecondsPerImage: 20, Eval: "c", N: 50}}
	b, err := StepsFigure("Dice vs steps", pts, "stamp-x")
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil || img.Bounds().Dx() < 300 {
		t.Fatalf("png: %v %v", err, img)
	}
	if txt, _ := synthesis.ReadText(b); txt["dmseg-stamp"] != "stamp-x" {
		t.Errorf("stamp %q", txt["dmseg-stamp"])
	}
	if _, err := StepsFigure("x", nil, ""); err == nil {
		t.Error("no points accepted")
	}
}

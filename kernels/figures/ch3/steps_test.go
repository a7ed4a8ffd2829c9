package ch3

import (
	"bytes"
	"image/png"
	"testing"

	"github.com/dmseg/dmseg/kernels/figures/synthesis"
)

// The steps figure renders DDIM points and a DDPM point as a PNG carrying its stamp.
func TestStepsFigure(t *testing.T) {
	pts := []StepPoint{{"ddim", 5, 0.8, 0.1, "a", 50}, {"ddim", 50, 0.95, 1, "b", 50}, {"ddpm", 1000, 0.96, 20, "c", 50}}
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

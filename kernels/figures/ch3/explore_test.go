package ch3

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/dmseg/dmseg/kernels/engine/enginetest"
	"github.com/dmseg/dmseg/kernels/metrics/seg"
	"github.com/dmseg/dmseg/kernels/tables"
)

// The notebook's interactive view, headless, on the committed concatenation
// lung DDPM: the Dice it prints is that of the mask it returns against the
// truth, the same controls give the same bytes, other controls another view,
// and a U-Net baseline is refused.
func TestExplorerView(t *testing.T) {
	root := filepath.Join("..", "..", "..", "artifacts")
	if _, err := os.Stat(filepath.Join(root, "ch3-ddpm-concat-lung-cpu-20261202-68c61e4b")); err != nil {
		t.Skip("committed chapter-3 artifacts not here")
	}
	b := enginetest.XLA(t)
	r, err := Open(root, Model{"DDPM concatenation", "ch3-ddpm-concat-lung-cpu", tables.TaskLung}, false)
	if err != nil {
		t.Fatal(err)
	}
	x, err := NewExplorer(b, r)
	if err != nil {
		t.Fatal(err)
	}
	v, err := x.View(3, 5, 0, 3, 7)
	if err != nil {
		t.Fatal(err)
	}
	hw := r.Set.H * r.Set.W
	truth := make([]uint8, hw)
	for j, m := range r.Set.Masks[3*hw : 4*hw] {
		if m >= 128 {
			truth[j] = 1
		}
	}
	c, _ := seg.CountBinary(v.Mask, truth)
	if d := seg.FromCounts(c).Dice; d != v.Dice || !(d > 0.5) {
		t.Errorf("view Dice %g, recomputed %g (a trained lung model should exceed 0.5 even at DDIM-5)", v.Dice, d)
	}
	again, err := x.View(3, 5, 0, 3, 7)
	if err != nil || !bytes.Equal(again.PNG, v.PNG) {
		t.Errorf("same controls, different view: %v", err)
	}
	other, err := x.View(3, 5, 1, 1, 8)
	if err != nil || bytes.Equal(other.PNG, v.PNG) {
		t.Errorf("other controls, same view: %v", err)
	}
	if _, err := x.View(r.Set.N, 5, 0, 1, 1); err == nil {
		t.Error("image index out of range accepted")
	}
	u, err := Open(root, Model{"U-Net", "ch3-unet-lung-cpu", tables.TaskLung}, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewExplorer(b, u); err == nil {
		t.Error("a unet-seg result accepted")
	}
}

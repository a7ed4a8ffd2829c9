package ch5

import (
	"bytes"
	"image/png"
	"io"
	"path/filepath"
	"testing"

	"github.com/dmseg/dmseg/kernels/engine"
	"github.com/dmseg/dmseg/kernels/engine/enginetest"
	"github.com/dmseg/dmseg/kernels/experiments"
	"github.com/dmseg/dmseg/kernels/runners"
)

// The traversal figure from a trained tiny VQ-GAN and its reconstruction
// record: one row of n+2 cells, a PNG, alpha 0 unchanged; a bad index is an
// error naming the split's size.
func TestTraversalFigureTiny(t *testing.T) {
	b := enginetest.XLA(t)
	info := engine.Info{Name: "xla:cpu"}
	e, err := experiments.Get("ch5-vqgan-tiny")
	if err != nil {
		t.Fatal(err)
	}
	r, err := runners.Get(e.Kind)
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "art")
	res, err := r.Train(e, runners.TrainOptions{Backend: b, Info: info, WorkDir: filepath.Join(t.TempDir(), "run"), ArtifactsRoot: root, Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Evaluate(res.Artifact, runners.EvalOptions{Backend: b, Info: info, Batch: 2, Log: io.Discard}); err != nil {
		t.Fatal(err)
	}
	v, err := OpenVQ(root, "ch5-vqgan-tiny")
	if err != nil {
		t.Fatal(err)
	}
	if s, err := ReconSSIM(v); err != nil || !(s > -1 && s <= 1) {
		t.Errorf("SSIM of the stored reconstructions: %v, %v", s, err)
	}
	pic, trs, err := TraversalFigure([]*VQ{v}, b, 0, 3, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(trs) != 1 || trs[0].N != 4 || trs[0].Changed[0] != 0 {
		t.Fatalf("traversals %+v", trs)
	}
	if _, err := png.Decode(bytes.NewReader(pic)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := TraversalFigure([]*VQ{v}, b, 0, 4, 4); err == nil {
		t.Error("image 4 of a 4-image split accepted")
	}
	if _, _, err := TraversalFigure(nil, b, 0, 1, 4); err == nil {
		t.Error("no VQ-GAN accepted")
	}
}

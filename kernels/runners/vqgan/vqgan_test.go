package vqgan_test

import (
	"io"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmseg/dmseg/kernels/engine"
	"github.com/dmseg/dmseg/kernels/engine/enginetest"
	"github.com/dmseg/dmseg/kernels/experiments"
	"github.com/dmseg/dmseg/kernels/runners"
	"github.com/dmseg/dmseg/kernels/runners/vqgan"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// The tiny VQ-GAN end to end: train (the GAN switches on at step 2) ->
// artifact whose config records the autoencoder -> reconstruction record with
// the mask metrics and codebook stats -> the first reconstructions redrawn
// equal -> a second identical evaluation refused.
func TestTinyVQGANEndToEnd(t *testing.T) {
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
	root := t.TempDir()
	res, err := r.Train(e, runners.TrainOptions{Backend: b, Info: info, WorkDir: filepath.Join(root, "run"),
		ArtifactsRoot: filepath.Join(root, "art"), Log: io.Discard})
	if err != nil || res.Artifact == nil {
		t.Fatalf("train: %v %+v", err, res)
	}
	l, err := vqgan.Load(res.Artifact)
	if err != nil || l.Config.Autoencoder == nil || l.Config.Autoencoder.Name != "vqgan-f4-tiny" || l.Config.ModelParams == 0 {
		t.Fatalf("load: %v %+v", err, l)
	}
	if !(res.Train.LastLoss > 0) || math.IsInf(res.Train.LastLoss, 0) {
		t.Errorf("last loss %g", res.Train.LastLoss)
	}
	o := runners.EvalOptions{Backend: b, Info: info, Batch: 2, Log: io.Discard}
	ev, err := r.Evaluate(res.Artifact, o)
	if err != nil {
		t.Fatal(err)
	}
	var p vqgan.Protocol
	var rs vqgan.Results
	if err := ev.Decode(vqgan.EvalName, &p, &rs); err != nil {
		t.Fatal(err)
	}
	if p.N != 4 || p.Target != "mask" || rs.N != 4 || rs.Seg == nil || rs.Seg.Pooled.N != 4 || rs.CodebookSize != 16 ||
		rs.UsedCodes < 1 || rs.UsedCodes > 16 || !(rs.Perplexity >= 1) || rs.Perplexity > float64(rs.UsedCodes)+1e-9 || !(rs.PSNR > 0) {
		t.Fatalf("protocol %+v results %+v", p, rs)
	}
	rep, err := r.Resample(res.Artifact, ev, 2, o, 0)
	if err != nil || rep.Compared != 2 || rep.Differing != 0 {
		t.Fatalf("resample: %v %+v", err, rep)
	}
	if _, err := r.Evaluate(res.Artifact, o); err == nil || !strings.Contains(err.Error(), ev.Record.ID) {
		t.Errorf("second identical evaluation: %v", err)
	}
	checkTraversal(t, l, b, e)
}

// The traversal's endpoints are the plain reconstructions of its endpoints
// (alpha 0 and 1 are Encode -> Quantize -> Decode of a and b), no code has
// changed at alpha 0, and a line from an image to itself never moves.
func checkTraversal(t *testing.T, l *vqgan.Loaded, b backends.Backend, e experiments.Experiment) {
	set, err := e.LoadSplit("val")
	if err != nil {
		t.Fatal(err)
	}
	one := func(i int) *tensors.Tensor { return set.Gather([]int{i}, false).MasksTensor() }
	rec, done, err := l.Reconstructor(b)
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	ra, _, err := rec(one(0))
	if err != nil {
		t.Fatal(err)
	}
	rb, _, err := rec(one(1))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := l.Traverse(b, one(0), one(1), 5)
	if err != nil {
		t.Fatal(err)
	}
	hw := tr.H * tr.W
	if tr.N != 5 || len(tr.Images) != 5*hw || tr.Alphas[0] != 0 || tr.Alphas[4] != 1 || tr.Changed[0] != 0 {
		t.Fatalf("traversal %+v", tr)
	}
	for k := 0; k < hw; k++ {
		if d := math.Abs(float64(tr.Images[k] - ra[k])); d > 1e-5 {
			t.Fatalf("alpha 0 pixel %d: %g vs reconstruction %g", k, tr.Images[k], ra[k])
		}
		if d := math.Abs(float64(tr.Images[4*hw+k] - rb[k])); d > 1e-5 {
			t.Fatalf("alpha 1 pixel %d: %g vs reconstruction %g", k, tr.Images[4*hw+k], rb[k])
		}
	}
	same, err := l.Traverse(b, one(0), one(0), 3)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 3; i++ {
		if same.Changed[i] != 0 {
			t.Errorf("a line from an image to itself changed %g of the codes at alpha %g", same.Changed[i], same.Alphas[i])
		}
	}
	if _, err := l.Traverse(b, one(0), one(1), 1); err == nil {
		t.Error("n = 1 accepted")
	}
}

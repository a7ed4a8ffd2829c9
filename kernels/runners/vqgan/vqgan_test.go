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
}

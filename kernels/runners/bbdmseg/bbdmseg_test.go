package bbdmseg_test

import (
	"io"
	"path/filepath"
	"slices"
	"testing"

	"github.com/dmseg/dmseg/kernels/engine"
	"github.com/dmseg/dmseg/kernels/engine/enginetest"
	"github.com/dmseg/dmseg/kernels/experiments"
	"github.com/dmseg/dmseg/kernels/runners"
	_ "github.com/dmseg/dmseg/kernels/runners/bbdmseg"
	"github.com/dmseg/dmseg/kernels/runners/segeval"
)

// The tiny bridge experiment end to end: CLAHE data recorded in the
// artifact's fingerprint, train -> artifact -> segmentation record with the
// bridge sampler's settings -> re-sampling batch 0 gives the same masks.
func TestTinyBridgeEndToEnd(t *testing.T) {
	b := enginetest.XLA(t)
	info := engine.Info{Name: "xla:cpu"}
	e, err := experiments.Get("ch4-bbdm-tiny")
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
		t.Fatalf("train: %v", err)
	}
	plain := e
	plain.Data.CLAHE = nil
	withCLAHE, _ := e.LoadSplit("train")
	without, _ := plain.LoadSplit("train")
	if res.Artifact.Manifest.Dataset.Fingerprint != withCLAHE.Fingerprint() || withCLAHE.Fingerprint() == without.Fingerprint() {
		t.Fatal("the dataset fingerprint does not cover CLAHE")
	}
	o := runners.EvalOptions{Backend: b, Info: info, Batch: 4, Log: io.Discard}
	ev, err := r.Evaluate(res.Artifact, o)
	if err != nil {
		t.Fatal(err)
	}
	p, rs, err := segeval.Open(ev)
	if err != nil {
		t.Fatal(err)
	}
	m := p.Method.(map[string]any)
	if m["sampler"] != "bbdm" || m["sample_step"] != 5.0 || m["eta"] != 1.0 || p.N != 8 || rs.Pooled.N != 8 {
		t.Fatalf("protocol %+v", p)
	}
	rep, err := r.Resample(res.Artifact, ev, 2, o, 0)
	if err != nil || rep.Compared != 2 || rep.Differing != 0 {
		t.Fatalf("resample: %v %+v", err, rep)
	}
	// Overrides: 3 skip steps and eta 0 are recorded; with eta 0 the bridge
	// from x_T = y has no noise, so two sampling seeds give the same masks.
	zero := 0.0
	var masks [][]uint8
	for _, seed := range []int64{5, 6} {
		oo := o
		oo.Seed, oo.DDIM = seed, runners.DDIMOverride{Steps: 3, Eta: &zero}
		ev, err := r.Evaluate(res.Artifact, oo)
		if err != nil {
			t.Fatal(err)
		}
		p, _, err := segeval.Open(ev)
		if err != nil {
			t.Fatal(err)
		}
		m := p.Method.(map[string]any)
		if m["sample_step"] != 3.0 || m["eta"] != 0.0 {
			t.Fatalf("override not recorded: %+v", m)
		}
		got, err := segeval.StoredMasks(ev, 16)
		if err != nil {
			t.Fatal(err)
		}
		masks = append(masks, got)
	}
	if len(masks[0]) == 0 || !slices.Equal(masks[0], masks[1]) {
		t.Fatal("eta 0: two sampling seeds gave different masks")
	}
	for _, bad := range []runners.DDIMOverride{{Spacing: "quad"}, {Steps: 51}, {Steps: 2}} {
		oo := o
		oo.DDIM = bad
		if _, err := r.Evaluate(res.Artifact, oo); err == nil {
			t.Errorf("override %+v accepted", bad)
		}
	}
}

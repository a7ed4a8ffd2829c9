package ch4

import (
	"io"
	"math"
	"path/filepath"
	"testing"

	"github.com/dmseg/dmseg/kernels/engine"
	"github.com/dmseg/dmseg/kernels/engine/enginetest"
	"github.com/dmseg/dmseg/kernels/experiments"
	"github.com/dmseg/dmseg/kernels/runners"
)

// Pairwise disagreement by hand: masks a, b, c of 4 pixels differ in 1
// (a,b), 2 (a,c) and 1 (b,c) pixels: mean (1+2+1)/3/4 = 1/3.
func TestMeanPairDisagreement(t *testing.T) {
	a, b, c := []uint8{0, 0, 1, 1}, []uint8{0, 1, 1, 1}, []uint8{1, 1, 1, 1}
	if got := meanPairDisagreement([][]uint8{a, b, c}); math.Abs(got-1.0/3) > 1e-12 {
		t.Fatalf("got %v, want 1/3", got)
	}
	if got := meanPairDisagreement([][]uint8{a, a}); got != 0 {
		t.Fatalf("identical masks: %v", got)
	}
	if !math.IsNaN(meanPairDisagreement([][]uint8{a})) {
		t.Fatal("one mask must give NaN")
	}
}

// The studies end to end on the tiny bridge: records with other step counts,
// etas and seeds are grouped as the tables need them. With eta 0 the bridge
// from x_T = y is deterministic, so its seeds' masks agree on every pixel.
func TestStudiesFromRecords(t *testing.T) {
	b := enginetest.XLA(t)
	info := engine.Info{Name: "xla:cpu"}
	e, err := experiments.Get("ch4-bbdm-tiny")
	if err != nil {
		t.Fatal(err)
	}
	r, _ := runners.Get(e.Kind)
	root := t.TempDir()
	res, err := r.Train(e, runners.TrainOptions{Backend: b, Info: info, WorkDir: filepath.Join(root, "run"),
		ArtifactsRoot: filepath.Join(root, "art"), Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	a := res.Artifact
	const n = 4
	zero, one := 0.0, 1.0
	eval := func(steps int, eta *float64, seed int64) {
		t.Helper()
		o := runners.EvalOptions{Backend: b, Info: info, N: n, Seed: seed, Log: io.Discard, DDIM: runners.DDIMOverride{Steps: steps, Eta: eta}}
		if _, err := r.Evaluate(a, o); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []int{3, 5, 10} {
		eval(s, nil, 0)
	}
	for _, seed := range []int64{7, 8, 9} {
		eval(0, &zero, seed)
		eval(0, &one, seed)
	}
	pts, diffs, err := StepPoints(a, n)
	if err != nil || len(diffs) > 0 {
		t.Fatal(err, diffs)
	}
	if len(pts) != 3 || pts[0].Steps != 3 || pts[2].Steps != 10 || pts[1].Eta != 1 {
		t.Fatalf("steps points %+v", pts)
	}
	rows, _, err := EtaStudy(a, n)
	if err != nil {
		t.Fatal(err)
	}
	// eta 1 has seeds 7, 8, 9 and the experiment's seed from the steps study's 5-step record.
	if len(rows) != 2 || rows[0].Eta != 0 || len(rows[0].Dice) != 3 || len(rows[1].Dice) != 4 {
		t.Fatalf("eta rows %+v", rows)
	}
	if rows[0].DiffPixels != 0 {
		t.Errorf("eta 0: seeds disagree on %.3f of the pixels", rows[0].DiffPixels)
	}
	tab := EtaTable(a, rows)
	if len(tab.Rows) != 2 || tab.Rows[0].Metrics["seeds"] != 3 || tab.Rows[0].Metrics["pixels_differ_pct"] != 0 {
		t.Fatalf("eta table %+v", tab.Rows)
	}
	if st := StepsTable(a, pts); len(st.Rows) != 3 || st.Rows[0].Label != "BBDM-3" {
		t.Fatalf("steps table %+v", st.Rows)
	}
}

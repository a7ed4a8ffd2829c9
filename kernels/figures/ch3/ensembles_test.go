package ch3

import (
	"bytes"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmseg/dmseg/kernels/metrics/seg"

	"github.com/dmseg/dmseg/kernels/figures/synthesis"
	"github.com/dmseg/dmseg/kernels/runners/segeval"
)

// With the committed ensemble records: every row comes from its record, the
// k = K row is re-derived from the stored masks without a difference, the
// k = 1 row equals the single-sample table record (the first sample of every
// batch is drawn with the same seeds), and the figures render.
func TestEnsembleTableWithCommittedRecords(t *testing.T) {
	root := filepath.Join("..", "..", "..", "artifacts")
	if _, err := os.Stat(filepath.Join(root, "ch3-ddpm-concat-lung-cpu-20261202-68c61e4b")); err != nil {
		t.Skip("committed chapter-3 artifacts not here")
	}
	tab, es, diffs, err := EnsembleTable(root)
	if err != nil || len(diffs) > 0 {
		t.Fatal(err, diffs)
	}
	if len(es) == 0 {
		t.Skip("no ensemble record committed yet")
	}
	if err := tab.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		ks := []int{}
		for _, r := range e.Rows {
			ks = append(ks, r.K)
		}
		if len(ks) != 4 || ks[0] != 1 || ks[3] != 9 || e.Protocol.Samples != 9 {
			t.Errorf("%s: ensemble ks %v of %d samples, want 1 3 5 9", e.Model.Experiment, ks, e.Protocol.Samples)
		}
		if e.Single == nil {
			t.Fatalf("%s: no single-sample record", e.Model.Experiment)
		}
		if e.Single.Protocol.Seed == e.Protocol.Seed && e.Single.Protocol.Batch == e.Protocol.Batch && e.Single.Protocol.N == e.Protocol.N {
			if got, want := e.Rows[0].Summary.Pooled, e.Single.Summary.Pooled; got != want {
				t.Errorf("%s: k=1 of the ensemble %+v differs from the single-sample record %+v", e.Model.Experiment, got, want)
			}
		}
		// The stored probability thresholded is the stored mask, and its
		// disagreement is the record's mean per-pixel std.
		// round(255 q) with q = votes/K recovers the votes exactly, so the mean
		// std matches the record to float precision.
		sum, K := 0.0, float64(e.Protocol.Samples)
		for _, v := range e.Prob {
			q := math.Round(float64(v)/255*K) / K
			sum += Disagreement(q) / 2
		}
		if d := sum/float64(len(e.Prob)) - e.MeanSampleStd; math.Abs(d) > 1e-9 {
			t.Errorf("%s: mean std from %s %.5f, record %.5f", e.Model.Experiment, segeval.ProbFile, sum/float64(len(e.Prob)), e.MeanSampleStd)
		}
		f, err := UncertaintyFigure(e, 4)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := png.Decode(bytes.NewReader(f)); err != nil {
			t.Fatal(err)
		}
	}
	rows := 0
	for _, r := range tab.Rows {
		if strings.Contains(r.Label, ", k=") {
			rows++
		}
	}
	if rows != 4*len(es) {
		t.Errorf("%d ensemble rows for %d records", rows, len(es))
	}
	f, err := EnsembleFigure(es)
	if err != nil {
		t.Fatal(err)
	}
	if txt, _ := synthesis.ReadText(f); !strings.Contains(txt["dmseg-stamp"], es[0].Eval.Record.ID) {
		t.Errorf("stamp %q", txt["dmseg-stamp"])
	}
}

// Disagreement is 0 where the samples agree and 1 where half say foreground,
// twice the standard deviation of the binarised samples.
func TestDisagreement(t *testing.T) {
	for _, c := range []struct{ p, want float64 }{{0, 0}, {1, 0}, {0.5, 1}, {0.2, 0.8}} {
		if got := Disagreement(c.p); got < c.want-1e-12 || got > c.want+1e-12 {
			t.Errorf("Disagreement(%g) = %g, want %g", c.p, got, c.want)
		}
	}
	// A vote of 3 samples out of 9 (p = 1/3): std of {1,1,1,0,...} is sqrt(2)/3.
	if got, want := Disagreement(1.0/3)/2, 0.4714045207910317; got < want-1e-12 || got > want+1e-12 {
		t.Errorf("std %g, want %g", got, want)
	}
}

func TestEnsembleFigureNeedsRecords(t *testing.T) {
	if _, err := EnsembleFigure(nil); err == nil {
		t.Error("no records accepted")
	}
}

// ImageCases on hand-made counts: an empty truth predicted empty, an empty
// truth with one false positive, a lesion hit once (with a false positive)
// and a lesion missed.
func TestImageCases(t *testing.T) {
	cs := []seg.Counts{{TN: 4}, {FP: 1, TN: 3}, {TP: 1, FN: 1, FP: 1, TN: 1}, {FN: 2, TN: 2}}
	want := Cases{EmptyTruth: 2, PredictedEmpty: 1, WithTruth: 2, Hit: 1, FP: 2}
	if got := ImageCases(cs); got != want {
		t.Errorf("ImageCases = %+v, want %+v", got, want)
	}
	if got := ImageCases(cs[:2]); got != (Cases{EmptyTruth: 2, PredictedEmpty: 1, FP: 1}) {
		t.Errorf("first 2 images: %+v", got)
	}
}

package seg

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmseg/dmseg/kernels/imageio"
)

func near(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-12 {
		t.Errorf("%s = %.15g, want %.15g", what, got, want)
	}
}

// A confusion matrix worked by hand: TP 3, FP 1, FN 2, TN 4.
func TestFromCountsByHand(t *testing.T) {
	m := FromCounts(Counts{TP: 3, FP: 1, FN: 2, TN: 4})
	near(t, "dice", m.Dice, 6.0/9)
	near(t, "jaccard", m.Jaccard, 3.0/6)
	near(t, "accuracy", m.Accuracy, 7.0/10)
	near(t, "sensitivity", m.Sensitivity, 3.0/5)
	near(t, "specificity", m.Specificity, 4.0/5)
	near(t, "balanced", m.BalancedAccuracy, 0.7)
	near(t, "precision", m.Precision, 3.0/4)
	near(t, "mcc", m.MCC, 10/math.Sqrt(600))
}

// MCC is the Pearson correlation of the predicted and true 0/1 pixels; Dice and
// Jaccard of one matrix satisfy J = D/(2-D).
func TestMCCIsPearsonAndJaccardDice(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 50; trial++ {
		n := 20 + r.IntN(200)
		pred, truth := make([]float32, n), make([]float32, n)
		for i := range pred {
			truth[i] = float32(r.IntN(2))
			if r.Float64() < 0.7 {
				pred[i] = truth[i]
			} else {
				pred[i] = float32(r.IntN(2))
			}
		}
		c, err := Count(pred, truth, 0.5)
		if err != nil {
			t.Fatal(err)
		}
		if c.Total() != int64(n) {
			t.Fatalf("counted %d pixels of %d", c.Total(), n)
		}
		var mp, mt float64
		for i := range pred {
			mp += float64(pred[i])
			mt += float64(truth[i])
		}
		mp, mt = mp/float64(n), mt/float64(n)
		var sxy, sxx, syy float64
		for i := range pred {
			dx, dy := float64(pred[i])-mp, float64(truth[i])-mt
			sxy += dx * dy
			sxx += dx * dx
			syy += dy * dy
		}
		m := FromCounts(c)
		if sxx > 0 && syy > 0 {
			if math.Abs(m.MCC-sxy/math.Sqrt(sxx*syy)) > 1e-9 {
				t.Fatalf("trial %d: MCC %g, Pearson %g", trial, m.MCC, sxy/math.Sqrt(sxx*syy))
			}
		}
		if math.Abs(m.Jaccard-m.Dice/(2-m.Dice)) > 1e-12 {
			t.Fatalf("trial %d: Jaccard %g != D/(2-D) %g", trial, m.Jaccard, m.Dice/(2-m.Dice))
		}
	}
}

// Every 0/0 case of the package comment.
func TestEmptyCases(t *testing.T) {
	// empty truth, empty prediction: perfect.
	m := FromCounts(Counts{TN: 16})
	for i, v := range m.Values() {
		if v != 1 {
			t.Errorf("empty/empty %s = %g, want 1", Names[i], v)
		}
	}
	// empty truth, two false positives.
	m = FromCounts(Counts{FP: 2, TN: 14})
	near(t, "FP-only dice", m.Dice, 0)
	near(t, "FP-only jaccard", m.Jaccard, 0)
	near(t, "FP-only sensitivity", m.Sensitivity, 1)
	near(t, "FP-only specificity", m.Specificity, 14.0/16)
	near(t, "FP-only precision", m.Precision, 0)
	near(t, "FP-only mcc", m.MCC, 0)
	near(t, "FP-only balanced", m.BalancedAccuracy, (1+14.0/16)/2)
	// truth present, empty prediction.
	m = FromCounts(Counts{FN: 3, TN: 13})
	near(t, "FN-only dice", m.Dice, 0)
	near(t, "FN-only sensitivity", m.Sensitivity, 0)
	near(t, "FN-only precision", m.Precision, 1)
	near(t, "FN-only mcc", m.MCC, 0)
	// all positive, predicted all positive: no negatives at all.
	m = FromCounts(Counts{TP: 16})
	near(t, "full specificity", m.Specificity, 1)
	near(t, "full mcc", m.MCC, 1)
	// all positive truth, half predicted.
	m = FromCounts(Counts{TP: 8, FN: 8})
	near(t, "no-negatives specificity", m.Specificity, 1)
	near(t, "no-negatives mcc", m.MCC, 0)
}

// Pooled and per-image aggregation differ, by hand: image A is perfect on a
// large lung, image B misses a small one.
func TestAggregation(t *testing.T) {
	a := Counts{TP: 10, TN: 6}
	b := Counts{FN: 2, TN: 14}
	p := Pooled([]Counts{a, b})
	near(t, "pooled dice", p.Dice, 20.0/22)
	near(t, "pooled accuracy", p.Accuracy, 30.0/32)
	if p.N != 2 {
		t.Errorf("pooled n = %d", p.N)
	}
	q := PerImageMean([]Counts{a, b})
	near(t, "per-image dice", q.Dice, 0.5)
	near(t, "per-image precision", q.Precision, 1)
	near(t, "per-image sensitivity", q.Sensitivity, 0.5)
	near(t, "per-image accuracy", q.Accuracy, (1+14.0/16)/2)
	if q.N != 2 {
		t.Errorf("per-image n = %d", q.N)
	}
	if !math.IsNaN(PerImageMean(nil).Dice) {
		t.Error("mean over no images should be NaN")
	}
}

func TestCountErrorsAndThreshold(t *testing.T) {
	if _, err := Count([]float32{1}, []float32{1, 0}, 0.5); err == nil {
		t.Error("length mismatch accepted")
	}
	c, _ := Count([]float32{0.49, 0.5, 0.7, 0.1}, []float32{1, 1, 0, 0}, 0.5)
	if c != (Counts{TP: 1, FP: 1, FN: 1, TN: 1}) {
		t.Errorf("counts %+v", c)
	}
	d, _ := CountBinary([]uint8{0, 255, 1, 0}, []uint8{255, 255, 0, 0})
	if d != c {
		t.Errorf("binary counts %+v, want %+v", d, c)
	}
}

func writeMask(t *testing.T, path string, w, h int, pix []uint8) {
	t.Helper()
	if err := imageio.WriteGray(path, &imageio.Gray{W: w, H: h, Pix: pix}); err != nil {
		t.Fatal(err)
	}
}

// CompareDirs on folders the test writes: counts by hand, and each kind of bad
// input is an error naming the file.
func TestCompareDirs(t *testing.T) {
	pred, truth := t.TempDir(), t.TempDir()
	writeMask(t, filepath.Join(pred, "a.png"), 2, 2, []uint8{255, 255, 0, 0})
	writeMask(t, filepath.Join(truth, "a.png"), 2, 2, []uint8{255, 0, 255, 0})
	writeMask(t, filepath.Join(pred, "b.png"), 2, 2, []uint8{1, 1, 1, 1})
	writeMask(t, filepath.Join(truth, "b.png"), 2, 2, []uint8{255, 255, 255, 255})
	pc, err := CompareDirs(pred, truth)
	if err != nil {
		t.Fatal(err)
	}
	if len(pc.Names) != 2 || pc.Names[0] != "a.png" || pc.Counts[0] != (Counts{TP: 1, FP: 1, FN: 1, TN: 1}) || pc.Counts[1] != (Counts{TP: 4}) {
		t.Fatalf("got %+v", pc)
	}
	// missing partner
	writeMask(t, filepath.Join(pred, "c.png"), 2, 2, []uint8{0, 0, 0, 0})
	if _, err := CompareDirs(pred, truth); err == nil || !strings.Contains(err.Error(), "c.png") {
		t.Errorf("missing partner: %v", err)
	}
	// size mismatch
	writeMask(t, filepath.Join(truth, "c.png"), 3, 1, []uint8{0, 0, 0})
	if _, err := CompareDirs(pred, truth); err == nil || !strings.Contains(err.Error(), "c.png") || !strings.Contains(err.Error(), "3x1") {
		t.Errorf("size mismatch: %v", err)
	}
	// non-binary values
	writeMask(t, filepath.Join(truth, "c.png"), 2, 2, []uint8{0, 128, 0, 0})
	if _, err := CompareDirs(pred, truth); err == nil || !strings.Contains(err.Error(), "c.png") || !strings.Contains(err.Error(), "128") {
		t.Errorf("non-binary: %v", err)
	}
}

package tables

import (
	"math"
	"strings"
	"testing"
)

func findingsFor(fs []string, row string) []string {
	var out []string
	for _, f := range fs {
		if strings.HasPrefix(f, row+":") {
			out = append(out, f)
		}
	}
	return out
}

func TestAuditFindsTable1Concatenation(t *testing.T) {
	rows, _ := Published("table1")
	fs := Audit(rows)
	concat := findingsFor(fs, `"DDPM concatenation" (lung, published)`)
	if len(concat) != 1 {
		t.Fatalf("want one finding for the concatenation row, got %q (all: %q)", concat, fs)
	}
	f := concat[0]
	for _, want := range []string{"balanced_accuracy 0.9793", "sensitivity 0.9502", "specificity 0.9878", "0.96900", VerdictInconsistent, "equals this row's accuracy"} {
		if !strings.Contains(f, want) {
			t.Errorf("finding lacks %q: %s", want, f)
		}
	}
	// The addition row's 0.9672 is (0.9455+0.9888)/2 = 0.96715 within rounding: no finding.
	if add := findingsFor(fs, `"DDPM addition" (lung, published)`); len(add) != 0 {
		t.Errorf("addition row flagged: %q", add)
	}
}

func TestAuditFindsOtherPublishedInconsistencies(t *testing.T) {
	var all []Row
	for _, id := range PublishedIDs() {
		rows, _ := Published(id)
		all = append(all, rows...)
	}
	fs := Audit(all)
	want := []string{
		`"LDM-f4" (lung, published): balanced_accuracy 0.9424`,
		`"LDM-f8" (lung, published): balanced_accuracy 0.9301`,
		`"LDM-f4" (infection, published): balanced_accuracy 0.6383`,
		`"LBBDM-f4" (infection, published): balanced_accuracy 0.7419`,
		`"LBBDM-f4" (lung, published): jaccard 0.9115 exceeds dice 0.8921`,
		`"LDM-f4" (infection, published): accuracy 0.7357 is not between`,
		`rows "LDM-f4" (lung, published) and "LBBDM-f4" (lung, published) print identical values in 2 columns (jaccard 0.9115, mcc 0.9400)`,
	}
	for _, w := range want {
		found := false
		for _, f := range fs {
			found = found || strings.HasPrefix(f, w)
		}
		if !found {
			t.Errorf("Audit misses %s", w)
		}
	}
	inconsistent := 0
	for _, f := range fs {
		if strings.Contains(f, VerdictInconsistent) {
			inconsistent++
		}
	}
	if inconsistent != 6 {
		t.Errorf("%d findings inconsistent with the definitions, want the 6 above:\n%s", inconsistent, strings.Join(fs, "\n"))
	}
}

// counts turns a confusion matrix into the eight metrics.
func counts(tp, fn, tn, fp float64) map[string]float64 {
	s, sp := tp/(tp+fn), tn/(tn+fp)
	return map[string]float64{
		Dice: 2 * tp / (2*tp + fn + fp), Jaccard: tp / (tp + fn + fp), Accuracy: (tp + tn) / (tp + fn + tn + fp),
		Sensitivity: s, Specificity: sp, BalancedAccuracy: (s + sp) / 2, Precision: tp / (tp + fp),
		MCC: (tp*tn - fp*fn) / math.Sqrt((tp+fp)*(tp+fn)*(tn+fp)*(tn+fn)),
	}
}

func round4(m map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		out[k] = math.Round(v*1e4) / 1e4
	}
	return out
}

func TestAuditAcceptsPooledAndSeparatesAveraged(t *testing.T) {
	// Rows computed from one confusion matrix and printed with 4 decimals: nothing to report.
	var pooled []Row
	for i, c := range [][4]float64{{1200, 80, 2700, 116}, {300, 250, 3400, 146}, {50, 3, 4000, 43}, {2000, 900, 1100, 96}} {
		pooled = append(pooled, Row{Label: string(rune('a' + i)), Source: SourceDMSeg, Metrics: round4(counts(c[0], c[1], c[2], c[3]))})
	}
	if fs := Audit(pooled); len(fs) != 0 {
		t.Errorf("pooled rows flagged:\n%s", strings.Join(fs, "\n"))
	}
	// The mean over two images of very different quality: consistent with the definitions, not
	// with pooling.
	a, b := counts(900, 20, 3100, 76), counts(30, 60, 4000, 6)
	mean := map[string]float64{}
	for k := range a {
		mean[k] = (a[k] + b[k]) / 2
	}
	fs := Audit([]Row{{Label: "averaged", Source: SourceDMSeg, Metrics: round4(mean)}})
	if len(fs) == 0 {
		t.Fatal("averaged row passes every pooled check")
	}
	for _, f := range fs {
		if !strings.HasSuffix(f, VerdictNotPooled) {
			t.Errorf("averaged row: %s", f)
		}
	}
	// A broken balanced accuracy on a pooled row is found, and a row without the needed metrics
	// is skipped.
	bad := round4(counts(1200, 80, 2700, 116))
	bad[BalancedAccuracy] += 3e-4
	fs = Audit([]Row{{Label: "bad", Source: SourceDMSeg, Metrics: bad}, {Label: "dice only", Source: SourceDMSeg, Metrics: map[string]float64{Dice: 0.5}}})
	if len(fs) != 1 || !strings.HasPrefix(fs[0], `"bad": balanced_accuracy`) || !strings.Contains(fs[0], VerdictInconsistent) {
		t.Errorf("broken balanced accuracy: %q", fs)
	}
	// The rounding allowance for balanced accuracy is 1e-4, on both sides.
	for ba, flagged := range map[float64]bool{0.8501: false, 0.8499: false, 0.8502: true, 0.8498: true} {
		fs := Audit([]Row{{Label: "edge", Source: SourceDMSeg, Metrics: map[string]float64{Sensitivity: 0.9, Specificity: 0.8, BalancedAccuracy: ba}}})
		if (len(fs) > 0) != flagged {
			t.Errorf("balanced accuracy %v for sensitivity 0.9, specificity 0.8: findings %q", ba, fs)
		}
	}
	// Out-of-range values.
	fs = Audit([]Row{{Label: "range", Source: SourceDMSeg, Metrics: map[string]float64{Dice: 1.2, MCC: -0.5}}})
	if len(fs) != 1 || !strings.Contains(fs[0], "dice 1.2 outside [0, 1]") {
		t.Errorf("range: %q", fs)
	}
}

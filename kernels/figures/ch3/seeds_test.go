package ch3

import (
	"fmt"
	"github.com/dmseg/dmseg/kernels/artifacts"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMeanStd(t *testing.T) {
	m, s := MeanStd([]float64{0.9, 0.95, 1.0})
	if math.Abs(m-0.95) > 1e-15 || math.Abs(s-0.05) > 1e-15 {
		t.Errorf("mean %g std %g, want 0.95 and 0.05", m, s)
	}
	if m, s := MeanStd([]float64{2}); m != 2 || s != 0 {
		t.Errorf("one value: %g %g", m, s)
	}
}

// With the committed seed-1 lung DDPMs only: one row per trained seed with
// its record's Dice, no mean rows (fewer than two seeds), the missing seeds
// named, and the ranking compared on the one pair.
func TestSeedTableWithCommittedArtifacts(t *testing.T) {
	root := filepath.Join("..", "..", "..", "artifacts")
	if _, err := os.Stat(filepath.Join(root, "ch3-ddpm-concat-lung-cpu-20261202-68c61e4b")); err != nil {
		t.Skip("committed chapter-3 artifacts not here")
	}
	tab, res, diffs, err := SeedTable(root)
	if err != nil || len(diffs) > 0 {
		t.Fatal(err, diffs)
	}
	if err := tab.Validate(); err != nil {
		t.Fatal(err)
	}
	trained := 0
	for _, r := range tab.Rows {
		if strings.Contains(r.Label, "mean of") {
			if r.N < 2 {
				t.Errorf("mean row over %d seeds: %+v", r.N, r)
			}
			continue
		}
		trained++
		found := false
		for _, x := range res {
			if x.Artifact.Manifest.ID == r.Artifact && x.Summary.Pooled.Dice == r.Metrics["dice"] {
				found = true
			}
		}
		if !found {
			t.Errorf("row %q: Dice %g does not come from its record", r.Label, r.Metrics["dice"])
		}
	}
	if trained != len(res) || trained < 2 {
		t.Fatalf("%d seed rows for %d results", trained, len(res))
	}
	notes := strings.Join(tab.Notes, " ")
	if trained < 6 && !strings.Contains(notes, "Not trained yet") {
		t.Errorf("missing seeds not named: %s", notes)
	}
	if !strings.Contains(notes, "seeds compared pairwise") {
		t.Errorf("no ranking note: %s", notes)
	}
	// With two or more seeds of each conditioning, the note gives the difference of
	// the means in standard errors, recomputed here from the seed rows.
	dice := map[string][]float64{}
	for _, r := range tab.Rows {
		if !strings.Contains(r.Label, "mean of") {
			mode := "add"
			if strings.Contains(r.Label, "concatenation") {
				mode = "concat"
			}
			dice[mode] = append(dice[mode], r.Metrics["dice"])
		}
	}
	if len(dice["add"]) >= 2 && len(dice["concat"]) >= 2 {
		ma, sa := MeanStd(dice["add"])
		mc, sc := MeanStd(dice["concat"])
		se := math.Sqrt(sa*sa/float64(len(dice["add"])) + sc*sc/float64(len(dice["concat"])))
		want := fmt.Sprintf("%+.4f Dice, %.1f standard errors", mc-ma, (mc-ma)/se)
		if !strings.Contains(notes, want) {
			t.Errorf("no note %q in: %s", want, notes)
		}
	}
}

// The table record of an artifact with study records beside it (other step
// counts on a 50-image subset, DDPM-1000, made later) is the one with the
// experiment's own protocol: DDIM-50 on the whole validation split.
func TestSegEvalPicksTheTableRecord(t *testing.T) {
	root := filepath.Join("..", "..", "..", "artifacts")
	dir := filepath.Join(root, "ch3-ddpm-concat-lung-cpu-20261202-68c61e4b")
	evs, _ := filepath.Glob(filepath.Join(dir, "evals", "seg-*"))
	if len(evs) < 2 {
		t.Skip("the committed steps-study records are not here")
	}
	a, err := artifacts.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := SegEval(a, false)
	if err != nil || ev.Record.ID != "seg-16ccd2a678" {
		t.Fatalf("table record %v (%v), want seg-16ccd2a678 among %d records", ev, err, len(evs))
	}
}

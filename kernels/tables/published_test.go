package tables

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestPublishedRows(t *testing.T) {
	// Dice values as listed in the project notes (an independent transcription of Tables 1-5).
	wantDice := map[string]float64{
		"table1/DDPM addition/lung": 0.9529, "table2/DDPM addition/infection": 0.6755,
		"table1/DDPM concatenation/lung": 0.9541, "table2/DDPM concatenation/infection": 0.4708,
		"table3/BBDM/lung": 0.8411, "table3/BBDM/infection": 0.5152,
		"table4/LDM-f4/lung": 0.9533, "table4/LDM-f4/infection": 0.3299,
		"table4/LDM-f8/lung": 0.8992, "table4/LDM-f8/infection": 0.4696,
		"table5/LBBDM-f4/lung": 0.8921, "table5/LBBDM-f4/infection": 0.5775,
		"table5/LBBDM-f8/lung": 0.8565, "table5/LBBDM-f8/infection": 0.5768,
	}
	seen := 0
	for _, id := range PublishedIDs() {
		rows, err := Published(id)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) == 0 {
			t.Errorf("%s: no rows", id)
		}
		for _, r := range rows {
			if r.Source != SourcePublished || r.Dataset != DatasetCOVIDQUEx || (r.Task != TaskLung && r.Task != TaskInfection) {
				t.Errorf("%s %q: source %q dataset %q task %q", id, r.Label, r.Source, r.Dataset, r.Task)
			}
			if len(r.Metrics) != 8 {
				t.Errorf("%s %q (%s): %d metrics, want 8", id, r.Label, r.Task, len(r.Metrics))
			}
			for _, k := range SegMetrics {
				v, ok := r.Metrics[k]
				if !ok || !(v >= -1 && v <= 1) || v == 0 {
					t.Errorf("%s %q (%s) %s = %v", id, r.Label, r.Task, k, v)
				}
				if mustParse(t, FormatValue(v, 4)) != v {
					t.Errorf("%s %q %s = %v has more than 4 decimals", id, r.Label, k, v)
				}
			}
			key := id + "/" + r.Label + "/" + r.Task
			want, ok := wantDice[key]
			if !ok {
				t.Errorf("unexpected row %s", key)
			} else if r.Metrics[Dice] != want {
				t.Errorf("%s dice %v, notes say %v", key, r.Metrics[Dice], want)
			}
			seen++
		}
		caption, err := PublishedCaption(id)
		if err != nil || !strings.Contains(caption, "COVID-QU") {
			t.Errorf("%s caption %q, %v", id, caption, err)
		}
	}
	if seen != len(wantDice) {
		t.Errorf("saw %d published rows, want %d", seen, len(wantDice))
	}
	if _, err := Published("table6"); err == nil {
		t.Error("Published accepted table6")
	}
	if _, err := PublishedCaption("table0"); err == nil {
		t.Error("PublishedCaption accepted table0")
	}
	// Spot checks of whole rows against the thesis text.
	rows, _ := Published("table1")
	rows[1].Metrics[BalancedAccuracy] = 0 // callers get copies
	again, _ := Published("table1")
	if again[1].Metrics[BalancedAccuracy] != 0.9793 || again[1].Metrics[Accuracy] != 0.9793 || again[1].Metrics[Sensitivity] != 0.9502 || again[1].Metrics[Specificity] != 0.9878 {
		t.Errorf("table1 concatenation row: %v", again[1].Metrics)
	}
	t5, _ := Published("table5")
	if t5[2].Label != "LBBDM-f4" || t5[2].Task != TaskInfection || t5[2].Metrics[MCC] != 0.5225 || t5[2].Metrics[Precision] != 0.6358 {
		t.Errorf("table5 LBBDM-f4 infection row: %+v", t5[2])
	}
	if c, _ := PublishedCaption("table3"); c != "Metrics measured on the COVID-QU infection segmentation validation dataset at the final epoch using Brownian Bridge Diffusion Models." {
		t.Errorf("table3 caption %q", c)
	}
}

func mustParse(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestPublishedTablesWriteAndRead(t *testing.T) {
	dir := t.TempDir()
	for _, id := range PublishedIDs() {
		tb, err := PublishedTable(id)
		if err != nil {
			t.Fatal(err)
		}
		if err := Write(dir, tb); err != nil {
			t.Fatal(err)
		}
		got, err := Read(filepath.Join(dir, id+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if ms := Compare(tb, got, true); len(ms) != 0 {
			t.Errorf("%s: %v", id, ms)
		}
	}
	tb, _ := PublishedTable("table1")
	md := tb.Markdown()
	for _, want := range []string{"| DDPM concatenation | lung | 0.9541 | 0.9123 | 0.9793 | 0.9502 | 0.9878 | 0.9793 | 0.9581 | 0.9408 | published, COVID-QU-Ex |", "balanced_accuracy 0.9793"} {
		if !strings.Contains(md, want) {
			t.Errorf("table1 Markdown lacks %q:\n%s", want, md)
		}
	}
}

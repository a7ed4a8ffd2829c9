package tables

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// tenth is a variable so that tenth+0.2 is computed in float64 (0.30000000000000004), not exactly.
var tenth = 0.1

// sampleTable is a dmseg table with awkward floats, so that a lossy writer fails the round trip.
func sampleTable() *Table {
	return &Table{
		ID:      "table1",
		Title:   "DDPM lung segmentation",
		Caption: "Reproduction of thesis Table 1 | on phantoms.",
		Columns: SegColumns(),
		Rows: []Row{
			{Label: "DDPM addition", Task: TaskLung, Source: SourceDMSeg, Dataset: "phantom", Artifact: "ch3-a", Eval: "val-ddim50", Backend: "xla:cpu", N: 200,
				Metrics: map[string]float64{Dice: 0.9529, Jaccard: 1.0 / 3, Accuracy: tenth + 0.2, Sensitivity: math.Nextafter(0.5, 1),
					Specificity: 1e-300, BalancedAccuracy: 0.95291234, Precision: 1, MCC: -0.00001}},
			{Label: "DDPM concatenation", Task: TaskLung, Source: SourceDMSeg, Dataset: "phantom", Backend: "xla:cpu", N: 200,
				Metrics: map[string]float64{Dice: 0.9541, Jaccard: 0.9123}, Note: "partial evaluation"},
			{Label: "DDPM addition", Task: TaskLung, Source: SourcePublished, Dataset: DatasetCOVIDQUEx,
				Metrics: map[string]float64{Dice: 0.9529}},
		},
		Notes:     []string{"One sample per image."},
		Tolerance: map[string]float64{Dice: 2e-4, Jaccard: 1e-3},
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, tb := range []*Table{sampleTable(), {ID: "empty"}} {
		if err := Write(dir, tb); err != nil {
			t.Fatal(err)
		}
		got, err := Read(filepath.Join(dir, tb.ID+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tb) {
			t.Errorf("round trip of %s:\n got %#v\nwant %#v", tb.ID, got, tb)
		}
		md, err := os.ReadFile(filepath.Join(dir, tb.ID+".md"))
		if err != nil {
			t.Fatal(err)
		}
		if string(md) != tb.Markdown() {
			t.Errorf("%s.md differs from Markdown()", tb.ID)
		}
		if ms := Compare(tb, got, true); len(ms) != 0 {
			t.Errorf("Compare after round trip: %v", ms)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 4 {
		t.Errorf("dir holds %d entries, want the 4 table files only", len(entries))
	}
}

func TestJSONStableAndShaped(t *testing.T) {
	tb := sampleTable()
	a, err := tb.JSON()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		b, _ := tb.JSON()
		if !bytes.Equal(a, b) {
			t.Fatal("JSON output differs between calls")
		}
	}
	if !bytes.HasSuffix(a, []byte("}\n")) {
		t.Error("JSON does not end with a newline")
	}
	s := string(a)
	last := -1
	for _, k := range []string{`"id"`, `"title"`, `"caption"`, `"columns"`, `"rows"`, `"notes"`, `"tolerance"`} {
		i := strings.Index(s, k)
		if i <= last {
			t.Errorf("key %s missing or out of order", k)
		}
		last = i
	}
	for _, k := range []string{`"balanced_accuracy"`, `"label"`, `"artifact"`, `"digits"`} {
		if !strings.Contains(s, k) {
			t.Errorf("JSON lacks snake_case key %s", k)
		}
	}
	if strings.Contains(s, `"Label"`) || strings.Contains(s, `"Metrics"`) {
		t.Error("JSON has Go field names")
	}
	// Map keys sorted: accuracy before dice before mcc within the first row.
	row := s[strings.Index(s, `"metrics"`):]
	if !(strings.Index(row, `"accuracy"`) < strings.Index(row, `"dice"`) && strings.Index(row, `"dice"`) < strings.Index(row, `"mcc"`)) {
		t.Error("metric keys are not sorted")
	}
	// Nil notes and tolerance are written as [] and {}.
	e, _ := (&Table{ID: "x"}).JSON()
	if !strings.Contains(string(e), `"notes": []`) || !strings.Contains(string(e), `"tolerance": {}`) {
		t.Errorf("empty table JSON:\n%s", e)
	}
}

func TestValidateRejects(t *testing.T) {
	cases := map[string]func(*Table){
		"empty id":        func(tb *Table) { tb.ID = "" },
		"path in id":      func(tb *Table) { tb.ID = "../x" },
		"duplicate row":   func(tb *Table) { tb.Rows = append(tb.Rows, tb.Rows[0]) },
		"bad source":      func(tb *Table) { tb.Rows[0].Source = "thesis" },
		"unknown metric":  func(tb *Table) { tb.Rows[0].Metrics["Dice"] = 1 },
		"NaN metric":      func(tb *Table) { tb.Rows[0].Metrics[Dice] = math.NaN() },
		"dup column":      func(tb *Table) { tb.Columns = append(tb.Columns, Column{Key: Dice}) },
		"tolerance key":   func(tb *Table) { tb.Tolerance["fid"] = 1 },
		"negative tol":    func(tb *Table) { tb.Tolerance[Dice] = -1 },
		"empty row label": func(tb *Table) { tb.Rows[1].Label = "" },
	}
	for name, mutate := range cases {
		tb := sampleTable()
		mutate(tb)
		if _, err := tb.JSON(); err == nil {
			t.Errorf("%s: JSON accepted an invalid table", name)
		}
		if err := Write(t.TempDir(), tb); err == nil {
			t.Errorf("%s: Write accepted an invalid table", name)
		}
	}
}

func TestMarkdownFormatsValues(t *testing.T) {
	md := sampleTable().Markdown()
	for _, want := range []string{
		"# DDPM lung segmentation\n",
		"| Row | Task | Dice | Jaccard | Accuracy | Sensitivity | Specificity | Balanced Accuracy | Precision | MCC | Source |",
		"| DDPM addition | lung | 0.9529 | 0.3333 | 0.3000 | 0.5000 | 0.0000 | 0.9529 | 1.0000 | 0.0000 | dmseg, phantom, artifact ch3-a, eval val-ddim50, xla:cpu, n=200 |",
		"| DDPM concatenation | lung | 0.9541 | 0.9123 | – | – | – | – | – | – | dmseg, phantom, xla:cpu, n=200 |",
		"| DDPM addition | lung | 0.9529 | – |",
		"published, COVID-QU-Ex |",
		`Reproduction of thesis Table 1 | on phantoms.`,
		"- \"DDPM concatenation\" (lung): partial evaluation\n",
		"- One sample per image.\n",
		"dice 0.0002, jaccard 0.001",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "-0.0000") {
		t.Error("Markdown prints a negative zero")
	}
	tb := sampleTable()
	tb.Columns[0].Digits = 2
	tb.Rows[0].Label = "a|b"
	if md := tb.Markdown(); !strings.Contains(md, `| a\|b | lung | 0.95 |`) {
		t.Errorf("Digits 2 or pipe escaping not honoured:\n%s", md)
	}
}

func TestFormatValue(t *testing.T) {
	for _, c := range []struct {
		v      float64
		digits int
		want   string
	}{{0.95296, 4, "0.9530"}, {tenth + 0.2, -1, "0.30000000000000004"}, {-0.00001, 4, "0.0000"}, {-0.5, 2, "-0.50"}, {12, 0, "12"}} {
		if got := FormatValue(c.v, c.digits); got != c.want {
			t.Errorf("FormatValue(%v, %d) = %q, want %q", c.v, c.digits, got, c.want)
		}
	}
}

func TestCompareFindsChangedNumber(t *testing.T) {
	committed := sampleTable()
	if ms := Compare(committed, sampleTable(), true); len(ms) != 0 {
		t.Fatalf("identical tables: %v", ms)
	}
	regen := sampleTable()
	regen.Rows[0].Metrics[Dice] = 0.9530
	ms := Compare(committed, regen, true)
	if len(ms) != 1 {
		t.Fatalf("got %d mismatches, want 1: %v", len(ms), ms)
	}
	m := ms[0]
	if m.Kind != ValueDiffers || m.Label != "DDPM addition" || m.Task != TaskLung || m.Column != Dice || m.Committed != 0.9529 || m.Regenerated != 0.9530 {
		t.Errorf("mismatch fields: %+v", m)
	}
	want := `table1 row "DDPM addition" (lung) column dice: committed 0.9529, regenerated 0.9530, tolerance 0 (same backend)`
	if m.Error() != want {
		t.Errorf("Error()\n got %s\nwant %s", m.Error(), want)
	}

	// A difference below the printed precision is still shown.
	regen = sampleTable()
	regen.Rows[0].Metrics[BalancedAccuracy] = 0.95291235
	ms = Compare(committed, regen, true)
	if len(ms) != 1 || !strings.Contains(ms[0].Error(), "committed 0.95291234, regenerated 0.95291235") {
		t.Errorf("tiny difference: %v", ms)
	}
	// The published row with the same label is a different row.
	regen = sampleTable()
	regen.Rows[2].Metrics[Dice] = 0.9
	ms = Compare(committed, regen, true)
	if len(ms) != 1 || ms[0].Source != SourcePublished || !strings.Contains(ms[0].Error(), `row "DDPM addition" (lung, published) column dice`) {
		t.Errorf("published row change: %v", ms)
	}
}

func TestCompareToleranceOnlyAcrossBackends(t *testing.T) {
	committed := sampleTable() // tolerance dice 2e-4, jaccard 1e-3, others 0
	regen := sampleTable()
	regen.Rows[0].Metrics[Dice] += 1.5e-4
	regen.Rows[0].Backend = "xla:cuda"
	if ms := Compare(committed, regen, false); len(ms) != 0 {
		t.Errorf("within tolerance on another backend: %v", ms)
	}
	ms := Compare(committed, regen, true)
	var dice, backend bool
	for _, m := range ms {
		dice = dice || m.Kind == ValueDiffers && m.Column == Dice && m.Tolerance == 0
		backend = backend || m.Kind == FieldDiffers && m.Column == "backend"
	}
	if !dice || !backend || len(ms) != 2 {
		t.Errorf("same backend must be exact and notice the backend field: %v", ms)
	}
	regen.Rows[0].Metrics[Dice] = committed.Rows[0].Metrics[Dice] + 3e-4
	regen.Rows[0].Metrics[Accuracy] += 1e-12 // no tolerance for accuracy: 0
	ms = Compare(committed, regen, false)
	if len(ms) != 2 {
		t.Fatalf("got %v", ms)
	}
	if ms[0].Column != Dice || ms[0].Tolerance != 2e-4 || !strings.HasSuffix(ms[0].Error(), "tolerance 0.0002 (different backends)") {
		t.Errorf("dice beyond tolerance: %v", ms[0])
	}
	if ms[1].Column != Accuracy || ms[1].Tolerance != 0 {
		t.Errorf("accuracy without tolerance: %v", ms[1])
	}
}

func TestCompareMissingAndExtra(t *testing.T) {
	committed := sampleTable()
	regen := sampleTable()
	regen.Rows = regen.Rows[:1]                                                              // concatenation and published rows missing
	regen.Rows = append(regen.Rows, Row{Label: "BBDM", Task: TaskLung, Source: SourceDMSeg}) // extra
	delete(regen.Rows[0].Metrics, MCC)
	regen.Columns = regen.Columns[:7] // mcc column missing
	ms := Compare(committed, regen, true)
	want := map[string]bool{
		`table1 column mcc: in committed, missing in regenerated`:                                false,
		`table1 row "DDPM addition" (lung) column mcc: committed -1e-05, missing in regenerated`: false,
		`table1 row "DDPM concatenation" (lung): in committed, missing in regenerated`:           false,
		`table1 row "DDPM addition" (lung, published): in committed, missing in regenerated`:     false,
		`table1 row "BBDM" (lung): missing in committed, present in regenerated`:                 false,
	}
	for _, m := range ms {
		if _, ok := want[m.Error()]; !ok {
			t.Errorf("unexpected mismatch: %s", m.Error())
		}
		want[m.Error()] = true
	}
	for w, found := range want {
		if !found {
			t.Errorf("missing mismatch: %s", w)
		}
	}
	// And the other way round: extra column and value in the regenerated table.
	ms = Compare(regen, committed, true)
	var col, val bool
	for _, m := range ms {
		col = col || m.Kind == ExtraColumn && m.Column == MCC
		val = val || m.Kind == ExtraValue && m.Column == MCC && m.Label == "DDPM addition"
	}
	if !col || !val {
		t.Errorf("extra column/value not reported: %v", ms)
	}
}

func TestReadErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, sampleTable()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "table1.json")
	data, _ := os.ReadFile(path)
	bad := filepath.Join(dir, "truncated.json")
	if err := os.WriteFile(bad, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Read(bad)
	if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated file: %v", err)
	}
	for name, content := range map[string]string{
		"empty.json":    "",
		"unknown.json":  `{"id":"x","colour":1}`,
		"trailing.json": `{"id":"x"} {}`,
		"invalid.json":  `{"id":"x","rows":[{"label":"a","source":"thesis","dataset":"d","metrics":{}}]}`,
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o644)
		if _, err := Read(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v", name, err)
		}
	}
	missing := filepath.Join(dir, "nope.json")
	if _, err := Read(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: %v", err)
	}
}

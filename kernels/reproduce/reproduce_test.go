package reproduce

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmseg/dmseg/kernels/artifacts"
	"github.com/dmseg/dmseg/kernels/engine"
	"github.com/dmseg/dmseg/kernels/engine/enginetest"
	"github.com/dmseg/dmseg/kernels/experiments"
	"github.com/dmseg/dmseg/kernels/runners"
	_ "github.com/dmseg/dmseg/kernels/runners/ddpmuncond"
)

// A checkout in a temp folder with the tiny chapter-2 artifact and its quality record:
// the default tier writes every table and figure; a second run finds them equal; a
// changed number in a committed table, or in the evaluation record, fails naming it.
func TestReproduceRegeneratesAndCatchesChangedNumbers(t *testing.T) {
	b := enginetest.XLA(t)
	root := t.TempDir()
	art := filepath.Join(root, "artifacts")
	info := engine.Info{Name: "xla:cpu"}
	e, _ := experiments.Get("ch2-ddpm-uncond-tiny")
	r, err := runners.Get(e.Kind)
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Train(e, runners.TrainOptions{Backend: b, Info: info, WorkDir: filepath.Join(root, "run"), ArtifactsRoot: art, Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := r.Evaluate(res.Artifact, runners.EvalOptions{Backend: b, Info: info, N: 10, Batch: 5, Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Root: root, Backend: b, Info: info, ResampleK: 2, Chapter2: e.Name, Log: io.Discard}
	if _, err := Run(o); err != nil {
		t.Fatalf("first run: %v", err)
	}
	qpath := filepath.Join(root, "thesis", "tables", "fig10-quality.json")
	for _, f := range []string{qpath, filepath.Join(root, "thesis", "tables", "table1.md"), filepath.Join(root, "plots", "fig10-ddpm-samples.png"),
		filepath.Join(root, "plots", "fig12-denoising-pass.png"), filepath.Join(root, "thesis", "reproduce-timings.md"), filepath.Join(root, "thesis", "REPORT.md")} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("not written: %v", err)
		}
	}
	committed, _ := os.ReadFile(qpath)
	if !strings.Contains(string(committed), `"fd": `) || !strings.Contains(string(committed), `"label": "DDIM-5"`) {
		t.Errorf("fig10-quality.json lacks rows[].label/fd:\n%s", committed)
	}
	// A study record beside the table's (DDIM alone on another split,
	// newer) does not replace it: the second run finds every number equal.
	if _, err := r.Evaluate(res.Artifact, runners.EvalOptions{Backend: b, Info: info, N: 10, Batch: 5, Split: "train", Samplers: []string{"ddim"}, Log: io.Discard}); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(o); err != nil {
		t.Fatalf("second run on its own outputs: %v", err)
	}

	// A changed number in the committed table: named, and the committed file is kept.
	changed := strings.Replace(string(committed), `"speckled_fraction": `, `"speckled_fraction": 0.5`, 1)
	changed = strings.Replace(changed, `"speckled_fraction": 0.50`, `"speckled_fraction": 0.5`, 1)
	if changed == string(committed) {
		t.Fatal("test setup: no speckled_fraction to change")
	}
	os.WriteFile(qpath, []byte(changed), 0o644)
	_, err = Run(o)
	if err == nil || !strings.Contains(err.Error(), "fig10-quality") || !strings.Contains(err.Error(), "speckled_fraction") {
		t.Fatalf("changed table number: want an error naming fig10-quality and the column, got %v", err)
	}
	if now, _ := os.ReadFile(qpath); string(now) != changed {
		t.Error("the committed table was overwritten after a mismatch")
	}
	os.WriteFile(qpath, committed, 0o644)

	// A changed number inside the evaluation record: the hash check fails AND the value is named.
	rp := filepath.Join(ev.Dir, artifacts.EvalFile)
	rec, _ := os.ReadFile(rp)
	rows := strings.Index(string(rec), `"rows"`)
	i := rows + strings.Index(string(rec[max(rows, 0):]), `"fd":`)
	if rows < 0 || i < rows {
		t.Fatalf("no fd in the record:\n%s", rec)
	}
	j := i + strings.IndexAny(string(rec[i:]), ",}")
	edited := string(rec[:i]) + `"fd": 1234.5` + string(rec[j:])
	os.WriteFile(rp, []byte(edited), 0o644)
	_, err = Run(o)
	if err == nil || !strings.Contains(err.Error(), "column fd: recorded 1234.5") || !strings.Contains(err.Error(), "record.json was modified") {
		t.Fatalf("changed record number: want the value and the file named, got %v", err)
	}
	os.WriteFile(rp, rec, 0o644)
	if _, err := Run(Options{Root: root, Tier: TierVerify, Log: io.Discard}); err != nil {
		t.Fatalf("verify after restoring: %v", err)
	}
}

package artifacts

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dmseg/dmseg/kernels/engine"
	"github.com/dmseg/dmseg/kernels/train"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// makeArtifact trains a 3-parameter model for 3 steps on the pure-Go backend and stores it.
func makeArtifact(t *testing.T, root string) *Artifact {
	t.Helper()
	b, info, err := engine.New("go")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx := context.New()
	loss := func(ctx *context.Context, batch []*Node) *Node {
		w := ctx.In("m").VariableWithValue("w", []float32{1, 2, 3}).ValueGraph(batch[0].Graph())
		return ReduceAllSum(Mul(batch[0], Square(w)))
	}
	cfg := train.Config{Steps: 3, BatchSize: 1, LR: train.LRConfig{LR: 0.1}, EMADecay: 0.5, Seed: 5}
	if _, err := train.Run(b, ctx, loss, train.BatchFunc(func(int64) ([]*tensors.Tensor, error) {
		return []*tensors.Tensor{tensors.FromValue([]float32{1, 1, 1})}, nil
	}), cfg, train.Options{OutDir: dir, Progress: io.Discard}); err != nil {
		t.Fatal(err)
	}
	m, err := NewManifest("tiny", map[string]any{"train": cfg, "b": 2, "a": 1}, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	m.Backend = BackendFrom(info)
	m.Seeds["train"] = 5
	a, err := Create(root, m, map[string]string{
		WeightsFile:       filepath.Join(dir, train.CheckpointFile),
		train.LossCSVFile: filepath.Join(dir, train.LossCSVFile),
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestCreateOpenVerifyAndFlippedBytes(t *testing.T) {
	root := t.TempDir()
	a := makeArtifact(t, root)
	if !strings.HasPrefix(a.Manifest.ID, "tiny-20260102-") || len(a.Manifest.UUID) != 36 {
		t.Fatalf("id %q uuid %q", a.Manifest.ID, a.Manifest.UUID)
	}
	if !strings.HasPrefix(string(a.Manifest.Config), `{"a":1,"b":2,"train":{`) {
		t.Errorf("config not canonical: %s", a.Manifest.Config)
	}
	if len(a.Manifest.WeightsSHA256) != 64 || len(a.Manifest.Files) != 2 {
		t.Fatalf("manifest: %+v", a.Manifest)
	}
	b, err := Open(root, "tiny") // by experiment name
	if err != nil {
		t.Fatal(err)
	}
	if b.Manifest.ManifestSHA256 != a.Manifest.ManifestSHA256 {
		t.Fatal("reopened manifest differs")
	}
	if _, err := Open(root, a.Manifest.ID[:18]); err != nil { // by unique prefix
		t.Fatal(err)
	}
	for _, name := range []string{WeightsFile, train.LossCSVFile, ManifestFile} {
		p := filepath.Join(a.Dir, name)
		orig, _ := os.ReadFile(p)
		for _, pos := range []int{len(orig) / 3, len(orig) - 3} {
			mod := append([]byte{}, orig...)
			mod[pos] ^= 0x04
			os.WriteFile(p, mod, 0o644)
			_, err := Open(root, a.Manifest.ID)
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("flipped byte %d of %s: want an error naming it, got %v", pos, name, err)
			}
		}
		os.WriteFile(p, orig, 0o644)
		if _, err := Open(root, a.Manifest.ID); err != nil {
			t.Fatalf("restored %s: %v", name, err)
		}
	}
}

func TestWeightsHashIndependentOfFileLayout(t *testing.T) {
	root := t.TempDir()
	a := makeArtifact(t, root)
	ck, err := a.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	// Re-save the same variables with a different trainer state: the file bytes change, the weights hash does not.
	ctx := context.New()
	ck.Load(ctx)
	p := filepath.Join(t.TempDir(), "x.dmck")
	if err := train.SaveCheckpoint(p, ctx, 999, map[string]string{"other": "state"}); err != nil {
		t.Fatal(err)
	}
	ck2, err := train.ReadCheckpoint(p)
	if err != nil {
		t.Fatal(err)
	}
	s1, _, _ := FileSHA256(a.Path(WeightsFile))
	s2, _, _ := FileSHA256(p)
	if s1 == s2 {
		t.Fatal("test design: files should differ")
	}
	if ck.WeightsSHA256() != ck2.WeightsSHA256() || ck2.WeightsSHA256() != a.Manifest.WeightsSHA256 {
		t.Errorf("weights hash depends on layout: %s %s %s", ck.WeightsSHA256(), ck2.WeightsSHA256(), a.Manifest.WeightsSHA256)
	}
	// And it changes when one value changes.
	v := ctx.GetVariableByScopeAndName("/m", "w")
	vals := tensors.MustCopyFlatData[float32](v.MustValue())
	vals[0] += 1e-6
	v.MustSetValue(tensors.FromValue(vals))
	train.SaveCheckpoint(p, ctx, 999, nil)
	ck3, _ := train.ReadCheckpoint(p)
	if ck3.WeightsSHA256() == ck2.WeightsSHA256() {
		t.Error("weights hash ignores a changed value")
	}
}

func TestListAndResolveErrors(t *testing.T) {
	root := t.TempDir()
	if _, err := Resolve(root, "nothing"); err == nil {
		t.Fatal("resolved a missing artifact")
	}
	makeArtifact(t, root)
	makeArtifact(t, root)
	ms, errs := List(root)
	if len(ms) != 2 || len(errs) != 0 {
		t.Fatalf("list: %d manifests, errs %v", len(ms), errs)
	}
	if _, err := Resolve(root, "tiny-2026"); err == nil || !strings.Contains(err.Error(), "ambiguous") {
		t.Errorf("want ambiguous, got %v", err)
	}
}

func TestLargeFilesAreReferencedByHash(t *testing.T) {
	root := t.TempDir()
	a := makeArtifact(t, root)
	old := MaxRepoBytes
	MaxRepoBytes = 1000 // the checkpoint is larger than this
	defer func() { MaxRepoBytes = old }()
	if err := a.Rescan(); err != nil {
		t.Fatal(err)
	}
	var ext []string
	for _, f := range a.Manifest.Files {
		if f.Stored == "external" {
			ext = append(ext, f.Path)
		}
	}
	if len(ext) != 1 || ext[0] != WeightsFile {
		t.Fatalf("external files %v, want [%s]", ext, WeightsFile)
	}
	gi, err := os.ReadFile(filepath.Join(a.Dir, ".gitignore"))
	if err != nil || !strings.Contains(string(gi), WeightsFile) {
		t.Fatalf(".gitignore should list the large file: %q %v", gi, err)
	}
	if _, err := Open(root, a.Manifest.ID); err != nil {
		t.Fatalf("present external file: %v", err)
	}
	p := a.Path(WeightsFile)
	data, _ := os.ReadFile(p)
	os.Remove(p)
	_, err = Open(root, a.Manifest.ID)
	if err == nil || !strings.Contains(err.Error(), "referenced by hash only") || !strings.Contains(err.Error(), WeightsFile) {
		t.Fatalf("missing external file: want a clear error, got %v", err)
	}
	os.WriteFile(p, data, 0o644)
	if _, err := Open(root, a.Manifest.ID); err != nil {
		t.Fatalf("restored external file: %v", err)
	}
}

// An artifact appears whole (no temporary folder is left); an interrupted
// write and a stray folder are reported by List with what to do, and never
// hide the valid artifacts.
func TestCreateIsAtomicAndLeftoversAreReported(t *testing.T) {
	root := t.TempDir()
	a := makeArtifact(t, root)
	ents, _ := os.ReadDir(root)
	if len(ents) != 1 || ents[0].Name() != a.Manifest.ID {
		t.Fatalf("root holds %v", ents)
	}
	os.MkdirAll(filepath.Join(root, IncompletePrefix+"x-1"), 0o755)
	os.MkdirAll(filepath.Join(root, "stray"), 0o755)
	ms, errs := List(root)
	if len(ms) != 1 || ms[0].ID != a.Manifest.ID {
		t.Fatalf("manifests %v", ms)
	}
	if len(errs) != 2 {
		t.Fatalf("errors %v", errs)
	}
	joined := errs[0].Error() + errs[1].Error()
	if !strings.Contains(joined, "interrupted artifact write") || !strings.Contains(joined, "rm -rf") || !strings.Contains(joined, "stray") {
		t.Errorf("errors do not say what happened: %v", errs)
	}
}

// A file dropped into an artifact after it was written is reported by name.
func TestVerifyReportsUnlistedFiles(t *testing.T) {
	root := t.TempDir()
	a := makeArtifact(t, root)
	if _, err := OpenDir(a.Dir); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(a.Dir, "notes.txt"), []byte("mine"), 0o644)
	if _, err := OpenDir(a.Dir); err == nil || !strings.Contains(err.Error(), "notes.txt") {
		t.Fatalf("unlisted file: %v", err)
	}
}

// Looking up an experiment whose only artifact has a broken manifest says so,
// not only "not found".
func TestResolveNamesUnreadableFolders(t *testing.T) {
	root := t.TempDir()
	a := makeArtifact(t, root)
	os.WriteFile(filepath.Join(a.Dir, ManifestFile), []byte("{broken"), 0o644)
	_, err := Resolve(root, a.Manifest.Experiment)
	if err == nil || !strings.Contains(err.Error(), "could not be read") || !strings.Contains(err.Error(), ManifestFile) {
		t.Fatalf("got %v", err)
	}
}

// An evaluation record is refused a second time, and CheckNewEval says so
// before any work: the same protocol gives the same id; another is new.
func TestCheckNewEval(t *testing.T) {
	a := makeArtifact(t, t.TempDir())
	p := map[string]any{"n": 3, "seed": 1}
	if err := a.CheckNewEval("seg", p); err != nil {
		t.Fatalf("fresh protocol refused: %v", err)
	}
	ev, err := a.CreateEval("seg", p, map[string]int{"x": 1}, map[string][]byte{"m.png": {1}}, Backend{Name: "go"}, Git{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = a.CheckNewEval("seg", map[string]any{"seed": 1, "n": 3})
	if err == nil || !strings.Contains(err.Error(), ev.Record.ID) || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("existing record not refused: %v", err)
	}
	if _, err := a.CreateEval("seg", p, nil, nil, Backend{}, Git{}, nil); err == nil {
		t.Fatal("CreateEval wrote a record twice")
	}
	if err := a.CheckNewEval("seg", map[string]any{"n": 4, "seed": 1}); err != nil {
		t.Fatalf("another protocol refused: %v", err)
	}
}

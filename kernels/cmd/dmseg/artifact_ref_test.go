package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmseg/dmseg/kernels/artifacts"
)

// --artifact with an experiment name opens the artifact of the experiment's current
// definition, not a newer one of another definition (ch3-ddpm-add-infection-cpu has a newer
// artifact from when the experiment carried the aux-Dice objective); with only that one left
// it opens it and says so.
func TestOpenArtifactPrefersCurrentDefinition(t *testing.T) {
	root := filepath.Join("..", "..", "..", "artifacts")
	const exp = "ch3-ddpm-add-infection-cpu"
	const cur, trial = exp + "-20261202-6d20f3da", exp + "-20261202-5f5339a8"
	for _, id := range []string{cur, trial} {
		if _, err := os.Stat(filepath.Join(root, id)); err != nil {
			t.Skipf("committed artifact %s not here: %v", id, err)
		}
	}
	if newest, err := artifacts.Open(root, exp); err != nil || newest.Manifest.ID != trial {
		t.Fatalf("test premise: the newest artifact should be the trial %s (%v)", trial, err)
	}
	var note bytes.Buffer
	a, err := openArtifact(&note, root, exp)
	if err != nil || a.Manifest.ID != cur || note.Len() != 0 {
		t.Fatalf("openArtifact(%s) = %v, %v (note %q), want %s", exp, a, err, note.String(), cur)
	}
	if a, err := openArtifact(&note, root, trial); err != nil || a.Manifest.ID != trial {
		t.Errorf("by id: %v %v", a, err)
	}
	tmp := t.TempDir()
	if err := os.CopyFS(filepath.Join(tmp, trial), os.DirFS(filepath.Join(root, trial))); err != nil {
		t.Fatal(err)
	}
	a, err = openArtifact(&note, tmp, exp)
	if err != nil || a.Manifest.ID != trial || !strings.Contains(note.String(), trial) {
		t.Errorf("only the trial: %v, %v, note %q", a, err, note.String())
	}
	if _, err := openArtifact(&note, tmp, "ch3-ddpm-add-infection-auxdice-cpu"); err == nil {
		t.Error("an experiment without artifacts opened")
	}
}

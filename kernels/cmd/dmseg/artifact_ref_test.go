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
// definition, not a newer trial (ch2-ddpm-uncond-cpu has a newer 64k-image trial of another
// definition); with only the trial left it opens the trial and says so.
func TestOpenArtifactPrefersCurrentDefinition(t *testing.T) {
	root := filepath.Join("..", "..", "..", "artifacts")
	const cur, trial = "ch2-ddpm-uncond-cpu-20261202-a1bd0365", "ch2-ddpm-uncond-cpu-20261203-4124051f"
	for _, id := range []string{cur, trial} {
		if _, err := os.Stat(filepath.Join(root, id)); err != nil {
			t.Skipf("committed artifact %s not here: %v", id, err)
		}
	}
	if newest, err := artifacts.Open(root, "ch2-ddpm-uncond-cpu"); err != nil || newest.Manifest.ID != trial {
		t.Fatalf("test premise: the newest artifact should be the trial %s (%v)", trial, err)
	}
	var note bytes.Buffer
	a, err := openArtifact(&note, root, "ch2-ddpm-uncond-cpu")
	if err != nil || a.Manifest.ID != cur || note.Len() != 0 {
		t.Fatalf("openArtifact(ch2-ddpm-uncond-cpu) = %v, %v (note %q), want %s", a, err, note.String(), cur)
	}
	if a, err := openArtifact(&note, root, trial); err != nil || a.Manifest.ID != trial {
		t.Errorf("by id: %v %v", a, err)
	}
	tmp := t.TempDir()
	if err := os.CopyFS(filepath.Join(tmp, trial), os.DirFS(filepath.Join(root, trial))); err != nil {
		t.Fatal(err)
	}
	a, err = openArtifact(&note, tmp, "ch2-ddpm-uncond-cpu")
	if err != nil || a.Manifest.ID != trial || !strings.Contains(note.String(), trial) {
		t.Errorf("only the trial: %v, %v, note %q", a, err, note.String())
	}
	if _, err := openArtifact(&note, tmp, "ch2-ddpm-uncond-noema-cpu"); err == nil {
		t.Error("an experiment without artifacts opened")
	}
}

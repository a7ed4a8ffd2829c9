package runners

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmseg/dmseg/kernels/artifacts"
)

// Against the committed artifacts: ch3-ddpm-add-infection-cpu has an older
// artifact of its current definition (plain x0 objective) and a newer one made
// while the experiment carried aux_dice; the current one stands for it. An id
// opens as it is; an experiment with no artifact is not found.
func TestCurrentArtifact(t *testing.T) {
	root := filepath.Join("..", "..", "artifacts")
	const cur, newer = "ch3-ddpm-add-infection-cpu-20261202-6d20f3da", "ch3-ddpm-add-infection-cpu-20261202-5f5339a8"
	for _, id := range []string{cur, newer} {
		if _, err := os.Stat(filepath.Join(root, id)); err != nil {
			t.Skipf("committed artifact %s not here: %v", id, err)
		}
	}
	a, err := CurrentArtifact(root, "ch3-ddpm-add-infection-cpu")
	if err != nil || a.Manifest.ID != cur {
		t.Fatalf("current artifact of ch3-ddpm-add-infection-cpu: %v %v, want %s", a, err, cur)
	}
	if newest, _ := artifacts.Open(root, "ch3-ddpm-add-infection-cpu"); newest == nil || newest.Manifest.ID != newer {
		t.Fatalf("test premise: the newest artifact should be %s", newer)
	}
	if a, err := CurrentArtifact(root, newer); err != nil || a.Manifest.ID != newer {
		t.Errorf("by id: %v %v", a, err)
	}
	if _, err := CurrentArtifact(root, "ch3-ddpm-add-infection-auxdice-cpu"); !errors.Is(err, artifacts.ErrNotFound) {
		t.Errorf("experiment without artifacts: %v", err)
	}
	// A copy of the outdated artifact alone: named as outdated.
	tmp := t.TempDir()
	if err := os.CopyFS(filepath.Join(tmp, newer), os.DirFS(filepath.Join(root, newer))); err != nil {
		t.Fatal(err)
	}
	if _, err := CurrentArtifact(tmp, "ch3-ddpm-add-infection-cpu"); !errors.Is(err, ErrOutdated) || !strings.Contains(err.Error(), newer) {
		t.Errorf("only an outdated artifact: %v", err)
	}
}

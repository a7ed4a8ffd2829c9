package train

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gomlx/gomlx/pkg/ml/context"
)

// FuzzReadCheckpoint: any file gives a checkpoint whose variables hold the
// bytes their shapes need, or an error; never a panic or an allocation the
// stored bytes do not justify.
func FuzzReadCheckpoint(f *testing.F) {
	dir := f.TempDir()
	ctx := context.New()
	ctx.VariableWithValue("w", []float32{1, 2, 3})
	p := filepath.Join(dir, "ck.dmck")
	if err := SaveCheckpoint(p, ctx, 5, map[string]int{"step": 5}); err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(p)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:40])
	f.Add([]byte(checkpointMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		q := filepath.Join(t.TempDir(), "f.dmck")
		if err := os.WriteFile(q, data, 0o644); err != nil {
			t.Fatal(err)
		}
		ck, err := ReadCheckpoint(q)
		if err != nil {
			return
		}
		for _, v := range ck.Vars {
			if ck.Tensor(v.Name) == nil {
				t.Fatalf("variable %s listed but not loaded", v.Name)
			}
		}
	})
}

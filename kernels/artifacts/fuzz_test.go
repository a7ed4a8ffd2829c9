package artifacts

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadManifest: any manifest.json gives a manifest of a known format or an
// error naming the file, never a panic.
func FuzzReadManifest(f *testing.F) {
	f.Add([]byte(`{"format":"dmseg-artifact/2","id":"x","experiment":"e","config":{"a":1}}`))
	f.Add([]byte(`{"format":"other"}`))
	f.Add([]byte(`{"unknown_key":1}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, ManifestFile), data, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := ReadManifest(dir)
		if err == nil && m.Format != Format && m.Format != FormatV1 {
			t.Fatalf("format %q accepted", m.Format)
		}
	})
}

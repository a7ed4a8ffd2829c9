package thesismap

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Every item that needs an implementation has one, and the committed
// thesis/MAP.md is what the code's citations give (a removed or renamed cited
// function changes it).
func TestMapIsCompleteAndCommitted(t *testing.T) {
	root := repoRoot()
	cites, err := Scan(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range Missing(cites) {
		t.Errorf("%s (%s) has no implementation: add `thesis: %s` to the doc comment of the code that implements it", it.Label, it.What, it.Key)
	}
	committed, err := os.ReadFile(filepath.Join(root, "thesis", "MAP.md"))
	if err != nil {
		t.Fatal(err)
	}
	if got := Markdown(cites); string(committed) != got {
		t.Errorf("thesis/MAP.md is not what the code cites; regenerate it with make reproduce")
	}
}

// Scan finds citations on functions, methods, types and values, and refuses an
// unknown key naming the file.
func TestScan(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "kernels", "p")
	os.MkdirAll(dir, 0o755)
	src := `// Package p does things.
//
// thesis: fig10
package p

// F implements it.
//
// thesis: eq2, eq7
func F() {}

type T struct{}

// M is a method.
// thesis: alg2-ddpm
func (t *T) M() {}

// V is a value.
//
// thesis: table8
var V = 1
`
	os.WriteFile(filepath.Join(dir, "p.go"), []byte(src), 0o644)
	cites, err := Scan(root)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cites {
		got = append(got, c.Key+"="+c.Symbol)
	}
	want := "eq2=kernels/p.F eq7=kernels/p.F alg2-ddpm=kernels/p.(*T).M table8=kernels/p.V fig10=kernels/p (package)"
	if strings.Join(got, " ") != want {
		t.Errorf("got  %s\nwant %s", strings.Join(got, " "), want)
	}
	os.WriteFile(filepath.Join(dir, "q.go"), []byte("package p\n\n// G.\n//\n// thesis: eq99\nfunc G() {}\n"), 0o644)
	if _, err := Scan(root); err == nil || !strings.Contains(err.Error(), "q.go") || !strings.Contains(err.Error(), "eq99") {
		t.Errorf("unknown key: %v", err)
	}
	if !strings.Contains(Markdown(nil), "**missing**") {
		t.Error("an item without implementation is not flagged in the map")
	}
}

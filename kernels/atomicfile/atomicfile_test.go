package atomicfile

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteReplacesWholeFileAndLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "f.txt")
	if err := Write(p, []byte("old")); err != nil {
		t.Fatal(err)
	}
	if err := Write(p, []byte("new content")); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil || string(got) != "new content" {
		t.Fatalf("read %q, %v; want the new content", got, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(p))
	if len(entries) != 1 {
		t.Fatalf("folder holds %d entries, want only f.txt (no temporary files left)", len(entries))
	}
}

func TestWriteErrorNamesPathAndKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.txt")
	if err := Write(p, []byte("old")); err != nil {
		t.Fatal(err)
	}
	// A folder where the file should go cannot be replaced by rename.
	target := filepath.Join(dir, "isdir")
	if err := os.MkdirAll(filepath.Join(target, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	err := Write(target, []byte("data"))
	if err == nil || !strings.Contains(err.Error(), target) {
		t.Fatalf("Write over a non-empty folder: err %v, want an error naming %s", err, target)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("folder holds %d entries after a failed write, want 2 (no temporary left)", len(entries))
	}
}

// Folders, devices and empty paths are refused without touching them; "-"
// goes to standard output.
func TestRefusesNonRegularTargets(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{dir, os.DevNull, ""} {
		if err := Write(p, []byte("x")); err == nil {
			t.Errorf("Write(%q) accepted", p)
		}
	}
	if st, err := os.Stat(os.DevNull); err != nil || st.Mode().IsRegular() {
		t.Fatalf("%s was replaced", os.DevNull)
	}
	r, w, _ := os.Pipe()
	old := os.Stdout
	os.Stdout = w
	err := Write("-", []byte("hello"))
	os.Stdout = old
	w.Close()
	got, _ := io.ReadAll(r)
	if err != nil || string(got) != "hello" {
		t.Errorf("stdout: %q %v", got, err)
	}
}

// A set of files appears together on Commit; after a failed Stage, Abort
// leaves neither the files nor temporary files behind.
func TestSetAllOrNothing(t *testing.T) {
	dir := t.TempDir()
	var s Set
	a, b := filepath.Join(dir, "a.png"), filepath.Join(dir, "sub", "a.json")
	if err := s.Stage(a, []byte("png")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(a); !os.IsNotExist(err) {
		t.Fatal("a staged file is visible before Commit")
	}
	if err := s.Stage(b, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{a, b} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s missing after Commit: %v", p, err)
		}
	}
	fail := t.TempDir()
	var u Set
	if err := u.Stage(filepath.Join(fail, "x.png"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(fail, "file"), nil, 0o644)
	if err := u.Stage(filepath.Join(fail, "file", "y.json"), []byte("y")); err == nil {
		t.Fatal("staging below a file succeeded")
	}
	u.Abort()
	ents, _ := os.ReadDir(fail)
	if len(ents) != 1 || ents[0].Name() != "file" {
		t.Errorf("after Abort the folder holds %v", ents)
	}
}

package notebooktest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

func repoRoot(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

func gobin() string {
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		return ""
	}
	return filepath.Join(string(out[:len(out)-1]), "bin")
}

// toolsPresent reports whether jupyter nbconvert and gonb can be found (PATH or GOPATH/bin).
func toolsPresent() bool {
	path := gobin() + string(os.PathListSeparator) + os.Getenv("PATH")
	for _, tool := range []string{"jupyter", "gonb", "goimports"} {
		found := false
		for _, dir := range filepath.SplitList(path) {
			if st, err := os.Stat(filepath.Join(dir, tool)); err == nil && !st.IsDir() {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return exec.Command("jupyter", "nbconvert", "--version").Run() == nil
}

func writeNotebook(t *testing.T, outputs ...map[string]any) string {
	nb := map[string]any{
		"nbformat": 4, "nbformat_minor": 5, "metadata": map[string]any{},
		"cells": []any{map[string]any{"cell_type": "code", "source": "%%\n", "metadata": map[string]any{}, "outputs": outputs}},
	}
	b, _ := json.Marshal(nb)
	p := filepath.Join(t.TempDir(), "nb.ipynb")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The detector flags error outputs, Go panics and "exit status N" in stderr, and passes clean notebooks.
func TestCheckNotebookDetectsFailures(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	script := filepath.Join(repoRoot(t), "scripts", "check-notebook.py")
	stream := func(name, text string) map[string]any {
		return map[string]any{"output_type": "stream", "name": name, "text": text}
	}
	cases := []struct {
		name string
		out  []map[string]any
		bad  bool
	}{
		{"clean", []map[string]any{stream("stdout", "panic: is only text on stdout\n"), stream("stderr", "go: added x v1\n")}, false},
		{"panic", []map[string]any{stream("stderr", "panic: boom\n\ngoroutine 1 [running]:\n")}, true},
		{"exit", []map[string]any{stream("stderr", "something\nexit status 3\n")}, true},
		{"error", []map[string]any{{"output_type": "error", "ename": "ERROR", "evalue": "compile failed", "traceback": []string{}}}, true},
	}
	for _, c := range cases {
		err := exec.Command(py, script, writeNotebook(t, c.out...)).Run()
		if (err != nil) != c.bad {
			t.Errorf("%s: check-notebook error = %v, want failure %v", c.name, err, c.bad)
		}
	}
}

// Every notebook executes headless without errors (takes minutes: skipped with -short).
func TestNotebooksExecute(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: not executing notebooks")
	}
	if !toolsPresent() {
		if os.Getenv("DMSEG_REQUIRE_NOTEBOOKS") == "1" {
			t.Fatal("DMSEG_REQUIRE_NOTEBOOKS=1 but Jupyter nbconvert / GoNB / goimports are not installed: run scripts/install-notebook-tools.sh")
		}
		t.Skip("Jupyter nbconvert / GoNB not installed (scripts/install-notebook-tools.sh installs them)")
	}
	root := repoRoot(t)
	cmd := exec.Command(filepath.Join(root, "scripts", "notebooks.sh"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "NOTEBOOK_INPLACE=0")
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("scripts/notebooks.sh failed: %v", err)
	}
}

package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUnknownBackendListsValidNames(t *testing.T) {
	_, _, err := New("tpu")
	if err == nil {
		t.Fatal("New(\"tpu\") succeeded, want an error")
	}
	for _, n := range Names {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("error %q does not list valid backend %q", err, n)
		}
	}
}

func TestMissingExplicitPluginSaysHowToInstall(t *testing.T) {
	// An empty search path: point every search location at an empty folder.
	empty := t.TempDir()
	t.Setenv(EnvPluginDir, empty)
	t.Setenv("PJRT_PLUGIN_LIBRARY_PATH", empty)
	t.Setenv("HOME", empty)
	t.Chdir(empty)
	if p := FindPlugin("cuda"); p != "" {
		t.Skipf("a CUDA plugin is installed system-wide at %s", p)
	}
	_, _, err := New("xla:cuda")
	if err == nil || !strings.Contains(err.Error(), "pjrt_c_api_cuda_plugin.so") || !strings.Contains(err.Error(), "jax-cuda") {
		t.Fatalf("New(xla:cuda) without a plugin: error %v, want one naming the plugin file and how to install it", err)
	}
}

func TestAutoFallsBackToGoWithWarning(t *testing.T) {
	empty := t.TempDir()
	t.Setenv(EnvPluginDir, empty)
	t.Setenv("PJRT_PLUGIN_LIBRARY_PATH", empty)
	t.Setenv("HOME", empty)
	t.Chdir(empty)
	if FindPlugin("cpu") != "" || FindPlugin("cuda") != "" {
		t.Skip("a plugin is installed next to the test binary or system-wide")
	}
	b, info, err := create("auto")
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "go" || !strings.Contains(info.Warning, "make setup") {
		t.Fatalf("auto without plugins: got %+v, want the go backend with a warning saying how to get XLA", info)
	}
	b.Finalize()
}

func TestFindPluginInConfiguredDir(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "pjrt_c_api_cpu_plugin.so")
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvPluginDir, dir)
	if got := FindPlugin("cpu"); got != p {
		t.Fatalf("FindPlugin(cpu) = %q, want %q", got, p)
	}
}

func TestXLACPULoadsWhenInstalled(t *testing.T) {
	if FindPlugin("cpu") == "" {
		if os.Getenv("DMSEG_REQUIRE_XLA") == "1" {
			t.Fatalf("DMSEG_REQUIRE_XLA=1 but no plugin: %s", InstallHint)
		}
		t.Skip("XLA CPU plugin not installed")
	}
	_, info, err := New("xla:cpu")
	if err != nil {
		t.Fatal(err)
	}
	if info.PluginVersion == "" || !strings.HasPrefix(info.PluginVersion, "0.") {
		t.Errorf("plugin version %q, want the PJRT C API version (0.x)", info.PluginVersion)
	}
	if !strings.Contains(info.String(), "backend=xla:cpu") {
		t.Errorf("stamp %q lacks backend=xla:cpu", info.String())
	}
}

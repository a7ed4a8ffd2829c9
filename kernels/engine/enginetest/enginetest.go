// Package enginetest gives tests the list of backends to run on.
//
// Every numerical test runs on each available backend: the XLA CPU plugin
// ("xla:cpu") and the pure-Go backend ("go"). When DMSEG_REQUIRE_XLA=1 (set by
// `make test`) a missing XLA CPU plugin fails the test instead of skipping it.
package enginetest

import (
	"os"
	"testing"

	"github.com/dmseg/dmseg/kernels/engine"
	"github.com/gomlx/gomlx/backends"
)

// Backends returns the backends to test on, by name. The pure-Go backend is always included.
func Backends(t testing.TB) []string {
	t.Helper()
	names := []string{}
	if engine.FindPlugin("cpu") != "" {
		names = append(names, "xla:cpu")
	} else if os.Getenv("DMSEG_REQUIRE_XLA") == "1" {
		t.Fatalf("DMSEG_REQUIRE_XLA=1 but no XLA CPU plugin found in %v: %s", engine.SearchDirs(), engine.InstallHint)
	} else {
		t.Logf("XLA CPU plugin not installed: testing the pure-Go backend only (%s)", engine.InstallHint)
	}
	return append(names, "go")
}

// ForEach runs fn as a subtest on every available backend.
func ForEach(t *testing.T, fn func(t *testing.T, b backends.Backend)) {
	for _, name := range Backends(t) {
		t.Run(name, func(t *testing.T) {
			b, _, err := engine.New(name)
			if err != nil {
				t.Fatalf("backend %s: %v", name, err)
			}
			fn(t, b)
		})
	}
}

// XLA returns the XLA CPU backend, or skips (fails under DMSEG_REQUIRE_XLA=1) when it is missing.
// For tests too slow for the pure-Go backend.
func XLA(t testing.TB) backends.Backend {
	t.Helper()
	if engine.FindPlugin("cpu") == "" {
		if os.Getenv("DMSEG_REQUIRE_XLA") == "1" {
			t.Fatalf("DMSEG_REQUIRE_XLA=1 but no XLA CPU plugin: %s", engine.InstallHint)
		}
		t.Skipf("XLA CPU plugin not installed: %s", engine.InstallHint)
	}
	b, _, err := engine.New("xla:cpu")
	if err != nil {
		t.Fatalf("xla:cpu: %v", err)
	}
	return b
}

// Package engine chooses and creates the GoMLX backend dmseg computes on.
//
// Names: "auto" (default), "xla:cpu", "xla:cuda", "go". "auto" takes the CUDA
// PJRT plugin when one is found, else the CPU plugin, else the pure-Go backend
// with a one-line warning. Plugins are never downloaded at run time: they are
// looked up in DMSEG_PJRT_DIR, PJRT_PLUGIN_LIBRARY_PATH, the project-local
// ".pjrt" folder (installed by `make setup`), next to the executable, and
// ~/.local/lib/go-xla, as files named pjrt_c_api_<name>_plugin.so.
package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/gomlx/go-xla/pkg/pjrt"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/backends/xla"
)

// EnvBackend is the environment variable read when no --backend flag is given.
const EnvBackend = "DMSEG_BACKEND"

// EnvPluginDir names an extra folder searched first for PJRT plugins.
const EnvPluginDir = "DMSEG_PJRT_DIR"

// Names lists the valid backend names.
var Names = []string{"auto", "xla:cpu", "xla:cuda", "go"}

// InstallHint tells how to get the XLA CPU plugin.
const InstallHint = "run `make setup` in the dmseg checkout (downloads the xla-cpu-pjrt wheel from PyPI, checks its sha256 " +
	"and installs .pjrt/pjrt_c_api_cpu_plugin.so), or point DMSEG_PJRT_DIR at a folder holding pjrt_c_api_cpu_plugin.so"

// CUDAHint tells how to get the CUDA plugin.
const CUDAHint = "install a CUDA PJRT plugin (e.g. pip's jax-cuda12-pjrt / jax-cuda13-pjrt hold xla_cuda_plugin.so) and " +
	"link it as pjrt_c_api_cuda_plugin.so into a folder named by DMSEG_PJRT_DIR or PJRT_PLUGIN_LIBRARY_PATH"

func init() {
	// Never let go-xla try to fetch plugins from the network.
	xla.EnableAutoInstall(false)
	_ = os.Setenv("GOMLX_NO_AUTO_INSTALL", "1")
}

// Info describes the backend that was chosen and why.
type Info struct {
	Requested     string `json:"requested"`      // what the user asked for ("auto", "xla:cpu", ...)
	Name          string `json:"name"`           // canonical name of the backend in use: "xla:cpu", "xla:cuda" or "go"
	Reason        string `json:"reason"`         // why this one
	PluginPath    string `json:"plugin_path"`    // absolute path of the PJRT plugin, "" for go
	PluginVersion string `json:"plugin_version"` // PJRT C API version the plugin reports, e.g. "0.81"
	Description   string `json:"description"`    // GoMLX's description of the backend
	Warning       string `json:"warning,omitempty"`
}

// String is the one-line form printed by every command: "backend=xla:cpu (PJRT 0.81, /path)".
func (i Info) String() string {
	if i.PluginPath != "" {
		return fmt.Sprintf("backend=%s (PJRT plugin v%s, %s)", i.Name, i.PluginVersion, i.PluginPath)
	}
	return fmt.Sprintf("backend=%s", i.Name)
}

// SearchDirs returns the folders searched for PJRT plugins, in order.
func SearchDirs() []string {
	var dirs []string
	add := func(d string) {
		if d == "" {
			return
		}
		if abs, err := filepath.Abs(d); err == nil {
			d = abs
		}
		for _, e := range dirs {
			if e == d {
				return
			}
		}
		dirs = append(dirs, d)
	}
	add(os.Getenv(EnvPluginDir))
	for _, d := range strings.Split(os.Getenv("PJRT_PLUGIN_LIBRARY_PATH"), ":") {
		add(d)
	}
	if root := ProjectRoot(); root != "" {
		add(filepath.Join(root, ".pjrt"))
	}
	if exe, err := os.Executable(); err == nil {
		exeDir := filepath.Dir(exe)
		add(filepath.Join(exeDir, ".pjrt"))
		add(filepath.Join(exeDir, "..", ".pjrt"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		add(filepath.Join(home, ".local", "lib", "go-xla"))
	}
	add("/usr/local/lib/go-xla")
	return dirs
}

// ProjectRoot walks up from the working directory to the folder holding dmseg's go.mod.
// It returns "" when not inside a checkout.
func ProjectRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(data), "module github.com/dmseg/dmseg") {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// FindPlugin returns the absolute path of pjrt_c_api_<name>_plugin.so, or "" when none is found.
func FindPlugin(name string) string {
	file := "pjrt_c_api_" + name + "_plugin.so"
	for _, d := range SearchDirs() {
		p := filepath.Join(d, file)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	return ""
}

var (
	mu    sync.Mutex
	cache = map[string]cached{}
)

type cached struct {
	b    backends.Backend
	info Info
}

// Resolve returns the requested name, falling back to $DMSEG_BACKEND, then $GOMLX_BACKEND, then "auto".
func Resolve(requested string) string {
	if requested == "" {
		requested = os.Getenv(EnvBackend)
	}
	if requested == "" {
		requested = os.Getenv("GOMLX_BACKEND")
	}
	if requested == "" {
		requested = "auto"
	}
	return requested
}

// New creates (once per process and name) the backend for the requested name; "" means
// $DMSEG_BACKEND, then $GOMLX_BACKEND, then "auto".
func New(requested string) (backends.Backend, Info, error) {
	requested = Resolve(requested)
	mu.Lock()
	defer mu.Unlock()
	if c, ok := cache[requested]; ok {
		return c.b, c.info, nil
	}
	b, info, err := create(requested)
	if err != nil {
		return nil, info, err
	}
	cache[requested] = cached{b, info}
	return b, info, nil
}

// MustNew is New that panics on error; for tests and notebooks.
func MustNew(requested string) (backends.Backend, Info) {
	b, info, err := New(requested)
	if err != nil {
		panic(err)
	}
	return b, info
}

func create(requested string) (backends.Backend, Info, error) {
	info := Info{Requested: requested}
	switch requested {
	case "auto":
		if p := FindPlugin("cuda"); p != "" {
			b, i, err := newXLA("cuda", p, requested, "auto: CUDA PJRT plugin found")
			if err == nil {
				return b, i, nil
			}
			info.Warning = fmt.Sprintf("CUDA plugin %s failed to load (%v); ", p, err)
		}
		if p := FindPlugin("cpu"); p != "" {
			b, i, err := newXLA("cpu", p, requested, "auto: XLA CPU PJRT plugin found")
			if err == nil {
				i.Warning = info.Warning
				return b, i, nil
			}
			info.Warning += fmt.Sprintf("CPU plugin %s failed to load (%v); ", p, err)
		}
		b, i, err := newGo(requested, "auto: no PJRT plugin found")
		if err != nil {
			return nil, i, err
		}
		i.Warning = info.Warning + "dmseg: using the slow pure-Go backend; for the fast XLA CPU backend " + InstallHint
		return b, i, nil
	case "xla:cpu", "xla:cuda":
		name := strings.TrimPrefix(requested, "xla:")
		p := FindPlugin(name)
		if p == "" {
			hint := InstallHint
			if name == "cuda" {
				hint = CUDAHint
			}
			return nil, info, fmt.Errorf("backend %q requested but no pjrt_c_api_%s_plugin.so found in %v: %s",
				requested, name, SearchDirs(), hint)
		}
		return newXLA(name, p, requested, "requested explicitly")
	case "go", "go:ops_sequential":
		return newGo(requested, "requested explicitly")
	default:
		return nil, info, fmt.Errorf("unknown backend %q: valid backends are %s", requested, strings.Join(Names, ", "))
	}
}

func newXLA(name, path, requested, reason string) (b backends.Backend, info Info, err error) {
	info = Info{Requested: requested, Name: "xla:" + name, Reason: reason, PluginPath: path}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("loading PJRT plugin %s panicked: %v", path, r)
		}
	}()
	config := path
	if name == "cpu" {
		config += ",shared_buffers"
	}
	xb, err := xla.NewWithOptions(config, nil)
	if err != nil {
		return nil, info, fmt.Errorf("loading PJRT plugin %s: %w", path, err)
	}
	if plugin, perr := pjrt.GetPlugin(path); perr == nil {
		major, minor := plugin.Version()
		info.PluginVersion = fmt.Sprintf("%d.%d", major, minor)
	}
	info.Description = xb.Description()
	return xb, info, nil
}

func newGo(requested, reason string) (backends.Backend, Info, error) {
	// The default parallel executor was seen to deadlock on repeated U-Net training steps:
	// run ops sequentially (matmuls still use all cores).
	b, err := simplego.New("ops_sequential")
	if err != nil {
		return nil, Info{Requested: requested}, err
	}
	return b, Info{Requested: requested, Name: "go", Reason: reason, Description: b.Description()}, nil
}

// Cores returns the number of CPU cores Go sees.
func Cores() int { return runtime.NumCPU() }

// ModuleVersion returns the version of a Go module compiled into the running
// binary (e.g. "github.com/gomlx/gomlx" -> "v0.26.0"), "(devel)" for the main
// module, or "unknown" without build information.
func ModuleVersion(path string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Path == path {
			return bi.Main.Version
		}
		for _, d := range bi.Deps {
			if d.Path == path {
				if d.Replace != nil {
					return d.Replace.Version
				}
				return d.Version
			}
		}
	}
	// Test binaries carry no dependency list: take the version go.mod requires.
	if root := ProjectRoot(); root != "" {
		if b, err := os.ReadFile(filepath.Join(root, "go.mod")); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
				if len(f) >= 2 && f[0] == path {
					return f[1]
				}
			}
		}
	}
	return "unknown"
}

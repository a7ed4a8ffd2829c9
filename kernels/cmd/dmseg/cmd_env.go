package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"

	"github.com/dmseg/dmseg/kernels/bench"
	"github.com/dmseg/dmseg/kernels/engine"
)

func init() {
	register("env", "report the compute backend, PJRT plugin, versions, cores and measured GFLOP/s", runEnv)
}

type envReport struct {
	Backend      engine.Info    `json:"backend"`
	Go           string         `json:"go"`
	GoMLX        string         `json:"gomlx"`
	GoXLA        string         `json:"go_xla"`
	Cores        int            `json:"cores"`
	SearchDirs   []string       `json:"plugin_search_dirs"`
	Measurements []bench.Timing `json:"measurements,omitempty"`
}

func runEnv(args []string) error {
	fs := newFlags("env", "[--backend NAME] [--quick] [--json]",
		`Prints which backend dmseg uses and why, the PJRT plugin (path and the PJRT C API version it
reports), the Go, GoMLX and go-xla versions, the number of cores, and measured speed: GFLOP/s of a
1024^3 float32 matmul and of a 3x3 convolution layer (64x64x32 -> 32, batch 16) forward and training
(forward + backward). --quick skips the measurements.`)
	backend := backendFlag(fs)
	quick := fs.Bool("quick", false, "skip the speed measurements")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	b, info, err := openBackend(*backend)
	if err != nil {
		return err
	}
	rep := envReport{Backend: info, Go: runtime.Version(), GoMLX: engine.ModuleVersion("github.com/gomlx/gomlx"),
		GoXLA: engine.ModuleVersion("github.com/gomlx/go-xla"), Cores: engine.Cores(), SearchDirs: engine.SearchDirs()}
	if !*quick {
		reps := 5
		if info.Name == "go" {
			reps = 1
		}
		rep.Measurements = append(rep.Measurements, bench.Matmul(b, 1024, reps))
		rep.Measurements = append(rep.Measurements, bench.ConvLayer(b, 16, 64, 32, reps, false))
		rep.Measurements = append(rep.Measurements, bench.ConvLayer(b, 16, 64, 32, reps, true))
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	fmt.Printf("backend:        %s (requested %q: %s)\n", info.Name, info.Requested, info.Reason)
	if info.PluginPath != "" {
		fmt.Printf("PJRT plugin:    %s\nPJRT C API:     v%s (go-xla %s speaks 0.83)\n", info.PluginPath, info.PluginVersion, rep.GoXLA)
	} else {
		fmt.Printf("PJRT plugin:    none (searched %v)\n", rep.SearchDirs)
	}
	fmt.Printf("description:    %s\n", info.Description)
	fmt.Printf("Go:             %s\nGoMLX:          %s\ncores:          %d\n", rep.Go, rep.GoMLX, rep.Cores)
	for _, m := range rep.Measurements {
		fmt.Printf("%-58s %9.2f ms  %8.2f GFLOP/s\n", m.Name+":", m.Seconds*1e3, m.GFLOPs)
	}
	return nil
}

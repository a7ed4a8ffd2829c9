package bench

import (
	"fmt"
	"os"
	"strings"
)

// Host describes the CPU a measurement ran on: speeds are comparable only
// as ratios within one run, and only on the same kind of host (an AVX-512 /
// AMX Xeon runs PyTorch's oneDNN kernels far faster than an older one).
type Host struct {
	Model   string   `json:"cpu_model"`
	Flags   []string `json:"cpu_flags"` // the vector extensions that matter here, of avx2, avx512f, avx512_bf16, amx_tile
	LoadAvg string   `json:"load_average"`
}

// String is one line for a report.
func (h Host) String() string {
	f := "none of avx2/avx512f/amx"
	if len(h.Flags) > 0 {
		f = strings.Join(h.Flags, " ")
	}
	return fmt.Sprintf("CPU %s (%s), load average %s", h.Model, f, h.LoadAvg)
}

// ReadHost reads /proc/cpuinfo and /proc/loadavg (unknown fields stay "unknown").
func ReadHost() Host {
	cpu, _ := os.ReadFile("/proc/cpuinfo")
	load, _ := os.ReadFile("/proc/loadavg")
	return ParseHost(string(cpu), string(load))
}

// ParseHost extracts a Host from the text of /proc/cpuinfo and /proc/loadavg.
func ParseHost(cpuinfo, loadavg string) Host {
	h := Host{Model: "unknown", LoadAvg: "unknown"}
	var flags map[string]bool
	for _, line := range strings.Split(cpuinfo, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "model name":
			if h.Model == "unknown" {
				h.Model = strings.TrimSpace(v)
			}
		case "flags":
			if flags == nil {
				flags = map[string]bool{}
				for _, f := range strings.Fields(v) {
					flags[f] = true
				}
			}
		}
	}
	for _, f := range []string{"avx2", "avx512f", "avx512_bf16", "amx_tile"} {
		if flags[f] {
			h.Flags = append(h.Flags, f)
		}
	}
	if f := strings.Fields(loadavg); len(f) >= 3 {
		h.LoadAvg = strings.Join(f[:3], " ")
	}
	return h
}

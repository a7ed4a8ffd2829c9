package bench

import (
	"strings"
	"testing"
)

func TestParseHost(t *testing.T) {
	cpu := "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu sse avx2 avx512f amx_tile amx_bf16\n\n" +
		"processor\t: 1\nmodel name\t: Other\nflags\t\t: fpu\n"
	h := ParseHost(cpu, "0.52 1.10 1.98 3/400 123\n")
	if h.Model != "Intel(R) Xeon(R) Processor" || strings.Join(h.Flags, ",") != "avx2,avx512f,amx_tile" || h.LoadAvg != "0.52 1.10 1.98" {
		t.Fatalf("%+v", h)
	}
	if !strings.Contains(h.String(), "amx_tile") {
		t.Error(h.String())
	}
	e := ParseHost("", "")
	if e.Model != "unknown" || e.LoadAvg != "unknown" || len(e.Flags) != 0 || !strings.Contains(e.String(), "none of") {
		t.Fatalf("%+v %s", e, e)
	}
}

package bench

import (
	"strings"
	"testing"

	"github.com/dmseg/dmseg/kernels/engine/enginetest"
)

// The data-parallel timing runs the real training loop on 1 and 2 devices of
// the XLA CPU plugin with a conditional tiny U-Net and reports positive
// rates relative to one device; a batch that does not split is an error.
func TestDataParallelTiny(t *testing.T) {
	b := enginetest.XLA(t)
	if b.NumDevices() < 2 {
		t.Skipf("backend exposes %d device(s)", b.NumDevices())
	}
	ts, err := DataParallel(b, "unet-tiny-concat", 4, 3, []int{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2 || ts[0].Speedup != 1 || ts[1].Devices != 2 || !(ts[1].StepSec > 0) || !(ts[1].ImgS > 0) {
		t.Fatalf("%+v", ts)
	}
	if md := ParallelMarkdown(ts); strings.Count(md, "unet-tiny-concat") != 2 {
		t.Error(md)
	}
	if _, err := DataParallel(b, "unet-tiny-concat", 3, 3, []int{2}); err == nil || !strings.Contains(err.Error(), "multiple") {
		t.Errorf("batch 3 on 2 devices: %v", err)
	}
}

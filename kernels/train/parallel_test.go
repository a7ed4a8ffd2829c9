package train

import (
	"io"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmseg/dmseg/kernels/engine/enginetest"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Data-parallel training (Options.Devices) on 2 and 4 devices of the XLA CPU
// plugin equals single-device training: the same losses, gradient norms and
// final variables (EMA and Adam state included) within float tolerance,
// in-graph noise included; a batch that does not split, more devices than
// the backend has, and resuming on another device count are refused.
func TestDataParallelEqualsSingleDevice(t *testing.T) {
	b := enginetest.XLA(t)
	if b.NumDevices() < 4 {
		t.Skipf("backend exposes %d device(s), need 4", b.NumDevices())
	}
	cfg := Config{Steps: 8, BatchSize: 16, Seed: 7, ClipNorm: 0.5, EMADecay: 0.9, LR: LRConfig{LR: 0.05}}
	run := func(devices int) (*context.Context, []LossRow, string) {
		dir := t.TempDir()
		ctx := context.New()
		res, err := Run(b, ctx, noisyRegression, BatchFunc(regressionBatches), cfg, Options{OutDir: dir, Progress: io.Discard, Devices: devices})
		if err != nil {
			t.Fatalf("%d devices: %v", devices, err)
		}
		if !res.Done {
			t.Fatalf("%d devices: %+v", devices, res)
		}
		rows, err := ReadLossCSV(filepath.Join(dir, LossCSVFile))
		if err != nil || len(rows) != 8 {
			t.Fatalf("%d devices: %d rows, %v", devices, len(rows), err)
		}
		return ctx, rows, dir
	}
	ctx1, rows1, _ := run(1)
	want := map[string][]float32{}
	for v := range ctx1.IterVariables() {
		if v.MustValue().DType() == dtypes.Float32 {
			want[v.ScopeAndName()] = tensors.MustCopyFlatData[float32](v.MustValue())
		}
	}
	if len(want) < 10 {
		t.Fatalf("only %d float32 variables", len(want))
	}
	for _, n := range []int{2, 4} {
		ctx, rows, _ := run(n)
		for i := range rows1 {
			if d := math.Abs(rows[i].Loss - rows1[i].Loss); d > 1e-5*math.Max(1, math.Abs(rows1[i].Loss)) {
				t.Errorf("%d devices, step %d: loss %v vs %v", n, i+1, rows[i].Loss, rows1[i].Loss)
			}
			if d := math.Abs(rows[i].GradNorm - rows1[i].GradNorm); d > 1e-4*math.Max(1, rows1[i].GradNorm) {
				t.Errorf("%d devices, step %d: gradient norm %v vs %v", n, i+1, rows[i].GradNorm, rows1[i].GradNorm)
			}
		}
		seen := 0
		for v := range ctx.IterVariables() {
			w, ok := want[v.ScopeAndName()]
			if !ok {
				continue
			}
			seen++
			got := tensors.MustCopyFlatData[float32](v.MustValue())
			for k := range w {
				if d := math.Abs(float64(got[k] - w[k])); d > 1e-4*math.Max(1, math.Abs(float64(w[k]))) {
					t.Errorf("%d devices: %s[%d] = %v, single device %v", n, v.ScopeAndName(), k, got[k], w[k])
					break
				}
			}
		}
		if seen != len(want) {
			t.Errorf("%d devices: %d of %d variables compared", n, seen, len(want))
		}
	}
	for _, c := range []struct {
		devices int
		msg     string
	}{{3, "multiple of the number of devices"}, {b.NumDevices() * 2, "exposes"}} {
		_, err := Run(b, context.New(), noisyRegression, BatchFunc(regressionBatches), cfg, Options{OutDir: t.TempDir(), Progress: io.Discard, Devices: c.devices})
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("--devices %d: %v, want an error with %q", c.devices, err, c.msg)
		}
	}
	dir := t.TempDir()
	if _, err := Run(b, context.New(), noisyRegression, BatchFunc(regressionBatches), cfg, Options{OutDir: dir, Progress: io.Discard, Devices: 2, StopAtStep: 3}); err != nil {
		t.Fatal(err)
	}
	_, err := Run(b, context.New(), noisyRegression, BatchFunc(regressionBatches), cfg, Options{OutDir: dir, Progress: io.Discard, Resume: true})
	if err == nil || !strings.Contains(err.Error(), "2 device(s)") {
		t.Errorf("resume of a 2-device run on 1 device: %v", err)
	}
	if _, err := Run(b, context.New(), noisyRegression, BatchFunc(regressionBatches), cfg, Options{OutDir: dir, Progress: io.Discard, Resume: true, Devices: 2}); err != nil {
		t.Errorf("resume on the same 2 devices: %v", err)
	}
}

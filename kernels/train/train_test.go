package train

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmseg/dmseg/kernels/engine/enginetest"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// quadLoss: L = 0.5 * sum(a * w^2) with w a 3-vector initialised to w0;
// dL/dw = a*w, so Adam can be replayed by hand in float64.
func quadLoss(w0 []float32) LossFn {
	return func(ctx *context.Context, batch []*Node) *Node {
		w := ctx.In("quad").VariableWithValue("w", w0).ValueGraph(batch[0].Graph())
		a := batch[0]
		return MulScalar(ReduceAllSum(Mul(a, Square(w))), 0.5)
	}
}

func TestAdamClipEMAMatchHandComputation(t *testing.T) {
	for _, warmup := range []bool{false, true} {
		t.Run(fmt.Sprintf("ema_warmup=%v", warmup), func(t *testing.T) { testAdamClipEMA(t, warmup) })
	}
}

func testAdamClipEMA(t *testing.T, warmup bool) {
	enginetest.ForEach(t, func(t *testing.T, b backends.Backend) {
		w0 := []float32{1.5, -2, 0.25}
		// a changes with the step so that gradient norms go above and below the clip threshold.
		aOf := func(step int64) []float32 {
			s := float32(step)
			return []float32{1 + 0.5*s, 3 / s, 0.2 * s * s}
		}
		cfg := Config{Steps: 6, BatchSize: 1, LR: LRConfig{Schedule: "linear", LR: 0.1, LRFinal: 0.01},
			ClipNorm: 4.2, EMADecay: 0.8, EMAWarmup: warmup, Seed: 1}
		ctx := context.New()
		dir := t.TempDir()
		res, err := Run(b, ctx, quadLoss(w0), BatchFunc(func(step int64) ([]*tensors.Tensor, error) {
			return []*tensors.Tensor{tensors.FromValue(aOf(step))}, nil
		}), cfg, Options{OutDir: dir, Progress: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		if res.Step != 6 || !res.Done {
			t.Fatalf("result %+v", res)
		}
		// Hand replay in float64.
		w := []float64{1.5, -2, 0.25}
		m, v, ema := make([]float64, 3), make([]float64, 3), make([]float64, 3)
		clipped := 0
		rows, err := ReadLossCSV(filepath.Join(dir, LossCSVFile))
		if err != nil {
			t.Fatal(err)
		}
		for step := int64(1); step <= 6; step++ {
			a := aOf(step)
			g := make([]float64, 3)
			loss, n2 := 0.0, 0.0
			for i := range w {
				g[i] = float64(a[i]) * w[i]
				loss += 0.5 * float64(a[i]) * w[i] * w[i]
				n2 += g[i] * g[i]
			}
			norm := math.Sqrt(n2)
			scale := math.Min(1, 4.2/(norm+1e-6))
			if scale < 1 {
				clipped++
			}
			r := rows[step-1]
			if math.Abs(r.Loss-loss) > 1e-5*math.Max(1, loss) || math.Abs(r.GradNorm-norm) > 1e-5*math.Max(1, norm) {
				t.Errorf("step %d: loss %v grad_norm %v, want %v %v", step, r.Loss, r.GradNorm, loss, norm)
			}
			lr := 0.1 + (0.01-0.1)*float64(step-1)/5
			if math.Abs(r.LR-lr) > 1e-7 {
				t.Errorf("step %d: lr %v want %v", step, r.LR, lr)
			}
			for i := range w {
				gi := g[i] * scale
				m[i] = 0.9*m[i] + 0.1*gi
				v[i] = 0.999*v[i] + 0.001*gi*gi
				mh := m[i] / (1 - math.Pow(0.9, float64(step)))
				vh := v[i] / (1 - math.Pow(0.999, float64(step)))
				w[i] -= lr * mh / (math.Sqrt(vh) + 1e-8)
				d := 0.8
				if warmup { // (1+s)/(10+s) with s = step-1 earlier updates: below 0.8 for all 6 steps
					d = math.Min(d, float64(step)/float64(step+9))
				}
				if step == 1 {
					ema[i] = w[i]
				} else {
					ema[i] = d*ema[i] + (1-d)*w[i]
				}
			}
		}
		if clipped == 0 || clipped == 6 {
			t.Fatalf("test design: want some clipped and some unclipped steps, got %d clipped (norms in loss.csv: %v)", clipped, rows)
		}
		got := tensors.MustCopyFlatData[float32](ctx.GetVariableByScopeAndName("/quad", "w").MustValue())
		gotE := tensors.MustCopyFlatData[float32](ctx.GetVariableByScopeAndName("/train/ema/quad", "w").MustValue())
		for i := range w {
			if math.Abs(float64(got[i])-w[i]) > 2e-5 {
				t.Errorf("w[%d] = %v, hand Adam gives %v", i, got[i], w[i])
			}
			if math.Abs(float64(gotE[i])-ema[i]) > 2e-5 {
				t.Errorf("ema[%d] = %v, hand EMA gives %v", i, gotE[i], ema[i])
			}
		}
		// UseEMA swaps the EMA into the parameters.
		if err := UseEMA(ctx); err != nil {
			t.Fatal(err)
		}
		got = tensors.MustCopyFlatData[float32](ctx.GetVariableByScopeAndName("/quad", "w").MustValue())
		for i := range w {
			if got[i] != gotE[i] {
				t.Fatalf("UseEMA: w[%d]=%v, ema %v", i, got[i], gotE[i])
			}
		}
	})
}

// noisyRegression: a 2-layer net on a fixed regression problem plus
// in-graph noise (exercises the RNG state in checkpoints).
func noisyRegression(ctx *context.Context, batch []*Node) *Node {
	x, y := batch[0], batch[1]
	g := x.Graph()
	w1 := ctx.In("l1").VariableWithShape("w", shapes.Make(dtypes.Float32, 4, 8)).ValueGraph(g)
	b1 := ctx.In("l1").VariableWithShape("b", shapes.Make(dtypes.Float32, 8)).ValueGraph(g)
	w2 := ctx.In("l2").VariableWithShape("w", shapes.Make(dtypes.Float32, 8, 1)).ValueGraph(g)
	h := Tanh(Add(Dot(x, w1), Reshape(b1, 1, 8)))
	out := Dot(h, w2)
	noise := MulScalar(ctx.RandomNormal(g, y.Shape()), 0.1)
	return ReduceAllMean(Square(Sub(out, Add(y, noise))))
}

func regressionBatches(step int64) ([]*tensors.Tensor, error) {
	x := make([]float32, 16*4)
	y := make([]float32, 16)
	for i := range y {
		s := 0.0
		for j := 0; j < 4; j++ {
			v := math.Sin(float64(step*131+int64(i*7+j*3)) * 0.37)
			x[i*4+j] = float32(v)
			s += v * float64(j+1)
		}
		y[i] = float32(math.Sin(s))
	}
	return []*tensors.Tensor{tensors.FromFlatDataAndDimensions(x, 16, 4), tensors.FromFlatDataAndDimensions(y, 16, 1)}, nil
}

func allVars(t *testing.T, ctx *context.Context) map[string][]byte {
	out := map[string][]byte{}
	for v := range ctx.IterVariables() {
		v.MustValue().ConstBytes(func(b []byte) { out[v.ScopeAndName()] = append([]byte{}, b...) })
	}
	return out
}

func TestResumeIsBitIdentical(t *testing.T) {
	enginetest.ForEach(t, func(t *testing.T, b backends.Backend) {
		const N = 12
		cfg := Config{Steps: N, BatchSize: 16, Seed: 7, ClipNorm: 0.5, EMADecay: 0.9,
			LR: LRConfig{Schedule: "plateau", LR: 0.05, PlateauWindow: 2, PlateauPatience: 1, PlateauFactor: 0.5, PlateauThreshold: 0.5}}
		oneDir, twoDir := t.TempDir(), t.TempDir()
		ctx1 := context.New()
		if _, err := Run(b, ctx1, noisyRegression, BatchFunc(regressionBatches), cfg, Options{OutDir: oneDir, Progress: io.Discard}); err != nil {
			t.Fatal(err)
		}
		ctxA := context.New()
		res, err := Run(b, ctxA, noisyRegression, BatchFunc(regressionBatches), cfg, Options{OutDir: twoDir, Progress: io.Discard, StopAtStep: N / 2})
		if err != nil {
			t.Fatal(err)
		}
		if res.Done || res.Step != N/2 {
			t.Fatalf("first half: %+v", res)
		}
		ctxB := context.New()
		res, err = Run(b, ctxB, noisyRegression, BatchFunc(regressionBatches), cfg, Options{OutDir: twoDir, Progress: io.Discard, Resume: true})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Done || !res.Resumed || res.ResumedFrom != N/2 {
			t.Fatalf("resumed half: %+v", res)
		}
		want, got := allVars(t, ctx1), allVars(t, ctxB)
		if len(want) != len(got) || len(want) < 10 {
			t.Fatalf("variable sets differ: %d vs %d", len(want), len(got))
		}
		for name, w := range want {
			if string(got[name]) != string(w) {
				t.Errorf("variable %s differs after resume", name)
			}
		}
		// The plateau schedule must actually have reduced the rate, and the loss curves agree row by row.
		r1, _ := ReadLossCSV(filepath.Join(oneDir, LossCSVFile))
		r2, _ := ReadLossCSV(filepath.Join(twoDir, LossCSVFile))
		if len(r1) != N || len(r2) != N {
			t.Fatalf("loss.csv rows: %d and %d, want %d", len(r1), len(r2), N)
		}
		for i := range r1 {
			if r1[i].Loss != r2[i].Loss || r1[i].LR != r2[i].LR || r1[i].GradNorm != r2[i].GradNorm {
				t.Errorf("row %d: %v vs %v", i, r1[i].line, r2[i].line)
			}
		}
		if r1[N-1].LR >= cfg.LR.LR {
			t.Errorf("plateau schedule never reduced the rate (last lr %v)", r1[N-1].LR)
		}
		// Both checkpoints hash to the same weights.
		c1, err := ReadCheckpoint(filepath.Join(oneDir, CheckpointFile))
		if err != nil {
			t.Fatal(err)
		}
		c2, err := ReadCheckpoint(filepath.Join(twoDir, CheckpointFile))
		if err != nil {
			t.Fatal(err)
		}
		if c1.WeightsSHA256() != c2.WeightsSHA256() {
			t.Errorf("weights_sha256 differ: %s vs %s", c1.WeightsSHA256(), c2.WeightsSHA256())
		}
		if _, err := os.Stat(filepath.Join(oneDir, LossPNGFile)); err != nil {
			t.Errorf("loss.png not written: %v", err)
		}
	})
}

func TestResumeRefusesDifferentConfig(t *testing.T) {
	b := enginetest.XLA(t)
	cfg := Config{Steps: 4, BatchSize: 16, Seed: 7, LR: LRConfig{LR: 0.01}}
	dir := t.TempDir()
	if _, err := Run(b, context.New(), noisyRegression, BatchFunc(regressionBatches), cfg, Options{OutDir: dir, Progress: io.Discard, StopAtStep: 2}); err != nil {
		t.Fatal(err)
	}
	cfg.LR.LR = 0.02
	_, err := Run(b, context.New(), noisyRegression, BatchFunc(regressionBatches), cfg, Options{OutDir: dir, Progress: io.Discard, Resume: true})
	if err == nil || !strings.Contains(err.Error(), "different training config") {
		t.Fatalf("want a config-mismatch error, got %v", err)
	}
}

// --resume refuses another backend than the checkpoint's and a loss history
// that was shortened, deleted or edited; the untouched history resumes.
func TestResumeRefusesOtherBackendAndChangedHistory(t *testing.T) {
	b := enginetest.XLA(t)
	cfg := Config{Steps: 6, BatchSize: 16, Seed: 7, LR: LRConfig{LR: 0.01}, LogEvery: 2}
	dir := t.TempDir()
	opts := Options{OutDir: dir, Progress: io.Discard, StopAtStep: 4, Extra: map[string]string{"backend": "xla:cpu"}}
	if _, err := Run(b, context.New(), noisyRegression, BatchFunc(regressionBatches), cfg, opts); err != nil {
		t.Fatal(err)
	}
	csv := filepath.Join(dir, LossCSVFile)
	good, _ := os.ReadFile(csv)
	resume := func(backend string) error {
		o := Options{OutDir: dir, Progress: io.Discard, Resume: true, StopAtStep: 4, Extra: map[string]string{"backend": backend}}
		_, err := Run(b, context.New(), noisyRegression, BatchFunc(regressionBatches), cfg, o)
		return err
	}
	if err := resume("go"); err == nil || !strings.Contains(err.Error(), "written on backend xla:cpu") {
		t.Errorf("other backend: %v", err)
	}
	lines := strings.SplitAfter(string(good), "\n") // header, step 2, step 4, ""
	for name, content := range map[string]string{
		"shortened": lines[0] + lines[1],
		"gap":       lines[0] + lines[2],
	} {
		os.WriteFile(csv, []byte(content), 0o644)
		if err := resume("xla:cpu"); err == nil || !strings.Contains(err.Error(), "loss history") {
			t.Errorf("%s history: %v", name, err)
		}
	}
	os.Remove(csv)
	if err := resume("xla:cpu"); err == nil || !strings.Contains(err.Error(), "is missing") {
		t.Errorf("deleted history: %v", err)
	}
	os.WriteFile(csv, good, 0o644)
	stale := filepath.Join(dir, ".checkpoint.dmck.tmp123")
	os.WriteFile(stale, []byte("half a checkpoint"), 0o644)
	if err := resume("xla:cpu"); err != nil {
		t.Errorf("untouched history: %v", err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Error("a stale temporary file of an interrupted write was kept")
	}
}

func TestNaNGuardKeepsLastGoodCheckpoint(t *testing.T) {
	enginetest.ForEach(t, func(t *testing.T, b backends.Backend) {
		w0 := []float32{1, 2, 3}
		cfg := Config{Steps: 10, BatchSize: 1, LR: LRConfig{LR: 0.1}, CheckpointEvery: 2, Seed: 3}
		dir := t.TempDir()
		ctx := context.New()
		var before []float32
		_, err := Run(b, ctx, quadLoss(w0), BatchFunc(func(step int64) ([]*tensors.Tensor, error) {
			a := float32(1)
			if step == 5 {
				a = float32(math.NaN())
				before = tensors.MustCopyFlatData[float32](ctx.GetVariableByScopeAndName("/quad", "w").MustValue())
			}
			return []*tensors.Tensor{tensors.FromValue([]float32{a, a, a})}, nil
		}), cfg, Options{OutDir: dir, Progress: io.Discard})
		if !errors.Is(err, ErrNonFinite) {
			t.Fatalf("want ErrNonFinite, got %v", err)
		}
		if !strings.Contains(err.Error(), "step 5") || !strings.Contains(err.Error(), "(step 4)") {
			t.Errorf("error should name the bad step and the kept checkpoint: %v", err)
		}
		after := tensors.MustCopyFlatData[float32](ctx.GetVariableByScopeAndName("/quad", "w").MustValue())
		for i := range after {
			if after[i] != before[i] || math.IsNaN(float64(after[i])) {
				t.Fatalf("NaN step changed the weights: %v -> %v", before, after)
			}
		}
		ck, err := ReadCheckpoint(filepath.Join(dir, CheckpointFile))
		if err != nil {
			t.Fatal(err)
		}
		if ck.Step != 4 {
			t.Errorf("kept checkpoint at step %d, want 4", ck.Step)
		}
		stepT := ck.Tensor("/train/step")
		if stepT == nil || tensors.ToScalar[int64](stepT) != 4 {
			t.Errorf("in-graph step counter in checkpoint: %v", stepT)
		}
	})
}

func TestCheckpointDetectsFlippedByte(t *testing.T) {
	b := enginetest.XLA(t)
	dir := t.TempDir()
	cfg := Config{Steps: 2, BatchSize: 16, Seed: 1, LR: LRConfig{LR: 0.01}}
	if _, err := Run(b, context.New(), noisyRegression, BatchFunc(regressionBatches), cfg, Options{OutDir: dir, Progress: io.Discard}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, CheckpointFile)
	raw, _ := os.ReadFile(p)
	if _, err := ReadCheckpoint(p); err != nil {
		t.Fatal(err)
	}
	for _, pos := range []int{20, len(raw) / 2, len(raw) - 40} {
		mod := append([]byte{}, raw...)
		mod[pos] ^= 0x01
		q := filepath.Join(dir, "flipped.dmck")
		os.WriteFile(q, mod, 0o644)
		_, err := ReadCheckpoint(q)
		if err == nil || !strings.Contains(err.Error(), "flipped.dmck") {
			t.Errorf("byte %d flipped: want an error naming the file, got %v", pos, err)
		}
	}
}

func TestLRSchedules(t *testing.T) {
	lin := LRConfig{Schedule: "linear", LR: 1e-5, LRFinal: 1e-7}
	s := NewLRState(lin)
	if r := lin.Rate(&s, 1, 101); r != 1e-5 {
		t.Errorf("linear first %v", r)
	}
	if r := lin.Rate(&s, 101, 101); math.Abs(r-1e-7) > 1e-20 {
		t.Errorf("linear last %v", r)
	}
	if r := lin.Rate(&s, 51, 101); math.Abs(r-(1e-5+1e-7)/2) > 1e-18 {
		t.Errorf("linear middle %v", r)
	}
	pl := LRConfig{Schedule: "plateau", LR: 1, PlateauWindow: 2, PlateauPatience: 2, PlateauFactor: 0.1, PlateauThreshold: 0.01, PlateauMinLR: 0.005}
	s = NewLRState(pl)
	// windows: mean 10 (best), 9 (better), 9 (bad 1), 9.5 (bad 2 -> reduce), 5 (better), 5 (bad), 5 (bad -> reduce, clamp)
	for _, l := range []float64{10, 10, 8, 10, 9, 9, 9, 10} {
		pl.Observe(&s, l)
	}
	if s.Current != 0.1 || s.Reduction != 1 {
		t.Errorf("after first plateau: lr %v reductions %d", s.Current, s.Reduction)
	}
	for _, l := range []float64{5, 5, 5, 5, 5, 5} {
		pl.Observe(&s, l)
	}
	if math.Abs(s.Current-0.01) > 1e-15 || s.Reduction != 2 {
		t.Errorf("after second plateau: lr %v reductions %d", s.Current, s.Reduction)
	}
	for _, l := range []float64{5, 5, 5, 5} {
		pl.Observe(&s, l)
	}
	if s.Current != 0.005 {
		t.Errorf("min lr clamp: %v", s.Current)
	}
	if err := (LRConfig{Schedule: "cosine", LR: 1}).Validate(); err == nil {
		t.Error("unknown schedule accepted")
	}
}

func TestEpochBudget(t *testing.T) {
	c := Config{Epochs: 2.5, StepsPerEpoch: 10, BatchSize: 4, LR: LRConfig{LR: 1e-3}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := c.withDefaults().Steps; got != 25 {
		t.Errorf("2.5 epochs of 10 steps = %d steps, want 25", got)
	}
	c.Steps = 7 // an explicit step budget wins
	if got := c.withDefaults().Steps; got != 7 {
		t.Errorf("explicit steps: %d", got)
	}
	if err := (Config{Epochs: 3, BatchSize: 4, LR: LRConfig{LR: 1e-3}}).Validate(); err == nil || !strings.Contains(err.Error(), "steps_per_epoch") {
		t.Errorf("epochs without steps_per_epoch: %v", err)
	}
}

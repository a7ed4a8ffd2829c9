package ddpmuncond

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmseg/dmseg/kernels/artifacts"
	"github.com/dmseg/dmseg/kernels/engine"
	"github.com/dmseg/dmseg/kernels/engine/enginetest"
	"github.com/dmseg/dmseg/kernels/experiments"
	"github.com/dmseg/dmseg/kernels/metrics/quality"
	"github.com/dmseg/dmseg/kernels/runners"
	"github.com/dmseg/dmseg/kernels/train"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// The tiny experiment end to end: train -> artifact with the resolved config ->
// verified load -> deterministic sampling -> an evaluation record beside the
// artifact -> re-sampling matches it -> tampering is refused, naming the file.
func TestTinyExperimentEndToEnd(t *testing.T) {
	b := enginetest.XLA(t)
	e, _ := experiments.Get("ch2-ddpm-uncond-tiny")
	root := t.TempDir()
	r, err := runners.Get(e.Kind)
	if err != nil {
		t.Fatal(err)
	}
	info := engine.Info{Name: "xla:cpu"}
	res, err := r.Train(e, runners.TrainOptions{Backend: b, Info: info, WorkDir: filepath.Join(root, "run"),
		ArtifactsRoot: filepath.Join(root, "art"), Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if res.Artifact == nil || !res.Train.Done {
		t.Fatalf("no artifact: %+v", res.Train)
	}
	m := res.Artifact.Manifest
	if m.Format != artifacts.Format || len(m.Dataset.PixelsSHA256) != 64 || m.Seeds["train"] != 3 || m.Metrics["steps"] != 6 || m.WeightsSHA256 == "" {
		t.Errorf("manifest incomplete: %+v", m)
	}
	if m.GoMLX == "" || m.GoMLX == "unknown" || !strings.HasPrefix(m.GoMLX, "v") {
		t.Errorf("GoMLX version not from build info: %q", m.GoMLX)
	}
	// The recorded config is the resolved one: Adam's defaults are filled in, no DiT block for a U-Net.
	var raw map[string]any
	json.Unmarshal(m.Config, &raw)
	tr := raw["experiment"].(map[string]any)["train"].(map[string]any)
	if tr["adam_beta1"] != 0.9 || tr["adam_beta2"] != 0.999 || tr["adam_eps"] != 1e-8 {
		t.Errorf("recorded train config is not resolved: %v", tr)
	}
	mc := raw["model_config"].(map[string]any)
	if _, ok := mc["dit"]; ok {
		t.Errorf("U-Net config records a DiT block: %v", mc)
	}
	if _, ok := mc["model_channels"]; ok || mc["unet"] == nil {
		t.Errorf("model config keys: %v", mc)
	}
	if diffs, err := experiments.CheckRecorded(m.Config); err != nil || len(diffs) != 0 {
		t.Errorf("CheckRecorded on a fresh manifest: %v %v", diffs, err)
	}

	a, err := artifacts.Open(filepath.Join(root, "art"), "ch2-ddpm-uncond-tiny")
	if err != nil {
		t.Fatal(err)
	}
	// The artifact keeps the EMA weights only: every stored variable equals the EMA copy
	// (or, for variables without one, the variable) of the full training checkpoint.
	full, err := train.ReadCheckpoint(filepath.Join(root, "run", train.CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	exp, err := a.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	if isExp, ema := exp.SamplingExport(); !isExp || !ema || len(exp.Vars) >= len(full.Vars) {
		t.Fatalf("artifact weights: export=%v ema=%v, %d of %d variables", isExp, ema, len(exp.Vars), len(full.Vars))
	}
	nEMA := 0
	for _, r := range exp.Vars {
		if strings.HasPrefix(r.Name, "/train/") {
			t.Errorf("optimiser/trainer variable %s in the artifact", r.Name)
		}
		if r.DType != "Float32" {
			continue
		}
		want := full.Tensor(r.Name)
		if r.Trainable {
			if e := full.Tensor("/train/ema" + r.Name); e != nil {
				want = e
				nEMA++
			}
		}
		if fmt.Sprint(tensors.MustCopyFlatData[float32](exp.Tensor(r.Name))) != fmt.Sprint(tensors.MustCopyFlatData[float32](want)) {
			t.Errorf("variable %s differs from its EMA value", r.Name)
		}
	}
	if nEMA == 0 {
		t.Error("no variable was compared with its EMA copy")
	}
	l, err := Load(a)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.CheckData(); err != nil {
		t.Fatalf("same code, same data: %v", err)
	}
	s, err := l.NewSampler(b, "ddim", 0)
	if err != nil {
		t.Fatal(err)
	}
	x1, _ := s.Sample(3, 5, nil)
	x2, _ := s.Sample(3, 5, nil)
	x3, _ := s.Sample(3, 6, nil)
	v1, v2, v3 := tensors.MustCopyFlatData[float32](x1), tensors.MustCopyFlatData[float32](x2), tensors.MustCopyFlatData[float32](x3)
	same, diff := true, false
	for i := range v1 {
		same = same && v1[i] == v2[i]
		diff = diff || v1[i] != v3[i]
	}
	if !same || !diff {
		t.Errorf("sampling: same seed identical=%v, other seed differs=%v", same, diff)
	}
	// StateHF: one entry for x_T and one per step; x_T is unit white noise (its
	// energy is quality.WhiteNoiseHF); the last entry is the
	// returned sample's, against the clean images' energy.
	ddimSpec, _ := l.Spec("ddim", 0, -1, "")
	hf, final, err := l.StateHF(b, ddimSpec, 6, 9, 0.05)
	if err != nil {
		t.Fatal(err)
	}
	sz := l.ImageSize()
	if len(hf) != ddimSpec.Steps+1 || hf[0].T != s.Timesteps()[0] || hf[len(hf)-1].T != -1 || len(final) != 6*sz*sz {
		t.Fatalf("StateHF: %d entries (want %d), first t %d, last t %d", len(hf), ddimSpec.Steps+1, hf[0].T, hf[len(hf)-1].T)
	}
	if r := hf[0].HF / quality.WhiteNoiseHF; r < 0.85 || r > 1.15 || hf[0].Ratio != hf[0].HF/hf[0].Marginal {
		t.Errorf("x_T is white noise: HF %.3f, want about %d; entry %+v", hf[0].HF, quality.WhiteNoiseHF, hf[0])
	}
	wantHF := 0.0
	for i := 0; i < 6; i++ {
		wantHF += quality.HighFrequencyEnergy(final[i*sz*sz:(i+1)*sz*sz], sz, sz) / 6
	}
	if last := hf[len(hf)-1]; math.Abs(last.HF-wantHF) > 1e-9 || last.Abar != 1 || last.Marginal != 0.05 {
		t.Errorf("final StateHF entry %+v, sample energy %g", last, wantHF)
	}
	if _, err := l.NewSampler(b, "ddpm", 7); err == nil {
		t.Error("ddpm sampler accepted steps != T")
	}
	if _, err := l.Spec("ddim", 0, 0.5, "nope"); err != nil {
		t.Fatal(err) // the spec is resolved lazily; NewSamplerSpec validates the spacing
	}
	if sp, _ := l.Spec("ddim", 0, 0.5, "nope"); func() error { _, err := l.NewSamplerSpec(b, sp); return err }() == nil {
		t.Error("unknown spacing accepted")
	}
	// DDIM overrides replace only what they set.
	one, neg := 1.0, -0.5
	def, _ := l.DDIMSpec(runners.DDIMOverride{})
	if sp, err := l.DDIMSpec(runners.DDIMOverride{Steps: 7, ClipX0: &one}); err != nil || sp.Steps != 7 || sp.ClipX0 != 1 || sp.Eta != def.Eta || sp.Spacing != def.Spacing {
		t.Errorf("override: %+v %v (defaults %+v)", sp, err, def)
	}
	if _, err := l.DDIMSpec(runners.DDIMOverride{Eta: &neg}); err == nil {
		t.Error("negative eta accepted")
	}

	// Evaluation record.
	o := runners.EvalOptions{Backend: b, Info: info, N: 12, Batch: 4, Log: io.Discard}
	ev, err := r.Evaluate(a, o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ev.Dir, filepath.Join(a.Dir, artifacts.EvalsDir)) || len(ev.Record.Files) != 2 {
		t.Fatalf("record %s with files %v", ev.Dir, ev.Record.Files)
	}
	p, q, err := Quality(ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(q.Rows) != 5 || q.Rows[0].Label != "DDIM-5" || q.Rows[1].Label != "DDPM-50" || q.Rows[2].Label != "real" || p.N != 12 || p.Backend != "xla:cpu" {
		t.Fatalf("protocol %+v rows %+v", p, q.Rows)
	}
	if _, err := r.Evaluate(a, o); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("the same evaluation twice: %v", err)
	}
	rep, err := r.Resample(a, ev, 4, o, 0)
	if err != nil || rep.Compared != 8 || rep.MaxAbsLevels != 0 {
		t.Fatalf("resample: %+v %v", rep, err)
	}
	// A changed stored sample is caught by verification (naming the file) and by re-sampling.
	f := ev.Path(ev.Record.Files[0].Path)
	orig, _ := os.ReadFile(f)
	strip, _ := DecodeStrip(orig, 16)
	strip[0] = -strip[0] - 0.5
	bad, _ := EncodeStrip(strip, len(strip)/256, 16)
	os.WriteFile(f, bad, 0o644)
	if _, err := a.Evals(); err == nil || !strings.Contains(err.Error(), ev.Record.Files[0].Path) {
		t.Errorf("changed sample file: want an error naming it, got %v", err)
	}
	if _, err := r.Resample(a, ev, 4, o, 0); err == nil {
		t.Error("re-sampling did not notice a changed stored sample")
	}
	os.WriteFile(f, orig, 0o644)
	if _, err := a.Evals(); err != nil {
		t.Fatal(err)
	}
	// A flipped weight byte is refused, naming the checkpoint.
	wp := a.Path(artifacts.WeightsFile)
	w, _ := os.ReadFile(wp)
	w[len(w)/2] ^= 1
	os.WriteFile(wp, w, 0o644)
	if _, err := artifacts.Open(filepath.Join(root, "art"), m.ID); err == nil || !strings.Contains(err.Error(), artifacts.WeightsFile) {
		t.Errorf("flipped weight byte: want an error naming %s, got %v", artifacts.WeightsFile, err)
	}
}

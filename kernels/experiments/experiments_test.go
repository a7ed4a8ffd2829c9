package experiments

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmseg/dmseg/kernels/artifacts"
	"github.com/dmseg/dmseg/kernels/engine"
	"github.com/dmseg/dmseg/kernels/engine/enginetest"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

func TestRegisteredExperimentsAreValid(t *testing.T) {
	for _, name := range Names() {
		e, err := Get(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		rc, err := e.ResolveModel()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if _, err := rc.DDPMModel(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		// The config must survive a JSON round trip unchanged (it is stored in artifacts).
		b1, _ := artifacts.CanonicalJSON(rc)
		var back RunConfig
		if err := json.Unmarshal(b1, &back); err != nil {
			t.Fatal(err)
		}
		b2, _ := artifacts.CanonicalJSON(back)
		if string(b1) != string(b2) {
			t.Errorf("%s: config does not round-trip through JSON", name)
		}
	}
	paper, _ := Get("ch2-ddpm-uncond-paper")
	rc, _ := paper.ResolveModel()
	if rc.ModelParams != 217859905 || paper.Diffusion.Timesteps != 1000 || paper.Sampling.DDIMSteps != 50 {
		t.Errorf("paper experiment: %d params (Table 6 U-Net has 217,859,905), T=%d, DDIM %d", rc.ModelParams, paper.Diffusion.Timesteps, paper.Sampling.DDIMSteps)
	}
	if _, err := Get("nope"); err == nil || !strings.Contains(err.Error(), "ch2-ddpm-uncond-cpu") {
		t.Errorf("unknown experiment error should list the known ones: %v", err)
	}
}

// The tiny experiment end to end: train -> artifact -> verified load -> sampling
// is deterministic per seed -> a flipped weight byte is refused.
func TestTinyExperimentEndToEnd(t *testing.T) {
	b := enginetest.XLA(t)
	e, _ := Get("ch2-ddpm-uncond-tiny")
	root := t.TempDir()
	res, err := TrainDDPM(e, TrainOptions{Backend: b, Info: engine.Info{Name: "xla:cpu"}, WorkDir: filepath.Join(root, "run"),
		ArtifactsRoot: filepath.Join(root, "art"), Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if res.Artifact == nil || !res.Train.Done {
		t.Fatalf("no artifact: %+v", res.Train)
	}
	m := res.Artifact.Manifest
	if len(m.Dataset.PixelsSHA256) != 64 || m.Seeds["train"] != 3 || m.Metrics["steps"] != 6 || m.WeightsSHA256 == "" {
		t.Errorf("manifest incomplete: %+v", m)
	}
	a, err := artifacts.Open(filepath.Join(root, "art"), "ch2-ddpm-uncond-tiny")
	if err != nil {
		t.Fatal(err)
	}
	l, err := LoadDDPM(a)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.CheckData(); err != nil {
		t.Fatalf("same code, same data: %v", err)
	}
	l.Artifact.Manifest.Dataset.PixelsSHA256 = strings.Repeat("0", 64) // as if the generator had changed
	if err := l.CheckData(); err == nil || !strings.Contains(err.Error(), "pixels") {
		t.Errorf("changed data not detected: %v", err)
	}
	s, err := l.NewSampler(b, "ddim", 0)
	if err != nil {
		t.Fatal(err)
	}
	x1, err := s.Sample(3, 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	x2, _ := s.Sample(3, 5, nil)
	x3, _ := s.Sample(3, 6, nil)
	v1, v2, v3 := tensors.MustCopyFlatData[float32](x1), tensors.MustCopyFlatData[float32](x2), tensors.MustCopyFlatData[float32](x3)
	if len(v1) != 3*16*16 {
		t.Fatalf("sample shape %s", x1.Shape())
	}
	same, diff := true, false
	for i := range v1 {
		same = same && v1[i] == v2[i]
		diff = diff || v1[i] != v3[i]
	}
	if !same || !diff {
		t.Errorf("sampling: same seed identical=%v, other seed differs=%v", same, diff)
	}
	if _, err := l.NewSampler(b, "ddpm", 7); err == nil {
		t.Error("ddpm sampler accepted steps != T")
	}
	p := a.Path(artifacts.WeightsFile)
	raw, _ := os.ReadFile(p)
	raw[len(raw)/2] ^= 1
	os.WriteFile(p, raw, 0o644)
	if _, err := artifacts.Open(filepath.Join(root, "art"), m.ID); err == nil || !strings.Contains(err.Error(), artifacts.WeightsFile) {
		t.Errorf("flipped weight byte: want an error naming %s, got %v", artifacts.WeightsFile, err)
	}
}

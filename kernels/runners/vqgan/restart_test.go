package vqgan_test

import (
	"bytes"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmseg/dmseg/kernels/engine"
	"github.com/dmseg/dmseg/kernels/engine/enginetest"
	"github.com/dmseg/dmseg/kernels/experiments"
	vq "github.com/dmseg/dmseg/kernels/models/vqgan"
	"github.com/dmseg/dmseg/kernels/runners"
	"github.com/dmseg/dmseg/kernels/runners/vqgan"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// Codebook restarts in training: the tiny VQ-GAN (16 codes) with restarts
// every step logs restarts, ends with a codebook different from the run
// without them, reproduces itself exactly (same weights hash), and records
// the restart schedule in its config; an invalid schedule is refused.
func TestCodebookRestartsInTraining(t *testing.T) {
	b := enginetest.XLA(t)
	info := engine.Info{Name: "xla:cpu"}
	base, err := experiments.Get("ch5-vqgan-tiny")
	if err != nil {
		t.Fatal(err)
	}
	r, err := runners.Get(base.Kind)
	if err != nil {
		t.Fatal(err)
	}
	train := func(e experiments.Experiment) (*vqgan.Loaded, string, string) {
		root := t.TempDir()
		var log bytes.Buffer
		res, err := r.Train(e, runners.TrainOptions{Backend: b, Info: info, WorkDir: filepath.Join(root, "run"),
			ArtifactsRoot: filepath.Join(root, "art"), Log: &log})
		if err != nil || res.Artifact == nil {
			t.Fatalf("train: %v", err)
		}
		l, err := vqgan.Load(res.Artifact)
		if err != nil {
			t.Fatal(err)
		}
		return l, res.Artifact.Manifest.WeightsSHA256, log.String()
	}
	codebook := func(l *vqgan.Loaded) []float32 {
		v := vq.Codebook(l.Ctx)
		if v == nil {
			t.Fatal("no codebook")
		}
		return tensors.MustCopyFlatData[float32](v.MustValue())
	}
	plain, _, plainLog := train(base)
	with := base
	with.VQ.Restart = &experiments.RestartSpec{Every: 1, Patience: 1}
	l1, h1, log1 := train(with)
	_, h2, _ := train(with)
	if strings.Contains(plainLog, "restarted") || !strings.Contains(log1, "restarted") || !strings.Contains(log1, "dead code") {
		t.Fatalf("logs: without restarts %q; with %q", plainLog, log1)
	}
	if h1 != h2 {
		t.Errorf("two runs with restarts differ: %s vs %s", h1, h2)
	}
	a, c := codebook(plain), codebook(l1)
	same := true
	for i := range a {
		same = same && a[i] == c[i]
	}
	if same {
		t.Error("restarts left the codebook as the run without them")
	}
	if l1.Config.Experiment.VQ.Restart == nil || l1.Config.Experiment.VQ.Restart.Every != 1 {
		t.Errorf("artifact config lost the restart schedule: %+v", l1.Config.Experiment.VQ)
	}
	bad := base
	bad.VQ.Restart = &experiments.RestartSpec{Every: 0, Patience: 1}
	if _, err := r.Train(bad, runners.TrainOptions{Backend: b, Info: info, WorkDir: t.TempDir(), ArtifactsRoot: t.TempDir(), Log: io.Discard}); err == nil ||
		!strings.Contains(err.Error(), "every") {
		t.Errorf("restart every 0: %v", err)
	}
}

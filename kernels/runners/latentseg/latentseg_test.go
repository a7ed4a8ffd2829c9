package latentseg

import (
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmseg/dmseg/kernels/engine"
	"github.com/dmseg/dmseg/kernels/engine/enginetest"
	"github.com/dmseg/dmseg/kernels/experiments"
	"github.com/dmseg/dmseg/kernels/runners"
	"github.com/dmseg/dmseg/kernels/runners/segeval"
	_ "github.com/dmseg/dmseg/kernels/runners/vqgan"
)

// Per-channel statistics by hand: NHWC data with 2 channels, channel 0 =
// 1, 3 (mean 2, sd 1), channel 1 = 10, 10 (mean 10, sd 0 -> refused).
// Normalising and denormalising gives the data back.
func TestChannelStatsAndNormalise(t *testing.T) {
	x := []float32{1, 10, 3, 10}
	m, s := channelStats(x, 2)
	if m[0] != 2 || s[0] != 1 || m[1] != 10 || s[1] != 0 {
		t.Fatalf("mean %v std %v", m, s)
	}
	st := Stats{Size: 1, Channels: 2, ImageMean: m, ImageStd: s, MaskMean: m, MaskStd: []float64{1, 1}, Normalized: true}
	if err := st.check(2, 1); err == nil || !strings.Contains(err.Error(), "standard deviation 0") {
		t.Fatalf("zero sd accepted: %v", err)
	}
	st.Normalized = false
	if err := st.check(2, 1); err != nil {
		t.Fatalf("unapplied statistics: %v", err)
	}
	y := []float32{1, 10, 3, 12}
	s2 := []float64{1, 2}
	normalise(y, m, s2)
	if y[0] != -1 || y[2] != 1 || y[1] != 0 || y[3] != 1 {
		t.Fatalf("normalised %v", y)
	}
	denormalise(y, m, s2)
	if y[0] != 1 || y[1] != 10 || y[2] != 3 || y[3] != 12 {
		t.Fatalf("round trip %v", y)
	}
}

// The latent pipeline end to end with the tiny VQ-GANs: a latent experiment
// refuses to train before its VQ-GANs exist; after them, the LDM and the
// LBBDM train on latents (their configs record the VQ-GAN artifacts, their
// artifacts the latent statistics), are the current artifacts of their
// experiments, evaluate into segmentation records in pixel space, re-sample
// their first masks equal, and segment through segeval's predictor registry.
func TestTinyLatentEndToEnd(t *testing.T) {
	b := enginetest.XLA(t)
	info := engine.Info{Name: "xla:cpu"}
	root := t.TempDir()
	art := filepath.Join(root, "art")
	trainExp := func(name string) *runners.TrainResult {
		t.Helper()
		e, err := experiments.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		r, err := runners.Get(e.Kind)
		if err != nil {
			t.Fatal(err)
		}
		res, err := r.Train(e, runners.TrainOptions{Backend: b, Info: info, WorkDir: filepath.Join(root, "run-"+name), ArtifactsRoot: art, Log: io.Discard})
		if err != nil || res.Artifact == nil {
			t.Fatalf("train %s: %v", name, err)
		}
		return res
	}
	e, _ := experiments.Get("ch5-ldm-tiny")
	r, _ := runners.Get(e.Kind)
	if _, err := r.Train(e, runners.TrainOptions{Backend: b, Info: info, WorkDir: filepath.Join(root, "early"), ArtifactsRoot: art, Log: io.Discard}); err == nil ||
		!strings.Contains(err.Error(), "ch5-vqgan-xray-tiny") {
		t.Fatalf("training before the VQ-GANs: %v", err)
	}
	img := trainExp("ch5-vqgan-xray-tiny").Artifact.Manifest.ID
	mask := trainExp("ch5-vqgan-tiny").Artifact.Manifest.ID
	for _, name := range []string{"ch5-ldm-tiny", "ch5-lbbdm-tiny"} {
		t.Run(name, func(t *testing.T) {
			res := trainExp(name)
			a := res.Artifact
			var rc experiments.RunConfig
			if err := a.DecodeConfig(&rc); err != nil {
				t.Fatal(err)
			}
			if d := rc.Experiment.DependsOn; len(d) != 2 || d[0] != img || d[1] != mask {
				t.Fatalf("depends_on %v, want [%s %s]", d, img, mask)
			}
			if _, err := os.Stat(a.Path(StatsFile)); err != nil {
				t.Fatal(err)
			}
			if cur, err := runners.CurrentArtifact(art, name); err != nil || cur.Manifest.ID != a.Manifest.ID {
				t.Fatalf("current artifact: %v", err)
			}
			c, err := OpenArtifactCodec(a, rc, b)
			if err != nil {
				t.Fatal(err)
			}
			if s := c.Stats; s.Size != 16 || s.Channels != 3 || s.N != 8 || !s.Normalized {
				t.Fatalf("stats %+v", s)
			}
			for _, sd := range c.Stats.MaskStd {
				if !(sd > 0) || math.IsInf(sd, 0) {
					t.Fatalf("mask sd %v", c.Stats.MaskStd)
				}
			}
			run, _ := runners.Get(rc.Experiment.Kind)
			o := runners.EvalOptions{Backend: b, Info: info, Batch: 2, Log: io.Discard}
			ev, err := run.Evaluate(a, o)
			if err != nil {
				t.Fatal(err)
			}
			p, rs, err := segeval.Open(ev)
			if err != nil || p.N != 4 || rs.Pooled.N != 4 {
				t.Fatalf("record: %v %+v", err, p)
			}
			rep, err := run.Resample(a, ev, 2, o, 0)
			if err != nil || rep.Compared != 2 || rep.Differing != 0 {
				t.Fatalf("resample: %v %+v", err, rep)
			}
			pred, size, _, err := segeval.PredictorFor(a, b)
			if err != nil || size != 64 || pred == nil {
				t.Fatalf("predictor: %v %d", err, size)
			}
		})
	}
}

package latentseg

import (
	"fmt"
	"io"
	"time"

	"github.com/dmseg/dmseg/kernels/artifacts"
	"github.com/dmseg/dmseg/kernels/data/dataset"
	"github.com/dmseg/dmseg/kernels/diffusion"
	"github.com/dmseg/dmseg/kernels/diffusion/bbdm"
	"github.com/dmseg/dmseg/kernels/diffusion/ddpm"
	"github.com/dmseg/dmseg/kernels/experiments"
	"github.com/dmseg/dmseg/kernels/models/registry"
	"github.com/dmseg/dmseg/kernels/runners"
	"github.com/dmseg/dmseg/kernels/runners/bbdmseg"
	"github.com/dmseg/dmseg/kernels/runners/ddpmseg"
	"github.com/dmseg/dmseg/kernels/runners/ddpmuncond"
	"github.com/dmseg/dmseg/kernels/runners/segeval"
	"github.com/dmseg/dmseg/kernels/train"
	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// LDM is the ldm-seg runner; LBBDM the lbbdm-seg runner.
type (
	LDM   struct{}
	LBBDM struct{}
)

func init() {
	runners.Register(LDM{})
	runners.Register(LBBDM{})
	factory := func(pf predictorFn) segeval.PredictorFactory {
		return func(a *artifacts.Artifact, backend backends.Backend) (segeval.Predict, int, func(), error) {
			var rc experiments.RunConfig
			if err := a.DecodeConfig(&rc); err != nil {
				return nil, 0, nil, err
			}
			p, _, err := pf(a, runners.EvalOptions{Backend: backend}, nil)
			return p, rc.Experiment.Data.Phantom.Size, func() {}, err
		}
	}
	segeval.RegisterPredictor(experiments.KindLDMSeg, factory(ldmPredictor))
	segeval.RegisterPredictor(experiments.KindLBBDMSeg, factory(lbbdmPredictor))
}

// Kind is experiments.KindLDMSeg.
func (LDM) Kind() string { return experiments.KindLDMSeg }

// Kind is experiments.KindLBBDMSeg.
func (LBBDM) Kind() string { return experiments.KindLBBDMSeg }

// latentData is the FitSpec.Data of both kinds: encode the training split
// once with the VQ-GANs the config depends on, fit the per-channel
// normalisation, store it in the run folder and stream normalised latents.
func latentData(rc experiments.RunConfig, set *dataset.Set, stream *dataset.Stream, workDir string, o runners.TrainOptions) (train.Batches, []string, error) {
	d := rc.Experiment.DependsOn
	if len(d) != 2 {
		return nil, nil, fmt.Errorf("experiment %s: depends_on %v: want the image and the mask VQ-GAN artifacts", rc.Experiment.Name, d)
	}
	c, err := OpenCodec(o.ArtifactsRoot, d[0], d[1], o.Backend)
	if err != nil {
		return nil, nil, err
	}
	if mc := rc.ModelConfig; mc.DataChannels != c.Stats.Channels || mc.ImageSize != c.Stats.Size {
		return nil, nil, fmt.Errorf("experiment %s: model %s takes %dx%dx%d, the VQ-GANs give latents %dx%dx%d",
			rc.Experiment.Name, mc.Name, mc.ImageSize, mc.ImageSize, mc.DataChannels, c.Stats.Size, c.Stats.Size, c.Stats.Channels)
	}
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	t0 := time.Now()
	img, mask, err := c.EncodeSet(set, 50)
	if err != nil {
		return nil, nil, err
	}
	c.Stats.Fit(img, mask)
	c.Stats.Normalized = rc.Experiment.Latent.Normalize
	if err := c.Stats.check(c.Stats.Channels, c.Stats.Size); err != nil {
		return nil, nil, fmt.Errorf("experiment %s: the training latents: %w", rc.Experiment.Name, err)
	}
	c.Stats.Normalise(img, mask)
	fmt.Fprintf(log, "latents: %d pairs encoded with %s and %s to %dx%dx%d in %.1fs; image mean %.3v std %.3v, mask mean %.3v std %.3v (normalize_latent %t)\n",
		set.N, d[0], d[1], c.Stats.Size, c.Stats.Size, c.Stats.Channels, time.Since(t0).Seconds(),
		c.Stats.ImageMean, c.Stats.ImageStd, c.Stats.MaskMean, c.Stats.MaskStd, c.Stats.Normalized)
	if err := c.Stats.Write(workDir); err != nil {
		return nil, nil, err
	}
	return &Batches{stream: stream, img: img, mask: mask, size: c.Stats.Size, ch: c.Stats.Channels}, []string{StatsFile}, nil
}

// Train trains the conditional DDPM on latents: L_simple on the mask latent
// with the X-ray latent as the condition (chapter 3's loss, thesis 5.2).
func (LDM) Train(e experiments.Experiment, o runners.TrainOptions) (*runners.TrainResult, error) {
	return runners.Fit(e, o, runners.FitSpec{Kind: experiments.KindLDMSeg, Conds: []string{registry.CondAdd, registry.CondConcat}, Data: latentData,
		Loss: func(rc experiments.RunConfig) (train.LossFn, string, error) {
			m, err := ddpmuncond.Model(rc)
			if err != nil {
				return nil, "", err
			}
			return func(ctx *context.Context, batch []*Node) *Node { return ddpm.Loss(ctx, m, batch[1], batch[0]) },
				fmt.Sprintf("latent DDPM, %s conditioning on the X-ray latent, %s objective", rc.ModelConfig.Cond, m.Param), nil
		}})
}

// Train trains the bridge between the X-ray latent (x_T = y) and the mask
// latent (x_0) with the official loss (thesis 5.3).
func (LBBDM) Train(e experiments.Experiment, o runners.TrainOptions) (*runners.TrainResult, error) {
	return runners.Fit(e, o, runners.FitSpec{Kind: experiments.KindLBBDMSeg, Conds: []string{registry.CondNone}, Data: latentData,
		Loss: func(rc experiments.RunConfig) (train.LossFn, string, error) {
			m, l1, err := bbdmseg.Model(rc)
			if err != nil {
				return nil, "", err
			}
			return func(ctx *context.Context, batch []*Node) *Node { return bbdm.Loss(ctx, m, batch[1], batch[0], l1) },
				fmt.Sprintf("latent Brownian bridge X-ray -> mask, %s objective, %s loss", m.Objective, rc.Experiment.Bridge.Loss), nil
		}})
}

// ldmPredictor opens an ldm-seg artifact and its VQ-GANs and returns the
// pixel-space prediction of the protocol's DDIM (or DDPM) sampler; with set
// non-nil also the protocol.
func ldmPredictor(a *artifacts.Artifact, o runners.EvalOptions, set *dataset.Set) (segeval.Predict, segeval.Protocol, error) {
	l, err := ddpmuncond.LoadKind(a, experiments.KindLDMSeg)
	if err != nil {
		return nil, segeval.Protocol{}, err
	}
	c, err := OpenArtifactCodec(a, l.Config, o.Backend)
	if err != nil {
		return nil, segeval.Protocol{}, err
	}
	var p segeval.Protocol
	var spec ddpmuncond.SamplerSpec
	switch {
	case set != nil:
		p, spec, err = ddpmseg.Protocol(l, o, set)
	case len(o.Samplers) == 1 && o.Samplers[0] == "ddpm":
		spec, err = l.Spec("ddpm", 0, -1, "")
	default:
		spec, err = l.DDIMSpec(o.DDIM)
	}
	if err != nil {
		return nil, p, err
	}
	s, err := l.NewSamplerSpec(o.Backend, spec)
	if err != nil {
		return nil, p, err
	}
	st := c.Stats
	return c.Predictor(func(cond *tensors.Tensor, seed int64) (*tensors.Tensor, error) {
		b := cond.Shape().Dimensions[0]
		xT, err := diffusion.GaussianNoise(o.Backend, seed, b, st.Size, st.Size, st.Channels)
		if err != nil {
			return nil, err
		}
		return s.SampleCond(xT, cond, seed+1, nil, nil)
	}), p, nil
}

// lbbdmPredictor is ldmPredictor for the latent bridge.
func lbbdmPredictor(a *artifacts.Artifact, o runners.EvalOptions, set *dataset.Set) (segeval.Predict, segeval.Protocol, error) {
	l, err := bbdmseg.LoadKind(a, experiments.KindLBBDMSeg)
	if err != nil {
		return nil, segeval.Protocol{}, err
	}
	c, err := OpenArtifactCodec(a, l.Config, o.Backend)
	if err != nil {
		return nil, segeval.Protocol{}, err
	}
	spec, err := l.Override(o)
	if err != nil {
		return nil, segeval.Protocol{}, err
	}
	var p segeval.Protocol
	if set != nil {
		e := l.Config.Experiment
		p = segeval.NewProtocol(spec, set, o, e.Sampling.EvalSeed, e.Sampling.UseEMA)
	}
	sample, err := l.Sampler(o.Backend, spec)
	if err != nil {
		return nil, p, err
	}
	return c.Predictor(Sample(sample)), p, nil
}

type predictorFn func(a *artifacts.Artifact, o runners.EvalOptions, set *dataset.Set) (segeval.Predict, segeval.Protocol, error)

func evaluate(a *artifacts.Artifact, o runners.EvalOptions, pf predictorFn) (*artifacts.Eval, error) {
	var rc experiments.RunConfig
	if err := a.DecodeConfig(&rc); err != nil {
		return nil, err
	}
	set, err := runners.EvalSet(a, rc.Experiment, o.Split)
	if err != nil {
		return nil, err
	}
	pred, p, err := pf(a, o, set)
	if err != nil {
		return nil, err
	}
	return segeval.Create(a, o, set, p, pred)
}

func resample(a *artifacts.Artifact, ev *artifacts.Eval, k int, o runners.EvalOptions, tol int, pf predictorFn) (runners.ResampleReport, error) {
	var rc experiments.RunConfig
	if err := a.DecodeConfig(&rc); err != nil {
		return runners.ResampleReport{}, err
	}
	p, _, err := segeval.Open(ev)
	if err != nil {
		return runners.ResampleReport{}, err
	}
	set, err := runners.EvalSet(a, rc.Experiment, p.Split)
	if err != nil {
		return runners.ResampleReport{}, err
	}
	// The record's sampler settings, as overrides of the experiment's.
	var m segeval.Method
	if err := p.DecodeMethod(&m); err != nil {
		return runners.ResampleReport{}, fmt.Errorf("evaluation %s: method: %w", ev.Record.ID, err)
	}
	oo := o
	oo.DDIM = runners.DDIMOverride{Steps: m.NumSteps(), Eta: m.Eta, Spacing: m.Spacing, ClipX0: m.ClipX0}
	if m.Sampler == "ddpm" {
		oo.Samplers, oo.DDIM = []string{"ddpm"}, runners.DDIMOverride{}
	}
	pred, _, err := pf(a, oo, nil)
	if err != nil {
		return runners.ResampleReport{}, err
	}
	return segeval.Resample(ev, set, k, pred, tol, o.Log)
}

// Evaluate segments the evaluation split through the latent DDPM (DDIM-50
// unless overridden) and writes a segmentation record.
func (LDM) Evaluate(a *artifacts.Artifact, o runners.EvalOptions) (*artifacts.Eval, error) {
	return evaluate(a, o, ldmPredictor)
}

// Evaluate segments the evaluation split through the latent bridge.
func (LBBDM) Evaluate(a *artifacts.Artifact, o runners.EvalOptions) (*artifacts.Eval, error) {
	return evaluate(a, o, lbbdmPredictor)
}

// Resample re-samples the first k masks of a record and compares them.
func (LDM) Resample(a *artifacts.Artifact, ev *artifacts.Eval, k int, o runners.EvalOptions, tol int) (runners.ResampleReport, error) {
	return resample(a, ev, k, o, tol, ldmPredictor)
}

// Resample re-samples the first k masks of a record and compares them.
func (LBBDM) Resample(a *artifacts.Artifact, ev *artifacts.Eval, k int, o runners.EvalOptions, tol int) (runners.ResampleReport, error) {
	return resample(a, ev, k, o, tol, lbbdmPredictor)
}

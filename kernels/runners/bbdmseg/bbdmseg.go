// Package bbdmseg runs chapter 4's segmentation with a Brownian bridge
// (thesis 1.3, 4.1-4.2, Table 7): the bridge runs from the CLAHE-equalised
// X-ray y (x_T = y) to the mask x_0, with no extra condition ("nocond").
// Training minimises the official BBDM loss (bbdm.Loss); evaluation runs the
// official skip-step sampler from y and thresholds the mask at 0.5
// (segeval, the same evaluation as chapter 3).
package bbdmseg

import (
	"fmt"

	"github.com/dmseg/dmseg/kernels/artifacts"
	"github.com/dmseg/dmseg/kernels/data/dataset"
	"github.com/dmseg/dmseg/kernels/diffusion"
	"github.com/dmseg/dmseg/kernels/diffusion/bbdm"
	"github.com/dmseg/dmseg/kernels/diffusion/ddpm"
	"github.com/dmseg/dmseg/kernels/diffusion/schedule"
	"github.com/dmseg/dmseg/kernels/experiments"
	"github.com/dmseg/dmseg/kernels/models/registry"
	"github.com/dmseg/dmseg/kernels/runners"
	"github.com/dmseg/dmseg/kernels/runners/segeval"
	"github.com/dmseg/dmseg/kernels/train"
	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Runner is the bbdm-seg runner.
type Runner struct{}

func init() {
	runners.Register(Runner{})
	segeval.RegisterPredictor(experiments.KindBBDMSeg, func(a *artifacts.Artifact, backend backends.Backend) (segeval.Predict, int, func(), error) {
		l, err := Load(a)
		if err != nil {
			return nil, 0, nil, err
		}
		p, err := l.Predictor(backend, l.Spec())
		return p, l.Config.Experiment.Data.Phantom.Size, func() {}, err
	})
}

// Kind is experiments.KindBBDMSeg.
func (Runner) Kind() string { return experiments.KindBBDMSeg }

// Model assembles the bridge of a run config.
func Model(rc experiments.RunConfig) (bbdm.Model, bool, error) {
	b := rc.Experiment.Bridge
	if b == nil {
		return bbdm.Model{}, false, fmt.Errorf("experiment %s has no bridge spec", rc.Experiment.Name)
	}
	s, err := schedule.NewBBDM(b.MtType, b.Timesteps, b.MaxVar)
	if err != nil {
		return bbdm.Model{}, false, err
	}
	o, err := bbdm.ParseObjective(b.Objective)
	if err != nil {
		return bbdm.Model{}, false, err
	}
	mc, err := rc.ModelConfig.Resolve()
	if err != nil {
		return bbdm.Model{}, false, err
	}
	return bbdm.Model{Sched: s, Denoiser: diffusion.Denoiser(mc.Denoiser()), Objective: o}, b.Loss == "l1", nil
}

// Train trains the bridge: the official loss between the mask (x_0, in
// {-1, 1}) and the CLAHE X-ray (y, in [-1, 1]).
func (Runner) Train(e experiments.Experiment, o runners.TrainOptions) (*runners.TrainResult, error) {
	return runners.Fit(e, o, runners.FitSpec{Kind: experiments.KindBBDMSeg, Conds: []string{registry.CondNone},
		Loss: func(rc experiments.RunConfig) (train.LossFn, string, error) {
			m, l1, err := Model(rc)
			if err != nil {
				return nil, "", err
			}
			return func(ctx *context.Context, batch []*Node) *Node { return bbdm.Loss(ctx, m, batch[1], batch[0], l1) },
				fmt.Sprintf("Brownian bridge image -> mask, %s objective, %s loss", m.Objective, rc.Experiment.Bridge.Loss), nil
		}})
}

// Loaded is a trained bridge.
type Loaded struct {
	Artifact *artifacts.Artifact
	Config   experiments.RunConfig
	Model    bbdm.Model
	Ctx      *context.Context
}

// Load opens a bbdm-seg artifact.
func Load(a *artifacts.Artifact) (*Loaded, error) { return LoadKind(a, experiments.KindBBDMSeg) }

// LoadKind opens a bridge artifact of the given kind (bbdm-seg, or the
// latent lbbdm-seg, whose runner samples the same bridge on latents).
func LoadKind(a *artifacts.Artifact, kind string) (*Loaded, error) {
	var rc experiments.RunConfig
	if err := a.DecodeConfig(&rc); err != nil {
		return nil, err
	}
	if rc.Experiment.Kind != kind {
		return nil, fmt.Errorf("artifact %s: kind %q is not %s", a.Manifest.ID, rc.Experiment.Kind, kind)
	}
	m, _, err := Model(rc)
	if err != nil {
		return nil, err
	}
	ctx, err := runners.LoadWeights(a, rc.Experiment.Sampling.UseEMA)
	if err != nil {
		return nil, err
	}
	return &Loaded{Artifact: a, Config: rc, Model: m, Ctx: ctx}, nil
}

// SamplerSpec is the bridge sampler of an evaluation, as recorded.
type SamplerSpec struct {
	Sampler string  `json:"sampler"` // "bbdm"
	Steps   int     `json:"sample_step"`
	Eta     float64 `json:"eta"`
	ClipX0  float64 `json:"clip_x0"`
}

// Spec is the experiment's sampler.
func (l *Loaded) Spec() SamplerSpec {
	b := l.Config.Experiment.Bridge
	return SamplerSpec{Sampler: "bbdm", Steps: b.SampleSteps, Eta: b.Eta, ClipX0: b.ClipX0}
}

// Override is the experiment's sampler with an evaluation's replacements:
// the number of skip steps (3 <= steps <= T), eta and the x0 clip. The bridge
// has one sampler and one step spacing, so --samplers and --spacing are errors.
func (l *Loaded) Override(o runners.EvalOptions) (SamplerSpec, error) {
	spec := l.Spec()
	if len(o.Samplers) > 0 || o.DDIM.Spacing != "" || ddpm.EpsScaled(o.DDIM.EpsScale) {
		return spec, fmt.Errorf("%s samples with the bridge's skip-step sampler (linear spacing); --samplers, --spacing and --eps-scale do not apply", experiments.KindBBDMSeg)
	}
	if s := o.DDIM.Steps; s > 0 {
		if T := l.Config.Experiment.Bridge.Timesteps; s < 3 || s > T {
			return spec, fmt.Errorf("--steps %d: the bridge of %s takes 3 to T = %d skip steps (the official skip formula divides by steps-2)", s, l.Artifact.Manifest.ID, T)
		}
		spec.Steps = s
	}
	if o.DDIM.Eta != nil {
		spec.Eta = *o.DDIM.Eta
	}
	if o.DDIM.ClipX0 != nil {
		spec.ClipX0 = *o.DDIM.ClipX0
	}
	return spec, nil
}

// Sampler returns the bridge sampler of spec as a function from y (x_T, any
// shape the network takes: X-rays or latents) and a noise seed to x_0.
func (l *Loaded) Sampler(backend backends.Backend, spec SamplerSpec) (func(y *tensors.Tensor, seed int64) (*tensors.Tensor, error), error) {
	s, err := bbdm.NewSampler(backend, l.Ctx, l.Model, bbdm.SamplerOptions{Steps: spec.Steps, Eta: spec.Eta, ClipX0: spec.ClipX0})
	if err != nil {
		return nil, err
	}
	return func(y *tensors.Tensor, seed int64) (*tensors.Tensor, error) {
		return s.Sample(y, diffusion.Options{Seed: seed})
	}, nil
}

// Predictor samples the masks of a batch from its X-rays (x_T = y); the
// sampler's noise comes from seed.
func (l *Loaded) Predictor(backend backends.Backend, spec SamplerSpec) (segeval.Predict, error) {
	sample, err := l.Sampler(backend, spec)
	if err != nil {
		return nil, err
	}
	return func(b *dataset.Batch, seed int64) ([]float32, error) {
		out, err := sample(b.ImagesTensor(), seed)
		if err != nil {
			return nil, err
		}
		return tensors.CopyFlatData[float32](out)
	}, nil
}

// Evaluate segments the evaluation split with the experiment's sampler.
func (Runner) Evaluate(a *artifacts.Artifact, o runners.EvalOptions) (*artifacts.Eval, error) {
	l, err := Load(a)
	if err != nil {
		return nil, err
	}
	spec, err := l.Override(o)
	if err != nil {
		return nil, err
	}
	set, err := runners.EvalSet(l.Artifact, l.Config.Experiment, o.Split)
	if err != nil {
		return nil, err
	}
	e := l.Config.Experiment
	p := segeval.NewProtocol(spec, set, o, e.Sampling.EvalSeed, e.Sampling.UseEMA)
	pred, err := l.Predictor(o.Backend, spec)
	if err != nil {
		return nil, err
	}
	return segeval.Create(a, o, set, p, pred)
}

// Resample re-samples the first k masks of a record and compares them.
func (Runner) Resample(a *artifacts.Artifact, ev *artifacts.Eval, k int, o runners.EvalOptions, tol int) (runners.ResampleReport, error) {
	l, err := Load(a)
	if err != nil {
		return runners.ResampleReport{}, err
	}
	p, _, err := segeval.Open(ev)
	if err != nil {
		return runners.ResampleReport{}, err
	}
	var spec SamplerSpec
	if err := p.DecodeMethod(&spec); err != nil {
		return runners.ResampleReport{}, fmt.Errorf("evaluation %s: method: %w", ev.Record.ID, err)
	}
	set, err := runners.EvalSet(l.Artifact, l.Config.Experiment, p.Split)
	if err != nil {
		return runners.ResampleReport{}, err
	}
	pred, err := l.Predictor(o.Backend, spec)
	if err != nil {
		return runners.ResampleReport{}, err
	}
	return segeval.Resample(ev, set, k, pred, tol, o.Log)
}

// Package ddpmuncond is the runner of kind "ddpm-uncond": unconditional DDPM
// image synthesis (thesis chapter 2). It trains an experiment with L_simple
// (ddpm.Loss, thesis Algorithm 1, eps/x0/v target), loads an artifact for
// sampling with ancestral DDPM (Algorithm 2) or DDIM (section 1.4), and
// evaluates sample quality: DDIM and DDPM samples from the same x_T against
// held-out images (FD/KID with calibration rows, and the fraction of speckled
// samples), stored as an evaluation record with the samples as PNGs.
package ddpmuncond

import (
	"fmt"

	"github.com/dmseg/dmseg/kernels/artifacts"
	"github.com/dmseg/dmseg/kernels/diffusion"
	"github.com/dmseg/dmseg/kernels/diffusion/ddpm"
	"github.com/dmseg/dmseg/kernels/experiments"
	"github.com/dmseg/dmseg/kernels/models/registry"
	"github.com/dmseg/dmseg/kernels/runners"
	"github.com/dmseg/dmseg/kernels/train"
	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Runner is the ddpm-uncond runner.
type Runner struct{}

func init() { runners.Register(Runner{}) }

// Kind is experiments.KindDDPMUncond.
func (Runner) Kind() string { return experiments.KindDDPMUncond }

// Model assembles the diffusion model of a run config.
func Model(rc experiments.RunConfig) (ddpm.Model, error) {
	s, err := rc.Experiment.Schedule()
	if err != nil {
		return ddpm.Model{}, err
	}
	p, err := ddpm.ParseParam(rc.Experiment.Diffusion.Param)
	if err != nil {
		return ddpm.Model{}, err
	}
	mc, err := rc.ModelConfig.Resolve()
	if err != nil {
		return ddpm.Model{}, err
	}
	return ddpm.Model{Sched: s, Param: p, Denoiser: diffusion.Denoiser(mc.Denoiser())}, nil
}

// Train trains an unconditional DDPM experiment (L_simple on the images, the
// experiment's objective) and, when the step budget is reached, stores the
// artifact with the resolved config.
func (Runner) Train(e experiments.Experiment, o runners.TrainOptions) (*runners.TrainResult, error) {
	return runners.Fit(e, o, runners.FitSpec{ImagesOnly: true, Kind: experiments.KindDDPMUncond, Conds: []string{registry.CondNone},
		Loss: func(rc experiments.RunConfig) (train.LossFn, string, error) {
			m, err := Model(rc)
			if err != nil {
				return nil, "", err
			}
			return func(ctx *context.Context, batch []*Node) *Node { return ddpm.Loss(ctx, m, batch[0], nil) },
				m.Param.String() + " objective", nil
		}})
}

// Loaded is a trained DDPM ready to sample.
type Loaded struct {
	Artifact *artifacts.Artifact
	Config   experiments.RunConfig
	Model    ddpm.Model
	Ctx      *context.Context // variables (EMA weights when Config.Experiment.Sampling.UseEMA); use Ctx.Reuse() in graphs
}

// Load opens the weights of a verified artifact of kind ddpm-uncond.
func Load(a *artifacts.Artifact) (*Loaded, error) { return LoadKind(a, experiments.KindDDPMUncond) }

// LoadKind opens the weights of a verified DDPM artifact of the given kind
// (ddpm-uncond here; the conditional ddpm-seg runner loads its artifacts
// the same way and samples with SampleCond).
func LoadKind(a *artifacts.Artifact, kind string) (*Loaded, error) {
	var rc experiments.RunConfig
	if err := a.DecodeConfig(&rc); err != nil {
		return nil, err
	}
	if rc.Experiment.Kind != kind {
		return nil, fmt.Errorf("artifact %s: kind %q is not %s", a.Manifest.ID, rc.Experiment.Kind, kind)
	}
	rc.Experiment = rc.Experiment.Resolved() // old manifests recorded unresolved configs
	m, err := Model(rc)
	if err != nil {
		return nil, err
	}
	ctx, err := runners.LoadWeights(a, rc.Experiment.Sampling.UseEMA)
	if err != nil {
		return nil, err
	}
	return &Loaded{Artifact: a, Config: rc, Model: m, Ctx: ctx}, nil
}

// CheckData checks that the current code regenerates the artifact's training
// data (runners.CheckData).
func (l *Loaded) CheckData() error { return runners.CheckData(l.Artifact, l.Config.Experiment) }

// ImageSize is the side of the images the model was trained on.
func (l *Loaded) ImageSize() int { return l.Config.Experiment.Data.Phantom.Size }

// SamplerSpec is a sampler and its settings, as recorded in outputs.
type SamplerSpec struct {
	Sampler string  `json:"sampler"` // "ddim" or "ddpm"
	Steps   int     `json:"steps"`
	Eta     float64 `json:"eta"`
	Spacing string  `json:"spacing,omitempty"` // DDIM only
	ClipX0  float64 `json:"clip_x0"`
	// EpsScale divides eps_hat at every DDIM step (epsilon scaling, ddpm.DDIMOptions);
	// 0 (omitted from the JSON, so older records keep their ids) is off.
	EpsScale float64 `json:"eps_scale,omitempty"`
}

// Label is "DDIM-50" or "DDPM-1000" (with ", eta 1" etc. when not the defaults).
func (s SamplerSpec) Label() string {
	if s.Sampler == "ddpm" {
		return fmt.Sprintf("DDPM-%d", s.Steps)
	}
	l := fmt.Sprintf("DDIM-%d", s.Steps)
	if s.Eta != 0 {
		l += fmt.Sprintf(" eta=%g", s.Eta)
	}
	if ddpm.EpsScaled(s.EpsScale) {
		l += fmt.Sprintf(" eps/%g", s.EpsScale)
	}
	return l
}

// Spec resolves a sampler request against the experiment's defaults: steps 0
// means T for ddpm and the experiment's for ddim; eta < 0 and spacing "" mean
// the experiment's.
func (l *Loaded) Spec(kind string, steps int, eta float64, spacing string) (SamplerSpec, error) {
	sp := l.Config.Experiment.Sampling
	T := l.Model.Sched.T
	switch kind {
	case "ddpm":
		if steps != 0 && steps != T {
			return SamplerSpec{}, fmt.Errorf("sampler ddpm runs all T=%d steps of the chain; got --steps %d (use --sampler ddim for fewer)", T, steps)
		}
		if spacing != "" {
			return SamplerSpec{}, fmt.Errorf("--spacing applies to ddim only")
		}
		if eta >= 0 && eta != 1 {
			return SamplerSpec{}, fmt.Errorf("sampler ddpm is the ancestral chain (eta 1 in DDIM's terms); got --eta %g (use --sampler ddim)", eta)
		}
		return SamplerSpec{Sampler: "ddpm", Steps: T, Eta: 1, ClipX0: sp.DDPMClipX0}, nil
	case "ddim":
		if steps == 0 {
			steps = sp.DDIMSteps
		}
		if eta < 0 {
			eta = sp.DDIMEta
		}
		if spacing == "" {
			spacing = sp.DDIMSpacing
		}
		return SamplerSpec{Sampler: "ddim", Steps: steps, Eta: eta, Spacing: spacing, ClipX0: sp.DDIMClipX0}, nil
	}
	return SamplerSpec{}, fmt.Errorf("unknown sampler %q (want ddpm or ddim)", kind)
}

// DDIMSpec is the experiment's DDIM with the settings of o replaced.
func (l *Loaded) DDIMSpec(o runners.DDIMOverride) (SamplerSpec, error) {
	eta := -1.0
	if o.Eta != nil {
		if *o.Eta < 0 {
			return SamplerSpec{}, fmt.Errorf("DDIM eta must be >= 0, got %g", *o.Eta)
		}
		eta = *o.Eta
	}
	spec, err := l.Spec("ddim", o.Steps, eta, o.Spacing)
	if err != nil {
		return spec, err
	}
	if o.ClipX0 != nil {
		if *o.ClipX0 < 0 {
			return spec, fmt.Errorf("DDIM clip_x0 must be >= 0 (0: off), got %g", *o.ClipX0)
		}
		spec.ClipX0 = *o.ClipX0
	}
	if err := ddpm.CheckEpsScale(o.EpsScale); err != nil {
		return spec, fmt.Errorf("DDIM %w", err)
	}
	if ddpm.EpsScaled(o.EpsScale) {
		spec.EpsScale = o.EpsScale
	}
	return spec, nil
}

// Sampler draws batches from a loaded DDPM with one compiled sampler.
type Sampler struct {
	l       *Loaded
	backend backends.Backend
	spec    SamplerSpec
	anc     *ddpm.Ancestral
	ddim    *ddpm.DDIM
}

// NewSampler prepares "ddpm" (ancestral; steps must be T or 0) or "ddim"
// (steps S; 0 = the experiment's) with the experiment's eta and spacing.
func (l *Loaded) NewSampler(backend backends.Backend, kind string, steps int) (*Sampler, error) {
	spec, err := l.Spec(kind, steps, -1, "")
	if err != nil {
		return nil, err
	}
	return l.NewSamplerSpec(backend, spec)
}

// NewSamplerSpec prepares the sampler of a resolved spec (see Spec).
func (l *Loaded) NewSamplerSpec(backend backends.Backend, spec SamplerSpec) (*Sampler, error) {
	s := &Sampler{l: l, backend: backend, spec: spec}
	ctx := l.Ctx.Reuse()
	switch spec.Sampler {
	case "ddpm":
		a, err := ddpm.NewAncestral(backend, ctx, l.Model, ddpm.AncestralOptions{ClipX0: spec.ClipX0})
		if err != nil {
			return nil, err
		}
		s.anc = a
	case "ddim":
		if spec.Eta < 0 {
			return nil, fmt.Errorf("DDIM eta must be >= 0, got %g", spec.Eta)
		}
		d, err := ddpm.NewDDIM(backend, ctx, l.Model, ddpm.DDIMOptions{Steps: spec.Steps, Spacing: spec.Spacing, Eta: spec.Eta, ClipX0: spec.ClipX0, EpsScale: spec.EpsScale})
		if err != nil {
			return nil, err
		}
		s.ddim = d
	default:
		return nil, fmt.Errorf("unknown sampler %q (want ddpm or ddim)", spec.Sampler)
	}
	return s, nil
}

// Steps is the number of network evaluations per sample.
func (s *Sampler) Steps() int { return s.spec.Steps }

// Spec is the sampler's resolved settings.
func (s *Sampler) Spec() SamplerSpec { return s.spec }

// Sample draws n images (float32 [n,H,W,1], nominally in [-1,1]) from x_T
// drawn with seed; the sampler's own noise uses seed+1.
func (s *Sampler) Sample(n int, seed int64, progress diffusion.Progress) (*tensors.Tensor, error) {
	sz := s.l.ImageSize()
	xT, err := diffusion.GaussianNoise(s.backend, seed, n, sz, sz, 1)
	if err != nil {
		return nil, err
	}
	return s.SampleFrom(xT, seed+1, progress, nil)
}

// SampleFrom runs the sampler from a given x_T [n,H,W,1]; noiseSeed seeds the
// noise the sampler adds (unused by DDIM with eta 0); observe, if not nil,
// sees the state after every step (see diffusion.Options.Observe).
func (s *Sampler) SampleFrom(xT *tensors.Tensor, noiseSeed int64, progress diffusion.Progress, observe func(k int, x *tensors.Tensor)) (*tensors.Tensor, error) {
	return s.SampleCond(xT, nil, noiseSeed, progress, observe)
}

// SampleCond is SampleFrom with a condition [n,H,W,C] for conditional models
// (nil for unconditional ones).
func (s *Sampler) SampleCond(xT, cond *tensors.Tensor, noiseSeed int64, progress diffusion.Progress, observe func(k int, x *tensors.Tensor)) (*tensors.Tensor, error) {
	opts := diffusion.Options{Seed: noiseSeed, Progress: progress, Observe: observe}
	if s.anc != nil {
		return s.anc.Sample(xT, cond, opts)
	}
	return s.ddim.Sample(xT, cond, opts)
}

// Timesteps returns the 0-based timesteps the sampler visits, in order.
func (s *Sampler) Timesteps() []int {
	if s.ddim != nil {
		return s.ddim.Timesteps()
	}
	T := s.l.Model.Sched.T
	ts := make([]int, T)
	for i := range ts {
		ts[i] = T - 1 - i
	}
	return ts
}

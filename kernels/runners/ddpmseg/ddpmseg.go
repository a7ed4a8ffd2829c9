// Package ddpmseg runs chapter 3's segmentation as conditional generation
// (thesis 3.2, SegDiff): a DDPM generates the mask x_0 given the X-ray, which
// an RRDB encoder trained jointly turns into features that are added to the
// U-Net's first block ("add") or concatenated with the noisy mask ("concat").
// Training minimises L_simple on the mask (ddpm.Loss with the image as the
// condition); evaluation samples one mask per image with DDIM from x_T and
// thresholds it at 0.5 (segeval).
package ddpmseg

import (
	"fmt"

	"github.com/dmseg/dmseg/kernels/artifacts"
	"github.com/dmseg/dmseg/kernels/data/dataset"
	"github.com/dmseg/dmseg/kernels/diffusion"
	"github.com/dmseg/dmseg/kernels/diffusion/ddpm"
	"github.com/dmseg/dmseg/kernels/experiments"
	"github.com/dmseg/dmseg/kernels/models/registry"
	"github.com/dmseg/dmseg/kernels/nn"
	"github.com/dmseg/dmseg/kernels/runners"
	"github.com/dmseg/dmseg/kernels/runners/ddpmuncond"
	"github.com/dmseg/dmseg/kernels/runners/segeval"
	"github.com/dmseg/dmseg/kernels/train"
	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Runner is the ddpm-seg runner.
type Runner struct{}

func init() {
	runners.Register(Runner{})
	segeval.RegisterPredictor(experiments.KindDDPMSeg, func(a *artifacts.Artifact, backend backends.Backend) (segeval.Predict, int, func(), error) {
		l, err := Load(a)
		if err != nil {
			return nil, 0, nil, err
		}
		spec, err := l.Spec("ddim", 0, -1, "")
		if err != nil {
			return nil, 0, nil, err
		}
		s, err := l.NewSamplerSpec(backend, spec)
		if err != nil {
			return nil, 0, nil, err
		}
		return Predictor(backend, s, nil), l.ImageSize(), func() {}, nil
	})
}

// Kind is experiments.KindDDPMSeg.
func (Runner) Kind() string { return experiments.KindDDPMSeg }

// Train trains the conditional DDPM: L_simple on the mask (in {-1, 1}) with
// the X-ray (in [-1, 1]) as the condition, the encoder trained jointly
// (Table 8: cond_stage_trainable).
func (Runner) Train(e experiments.Experiment, o runners.TrainOptions) (*runners.TrainResult, error) {
	return runners.Fit(e, o, runners.FitSpec{Kind: experiments.KindDDPMSeg, Conds: []string{registry.CondAdd, registry.CondConcat},
		Loss: func(rc experiments.RunConfig) (train.LossFn, string, error) {
			m, err := ddpmuncond.Model(rc)
			if err != nil {
				return nil, "", err
			}
			if w := rc.Experiment.Diffusion.AuxDice; w > 0 {
				return func(ctx *context.Context, batch []*Node) *Node { return LossAuxDice(ctx, m, batch[1], batch[0], w) },
					fmt.Sprintf("%s conditioning, %s objective + %g x soft Dice on x0_hat", rc.ModelConfig.Cond, m.Param, w), nil
			}
			return func(ctx *context.Context, batch []*Node) *Node { return ddpm.Loss(ctx, m, batch[1], batch[0]) },
				fmt.Sprintf("%s conditioning, %s objective", rc.ModelConfig.Cond, m.Param), nil
		}})
}

// LossAuxDice is L_simple on the mask (in {-1, 1}) plus w times the soft
// Dice loss between clip((x0_hat+1)/2, 0, 1) and the mask in {0, 1}
// (experiments.DiffusionSpec.AuxDice). The Dice term sees every timestep
// drawn for L_simple; at large t it is the one-pass segmentation loss of the
// U-Net baseline, which keeps small foregrounds from being ignored.
func LossAuxDice(ctx *context.Context, m ddpm.Model, mask, image *Node, w float64) *Node {
	mse, x0Hat := ddpm.LossX0(ctx, m, mask, image)
	unit := func(x *Node) *Node { return MulScalar(AddScalar(x, 1), 0.5) }
	p := ClipScalar(unit(x0Hat), 0, 1)
	return Add(mse, MulScalar(nn.SoftDiceLoss(p, unit(mask)), w))
}

// Load opens a ddpm-seg artifact.
func Load(a *artifacts.Artifact) (*ddpmuncond.Loaded, error) {
	return ddpmuncond.LoadKind(a, experiments.KindDDPMSeg)
}

// Predictor returns the segeval prediction of a sampler: for a batch of
// images, x_T from seed, the sampler's noise from seed+1, the sampled mask x_0.
func Predictor(backend backends.Backend, s *ddpmuncond.Sampler, progress diffusion.Progress) segeval.Predict {
	return func(b *dataset.Batch, seed int64) ([]float32, error) {
		xT, err := diffusion.GaussianNoise(backend, seed, b.B, b.H, b.W, 1)
		if err != nil {
			return nil, err
		}
		out, err := s.SampleCond(xT, b.ImagesTensor(), seed+1, progress, nil)
		if err != nil {
			return nil, err
		}
		return tensors.CopyFlatData[float32](out)
	}
}

// Protocol resolves the evaluation protocol of an artifact: the experiment's
// DDIM (steps, eta, spacing), its evaluation split and seed unless o says
// otherwise, threshold 0.5.
func Protocol(l *ddpmuncond.Loaded, o runners.EvalOptions, set *dataset.Set) (segeval.Protocol, ddpmuncond.SamplerSpec, error) {
	e := l.Config.Experiment
	if ddpm.EpsScaled(o.DDIM.EpsScale) {
		return segeval.Protocol{}, ddpmuncond.SamplerSpec{}, fmt.Errorf("--eps-scale applies to %s quality records only, not to %s", experiments.KindDDPMUncond, experiments.KindDDPMSeg)
	}
	spec, err := l.DDIMSpec(o.DDIM)
	if err != nil {
		return segeval.Protocol{}, spec, err
	}
	switch {
	case len(o.Samplers) == 0 || len(o.Samplers) == 1 && o.Samplers[0] == "ddim":
	case len(o.Samplers) == 1 && o.Samplers[0] == "ddpm":
		if spec, err = l.Spec("ddpm", 0, -1, ""); err != nil {
			return segeval.Protocol{}, spec, err
		}
	default:
		return segeval.Protocol{}, spec, fmt.Errorf("%s evaluates with one sampler (ddim or ddpm), got %v", experiments.KindDDPMSeg, o.Samplers)
	}
	p := segeval.NewProtocol(spec, set, o, e.Sampling.EvalSeed, e.Sampling.UseEMA)
	if o.N == 0 && e.Sampling.EvalSamples > 0 {
		p.N = min(set.N, e.Sampling.EvalSamples)
	}
	return p, spec, nil
}

// Evaluate segments the evaluation split (one DDIM sample per image unless
// --samples K) and writes a segmentation record.
func (Runner) Evaluate(a *artifacts.Artifact, o runners.EvalOptions) (*artifacts.Eval, error) {
	l, err := Load(a)
	if err != nil {
		return nil, err
	}
	set, err := runners.EvalSet(l.Artifact, l.Config.Experiment, o.Split)
	if err != nil {
		return nil, err
	}
	p, spec, err := Protocol(l, o, set)
	if err != nil {
		return nil, err
	}
	s, err := l.NewSamplerSpec(o.Backend, spec)
	if err != nil {
		return nil, err
	}
	return segeval.Create(a, o, set, p, Predictor(o.Backend, s, nil))
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
	var spec ddpmuncond.SamplerSpec
	if err := p.DecodeMethod(&spec); err != nil {
		return runners.ResampleReport{}, fmt.Errorf("evaluation %s: method: %w", ev.Record.ID, err)
	}
	set, err := runners.EvalSet(l.Artifact, l.Config.Experiment, p.Split)
	if err != nil {
		return runners.ResampleReport{}, err
	}
	s, err := l.NewSamplerSpec(o.Backend, spec)
	if err != nil {
		return runners.ResampleReport{}, err
	}
	return segeval.Resample(ev, set, k, Predictor(o.Backend, s, nil), tol, o.Log)
}

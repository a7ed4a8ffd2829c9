// Package unetseg runs the practitioner's baseline for chapter 3: the same
// U-Net backbone as the segmentation DDPMs, without the RRDB encoder or any
// diffusion, maps the X-ray to mask logits in one forward pass and is trained
// with binary cross-entropy plus soft Dice. It answers what the generative
// formulation buys over direct segmentation at the same budget.
package unetseg

import (
	"fmt"

	"github.com/dmseg/dmseg/kernels/artifacts"
	"github.com/dmseg/dmseg/kernels/data/dataset"
	"github.com/dmseg/dmseg/kernels/experiments"
	"github.com/dmseg/dmseg/kernels/models/registry"
	"github.com/dmseg/dmseg/kernels/nn"
	"github.com/dmseg/dmseg/kernels/runners"
	"github.com/dmseg/dmseg/kernels/runners/segeval"
	"github.com/dmseg/dmseg/kernels/train"
	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Runner is the unet-seg runner.
type Runner struct{}

func init() {
	runners.Register(Runner{})
	segeval.RegisterPredictor(experiments.KindUNetSeg, func(a *artifacts.Artifact, backend backends.Backend) (segeval.Predict, int, func(), error) {
		l, err := Load(a)
		if err != nil {
			return nil, 0, nil, err
		}
		p, release, err := l.Predictor(backend)
		return p, l.Config.Experiment.Data.Phantom.Size, release, err
	})
}

// Kind is experiments.KindUNetSeg.
func (Runner) Kind() string { return experiments.KindUNetSeg }

// Logits runs the backbone on images [B,H,W,1] in [-1, 1] with t = 0.
func Logits(ctx *context.Context, net registry.Denoiser, images *Node) *Node {
	B := images.Shape().Dimensions[0]
	t := ZerosLike(Slice(Reshape(images, B, -1), AxisRange(), AxisElem(0)))
	return net(ctx, images, Reshape(t, B), nil)
}

// Loss is binary cross-entropy on the logits (numerically stable form
// max(x,0) - x y + log(1 + exp(-|x|))) plus the soft Dice loss
// 1 - (2 sum p y + 1)/(sum p + sum y + 1) per image, averaged over the batch;
// masks are in {-1, 1}.
func Loss(logits, masks *Node) *Node {
	y := MulScalar(AddScalar(masks, 1), 0.5)
	return Add(nn.BCEWithLogits(logits, y), nn.SoftDiceLoss(Sigmoid(logits), y))
}

// Train trains the baseline with BCE + Dice.
func (Runner) Train(e experiments.Experiment, o runners.TrainOptions) (*runners.TrainResult, error) {
	return runners.Fit(e, o, runners.FitSpec{Kind: experiments.KindUNetSeg, Conds: []string{registry.CondNone},
		Loss: func(rc experiments.RunConfig) (train.LossFn, string, error) {
			mc, err := rc.ModelConfig.Resolve()
			if err != nil {
				return nil, "", err
			}
			net := mc.Denoiser()
			return func(ctx *context.Context, batch []*Node) *Node { return Loss(Logits(ctx, net, batch[0]), batch[1]) },
				"BCE + soft Dice on the mask logits", nil
		}})
}

// Loaded is a trained baseline.
type Loaded struct {
	Artifact *artifacts.Artifact
	Config   experiments.RunConfig
	Net      registry.Denoiser
	Ctx      *context.Context
}

// Load opens a unet-seg artifact.
func Load(a *artifacts.Artifact) (*Loaded, error) {
	var rc experiments.RunConfig
	if err := a.DecodeConfig(&rc); err != nil {
		return nil, err
	}
	if rc.Experiment.Kind != experiments.KindUNetSeg {
		return nil, fmt.Errorf("artifact %s: kind %q is not %s", a.Manifest.ID, rc.Experiment.Kind, experiments.KindUNetSeg)
	}
	mc, err := rc.ModelConfig.Resolve()
	if err != nil {
		return nil, err
	}
	ctx, err := runners.LoadWeights(a, rc.Experiment.Sampling.UseEMA)
	if err != nil {
		return nil, err
	}
	return &Loaded{Artifact: a, Config: rc, Net: mc.Denoiser(), Ctx: ctx}, nil
}

// Predictor returns the logits of a batch (the seed is unused: one pass is deterministic).
func (l *Loaded) Predictor(backend backends.Backend) (segeval.Predict, func(), error) {
	exec, err := context.NewExec(backend, l.Ctx.Reuse(), func(ctx *context.Context, images *Node) *Node {
		return Logits(ctx, l.Net, images)
	})
	if err != nil {
		return nil, nil, err
	}
	return func(b *dataset.Batch, _ int64) ([]float32, error) {
		out, err := exec.Exec1(b.ImagesTensor())
		if err != nil {
			return nil, err
		}
		defer out.FinalizeAll()
		return tensors.CopyFlatData[float32](out)
	}, exec.Finalize, nil
}

// Evaluate segments the evaluation split in one pass per image.
func (Runner) Evaluate(a *artifacts.Artifact, o runners.EvalOptions) (*artifacts.Eval, error) {
	l, err := Load(a)
	if err != nil {
		return nil, err
	}
	set, err := runners.EvalSet(l.Artifact, l.Config.Experiment, o.Split)
	if err != nil {
		return nil, err
	}
	if o.Samples > 1 {
		return nil, fmt.Errorf("%s is deterministic (one forward pass); --samples %d does not apply", experiments.KindUNetSeg, o.Samples)
	}
	if len(o.Samplers) > 0 {
		return nil, fmt.Errorf("%s has no sampler; --samplers does not apply", experiments.KindUNetSeg)
	}
	e := l.Config.Experiment
	p := segeval.NewProtocol("forward", set, o, e.Sampling.EvalSeed, e.Sampling.UseEMA)
	pred, done, err := l.Predictor(o.Backend)
	if err != nil {
		return nil, err
	}
	defer done()
	return segeval.Create(a, o, set, p, pred)
}

// Resample re-predicts the first k masks of a record and compares them.
func (Runner) Resample(a *artifacts.Artifact, ev *artifacts.Eval, k int, o runners.EvalOptions, tol int) (runners.ResampleReport, error) {
	l, err := Load(a)
	if err != nil {
		return runners.ResampleReport{}, err
	}
	p, _, err := segeval.Open(ev)
	if err != nil {
		return runners.ResampleReport{}, err
	}
	set, err := runners.EvalSet(l.Artifact, l.Config.Experiment, p.Split)
	if err != nil {
		return runners.ResampleReport{}, err
	}
	pred, done, err := l.Predictor(o.Backend)
	if err != nil {
		return runners.ResampleReport{}, err
	}
	defer done()
	return segeval.Resample(ev, set, k, pred, tol, o.Log)
}

// Package vqgan runs chapter 5's first stage (thesis 5.1, Tables 9-10): a
// VQ-GAN that reconstructs CLAHE X-rays or masks. Training is the reference's
// two-optimiser GAN step as one loss for the shared training loop
// (models/vqgan.TrainingLoss: autoencoder and PatchGAN updated together, the
// GAN terms after LossConfig.DiscStart); evaluation reconstructs the
// held-out split and records PSNR and L1 for X-rays, the 8 segmentation
// metrics of the thresholded reconstruction against the mask for masks (the
// ceiling of any latent segmentation, which the thesis never measured), and
// codebook usage and perplexity.
package vqgan

import (
	"fmt"
	"math"
	"time"

	"github.com/dmseg/dmseg/kernels/artifacts"
	"github.com/dmseg/dmseg/kernels/data/dataset"
	"github.com/dmseg/dmseg/kernels/engine"
	"github.com/dmseg/dmseg/kernels/experiments"
	"github.com/dmseg/dmseg/kernels/imageio"
	"github.com/dmseg/dmseg/kernels/metrics/seg"
	vq "github.com/dmseg/dmseg/kernels/models/vqgan"
	"github.com/dmseg/dmseg/kernels/runners"
	"github.com/dmseg/dmseg/kernels/train"
	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Runner is the vqgan runner.
type Runner struct{}

func init() { runners.Register(Runner{}) }

// Kind is experiments.KindVQGAN.
func (Runner) Kind() string { return experiments.KindVQGAN }

// Train trains the VQ-GAN on the images (target "image") or the masks.
func (Runner) Train(e experiments.Experiment, o runners.TrainOptions) (*runners.TrainResult, error) {
	imagesOnly := e.VQ != nil && e.VQ.Target == "image"
	return runners.Fit(e, o, runners.FitSpec{Kind: experiments.KindVQGAN, Conds: []string{""}, ImagesOnly: imagesOnly,
		Loss: func(rc experiments.RunConfig) (train.LossFn, string, error) {
			a, spec := rc.Autoencoder, rc.Experiment.VQ
			if a == nil || spec == nil {
				return nil, "", fmt.Errorf("experiment %s: no autoencoder or vq spec", rc.Experiment.Name)
			}
			idx := 0
			if spec.Target == "mask" {
				idx = 1
			}
			return func(ctx *context.Context, batch []*Node) *Node {
					ctx = ctx.Checked(false) // the discriminator is applied three times
					x := batch[idx]
					return vq.TrainingLoss(ctx, a.VQGAN, a.Disc, spec.Loss, train.StepNode(ctx, x.Graph()), x).Total
				}, fmt.Sprintf("%s reconstruction (%s) + codebook loss + PatchGAN %s loss from step %d, one optimiser over both players",
					spec.Target, spec.Loss.Recon, spec.Loss.DiscLoss, spec.Loss.DiscStart) + restartNote(spec), nil
		},
		AfterStep: restartHook})
}

// Loaded is a trained VQ-GAN.
type Loaded struct {
	Artifact *artifacts.Artifact
	Config   experiments.RunConfig
	Ctx      *context.Context
}

// Load opens a vqgan artifact.
func Load(a *artifacts.Artifact) (*Loaded, error) {
	var rc experiments.RunConfig
	if err := a.DecodeConfig(&rc); err != nil {
		return nil, err
	}
	if rc.Experiment.Kind != experiments.KindVQGAN || rc.Autoencoder == nil || rc.Experiment.VQ == nil {
		return nil, fmt.Errorf("artifact %s: kind %q is not %s", a.Manifest.ID, rc.Experiment.Kind, experiments.KindVQGAN)
	}
	ctx, err := runners.LoadWeights(a, rc.Experiment.Sampling.UseEMA)
	if err != nil {
		return nil, err
	}
	return &Loaded{Artifact: a, Config: rc, Ctx: ctx}, nil
}

// Reconstructor maps a batch [B,H,W,1] in [-1, 1] to its reconstruction (in
// [-1, 1]; ReconImage of the decoder output) and the chosen code indices.
func (l *Loaded) Reconstructor(backend backends.Backend) (func(x *tensors.Tensor) (rec []float32, idx []int32, err error), func(), error) {
	a, spec := l.Config.Autoencoder, l.Config.Experiment.VQ
	exec, err := context.NewExec(backend, l.Ctx.Reuse(), func(ctx *context.Context, x *Node) []*Node {
		dec, q := vq.Forward(ctx, a.VQGAN, x)
		return []*Node{ConvertDType(vq.ReconImage(spec.Loss.Recon, dec), x.DType()), q.Indices}
	})
	if err != nil {
		return nil, nil, err
	}
	return func(x *tensors.Tensor) ([]float32, []int32, error) {
		out, err := exec.Exec(x)
		if err != nil {
			return nil, nil, err
		}
		defer out[0].FinalizeAll()
		defer out[1].FinalizeAll()
		rec, err := tensors.CopyFlatData[float32](out[0])
		if err != nil {
			return nil, nil, err
		}
		idx, err := tensors.CopyFlatData[int32](out[1])
		return rec, idx, err
	}, exec.Finalize, nil
}

// Protocol is a reconstruction record's protocol.
type Protocol struct {
	Data    string `json:"data"`
	Split   string `json:"split"`
	N       int    `json:"n"`
	Target  string `json:"target"`
	Batch   int    `json:"batch"`
	Backend string `json:"backend"`
}

// Results are a reconstruction record's numbers.
type Results struct {
	N             int          `json:"n"`
	L1            float64      `json:"l1"`              // mean |x - rec| over pixels, in [-1, 1] units
	PSNR          float64      `json:"psnr"`            // mean over images, data range 2 ([-1, 1])
	Seg           *seg.Summary `json:"seg,omitempty"`   // masks: rec > 0 against mask > 0
	UsedCodes     int          `json:"used_codes"`      // distinct codes over the split
	Perplexity    float64      `json:"perplexity"`      // exp(entropy) of the code histogram
	CodebookSize  int          `json:"codebook_size"`   // n_embed
	SecondsPerImg float64      `json:"seconds_per_img"` // encode + decode
}

// EvalName is the name of reconstruction records.
const EvalName = "recon"

// ReconFile holds the reconstructions of the evaluated images as an 8-bit strip.
const ReconFile = "recon.png"

// Evaluate reconstructs the held-out split and writes a reconstruction record.
func (Runner) Evaluate(a *artifacts.Artifact, o runners.EvalOptions) (*artifacts.Eval, error) {
	l, err := Load(a)
	if err != nil {
		return nil, err
	}
	set, err := runners.EvalSet(l.Artifact, l.Config.Experiment, o.Split)
	if err != nil {
		return nil, err
	}
	if o.Samples > 1 || len(o.Samplers) > 0 {
		return nil, fmt.Errorf("%s reconstructs deterministically: --samples and --samplers do not apply", experiments.KindVQGAN)
	}
	p := Protocol{Data: set.Source + "/" + set.Split, Split: set.Split, N: set.N, Target: l.Config.Experiment.VQ.Target, Batch: o.Batch, Backend: o.Info.Name}
	if o.N > 0 {
		p.N = min(o.N, set.N)
	}
	if p.Batch <= 0 {
		p.Batch = 25
	}
	if err := a.CheckNewEval(EvalName, p); err != nil {
		return nil, err
	}
	rec, res, err := Reconstruct(l, o.Backend, set, p)
	if err != nil {
		return nil, err
	}
	strip, err := imageio.EncodeStrip(rec, p.N, set.H, set.W)
	if err != nil {
		return nil, err
	}
	return a.CreateEval(EvalName, p, res, map[string][]byte{ReconFile: strip}, artifacts.BackendFrom(o.Info),
		artifacts.GitState(engine.ProjectRoot()), map[string]float64{"seconds_per_image": res.SecondsPerImg})
}

// Reconstruct runs the first p.N images (or masks) of set through the
// VQ-GAN and scores them; rec holds the reconstructions as 8-bit pixels.
func Reconstruct(l *Loaded, backend backends.Backend, set *dataset.Set, p Protocol) ([]uint8, *Results, error) {
	run, done, err := l.Reconstructor(backend)
	if err != nil {
		return nil, nil, err
	}
	defer done()
	hw := set.H * set.W
	rec8 := make([]uint8, 0, p.N*hw)
	res := &Results{N: p.N, CodebookSize: l.Config.Autoencoder.VQGAN.NEmbed}
	var codes []int32
	var counts []seg.Counts
	t0 := time.Now()
	for start := 0; start < p.N; start += p.Batch {
		var idx []int
		for i := start; i < min(start+p.Batch, p.N); i++ {
			idx = append(idx, i)
		}
		b := set.Gather(idx, p.Target == "image")
		x := b.ImagesTensor()
		src := b.Images
		if p.Target == "mask" {
			x, src = b.MasksTensor(), b.Masks
		}
		rec, ix, err := run(x)
		if err != nil {
			return nil, nil, err
		}
		codes = append(codes, ix...)
		for j := range idx {
			var l1, se float64
			for k := j * hw; k < (j+1)*hw; k++ {
				d := float64(src[k] - rec[k])
				l1 += math.Abs(d)
				se += d * d
			}
			res.L1 += l1 / float64(hw)
			res.PSNR += 10 * math.Log10(4/math.Max(se/float64(hw), 1e-12))
			if p.Target == "mask" {
				c, err := seg.Count(rec[j*hw:(j+1)*hw], src[j*hw:(j+1)*hw], 0)
				if err != nil {
					return nil, nil, err
				}
				counts = append(counts, c)
			}
		}
		for _, v := range rec {
			rec8 = append(rec8, uint8(math.Round((math.Max(-1, math.Min(1, float64(v)))+1)*127.5)))
		}
	}
	res.SecondsPerImg = time.Since(t0).Seconds() / float64(max(p.N, 1))
	res.L1 /= float64(p.N)
	res.PSNR /= float64(p.N)
	if p.Target == "mask" {
		s := seg.Summarize(counts)
		res.Seg = &s
	}
	st, err := vq.Stats(codes, res.CodebookSize)
	if err != nil {
		return nil, nil, err
	}
	res.UsedCodes, res.Perplexity = st.Used, st.Perplexity
	return rec8, res, nil
}

// Resample reconstructs the first k images again and compares them with the
// stored strip (equal on the record's backend, within tol pixel levels on another).
func (Runner) Resample(a *artifacts.Artifact, ev *artifacts.Eval, k int, o runners.EvalOptions, tol int) (runners.ResampleReport, error) {
	var rep runners.ResampleReport
	l, err := Load(a)
	if err != nil {
		return rep, err
	}
	var p Protocol
	if err := ev.DecodeProtocol(&p); err != nil {
		return rep, err
	}
	set, err := runners.EvalSet(l.Artifact, l.Config.Experiment, p.Split)
	if err != nil {
		return rep, err
	}
	raw, err := ev.ReadFile(ReconFile)
	if err != nil {
		return rep, err
	}
	stored, err := imageio.DecodeStrip(raw, set.W)
	if err != nil {
		return rep, err
	}
	t0 := time.Now()
	q := p
	q.N = min(p.Batch, p.N) // batch 0 exactly as Evaluate ran it
	k = min(k, q.N)
	rec, _, err := Reconstruct(l, o.Backend, set, q)
	if err != nil {
		return rep, err
	}
	rep.Compared = k
	for j := range rec[:k*set.H*set.W] {
		d := int(rec[j]) - int(stored[j])
		if d != 0 {
			rep.Differing++
			rep.MaxAbsLevels = max(rep.MaxAbsLevels, d, -d)
		}
	}
	rep.Seconds = time.Since(t0).Seconds()
	if rep.MaxAbsLevels > tol {
		return rep, fmt.Errorf("evaluation %s: %d pixels of the first %d reconstructions differ from %s by up to %d levels (tolerance %d)",
			ev.Record.ID, rep.Differing, k, ReconFile, rep.MaxAbsLevels, tol)
	}
	return rep, nil
}

func restartNote(spec *experiments.VQSpec) string {
	if spec.Restart == nil {
		return ""
	}
	r := spec.Restart
	until := "the end"
	if r.Until > 0 {
		until = fmt.Sprintf("step %d", r.Until)
	}
	return fmt.Sprintf("; dead codes (unused for %d steps) restarted every %d steps until %s", r.Patience, r.Every, until)
}

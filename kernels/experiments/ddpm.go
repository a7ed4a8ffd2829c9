package experiments

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/dmseg/dmseg/kernels/artifacts"
	"github.com/dmseg/dmseg/kernels/data/dataset"
	"github.com/dmseg/dmseg/kernels/diffusion"
	"github.com/dmseg/dmseg/kernels/diffusion/ddpm"
	"github.com/dmseg/dmseg/kernels/diffusion/schedule"
	"github.com/dmseg/dmseg/kernels/engine"
	"github.com/dmseg/dmseg/kernels/models/registry"
	"github.com/dmseg/dmseg/kernels/train"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// RunConfig is what an artifact of a DDPM experiment stores as its config:
// the experiment and the fully resolved network configuration, so the
// artifact can be loaded even if the named registry entries change later.
type RunConfig struct {
	Experiment  Experiment      `json:"experiment"`
	ModelConfig registry.Config `json:"model_config"`
	ModelParams int             `json:"model_params"`
}

// Validate checks an experiment before anything expensive happens.
func (e Experiment) Validate() error {
	if e.Kind != KindDDPMUncond {
		return fmt.Errorf("experiment %s: unsupported kind %q", e.Name, e.Kind)
	}
	if e.Data.Source != "phantom" {
		return fmt.Errorf("experiment %s: unsupported data source %q", e.Name, e.Data.Source)
	}
	if e.Diffusion.BetaStart != schedule.DefaultBetaStart || e.Diffusion.BetaEnd != schedule.DefaultBetaEnd {
		return fmt.Errorf("experiment %s: only beta 1e-4..0.02 is supported, got %g..%g", e.Name, e.Diffusion.BetaStart, e.Diffusion.BetaEnd)
	}
	if _, err := ddpm.ParseParam(e.Diffusion.Param); err != nil {
		return fmt.Errorf("experiment %s: %w", e.Name, err)
	}
	tc := e.Train
	if tc.Steps == 0 && tc.Epochs > 0 && tc.StepsPerEpoch == 0 {
		tc.StepsPerEpoch = 1 // filled from the data set when training starts
	}
	return tc.Validate()
}

// Schedule returns the experiment's DDPM schedule.
func (e Experiment) Schedule() (*schedule.DDPM, error) {
	return schedule.NewDDPM(e.Diffusion.Beta, e.Diffusion.Timesteps)
}

// ResolveModel resolves the experiment's network by registry name.
func (e Experiment) ResolveModel() (RunConfig, error) {
	mc, err := registry.Lookup(e.Model)
	if err != nil {
		return RunConfig{}, fmt.Errorf("experiment %s: %w", e.Name, err)
	}
	if mc.Cond != registry.CondNone {
		return RunConfig{}, fmt.Errorf("experiment %s: model %s is conditional; unconditional DDPM needs a mode-none model", e.Name, e.Model)
	}
	n, _ := mc.ParamCount()
	return RunConfig{Experiment: e, ModelConfig: mc, ModelParams: n}, nil
}

// DDPMModel assembles the diffusion model of a run config.
func (rc RunConfig) DDPMModel() (ddpm.Model, error) {
	s, err := rc.Experiment.Schedule()
	if err != nil {
		return ddpm.Model{}, err
	}
	p, err := ddpm.ParseParam(rc.Experiment.Diffusion.Param)
	if err != nil {
		return ddpm.Model{}, err
	}
	den := rc.ModelConfig.Denoiser()
	return ddpm.Model{Sched: s, Param: p, Denoiser: diffusion.Denoiser(den)}, nil
}

// LSimple is thesis Algorithm 1's loss: t ~ U{0..T-1}, eps ~ N(0, I) from the
// context RNG (checkpointed), then ddpm.LossAt.
func LSimple(m ddpm.Model) train.LossFn {
	return func(ctx *context.Context, batch []*Node) *Node {
		x0 := batch[0]
		g := x0.Graph()
		B := x0.Shape().Dimensions[0]
		t := ConvertDType(ctx.RandomIntN(g, int32(m.Sched.T), shapes.Make(dtypes.Int32, B)), dtypes.Float32)
		eps := ctx.RandomNormal(g, x0.Shape())
		return ddpm.LossAt(ctx, m, x0, nil, t, eps)
	}
}

// LoadSplit materialises a split of the experiment's data.
func (e Experiment) LoadSplit(split string) (*dataset.Set, error) {
	src, err := dataset.NewPhantom(e.Data.Phantom)
	if err != nil {
		return nil, err
	}
	return dataset.Load(src, split, nil)
}

// TrainOptions are the run-time choices of TrainDDPM.
type TrainOptions struct {
	Backend       backends.Backend
	Info          engine.Info
	WorkDir       string // checkpoints while training; default <checkout>/.cache/runs/<experiment>
	ArtifactsRoot string // default artifacts.Root()
	Resume        bool
	StopAtStep    int64
	Stop          func() bool
	Log           io.Writer // default os.Stderr
}

// TrainResult is what TrainDDPM did.
type TrainResult struct {
	Train    *train.Result
	Artifact *artifacts.Artifact // nil when the run stopped early (resume it)
	WorkDir  string
}

// TrainDDPM trains an unconditional DDPM experiment and, when the step budget
// is reached, stores the artifact.
func TrainDDPM(e Experiment, o TrainOptions) (*TrainResult, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	log := o.Log
	if log == nil {
		log = os.Stderr
	}
	rc, err := e.ResolveModel()
	if err != nil {
		return nil, err
	}
	m, err := rc.DDPMModel()
	if err != nil {
		return nil, err
	}
	if o.WorkDir == "" {
		root := engine.ProjectRoot()
		if root == "" {
			root = "."
		}
		o.WorkDir = filepath.Join(root, ".cache", "runs", e.Name)
	}
	if o.ArtifactsRoot == "" {
		o.ArtifactsRoot = artifacts.Root()
	}
	t0 := time.Now()
	set, err := e.LoadSplit(e.Data.TrainSplit)
	if err != nil {
		return nil, fmt.Errorf("experiment %s: data: %w", e.Name, err)
	}
	dataSec := time.Since(t0).Seconds()
	stream, err := set.Stream(e.Data.ShuffleSeed, e.Train.BatchSize, true)
	if err != nil {
		return nil, err
	}
	if e.Train.Epochs > 0 {
		e.Train.StepsPerEpoch = int64(stream.BatchesPerEpoch())
		if e.Train.Steps == 0 {
			e.Train.Steps = int64(math.Ceil(e.Train.Epochs * float64(e.Train.StepsPerEpoch)))
		}
	}
	fmt.Fprintf(log, "experiment %s: %s, %d %s images %dx%d (fingerprint %.12s, %.1fs), model %s (%d parameters), %d steps x batch %d\n",
		e.Name, set.Source, set.N, set.Split, set.H, set.W, set.Fingerprint(), dataSec, e.Model, rc.ModelParams, e.Train.Steps, e.Train.BatchSize)
	if err := os.MkdirAll(o.WorkDir, 0o755); err != nil {
		return nil, err
	}
	cfgJSON, _ := json.MarshalIndent(rc, "", "  ")
	if err := train.WriteFileAtomic(filepath.Join(o.WorkDir, "run_config.json"), cfgJSON); err != nil {
		return nil, err
	}
	git := artifacts.GitState(engine.ProjectRoot())
	ctx := context.New()
	res, err := train.Run(o.Backend, ctx, LSimple(m), stream, e.Train, train.Options{
		OutDir: o.WorkDir, Resume: o.Resume, Progress: log, StopAtStep: o.StopAtStep, Stop: o.Stop,
		Extra: map[string]string{"experiment": e.Name, "backend": o.Info.Name, "git_commit": git.Commit},
	})
	if err != nil {
		return &TrainResult{Train: res, WorkDir: o.WorkDir}, err
	}
	out := &TrainResult{Train: res, WorkDir: o.WorkDir}
	if !res.Done {
		fmt.Fprintf(log, "stopped at step %d/%d; continue with --resume (checkpoint %s)\n", res.Step, e.Train.Steps, res.CheckpointPath)
		return out, nil
	}
	man, err := artifacts.NewManifest(e.Name, rc, time.Now())
	if err != nil {
		return out, err
	}
	man.Dataset = artifacts.Dataset{Name: set.Source + "/" + set.Split, Fingerprint: set.Fingerprint(), PixelsSHA256: PixelsSHA256(set)}
	man.Git = git
	man.Backend = artifacts.BackendFrom(o.Info)
	man.GoMLX = "v0.26.0"
	man.Seeds = map[string]int64{"train": e.Train.Seed, "shuffle": int64(e.Data.ShuffleSeed), "data": int64(e.Data.Phantom.Seed), "eval": e.Sampling.EvalSeed}
	man.Metrics = map[string]float64{"steps": float64(res.Step), "final_loss": res.LastLoss, "model_params": float64(rc.ModelParams)}
	if rows, err := train.ReadLossCSV(filepath.Join(o.WorkDir, train.LossCSVFile)); err == nil && len(rows) > 0 {
		n := max(1, len(rows)/20)
		s := 0.0
		for _, r := range rows[len(rows)-n:] {
			s += r.Loss
		}
		man.Metrics["loss_last5pct_mean"] = s / float64(n)
	}
	man.Timings = map[string]float64{"train": res.TrainSeconds, "data": dataSec,
		"seconds_per_step": res.TrainSeconds / float64(max(res.Step, 1))}
	man.Notes = map[string]string{"resumed": fmt.Sprint(res.Resumed), "host_cores": fmt.Sprint(engine.Cores())}
	a, err := artifacts.Create(o.ArtifactsRoot, man, map[string]string{
		artifacts.WeightsFile: filepath.Join(o.WorkDir, train.CheckpointFile),
		train.LossCSVFile:     filepath.Join(o.WorkDir, train.LossCSVFile),
		train.LossPNGFile:     filepath.Join(o.WorkDir, train.LossPNGFile),
	})
	if err != nil {
		return out, err
	}
	out.Artifact = a
	fmt.Fprintf(log, "artifact %s written to %s (weights_sha256 %s)\n", man.ID, a.Dir, a.Manifest.WeightsSHA256)
	return out, nil
}

// Loaded is a trained DDPM ready to sample.
type Loaded struct {
	Artifact *artifacts.Artifact
	Config   RunConfig
	Model    ddpm.Model
	Ctx      *context.Context // variables (EMA weights when Config.Experiment.Sampling.UseEMA); use Ctx.Reuse() in graphs
}

// LoadDDPM opens a verified artifact and its weights.
func LoadDDPM(a *artifacts.Artifact) (*Loaded, error) {
	var rc RunConfig
	if err := a.DecodeConfig(&rc); err != nil {
		return nil, err
	}
	if rc.Experiment.Kind != KindDDPMUncond {
		return nil, fmt.Errorf("artifact %s: kind %q is not %s", a.Manifest.ID, rc.Experiment.Kind, KindDDPMUncond)
	}
	m, err := rc.DDPMModel()
	if err != nil {
		return nil, err
	}
	ck, err := a.Checkpoint()
	if err != nil {
		return nil, err
	}
	ctx := context.New()
	ck.Load(ctx)
	if rc.Experiment.Sampling.UseEMA {
		if err := train.UseEMA(ctx); err != nil {
			return nil, fmt.Errorf("artifact %s: %w", a.Manifest.ID, err)
		}
	}
	return &Loaded{Artifact: a, Config: rc, Model: m, Ctx: ctx}, nil
}

// CheckData regenerates the training split with the current code and
// compares its fingerprint with the one recorded in the artifact: a changed
// data generator (or data folder) means held-out comparisons would measure a
// distribution shift, not the model. It returns the fingerprints on mismatch.
func (l *Loaded) CheckData() error {
	e := l.Config.Experiment
	set, err := e.LoadSplit(e.Data.TrainSplit)
	if err != nil {
		return err
	}
	if want := l.Artifact.Manifest.Dataset.PixelsSHA256; want != "" {
		if got := PixelsSHA256(set); got != want {
			return fmt.Errorf("artifact %s was trained on %s images whose pixels hash to %.16s…, but this code generates pixels hashing to %.16s… "+
				"(the data generator changed since; retrain with `make train-all` or check out the artifact's commit %.12s)",
				l.Artifact.Manifest.ID, l.Artifact.Manifest.Dataset.Name, want, got, l.Artifact.Manifest.Git.Commit)
		}
	}
	want := l.Artifact.Manifest.Dataset.Fingerprint
	if got := set.Fingerprint(); got != want {
		return fmt.Errorf("artifact %s was trained on %s with fingerprint %.16s…, but this code generates fingerprint %.16s… "+
			"(the data generator or data changed since; retrain with `make train-all` or check out the artifact's commit %.12s)",
			l.Artifact.Manifest.ID, l.Artifact.Manifest.Dataset.Name, want, got, l.Artifact.Manifest.Git.Commit)
	}
	return nil
}

// PixelsSHA256 hashes a materialised set: "N H W" then every 8-bit image pixel.
func PixelsSHA256(set *dataset.Set) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d %d %d\n", set.N, set.H, set.W)
	h.Write(set.Images)
	return hex.EncodeToString(h.Sum(nil))
}

// ImageSize is the side of the images the model was trained on.
func (l *Loaded) ImageSize() int { return l.Config.Experiment.Data.Phantom.Size }

// Sampler draws batches from a loaded DDPM with one compiled sampler.
type Sampler struct {
	l       *Loaded
	backend backends.Backend
	kind    string
	steps   int
	anc     *ddpm.Ancestral
	ddim    *ddpm.DDIM
}

// NewSampler prepares "ddpm" (ancestral; steps must be T or 0) or "ddim" (steps S; 0 = the experiment's).
func (l *Loaded) NewSampler(backend backends.Backend, kind string, steps int) (*Sampler, error) {
	sp := l.Config.Experiment.Sampling
	s := &Sampler{l: l, backend: backend, kind: kind}
	ctx := l.Ctx.Reuse()
	switch kind {
	case "ddpm":
		T := l.Model.Sched.T
		if steps != 0 && steps != T {
			return nil, fmt.Errorf("sampler ddpm runs all T=%d steps of the chain; got --steps %d (use --sampler ddim for fewer)", T, steps)
		}
		a, err := ddpm.NewAncestral(backend, ctx, l.Model, ddpm.AncestralOptions{ClipX0: sp.DDPMClipX0})
		if err != nil {
			return nil, err
		}
		s.anc, s.steps = a, T
	case "ddim":
		if steps == 0 {
			steps = sp.DDIMSteps
		}
		d, err := ddpm.NewDDIM(backend, ctx, l.Model, ddpm.DDIMOptions{Steps: steps, Spacing: sp.DDIMSpacing, Eta: sp.DDIMEta, ClipX0: sp.DDIMClipX0})
		if err != nil {
			return nil, err
		}
		s.ddim, s.steps = d, steps
	default:
		return nil, fmt.Errorf("unknown sampler %q (want ddpm or ddim)", kind)
	}
	return s, nil
}

// Steps is the number of network evaluations per sample.
func (s *Sampler) Steps() int { return s.steps }

// Sample draws n images (float32 [n,H,W,1], nominally in [-1,1]) from x_T
// drawn with seed; the sampler's own noise uses seed+1.
func (s *Sampler) Sample(n int, seed int64, progress diffusion.Progress) (*tensors.Tensor, error) {
	sz := s.l.ImageSize()
	xT, err := diffusion.GaussianNoise(s.backend, seed, n, sz, sz, 1)
	if err != nil {
		return nil, err
	}
	return s.SampleFrom(xT, seed+1, progress)
}

// SampleFrom runs the sampler from a given x_T [n,H,W,1]; noiseSeed seeds the
// noise the sampler adds (unused by DDIM with eta 0).
func (s *Sampler) SampleFrom(xT *tensors.Tensor, noiseSeed int64, progress diffusion.Progress) (*tensors.Tensor, error) {
	opts := diffusion.Options{Seed: noiseSeed, Progress: progress}
	if s.anc != nil {
		return s.anc.Sample(xT, nil, opts)
	}
	return s.ddim.Sample(xT, nil, opts)
}

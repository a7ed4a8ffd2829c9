// Package runners is the registry of experiment runners, one per kind of
// experiment (experiments.KindSpecs), registered from their packages'
// init functions the way the dmseg commands are. A runner trains an
// experiment into an immutable artifact, evaluates an artifact into an
// evaluation record beside it (artifacts/<id>/evals/<eval-id>/), and
// re-samples a subset of a record to confirm that the stored predictions come
// from the stored weights.
//
// Data flows one way: experiment config -> Runner.Train -> artifact ->
// Runner.Evaluate -> evaluation record -> tables and figures.
package runners

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/dmseg/dmseg/kernels/artifacts"
	"github.com/dmseg/dmseg/kernels/atomicfile"
	"github.com/dmseg/dmseg/kernels/data/dataset"
	"github.com/dmseg/dmseg/kernels/engine"
	"github.com/dmseg/dmseg/kernels/experiments"
	"github.com/dmseg/dmseg/kernels/train"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// TrainOptions are the run-time choices of a training run (they do not change the numbers).
type TrainOptions struct {
	Backend       backends.Backend
	Info          engine.Info
	WorkDir       string // checkpoints while training; default <checkout>/.cache/runs/<experiment>
	ArtifactsRoot string // default artifacts.Root()
	Resume        bool
	StopAtStep    int64
	Stop          func() bool
	Log           io.Writer // default os.Stderr
	// Devices > 1 trains data-parallel on that many devices of Backend
	// (train.Options.Devices); the batch size must be a multiple of it.
	Devices int
}

// TrainResult is what a training run did.
type TrainResult struct {
	Train    *train.Result
	Artifact *artifacts.Artifact // nil when the run stopped early (resume it)
	WorkDir  string
}

// EvalOptions are the run-time choices of an evaluation.
type EvalOptions struct {
	Backend  backends.Backend
	Info     engine.Info
	Split    string       // "" = the experiment's held-out split
	N        int          // images (or samples) to evaluate; 0 = the experiment's
	Samples  int          // samples per image (segmentation kinds); 0 = 1
	Seed     int64        // sampling seed; 0 = the experiment's
	Batch    int          // images per sampler call; 0 = a default
	Samplers []string     // generative kinds: which samplers to run (e.g. "ddim", "ddpm"); nil = all the kind evaluates
	DDIM     DDIMOverride // DDIM settings that replace the experiment's (part of the recorded protocol)
	Log      io.Writer
	Progress bool // draw progress bars on Log
}

// DDIMOverride replaces the experiment's DDIM settings in an evaluation; the
// zero value (nil, 0, "") keeps each of them. The settings that ran are part
// of the recorded protocol.
type DDIMOverride struct {
	Steps   int      // 0: the experiment's
	Eta     *float64 // nil: the experiment's
	Spacing string   // "": the experiment's
	ClipX0  *float64 // nil: the experiment's; 0 turns clipping off
	// EpsScale divides eps_hat by this factor at every DDIM step (epsilon scaling,
	// Ning et al. 2024); 0 and 1 are off. Unconditional DDPMs only.
	EpsScale float64
}

// Runner trains, evaluates and checks one kind of experiment.
type Runner interface {
	Kind() string
	Train(e experiments.Experiment, o TrainOptions) (*TrainResult, error)
	Evaluate(a *artifacts.Artifact, o EvalOptions) (*artifacts.Eval, error)
	// Resample regenerates the first k predictions of a record from the artifact's weights
	// and compares them with the stored ones; on the record's own backend they must be equal
	// (8-bit pixels), on another backend within tol (pixel levels, 0..255).
	Resample(a *artifacts.Artifact, ev *artifacts.Eval, k int, o EvalOptions, tol int) (ResampleReport, error)
}

// ResampleReport says how a re-sampled subset compares with the stored predictions.
type ResampleReport struct {
	Compared     int     // images compared
	MaxAbsLevels int     // largest pixel difference in 8-bit levels
	Differing    int     // pixels that differ at all
	Seconds      float64 // time spent re-sampling
}

var registered = map[string]Runner{}

// Register adds a runner; it panics on a duplicate or on a kind experiments does not declare.
func Register(r Runner) {
	if _, err := experiments.Spec(r.Kind()); err != nil {
		panic(err)
	}
	if _, dup := registered[r.Kind()]; dup {
		panic("runners: duplicate kind " + r.Kind())
	}
	registered[r.Kind()] = r
}

// Get returns the runner of kind, or an error saying which issue implements a declared kind.
func Get(kind string) (Runner, error) {
	if r, ok := registered[kind]; ok {
		return r, nil
	}
	s, err := experiments.Spec(kind)
	if err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("experiment kind %q (chapter %s) has no runner yet: it is planned in issue %d (needs: %s; loss: %s; sampler: %s)",
		kind, s.Chapter, s.Issue, s.Data, s.Loss, s.Sampler)
}

// ForArtifact returns the runner of the kind recorded in an artifact's config.
func ForArtifact(a *artifacts.Artifact) (Runner, experiments.RunConfig, error) {
	var rc experiments.RunConfig
	if err := a.DecodeConfig(&rc); err != nil {
		return nil, rc, err
	}
	r, err := Get(rc.Experiment.Kind)
	return r, rc, err
}

// ResolveEpochs fills steps_per_epoch (and steps, for an epoch budget) from the
// number of batches per epoch of the training stream.
func ResolveEpochs(e *experiments.Experiment, batchesPerEpoch int) {
	if e.Train.Epochs > 0 {
		e.Train.StepsPerEpoch = int64(batchesPerEpoch)
		if e.Train.Steps == 0 {
			e.Train.Steps = int64(math.Ceil(e.Train.Epochs * float64(e.Train.StepsPerEpoch)))
		}
	}
}

// CreateArtifact stores a finished training run: the resolved config (hashed),
// the data fingerprint and pixel hash, git state, backend, module versions,
// seeds, loss metrics and timings, and the checkpoint, loss CSV and plot from
// workDir. The artifact is immutable from then on: evaluations go beside it.
//
// extraFiles names further files of workDir to store (a latent kind's
// latent statistics).
func CreateArtifact(rc experiments.RunConfig, set *dataset.Set, res *train.Result, workDir string, git artifacts.Git,
	info engine.Info, dataSec float64, root string, extraSeeds map[string]int64, extraFiles ...string) (*artifacts.Artifact, error) {
	e := rc.Experiment
	man, err := artifacts.NewManifest(e.Name, rc, time.Now())
	if err != nil {
		return nil, err
	}
	man.Dataset = artifacts.Dataset{Name: set.Source + "/" + set.Split, Fingerprint: set.Fingerprint(), PixelsSHA256: experiments.PixelsSHA256(set)}
	man.Git = git
	man.Backend = artifacts.BackendFrom(info)
	man.GoMLX = engine.ModuleVersion("github.com/gomlx/gomlx")
	man.Modules = map[string]string{"github.com/gomlx/go-xla": engine.ModuleVersion("github.com/gomlx/go-xla")}
	man.Seeds = map[string]int64{"train": e.Train.Seed, "shuffle": int64(e.Data.ShuffleSeed), "data": int64(e.Data.Phantom.Seed), "eval": e.Sampling.EvalSeed}
	for k, v := range extraSeeds {
		man.Seeds[k] = v
	}
	man.Metrics = map[string]float64{"steps": float64(res.Step), "final_loss": res.LastLoss, "model_params": float64(rc.ModelParams)}
	if rows, err := train.ReadLossCSV(filepath.Join(workDir, train.LossCSVFile)); err == nil && len(rows) > 0 {
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
	if res.Resumed {
		man.Notes["resumed_from_step"] = fmt.Sprint(res.ResumedFrom)
	}
	if res.Devices > 1 {
		man.Notes["devices"] = fmt.Sprint(res.Devices) // data-parallel (equal to one device up to float summation order)
	}
	// The artifact keeps what sampling needs (EMA weights when the experiment samples with
	// them), not the optimiser state; the full checkpoint stays in workDir for --resume.
	weights := filepath.Join(workDir, "sampling.dmck")
	if err := train.ExportSampling(filepath.Join(workDir, train.CheckpointFile), weights, e.Sampling.UseEMA); err != nil {
		return nil, err
	}
	man.Notes["weights"] = "model variables only (no optimiser state)"
	if e.Sampling.UseEMA {
		man.Notes["weights"] = "EMA weights of the model variables (no optimiser state)"
	}
	files := map[string]string{
		artifacts.WeightsFile: weights,
		train.LossCSVFile:     filepath.Join(workDir, train.LossCSVFile),
		train.LossPNGFile:     filepath.Join(workDir, train.LossPNGFile),
	}
	for _, f := range extraFiles {
		files[f] = filepath.Join(workDir, f)
	}
	return artifacts.Create(root, man, files)
}

// ResolveDepends fills a latent experiment's DependsOn with the current
// artifacts of its VQ-GAN experiments (image, then mask), so that its config,
// and the hash that identifies its current artifact, name the autoencoders it
// trains on. Other experiments are returned unchanged.
func ResolveDepends(root string, e experiments.Experiment) (experiments.Experiment, error) {
	if e.Latent == nil {
		return e, nil
	}
	var ids []string
	for _, name := range []string{e.Latent.ImageVQ, e.Latent.MaskVQ} {
		a, err := CurrentArtifact(root, name)
		if err != nil {
			return e, fmt.Errorf("experiment %s needs its VQ-GAN %s trained first (dmseg train --experiment %s): %w", e.Name, name, name, err)
		}
		ids = append(ids, a.Manifest.ID)
	}
	e.DependsOn = ids
	return e, nil
}

// sameDepends refuses to resume a run whose recorded VQ-GANs are not the ones
// it would train on now.
func sameDepends(workDir string, rc experiments.RunConfig) error {
	b, err := os.ReadFile(filepath.Join(workDir, "run_config.json"))
	if err != nil {
		return nil // nothing recorded yet
	}
	var old experiments.RunConfig
	if err := json.Unmarshal(b, &old); err != nil {
		return nil
	}
	if !slices.Equal(old.Experiment.DependsOn, rc.Experiment.DependsOn) {
		return fmt.Errorf("cannot resume %s: it started on the artifacts %v, the current ones are %v (start over without --resume)",
			workDir, old.Experiment.DependsOn, rc.Experiment.DependsOn)
	}
	return nil
}

// WriteRunConfig writes the resolved config into the work folder (for a human reading a run in progress).
func WriteRunConfig(workDir string, rc experiments.RunConfig) error {
	b, err := json.MarshalIndent(rc, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(workDir, "run_config.json"), b)
}

// FitSpec is what a kind contributes to the common training loop of Fit.
type FitSpec struct {
	// ImagesOnly trains on the images alone (unconditional kinds); otherwise a
	// batch is [images, masks].
	ImagesOnly bool
	// Kind is the experiment kind the runner trains; Conds the conditioning
	// modes (registry.CondNone, ...) its models may have.
	Kind  string
	Conds []string
	// Loss builds the training loss of a resolved config and a one-line
	// description of the model and objective for the log.
	Loss func(rc experiments.RunConfig) (train.LossFn, string, error)
	// Data, when set, replaces the pixel batches of the training split with
	// the kind's own (the latent kinds encode the split once with their
	// frozen VQ-GANs). The files it names, written to workDir, are stored in
	// the artifact.
	Data func(rc experiments.RunConfig, set *dataset.Set, stream *dataset.Stream, workDir string, o TrainOptions) (train.Batches, []string, error)
	// AfterStep, when set, builds train.Options.AfterStep for the model
	// context ctx of the run (e.g. the VQ-GAN's codebook restarts); done is
	// called when training ends.
	AfterStep func(rc experiments.RunConfig, ctx *context.Context, o TrainOptions) (after func(step int64, batch []*tensors.Tensor) error, done func(), err error)
}

// Resolve checks that an experiment is of the given kind and valid, resolves
// the config its artifact records, and checks that the model's conditioning
// mode is one of conds.
func Resolve(e experiments.Experiment, kind string, conds ...string) (experiments.RunConfig, error) {
	if e.Kind != kind {
		return experiments.RunConfig{}, fmt.Errorf("experiment %s: kind %q is not %s", e.Name, e.Kind, kind)
	}
	if err := e.Validate(); err != nil {
		return experiments.RunConfig{}, err
	}
	rc, err := e.ResolveModel()
	if err != nil {
		return rc, err
	}
	if !slices.Contains(conds, rc.ModelConfig.Cond) {
		return rc, fmt.Errorf("experiment %s: model %s has conditioning %q; a %s experiment needs one of %v", e.Name, e.Model, rc.ModelConfig.Cond, kind, conds)
	}
	return rc, nil
}

// Fit is the training run every kind shares: it materialises the training
// split, streams shuffled batches, checks and records the resolved config in
// the work folder, trains (checkpointing, resumable) and, when the step budget
// is reached, stores the artifact.
func Fit(e experiments.Experiment, o TrainOptions, spec FitSpec) (*TrainResult, error) {
	if _, err := Resolve(e, spec.Kind, spec.Conds...); err != nil {
		return nil, err
	}
	if o.ArtifactsRoot == "" {
		o.ArtifactsRoot = artifacts.Root()
	}
	e, err := ResolveDepends(o.ArtifactsRoot, e)
	if err != nil {
		return nil, err
	}
	log := o.Log
	if log == nil {
		log = os.Stderr
	}
	if o.WorkDir == "" {
		root := engine.ProjectRoot()
		if root == "" {
			root = "."
		}
		o.WorkDir = filepath.Join(root, ".cache", "runs", e.Name)
	}
	t0 := time.Now()
	set, err := e.LoadSplit(e.Data.TrainSplit)
	if err != nil {
		return nil, fmt.Errorf("experiment %s: data: %w", e.Name, err)
	}
	dataSec := time.Since(t0).Seconds()
	stream, err := set.Stream(e.Data.ShuffleSeed, e.Train.BatchSize, spec.ImagesOnly)
	if err != nil {
		return nil, err
	}
	ResolveEpochs(&e, stream.BatchesPerEpoch())
	rc, err := Resolve(e, spec.Kind, spec.Conds...)
	if err != nil {
		return nil, err
	}
	loss, desc, err := spec.Loss(rc)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "experiment %s: %s, %d %s images %dx%d (fingerprint %.12s, %.1fs), model %s (%d parameters), %s, %d steps x batch %d\n",
		e.Name, set.Source, set.N, set.Split, set.H, set.W, set.Fingerprint(), dataSec, e.Model, rc.ModelParams, desc, e.Train.Steps, e.Train.BatchSize)
	if err := os.MkdirAll(o.WorkDir, 0o755); err != nil {
		return nil, err
	}
	if o.Resume {
		if err := sameDepends(o.WorkDir, rc); err != nil {
			return nil, err
		}
	}
	if err := WriteRunConfig(o.WorkDir, rc); err != nil {
		return nil, err
	}
	var batches train.Batches = stream
	var extraFiles []string
	if spec.Data != nil {
		if batches, extraFiles, err = spec.Data(rc, set, stream, o.WorkDir, o); err != nil {
			return nil, err
		}
	}
	git := artifacts.GitState(engine.ProjectRoot())
	ctx := context.New()
	topts := train.Options{
		OutDir: o.WorkDir, Resume: o.Resume, Progress: log, StopAtStep: o.StopAtStep, Stop: o.Stop, Devices: o.Devices,
		Extra: map[string]string{"experiment": e.Name, "backend": o.Info.Name, "git_commit": git.Commit},
	}
	if spec.AfterStep != nil {
		o.Log = log
		after, done, err := spec.AfterStep(rc, ctx, o)
		if err != nil {
			return nil, err
		}
		if done != nil {
			defer done()
		}
		topts.AfterStep = after
	}
	res, err := train.Run(o.Backend, ctx, loss, batches, rc.Experiment.Train, topts)
	out := &TrainResult{Train: res, WorkDir: o.WorkDir}
	if err != nil {
		return out, err
	}
	if !res.Done {
		fmt.Fprintf(log, "stopped at step %d/%d; continue with --resume (checkpoint %s)\n", res.Step, e.Train.Steps, res.CheckpointPath)
		return out, nil
	}
	if res.Resumed && res.ResumedFrom >= e.Train.Steps {
		// Resuming a finished run trains nothing; publish only if its artifact is missing
		// (e.g. the first attempt failed while writing it).
		if a, ok := published(o.ArtifactsRoot, rc, res.Step); ok {
			fmt.Fprintf(log, "the run in %s was already finished at step %d and published as %s; nothing new to publish\n", o.WorkDir, res.Step, a.Manifest.ID)
			out.Artifact = a
			return out, nil
		}
	}
	a, err := CreateArtifact(rc, set, res, o.WorkDir, git, o.Info, dataSec, o.ArtifactsRoot, nil, extraFiles...)
	if err != nil {
		return out, err
	}
	out.Artifact = a
	fmt.Fprintf(log, "artifact %s written to %s (weights_sha256 %s)\n", a.Manifest.ID, a.Dir, a.Manifest.WeightsSHA256)
	return out, nil
}

// published finds an artifact of the same resolved config and step count.
func published(root string, rc experiments.RunConfig, steps int64) (*artifacts.Artifact, bool) {
	cj, err := artifacts.CanonicalJSON(rc)
	if err != nil {
		return nil, false
	}
	h := artifacts.SHA256Hex(cj)
	ms, _ := artifacts.List(root)
	for _, m := range ms {
		if m.Experiment == rc.Experiment.Name && m.ConfigSHA256 == h && int64(m.Metrics["steps"]) == steps {
			if a, err := artifacts.OpenDir(filepath.Join(root, m.ID)); err == nil {
				return a, true
			}
		}
	}
	return nil, false
}

// EvalSet checks that the current code regenerates the artifact's training
// data (CheckData) and loads the evaluation split ("" = the experiment's
// held-out split).
func EvalSet(a *artifacts.Artifact, e experiments.Experiment, split string) (*dataset.Set, error) {
	if err := CheckData(a, e); err != nil {
		return nil, err
	}
	if split == "" {
		split = e.Data.HeldOut
	}
	return e.LoadSplit(split)
}

// LoadWeights loads an artifact's checkpoint into a new context: the EMA
// weights when useEMA (exported sampling weights must then be the EMA ones),
// the raw weights otherwise.
func LoadWeights(a *artifacts.Artifact, useEMA bool) (*context.Context, error) {
	ck, err := a.Checkpoint()
	if err != nil {
		return nil, err
	}
	ctx := context.New()
	ck.Load(ctx)
	if export, ema := ck.SamplingExport(); export {
		if useEMA && !ema {
			return nil, fmt.Errorf("artifact %s: the experiment samples with EMA weights but %s holds the raw ones", a.Manifest.ID, artifacts.WeightsFile)
		}
	} else if useEMA {
		if err := train.UseEMA(ctx); err != nil {
			return nil, fmt.Errorf("artifact %s: %w", a.Manifest.ID, err)
		}
	}
	return ctx, nil
}

// CheckData regenerates an artifact's training split with the current code
// and compares its pixel hash and fingerprint with the ones recorded: a
// changed data generator means held-out comparisons would measure a
// distribution shift, not the model.
func CheckData(a *artifacts.Artifact, e experiments.Experiment) error {
	set, err := e.LoadSplit(e.Data.TrainSplit)
	if err != nil {
		return err
	}
	if want := a.Manifest.Dataset.PixelsSHA256; want != "" {
		if got := experiments.PixelsSHA256(set); got != want {
			return fmt.Errorf("artifact %s was trained on %s images whose pixels hash to %.16s…, but this code generates pixels hashing to %.16s… "+
				"(the data generator changed since; retrain with `make train-all` or check out the artifact's commit %.12s)",
				a.Manifest.ID, a.Manifest.Dataset.Name, want, got, a.Manifest.Git.Commit)
		}
	}
	want := a.Manifest.Dataset.Fingerprint
	if got := set.Fingerprint(); got != want {
		return fmt.Errorf("artifact %s was trained on %s with fingerprint %.16s…, but this code generates fingerprint %.16s… "+
			"(the data generator or data changed since; retrain with `make train-all` or check out the artifact's commit %.12s)",
			a.Manifest.ID, a.Manifest.Dataset.Name, want, got, a.Manifest.Git.Commit)
	}
	return nil
}

// ErrOutdated says an experiment's artifacts were all trained with an
// earlier definition of the experiment.
var ErrOutdated = errors.New("no artifact of the current definition")

// CurrentArtifact opens ref: an experiment name resolves to its newest
// artifact whose recorded config is the experiment's current definition (the
// same config sha256), so that an artifact of an earlier definition never
// stands for the experiment in a table; anything else (an artifact id or a
// unique prefix) opens as artifacts.Open does. An experiment whose artifacts
// are all of earlier definitions gives an error wrapping ErrOutdated that
// names them; one with none wraps artifacts.ErrNotFound.
func CurrentArtifact(root, ref string) (*artifacts.Artifact, error) {
	e, err := experiments.Get(ref)
	if err != nil {
		return artifacts.Open(root, ref)
	}
	if e, err = ResolveDepends(root, e); err != nil {
		return nil, err
	}
	rc, err := e.ResolveModel()
	if err != nil {
		return nil, err
	}
	cj, err := artifacts.CanonicalJSON(rc)
	if err != nil {
		return nil, err
	}
	want := artifacts.SHA256Hex(cj)
	ms, _ := artifacts.List(root) // newest first
	var older []string
	for _, m := range ms {
		if m.Experiment != ref {
			continue
		}
		if m.ConfigSHA256 == want {
			return artifacts.Open(root, m.ID)
		}
		older = append(older, m.ID)
	}
	if len(older) > 0 {
		return nil, fmt.Errorf("experiment %s: %w (config sha256 %.12s); artifacts of earlier definitions: %s", ref, ErrOutdated, want, strings.Join(older, ", "))
	}
	return nil, fmt.Errorf("experiment %s in %s: %w", ref, root, artifacts.ErrNotFound)
}

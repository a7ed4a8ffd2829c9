package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// LossFn builds the scalar training loss from the batch nodes. It creates or
// reuses the model's variables in ctx and may draw randomness with
// ctx.RandomNormal / ctx.RandomUniform (the RNG state is checkpointed).
type LossFn func(ctx *context.Context, batch []*Node) *Node

// Batches yields the training batch of a step (1-based). It must depend only
// on the step (and its own fixed seed) so that resumed runs see the same data.
type Batches interface {
	Batch(step int64) ([]*tensors.Tensor, error)
}

// BatchFunc adapts a function to Batches.
type BatchFunc func(step int64) ([]*tensors.Tensor, error)

// Batch implements Batches.
func (f BatchFunc) Batch(step int64) ([]*tensors.Tensor, error) { return f(step) }

// Config is the optimisation part of an experiment. Zero values take the
// defaults noted on each field.
type Config struct {
	Steps int64 `json:"steps"` // total optimisation steps of the run (0: from Epochs)
	// Epochs, with StepsPerEpoch (set by the caller from the data set), gives the budget in
	// epochs instead: Steps = ceil(Epochs * StepsPerEpoch) when Steps is 0.
	Epochs        float64  `json:"epochs,omitempty"`
	StepsPerEpoch int64    `json:"steps_per_epoch,omitempty"`
	BatchSize     int      `json:"batch_size"` // examples per step (for images/s and the record)
	LR            LRConfig `json:"lr"`
	Beta1         float64  `json:"adam_beta1"` // default 0.9
	Beta2         float64  `json:"adam_beta2"` // default 0.999
	Eps           float64  `json:"adam_eps"`   // default 1e-8
	ClipNorm      float64  `json:"clip_norm"`  // global-norm clipping threshold; 0 = off
	EMADecay      float64  `json:"ema_decay"`  // EMA of the weights; 0 = off
	// EMAWarmup caps the EMA decay at update s (0-based) by (1+s)/(10+s), as
	// diffusers' EMAModel without use_ema_warmup: the average forgets the first,
	// far-off weights quickly instead of keeping d^steps of the initial ones.
	EMAWarmup bool  `json:"ema_warmup,omitempty"`
	Seed      int64 `json:"seed"` // seeds initialisation and the in-graph RNG

	CheckpointEvery   int64   `json:"checkpoint_every"`   // steps between checkpoints; 0 = only at the end
	CheckpointSeconds float64 `json:"checkpoint_seconds"` // also checkpoint after this many seconds; 0 = off
	LogEvery          int64   `json:"log_every"`          // loss-curve row every this many steps; default 1
}

// Resolved returns c with every default filled in: the values a run actually
// uses, which artifacts record and hash (so a changed default changes the hash).
func (c Config) Resolved() Config { return c.withDefaults() }

func (c Config) withDefaults() Config {
	if c.Steps == 0 && c.Epochs > 0 && c.StepsPerEpoch > 0 {
		c.Steps = int64(math.Ceil(c.Epochs * float64(c.StepsPerEpoch)))
	}
	if c.Beta1 == 0 {
		c.Beta1 = 0.9
	}
	if c.Beta2 == 0 {
		c.Beta2 = 0.999
	}
	if c.Eps == 0 {
		c.Eps = 1e-8
	}
	if c.LogEvery <= 0 {
		c.LogEvery = 1
	}
	if c.LR.Schedule == "" {
		c.LR.Schedule = "constant"
	}
	return c
}

// Validate reports a configuration that cannot run.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.Steps < 1 {
		return fmt.Errorf("train: the budget must be >= 1 step: set steps, or epochs and steps_per_epoch (got %d, %g, %d)", c.Steps, c.Epochs, c.StepsPerEpoch)
	}
	if c.BatchSize < 1 {
		return fmt.Errorf("train: batch_size must be >= 1, got %d", c.BatchSize)
	}
	if !(c.Beta1 >= 0 && c.Beta1 < 1 && c.Beta2 >= 0 && c.Beta2 < 1) {
		return fmt.Errorf("train: Adam betas must be in [0,1), got %v, %v", c.Beta1, c.Beta2)
	}
	if c.ClipNorm < 0 || c.EMADecay < 0 || c.EMADecay >= 1 {
		return fmt.Errorf("train: need clip_norm >= 0 and 0 <= ema_decay < 1, got %v, %v", c.ClipNorm, c.EMADecay)
	}
	if err := c.LR.Validate(); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	return nil
}

// Options are the run-time choices that do not change the numbers.
type Options struct {
	OutDir     string    // checkpoint.dmck, loss.csv, loss.png go here
	Resume     bool      // continue from OutDir/checkpoint.dmck
	Progress   io.Writer // progress bar / lines; nil = os.Stderr; io.Discard to silence
	StopAtStep int64     // stop (with a checkpoint) after this step, as if interrupted; 0 = run to Steps
	// Stop is polled after every step; returning true checkpoints and stops (e.g. on SIGINT).
	Stop func() bool
	// Extra is stored in every checkpoint's state (e.g. the experiment name).
	Extra map[string]string
	// AfterStep, when set, is called after every successful step with the step
	// number and its batch, before any checkpoint of that step (e.g. a
	// VQ-GAN's dead-code restarts, which change variables on the host).
	// An error stops the run.
	AfterStep func(step int64, batch []*tensors.Tensor) error
	// Devices > 1 trains data-parallel on that many devices of the backend
	// (GoMLX's AutoSharding over a one-axis mesh "data"): every batch tensor is
	// split along its first axis, the variables and the optimiser state are
	// replicated and XLA's partitioner inserts the gradient all-reduce. The
	// numbers equal single-device training up to float summation order;
	// 0 or 1 is the plain single-device step.
	Devices int
}

// File names inside OutDir.
const (
	CheckpointFile = "checkpoint.dmck"
	LossCSVFile    = "loss.csv"
	LossPNGFile    = "loss.png"
)

// ErrNonFinite is returned (wrapped) when the loss or gradient norm is NaN or infinite.
var ErrNonFinite = errors.New("non-finite loss or gradient")

// State is the host-side record saved with every checkpoint.
type State struct {
	Step         int64             `json:"step"`
	LR           LRState           `json:"lr_state"`
	TrainSeconds float64           `json:"train_seconds"` // wall time spent in steps, summed over resumes
	Images       int64             `json:"images"`
	LastLoss     float64           `json:"last_loss"`
	Config       Config            `json:"config"`
	Extra        map[string]string `json:"extra,omitempty"`
}

// Result summarises a run.
type Result struct {
	Step           int64   // last completed step
	Done           bool    // Step == Config.Steps
	LastLoss       float64 // loss of the last step
	TrainSeconds   float64 // wall time in steps, summed over resumes
	ImagesPerSec   float64 // over this invocation
	CheckpointPath string
	Resumed        bool
	ResumedFrom    int64
	Devices        int // devices the steps ran on (Options.Devices; 1 = single device)
}

// trainScope holds the optimiser's variables; the model must not use it.
const trainScope = "/train"

// Run trains ctx's model with lossFn on batches according to cfg. ctx must be
// fresh (no variables) unless the caller pre-loaded them; with opts.Resume the
// checkpoint in opts.OutDir is loaded into ctx first.
func Run(backend backends.Backend, ctx *context.Context, lossFn LossFn, batches Batches, cfg Config, opts Options) (*Result, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.OutDir == "" {
		return nil, errors.New("train: Options.OutDir is required")
	}
	if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	// Temporary files of atomic writes interrupted by a kill (ours: ".NAME.tmp*") are stale now.
	if stale, _ := filepath.Glob(filepath.Join(opts.OutDir, ".*.tmp*")); len(stale) > 0 {
		for _, f := range stale {
			os.Remove(f)
		}
	}
	progress := opts.Progress
	if progress == nil {
		progress = os.Stderr
	}
	ckptPath := filepath.Join(opts.OutDir, CheckpointFile)
	csvPath := filepath.Join(opts.OutDir, LossCSVFile)

	if opts.Devices > 1 {
		extra := map[string]string{}
		for k, v := range opts.Extra {
			extra[k] = v
		}
		extra["devices"] = devicesExtra(opts.Devices)
		opts.Extra = extra
	}
	st := State{LR: NewLRState(cfg.LR), Config: cfg, Extra: opts.Extra}
	res := &Result{CheckpointPath: ckptPath, Devices: max(opts.Devices, 1)}
	execCtx := ctx
	if opts.Resume {
		ck, err := ReadCheckpoint(ckptPath)
		if err != nil {
			return nil, fmt.Errorf("train: --resume: %w", err)
		}
		var saved State
		if err := json.Unmarshal(ck.State, &saved); err != nil {
			return nil, fmt.Errorf("train: --resume: checkpoint %s: bad trainer state: %w", ckptPath, err)
		}
		if a, b := canonical(saved.Config), canonical(cfg); a != b {
			return nil, fmt.Errorf("train: --resume: checkpoint %s was written with a different training config:\n  saved: %s\n  now:   %s", ckptPath, a, b)
		}
		if was, now := saved.Extra["devices"], devicesExtra(opts.Devices); was != now && !(was == "" && now == "1") {
			return nil, fmt.Errorf("train: --resume: checkpoint %s was written training on %s device(s), this run asks for %s; "+
				"resume with the same --devices so that the run stays bit-identical", ckptPath, orOne(was), now)
		}
		if was, now := saved.Extra["backend"], opts.Extra["backend"]; was != "" && now != "" && was != now {
			return nil, fmt.Errorf("train: --resume: checkpoint %s was written on backend %s, this run uses %s; "+
				"resume on the same backend (--backend %s) so that the run stays bit-identical and its record names one backend", ckptPath, was, now, was)
		}
		if err := checkHistory(csvPath, saved.Step, cfg); err != nil {
			return nil, fmt.Errorf("train: --resume: %w", err)
		}
		ck.Load(ctx)
		st = saved
		st.Extra = opts.Extra
		res.Resumed, res.ResumedFrom = true, st.Step
		execCtx = ctx.Checked(false) // variables exist already
		if err := truncateCSV(csvPath, st.Step); err != nil {
			return nil, err
		}
	} else {
		if err := ctx.SetRNGStateFromSeed(cfg.Seed); err != nil {
			return nil, fmt.Errorf("train: seeding RNG: %w", err)
		}
		ctx.SetParam(context.ParamInitialSeed, cfg.Seed)
		if err := writeCSVHeader(csvPath); err != nil {
			return nil, err
		}
	}

	exec, err := context.NewExec(backend, execCtx, func(ctx *context.Context, inputs []*Node) []*Node {
		return stepGraph(ctx, inputs[0], inputs[1:], lossFn, cfg)
	})
	if err != nil {
		return nil, fmt.Errorf("train: building the step: %w", err)
	}
	defer exec.Finalize()
	var dp *dataParallel
	if opts.Devices > 1 {
		if dp, err = newDataParallel(backend, exec, opts.Devices, cfg.BatchSize); err != nil {
			return nil, err
		}
	}

	csvF, err := os.OpenFile(csvPath, os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	defer csvF.Close()

	bar := newProgressBar(progress, cfg.Steps, st.Step)
	bar.stepsPerEpoch = cfg.StepsPerEpoch
	startStep := st.Step
	runStart := time.Now()
	lastCkpt := time.Now()
	save := func() error {
		if err := SaveCheckpoint(ckptPath, ctx, st.Step, st); err != nil {
			return err
		}
		lastCkpt = time.Now()
		_ = PlotLossCSV(csvPath, filepath.Join(opts.OutDir, LossPNGFile), strings.TrimSpace(opts.Extra["experiment"]))
		return nil
	}
	res.Step = st.Step
	for st.Step < cfg.Steps {
		step := st.Step + 1
		batch, err := batches.Batch(step)
		if err != nil {
			return res, fmt.Errorf("train: batch for step %d: %w", step, err)
		}
		lr := cfg.LR.Rate(&st.LR, step, cfg.Steps)
		args := make([]any, 0, 1+len(batch))
		args = append(args, float32(lr))
		for _, b := range batch {
			args = append(args, b)
		}
		t0 := time.Now()
		var outs []*tensors.Tensor
		if dp != nil {
			outs, err = dp.exec(args)
		} else {
			outs, err = exec.Exec(args...)
		}
		if err != nil {
			return res, fmt.Errorf("train: step %d: %w", step, err)
		}
		loss := float64(scalarF(outs[0]))
		gnorm := float64(scalarF(outs[1]))
		dt := time.Since(t0).Seconds()
		if math.IsNaN(loss) || math.IsInf(loss, 0) || math.IsNaN(gnorm) || math.IsInf(gnorm, 0) {
			bar.finish()
			return res, fmt.Errorf("train: step %d: loss=%v, gradient norm=%v: %w; the variables were not updated by this step "+
				"and the last good checkpoint (step %d) is kept at %s", step, loss, gnorm, ErrNonFinite, lastGoodStep(ckptPath), ckptPath)
		}
		st.Step = step
		st.TrainSeconds += dt
		st.Images += int64(cfg.BatchSize)
		st.LastLoss = loss
		cfg.LR.Observe(&st.LR, loss)
		res.Step, res.LastLoss = st.Step, loss
		if step%cfg.LogEvery == 0 || step == cfg.Steps {
			fmt.Fprintf(csvF, "%d,%.9g,%.9g,%.9g,%.3f\n", step, loss, lr, gnorm, st.TrainSeconds)
		}
		if opts.AfterStep != nil {
			if err := opts.AfterStep(step, batch); err != nil {
				bar.finish()
				return res, fmt.Errorf("train: after step %d: %w", step, err)
			}
		}
		bar.update(step, loss, float64(cfg.BatchSize)/dt, time.Since(runStart).Seconds(), step-startStep)
		stopNow := (opts.StopAtStep > 0 && step >= opts.StopAtStep) || (opts.Stop != nil && opts.Stop())
		periodic := (cfg.CheckpointEvery > 0 && step%cfg.CheckpointEvery == 0) ||
			(cfg.CheckpointSeconds > 0 && time.Since(lastCkpt).Seconds() >= cfg.CheckpointSeconds)
		if periodic || stopNow || step == cfg.Steps {
			if err := csvF.Sync(); err != nil {
				return res, fmt.Errorf("train: %s: %w", csvPath, err)
			}
			if err := save(); err != nil {
				return res, fmt.Errorf("train: %w", err)
			}
		}
		if stopNow {
			break
		}
	}
	bar.finish()
	res.Done = st.Step >= cfg.Steps
	res.TrainSeconds = st.TrainSeconds
	if el := time.Since(runStart).Seconds(); el > 0 {
		res.ImagesPerSec = float64((st.Step-startStep)*int64(cfg.BatchSize)) / el
	}
	return res, nil
}

func lastGoodStep(path string) int64 {
	ck, err := ReadCheckpoint(path)
	if err != nil {
		return 0
	}
	return ck.Step
}

func scalarF(t *tensors.Tensor) float32 {
	switch v := t.Value().(type) {
	case float32:
		return v
	case float64:
		return float32(v)
	}
	panic(fmt.Sprintf("train: expected a float scalar, got %s", t.Shape()))
}

func canonical(c Config) string {
	b, _ := json.Marshal(c)
	return string(b)
}

// TrainableVariables returns the model's trainable float variables (excluding
// the optimiser's own), sorted by scope and name.
func TrainableVariables(ctx *context.Context) []*context.Variable {
	var vars []*context.Variable
	for v := range ctx.IterVariables() {
		if !v.Trainable || !v.DType().IsFloat() || strings.HasPrefix(v.ScopeAndName(), trainScope+"/") {
			continue
		}
		vars = append(vars, v)
	}
	sort.Slice(vars, func(i, j int) bool { return vars[i].ScopeAndName() < vars[j].ScopeAndName() })
	return vars
}

// EMAScope is where the EMA copy of variable "/a/b/w" lives: "/train/ema/a/b", name "w".
func EMAScope(v *context.Variable) string { return trainScope + "/ema" + v.Scope() }

func stateVar(ctx *context.Context, scope, name string, value any) *context.Variable {
	v := ctx.InAbsPath(scope).Checked(false).VariableWithValue(name, value)
	v.SetTrainable(false)
	return v
}

// stepGraph builds one optimisation step and returns [loss, grad-norm, ok].
func stepGraph(ctx *context.Context, lr *Node, batch []*Node, lossFn LossFn, cfg Config) []*Node {
	g := lr.Graph()
	ctx.SetTraining(g, true)
	loss := lossFn(ctx, batch)
	if !loss.Shape().IsScalar() {
		panic(fmt.Sprintf("train: the loss must be a scalar, got %s", loss.Shape()))
	}
	vars := TrainableVariables(ctx)
	if len(vars) == 0 {
		panic("train: the loss function created no trainable variables")
	}
	params := make([]*Node, len(vars))
	for i, v := range vars {
		params[i] = v.ValueGraph(g)
	}
	grads := Gradient(loss, params...)
	lossF := ConvertDType(loss, dtypes.Float32)

	// Global gradient norm, in float32.
	sq := ScalarZero(g, dtypes.Float32)
	for _, gr := range grads {
		sq = Add(sq, ConvertDType(ReduceAllSum(Square(gr)), dtypes.Float32))
	}
	norm := Sqrt(sq)
	ok := LogicalAnd(IsFinite(lossF), IsFinite(norm))
	scale := ScalarOne(g, dtypes.Float32)
	if cfg.ClipNorm > 0 {
		// As torch.nn.utils.clip_grad_norm_: g *= min(1, c/(norm+1e-6)).
		scale = Min(scale, Div(Scalar(g, dtypes.Float32, cfg.ClipNorm), AddScalar(norm, 1e-6)))
	}

	stepV := stateVar(ctx, trainScope, "step", int64(0))
	oldStep := stepV.ValueGraph(g)
	newStep := AddScalar(oldStep, 1)
	stepV.SetValueGraph(Where(ok, newStep, oldStep))
	tF := ConvertDType(newStep, dtypes.Float32)
	bc1 := OneMinus(Pow(Scalar(g, dtypes.Float32, cfg.Beta1), tF)) // 1 - beta1^t
	bc2 := OneMinus(Pow(Scalar(g, dtypes.Float32, cfg.Beta2), tF))
	isFirst := Equal(newStep, OnePlus(ScalarZero(g, dtypes.Int64)))

	for i, v := range vars {
		dt := v.DType()
		p := params[i]
		gr := Mul(grads[i], ConvertDType(scale, dt))
		zeros := func() *tensors.Tensor { return tensors.FromShape(shapes.Make(dt, v.Shape().Dimensions...)) }
		mV := stateVar(ctx, trainScope+"/adam_m"+v.Scope(), v.Name(), zeros())
		vV := stateVar(ctx, trainScope+"/adam_v"+v.Scope(), v.Name(), zeros())
		m, vv := mV.ValueGraph(g), vV.ValueGraph(g)
		newM := Add(MulScalar(m, cfg.Beta1), MulScalar(gr, 1-cfg.Beta1))
		newV := Add(MulScalar(vv, cfg.Beta2), MulScalar(Square(gr), 1-cfg.Beta2))
		mHat := Div(newM, ConvertDType(bc1, dt))
		vHat := Div(newV, ConvertDType(bc2, dt))
		upd := Div(mHat, AddScalar(Sqrt(vHat), cfg.Eps))
		newP := Sub(p, Mul(ConvertDType(lr, dt), upd))
		mV.SetValueGraph(Where(ok, newM, m))
		vV.SetValueGraph(Where(ok, newV, vv))
		v.SetValueGraph(Where(ok, newP, p))
		if cfg.EMADecay > 0 {
			eV := stateVar(ctx, EMAScope(v), v.Name(), zeros())
			e := eV.ValueGraph(g)
			var newE *Node
			if cfg.EMAWarmup {
				// decay = min(d, (1+s)/(10+s)) with s = newStep-1 updates before this one.
				d := Min(Scalar(g, dtypes.Float32, cfg.EMADecay), Div(tF, AddScalar(tF, 9)))
				d = ConvertDType(d, dt)
				newE = Add(Mul(e, d), Mul(newP, OneMinus(d)))
			} else {
				newE = Add(MulScalar(e, cfg.EMADecay), MulScalar(newP, 1-cfg.EMADecay))
			}
			newE = Where(isFirst, newP, newE) // the EMA starts at the weights after step 1
			eV.SetValueGraph(Where(ok, newE, e))
		}
	}
	return []*Node{lossF, norm, ok}
}

// UseEMA overwrites every trainable variable in ctx with its EMA copy (for
// sampling). It returns an error when the context has no EMA variables.
func UseEMA(ctx *context.Context) error {
	n := 0
	for _, v := range TrainableVariables(ctx) {
		e := ctx.GetVariableByScopeAndName(EMAScope(v), v.Name())
		if e == nil {
			continue
		}
		t, err := e.Value()
		if err != nil {
			return err
		}
		c, err := t.LocalClone()
		if err != nil {
			return err
		}
		if err := v.SetValue(c); err != nil {
			return err
		}
		n++
	}
	if n == 0 {
		return errors.New("train: no EMA weights in this context (ema_decay was 0?)")
	}
	return nil
}

// StepNode returns, inside a loss function run by Run, the number of steps
// completed before this one (0 at the first step) as an int32 scalar: for
// terms switched on after a warm-up (e.g. a GAN loss). It reads the
// optimiser's own step counter, so it resumes with the checkpoint.
func StepNode(ctx *context.Context, g *Graph) *Node {
	v := stateVar(ctx, trainScope, "step", int64(0))
	return ConvertDType(v.ValueGraph(g), dtypes.Int32)
}

// Package diffusion holds what every diffusion sampler shares: the network-agnostic
// Denoiser signature, the step loop that runs one compiled graph per sampler step
// with x and the random state kept on the backend, and progress reporting.
//
// The processes themselves live in the sub-packages: schedule (float64 schedules),
// ddpm (q_sample, L_simple, ancestral and DDIM sampling), sde (VP-SDE reverse
// Euler-Maruyama and probability-flow ODE), ncsn (annealed Langevin dynamics),
// bbdm (Brownian bridge) and analytic (exact denoisers for Gaussian targets).
package diffusion

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Denoiser is any network (U-Net, MLP, Transformer, an analytic formula) that maps a
// noisy x_t [B, ...], its time t (float32 [B]) and an optional condition (nil when
// unconditional) to an output of x_t's shape. What t and the output mean is fixed by
// the process that calls it: for ddpm and bbdm t is the 0-based integer timestep of
// the reference code (as float32) and the output is the chosen parameterisation.
type Denoiser func(ctx *context.Context, xt, t, cond *graph.Node) *graph.Node

// Progress is called after every sampler step with the steps done and the total.
type Progress func(done, total int)

// ProgressBar returns a Progress that draws a one-line text bar on w, redrawn in
// place with '\r' at most every 200 ms and finished with a newline and the time taken.
func ProgressBar(w io.Writer, label string) Progress {
	start := time.Now()
	var last time.Time
	return func(done, total int) {
		now := time.Now()
		if done < total && now.Sub(last) < 200*time.Millisecond {
			return
		}
		last = now
		const width = 30
		fill := width * done / max(total, 1)
		fmt.Fprintf(w, "\r%s [%s%s] %d/%d %.1fs", label, strings.Repeat("=", fill), strings.Repeat(" ", width-fill),
			done, total, now.Sub(start).Seconds())
		if done >= total {
			fmt.Fprintln(w)
		}
	}
}

// StepGraph builds one sampler update. x is the current state [B, ...]; coefs a
// float32 [K] vector of this step's scalars (the sampler decides their meaning,
// usually the model time first); rng a random state (graph.RNGStateShape); extra the
// constant inputs given to Loop.Run (a condition, the bridge's y, ...). It returns
// the next x and the advanced random state.
type StepGraph func(ctx *context.Context, x, coefs, rng *graph.Node, extra []*graph.Node) (xNext, rngNext *graph.Node)

// Options control a sampling run.
type Options struct {
	// Seed of the sampler's random state (the added noise); x_T is given by the caller.
	Seed int64
	// Progress, if not nil, is called after each step.
	Progress Progress
	// Observe, if not nil, is called with the state after each step k (k = 1..steps).
	// The tensor lives on the backend and is finalized after the next step unless it
	// is the result; copy what you need (tensors.CopyFlatData) inside the callback.
	Observe func(k int, x *tensors.Tensor)
}

// Loop runs a StepGraph once per step on a backend, compiling it once per input
// shape and keeping x and the random state on the device between steps.
// A Loop is reusable across runs (trainers keep one for periodic sampling).
type Loop struct {
	backend backends.Backend
	ctx     *context.Context
	step    StepGraph
	exec    *context.Exec
}

// NewLoop prepares a Loop. ctx holds the denoiser's variables (it may be a fresh context for analytic denoisers).
func NewLoop(backend backends.Backend, ctx *context.Context, step StepGraph) (*Loop, error) {
	if ctx == nil {
		ctx = context.New()
	}
	ctx = ctx.Checked(false) // reuse trained variables (or create them, for a fresh model)
	l := &Loop{backend: backend, ctx: ctx, step: step}
	exec, err := context.NewExec(backend, ctx, func(ctx *context.Context, in []*graph.Node) []*graph.Node {
		x, rng := l.step(ctx, in[0], in[1], in[2], in[3:])
		return []*graph.Node{x, rng}
	})
	if err != nil {
		return nil, err
	}
	l.exec = exec
	return l, nil
}

// Run applies the step once per row of coefs, starting from x (not modified or
// finalized) with the constant inputs extra (nil entries are not allowed), and
// returns the final state.
func (l *Loop) Run(x *tensors.Tensor, extra []*tensors.Tensor, coefs [][]float32, opts Options) (*tensors.Tensor, error) {
	rng, err := graph.RNGStateFromSeed(opts.Seed)
	if err != nil {
		return nil, err
	}
	cur := x
	for k, row := range coefs {
		args := []any{cur, tensors.FromFlatDataAndDimensions(row, len(row)), rng}
		for _, e := range extra {
			args = append(args, e)
		}
		outs, err := l.exec.Exec(args...)
		if err != nil {
			return nil, fmt.Errorf("diffusion: sampler step %d/%d: %w", k+1, len(coefs), err)
		}
		if cur != x {
			_ = cur.FinalizeAll()
		}
		_ = rng.FinalizeAll()
		cur, rng = outs[0], outs[1]
		if opts.Observe != nil {
			opts.Observe(k+1, cur)
		}
		if opts.Progress != nil {
			opts.Progress(k+1, len(coefs))
		}
	}
	_ = rng.FinalizeAll()
	if cur == x { // zero steps: return a copy so the caller may finalize both.
		return tensors.FromFlatDataAndDimensions(tensors.MustCopyFlatData[float32](x), x.Shape().Dimensions...), nil
	}
	return cur, nil
}

// Extra returns the list of extra inputs made of the non-nil tensors given.
func Extra(ts ...*tensors.Tensor) []*tensors.Tensor {
	var out []*tensors.Tensor
	for _, t := range ts {
		if t != nil {
			out = append(out, t)
		}
	}
	return out
}

// Coef returns the i-th scalar of a step's coefs vector, as a float32 scalar node.
func Coef(coefs *graph.Node, i int) *graph.Node {
	return graph.Reshape(graph.Slice(coefs, graph.AxisElem(i)))
}

// BatchTime broadcasts a scalar model time to the float32 [B] vector a Denoiser receives.
func BatchTime(t *graph.Node, batch int) *graph.Node {
	return graph.BroadcastToDims(t, batch)
}

// GaussianNoise returns a float32 tensor of the given dimensions filled with
// standard normal noise from seed, e.g. x_T for a sampler. Deterministic per seed and backend.
func GaussianNoise(backend backends.Backend, seed int64, dims ...int) (*tensors.Tensor, error) {
	state, err := graph.RNGStateFromSeed(seed)
	if err != nil {
		return nil, err
	}
	e, err := graph.NewExec(backend, func(rng *graph.Node) *graph.Node {
		_, v := graph.RandomNormal(rng, shapesF32(dims...))
		return v
	})
	if err != nil {
		return nil, err
	}
	defer e.Finalize()
	out, err := e.Exec(state)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// Lookup returns table[int(t)] for a float32 model time t [B] holding integer
// timesteps: a float32 [B] gathered from a constant made from the float64 table.
func Lookup(table []float64, t *graph.Node) *graph.Node {
	g := t.Graph()
	f := make([]float32, len(table))
	for i, v := range table {
		f[i] = float32(v)
	}
	c := graph.Const(g, f)
	idx := graph.ConvertDType(graph.Round(t), dtypes.Int32)
	return graph.Gather(c, graph.ExpandAxes(idx, -1))
}

// PerExample reshapes a [B] vector to [B, 1, ..., 1] so it broadcasts against x (rank r).
func PerExample(v *graph.Node, rank int) *graph.Node {
	dims := make([]int, rank)
	for i := range dims {
		dims[i] = 1
	}
	dims[0] = v.Shape().Dimensions[0]
	return graph.Reshape(v, dims...)
}

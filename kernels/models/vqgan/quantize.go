package vqgan

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
)

// Quantized is the result of Quantize.
type Quantized struct {
	// ZQ [B,h,w,EmbedDim] has the values of the nearest codebook vectors and the gradient of the
	// encoder output (straight-through: z + sg[z_q - z]).
	ZQ *Node
	// Indices [B,h,w] (int32) are the chosen codes.
	Indices *Node
	// Commitment = mean((z - sg[z_q])^2), reaching the encoder; Codebook = mean((sg[z] - z_q)^2),
	// reaching the codebook. Both are plain means over every element of z.
	Commitment, Codebook *Node
	// Loss is the quantiser loss of Config.Legacy and Config.Beta (the reference's emb_loss/qloss).
	Loss *Node
}

// CodebookScope is the scope (under a model's root context) of the codebook variable "embedding".
const CodebookScope = "quantize"

// Quantize is taming's VectorQuantizer2 on z [B,h,w,EmbedDim] (thesis sections 1.5 and 5.1,
// the codebooks of Tables 9 and 10): every vector is replaced by its nearest codebook entry in
// Euclidean distance, computed as |z|^2 + |e|^2 - 2 z.e (ties: smallest index). The codebook
// is the variable "embedding" [NEmbed, EmbedDim] in ctx's scope, initialised
// U(-1/NEmbed, 1/NEmbed) as the reference.
func Quantize(ctx *context.Context, cfg Config, z *Node) Quantized {
	mustValidate(cfg)
	checkImage("Quantize", z, cfg.EmbedDim, 1)
	g := z.Graph()
	d := z.Shape().Dimensions
	n, dim, k := d[0]*d[1]*d[2], cfg.EmbedDim, cfg.NEmbed
	init := initializers.RandomUniformFn(ctx, -1/float64(k), 1/float64(k))
	e := ctx.WithInitializer(init).VariableWithShape("embedding", shapes.Make(z.DType(), k, dim)).ValueGraph(g)

	zf := Reshape(z, n, dim)
	dist := Sub(Add(ReduceAndKeep(Square(zf), ReduceSum, 1), InsertAxes(ReduceSum(Square(e), 1), 0)),
		MulScalar(DotGeneral(zf, []int{1}, nil, e, []int{1}, nil), 2)) // [n, k]
	idx := ArgMin(StopGradient(dist), 1) // [n] int32
	zq := Reshape(Gather(e, Reshape(idx, n, 1)), d...)

	commit := ReduceAllMean(Square(Sub(z, StopGradient(zq))))
	book := ReduceAllMean(Square(Sub(StopGradient(z), zq)))
	var loss *Node
	if cfg.Legacy {
		loss = Add(commit, MulScalar(book, cfg.Beta))
	} else {
		loss = Add(book, MulScalar(commit, cfg.Beta))
	}
	return Quantized{
		ZQ:         Add(z, StopGradient(Sub(zq, z))),
		Indices:    Reshape(idx, d[0], d[1], d[2]),
		Commitment: commit,
		Codebook:   book,
		Loss:       loss,
	}
}

// CodeStats describes how a batch used the codebook.
type CodeStats struct {
	Counts []int // how many vectors chose each code
	Used   int   // codes chosen at least once
	// Perplexity is exp(entropy) of the batch's code histogram, as the reference's VectorQuantizer
	// logs it: exp(-sum_k p_k log(p_k + 1e-10)); 1 when one code takes everything, NEmbed at best.
	Perplexity float64
}

// Stats counts the codes in indices (values in [0, nEmbed)).
func Stats(indices []int32, nEmbed int) (CodeStats, error) {
	s := CodeStats{Counts: make([]int, nEmbed)}
	for _, i := range indices {
		if i < 0 || int(i) >= nEmbed {
			return s, fmt.Errorf("vqgan.Stats: index %d outside the codebook of %d", i, nEmbed)
		}
		s.Counts[i]++
	}
	h := 0.0
	for _, c := range s.Counts {
		if c > 0 {
			s.Used++
		}
		p := float64(c) / float64(len(indices))
		h -= p * math.Log(p+1e-10)
	}
	s.Perplexity = math.Exp(h)
	return s, nil
}

// Restarter guards against codebook collapse by restarting dead codes from encoder outputs (the
// "random restart" of Dhariwal et al. 2020, Jukebox; the thesis and its reference have no such
// guard): a code not chosen in the last Patience observed batches is dead, and Restart moves it
// onto an encoder output z_e drawn at random from the current batch, so that it is chosen at
// least for that vector (unless another code sits on the same point). A restarted code gets a
// fresh Patience. The optimiser's moment estimates of a restarted row are not reset, and the
// Restarter's own state is not checkpointed (after a resume every code starts a fresh Patience).
//
// Usage in a training loop: Observe(indices) after every step; every few hundred steps
// Restart(codebook variable, pre-quantisation latents of the batch, rng). Early in training,
// when the encoder outputs cluster far from the U(-1/n_embed, 1/n_embed) initial codebook, the
// first restart acts as a data-dependent initialisation.
type Restarter struct {
	Patience int
	step     int
	lastUsed []int // step at which each code was last chosen (or restarted); 0 at the start
}

// NewRestarter tracks a codebook of nEmbed codes.
func NewRestarter(nEmbed, patience int) *Restarter {
	if nEmbed < 1 || patience < 1 {
		panic(fmt.Sprintf("vqgan.NewRestarter: need nEmbed, patience >= 1, got %d, %d", nEmbed, patience))
	}
	return &Restarter{Patience: patience, lastUsed: make([]int, nEmbed)}
}

// Observe records the codes chosen in one training step.
func (r *Restarter) Observe(indices []int32) {
	r.step++
	for _, i := range indices {
		r.lastUsed[i] = r.step
	}
}

// Dead lists the codes unused for at least Patience observed steps, in increasing order.
func (r *Restarter) Dead() []int {
	var dead []int
	for k, s := range r.lastUsed {
		if r.step-s >= r.Patience {
			dead = append(dead, k)
		}
	}
	return dead
}

// Restart sets the row of every dead code of the codebook variable (float32 or float64,
// [NEmbed, EmbedDim]) to an encoder output drawn from z (any shape whose last axis is EmbedDim,
// e.g. the [B,h,w,EmbedDim] output of Encode): distinct vectors while there are enough, then
// with repetition. It returns the restarted codes.
func (r *Restarter) Restart(codebook *context.Variable, z *tensors.Tensor, rng *rand.Rand) ([]int, error) {
	dead := r.Dead()
	if len(dead) == 0 {
		return nil, nil
	}
	cb := codebook.Shape()
	if cb.Rank() != 2 || cb.Dimensions[0] != len(r.lastUsed) {
		return nil, fmt.Errorf("vqgan.Restart: codebook %s does not have %d rows", cb, len(r.lastUsed))
	}
	dim := cb.Dimensions[1]
	zd := z.Shape().Dimensions
	if len(zd) == 0 || zd[len(zd)-1] != dim || z.DType() != codebook.DType() {
		return nil, fmt.Errorf("vqgan.Restart: encoder outputs %s do not match codebook %s", z.Shape(), cb)
	}
	val, err := codebook.Value()
	if err != nil {
		return nil, err
	}
	var next *tensors.Tensor
	switch codebook.DType().String() {
	case "Float32":
		next = restartRows(tensors.MustCopyFlatData[float32](val), tensors.MustCopyFlatData[float32](z), dim, dead, rng, cb.Dimensions)
	case "Float64":
		next = restartRows(tensors.MustCopyFlatData[float64](val), tensors.MustCopyFlatData[float64](z), dim, dead, rng, cb.Dimensions)
	default:
		return nil, fmt.Errorf("vqgan.Restart: codebook dtype %s not supported", codebook.DType())
	}
	if err := codebook.SetValue(next); err != nil {
		return nil, err
	}
	for _, k := range dead {
		r.lastUsed[k] = r.step
	}
	return slices.Clone(dead), nil
}

func restartRows[T float32 | float64](book, z []T, dim int, dead []int, rng *rand.Rand, dims []int) *tensors.Tensor {
	n := len(z) / dim
	perm := rng.Perm(n)
	for j, k := range dead {
		src := perm[j%n]
		copy(book[k*dim:(k+1)*dim], z[src*dim:(src+1)*dim])
	}
	return tensors.FromFlatDataAndDimensions(book, dims...)
}

// Codebook returns the codebook variable of a model built under ctx (scope quantize, name
// "embedding"), or nil before the model has been built.
func Codebook(ctx *context.Context) *context.Variable {
	return ctx.In(CodebookScope).GetVariable("embedding")
}

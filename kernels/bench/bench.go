// Package bench measures dmseg's compute speed: matmul and convolution GFLOP/s, and
// the training step of a small U-Net-like probe network ("probe-unet") that
// scripts/bench_torch.py builds identically in PyTorch for a side-by-side ratio.
package bench

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/dmseg/dmseg/kernels/nn"
	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/layers/activations"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
)

// Timing is the result of a repeated measurement.
type Timing struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"` // median seconds per call
	FLOPs   float64 `json:"flops"`   // floating-point operations per call
	GFLOPs  float64 `json:"gflops"`  // FLOPs / Seconds / 1e9
	Reps    int     `json:"reps"`
}

// timeIt runs fn once to warm up (compile), then reps times, and returns the median time.
func timeIt(reps int, fn func()) float64 {
	fn()
	ts := make([]float64, reps)
	for i := range ts {
		start := time.Now()
		fn()
		ts[i] = time.Since(start).Seconds()
	}
	return median(ts)
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func randomTensor(rng *rand.Rand, dims ...int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	data := make([]float32, n)
	for i := range data {
		data[i] = float32(rng.NormFloat64())
	}
	return tensors.FromFlatDataAndDimensions(data, dims...)
}

// Matmul times an n x n x n float32 matrix product.
func Matmul(b backends.Backend, n, reps int) Timing {
	rng := rand.New(rand.NewPCG(1, 1))
	x, y := randomTensor(rng, n, n), randomTensor(rng, n, n)
	e := MustNewExec(b, func(x, y *Node) *Node { return MatMul(x, y) })
	defer e.Finalize()
	s := timeIt(reps, func() { e.MustExec(x, y)[0].FinalizeAll() })
	flops := 2 * float64(n) * float64(n) * float64(n)
	return Timing{Name: fmt.Sprintf("matmul %dx%dx%d", n, n, n), Seconds: s, FLOPs: flops, GFLOPs: flops / s / 1e9, Reps: reps}
}

// ConvLayer times one 3x3 "same" convolution [batch,hw,hw,c] -> [batch,hw,hw,c], forward only or
// forward + backward (gradients for input and kernel: 3x the forward FLOPs).
func ConvLayer(b backends.Backend, batch, hw, c, reps int, training bool) Timing {
	rng := rand.New(rand.NewPCG(2, 2))
	x, k := randomTensor(rng, batch, hw, hw, c), randomTensor(rng, 3, 3, c, c)
	flops := 2 * float64(batch*hw*hw) * float64(c*c*9)
	name := fmt.Sprintf("conv3x3 %dx%dx%d->%d batch %d forward", hw, hw, c, c, batch)
	var e *Exec
	if training {
		flops *= 3
		name = fmt.Sprintf("conv3x3 %dx%dx%d->%d batch %d forward+backward", hw, hw, c, c, batch)
		e = MustNewExec(b, func(x, k *Node) []*Node {
			y := nn.ConvKernel(x, k, 1, 1)
			loss := ReduceAllSum(Square(y))
			return Gradient(loss, x, k)
		})
	} else {
		e = MustNewExec(b, func(x, k *Node) *Node { return nn.ConvKernel(x, k, 1, 1) })
	}
	defer e.Finalize()
	s := timeIt(reps, func() {
		for _, t := range e.MustExec(x, k) {
			t.FinalizeAll()
		}
	})
	return Timing{Name: name, Seconds: s, FLOPs: flops, GFLOPs: flops / s / 1e9, Reps: reps}
}

// ProbeUNet is the benchmark network (mirrored exactly by scripts/bench_torch.py):
//
//	h0 = conv3(x, 32)                           64x64x32
//	h1 = res(h0)                                64x64x32
//	h2 = res(conv3(avgpool(h1), 64))            32x32x64
//	h3 = res(conv3(avgpool(h2), 128))           16x16x128
//	u2 = conv3(concat(up(h3), h2), 64)          32x32x64
//	u1 = conv3(concat(up(u2), h1), 32)          64x64x32
//	out = conv3(silu(gn(u1)), outChannels)
//
// with res(h) = h + conv3(silu(gn(conv3(silu(gn(h))))))), GroupNorm with 8 groups.
func ProbeUNet(ctx *context.Context, x *Node, outChannels int) *Node {
	return ProbeUNetWith(ctx, x, outChannels, ProbeOptions{})
}

// ProbeOptions removes parts of the probe network, for the ablation profile
// (Profile): the time of a part is the step time with it minus without it.
type ProbeOptions struct {
	NoNorm bool // GroupNorm -> identity
	NoAct  bool // SiLU -> identity
}

// ProbeUNetWith is ProbeUNet with parts removed as o says.
func ProbeUNetWith(ctx *context.Context, x *Node, outChannels int, o ProbeOptions) *Node {
	gnAct := func(ctx *context.Context, h *Node) *Node {
		if !o.NoNorm {
			h = nn.GroupNorm(ctx, h, 8)
		}
		if !o.NoAct {
			h = activations.Swish(h)
		}
		return h
	}
	res := func(ctx *context.Context, h *Node) *Node {
		c := h.Shape().Dimensions[3]
		y := nn.Conv2D(ctx.In("conv1"), gnAct(ctx.In("gn1"), h), c, 3)
		y = nn.Conv2D(ctx.In("conv2"), gnAct(ctx.In("gn2"), y), c, 3)
		return Add(h, y)
	}
	h0 := nn.Conv2D(ctx.In("in"), x, 32, 3)
	h1 := res(ctx.In("res1"), h0)
	h2 := res(ctx.In("res2"), nn.Conv2D(ctx.In("down1"), nn.AvgPool2(h1), 64, 3))
	h3 := res(ctx.In("res3"), nn.Conv2D(ctx.In("down2"), nn.AvgPool2(h2), 128, 3))
	u2 := nn.Conv2D(ctx.In("up2"), Concatenate([]*Node{nn.Upsample2(h3), h2}, -1), 64, 3)
	u1 := nn.Conv2D(ctx.In("up1"), Concatenate([]*Node{nn.Upsample2(u2), h1}, -1), 32, 3)
	return nn.Conv2D(ctx.In("out"), gnAct(ctx.In("gnout"), u1), outChannels, 3)
}

// ProbeUNetForwardFLOPs counts the multiply-adds (x2) of the probe's convolutions at 64x64x1 input,
// per image; normalisation, activations and pooling are not counted (as usual).
func ProbeUNetForwardFLOPs() float64 {
	conv := func(hw, cin, cout int) float64 { return 2 * float64(hw*hw) * float64(cin*cout*9) }
	f := conv(64, 1, 32)
	f += 2 * conv(64, 32, 32)
	f += conv(32, 32, 64) + 2*conv(32, 64, 64)
	f += conv(16, 64, 128) + 2*conv(16, 128, 128)
	f += conv(32, 192, 64) + conv(64, 96, 32) + conv(64, 32, 1)
	return f
}

// TrainStep times one training step of ProbeUNet (forward, backward, Adam update) at batch
// size batch on 64x64x1 inputs with an MSE loss; FLOPs are 3x the forward's.
func TrainStep(b backends.Backend, batch, reps int) (Timing, int) {
	return probeStep(b, batch, reps, ProbeOptions{}, stepAdam)
}

// What a timed probe step computes.
const (
	stepAdam    = iota // forward, backward and the Adam update (TrainStep)
	stepGrads          // forward and backward: the gradients, no update
	stepForward        // the forward pass and the loss only
)

func probeStep(b backends.Backend, batch, reps int, o ProbeOptions, what int) (Timing, int) {
	rng := rand.New(rand.NewPCG(3, 3))
	x, target := randomTensor(rng, batch, 64, 64, 1), randomTensor(rng, batch, 64, 64, 1)
	ctx := context.New()
	opt := optimizers.Adam().LearningRate(1e-4).Done()
	e := context.MustNewExec(b, ctx, func(ctx *context.Context, x, target *Node) []*Node {
		out := ProbeUNetWith(ctx.In("probe"), x, 1, o)
		loss := ReduceAllMean(Square(Sub(out, target)))
		switch what {
		case stepAdam:
			opt.UpdateGraph(ctx, x.Graph(), loss)
		case stepGrads:
			// Every gradient is an output, as the optimiser would read it: a graph that
			// only returned, say, their sum would let XLA skip part of the backward pass.
			var params []*Node
			for v := range ctx.IterVariables() {
				if v.Trainable {
					params = append(params, v.ValueGraph(x.Graph()))
				}
			}
			return append([]*Node{loss}, Gradient(loss, params...)...)
		}
		return []*Node{loss}
	})
	defer e.Finalize()
	s := timeIt(reps, func() {
		for _, t := range e.MustExec(x, target) {
			t.FinalizeAll()
		}
	})
	params := 0
	ctx.EnumerateVariables(func(v *context.Variable) {
		if v.Trainable && len(v.Scope()) >= 6 && v.Scope()[:6] == "/probe" {
			params += v.Shape().Size()
		}
	})
	flops := 3 * ProbeUNetForwardFLOPs() * float64(batch)
	return Timing{Name: fmt.Sprintf("probe-unet train step 64x64x1 batch %d", batch), Seconds: s,
		FLOPs: flops, GFLOPs: flops / s / 1e9, Reps: reps}, params
}

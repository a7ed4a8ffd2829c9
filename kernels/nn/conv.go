package nn

import (
	"fmt"
	"math"
	"strings"

	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
)

// Pads is the zero padding of a 2-D convolution, in pixels on each side.
type Pads struct{ Top, Bottom, Left, Right int }

// SamePad returns the symmetric padding that keeps the size at stride 1 for an odd kernel.
func SamePad(kernelSize int) Pads { p := kernelSize / 2; return Pads{p, p, p, p} }

type convConfig struct {
	stride   int
	pad      *Pads
	zeroInit bool
	noBias   bool
}

// ConvOption configures Conv2D.
type ConvOption func(*convConfig)

// Stride sets the stride (default 1).
func Stride(s int) ConvOption { return func(c *convConfig) { c.stride = s } }

// Padding sets a symmetric zero padding (default: kernelSize/2, "same" at stride 1).
func Padding(p int) ConvOption { return func(c *convConfig) { c.pad = &Pads{p, p, p, p} } }

// PadAsym sets an asymmetric zero padding, e.g. PadAsym(0,1,0,1) for CompVis's stride-2 downsampling.
func PadAsym(top, bottom, left, right int) ConvOption {
	return func(c *convConfig) { c.pad = &Pads{top, bottom, left, right} }
}

// ZeroInit initialises weights and bias to zero (CompVis's zero_module).
func ZeroInit() ConvOption { return func(c *convConfig) { c.zeroInit = true } }

// NoBias omits the bias.
func NoBias() ConvOption { return func(c *convConfig) { c.noBias = true } }

// Conv2D is a 2-D convolution layer on NHWC input x [B,H,W,Cin] with a kernel
// variable "weights" [K,K,Cin,Cout] and bias "biases" [Cout] in ctx's current scope.
func Conv2D(ctx *context.Context, x *Node, outChannels, kernelSize int, opts ...ConvOption) *Node {
	cfg := convConfig{stride: 1}
	for _, o := range opts {
		o(&cfg)
	}
	pad := SamePad(kernelSize)
	if cfg.pad != nil {
		pad = *cfg.pad
	}
	if x.Rank() != 4 {
		panic(fmt.Sprintf("nn.Conv2D(scope %s): input must be NHWC rank 4, got %s", ctx.Scope(), x.Shape()))
	}
	g := x.Graph()
	cin := x.Shape().Dimensions[3]
	fanIn := float64(cin * kernelSize * kernelSize)
	init := uniformInit(ctx, fanIn, cfg.zeroInit)
	wShape := shapes.Make(x.DType(), kernelSize, kernelSize, cin, outChannels)
	w := ctx.WithInitializer(init).VariableWithShape("weights", wShape).ValueGraph(g)
	y := ConvKernelPadded(x, w, cfg.stride, pad)
	if !cfg.noBias {
		b := ctx.WithInitializer(init).VariableWithShape("biases", shapes.Make(x.DType(), outChannels)).ValueGraph(g)
		y = addChannelBias(y, b)
	}
	return y
}

func uniformInit(ctx *context.Context, fanIn float64, zero bool) context.VariableInitializer {
	if zero {
		return initializers.Zero
	}
	bound := 1 / math.Sqrt(fanIn)
	return initializers.RandomUniformFn(ctx, -bound, bound)
}

// ConvKernel convolves x [B,H,W,Cin] with kernel [K,K,Cin,Cout] (cross-correlation, as every
// deep-learning library) at the given stride with symmetric zero padding pad.
func ConvKernel(x, kernel *Node, stride, pad int) *Node {
	return ConvKernelPadded(x, kernel, stride, Pads{pad, pad, pad, pad})
}

// ConvKernelPadded is ConvKernel with per-side padding. On XLA backends it is the native
// convolution; on the pure-Go backend (whose convolution has no gradient in GoMLX v0.26) it is
// im2col: a Gather with a precomputed index table followed by one matrix product.
// Both compute the same function and both are differentiable. Kernels of even size take
// im2col on XLA too: GoMLX v0.26's gradient of the native convolution with respect to its
// input is wrong for them (relative errors of order 1 against finite differences; odd
// kernels are exact), which would feed wrong gradients to whatever precedes a DiT patch
// embedding or a 4x4 PatchGAN layer.
func ConvKernelPadded(x, kernel *Node, stride int, pad Pads) *Node {
	checkConv(x, kernel, stride, pad)
	kd := kernel.Shape().Dimensions
	if UseIm2col(x.Graph()) || kd[0]%2 == 0 || kd[1]%2 == 0 {
		return convIm2col(x, kernel, stride, pad)
	}
	return Convolve(x, kernel).Strides(stride).
		PaddingPerDim([][2]int{{pad.Top, pad.Bottom}, {pad.Left, pad.Right}}).Done()
}

// UseIm2col reports whether convolutions on g's backend go through im2col (true for the pure-Go backend).
func UseIm2col(g *Graph) bool {
	return !strings.HasPrefix(g.Backend().Name(), "xla")
}

func checkConv(x, kernel *Node, stride int, pad Pads) {
	xs, ks := x.Shape(), kernel.Shape()
	if xs.Rank() != 4 || ks.Rank() != 4 {
		panic(fmt.Sprintf("nn.ConvKernel: want x [B,H,W,C] and kernel [K,K,Cin,Cout], got %s and %s", xs, ks))
	}
	if xs.Dimensions[3] != ks.Dimensions[2] {
		panic(fmt.Sprintf("nn.ConvKernel: x has %d channels but kernel expects %d (x %s, kernel %s)",
			xs.Dimensions[3], ks.Dimensions[2], xs, ks))
	}
	if stride < 1 || pad.Top < 0 || pad.Bottom < 0 || pad.Left < 0 || pad.Right < 0 {
		panic(fmt.Sprintf("nn.ConvKernel: invalid stride %d or padding %+v", stride, pad))
	}
	if xs.Dimensions[1]+pad.Top+pad.Bottom < ks.Dimensions[0] || xs.Dimensions[2]+pad.Left+pad.Right < ks.Dimensions[1] {
		panic(fmt.Sprintf("nn.ConvKernel: kernel %s larger than padded input %s", ks, xs))
	}
}

// convIm2col: patches[m, (ky,kx,c)] = xpad[idx[m,ky,kx], c], where row N of xpad is zero and stands
// for every tap that falls in the padding; then out = patches . kernel[(ky,kx,c), cout].
func convIm2col(x, kernel *Node, stride int, pad Pads) *Node {
	g := x.Graph()
	d := x.Shape().Dimensions
	b, h, w, cin := d[0], d[1], d[2], d[3]
	kd := kernel.Shape().Dimensions
	kh, kw, cout := kd[0], kd[1], kd[3]
	ho := (h+pad.Top+pad.Bottom-kh)/stride + 1
	wo := (w+pad.Left+pad.Right-kw)/stride + 1
	n := b * h * w
	if kh == 1 && kw == 1 && stride == 1 && pad == (Pads{}) {
		flat := Reshape(x, n, cin)
		return Reshape(DotGeneral(flat, []int{1}, nil, Reshape(kernel, cin, cout), []int{0}, nil), b, h, w, cout)
	}
	idx := make([]int32, b*ho*wo*kh*kw)
	pos := 0
	for bi := 0; bi < b; bi++ {
		for oy := 0; oy < ho; oy++ {
			for ox := 0; ox < wo; ox++ {
				for ky := 0; ky < kh; ky++ {
					iy := oy*stride - pad.Top + ky
					for kx := 0; kx < kw; kx++ {
						ix := ox*stride - pad.Left + kx
						if iy < 0 || iy >= h || ix < 0 || ix >= w {
							idx[pos] = int32(n)
						} else {
							idx[pos] = int32((bi*h+iy)*w + ix)
						}
						pos++
					}
				}
			}
		}
	}
	flat := Reshape(x, n, cin)
	withZero := Concatenate([]*Node{flat, Zeros(g, shapes.Make(x.DType(), 1, cin))}, 0)
	indices := Reshape(Const(g, idx), len(idx), 1)
	patches := Reshape(Gather(withZero, indices), b*ho*wo, kh*kw*cin)
	out := DotGeneral(patches, []int{1}, nil, Reshape(kernel, kh*kw*cin, cout), []int{0}, nil)
	return Reshape(out, b, ho, wo, cout)
}

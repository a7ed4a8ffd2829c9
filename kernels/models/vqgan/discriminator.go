package vqgan

import (
	"fmt"
	"math"
	"strconv"

	"github.com/dmseg/dmseg/kernels/models/mops"
	"github.com/dmseg/dmseg/kernels/nn"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
)

// Discriminator is taming's NLayerDiscriminator (pix2pix PatchGAN) on x [B,H,W,InChannels],
// returning patch logits [B,s,s,1] with s = d.OutputSize(H): conv 4x4/2 + LeakyReLU(0.2), then
// NLayers-1 times conv 4x4/2 (no bias) + norm + LeakyReLU, conv 4x4/1 (no bias) + norm + LeakyReLU,
// conv 4x4/1 to one channel; all with padding 1. Conv weights start N(0, 0.02) (taming's
// weights_init), biases as PyTorch's default.
//
// The reference normalises with BatchNorm2d, in training mode whenever the discriminator runs:
// each call (the real batch, the fake batch) is normalised with its own batch statistics. Here it
// is GroupNorm(d.NormGroups) per example: the same trainable parameters (a scale and an offset
// per channel, scale starting at 1 rather than N(1, 0.02)), no running statistics, and a
// discriminator whose output for one image does not depend on the rest of the batch.
// Because of that, one call on the real and fake images concatenated along the batch gives the
// same logits as the reference's two calls. Variables under ctx's scope: conv/<i>, norm/<i>
// (a second call in the same graph needs ctx.Reuse()).
func Discriminator(ctx *context.Context, d DiscConfig, x *Node) *Node {
	if err := d.Validate(); err != nil {
		panic(err)
	}
	if x.Rank() != 4 || x.Shape().Dimensions[3] != d.InChannels || d.OutputSize(min(x.Shape().Dimensions[1], x.Shape().Dimensions[2])) < 1 {
		panic(fmt.Sprintf("vqgan.Discriminator: want [B,H,W,%d] with H, W large enough for %d layers, got %s", d.InChannels, d.NLayers, x.Shape()))
	}
	w := d.widths()
	h := x
	for i, cout := range w {
		stride := 1
		if i < d.NLayers {
			stride = 2
		}
		withNorm := i != 0 && i != len(w)-1
		h = discConv(ctx.In("conv").In(strconv.Itoa(i)), h, cout, stride, !withNorm)
		if withNorm {
			h = nn.GroupNorm(ctx.In("norm").In(strconv.Itoa(i)), h, d.NormGroups)
		}
		if i != len(w)-1 {
			h = mops.LeakyReLU(h, 0.2)
		}
	}
	return h
}

func discConv(ctx *context.Context, x *Node, cout, stride int, bias bool) *Node {
	g := x.Graph()
	cin := x.Shape().Dimensions[3]
	w := ctx.WithInitializer(initializers.RandomNormalFn(ctx, 0.02)).
		VariableWithShape("weights", shapes.Make(x.DType(), 4, 4, cin, cout)).ValueGraph(g)
	y := conv4x4(x, w, stride)
	if bias {
		bound := 1 / math.Sqrt(float64(16*cin))
		b := ctx.WithInitializer(initializers.RandomUniformFn(ctx, -bound, bound)).
			VariableWithShape("biases", shapes.Make(x.DType(), cout)).ValueGraph(g)
		y = Add(y, Reshape(b, 1, 1, 1, cout))
	}
	return y
}

// conv4x4 is the 4x4 convolution with padding 1 of the discriminator. On XLA backends the kernel
// is embedded in a 5x5 one (a zero last row and column) with padding (1,2,1,2), the same
// function: GoMLX v0.26's native-convolution gradient is wrong for even kernel sizes, so
// nn.ConvKernelPadded would route a 4x4 kernel through im2col; the odd 5x5 kernel keeps XLA's
// faster native convolution with a correct gradient. The pure-Go backend takes the 4x4 kernel
// as it is (im2col).
func conv4x4(x, w *Node, stride int) *Node {
	if nn.UseIm2col(x.Graph()) {
		return nn.ConvKernelPadded(x, w, stride, nn.Pads{Top: 1, Bottom: 1, Left: 1, Right: 1})
	}
	g := x.Graph()
	d := w.Shape().Dimensions
	w = Concatenate([]*Node{w, Zeros(g, shapes.Make(w.DType(), 1, d[1], d[2], d[3]))}, 0)
	w = Concatenate([]*Node{w, Zeros(g, shapes.Make(w.DType(), d[0]+1, 1, d[2], d[3]))}, 1)
	return nn.ConvKernelPadded(x, w, stride, nn.Pads{Top: 1, Bottom: 2, Left: 1, Right: 2})
}

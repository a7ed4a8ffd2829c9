// Package rrdb is the condition encoder of the thesis's conditional segmentation DDPM (section
// 3.2), taken from SegDiff (Amit et al.), which borrows ESRGAN's RRDBNet: a 3x3 conv to Features
// channels, Blocks residual-in-residual dense blocks, a 3x3 trunk conv added back, then
// 3x3 conv, LeakyReLU(0.2) and a 3x3 conv to OutChannels. Tensors are NHWC.
//
// A residual dense block (RDB) has 5 3x3 convs; conv i sees the concatenation of the block input
// and all earlier conv outputs, convs 1-4 produce Growth channels and are followed by
// LeakyReLU(0.2), conv 5 returns to Features channels; the block returns input + 0.2*conv5.
// An RRDB chains 3 RDBs and returns input + 0.2*(their output).
package rrdb

import (
	"fmt"

	"github.com/dmseg/dmseg/kernels/models/mops"
	"github.com/dmseg/dmseg/kernels/nn"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Config sizes the encoder.
type Config struct {
	InChannels  int `json:"in_channels"`  // channels of the condition image (1 for X-ray)
	OutChannels int `json:"out_channels"` // channels of the encoded condition (thesis: 16)
	Features    int `json:"features"`     // nf: width of the trunk (SegDiff: 64)
	Growth      int `json:"growth"`       // gc: channels added by each dense conv (SegDiff: 32)
	Blocks      int `json:"blocks"`       // nb: number of RRDBs in the trunk (SegDiff: 3)
}

// SegDiff returns SegDiff's encoder sizes (nf 64, gc 32, 3 RRDBs) mapping in -> out channels.
func SegDiff(in, out int) Config {
	return Config{InChannels: in, OutChannels: out, Features: 64, Growth: 32, Blocks: 3}
}

const slope, residualScale = 0.2, 0.2

// Validate reports the first invalid size.
func (c Config) Validate() error {
	if c.InChannels < 1 || c.OutChannels < 1 || c.Features < 1 || c.Growth < 1 || c.Blocks < 0 {
		return fmt.Errorf("rrdb: invalid sizes %+v", c)
	}
	return nil
}

func conv(cin, cout int) int { return 9*cin*cout + cout }

// RDBParams is the parameter count of one residual dense block.
func (c Config) RDBParams() int {
	n := 0
	for i := 0; i < 4; i++ {
		n += conv(c.Features+i*c.Growth, c.Growth)
	}
	return n + conv(c.Features+4*c.Growth, c.Features)
}

// ParamCount is the total number of trainable parameters.
func (c Config) ParamCount() int {
	return conv(c.InChannels, c.Features) + c.Blocks*3*c.RDBParams() + 2*conv(c.Features, c.Features) +
		conv(c.Features, c.OutChannels)
}

// Encode maps the condition image x [B,H,W,InChannels] to [B,H,W,OutChannels].
func Encode(ctx *context.Context, cfg Config, x *Node) *Node {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	if x.Rank() != 4 || x.Shape().Dimensions[3] != cfg.InChannels {
		panic(fmt.Sprintf("rrdb.Encode: want condition [B,H,W,%d], got %s", cfg.InChannels, x.Shape()))
	}
	fea := nn.Conv2D(ctx.In("conv_first"), x, cfg.Features, 3)
	h := fea
	for i := 0; i < cfg.Blocks; i++ {
		h = RRDB(ctx.Inf("rrdb_%d", i), cfg, h)
	}
	fea = Add(fea, nn.Conv2D(ctx.In("trunk_conv"), h, cfg.Features, 3))
	h = mops.LeakyReLU(nn.Conv2D(ctx.In("hr_conv"), fea, cfg.Features, 3), slope)
	return nn.Conv2D(ctx.In("conv_last"), h, cfg.OutChannels, 3)
}

// RRDB is x + 0.2 * RDB3(RDB2(RDB1(x))).
func RRDB(ctx *context.Context, cfg Config, x *Node) *Node {
	h := x
	for i := 0; i < 3; i++ {
		h = RDB(ctx.Inf("rdb_%d", i), cfg, h)
	}
	return Add(x, MulScalar(h, residualScale))
}

// RDB is the 5-conv residual dense block: x + 0.2 * conv5([x, x1, x2, x3, x4]).
func RDB(ctx *context.Context, cfg Config, x *Node) *Node {
	feats := []*Node{x}
	for i := 1; i <= 4; i++ {
		y := nn.Conv2D(ctx.Inf("conv%d", i), Concatenate(feats, -1), cfg.Growth, 3)
		feats = append(feats, mops.LeakyReLU(y, slope))
	}
	y := nn.Conv2D(ctx.In("conv5"), Concatenate(feats, -1), cfg.Features, 3)
	return Add(x, MulScalar(y, residualScale))
}

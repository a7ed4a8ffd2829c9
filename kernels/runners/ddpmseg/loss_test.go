package ddpmseg

import (
	"math"
	"testing"

	"github.com/dmseg/dmseg/kernels/diffusion/ddpm"
	"github.com/dmseg/dmseg/kernels/diffusion/schedule"
	"github.com/dmseg/dmseg/kernels/engine/enginetest"
	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// LossAuxDice against hand-computed values: an x0 network that returns the
// true mask costs 0 whatever t and eps were drawn; one that returns all
// background costs mean (x0+1)^2 plus w * mean over images of 1 - 1/(S+1),
// S the image's foreground pixel count.
func TestLossAuxDiceByHand(t *testing.T) {
	enginetest.ForEach(t, func(t *testing.T, b backends.Backend) {
		s, _ := schedule.NewDDPM(schedule.BetaSqrtLinear, 1000)
		// Two 3x3 masks in {-1, 1}: 2 and 0 foreground pixels.
		mask := []float32{1, -1, -1, -1, 1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1}
		const w = 0.7
		wantBG := float64(2*4)/18 + w*((1-1.0/3)+(1-1.0/1))/2
		for _, c := range []struct {
			name string
			out  func(mask *Node) *Node
			want float64
		}{
			{"perfect", func(mask *Node) *Node { return mask }, 0},
			{"background", func(mask *Node) *Node { return Neg(OnesLike(mask)) }, wantBG},
		} {
			loss := context.MustExecOnce(b, context.New(), func(ctx *context.Context, m *Node) *Node {
				img := ZerosLike(m)
				model := ddpm.Model{Sched: s, Param: ddpm.X0,
					Denoiser: func(ctx *context.Context, xt, tt, cond *Node) *Node { return c.out(m) }}
				return LossAuxDice(ctx, model, m, img, w)
			}, tensors.FromFlatDataAndDimensions(mask, 2, 3, 3, 1))
			got := float64(tensors.MustCopyFlatData[float32](loss)[0])
			if math.Abs(got-c.want) > 1e-6 {
				t.Errorf("%s network: loss %.7f, by hand %.7f", c.name, got, c.want)
			}
		}
	})
}

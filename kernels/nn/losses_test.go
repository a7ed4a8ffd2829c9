package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dmseg/dmseg/kernels/engine/enginetest"
	"github.com/dmseg/dmseg/kernels/gradcheck"
	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestSegLossesByHand checks BCE and soft Dice against values worked out in
// float64 from their definitions, including an empty target.
func TestSegLossesByHand(t *testing.T) {
	// Two examples of 2x2x1: logits and targets.
	logits := []float64{2, -1, 0.5, -3, -2, -2, 1, -4}
	y := []float64{1, 0, 1, 0, 0, 0, 0, 0} // the second example's target is empty
	wantBCE := 0.0
	p := make([]float64, len(logits))
	for i, x := range logits {
		p[i] = 1 / (1 + math.Exp(-x))
		wantBCE += -(y[i]*math.Log(p[i]) + (1-y[i])*math.Log(1-p[i]))
	}
	wantBCE /= float64(len(logits))
	wantDice := 0.0
	for e := 0; e < 2; e++ {
		var inter, sp, sy float64
		for i := e * 4; i < e*4+4; i++ {
			inter += p[i] * y[i]
			sp += p[i]
			sy += y[i]
		}
		wantDice += 1 - (2*inter+1)/(sp+sy+1)
	}
	wantDice /= 2
	enginetest.ForEach(t, func(t *testing.T, be backends.Backend) {
		lt := tensors.FromFlatDataAndDimensions(logits, 2, 2, 2, 1)
		yt := tensors.FromFlatDataAndDimensions(y, 2, 2, 2, 1)
		bce := tensors.MustCopyFlatData[float64](MustExecOnce(be, BCEWithLogits, lt, yt))[0]
		dice := tensors.MustCopyFlatData[float64](MustExecOnce(be, func(x, y *Node) *Node { return SoftDiceLoss(Sigmoid(x), y) }, lt, yt))[0]
		if math.Abs(bce-wantBCE) > 1e-12 {
			t.Errorf("BCE %.15g, by hand %.15g", bce, wantBCE)
		}
		if math.Abs(dice-wantDice) > 1e-12 {
			t.Errorf("soft Dice loss %.15g, by hand %.15g", dice, wantDice)
		}
		// An exact empty prediction of an empty target costs nothing.
		z := tensors.FromFlatDataAndDimensions(make([]float64, 4), 1, 2, 2, 1)
		if d := tensors.MustCopyFlatData[float64](MustExecOnce(be, SoftDiceLoss, z, z))[0]; d != 0 {
			t.Errorf("soft Dice loss of empty vs empty is %g, want 0", d)
		}
	})
}

// TestSegLossGradients checks the gradients of BCE + soft Dice against
// central finite differences.
func TestSegLossGradients(t *testing.T) {
	enginetest.ForEach(t, func(t *testing.T, be backends.Backend) {
		rng := rand.New(rand.NewPCG(5, 6))
		x := gradcheck.Random(rng, 3, 4, 4, 1)
		yv := make([]float64, 48)
		for i := range yv {
			if rng.Float64() < 0.3 {
				yv[i] = 1
			}
		}
		y := tensors.FromFlatDataAndDimensions(yv, 3, 4, 4, 1)
		fn := func(in []*Node) *Node {
			yc := Const(in[0].Graph(), y)
			return Add(BCEWithLogits(in[0], yc), SoftDiceLoss(Sigmoid(in[0]), yc))
		}
		res, err := gradcheck.Check(be, fn, []*tensors.Tensor{x}, 3, 9)
		if err != nil {
			t.Fatal(err)
		}
		if m := gradcheck.MaxRelErr(res); m > 1e-6 {
			t.Errorf("max relative error %.3g between autodiff and central differences: %+v", m, res)
		}
	})
}

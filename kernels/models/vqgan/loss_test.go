package vqgan

import (
	"math"
	"strings"
	"testing"

	"github.com/dmseg/dmseg/kernels/engine"
	"github.com/dmseg/dmseg/kernels/engine/enginetest"
	"github.com/dmseg/dmseg/kernels/models/internal/modeltest"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

func scalar(t *testing.T, x *tensors.Tensor) float64 {
	t.Helper()
	f := modeltest.Floats(x)
	if len(f) != 1 {
		t.Fatalf("want a scalar, got %s", x.Shape())
	}
	return f[0]
}

// TestGANLossesByHand: hinge, vanilla and generator losses on three logits each.
func TestGANLossesByHand(t *testing.T) {
	real := []float64{2, 0.5, -1}
	fake := []float64{-2, 0.3, 1.5}
	// hinge: relu(1 - real) = (0, 0.5, 2), relu(1 + fake) = (0, 1.3, 2.5): 0.5 (2.5/3 + 3.8/3) = 1.05
	const hinge = 1.05
	sp := func(x float64) float64 { return math.Log1p(math.Exp(x)) }
	vanilla := 0.5 * ((sp(-2)+sp(-0.5)+sp(1))/3 + (sp(-2)+sp(0.3)+sp(1.5))/3)
	gen := -(-2 + 0.3 + 1.5) / 3.0
	enginetest.ForEach(t, func(t *testing.T, b backends.Backend) {
		r, f := tensors.FromValue(real), tensors.FromValue(fake)
		if got := scalar(t, MustExecOnce(b, HingeDLoss, r, f)); math.Abs(got-hinge) > 1e-12 {
			t.Errorf("hinge %g, by hand %g", got, hinge)
		}
		if got := scalar(t, MustExecOnce(b, VanillaDLoss, r, f)); math.Abs(got-vanilla) > 1e-12 {
			t.Errorf("vanilla %g, by hand %g", got, vanilla)
		}
		if got := scalar(t, MustExecOnce(b, GeneratorGANLoss, f)); math.Abs(got-gen) > 1e-12 {
			t.Errorf("generator loss %g, by hand %g", got, gen)
		}
	})
}

func TestAdoptWeight(t *testing.T) {
	for _, c := range []struct{ step, want float64 }{{0, 0}, {99, 0}, {100, 0.5}, {5000, 0.5}} {
		if got := AdoptWeight(0.5, int(c.step), 100); got != c.want {
			t.Errorf("AdoptWeight at step %g: %g, want %g", c.step, got, c.want)
		}
		enginetest.ForEach(t, func(t *testing.T, b backends.Backend) {
			got := scalar(t, MustExecOnce(b, func(s *Node) *Node { return AdoptWeightNode(0.5, s, 100, dtypes.Float32) }, int64(c.step)))
			if got != c.want {
				t.Errorf("AdoptWeightNode at step %g: %g, want %g", c.step, got, c.want)
			}
		})
	}
}

// TestAdaptiveWeightByHand: with nll = sum(a W) and g = sum(c W) the gradients are a and c, so the
// weight is |a| / (|c| + 1e-4) times disc_weight, clipped at 1e4, and passes no gradient.
func TestAdaptiveWeightByHand(t *testing.T) {
	a := []float64{3, 4, 0, 0}  // |a| = 5
	c := []float64{0, 1, 2, -2} // |c| = 3
	enginetest.ForEach(t, func(t *testing.T, b backends.Backend) {
		w := tensors.FromFlatDataAndDimensions([]float64{0.1, -0.2, 0.3, 0.4}, 2, 2)
		at, ct := tensors.FromFlatDataAndDimensions(a, 2, 2), tensors.FromFlatDataAndDimensions(c, 2, 2)
		out := MustExecOnceN(b, func(w, a, c *Node) []*Node {
			nll, g := ReduceAllSum(Mul(a, w)), ReduceAllSum(Mul(c, w))
			dw := AdaptiveWeight(nll, g, w, 0.75)
			// total = dw * sum(W): its gradient is dw * ones if dw passes no gradient.
			return []*Node{dw, Gradient(Mul(dw, ReduceAllSum(w)), w)[0], AdaptiveWeight(nll, MulScalar(g, 0), w, 0.75)}
		}, w, at, ct)
		want := 5 / (3 + 1e-4) * 0.75
		if got := scalar(t, out[0]); math.Abs(got-want) > 1e-12 {
			t.Errorf("adaptive weight %g, by hand %g", got, want)
		}
		for i, g := range modeltest.Floats(out[1]) {
			if math.Abs(g-want) > 1e-12 {
				t.Errorf("gradient[%d] through the weight: %g, want %g (no gradient through it)", i, g, want)
			}
		}
		if got := scalar(t, out[2]); math.Abs(got-1e4*0.75) > 1e-9 {
			t.Errorf("with a zero GAN gradient the weight is %g, want the clip 1e4 x 0.75", got)
		}
	})
}

// TestReconLossByHand: L1 on images and BCE on mask logits against {-1, 1} masks.
func TestReconLossByHand(t *testing.T) {
	x := []float64{1, -1, -1, 1}
	dec := []float64{0.5, -1.5, 2, 0}
	l1 := (0.5 + 0.5 + 3 + 1) / 4.0
	bce := 0.0
	for i, v := range dec {
		p, y := 1/(1+math.Exp(-v)), (x[i]+1)/2
		bce -= (y*math.Log(p) + (1-y)*math.Log(1-p)) / 4
	}
	enginetest.ForEach(t, func(t *testing.T, b backends.Backend) {
		xt, dt := tensors.FromFlatDataAndDimensions(x, 1, 2, 2, 1), tensors.FromFlatDataAndDimensions(dec, 1, 2, 2, 1)
		if got := scalar(t, MustExecOnce(b, func(x, d *Node) *Node { return ReconLoss(ReconL1, x, d) }, xt, dt)); math.Abs(got-l1) > 1e-12 {
			t.Errorf("L1 %g, by hand %g", got, l1)
		}
		if got := scalar(t, MustExecOnce(b, func(x, d *Node) *Node { return ReconLoss(ReconBCE, x, d) }, xt, dt)); math.Abs(got-bce) > 1e-12 {
			t.Errorf("BCE %g, by hand %g", got, bce)
		}
		img := modeltest.Floats(MustExecOnce(b, func(d *Node) *Node { return ReconImage(ReconBCE, d) }, dt))
		for i, v := range dec {
			if want := math.Tanh(v / 2); math.Abs(img[i]-want) > 1e-12 {
				t.Errorf("ReconImage(bce)[%d] = %g, want 2 sigmoid - 1 = %g", i, img[i], want)
			}
		}
	})
}

// TestGeneratorAndDiscriminatorLoss: with the decoder's last layer standing in for the decoder
// (dec = W) and a linear "discriminator" (logits = c W), every term is known in closed form:
// recon = mean|x - W|, its gradient -sign(x - W)/n with norm 1/sqrt(n); GAN = -mean(c W), gradient
// -c/n. The GAN terms are off before DiscStart and on from it.
func TestGeneratorAndDiscriminatorLoss(t *testing.T) {
	x := []float64{1, -1, 0.5, 0}
	w := []float64{0.2, -0.5, 1, -0.25}
	c := []float64{1, 2, -2, 0}
	q := 0.3
	n := 4.0
	recon := (0.8 + 0.5 + 0.5 + 0.25) / n
	gan := -(0.2*1 + -0.5*2 + 1*-2 + 0) / n
	dw := (1 / math.Sqrt(n)) / (3/n + 1e-4) * 0.75
	l := DefaultLoss(ReconL1, 100)
	enginetest.ForEach(t, func(t *testing.T, b backends.Backend) {
		for _, step := range []int64{99, 100} {
			out := MustExecOnceN(b, func(step, x, w, c, q *Node) []*Node {
				g := GeneratorLoss(l, step, x, w, q, Mul(c, w), w)
				real := Neg(x)
				return []*Node{g.Total, g.Recon, g.GAN, g.DWeight, g.DiscFactor, DiscriminatorLoss(l, step, real, Mul(c, w))}
			}, step, tensors.FromFlatDataAndDimensions(x, 1, 2, 2, 1), tensors.FromFlatDataAndDimensions(w, 1, 2, 2, 1),
				tensors.FromFlatDataAndDimensions(c, 1, 2, 2, 1), q)
			factor := 0.0
			if step >= 100 {
				factor = 1
			}
			want := []float64{recon + dw*factor*gan + q, recon, gan, dw, factor}
			for i, name := range []string{"total", "recon", "gan", "d_weight", "disc_factor"} {
				if got := scalar(t, out[i]); math.Abs(got-want[i]) > 1e-9 {
					t.Errorf("step %d: %s %g, by hand %g", step, name, got, want[i])
				}
			}
			// hinge on real = -x = (-1, 1, -0.5, 0) and fake = c W = (0.2, -1, -2, 0)
			hinge := 0.5 * ((2+0+1.5+1)/n + (1.2+0+0+1)/n)
			if got := scalar(t, out[5]); math.Abs(got-factor*hinge) > 1e-12 {
				t.Errorf("step %d: discriminator loss %g, by hand %g", step, got, factor*hinge)
			}
		}
	})
}

// TestTrainingGraph builds one generator step and one discriminator step of a small VQ-GAN as a
// runner would (adaptive weight on the decoder's last layer, GAN on) and checks that every
// generator variable gets a finite, non-zero gradient from the generator loss, every
// discriminator variable one from the discriminator loss, and that the discriminator loss does
// not reach the generator (its images are StopGradient'ed). A runner applies the generator
// loss's gradients to the generator variables only (the reference's two optimisers).
// It checks wiring on the pure-Go backend (no compilation); every piece runs on XLA in the
// other tests.
func TestTrainingGraph(t *testing.T) {
	cfg := gradCfg()
	cfg.Resolution = 16
	d := DiscConfig{InChannels: 1, NDF: 4, NLayers: 2, NormGroups: 2}
	l := DefaultLoss(ReconL1, 0)
	b, _ := engine.MustNew("go")
	ctx := context.New()
	x := modeltest.Normal(1, 2, 16, 16, 1)
	isDisc := func(v *context.Variable) bool { return strings.HasPrefix(v.Scope(), "/discriminator/") }
	var names []string
	exec, err := context.NewExec(b, ctx, func(ctx *context.Context, in []*Node) []*Node {
		ctx = ctx.Checked(false) // the discriminator is applied three times
		g := in[0].Graph()
		dec, q := Forward(ctx, cfg, in[0])
		img := ReconImage(l.Recon, dec)
		gl := GeneratorLoss(l, in[1], in[0], dec, q.Loss, Discriminator(ctx.In("discriminator"), d, img), LastLayer(ctx, g))
		dl := DiscriminatorLoss(l, in[1], Discriminator(ctx.In("discriminator"), d, StopGradient(in[0])),
			Discriminator(ctx.In("discriminator"), d, StopGradient(img)))
		outs := []*Node{gl.Total, dl, gl.DWeight}
		var gen, dis []*Node
		names = nil
		for v := range ctx.IterVariables() {
			if isDisc(v) {
				dis = append(dis, v.ValueGraph(g))
			} else {
				gen = append(gen, v.ValueGraph(g))
				names = append(names, v.ScopeAndName())
			}
		}
		for v := range ctx.IterVariables() {
			if isDisc(v) {
				names = append(names, v.ScopeAndName())
			}
		}
		for _, gr := range append(Gradient(gl.Total, gen...), Gradient(dl, dis...)...) {
			outs = append(outs, ReduceAllSum(Abs(gr)))
		}
		return append(outs, ReduceAllSum(Abs(Gradient(dl, gen[0])[0])))
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Exec(x, int32(5))
	if err != nil {
		t.Fatal(err)
	}
	vals := make([]float64, len(out))
	for i, o := range out {
		if vals[i] = scalar(t, o); math.IsNaN(vals[i]) || math.IsInf(vals[i], 0) {
			t.Fatalf("output %d is %g", i, vals[i])
		}
	}
	if !(vals[2] > 0) {
		t.Errorf("adaptive weight %g", vals[2])
	}
	if len(names) != len(vals)-4 || len(names) < 50 {
		t.Fatalf("%d gradients for %d variables", len(vals)-4, len(names))
	}
	for i, name := range names {
		// The hinge loss's gradient on the last bias is (fraction of fake logits > -1) - (fraction
		// of real logits < 1), exactly 0 while every logit is in (-1, 1), as at initialisation.
		if vals[3+i] == 0 && name != "/discriminator/conv/3/biases" {
			t.Errorf("%s gets no gradient from its loss", name)
		}
	}
	if g := vals[len(vals)-1]; g != 0 {
		t.Errorf("the discriminator loss reaches the generator (gradient %g on %s)", g, names[0])
	}
}

// TrainingLoss routes gradients as the reference's two optimisers do: on
// every autoencoder variable its gradient equals that of the generator loss
// alone, on every discriminator variable that of the discriminator loss alone
// (checked element-wise, GAN on), and its value is their sum.
func TestTrainingLossRoutesGradients(t *testing.T) {
	cfg := gradCfg()
	cfg.Resolution = 16
	d := DiscConfig{InChannels: 1, NDF: 4, NLayers: 2, NormGroups: 2}
	l := DefaultLoss(ReconL1, 0)
	b, _ := engine.MustNew("go")
	ctx := context.New()
	x := modeltest.Normal(3, 2, 16, 16, 1)
	exec, err := context.NewExec(b, ctx, func(ctx *context.Context, in []*Node) []*Node {
		ctx = ctx.Checked(false)
		g := in[0].Graph()
		sl := TrainingLoss(ctx, cfg, d, l, in[1], in[0])
		var gen, dis []*Node
		for v := range ctx.IterVariables() {
			if strings.HasPrefix(v.Scope(), "/"+DiscScope+"/") {
				dis = append(dis, v.ValueGraph(g))
			} else {
				gen = append(gen, v.ValueGraph(g))
			}
		}
		maxDiff := func(a, b []*Node) *Node {
			m := ScalarZero(g, a[0].DType())
			for i := range a {
				m = Max(m, ReduceAllMax(Abs(Sub(a[i], b[i]))))
			}
			return m
		}
		maxAbs := func(a []*Node) *Node {
			m := ScalarZero(g, a[0].DType())
			for i := range a {
				m = Max(m, ReduceAllMax(Abs(a[i])))
			}
			return m
		}
		gTot, gGen := Gradient(sl.Total, gen...), Gradient(sl.Gen.Total, gen...)
		dTot, dDis := Gradient(sl.Total, dis...), Gradient(sl.Disc, dis...)
		return []*Node{Sub(sl.Total, Add(sl.Gen.Total, sl.Disc)), maxDiff(gTot, gGen), maxAbs(gGen), maxDiff(dTot, dDis), maxAbs(dDis),
			maxAbs(Gradient(sl.Gen.Total, dis...)), Mul(sl.Gen.DWeight, sl.Gen.DiscFactor)}
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Exec(x, int32(5))
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float64, len(out))
	for i, o := range out {
		v[i] = scalar(t, o)
	}
	if math.Abs(v[0]) > 1e-6 {
		t.Errorf("value: Total - (Gen + Disc) = %g", v[0])
	}
	if !(v[6] > 0) || !(v[5] > 0) {
		t.Fatalf("test premise: the GAN term is on (weight %g) and reaches the discriminator (%g)", v[6], v[5])
	}
	if v[1] > 1e-6*v[2] || v[3] > 1e-6*v[4] || v[2] == 0 || v[4] == 0 {
		t.Errorf("autoencoder gradients differ from the generator loss's by %g (scale %g); discriminator's from the discriminator loss's by %g (scale %g)", v[1], v[2], v[3], v[4])
	}
}

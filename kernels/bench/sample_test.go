package bench

import (
	"math"
	"testing"

	"github.com/dmseg/dmseg/kernels/engine/enginetest"
)

// The benchmark's DDIM coefficients are the deterministic DDIM update of the
// project's schedule tables: with a perfect noise prediction the update maps
// sqrt(ab_t) x0 + sqrt(1-ab_t) eps to sqrt(ab_prev) x0 + sqrt(1-ab_prev) eps,
// and the last step lands on x0.
func TestDDIMCoefficientsMapTheExactPath(t *testing.T) {
	c1, c2 := DDIMCoefficients(50)
	if len(c1) != 50 {
		t.Fatalf("%d coefficients", len(c1))
	}
	ab := make([]float64, 1000)
	p := 1.0
	for i := range ab {
		p *= 1 - (1e-4 + (0.02-1e-4)*float64(i)/999)
		ab[i] = p
	}
	x0, eps := 0.7, -1.3
	t0 := 49*20 + 1
	x := math.Sqrt(ab[t0])*x0 + math.Sqrt(1-ab[t0])*eps
	for i := 0; i < 50; i++ {
		x = c1[i]*x + c2[i]*eps
		if i < 49 {
			tp := (48-i)*20 + 1
			if want := math.Sqrt(ab[tp])*x0 + math.Sqrt(1-ab[tp])*eps; math.Abs(x-want) > 1e-9 {
				t.Fatalf("step %d: %v, exact path %v", i, x, want)
			}
		}
	}
	if math.Abs(x-x0) > 1e-9 {
		t.Fatalf("last step %v, want x0 %v", x, x0)
	}
}

func TestSampleLoopTiny(t *testing.T) {
	b := enginetest.XLA(t)
	tm := SampleLoop(b, 2, 3, 1)
	if !(tm.Seconds > 0) || !(tm.GFLOPs > 0) {
		t.Fatalf("%+v", tm)
	}
}

package quality

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestHighFrequencyEnergyClosedForm(t *testing.T) {
	const w, h = 8, 6
	img := make([]float32, w*h)
	if e := HighFrequencyEnergy(img, w, h); e != 0 {
		t.Fatalf("flat image: %g", e)
	}
	// A linear ramp has zero Laplacian.
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img[y*w+x] = float32(0.1*float64(x) - 0.05*float64(y))
		}
	}
	if e := HighFrequencyEnergy(img, w, h); e > 1e-12 {
		t.Fatalf("ramp: %g", e)
	}
	// One spike of amplitude a at an interior pixel away from the border: its own
	// Laplacian 4a, and -a at each of its 4 interior neighbours: (16+4) a^2 / ((w-2)(h-2)).
	for i := range img {
		img[i] = 0
	}
	a := 0.5
	img[3*w+3] = float32(a)
	want := 20 * a * a / float64((w-2)*(h-2))
	if e := HighFrequencyEnergy(img, w, h); math.Abs(e-want) > 1e-12 {
		t.Fatalf("spike: %g, want %g", e, want)
	}
}

func TestSpeckleRuleSeparatesSmoothFromSaltAndPepper(t *testing.T) {
	const w, h, n = 32, 32, 20
	r := rand.New(rand.NewPCG(1, 2))
	smooth := make([]float32, n*w*h)
	for k := 0; k < n; k++ {
		fx, fy, ph := 1+r.Float64()*2, 1+r.Float64()*2, r.Float64()*6
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				smooth[k*w*h+y*w+x] = float32(0.6 * math.Sin(fx*float64(x)/float64(w)*math.Pi+ph) * math.Cos(fy*float64(y)/float64(h)*math.Pi))
			}
		}
	}
	rule, err := NewSpeckleRule(smooth[:10*w*h], 10, w, h)
	if err != nil {
		t.Fatal(err)
	}
	// Held-out smooth images: not speckled. The same with 2% saturated pixels: speckled.
	test := append([]float32(nil), smooth[10*w*h:]...)
	_, frac, err := rule.Speckled(test, 10, w, h)
	if err != nil || frac > 0.2 {
		t.Fatalf("smooth images: fraction %g speckled (err %v)", frac, err)
	}
	for k := 0; k < 10; k++ {
		for j := 0; j < w*h/50; j++ {
			v := float32(1)
			if r.IntN(2) == 0 {
				v = -1
			}
			test[k*w*h+r.IntN(w*h)] = v
		}
	}
	flags, frac, _ := rule.Speckled(test, 10, w, h)
	if frac != 1 {
		t.Fatalf("salt and pepper: fraction %g speckled (%v), threshold %g", frac, flags, rule.Threshold)
	}
	if _, _, err := rule.Speckled(test[:5], 10, w, h); err == nil {
		t.Fatal("wrong length accepted")
	}
}

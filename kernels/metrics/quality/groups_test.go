package quality

import (
	"math"
	"math/rand/v2"
	"testing"
)

// smoothSet draws n w x w images of random smooth blobs plus mild noise.
func smoothSet(r *rand.Rand, n, w int) []float32 {
	pix := make([]float32, n*w*w)
	for i := 0; i < n; i++ {
		cx, cy, s := r.Float64()*float64(w), r.Float64()*float64(w), 4+8*r.Float64()
		for y := 0; y < w; y++ {
			for x := 0; x < w; x++ {
				d := (float64(x)-cx)*(float64(x)-cx) + (float64(y)-cy)*(float64(y)-cy)
				pix[i*w*w+y*w+x] = float32(-0.5 + 0.8*math.Exp(-d/(2*s*s)) + 0.02*r.NormFloat64())
			}
		}
	}
	return pix
}

// A constant brightness offset moves only the groups that see absolute
// intensity: the spectrum (mean removed), the edge histogram (differences) and
// the texture statistics (zero-mean filters) cannot change.
func TestGroupFDLocalisesAnOffset(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const n, w = 60, 16
	ref, err := NewReference(smoothSet(r, n, w), n, w, w)
	if err != nil {
		t.Fatal(err)
	}
	gen := smoothSet(r, n, w)
	base, err := ref.GroupFD(gen, n)
	if err != nil {
		t.Fatal(err)
	}
	shifted := append([]float32(nil), gen...)
	for i := range shifted {
		shifted[i] += 0.25
	}
	moved, err := ref.GroupFD(shifted, n)
	if err != nil {
		t.Fatal(err)
	}
	for i, g := range moved {
		if g.Group != FeatureGroupNames[i] {
			t.Fatalf("group %d is %q, want %q", i, g.Group, FeatureGroupNames[i])
		}
		switch g.Group {
		case "layout", "intensity":
			if g.FD < base[i].FD+1 {
				t.Errorf("%s: FD %.3f after a +0.25 offset, %.3f before: the offset should show", g.Group, g.FD, base[i].FD)
			}
		default:
			if math.Abs(g.FD-base[i].FD) > 1e-6*math.Max(1, base[i].FD) {
				t.Errorf("%s: FD %.6f after an offset, %.6f before: this group must not see brightness", g.Group, g.FD, base[i].FD)
			}
		}
	}
	if _, err := ref.GroupFD(gen[:10], n); err == nil {
		t.Error("a short pixel slice was accepted")
	}
}

func TestMeanSpectrumOfWhiteNoiseIsFlat(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const n, w = 40, 32
	for _, sd := range []float64{1, 0.1} {
		pix := make([]float32, n*w*w)
		for i := range pix {
			pix[i] = float32(sd * r.NormFloat64())
		}
		s, err := MeanSpectrum(pix, n, w, w)
		if err != nil {
			t.Fatal(err)
		}
		want := math.Log10(sd * sd)
		for b := 1; b < SpectrumBands; b++ {
			// mean of log10 of a band average of ~|band| exponential(1) powers: at 32x32 every
			// band beyond the first has >= 8 coefficients, so the log-mean bias is below 0.06
			if math.Abs(s[b]-want) > 0.08 {
				t.Errorf("sd %g band %d: %.3f, want %.3f (flat white spectrum)", sd, b, s[b], want)
			}
		}
	}
	if _, err := MeanSpectrum(make([]float32, 10), 1, 4, 4); err == nil {
		t.Error("wrong length accepted")
	}
}

// HighFrequencyEnergy of white noise and of a noised image match
// WhiteNoiseHF and MarginalHF (Monte Carlo).
func TestMarginalHFMatchesMonteCarlo(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const w = 32
	x0 := smoothSet(r, 1, w)
	dataHF := HighFrequencyEnergy(x0, w, w)
	for _, abar := range []float64{0, 0.3, 0.9, 0.999} {
		const reps = 200
		sum := 0.0
		xt := make([]float32, w*w)
		for k := 0; k < reps; k++ {
			for i := range xt {
				xt[i] = float32(math.Sqrt(abar)*float64(x0[i]) + math.Sqrt(1-abar)*r.NormFloat64())
			}
			sum += HighFrequencyEnergy(xt, w, w)
		}
		got, want := sum/reps, MarginalHF(abar, dataHF)
		// the energy of one 32x32 image averages 900 Laplacians (sd ~ 20*sqrt(2)*... per pixel):
		// relative sd of the mean over 200 images is below 1%
		if math.Abs(got-want) > 0.03*want {
			t.Errorf("abar %g: Monte Carlo %.5f, MarginalHF %.5f", abar, got, want)
		}
	}
}

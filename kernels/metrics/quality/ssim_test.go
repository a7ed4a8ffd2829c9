package quality

import (
	"math"
	"math/rand/v2"
	"testing"
)

// bruteSSIM evaluates eq. 13 of Wang et al. window by window with the 2-D
// weights written out (no separable filtering), as an independent reference.
func bruteSSIM(a, b []float64, w, h int, L float64) float64 {
	g := gaussianWindow(11, 1.5)
	c1, c2 := (0.01*L)*(0.01*L), (0.03*L)*(0.03*L)
	total, count := 0.0, 0
	for y0 := 0; y0+11 <= h; y0++ {
		for x0 := 0; x0+11 <= w; x0++ {
			var mx, my float64
			for i := 0; i < 11; i++ {
				for j := 0; j < 11; j++ {
					wt := g[i] * g[j]
					mx += wt * a[(y0+i)*w+x0+j]
					my += wt * b[(y0+i)*w+x0+j]
				}
			}
			var vx, vy, cxy float64
			for i := 0; i < 11; i++ {
				for j := 0; j < 11; j++ {
					wt := g[i] * g[j]
					dx, dy := a[(y0+i)*w+x0+j]-mx, b[(y0+i)*w+x0+j]-my
					vx += wt * dx * dx
					vy += wt * dy * dy
					cxy += wt * dx * dy
				}
			}
			total += (2*mx*my + c1) * (2*cxy + c2) / ((mx*mx + my*my + c1) * (vx + vy + c2))
			count++
		}
	}
	return total / float64(count)
}

func TestSSIM(t *testing.T) {
	const w, h = 23, 17
	rng := rand.New(rand.NewPCG(1, 2))
	a, b := make([]float64, w*h), make([]float64, w*h)
	for i := range a {
		a[i] = 255 * rng.Float64()
		b[i] = math.Min(255, math.Max(0, a[i]+40*rng.NormFloat64()))
	}
	s, err := SSIM(a, b, w, h, 255)
	if err != nil {
		t.Fatal(err)
	}
	if ref := bruteSSIM(a, b, w, h, 255); math.Abs(s-ref) > 1e-9 {
		t.Fatalf("SSIM %v, window-by-window %v", s, ref)
	}
	if !(s > 0 && s < 1) {
		t.Errorf("noisy copy: SSIM %v outside (0, 1)", s)
	}
	if ba, _ := SSIM(b, a, w, h, 255); math.Abs(ba-s) > 1e-12 {
		t.Errorf("not symmetric: %v vs %v", ba, s)
	}
	if one, _ := SSIM(a, a, w, h, 255); math.Abs(one-1) > 1e-12 {
		t.Errorf("SSIM(x, x) = %v", one)
	}
	// Two constant images: no structure, so SSIM is the luminance term (2ab + C1) / (a^2 + b^2 + C1).
	ca, cb := make([]float64, w*h), make([]float64, w*h)
	for i := range ca {
		ca[i], cb[i] = 100, 60
	}
	c1 := math.Pow(0.01*255, 2)
	if got, want := func() float64 { v, _ := SSIM(ca, cb, w, h, 255); return v }(), (2*100*60+c1)/(100*100+60*60+c1); math.Abs(got-want) > 1e-12 {
		t.Errorf("constant images: %v, want %v", got, want)
	}
	if _, err := SSIM(a[:10], b, w, h, 255); err == nil {
		t.Error("short image accepted")
	}
	if _, err := SSIM(a[:100], b[:100], 10, 10, 255); err == nil {
		t.Error("10x10 image (smaller than the window) accepted")
	}
}

package quality

import (
	"fmt"
	"math"
)

// SSIM is the mean structural similarity of two w x h grey images (Wang,
// Bovik, Sheikh and Simoncelli 2004, the index of their eq. 13 averaged over
// the image): local means, variances and covariance under an 11x11 Gaussian
// window (sigma 1.5, normalised), evaluated at every position where the window
// fits inside the image ("valid"), with C1 = (0.01 L)^2 and C2 = (0.03 L)^2
// for the data range L (255 for 8-bit pixels, 2 for [-1, 1]). The window is
// applied separably (rows, then columns).
func SSIM(a, b []float64, w, h int, dataRange float64) (float64, error) {
	const win = 11
	if len(a) != w*h || len(b) != w*h {
		return 0, fmt.Errorf("quality.SSIM: images of %d and %d pixels, want %dx%d", len(a), len(b), w, h)
	}
	if w < win || h < win || !(dataRange > 0) {
		return 0, fmt.Errorf("quality.SSIM: need images of at least %dx%d and a positive data range, got %dx%d, %g", win, win, w, h, dataRange)
	}
	g := gaussianWindow(win, 1.5)
	prod := func(x, y []float64) []float64 {
		p := make([]float64, len(x))
		for i := range x {
			p[i] = x[i] * y[i]
		}
		return p
	}
	mx, my := filterValid(a, w, h, g), filterValid(b, w, h, g)
	sxx, syy, sxy := filterValid(prod(a, a), w, h, g), filterValid(prod(b, b), w, h, g), filterValid(prod(a, b), w, h, g)
	c1, c2 := math.Pow(0.01*dataRange, 2), math.Pow(0.03*dataRange, 2)
	s := 0.0
	for i := range mx {
		vx, vy, cxy := sxx[i]-mx[i]*mx[i], syy[i]-my[i]*my[i], sxy[i]-mx[i]*my[i]
		s += (2*mx[i]*my[i] + c1) * (2*cxy + c2) / ((mx[i]*mx[i] + my[i]*my[i] + c1) * (vx + vy + c2))
	}
	return s / float64(len(mx)), nil
}

// gaussianWindow is a normalised 1-D Gaussian of n taps.
func gaussianWindow(n int, sigma float64) []float64 {
	g := make([]float64, n)
	sum := 0.0
	for i := range g {
		d := float64(i - n/2)
		g[i] = math.Exp(-d * d / (2 * sigma * sigma))
		sum += g[i]
	}
	for i := range g {
		g[i] /= sum
	}
	return g
}

// filterValid convolves x (w x h) with the separable window g x g where it
// fits: (w-n+1) x (h-n+1) outputs.
func filterValid(x []float64, w, h int, g []float64) []float64 {
	n := len(g)
	ow, oh := w-n+1, h-n+1
	rows := make([]float64, ow*h)
	for y := 0; y < h; y++ {
		for ox := 0; ox < ow; ox++ {
			s := 0.0
			for k := 0; k < n; k++ {
				s += g[k] * x[y*w+ox+k]
			}
			rows[y*ow+ox] = s
		}
	}
	out := make([]float64, ow*oh)
	for oy := 0; oy < oh; oy++ {
		for ox := 0; ox < ow; ox++ {
			s := 0.0
			for k := 0; k < n; k++ {
				s += g[k] * rows[(oy+k)*ow+ox]
			}
			out[oy*ow+ox] = s
		}
	}
	return out
}

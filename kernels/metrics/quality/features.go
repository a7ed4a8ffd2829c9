// Package quality measures how close generated images are to real ones, for
// unconditional synthesis (thesis chapter 2, Figure 10), with distances that
// need no pretrained network.
//
// Feature extractor ("dmseg-feat-v1", 176 numbers per grayscale image with
// pixel values in [-1, 1]; every choice is fixed and documented here):
//
//   - layout (64): the image area-averaged to 8x8 (where lungs, heart, trunk are);
//   - intensity histogram (16): fraction of pixels in 16 equal bins over [-1, 1];
//   - edge histogram (16): fraction of pixels whose central-difference gradient
//     magnitude falls in 16 bins over [0, 1] (last bin open);
//   - spectrum (16): log10 of the radially averaged power spectrum of the
//     mean-removed image in 16 radial bands from DC to Nyquist;
//   - random convolutions (64): 32 fixed 5x5 filters (zero mean, unit L2 norm,
//     drawn from a PCG seeded with 2024), ReLU, then the spatial mean and
//     standard deviation of each response map (texture statistics).
//
// Distances between two image sets use these features centred on the
// reference set's mean and scaled per feature group (see Standardizer):
//   - FD ("Fréchet distance", FID-style): ||mu_a - mu_b||^2 +
//     Tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2), Gaussians fitted to the features;
//   - KID-style: unbiased MMD^2 with the cubic polynomial kernel
//     k(x, y) = (x.y/d + 1)^3, averaged over random subsets;
//
// and pixel statistics: the Wasserstein-1 distance between the pixel
// intensity distributions, the RMS difference of the mean images and of the
// per-pixel standard-deviation images, and mean/std of all pixels.
package quality

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// FeatureVersion names the extractor; change it whenever features change.
const FeatureVersion = "dmseg-feat-v1"

// FeatureDim is the length of a feature vector.
const FeatureDim = 64 + 16 + 16 + 16 + 64

const (
	nFilters = 32
	fSize    = 5
)

var filters = makeFilters()

func makeFilters() [][]float64 {
	r := rand.New(rand.NewPCG(2024, 0))
	fs := make([][]float64, nFilters)
	for i := range fs {
		f := make([]float64, fSize*fSize)
		m := 0.0
		for j := range f {
			f[j] = r.NormFloat64()
			m += f[j]
		}
		m /= float64(len(f))
		n := 0.0
		for j := range f {
			f[j] -= m
			n += f[j] * f[j]
		}
		n = math.Sqrt(n)
		for j := range f {
			f[j] /= n
		}
		fs[i] = f
	}
	return fs
}

// Features computes the feature vector of one w x h image (row-major, values in [-1, 1]).
// w and h must be multiples of 8.
func Features(pix []float32, w, h int) ([]float64, error) {
	if w < 8 || h < 8 || w%8 != 0 || h%8 != 0 || len(pix) != w*h {
		return nil, fmt.Errorf("quality: want a w x h image with w, h multiples of 8, got %dx%d with %d pixels", w, h, len(pix))
	}
	x := make([]float64, len(pix))
	for i, v := range pix {
		x[i] = float64(v)
	}
	f := make([]float64, 0, FeatureDim)
	// layout 8x8
	bw, bh := w/8, h/8
	for by := 0; by < 8; by++ {
		for bx := 0; bx < 8; bx++ {
			s := 0.0
			for y := by * bh; y < (by+1)*bh; y++ {
				for xx := bx * bw; xx < (bx+1)*bw; xx++ {
					s += x[y*w+xx]
				}
			}
			f = append(f, s/float64(bw*bh))
		}
	}
	// intensity histogram
	hist := make([]float64, 16)
	for _, v := range x {
		b := int((v + 1) / 2 * 16)
		hist[min(max(b, 0), 15)]++
	}
	for i := range hist {
		hist[i] /= float64(len(x))
	}
	f = append(f, hist...)
	// edge histogram
	eh := make([]float64, 16)
	for y := 0; y < h; y++ {
		for xx := 0; xx < w; xx++ {
			gx := (x[y*w+min(xx+1, w-1)] - x[y*w+max(xx-1, 0)]) / 2
			gy := (x[min(y+1, h-1)*w+xx] - x[max(y-1, 0)*w+xx]) / 2
			b := int(math.Hypot(gx, gy) * 16)
			eh[min(max(b, 0), 15)]++
		}
	}
	for i := range eh {
		eh[i] /= float64(len(x))
	}
	f = append(f, eh...)
	f = append(f, radialSpectrum(x, w, h, 16)...)
	f = append(f, randomConv(x, w, h)...)
	return f, nil
}

// radialSpectrum: log10 mean power per radial band of the 2-D DFT of the mean-removed image.
func radialSpectrum(x []float64, w, h, bands int) []float64 {
	mean := 0.0
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	// Row DFTs then column DFTs (separable, direct O(n^3): fine at 64x64).
	re := make([]float64, w*h)
	im := make([]float64, w*h)
	cw, sw := trig(w)
	for y := 0; y < h; y++ {
		for k := 0; k < w; k++ {
			var sr, si float64
			for n := 0; n < w; n++ {
				v := x[y*w+n] - mean
				idx := (k * n) % w
				sr += v * cw[idx]
				si -= v * sw[idx]
			}
			re[y*w+k], im[y*w+k] = sr, si
		}
	}
	ch, sh := trig(h)
	pow := make([]float64, bands)
	cnt := make([]float64, bands)
	col := make([]float64, 2*h)
	for k := 0; k < w; k++ {
		for y := 0; y < h; y++ {
			col[2*y], col[2*y+1] = re[y*w+k], im[y*w+k]
		}
		for l := 0; l < h; l++ {
			var sr, si float64
			for n := 0; n < h; n++ {
				idx := (l * n) % h
				a, b := col[2*n], col[2*n+1]
				// (a + ib)(cos - i sin)
				sr += a*ch[idx] + b*sh[idx]
				si += b*ch[idx] - a*sh[idx]
			}
			fx := float64(min(k, w-k)) / float64(w/2)
			fy := float64(min(l, h-l)) / float64(h/2)
			r := math.Hypot(fx, fy) / math.Sqrt2 // 0..1
			bnd := min(int(r*float64(bands)), bands-1)
			pow[bnd] += (sr*sr + si*si) / float64(w*h)
			cnt[bnd]++
		}
	}
	out := make([]float64, bands)
	for i := range out {
		out[i] = math.Log10(pow[i]/math.Max(cnt[i], 1) + 1e-8)
	}
	return out
}

func trig(n int) (c, s []float64) {
	c, s = make([]float64, n), make([]float64, n)
	for i := range c {
		a := 2 * math.Pi * float64(i) / float64(n)
		c[i], s[i] = math.Cos(a), math.Sin(a)
	}
	return
}

// randomConv: valid 5x5 correlations with the fixed filters, ReLU, mean and std per filter.
func randomConv(x []float64, w, h int) []float64 {
	out := make([]float64, 0, 2*nFilters)
	ow, oh := w-fSize+1, h-fSize+1
	for _, f := range filters {
		var s, s2 float64
		for y := 0; y < oh; y++ {
			for xx := 0; xx < ow; xx++ {
				v := 0.0
				for dy := 0; dy < fSize; dy++ {
					row := x[(y+dy)*w+xx : (y+dy)*w+xx+fSize]
					fr := f[dy*fSize : (dy+1)*fSize]
					for dx := range fSize {
						v += row[dx] * fr[dx]
					}
				}
				if v < 0 {
					v = 0
				}
				s += v
				s2 += v * v
			}
		}
		n := float64(ow * oh)
		m := s / n
		out = append(out, m, math.Sqrt(math.Max(s2/n-m*m, 0)))
	}
	return out
}

// FeatureSet computes features for n images stored contiguously (n*w*h values).
func FeatureSet(pix []float32, n, w, h int) ([][]float64, error) {
	if len(pix) != n*w*h {
		return nil, fmt.Errorf("quality: %d values for %d images of %dx%d", len(pix), n, w, h)
	}
	out := make([][]float64, n)
	for i := range out {
		f, err := Features(pix[i*w*h:(i+1)*w*h], w, h)
		if err != nil {
			return nil, err
		}
		out[i] = f
	}
	return out, nil
}

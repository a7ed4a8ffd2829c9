package synthesis

import (
	"fmt"
	"math"

	"github.com/dmseg/dmseg/kernels/data/dataset"
)

// Figure10 renders generated images as the thesis's Figure 10 grid.
func Figure10(samples []float32, n, size, cols int, sampler string, steps int, stamp string) ([]byte, error) {
	imgs, err := ToGray(samples, n, size, size)
	if err != nil {
		return nil, err
	}
	grid, err := Grid(imgs, cols, 2, 2)
	if err != nil {
		return nil, err
	}
	title := fmt.Sprintf("Figure 10: synthetic chest X-rays from the DDPM (%s, %d steps)", sampler, steps)
	return Labeled(grid, title, nil, nil, stamp, 7)
}

// DenoiseRow is one row of Figure 12.
type DenoiseRow struct {
	T          int       // 0-based timestep
	Xt         []float32 // q_sample(x0, t, eps)
	XPrev      []float32 // one ancestral step x_{t-1} from x_t
	X0Hat      []float32 // the U-Net's one-pass estimate of x0
	PSNRNoised float64   // of x_t against x0 (dB, peak-to-peak 2)
	PSNRX0Hat  float64   // of x0_hat against x0
}

// PSNR in dB for images in [-1, 1] (peak-to-peak 2), after clipping a to [-1, 1].
func PSNR(a, ref []float32) float64 {
	m := 0.0
	for i := range a {
		v := math.Max(-1, math.Min(1, float64(a[i])))
		d := v - float64(ref[i])
		m += d * d
	}
	m /= float64(len(a))
	return 10 * math.Log10(4/math.Max(m, 1e-12))
}

// Figure12 renders the rows of DenoisePass: x0 | x_t | x_{t-1} | x0_hat.
func Figure12(x0 []float32, rows []DenoiseRow, size int, stamp string) ([]byte, error) {
	var all []float32
	var rowLabels []string
	for _, r := range rows {
		all = append(all, x0...)
		all = append(all, r.Xt...)
		all = append(all, r.XPrev...)
		all = append(all, r.X0Hat...)
		rowLabels = append(rowLabels, fmt.Sprintf("t=%d\n%.1f / %.1f dB", r.T+1, r.PSNRNoised, r.PSNRX0Hat))
	}
	imgs, err := ToGray(all, 4*len(rows), size, size)
	if err != nil {
		return nil, err
	}
	grid, err := Grid(imgs, 4, 3, 3)
	if err != nil {
		return nil, err
	}
	cols := []string{"original x0 (held out)", "noised x_t", "one ancestral step x_(t-1)", "one U-Net pass: x0 estimate"}
	title := "Figure 12: an image, its noised version and one pass through the U-Net\n(row labels: thesis t, PSNR of x_t / of the x0 estimate)"
	return Labeled(grid, title, cols, rowLabels, stamp, 8)
}

// CalibrationSets returns the calibration image sets of the chapter-2 quality
// table, m images each (n*H*W values in [-1, 1]): real images of another
// split (the floor a perfect model reaches), the same box-blurred 5x5 (a mild
// degradation), and N(0, 0.5^2) noise clipped to [-1, 1] (a bad reference).
func CalibrationSets(other *dataset.Set, m int, seed uint64) (real, blurred, noise []float32) {
	m = min(m, other.N)
	sz := other.H
	real = setPixels(other)[:m*sz*sz]
	noise = make([]float32, m*sz*sz)
	r := newRand(seed)
	for i := range noise {
		noise[i] = float32(math.Max(-1, math.Min(1, 0.5*r.NormFloat64())))
	}
	return real, boxBlur(real, m, sz, 2), noise
}

// SetPixels returns every image of a set, concatenated (N*H*W values in [-1, 1]).
func SetPixels(s *dataset.Set) []float32 { return setPixels(s) }

func setPixels(s *dataset.Set) []float32 {
	out := make([]float32, 0, s.N*s.H*s.W)
	for i := 0; i < s.N; i++ {
		out = append(out, s.Image(i)...)
	}
	return out
}

func boxBlur(pix []float32, n, sz, r int) []float32 {
	out := make([]float32, len(pix))
	for k := 0; k < n; k++ {
		for y := 0; y < sz; y++ {
			for x := 0; x < sz; x++ {
				var s, c float32
				for dy := -r; dy <= r; dy++ {
					for dx := -r; dx <= r; dx++ {
						yy, xx := y+dy, x+dx
						if yy >= 0 && yy < sz && xx >= 0 && xx < sz {
							s += pix[k*sz*sz+yy*sz+xx]
							c++
						}
					}
				}
				out[k*sz*sz+y*sz+x] = s / c
			}
		}
	}
	return out
}

package quality

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/dmseg/dmseg/kernels/linalg"
)

// Standardizer maps features to a common scale using a reference set: each
// feature has the reference mean subtracted and is divided by its group's
// scale, the root mean variance of the features of that group (layout,
// intensity histogram, edge histogram, spectrum, random convolutions). Scaling
// per group rather than per feature keeps features that are (nearly) constant
// in the reference, such as empty histogram bins, from dominating.
type Standardizer struct{ Mean, Std []float64 }

// featureGroups are the [start, end) ranges of the feature groups.
var featureGroups = [][2]int{{0, 64}, {64, 80}, {80, 96}, {96, 112}, {112, 176}}

// NewStandardizer fits the reference statistics. Features of vectors that
// are not FeatureDim long form one group.
func NewStandardizer(ref [][]float64) Standardizer {
	d := len(ref[0])
	mu, vr := make([]float64, d), make([]float64, d)
	for _, f := range ref {
		for j, v := range f {
			mu[j] += v
		}
	}
	for j := range mu {
		mu[j] /= float64(len(ref))
	}
	for _, f := range ref {
		for j, v := range f {
			vr[j] += (v - mu[j]) * (v - mu[j])
		}
	}
	for j := range vr {
		vr[j] /= float64(max(len(ref)-1, 1))
	}
	groups := featureGroups
	if d != FeatureDim {
		groups = [][2]int{{0, d}}
	}
	sd := make([]float64, d)
	for _, g := range groups {
		m := 0.0
		for j := g[0]; j < g[1]; j++ {
			m += vr[j]
		}
		sc := math.Max(math.Sqrt(m/float64(g[1]-g[0])), 1e-8)
		for j := g[0]; j < g[1]; j++ {
			sd[j] = sc
		}
	}
	return Standardizer{mu, sd}
}

// Apply returns standardised copies.
func (s Standardizer) Apply(fs [][]float64) [][]float64 {
	out := make([][]float64, len(fs))
	for i, f := range fs {
		g := make([]float64, len(f))
		for j, v := range f {
			g[j] = (v - s.Mean[j]) / s.Std[j]
		}
		out[i] = g
	}
	return out
}

// MeanCov returns the sample mean and the unbiased sample covariance (d x d, row-major).
func MeanCov(fs [][]float64) (mu []float64, cov []float64) {
	n, d := len(fs), len(fs[0])
	mu = make([]float64, d)
	for _, f := range fs {
		for j, v := range f {
			mu[j] += v
		}
	}
	for j := range mu {
		mu[j] /= float64(n)
	}
	cov = make([]float64, d*d)
	c := make([]float64, d)
	for _, f := range fs {
		for j := range c {
			c[j] = f[j] - mu[j]
		}
		for a := 0; a < d; a++ {
			ca := c[a]
			row := cov[a*d : (a+1)*d]
			for b := a; b < d; b++ {
				row[b] += ca * c[b]
			}
		}
	}
	for a := 0; a < d; a++ {
		for b := a; b < d; b++ {
			v := cov[a*d+b] / float64(max(n-1, 1))
			cov[a*d+b], cov[b*d+a] = v, v
		}
	}
	return mu, cov
}

// sqrtPSD returns the symmetric square root of a PSD matrix (negative eigenvalues clamped to 0).
func sqrtPSD(a []float64, d int) ([]float64, error) {
	vals, v, err := linalg.SymEigen(a, d)
	if err != nil {
		return nil, err
	}
	out := make([]float64, d*d)
	for k := 0; k < d; k++ {
		s := math.Sqrt(math.Max(vals[k], 0))
		if s == 0 {
			continue
		}
		for i := 0; i < d; i++ {
			vi := v[i*d+k] * s
			for j := 0; j < d; j++ {
				out[i*d+j] += vi * v[j*d+k]
			}
		}
	}
	return out, nil
}

func matMul(a, b []float64, d int) []float64 {
	out := make([]float64, d*d)
	for i := 0; i < d; i++ {
		for k := 0; k < d; k++ {
			aik := a[i*d+k]
			if aik == 0 {
				continue
			}
			for j := 0; j < d; j++ {
				out[i*d+j] += aik * b[k*d+j]
			}
		}
	}
	return out
}

// FrechetFromStats is ||mu1-mu2||^2 + Tr(S1) + Tr(S2) - 2 Tr((S1^1/2 S2 S1^1/2)^1/2).
// It is NaN when the statistics are not finite or an eigendecomposition fails.
func FrechetFromStats(mu1, s1, mu2, s2 []float64) float64 {
	d := len(mu1)
	r, err := sqrtPSD(s1, d)
	if err != nil {
		return math.NaN()
	}
	m := matMul(matMul(r, s2, d), r, d)
	for i := 0; i < d; i++ { // symmetrise against rounding
		for j := i + 1; j < d; j++ {
			v := (m[i*d+j] + m[j*d+i]) / 2
			m[i*d+j], m[j*d+i] = v, v
		}
	}
	vals, _, err := linalg.SymEigen(m, d)
	if err != nil {
		return math.NaN()
	}
	tr := 0.0
	for _, v := range vals {
		tr += math.Sqrt(math.Max(v, 0))
	}
	dist := 0.0
	for i := range mu1 {
		dist += (mu1[i] - mu2[i]) * (mu1[i] - mu2[i])
		dist += s1[i*d+i] + s2[i*d+i]
	}
	return dist - 2*tr
}

// Frechet fits Gaussians to two feature sets and returns their Fréchet distance.
func Frechet(a, b [][]float64) (float64, error) {
	if len(a) < 2 || len(b) < 2 {
		return 0, errors.New("quality: Fréchet distance needs at least 2 samples per set")
	}
	m1, s1 := MeanCov(a)
	m2, s2 := MeanCov(b)
	return FrechetFromStats(m1, s1, m2, s2), nil
}

func polyKernel(x, y []float64) float64 {
	s := 0.0
	for i := range x {
		s += x[i] * y[i]
	}
	v := s/float64(len(x)) + 1
	return v * v * v
}

// MMD2Unbiased is the unbiased estimate of MMD^2 with the cubic polynomial kernel.
func MMD2Unbiased(x, y [][]float64) float64 {
	m, n := len(x), len(y)
	var kxx, kyy, kxy float64
	for i := 0; i < m; i++ {
		for j := 0; j < m; j++ {
			if i != j {
				kxx += polyKernel(x[i], x[j])
			}
		}
	}
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			if i != j {
				kyy += polyKernel(y[i], y[j])
			}
		}
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			kxy += polyKernel(x[i], y[j])
		}
	}
	return kxx/float64(m*(m-1)) + kyy/float64(n*(n-1)) - 2*kxy/float64(m*n)
}

// KID averages MMD2Unbiased over `subsets` random subsets of size `size` of
// each set (drawn with a PCG seeded with seed) and returns mean and standard deviation.
func KID(a, b [][]float64, subsets, size int, seed uint64) (mean, std float64, err error) {
	size = min(size, len(a), len(b))
	if size < 2 || subsets < 1 {
		return 0, 0, fmt.Errorf("quality: KID needs subsets >= 1 and >= 2 samples per set (got %d, %d, %d)", subsets, len(a), len(b))
	}
	r := rand.New(rand.NewPCG(seed, 77))
	vals := make([]float64, subsets)
	for s := range vals {
		pa, pb := r.Perm(len(a))[:size], r.Perm(len(b))[:size]
		xa, xb := make([][]float64, size), make([][]float64, size)
		for i := range pa {
			xa[i], xb[i] = a[pa[i]], b[pb[i]]
		}
		vals[s] = MMD2Unbiased(xa, xb)
	}
	for _, v := range vals {
		mean += v
	}
	mean /= float64(subsets)
	for _, v := range vals {
		std += (v - mean) * (v - mean)
	}
	if subsets > 1 {
		std = math.Sqrt(std / float64(subsets-1))
	}
	return mean, std, nil
}

// PixelStats compares pixel statistics of two image sets (n*w*h values each).
type PixelStats struct {
	W1Intensity float64 `json:"w1_intensity"`    // Wasserstein-1 between all-pixel intensity distributions
	MeanImgRMSE float64 `json:"mean_image_rmse"` // RMS difference of the per-pixel mean images
	StdImgRMSE  float64 `json:"std_image_rmse"`  // RMS difference of the per-pixel std images
	MeanA       float64 `json:"mean_a"`
	MeanB       float64 `json:"mean_b"`
	StdA        float64 `json:"std_a"`
	StdB        float64 `json:"std_b"`
}

// ComparePixels computes PixelStats for sets a (na images) and b (nb images) of w*h pixels.
func ComparePixels(a []float32, na int, b []float32, nb int, wh int) (PixelStats, error) {
	if len(a) != na*wh || len(b) != nb*wh || na < 2 || nb < 2 {
		return PixelStats{}, fmt.Errorf("quality: pixel sets of %d and %d values for %d and %d images of %d pixels", len(a), len(b), na, nb, wh)
	}
	var ps PixelStats
	ps.W1Intensity = wasserstein1(a, b)
	ma, sa := pixelMoments(a, na, wh)
	mb, sb := pixelMoments(b, nb, wh)
	for i := 0; i < wh; i++ {
		ps.MeanImgRMSE += (ma[i] - mb[i]) * (ma[i] - mb[i])
		ps.StdImgRMSE += (sa[i] - sb[i]) * (sa[i] - sb[i])
	}
	ps.MeanImgRMSE = math.Sqrt(ps.MeanImgRMSE / float64(wh))
	ps.StdImgRMSE = math.Sqrt(ps.StdImgRMSE / float64(wh))
	ps.MeanA, ps.StdA = allMoments(a)
	ps.MeanB, ps.StdB = allMoments(b)
	return ps, nil
}

func allMoments(a []float32) (m, s float64) {
	for _, v := range a {
		m += float64(v)
	}
	m /= float64(len(a))
	for _, v := range a {
		s += (float64(v) - m) * (float64(v) - m)
	}
	return m, math.Sqrt(s / float64(len(a)))
}

func pixelMoments(a []float32, n, wh int) (mean, std []float64) {
	mean, std = make([]float64, wh), make([]float64, wh)
	for k := 0; k < n; k++ {
		for i := 0; i < wh; i++ {
			mean[i] += float64(a[k*wh+i])
		}
	}
	for i := range mean {
		mean[i] /= float64(n)
	}
	for k := 0; k < n; k++ {
		for i := 0; i < wh; i++ {
			d := float64(a[k*wh+i]) - mean[i]
			std[i] += d * d
		}
	}
	for i := range std {
		std[i] = math.Sqrt(std[i] / float64(n-1))
	}
	return
}

// wasserstein1 between two empirical distributions = integral |F_a - F_b|.
func wasserstein1(a, b []float32) float64 {
	x := append([]float32(nil), a...)
	y := append([]float32(nil), b...)
	sort.Slice(x, func(i, j int) bool { return x[i] < x[j] })
	sort.Slice(y, func(i, j int) bool { return y[i] < y[j] })
	// Merge walk over the union of support points.
	i, j := 0, 0
	na, nb := float64(len(x)), float64(len(y))
	prev := math.Min(float64(x[0]), float64(y[0]))
	w := 0.0
	for i < len(x) || j < len(y) {
		var next float64
		if j >= len(y) || (i < len(x) && x[i] <= y[j]) {
			next = float64(x[i])
		} else {
			next = float64(y[j])
		}
		w += math.Abs(float64(i)/na-float64(j)/nb) * (next - prev)
		prev = next
		for i < len(x) && float64(x[i]) == next {
			i++
		}
		for j < len(y) && float64(y[j]) == next {
			j++
		}
	}
	return w
}

package quality

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dmseg/dmseg/kernels/linalg"
)

func TestFrechetClosedForms(t *testing.T) {
	// Commuting (diagonal) covariances: FD = |dmu|^2 + sum (sqrt(a_i) - sqrt(b_i))^2.
	mu1, mu2 := []float64{0, 1, 2}, []float64{1, 1, 0}
	s1 := []float64{4, 0, 0, 0, 1, 0, 0, 0, 9}
	s2 := []float64{1, 0, 0, 0, 1, 0, 0, 0, 4}
	want := 1.0 + 0 + 4 + (2-1)*(2-1) + 0 + (3-2)*(3-2)
	if got := FrechetFromStats(mu1, s1, mu2, s2); math.Abs(got-want) > 1e-10 {
		t.Errorf("diagonal case: %v want %v", got, want)
	}
	// Non-commuting 2x2: S1 = diag(1, 0) is a projection, S2 = [[2,1],[1,2]].
	// S1^1/2 S2 S1^1/2 = diag(2, 0), so Tr(sqrt) = sqrt(2); FD = Tr S1 + Tr S2 - 2 sqrt(2) = 5 - 2 sqrt 2.
	got := FrechetFromStats([]float64{0, 0}, []float64{1, 0, 0, 0}, []float64{0, 0}, []float64{2, 1, 1, 2})
	if want := 5 - 2*math.Sqrt2; math.Abs(got-want) > 1e-10 {
		t.Errorf("non-commuting case: %v want %v", got, want)
	}
	// Symmetry on a random pair of full covariances.
	r := rand.New(rand.NewPCG(1, 2))
	randCov := func(d int) []float64 {
		a := make([]float64, d*d)
		for i := range a {
			a[i] = r.NormFloat64()
		}
		return matMul(a, transpose(a, d), d)
	}
	c1, c2 := randCov(5), randCov(5)
	z := make([]float64, 5)
	if a, b := FrechetFromStats(z, c1, z, c2), FrechetFromStats(z, c2, z, c1); math.Abs(a-b) > 1e-8*math.Max(1, a) {
		t.Errorf("not symmetric: %v vs %v", a, b)
	}
	if v := FrechetFromStats(z, c1, z, c1); math.Abs(v) > 1e-8 {
		t.Errorf("FD(S,S) = %v", v)
	}
}

func transpose(a []float64, d int) []float64 {
	out := make([]float64, d*d)
	for i := 0; i < d; i++ {
		for j := 0; j < d; j++ {
			out[j*d+i] = a[i*d+j]
		}
	}
	return out
}

func TestSymEigenReconstructs(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	d := 6
	a := make([]float64, d*d)
	for i := range a {
		a[i] = r.NormFloat64()
	}
	s := matMul(a, transpose(a, d), d)
	vals, v, err := linalg.SymEigen(s, d)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < d; i++ {
		for j := 0; j < d; j++ {
			x := 0.0
			for k := 0; k < d; k++ {
				x += v[i*d+k] * vals[k] * v[j*d+k]
			}
			if math.Abs(x-s[i*d+j]) > 1e-9 {
				t.Fatalf("V diag V^T differs at %d,%d: %v vs %v", i, j, x, s[i*d+j])
			}
		}
	}
}

func TestMMDUnbiasedMatchesBruteForceAndIsNearZeroForSameLaw(t *testing.T) {
	x := [][]float64{{0, 1}, {1, 0}, {2, 2}}
	y := [][]float64{{1, 1}, {0, 0}}
	// Brute force with the kernel written out.
	k := func(a, b []float64) float64 { v := (a[0]*b[0]+a[1]*b[1])/2 + 1; return v * v * v }
	var xx, yy, xy float64
	for i := range x {
		for j := range x {
			if i != j {
				xx += k(x[i], x[j])
			}
		}
	}
	yy = 2 * k(y[0], y[1])
	for i := range x {
		for j := range y {
			xy += k(x[i], y[j])
		}
	}
	want := xx/6 + yy/2 - 2*xy/6
	if got := MMD2Unbiased(x, y); math.Abs(got-want) > 1e-12 {
		t.Errorf("MMD2 %v want %v", got, want)
	}
	r := rand.New(rand.NewPCG(5, 6))
	draw := func(n int, shift float64) [][]float64 {
		out := make([][]float64, n)
		for i := range out {
			out[i] = []float64{r.NormFloat64() + shift, r.NormFloat64(), r.NormFloat64()}
		}
		return out
	}
	same, _, _ := KID(draw(300, 0), draw(300, 0), 10, 100, 1)
	diff, _, _ := KID(draw(300, 0), draw(300, 1), 10, 100, 1)
	if math.Abs(same) > 0.05 || diff < 0.2 {
		t.Errorf("KID same law %v (want ~0), shifted %v (want clearly > 0)", same, diff)
	}
}

func TestWassersteinAndPixelStats(t *testing.T) {
	// W1 between point masses at 0 and at 0.5 is 0.5; between {0,1} and {0.5,0.5} is 0.5.
	if w := wasserstein1([]float32{0, 0}, []float32{0.5, 0.5}); math.Abs(w-0.5) > 1e-12 {
		t.Errorf("W1 point masses %v", w)
	}
	if w := wasserstein1([]float32{0, 1}, []float32{0.5, 0.5}); math.Abs(w-0.5) > 1e-12 {
		t.Errorf("W1 %v", w)
	}
	// Uniform {0, .25, .5, .75} vs shifted by 0.1: W1 = 0.1.
	if w := wasserstein1([]float32{0, .25, .5, .75}, []float32{.1, .35, .6, .85}); math.Abs(w-0.1) > 1e-6 {
		t.Errorf("W1 shift %v", w)
	}
	a := []float32{0, 0, 1, 1} // two 2-pixel images: [0,0], [1,1]
	b := []float32{0.5, 0.5, 0.5, 0.5}
	ps, err := ComparePixels(a, 2, b, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	// mean images equal (0.5); std images: sqrt(0.5) vs 0.
	if ps.MeanImgRMSE > 1e-12 || math.Abs(ps.StdImgRMSE-math.Sqrt(0.5)) > 1e-12 {
		t.Errorf("pixel stats %+v", ps)
	}
}

// Sets degraded by more and more added noise must be further and further from
// the reference, and blurred images further than fresh real ones; otherwise
// the features do not see image quality.
func TestFeaturesRankDegradations(t *testing.T) {
	const w = 32
	r := rand.New(rand.NewPCG(9, 9))
	img := func() []float32 {
		// a random "body": two dark ellipses (lungs) in a bright disc, plus fine texture.
		p := make([]float32, w*w)
		cx1, cx2, cy := 9+r.Float64()*3, 20+r.Float64()*3, 13+r.Float64()*4
		rad := 12 + r.Float64()*3
		for y := 0; y < w; y++ {
			for x := 0; x < w; x++ {
				v := -0.8
				if math.Hypot(float64(x)-16, float64(y)-16) < rad {
					v = 0.6
				}
				if math.Hypot((float64(x)-cx1)/4, (float64(y)-cy)/8) < 1 || math.Hypot((float64(x)-cx2)/4, (float64(y)-cy)/8) < 1 {
					v = -0.3
				}
				p[y*w+x] = float32(v + 0.05*r.NormFloat64())
			}
		}
		return p
	}
	set := func(n int, f func([]float32) []float32) []float32 {
		var out []float32
		for i := 0; i < n; i++ {
			out = append(out, f(img())...)
		}
		return out
	}
	addNoise := func(s float64) func([]float32) []float32 {
		return func(p []float32) []float32 {
			for i := range p {
				p[i] += float32(r.NormFloat64() * s)
			}
			return p
		}
	}
	blur := func(p []float32) []float32 {
		q := make([]float32, len(p))
		for y := 0; y < w; y++ {
			for x := 0; x < w; x++ {
				s, c := float32(0), float32(0)
				for dy := -1; dy <= 1; dy++ {
					for dx := -1; dx <= 1; dx++ {
						yy, xx := y+dy, x+dx
						if yy >= 0 && yy < w && xx >= 0 && xx < w {
							s += p[yy*w+xx]
							c++
						}
					}
				}
				q[y*w+x] = s / c
			}
		}
		return q
	}
	ref, err := NewReference(set(150, addNoise(0)), 150, w, w)
	if err != nil {
		t.Fatal(err)
	}
	var fd, kid []float64
	for _, s := range []float64{0, 0.05, 0.15, 0.4} {
		rep, err := ref.Compare("noise", set(150, addNoise(s)), 150)
		if err != nil {
			t.Fatal(err)
		}
		fd, kid = append(fd, rep.FD), append(kid, rep.KID)
	}
	for i := 1; i < len(fd); i++ {
		if !(fd[i] > fd[i-1]) || !(kid[i] > kid[i-1]) {
			t.Errorf("not monotone in added noise: FD %v, KID %v", fd, kid)
			break
		}
	}
	b, _ := ref.Compare("blur", set(150, blur), 150)
	if !(b.FD > 2*fd[0]) || !(b.KID > kid[0]) {
		t.Errorf("blurred (FD %v, KID %v) not further than fresh real images (FD %v, KID %v)", b.FD, b.KID, fd[0], kid[0])
	}
}

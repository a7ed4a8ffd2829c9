package linalg

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

// On random symmetric (indefinite) matrices every returned pair satisfies A v = lambda v,
// the eigenvectors are orthonormal, the values ascend, and the input is left unchanged.
func TestSymEigenEigenpairsAndOrthonormality(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, d := range []int{1, 2, 7, 24} {
		a := make([]float64, d*d)
		for i := 0; i < d; i++ {
			for j := i; j < d; j++ {
				x := r.NormFloat64()
				a[i*d+j], a[j*d+i] = x, x
			}
		}
		orig := append([]float64(nil), a...)
		vals, vecs, err := SymEigen(a, d)
		if err != nil {
			t.Fatalf("d=%d: %v", d, err)
		}
		if len(vals) != d || len(vecs) != d*d {
			t.Fatalf("d=%d: got %d values and %d vector entries", d, len(vals), len(vecs))
		}
		if !sort.Float64sAreSorted(vals) {
			t.Errorf("d=%d: eigenvalues not ascending: %v", d, vals)
		}
		for i := range a {
			if a[i] != orig[i] {
				t.Fatalf("d=%d: input modified at %d", d, i)
			}
		}
		scale := 0.0
		for _, l := range vals {
			scale = math.Max(scale, math.Abs(l))
		}
		for k := 0; k < d; k++ { // A v_k = lambda_k v_k
			for i := 0; i < d; i++ {
				av := 0.0
				for j := 0; j < d; j++ {
					av += a[i*d+j] * vecs[j*d+k]
				}
				if diff := math.Abs(av - vals[k]*vecs[i*d+k]); diff > 1e-12*(1+scale)*float64(d) {
					t.Fatalf("d=%d: (A v_%d)[%d] = %v, lambda v = %v", d, k, i, av, vals[k]*vecs[i*d+k])
				}
			}
		}
		for k := 0; k < d; k++ { // V^T V = I
			for l := 0; l < d; l++ {
				dot := 0.0
				for i := 0; i < d; i++ {
					dot += vecs[i*d+k] * vecs[i*d+l]
				}
				want := 0.0
				if k == l {
					want = 1
				}
				if math.Abs(dot-want) > 1e-12*float64(d) {
					t.Fatalf("d=%d: v_%d . v_%d = %v, want %v", d, k, l, dot, want)
				}
			}
		}
	}
}

func TestSymEigenShapes(t *testing.T) {
	if _, _, err := SymEigen(make([]float64, 5), 2); err == nil {
		t.Error("5 entries for a 2 x 2 matrix: want an error")
	}
	if _, _, err := SymEigen(nil, -1); err == nil {
		t.Error("d = -1: want an error")
	}
	if vals, vecs, err := SymEigen(nil, 0); err != nil || len(vals) != 0 || len(vecs) != 0 {
		t.Errorf("d = 0: got %v, %v, %v; want empty results", vals, vecs, err)
	}
}

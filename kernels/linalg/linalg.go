// Package linalg holds the small dense linear-algebra routines shared by the metrics and
// the analytic diffusion targets. It is a leaf package (it imports only gonum), so any
// package may use it without creating an import cycle.
package linalg

import (
	"fmt"

	"gonum.org/v1/gonum/mat"
)

// SymEigen diagonalises the symmetric d x d matrix a (row-major, len d*d) with gonum's
// LAPACK-based mat.EigenSym: a = V diag(vals) V^T. vals are in ascending order and vecs is
// row-major d x d with the orthonormal eigenvector of vals[k] in column k (vecs[i*d+k]).
// Only the upper triangle of a is read, so a must be symmetric; a itself is not modified.
// It fails if len(a) != d*d or if the factorisation does not converge; non-finite entries
// give NaN eigenvalues, not an error. d = 0 gives empty results.
func SymEigen(a []float64, d int) (vals, vecs []float64, err error) {
	if d < 0 || len(a) != d*d {
		return nil, nil, fmt.Errorf("linalg.SymEigen: matrix has %d entries, want %d x %d", len(a), d, d)
	}
	if d == 0 {
		return []float64{}, []float64{}, nil
	}
	var es mat.EigenSym
	if !es.Factorize(mat.NewSymDense(d, append([]float64(nil), a...)), true) {
		return nil, nil, fmt.Errorf("linalg.SymEigen: eigendecomposition of the %d x %d matrix did not converge", d, d)
	}
	var v mat.Dense
	es.VectorsTo(&v)
	vecs = make([]float64, d*d)
	for i := 0; i < d; i++ {
		for k := 0; k < d; k++ {
			vecs[i*d+k] = v.At(i, k)
		}
	}
	return es.Values(nil), vecs, nil
}

// Package analytic gives exact denoisers for a Gaussian target N(mu, Sigma): for any
// affine noising x = a x_0 + b eps (DDPM: a = sqrt(abar), b = sqrt(1-abar); NCSN:
// a = 1, b = sigma; a bridge after removing m y) the posterior means are closed form,
//
//	C = a^2 Sigma + b^2 I,  E[eps|x] = b C^-1 (x - a mu),  E[x_0|x] = mu + a Sigma C^-1 (x - a mu),
//
// so a sampler driven by them must reproduce mu and Sigma up to its discretisation
// error: the strongest end-to-end check of a sampler that does not depend on training.
package analytic

import (
	"fmt"
	"math"

	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/dmseg/dmseg/kernels/linalg"
)

// Gaussian is a D-dimensional normal target, stored by its eigendecomposition Sigma = U diag(Lambda) U^T.
type Gaussian struct {
	Mean   []float64
	Cov    [][]float64
	U      [][]float64 // columns are eigenvectors
	Lambda []float64
}

// NewGaussian checks mean and covariance (symmetric positive semi-definite) and decomposes the covariance.
func NewGaussian(mean []float64, cov [][]float64) (*Gaussian, error) {
	D := len(mean)
	if D == 0 || len(cov) != D {
		return nil, fmt.Errorf("analytic: mean has %d entries but covariance %d rows", D, len(cov))
	}
	for i := range cov {
		if len(cov[i]) != D {
			return nil, fmt.Errorf("analytic: covariance row %d has %d entries, want %d", i, len(cov[i]), D)
		}
		for j := range cov[i] {
			if math.Abs(cov[i][j]-cov[j][i]) > 1e-12 {
				return nil, fmt.Errorf("analytic: covariance not symmetric at (%d,%d)", i, j)
			}
		}
	}
	flat := make([]float64, 0, D*D)
	for _, row := range cov {
		flat = append(flat, row...)
	}
	lam, vecs, err := linalg.SymEigen(flat, D)
	if err != nil {
		return nil, fmt.Errorf("analytic: decomposing the covariance: %w", err)
	}
	u := make([][]float64, D)
	for i := range u {
		u[i] = vecs[i*D : (i+1)*D : (i+1)*D]
	}
	for i, l := range lam {
		if l < -1e-12 {
			return nil, fmt.Errorf("analytic: covariance has negative eigenvalue %g (#%d)", l, i)
		}
		lam[i] = math.Max(l, 0)
	}
	return &Gaussian{Mean: append([]float64(nil), mean...), Cov: cov, U: u, Lambda: lam}, nil
}

// consts returns mu [1,D], U [D,D], U^T and Lambda [1,D].
func (g *Gaussian) consts(gr *Graph) (mu, u, ut, lam *Node) {
	D := len(g.Mean)
	muF := make([]float32, D)
	lamF := make([]float32, D)
	uF := make([][]float32, D)
	utF := make([][]float32, D)
	for i := 0; i < D; i++ {
		muF[i] = float32(g.Mean[i])
		lamF[i] = float32(g.Lambda[i])
		uF[i] = make([]float32, D)
		utF[i] = make([]float32, D)
		for j := 0; j < D; j++ {
			uF[i][j] = float32(g.U[i][j])
			utF[i][j] = float32(g.U[j][i])
		}
	}
	return Const(gr, [][]float32{muF}), Const(gr, uF), Const(gr, utF), Const(gr, [][]float32{lamF})
}

// posterior returns E[x_0|x] and E[eps|x] for x [B, D] and per-example a, b [B].
func (g *Gaussian) posterior(x, a, b *Node) (x0, eps *Node) {
	mu, u, ut, lam := g.consts(x.Graph())
	a2 := ExpandAxes(a, -1) // [B,1]
	b2 := ExpandAxes(b, -1)
	d := Sub(x, Mul(a2, mu))                                   // [B,D]
	y := MatMul(d, u)                                          // eigen-coordinates
	den := Add(Mul(Mul(a2, a2), lam), Mul(b2, b2))             // [B,D]: a^2 lambda + b^2
	epsE := MatMul(Div(Mul(b2, y), den), ut)                   // b C^-1 d
	x0E := Add(mu, MatMul(Div(Mul(Mul(a2, lam), y), den), ut)) // mu + a Sigma C^-1 d
	return x0E, epsE
}

// Eps returns E[eps|x] for x = a x_0 + b eps, x [B, D], a and b float32 [B].
func (g *Gaussian) Eps(x, a, b *Node) *Node { _, e := g.posterior(x, a, b); return e }

// X0 returns E[x_0|x] for x = a x_0 + b eps, x [B, D], a and b float32 [B].
func (g *Gaussian) X0(x, a, b *Node) *Node { x0, _ := g.posterior(x, a, b); return x0 }

// Moments returns the sample mean and covariance (n-1 normalised) of the rows of an [N, D] float32 tensor.
func Moments(x *tensors.Tensor) (mean []float64, cov [][]float64) {
	d := x.Shape().Dimensions
	n, D := d[0], d[1]
	v := tensors.MustCopyFlatData[float32](x)
	mean = make([]float64, D)
	for i := 0; i < n; i++ {
		for j := 0; j < D; j++ {
			mean[j] += float64(v[i*D+j]) / float64(n)
		}
	}
	cov = make([][]float64, D)
	for j := range cov {
		cov[j] = make([]float64, D)
	}
	for i := 0; i < n; i++ {
		for j := 0; j < D; j++ {
			for k := 0; k < D; k++ {
				cov[j][k] += (float64(v[i*D+j]) - mean[j]) * (float64(v[i*D+k]) - mean[k]) / float64(n-1)
			}
		}
	}
	return
}

// FromEigenbasis maps a diagonal Gaussian given in the target's eigenbasis (per-axis means m and
// variances v) back to the original coordinates: mean = U m, cov = U diag(v) U^T.
func (g *Gaussian) FromEigenbasis(m, v []float64) (mean []float64, cov [][]float64) {
	d := len(m)
	mean = make([]float64, d)
	cov = make([][]float64, d)
	for i := 0; i < d; i++ {
		cov[i] = make([]float64, d)
		for j := 0; j < d; j++ {
			mean[i] += g.U[i][j] * m[j]
			for k := 0; k < d; k++ {
				cov[i][j] += g.U[i][k] * v[k] * g.U[j][k]
			}
		}
	}
	return mean, cov
}

// Package mcheck compares Monte Carlo samples with a target mean and covariance
// within their standard errors; shared by the sampler tests.
package mcheck

import (
	"math"
	"strings"
	"testing"

	"github.com/dmseg/dmseg/kernels/diffusion/analytic"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// Target is a 2-D Gaussian used by the sampler tests: clearly non-isotropic, off the origin.
var (
	Mean = []float64{1.0, -0.5}
	Cov  = [][]float64{{1.0, 0.6}, {0.6, 0.5}}
)

// Moments returns the sample mean and covariance of an [N, D] float32 tensor.
func Moments(x *tensors.Tensor) (mean []float64, cov [][]float64) { return analytic.Moments(x) }

// Check fails t unless the samples' mean and covariance match (mu, sigma) within
// 4.5 standard errors plus an absolute slack for the sampler's discretisation bias.
func Check(t testing.TB, what string, x *tensors.Tensor, mu []float64, sigma [][]float64, slack float64) {
	t.Helper()
	n := float64(x.Shape().Dimensions[0])
	m, c := Moments(x)
	for j := range mu {
		if se := math.Sqrt(sigma[j][j] / n); math.Abs(m[j]-mu[j]) > 4.5*se+slack || math.IsNaN(m[j]) {
			t.Errorf("%s: mean[%d] = %.4f, want %.4f (se %.4f, slack %g)", what, j, m[j], mu[j], se, slack)
		}
		for k := range mu {
			se := math.Sqrt((sigma[j][j]*sigma[k][k] + sigma[j][k]*sigma[j][k]) / n)
			if math.Abs(c[j][k]-sigma[j][k]) > 4.5*se+slack || math.IsNaN(c[j][k]) {
				t.Errorf("%s: cov[%d][%d] = %.4f, want %.4f (se %.4f, slack %g)", what, j, k, c[j][k], sigma[j][k], se, slack)
			}
		}
	}
	t.Logf("%s: mean %.4f cov %.4f (target %v %v)", what, m, c, mu, sigma)
}

// IsGo reports whether b is the pure-Go backend (about 10x slower: tests shrink their sizes).
func IsGo(b backends.Backend) bool {
	return strings.Contains(b.Name(), "go") && !strings.Contains(b.Name(), "xla")
}

package ddpmuncond

import (
	"fmt"
	"math"
	"time"

	"github.com/dmseg/dmseg/kernels/diffusion"
	"github.com/dmseg/dmseg/kernels/diffusion/ddpm"
	"github.com/dmseg/dmseg/kernels/figures/synthesis"
	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// SampleBatched draws n images with sampler s in batches of at most batch,
// using seeds seed, seed+2, seed+4, ... per batch (x_T from that seed, the
// sampler's noise from seed+1), so batch k is the same whatever n is, and returns them
// concatenated (n*H*W float32) with the wall time spent sampling.
func SampleBatched(s *Sampler, n, batch int, seed int64, size int, progress diffusion.Progress) ([]float32, float64, error) {
	out := make([]float32, 0, n*size*size)
	start := time.Now()
	for k := 0; len(out) < n*size*size; k++ {
		b := min(batch, n-len(out)/(size*size))
		t, err := s.Sample(b, seed+int64(2*k), progress)
		if err != nil {
			return nil, 0, err
		}
		v, err := tensors.CopyFlatData[float32](t)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, v...)
	}
	return out, time.Since(start).Seconds(), nil
}

// DenoisePass computes, for one clean image x0 (size*size) and each timestep
// in ts, x_t = sqrt(abar_t) x0 + sqrt(1-abar_t) eps (eps from seed), the
// network's x0_hat = (x_t - sqrt(1-abar_t) eps_hat)/sqrt(abar_t) (clipped to
// [-1,1] as the DDPM sampler does) and one ancestral step x_{t-1} =
// c1 x0_hat + c2 x_t + sigma_t z (posterior of q(x_{t-1}|x_t,x0_hat)).
func DenoisePass(backend backends.Backend, l *Loaded, x0 []float32, size int, ts []int, seed int64) ([]synthesis.DenoiseRow, error) {
	R := len(ts)
	s := l.Model.Sched
	for _, t := range ts {
		if t < 0 || t >= s.T {
			return nil, fmt.Errorf("synthesis: timestep %d outside 0..%d", t, s.T-1)
		}
	}
	xs := make([]float32, 0, R*size*size)
	tf := make([]float32, R)
	c1, c2, sig := make([]float32, R), make([]float32, R), make([]float32, R)
	for i, t := range ts {
		xs = append(xs, x0...)
		tf[i] = float32(t)
		c1[i], c2[i] = float32(s.PosteriorMeanCoef1[t]), float32(s.PosteriorMeanCoef2[t])
		sig[i] = float32(math.Sqrt(s.PosteriorVariance[t]))
	}
	eps, err := diffusion.GaussianNoise(backend, seed, 1, size, size, 1)
	if err != nil {
		return nil, err
	}
	z, err := diffusion.GaussianNoise(backend, seed+1, R, size, size, 1)
	if err != nil {
		return nil, err
	}
	clip := l.Config.Experiment.Sampling.DDPMClipX0
	exec, err := context.NewExec(backend, l.Ctx.Reuse(), func(ctx *context.Context, in []*Node) []*Node {
		x0n, tn, epsn, zn := in[0], in[1], in[2], in[3]
		epsB := BroadcastToDims(epsn, R, size, size, 1)
		xt := ddpm.QSample(s, x0n, tn, epsB)
		out := l.Model.Denoiser(ctx, xt, tn, nil)
		a := diffusion.PerExample(diffusion.Lookup(sqrtSlice(s.AlphasCumprod, false), tn), 4)
		b := diffusion.PerExample(diffusion.Lookup(sqrtSlice(s.AlphasCumprod, true), tn), 4)
		x0hat, _ := ddpm.Predictions(l.Model.Param, out, xt, a, b)
		if clip > 0 {
			x0hat = ClipScalar(x0hat, -clip, clip)
		}
		pe := func(v *Node) *Node { return Reshape(v, R, 1, 1, 1) }
		prev := Add(Add(Mul(pe(in[4]), x0hat), Mul(pe(in[5]), xt)), Mul(pe(in[6]), zn))
		return []*Node{xt, prev, x0hat}
	})
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	outs, err := exec.Exec(tensors.FromFlatDataAndDimensions(xs, R, size, size, 1), tensors.FromValue(tf), eps, z,
		tensors.FromValue(c1), tensors.FromValue(c2), tensors.FromValue(sig))
	if err != nil {
		return nil, err
	}
	get := func(i int) []float32 { return tensors.MustCopyFlatData[float32](outs[i]) }
	xt, prev, xh := get(0), get(1), get(2)
	n := size * size
	rows := make([]synthesis.DenoiseRow, R)
	for i, t := range ts {
		rows[i] = synthesis.DenoiseRow{T: t, Xt: xt[i*n : (i+1)*n], XPrev: prev[i*n : (i+1)*n], X0Hat: xh[i*n : (i+1)*n]}
		rows[i].PSNRNoised = synthesis.PSNR(rows[i].Xt, x0)
		rows[i].PSNRX0Hat = synthesis.PSNR(rows[i].X0Hat, x0)
	}
	return rows, nil
}

func sqrtSlice(abar []float64, oneMinus bool) []float64 {
	out := make([]float64, len(abar))
	for i, a := range abar {
		if oneMinus {
			a = 1 - a
		}
		out[i] = math.Sqrt(a)
	}
	return out
}

package ddpmuncond

import (
	"fmt"
	"math"

	"github.com/dmseg/dmseg/kernels/diffusion"
	"github.com/dmseg/dmseg/kernels/diffusion/ddpm"
	"github.com/dmseg/dmseg/kernels/metrics/quality"
	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// TrajectoryStep is what the network sees and predicts at one sampler step,
// per image: the range of x0_hat and the RMS of eps_hat (a well-trained
// eps-network on the data manifold gives RMS about 1 at every t).
type TrajectoryStep struct {
	Step   int       // 0-based step of the sampler
	T      int       // its 0-based timestep
	X0Min  []float64 // per image
	X0Max  []float64
	EpsRMS []float64
}

// Trajectory runs a sampler from x_T (seed) on n images and records, at every
// step, the network's x0_hat range and eps_hat RMS on the state it is given;
// it returns those and the final samples. This is the diagnostic of issue 10:
// with an under-trained eps network, deterministic DDIM starts from x0_hat far
// outside [-1, 1] at large t (the network error times sqrt(1-abar)/sqrt(abar))
// and carries those pixels to the end, while ancestral DDPM's fresh noise
// washes them out.
func (l *Loaded) Trajectory(backend backends.Backend, spec SamplerSpec, n int, seed int64) ([]TrajectoryStep, []float32, error) {
	s, err := l.NewSamplerSpec(backend, spec)
	if err != nil {
		return nil, nil, err
	}
	sz := l.ImageSize()
	D := sz * sz
	xT, err := diffusion.GaussianNoise(backend, seed, n, sz, sz, 1)
	if err != nil {
		return nil, nil, err
	}
	states := [][]float32{tensors.MustCopyFlatData[float32](xT)}
	out, err := s.SampleFrom(xT, seed+1, nil, func(k int, x *tensors.Tensor) {
		states = append(states, tensors.MustCopyFlatData[float32](x))
	})
	if err != nil {
		return nil, nil, err
	}
	final := tensors.MustCopyFlatData[float32](out)
	sch := l.Model.Sched
	sa, sb := make([]float64, sch.T), make([]float64, sch.T)
	for i := range sa {
		sa[i], sb[i] = math.Sqrt(sch.AlphasCumprod[i]), math.Sqrt(1-sch.AlphasCumprod[i])
	}
	exec, err := context.NewExec(backend, l.Ctx.Reuse(), func(ctx *context.Context, x, t *Node) (*Node, *Node) {
		o := l.Model.Denoiser(ctx, x, t, nil)
		a := diffusion.PerExample(diffusion.Lookup(sa, t), 4)
		b := diffusion.PerExample(diffusion.Lookup(sb, t), 4)
		return ddpm.Predictions(l.Model.Param, o, x, a, b)
	})
	if err != nil {
		return nil, nil, err
	}
	defer exec.Finalize()
	ts := s.Timesteps()
	steps := make([]TrajectoryStep, len(ts))
	for k, t := range ts {
		tt := make([]float32, n)
		for i := range tt {
			tt[i] = float32(t)
		}
		res, err := exec.Exec(tensors.FromFlatDataAndDimensions(states[k], n, sz, sz, 1), tensors.FromFlatDataAndDimensions(tt, n))
		if err != nil {
			return nil, nil, fmt.Errorf("trajectory step %d: %w", k, err)
		}
		x0, eps := tensors.MustCopyFlatData[float32](res[0]), tensors.MustCopyFlatData[float32](res[1])
		st := TrajectoryStep{Step: k, T: t, X0Min: make([]float64, n), X0Max: make([]float64, n), EpsRMS: make([]float64, n)}
		for j := 0; j < n; j++ {
			mn, mx, e2 := math.Inf(1), math.Inf(-1), 0.0
			for i := j * D; i < (j+1)*D; i++ {
				mn, mx = math.Min(mn, float64(x0[i])), math.Max(mx, float64(x0[i]))
				e2 += float64(eps[i]) * float64(eps[i])
			}
			st.X0Min[j], st.X0Max[j], st.EpsRMS[j] = mn, mx, math.Sqrt(e2/float64(D))
		}
		steps[k] = st
	}
	return steps, final, nil
}

// HFStep is the fine-detail energy of a sampler's state at one point of its
// trajectory, against what the forward process has there.
type HFStep struct {
	T        int     // 0-based timestep of the state; -1 for the final sample
	Abar     float64 // abar_t (1 for the final sample)
	HF       float64 // mean over the images of quality.HighFrequencyEnergy(x_t)
	Marginal float64 // quality.MarginalHF(abar_t, dataHF): the forward marginal's value
	Ratio    float64 // HF / Marginal: 1 while the trajectory stays on the marginal
}

// StateHF runs a sampler from x_T (seed; its noise from seed+1) on n images
// and records after every step the high-frequency energy of the state x_t
// against the energy of the forward process at the same t (the clean images'
// mean energy dataHF, e.g. of the held-out split). No extra network calls:
// it costs one sampling run. This is the evidence for issue 10's remaining
// DDIM gap: the deterministic path's state drifts above the marginal in the
// finest detail as t falls (noise the network leaves in x0_hat is kept as
// signal), while ancestral sampling's fresh noise holds it on the marginal.
func (l *Loaded) StateHF(backend backends.Backend, spec SamplerSpec, n int, seed int64, dataHF float64) ([]HFStep, []float32, error) {
	s, err := l.NewSamplerSpec(backend, spec)
	if err != nil {
		return nil, nil, err
	}
	sz := l.ImageSize()
	ts := s.Timesteps()
	abar := l.Model.Sched.AlphasCumprod
	step := func(t int, x []float32) HFStep {
		hf := quality.MeanHighFrequencyEnergy(x, n, sz, sz)
		a := 1.0
		if t >= 0 {
			a = abar[t]
		}
		m := quality.MarginalHF(a, dataHF)
		return HFStep{T: t, Abar: a, HF: hf, Marginal: m, Ratio: hf / m}
	}
	xT, err := diffusion.GaussianNoise(backend, seed, n, sz, sz, 1)
	if err != nil {
		return nil, nil, err
	}
	steps := []HFStep{step(ts[0], tensors.MustCopyFlatData[float32](xT))}
	out, err := s.SampleFrom(xT, seed+1, nil, func(k int, x *tensors.Tensor) {
		t := -1
		if k < len(ts) {
			t = ts[k]
		}
		steps = append(steps, step(t, tensors.MustCopyFlatData[float32](x)))
	})
	if err != nil {
		return nil, nil, err
	}
	return steps, tensors.MustCopyFlatData[float32](out), nil
}

package synthesis

import (
	"fmt"
	"math"
	"time"

	"github.com/dmseg/dmseg/kernels/data/dataset"
	"github.com/dmseg/dmseg/kernels/diffusion"
	"github.com/dmseg/dmseg/kernels/diffusion/ddpm"
	"github.com/dmseg/dmseg/kernels/experiments"
	"github.com/dmseg/dmseg/kernels/metrics/quality"
	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// SampleBatched draws n images with sampler s in batches of at most batch,
// using seeds seed, seed+2, seed+4, ... per batch, and returns them
// concatenated (n*H*W float32) with the wall time spent sampling.
func SampleBatched(s *experiments.Sampler, n, batch int, seed int64, size int, progress diffusion.Progress) ([]float32, float64, error) {
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

// DenoisePass computes, for one clean image x0 (size*size) and each timestep
// in ts, x_t = sqrt(abar_t) x0 + sqrt(1-abar_t) eps (eps from seed), the
// network's x0_hat = (x_t - sqrt(1-abar_t) eps_hat)/sqrt(abar_t) (clipped to
// [-1,1] as the DDPM sampler does) and one ancestral step x_{t-1} =
// c1 x0_hat + c2 x_t + sigma_t z (posterior of q(x_{t-1}|x_t,x0_hat)).
func DenoisePass(backend backends.Backend, l *experiments.Loaded, x0 []float32, size int, ts []int, seed int64) ([]DenoiseRow, error) {
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
	rows := make([]DenoiseRow, R)
	for i, t := range ts {
		rows[i] = DenoiseRow{T: t, Xt: xt[i*n : (i+1)*n], XPrev: prev[i*n : (i+1)*n], X0Hat: xh[i*n : (i+1)*n]}
		rows[i].PSNRNoised = psnr(rows[i].Xt, x0)
		rows[i].PSNRX0Hat = psnr(rows[i].X0Hat, x0)
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

// psnr in dB for images in [-1, 1] (peak-to-peak 2), after clipping a to [-1, 1].
func psnr(a, ref []float32) float64 {
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

// QualityResult is the sample-quality table of chapter 2.
type QualityResult struct {
	Generated quality.Report `json:"generated"`  // DDIM samples vs held-out phantoms
	RealFloor quality.Report `json:"real_floor"` // other real phantoms (val split) vs held-out: the best reachable
	Noise     quality.Report `json:"noise"`      // N(0, 0.5^2) clipped noise images vs held-out: a bad reference
	Blur      quality.Report `json:"blurred"`    // held-out-sized real images (val) box-blurred 5x5: a mild degradation
	HeldOut   string         `json:"held_out"`
	Sampler   string         `json:"sampler"`
	Steps     int            `json:"steps"`
}

// Quality compares generated samples with the held-out split, with three
// calibration rows. Generated values are clipped to [-1, 1] first, as when
// they are saved as 8-bit images.
func Quality(gen []float32, n int, heldOut, other *dataset.Set, sampler string, steps int, seed uint64) (*QualityResult, error) {
	sz := heldOut.H
	ref, err := quality.NewReference(setPixels(heldOut), heldOut.N, sz, sz)
	if err != nil {
		return nil, err
	}
	res := &QualityResult{HeldOut: heldOut.Source + "/" + heldOut.Split, Sampler: sampler, Steps: steps}
	clipped := make([]float32, len(gen))
	for i, v := range gen {
		clipped[i] = max(-1, min(1, v))
	}
	if res.Generated, err = ref.Compare("generated", clipped, n); err != nil {
		return nil, err
	}
	m := min(n, other.N)
	otherPix := setPixels(other)[:m*sz*sz]
	if res.RealFloor, err = ref.Compare("real ("+other.Split+")", otherPix, m); err != nil {
		return nil, err
	}
	noise := make([]float32, m*sz*sz)
	r := newRand(seed)
	for i := range noise {
		noise[i] = float32(math.Max(-1, math.Min(1, 0.5*r.NormFloat64())))
	}
	if res.Noise, err = ref.Compare("gaussian noise", noise, m); err != nil {
		return nil, err
	}
	if res.Blur, err = ref.Compare("real, blurred 5x5", boxBlur(otherPix, m, sz, 2), m); err != nil {
		return nil, err
	}
	return res, nil
}

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

// Markdown formats the quality table.
func (q *QualityResult) Markdown(stamp string) string {
	s := fmt.Sprintf("# Chapter 2 sample quality (Figure 10)\n\n%s\n\nReference: %s. Features: %s (see kernels/metrics/quality). "+
		"FD = Fréchet distance of Gaussians fitted to the features (FID-style); KID = unbiased MMD^2, cubic kernel, %d subsets of %d (mean ± std); "+
		"W1 = Wasserstein-1 of pixel intensities in [-1,1]; mean/std-image RMSE = RMS difference of per-pixel mean/std images.\n\n",
		stamp, q.HeldOut, quality.FeatureVersion, quality.KIDSubsets, quality.KIDSize)
	s += "| set | n | FD | KID | W1 pixels | mean-image RMSE | std-image RMSE | pixel mean | pixel std |\n|---|---|---|---|---|---|---|---|---|\n"
	for _, r := range []quality.Report{q.Generated, q.RealFloor, q.Blur, q.Noise} {
		name := r.Name
		if r.Name == "generated" {
			name = fmt.Sprintf("generated (%s-%d)", q.Sampler, q.Steps)
		}
		s += fmt.Sprintf("| %s | %d | %.2f | %.4f ± %.4f | %.4f | %.4f | %.4f | %.3f | %.3f |\n", name, r.N, r.FD, r.KID, r.KIDStd,
			r.Pixels.W1Intensity, r.Pixels.MeanImgRMSE, r.Pixels.StdImgRMSE, r.Pixels.MeanA, r.Pixels.StdA)
	}
	s += fmt.Sprintf("\nHeld-out pixel mean %.3f, std %.3f.\n", q.Generated.Pixels.MeanB, q.Generated.Pixels.StdB)
	return s
}

// SamplerTiming is the DDPM-vs-DDIM wall-clock comparison on one artifact.
type SamplerTiming struct {
	N              int     `json:"n"`
	DDPMSteps      int     `json:"ddpm_steps"`
	DDIMSteps      int     `json:"ddim_steps"`
	DDPMSeconds    float64 `json:"ddpm_seconds"`
	DDIMSeconds    float64 `json:"ddim_seconds"`
	Ratio          float64 `json:"ratio"`           // DDPM seconds / DDIM seconds
	IdealRatio     float64 `json:"ideal_ratio"`     // DDPMSteps / DDIMSteps (network calls)
	CompileSeconds float64 `json:"compile_seconds"` // first (warm-up) call of both, excluded above

	// The images of the timed runs (same x_T for both), n*H*W each.
	DDPMImages []float32 `json:"-"`
	DDIMImages []float32 `json:"-"`
}

// TimeSamplers measures one batch of n images with ancestral DDPM (all T
// steps) and with DDIM (the experiment's steps) on the same weights, without
// the compilation of either sampler.
func TimeSamplers(backend backends.Backend, l *experiments.Loaded, n int, seed int64) (*SamplerTiming, error) {
	st := &SamplerTiming{N: n}
	c0 := time.Now()
	anc, err := l.NewSampler(backend, "ddpm", 0)
	if err != nil {
		return nil, err
	}
	dd, err := l.NewSampler(backend, "ddim", 0)
	if err != nil {
		return nil, err
	}
	sz := l.ImageSize()
	xT, err := diffusion.GaussianNoise(backend, seed, n, sz, sz, 1)
	if err != nil {
		return nil, err
	}
	// DDIM: a first full run compiles its loop; the second run is timed.
	if _, err := dd.SampleFrom(xT, seed+1, nil); err != nil {
		return nil, err
	}
	st.CompileSeconds = time.Since(c0).Seconds()
	t0 := time.Now()
	ddimOut, err := dd.SampleFrom(xT, seed+1, nil)
	if err != nil {
		return nil, err
	}
	st.DDIMSeconds = time.Since(t0).Seconds()
	// DDPM: one run; its first step (which compiles the loop) is excluded and the
	// remaining T-1 steps are scaled to T.
	var firstStep time.Duration
	t1 := time.Now()
	first := true
	ancOut, err := anc.SampleFrom(xT, seed+1, func(done, total int) {
		if first {
			firstStep = time.Since(t1)
			first = false
			t1 = time.Now()
		}
	})
	if err != nil {
		return nil, err
	}
	// Steps 2..T took time.Since(t1); scale to T steps with the mean step time.
	T := anc.Steps()
	st.DDPMSeconds = time.Since(t1).Seconds() * float64(T) / float64(T-1)
	st.CompileSeconds += firstStep.Seconds()
	st.DDPMSteps, st.DDIMSteps = T, dd.Steps()
	if st.DDPMImages, err = tensors.CopyFlatData[float32](ancOut); err != nil {
		return nil, err
	}
	if st.DDIMImages, err = tensors.CopyFlatData[float32](ddimOut); err != nil {
		return nil, err
	}
	st.Ratio = st.DDPMSeconds / st.DDIMSeconds
	st.IdealRatio = float64(T) / float64(dd.Steps())
	return st, nil
}

// FigureSamplers shows the timed DDPM and DDIM samples from the same x_T one above the other.
func FigureSamplers(t *SamplerTiming, size int, stamp string) ([]byte, error) {
	all := append(append([]float32{}, t.DDPMImages...), t.DDIMImages...)
	imgs, err := ToGray(all, 2*t.N, size, size)
	if err != nil {
		return nil, err
	}
	grid, err := Grid(imgs, t.N, 3, 2)
	if err != nil {
		return nil, err
	}
	title := fmt.Sprintf("Same x_T, same weights: ancestral DDPM (%d steps, %.1f s) vs DDIM (%d steps, %.1f s)", t.DDPMSteps, t.DDPMSeconds, t.DDIMSteps, t.DDIMSeconds)
	return Labeled(grid, title, nil, []string{fmt.Sprintf("DDPM-%d", t.DDPMSteps), fmt.Sprintf("DDIM-%d", t.DDIMSteps)}, stamp, 2+1.3*float64(t.N))
}

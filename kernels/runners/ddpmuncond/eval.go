package ddpmuncond

import (
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/dmseg/dmseg/kernels/artifacts"
	"github.com/dmseg/dmseg/kernels/data/dataset"
	"github.com/dmseg/dmseg/kernels/diffusion"
	"github.com/dmseg/dmseg/kernels/diffusion/ddpm"
	"github.com/dmseg/dmseg/kernels/engine"
	"github.com/dmseg/dmseg/kernels/experiments"
	"github.com/dmseg/dmseg/kernels/figures/synthesis"
	"github.com/dmseg/dmseg/kernels/imageio"
	"github.com/dmseg/dmseg/kernels/metrics/quality"
	"github.com/dmseg/dmseg/kernels/runners"
)

// EvalName is the name of the sample-quality evaluation records.
const EvalName = "quality"

// QualityProtocol is how a ddpm-uncond artifact is evaluated: every sampler
// draws N images from the same x_T (batch k of Batch images uses seed
// Seed+2k for x_T and Seed+2k+1 for the sampler's noise), which are compared
// with the held-out split; calibration rows come from the validation split.
type QualityProtocol struct {
	Samplers    []SamplerSpec `json:"samplers"`
	N           int           `json:"n"`
	Seed        int64         `json:"seed"`
	Batch       int           `json:"batch"`
	HeldOut     string        `json:"held_out"`    // e.g. "phantom:lung/test"
	Calibration string        `json:"calibration"` // split of the calibration rows
	Features    string        `json:"features"`    // quality.FeatureVersion
	UseEMA      bool          `json:"use_ema"`
	Backend     string        `json:"backend"`
}

// QualityRow is one row of the quality results.
type QualityRow struct {
	Label            string  `json:"label"` // "DDIM-50", "DDPM-1000", "real", "real-blurred", "noise"
	N                int     `json:"n"`
	FD               float64 `json:"fd"`
	KID              float64 `json:"kid"`
	KIDStd           float64 `json:"kid_std"`
	SpeckledFraction float64 `json:"speckled_fraction"`
	File             string  `json:"file,omitempty"` // the samples, a vertical strip of 8-bit PNG tiles
}

// QualityResults are the results of a quality record.
type QualityResults struct {
	Rows    []QualityRow        `json:"rows"`
	Speckle quality.SpeckleRule `json:"speckle"`
	Reports []quality.Report    `json:"reports"` // the full reports (pixel statistics) per row
}

// SamplesFile is the record file of a sampler's images.
func SamplesFile(s SamplerSpec) string {
	if s.Sampler == "ddpm" {
		return fmt.Sprintf("samples-ddpm%d.png", s.Steps)
	}
	if ddpm.EpsScaled(s.EpsScale) {
		return fmt.Sprintf("samples-ddim%d-eta%g-%s-eps%g.png", s.Steps, s.Eta, s.Spacing, s.EpsScale)
	}
	return fmt.Sprintf("samples-ddim%d-eta%g-%s.png", s.Steps, s.Eta, s.Spacing)
}

// Evaluate writes a quality record: DDIM (the experiment's settings) and
// ancestral DDPM samples from the same x_T, FD/KID against held-out images
// with calibration rows, and the speckled fraction.
func (Runner) Evaluate(a *artifacts.Artifact, o runners.EvalOptions) (*artifacts.Eval, error) {
	l, err := Load(a)
	if err != nil {
		return nil, err
	}
	if err := l.CheckData(); err != nil {
		return nil, err
	}
	log := o.Log
	if log == nil {
		log = os.Stderr
	}
	e := l.Config.Experiment
	p := QualityProtocol{N: o.N, Seed: o.Seed, Batch: o.Batch, HeldOut: "", Calibration: "val",
		Features: quality.FeatureVersion, UseEMA: e.Sampling.UseEMA, Backend: o.Info.Name}
	if p.N == 0 {
		p.N = e.Sampling.EvalSamples
	}
	if p.Seed == 0 {
		p.Seed = e.Sampling.EvalSeed
	}
	if p.Batch == 0 {
		p.Batch = 8
	}
	split := o.Split
	if split == "" {
		split = e.Data.HeldOut
	}
	if o.Samples > 1 {
		return nil, fmt.Errorf("--samples applies to segmentation kinds; %s draws --n independent samples", experiments.KindDDPMUncond)
	}
	if p.N < 10 || p.Batch < 1 {
		return nil, fmt.Errorf("quality evaluation needs --n >= 10 (FD/KID) and a batch >= 1, got %d, %d", p.N, p.Batch)
	}
	held, err := e.LoadSplit(split)
	if err != nil {
		return nil, err
	}
	p.HeldOut = held.Source + "/" + held.Split
	other, err := e.LoadSplit(p.Calibration)
	if err != nil {
		return nil, err
	}
	ddim, err := l.DDIMSpec(o.DDIM)
	if err != nil {
		return nil, err
	}
	anc, _ := l.Spec("ddpm", 0, -1, "")
	p.Samplers = []SamplerSpec{ddim, anc}
	if len(o.Samplers) > 0 {
		p.Samplers = nil
		for _, k := range o.Samplers {
			switch k {
			case "ddim":
				p.Samplers = append(p.Samplers, ddim)
			case "ddpm":
				p.Samplers = append(p.Samplers, anc)
			default:
				return nil, fmt.Errorf("unknown sampler %q (want ddim and/or ddpm)", k)
			}
		}
	}
	size := l.ImageSize()

	files := map[string][]byte{}
	timings := map[string]float64{}
	samples := make([][]float32, len(p.Samplers))
	for i, spec := range p.Samplers {
		s, err := l.NewSamplerSpec(o.Backend, spec)
		if err != nil {
			return nil, err
		}
		var prog diffusion.Progress
		if o.Progress {
			prog = batchProgress(log, spec.Label(), p.N, p.Batch)
		}
		pix, sec, err := SampleBatched(s, p.N, p.Batch, p.Seed, size, prog)
		if err != nil {
			return nil, err
		}
		strip, err := EncodeStrip(pix, p.N, size)
		if err != nil {
			return nil, err
		}
		files[SamplesFile(spec)] = strip
		if samples[i], err = DecodeStrip(strip, size); err != nil {
			return nil, err
		}
		timings[spec.Label()+"_seconds"] = sec
		fmt.Fprintf(log, "%s: %d images in %.1f s\n", spec.Label(), p.N, sec)
	}
	res, err := QualityFromSamples(p, samples, held, other)
	if err != nil {
		return nil, err
	}
	git := artifacts.GitState(engine.ProjectRoot())
	return a.CreateEval(EvalName, p, res, files, artifacts.BackendFrom(o.Info), git, timings)
}

// QualityFromSamples computes the quality results from decoded 8-bit samples
// (one []float32 per sampler of p, n*size*size values each): every number of
// the chapter-2 quality table is a function of the stored PNGs and the data.
func QualityFromSamples(p QualityProtocol, samples [][]float32, held, other *dataset.Set) (*QualityResults, error) {
	sz := held.H
	heldPix := synthesis.SetPixels(held)
	ref, err := quality.NewReference(heldPix, held.N, sz, sz)
	if err != nil {
		return nil, err
	}
	rule, err := quality.NewSpeckleRule(heldPix, held.N, sz, sz)
	if err != nil {
		return nil, err
	}
	res := &QualityResults{Speckle: rule}
	add := func(label, file string, pix []float32, n int) error {
		rep, err := ref.Compare(label, pix, n)
		if err != nil {
			return err
		}
		_, frac, err := rule.Speckled(pix, n, sz, sz)
		if err != nil {
			return err
		}
		res.Rows = append(res.Rows, QualityRow{Label: label, N: n, FD: rep.FD, KID: rep.KID, KIDStd: rep.KIDStd, SpeckledFraction: frac, File: file})
		res.Reports = append(res.Reports, rep)
		return nil
	}
	if len(samples) != len(p.Samplers) {
		return nil, fmt.Errorf("quality: %d sample sets for %d samplers", len(samples), len(p.Samplers))
	}
	for i, s := range p.Samplers {
		if len(samples[i]) != p.N*sz*sz {
			return nil, fmt.Errorf("quality: %s: %d values, want %d images of %dx%d", s.Label(), len(samples[i]), p.N, sz, sz)
		}
		if err := add(s.Label(), SamplesFile(s), samples[i], p.N); err != nil {
			return nil, err
		}
	}
	real, blurred, noise := synthesis.CalibrationSets(other, other.N, uint64(p.Seed))
	m := len(real) / (sz * sz)
	for _, c := range []struct {
		label string
		pix   []float32
	}{{"real", real}, {"real-blurred", blurred}, {"noise", noise}} {
		if err := add(c.label, "", c.pix, m); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func batchProgress(w io.Writer, label string, n, batch int) diffusion.Progress {
	bar := diffusion.ProgressBar(w, label)
	nb := (n + batch - 1) / batch
	k, last := 0, 0
	return func(done, total int) {
		if done < last {
			k++
		}
		last = done
		bar(k*total+done, nb*total)
	}
}

// EncodeStrip stores n images (n*size*size values in [-1,1]) as one 8-bit
// grayscale PNG, size wide and n*size high (synthesis.ToGray's quantisation).
func EncodeStrip(pix []float32, n, size int) ([]byte, error) {
	imgs, err := synthesis.ToGray(pix, n, size, size)
	if err != nil {
		return nil, err
	}
	q := make([]uint8, 0, n*size*size)
	for _, im := range imgs {
		q = append(q, im.Pix...)
	}
	return imageio.EncodeStrip(q, n, size, size)
}

// DecodeStrip reads a strip written by EncodeStrip back as values in [-1, 1]
// (level v -> v/127.5 - 1).
func DecodeStrip(data []byte, size int) ([]float32, error) {
	q, err := imageio.DecodeStrip(data, size)
	if err != nil {
		return nil, fmt.Errorf("samples %w", err)
	}
	out := make([]float32, len(q))
	for i, v := range q {
		out[i] = float32(v)/127.5 - 1
	}
	return out, nil
}

// Resample redraws the first batch of every sampler of a quality record (the
// first k images, k <= the record's batch) from the artifact's weights and
// compares their 8-bit pixels with the stored strips.
func (Runner) Resample(a *artifacts.Artifact, ev *artifacts.Eval, k int, o runners.EvalOptions, tol int) (runners.ResampleReport, error) {
	var rep runners.ResampleReport
	var p QualityProtocol
	if err := ev.DecodeProtocol(&p); err != nil {
		return rep, err
	}
	if k < 1 || k > p.Batch || k > p.N {
		return rep, fmt.Errorf("resample: k must be in 1..%d (the record's batch), got %d", min(p.Batch, p.N), k)
	}
	l, err := Load(a)
	if err != nil {
		return rep, err
	}
	size := l.ImageSize()
	t0 := time.Now()
	for _, spec := range p.Samplers {
		s, err := l.NewSamplerSpec(o.Backend, spec)
		if err != nil {
			return rep, err
		}
		var prog diffusion.Progress
		if o.Progress {
			prog = diffusion.ProgressBar(o.Log, "resample "+spec.Label())
		}
		// Batch 0 exactly as Evaluate drew it: min(batch, n) images from seed p.Seed.
		pix, _, err := SampleBatched(s, min(p.Batch, p.N), p.Batch, p.Seed, size, prog)
		if err != nil {
			return rep, err
		}
		got, err := EncodeStrip(pix[:k*size*size], k, size)
		if err != nil {
			return rep, err
		}
		gotPix, _ := DecodeStrip(got, size)
		stored, err := ev.ReadFile(SamplesFile(spec))
		if err != nil {
			return rep, err
		}
		want, err := DecodeStrip(stored, size)
		if err != nil {
			return rep, fmt.Errorf("evaluation %s: %s: %w", ev.Record.ID, SamplesFile(spec), err)
		}
		for i := 0; i < k*size*size; i++ {
			d := int(math.Round(math.Abs(float64(gotPix[i]-want[i])) * 127.5))
			if d > 0 {
				rep.Differing++
			}
			rep.MaxAbsLevels = max(rep.MaxAbsLevels, d)
		}
		rep.Compared += k
	}
	rep.Seconds = time.Since(t0).Seconds()
	if rep.MaxAbsLevels > tol {
		return rep, fmt.Errorf("evaluation %s: re-sampled images differ from the stored ones by up to %d levels in %d pixels (tolerance %d): "+
			"the stored samples do not come from these weights with this code and backend", ev.Record.ID, rep.MaxAbsLevels, rep.Differing, tol)
	}
	return rep, nil
}

// Quality opens a quality record's protocol and results.
func Quality(ev *artifacts.Eval) (QualityProtocol, QualityResults, error) {
	var p QualityProtocol
	var r QualityResults
	err := ev.Decode(EvalName, &p, &r)
	return p, r, err
}

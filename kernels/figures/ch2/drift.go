package ch2

import (
	"fmt"
	"strings"

	"github.com/dmseg/dmseg/kernels/artifacts"
	"github.com/dmseg/dmseg/kernels/data/dataset"
	"github.com/dmseg/dmseg/kernels/experiments"

	"github.com/dmseg/dmseg/kernels/figures/synthesis"
	"github.com/dmseg/dmseg/kernels/figures/toyplots"
	"github.com/dmseg/dmseg/kernels/metrics/quality"
	"github.com/dmseg/dmseg/kernels/runners/ddpmuncond"
	"github.com/gomlx/gomlx/backends"
)

// Drift is the fine-detail energy of sampler trajectories against the
// forward marginal (ddpmuncond.StateHF) and how the samples differ from the
// held-out images feature group by feature group.
type Drift struct {
	DataHF  float64                   // mean high-frequency energy of the held-out images
	Specs   []ddpmuncond.SamplerSpec  // the samplers, in order
	Steps   [][]ddpmuncond.HFStep     // per sampler
	Samples [][]float32               // per sampler, the n final samples
	Groups  [][]quality.GroupDistance // per sampler, FD by feature group against the held-out split
	Spectra [][]float64               // per sampler, quality.MeanSpectrum of the samples
	Real    []float64                 // quality.MeanSpectrum of the held-out images
	N       int                       // images per sampler
	Seed    int64                     // x_T seed
}

// MaxRatio is the largest HF / marginal ratio of sampler i before its final
// sample, and the timestep where it occurs.
func (d *Drift) MaxRatio(i int) (float64, int) {
	best, at := 0.0, -1
	for _, s := range d.Steps[i] {
		if s.T >= 0 && s.Ratio > best {
			best, at = s.Ratio, s.T
		}
	}
	return best, at
}

// MeasureDrift runs each sampler from the same n x_T (seed) and records the
// state's high-frequency energy after every step against the forward
// process's (issue 10's evidence), plus each sampler's FD by feature group
// and mean spectrum against the held-out split. Group FDs of n samples carry
// the small-sample bias of a 176-feature Gaussian fit: compare samplers at
// the same n, not with the quality record's numbers.
func MeasureDrift(backend backends.Backend, l *ddpmuncond.Loaded, specs []ddpmuncond.SamplerSpec, n int, seed int64) (*Drift, error) {
	e := l.Config.Experiment
	held, err := e.LoadSplit(e.Data.HeldOut)
	if err != nil {
		return nil, err
	}
	sz := held.H
	pix := synthesis.SetPixels(held)
	d := &Drift{Specs: specs, N: n, Seed: seed}
	d.DataHF = quality.MeanHighFrequencyEnergy(pix, held.N, sz, sz)
	ref, err := quality.NewReference(pix, held.N, sz, sz)
	if err != nil {
		return nil, err
	}
	if d.Real, err = quality.MeanSpectrum(pix, held.N, sz, sz); err != nil {
		return nil, err
	}
	for _, sp := range specs {
		steps, final, err := l.StateHF(backend, sp, n, seed, d.DataHF)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sp.Label(), err)
		}
		g, err := ref.GroupFD(final, n)
		if err != nil {
			return nil, err
		}
		spec, err := quality.MeanSpectrum(final, n, sz, sz)
		if err != nil {
			return nil, err
		}
		d.Steps, d.Samples, d.Groups, d.Spectra = append(d.Steps, steps), append(d.Samples, final), append(d.Groups, g), append(d.Spectra, spec)
	}
	return d, nil
}

// DriftFigure plots each sampler's HF(x_t) / MarginalHF(t) against t: 1 is
// the forward process; a deterministic path that keeps unremoved noise climbs
// above it as t falls.
func DriftFigure(d *Drift, stamp string) ([]byte, error) {
	var series []toyplots.Series
	for i, sp := range d.Specs {
		s := toyplots.Series{Name: SamplerLabel(sp)}
		for _, st := range d.Steps[i] {
			if st.T >= 0 {
				s.X, s.Y = append(s.X, float64(st.T)), append(s.Y, st.Ratio)
			}
		}
		series = append(series, s)
	}
	return toyplots.Lines(fmt.Sprintf("Fine-detail energy of the sampler's state vs the forward process (n=%d, seed %d)\n%s", d.N, d.Seed, stamp),
		"timestep t of the state (sampling runs right to left)", "HF(x_t) / E_q[HF(x_t)]", false, series...)
}

// SamplerSpectrum is one sampler's stored samples in a quality record seen
// feature group by feature group.
type SamplerSpectrum struct {
	Label    string
	Groups   []quality.GroupDistance // FD by feature group against the record's held-out split
	Spectrum []float64               // quality.MeanSpectrum of the samples
}

// RecordSpectra decomposes a quality record: for every sampler, the FD of its
// stored samples by feature group and their mean radial spectrum, with the
// held-out split's spectrum (real). Pure Go on the stored PNGs: the same on
// every backend.
func RecordSpectra(a *artifacts.Artifact, ev *artifacts.Eval) (real []float64, rows []SamplerSpectrum, err error) {
	p, _, e, held, err := recordHeldOut(a, ev)
	if err != nil {
		return nil, nil, err
	}
	sz := held.H
	pix := synthesis.SetPixels(held)
	ref, err := quality.NewReference(pix, held.N, sz, sz)
	if err != nil {
		return nil, nil, err
	}
	if real, err = quality.MeanSpectrum(pix, held.N, sz, sz); err != nil {
		return nil, nil, err
	}
	for _, s := range p.Samplers {
		sp, err := samples(ev, s, e.Data.Phantom.Size)
		if err != nil {
			return nil, nil, err
		}
		g, err := ref.GroupFD(sp, p.N)
		if err != nil {
			return nil, nil, err
		}
		ms, err := quality.MeanSpectrum(sp, p.N, sz, sz)
		if err != nil {
			return nil, nil, err
		}
		rows = append(rows, SamplerSpectrum{Label: SamplerLabel(s), Groups: g, Spectrum: ms})
	}
	return real, rows, nil
}

// recordHeldOut opens a quality record's protocol and results, the artifact's
// resolved experiment and the split the record compared against (its
// held_out, e.g. "phantom:lung/val"; the experiment's held-out split for
// records that do not name one).
func recordHeldOut(a *artifacts.Artifact, ev *artifacts.Eval) (ddpmuncond.QualityProtocol, ddpmuncond.QualityResults, experiments.Experiment, *dataset.Set, error) {
	p, r, err := ddpmuncond.Quality(ev)
	if err != nil {
		return p, r, experiments.Experiment{}, nil, err
	}
	rc, err := runConfig(a)
	if err != nil {
		return p, r, experiments.Experiment{}, nil, err
	}
	e := rc.Experiment
	split := e.Data.HeldOut
	if i := strings.LastIndex(p.HeldOut, "/"); i >= 0 {
		split = p.HeldOut[i+1:]
	}
	held, err := e.LoadSplit(split)
	return p, r, e, held, err
}

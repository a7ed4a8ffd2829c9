// Package ch2 makes the outputs of thesis chapter 2 (unconditional synthesis)
// from a committed ddpm-uncond artifact and its quality evaluation record:
// Figure 10 (generated X-rays), the DDPM-vs-DDIM figure from the same x_T,
// Figure 12 (one U-Net pass) and the quality table. make reproduce, dmseg and
// notebook 02 call these same functions.
package ch2

import (
	"fmt"
	"sort"
	"strings"

	"github.com/dmseg/dmseg/kernels/artifacts"
	"github.com/dmseg/dmseg/kernels/experiments"
	"github.com/dmseg/dmseg/kernels/figures/synthesis"
	"github.com/dmseg/dmseg/kernels/runners/ddpmuncond"
	"github.com/dmseg/dmseg/kernels/tables"
	"github.com/gomlx/gomlx/backends"
)

// Experiment is the experiment whose newest artifact the chapter's outputs use.
const Experiment = "ch2-ddpm-uncond-cpu"

// Stamp is the provenance line of every chapter-2 output: artifact, the commit
// it was trained at, the evaluation record and the backend the numbers come
// from. It names no checkout commit, so outputs regenerated later are equal.
func Stamp(a *artifacts.Artifact, ev *artifacts.Eval, backend string) string {
	s := a.Stamp()
	if ev != nil {
		s += " eval=" + ev.Record.ID
		backend = ev.Record.Backend.Name
	}
	return s + " backend=" + backend
}

// QualityEval returns the newest quality record of a (the one the tables use), verified.
func QualityEval(a *artifacts.Artifact) (*artifacts.Eval, error) {
	evs, err := a.Evals()
	if err != nil {
		return nil, err
	}
	return newestQuality(a, evs)
}

// QualityEvalUnverified is QualityEval without hash checks (make reproduce re-derives its numbers).
func QualityEvalUnverified(a *artifacts.Artifact) (*artifacts.Eval, error) {
	evs, err := a.ReadEvals()
	if err != nil {
		return nil, err
	}
	return newestQuality(a, evs)
}

// newestQuality is the newest table record: on the experiment's held-out
// split, with a DDIM and a DDPM sampler from the same x_T. Study records
// beside it (other splits, DDIM settings tried alone on the validation split)
// are not the table's.
func newestQuality(a *artifacts.Artifact, evs []*artifacts.Eval) (*artifacts.Eval, error) {
	var rc experiments.RunConfig
	if err := a.DecodeConfig(&rc); err != nil {
		return nil, err
	}
	var q []*artifacts.Eval
	for _, e := range evs {
		if e.Record.Name != ddpmuncond.EvalName {
			continue
		}
		p, _, err := ddpmuncond.Quality(e)
		if err != nil {
			return nil, err
		}
		kinds := map[string]bool{}
		for _, s := range p.Samplers {
			kinds[s.Sampler] = true
		}
		if strings.HasSuffix(p.HeldOut, "/"+rc.Experiment.Data.HeldOut) && kinds["ddim"] && kinds["ddpm"] {
			q = append(q, e)
		}
	}
	if len(q) == 0 {
		return nil, fmt.Errorf("artifact %s has no %q evaluation record of its %s split with both samplers; make one with `dmseg evaluate --artifact %s`",
			a.Manifest.ID, ddpmuncond.EvalName, rc.Experiment.Data.HeldOut, a.Manifest.ID)
	}
	sort.SliceStable(q, func(i, j int) bool { return q[i].Record.CreatedAt > q[j].Record.CreatedAt })
	return q[0], nil
}

// QualityTable is the chapter-2 sample-quality table (thesis/tables/fig10-quality):
// DDIM and DDPM samples from the same x_T against held-out images, with the
// calibration rows real, real-blurred and noise.
func QualityTable(a *artifacts.Artifact, ev *artifacts.Eval) (*tables.Table, error) {
	p, r, err := ddpmuncond.Quality(ev)
	if err != nil {
		return nil, err
	}
	return qualityTable(a, ev, p, r), nil
}

// RecomputeQuality derives the record's results again from its stored PNGs and
// the data (the features are pure Go float64: the same on every backend), and
// returns the table made from them and one line per number that differs from
// what the record says.
func RecomputeQuality(a *artifacts.Artifact, ev *artifacts.Eval) (*tables.Table, []string, error) {
	p, stored, e, held, err := recordHeldOut(a, ev)
	if err != nil {
		return nil, nil, err
	}
	other, err := e.LoadSplit(p.Calibration)
	if err != nil {
		return nil, nil, err
	}
	var sets [][]float32
	for _, s := range p.Samplers {
		pix, err := samples(ev, s, e.Data.Phantom.Size)
		if err != nil {
			return nil, nil, err
		}
		sets = append(sets, pix)
	}
	got, err := ddpmuncond.QualityFromSamples(p, sets, held, other)
	if err != nil {
		return nil, nil, err
	}
	var diffs []string
	if len(got.Rows) != len(stored.Rows) {
		diffs = append(diffs, fmt.Sprintf("evaluation %s: %d result rows recorded, %d recomputed", ev.Record.ID, len(stored.Rows), len(got.Rows)))
	} else {
		for i, g := range got.Rows {
			s := stored.Rows[i]
			for _, c := range []struct {
				key  string
				a, b float64
			}{{"n", float64(s.N), float64(g.N)}, {"fd", s.FD, g.FD}, {"kid", s.KID, g.KID}, {"kid_std", s.KIDStd, g.KIDStd},
				{"speckled_fraction", s.SpeckledFraction, g.SpeckledFraction}} {
				if c.a != c.b || s.Label != g.Label {
					diffs = append(diffs, fmt.Sprintf("evaluation %s row %q column %s: recorded %v, recomputed from its PNGs %v (tolerance 0)", ev.Record.ID, s.Label, c.key, c.a, c.b))
				}
			}
		}
	}
	return qualityTable(a, ev, p, *got), diffs, nil
}

func qualityTable(a *artifacts.Artifact, ev *artifacts.Eval, p ddpmuncond.QualityProtocol, r ddpmuncond.QualityResults) *tables.Table {
	t := &tables.Table{
		ID:    "fig10-quality",
		Title: "Chapter 2 sample quality (Figure 10): DDIM and DDPM from the same x_T",
		Caption: fmt.Sprintf("%d samples per sampler (x_T of batch k from seed %d+2k, batch %d) against %s; calibration rows from the %s split. "+
			"Features %s (kernels/metrics/quality): FD = Fréchet distance of Gaussians fitted to the standardised features (FID-style, not comparable "+
			"with Inception FID); KID = unbiased MMD^2 with a cubic kernel. %s (threshold %.4g from %d images). Synthetic phantom data: "+
			"not comparable with the thesis's COVID-QU-Ex figures.",
			p.N, p.Seed, p.Batch, p.HeldOut, p.Calibration, p.Features, r.Speckle.Rule, r.Speckle.Threshold, r.Speckle.Reference),
		Columns: []tables.Column{{Key: "fd", Header: "FD", Digits: 1}, {Key: "kid", Header: "KID", Digits: 3},
			{Key: "speckled_fraction", Header: "speckled", Digits: 3}},
		Tolerance: map[string]float64{"fd": 25, "kid": 25, "speckled_fraction": 0.03},
		Notes:     []string{"Stamp: " + Stamp(a, ev, "")},
	}
	for _, s := range p.Samplers {
		t.Notes = append(t.Notes, "Sampler "+s.Label()+": "+samplerSettings(s))
	}
	for _, row := range r.Rows {
		t.Rows = append(t.Rows, tables.Row{Label: row.Label, Source: tables.SourceDMSeg, Dataset: p.HeldOut, Artifact: a.Manifest.ID,
			Eval: ev.Record.ID, Backend: ev.Record.Backend.Name, N: row.N,
			Metrics: map[string]float64{"fd": row.FD, "kid": row.KID, "speckled_fraction": row.SpeckledFraction}})
	}
	return t
}

// samplerSettings spells out what a quality record's sampler row ran (its
// label, "DDIM-50" or "DDPM-1000", does not say).
func samplerSettings(s ddpmuncond.SamplerSpec) string {
	clip := "x0_hat not clipped"
	if s.ClipX0 > 0 {
		clip = fmt.Sprintf("x0_hat clipped to [-%g, %g]", s.ClipX0, s.ClipX0)
	}
	if s.Sampler == "ddpm" {
		return fmt.Sprintf("ancestral, %d steps, %s", s.Steps, clip)
	}
	return fmt.Sprintf("%d steps, %s spacing, eta %g, %s", s.Steps, s.Spacing, s.Eta, clip)
}

func samples(ev *artifacts.Eval, spec ddpmuncond.SamplerSpec, size int) ([]float32, error) {
	b, err := ev.ReadFile(ddpmuncond.SamplesFile(spec))
	if err != nil {
		return nil, err
	}
	return ddpmuncond.DecodeStrip(b, size)
}

// runConfig reads the artifact's recorded config (without loading weights).
func runConfig(a *artifacts.Artifact) (experiments.RunConfig, error) {
	var rc experiments.RunConfig
	if err := a.DecodeConfig(&rc); err != nil {
		return rc, err
	}
	rc.Experiment = rc.Experiment.Resolved()
	return rc, nil
}

// imageSize is the training image size recorded in the artifact's config.
func imageSize(a *artifacts.Artifact) (int, error) {
	rc, err := runConfig(a)
	if err != nil {
		return 0, err
	}
	if rc.Experiment.Data.Phantom.Size < 1 {
		return 0, fmt.Errorf("artifact %s: no image size in its config", a.Manifest.ID)
	}
	return rc.Experiment.Data.Phantom.Size, nil
}

// Figure10 is the thesis's Figure 10: the first n (36) stored DDIM samples of the record.
//
// thesis: fig10
func Figure10(a *artifacts.Artifact, ev *artifacts.Eval, n int) ([]byte, error) {
	p, _, err := ddpmuncond.Quality(ev)
	if err != nil {
		return nil, err
	}
	size, err := imageSize(a)
	if err != nil {
		return nil, err
	}
	spec := p.Samplers[0]
	pix, err := samples(ev, spec, size)
	if err != nil {
		return nil, err
	}
	n = min(n, p.N)
	return synthesis.Figure10(pix[:n*size*size], n, size, 6, spec.Label(), spec.Steps, Stamp(a, ev, ""))
}

// FigureSamplers shows the first k samples of every sampler of the record,
// one row per sampler: the same x_T in each column.
func FigureSamplers(a *artifacts.Artifact, ev *artifacts.Eval, k int) ([]byte, error) {
	p, r, err := ddpmuncond.Quality(ev)
	if err != nil {
		return nil, err
	}
	size, err := imageSize(a)
	if err != nil {
		return nil, err
	}
	k = min(k, p.N)
	var all []float32
	var labels []string
	for i, spec := range p.Samplers {
		pix, err := samples(ev, spec, size)
		if err != nil {
			return nil, err
		}
		all = append(all, pix[:k*size*size]...)
		labels = append(labels, fmt.Sprintf("%s\nFD %.0f", spec.Label(), r.Rows[i].FD))
	}
	imgs, err := synthesis.ToGray(all, k*len(p.Samplers), size, size)
	if err != nil {
		return nil, err
	}
	grid, err := synthesis.Grid(imgs, k, 3, 2)
	if err != nil {
		return nil, err
	}
	title := "Same x_T (columns), same weights: each row one sampler"
	return synthesis.Labeled(grid, title, nil, labels, Stamp(a, ev, ""), 2+1.3*float64(k))
}

// Figure12 is the thesis's Figure 12 on held-out image 0: the image, its
// noised versions at four timesteps, one ancestral step and one U-Net pass.
//
// thesis: fig12
func Figure12(backend backends.Backend, backendName string, l *ddpmuncond.Loaded) ([]byte, error) {
	e := l.Config.Experiment
	held, err := e.LoadSplit(e.Data.HeldOut)
	if err != nil {
		return nil, err
	}
	x0 := held.Image(0)
	T := l.Model.Sched.T
	ts := []int{T / 20, T / 4, T / 2, 4 * T / 5}
	rows, err := ddpmuncond.DenoisePass(backend, l, x0, l.ImageSize(), ts, e.Sampling.EvalSeed)
	if err != nil {
		return nil, err
	}
	return synthesis.Figure12(x0, rows, l.ImageSize(), Stamp(l.Artifact, nil, backendName))
}

package ch2

import (
	"fmt"
	"slices"
	"sort"

	"github.com/dmseg/dmseg/kernels/artifacts"
	"github.com/dmseg/dmseg/kernels/experiments"
	"github.com/dmseg/dmseg/kernels/runners/ddpmuncond"
	"github.com/dmseg/dmseg/kernels/tables"
)

// NoEMAExperiment is the EMA ablation of Experiment: the same training,
// sampled with the raw weights (issue 10).
const NoEMAExperiment = "ch2-ddpm-uncond-noema-cpu"

// DataExperiment is the data ablation of Experiment: the same training on 10x
// as many training phantoms (issue 10).
const DataExperiment = "ch2-ddpm-uncond-data20k-cpu"

// WideExperiment is the capacity ablation of Experiment: the same training with
// a 1.5x wider U-Net (issue 10).
const WideExperiment = "ch2-ddpm-uncond-wide-cpu"

// studyExperiments are the experiments whose artifacts SamplerStudy sets side by side.
var studyExperiments = []string{Experiment, NoEMAExperiment, DataExperiment, WideExperiment}

// Artifacts opens every artifact of the chapter-2 experiment and of its
// ablations (NoEMAExperiment, DataExperiment, WideExperiment) under root, oldest first.
func Artifacts(root string) ([]*artifacts.Artifact, error) {
	ms, errs := artifacts.List(root)
	if len(errs) > 0 {
		return nil, errs[0]
	}
	var out []*artifacts.Artifact
	for i := len(ms) - 1; i >= 0; i-- { // List is newest first
		if !slices.Contains(studyExperiments, ms[i].Experiment) {
			continue
		}
		a, err := artifacts.Open(root, ms[i].ID)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// SamplerLabel names a sampler with every setting that distinguishes the
// quality records: "DDIM-50 trailing clip 1", "DDIM-50 eta=1 compvis", "DDPM-1000".
func SamplerLabel(s ddpmuncond.SamplerSpec) string {
	if s.Sampler == "ddpm" {
		return s.Label()
	}
	l := s.Label() + " " + s.Spacing
	if s.ClipX0 > 0 {
		l += fmt.Sprintf(" clip %g", s.ClipX0)
	}
	return l
}

// SamplerStudy sets every sampler row of every quality record of the given
// ddpm-uncond artifacts side by side (the issue-10 study: which DDIM settings
// were tried on the validation split, and DDIM-50 against DDPM-1000 on the
// held-out split as the training budget grows), with the samples' pixel mean
// and std and the Wasserstein-1 distance of their intensities to the held-out
// images' (the global brightness and contrast that a sampler's first steps
// decide). Calibration rows are left
// out; each row's label carries the split, the objective and the images seen
// (which together tell the artifacts apart), each note an artifact's budget and,
// where a record has both samplers, FD(DDIM) / FD(DDPM).
func SamplerStudy(arts []*artifacts.Artifact) (*tables.Table, error) {
	t := &tables.Table{
		ID:    "ch2-samplers",
		Title: "Chapter 2: DDIM settings and training budget against DDPM-1000 (issue 10)",
		Caption: "Every sampler row of every quality record of the listed artifacts (FD/KID as in fig10-quality; " +
			"validation-split records are where DDIM settings were chosen, held-out (test) records are the reported ones). " +
			"Synthetic phantom data.",
		Columns: []tables.Column{{Key: "fd", Header: "FD", Digits: 1}, {Key: "kid", Header: "KID", Digits: 3},
			{Key: "speckled_fraction", Header: "speckled", Digits: 3},
			{Key: "pixel_mean", Header: "pixel mean", Digits: 3}, {Key: "pixel_std", Header: "pixel std", Digits: 3},
			{Key: "w1_intensity", Header: "W1 intensity", Digits: 4}},
	}
	// The held-out images' pixel mean and std, once per split, for the pixel columns.
	heldStats := map[string]bool{}
	// x_T of a record: split, n, batch, seed and weights.
	type xT struct {
		held     string
		n, batch int
		seed     int64
		ema      bool
	}
	type listedRow struct {
		id string
		fd float64
		xT xT
	}
	listed := map[string]listedRow{} // row label -> the record it came from
	def, err := experiments.Get(Experiment)
	if err != nil {
		return nil, err
	}
	def = def.Resolved()
	for _, a := range arts {
		rc, err := runConfig(a)
		if err != nil {
			return nil, err
		}
		tr := rc.Experiment.Train
		// Runs with another network, EMA or number of training phantoms than the definition's say so in their rows.
		data := ""
		if rc.Experiment.Model != def.Model {
			data = ", " + rc.Experiment.Model
		}
		if tr.EMADecay != def.Train.EMADecay || tr.EMAWarmup != def.Train.EMAWarmup {
			data += fmt.Sprintf(", EMA %g", tr.EMADecay)
			if tr.EMAWarmup {
				data += " with warmup"
			}
		}
		if n := rc.Experiment.Data.Phantom.NTrain; n != def.Data.Phantom.NTrain {
			data += fmt.Sprintf(", %d training phantoms", n)
		}
		// The zero-terminal-SNR schedule is named in its rows whatever the definition is,
		// so the labels of the older artifacts do not change with it.
		sched := ""
		if rc.Experiment.Diffusion.ZeroTerminalSNR {
			data += ", zero terminal SNR"
			sched = " (zero terminal SNR)"
		}
		seen := tr.Steps * int64(tr.BatchSize)
		weights := fmt.Sprintf("EMA %g weights", tr.EMADecay)
		if tr.EMAWarmup {
			weights = fmt.Sprintf("EMA %g (with warmup) weights", tr.EMADecay)
		}
		if !rc.Experiment.Sampling.UseEMA {
			weights = "raw weights"
		}
		t.Notes = append(t.Notes, fmt.Sprintf("%s: %s, %s objective%s, %d steps x batch %d = %d images seen of %d training phantoms, EMA %g, sampled with the %s",
			a.Manifest.ID, rc.Experiment.Model, rc.Experiment.Diffusion.Param, sched, tr.Steps, tr.BatchSize, seen, rc.Experiment.Data.Phantom.NTrain, tr.EMADecay, weights))
		evs, err := a.Evals()
		if err != nil {
			return nil, err
		}
		sort.SliceStable(evs, func(i, j int) bool { return evs[i].Record.ID < evs[j].Record.ID })
		// DDIM-only records are set against a DDPM-1000 row of another record drawn
		// from the same x_T: same split, n, seed, batch and weights.
		type ref struct {
			fd float64
			id string
		}
		ddpmAt := map[xT]ref{}
		type lone struct {
			key xT
			fd  float64
			id  string
		}
		var alone []lone
		for _, ev := range evs {
			if ev.Record.Name != ddpmuncond.EvalName {
				continue
			}
			p, r, err := ddpmuncond.Quality(ev)
			if err != nil {
				return nil, err
			}
			fd := map[string]float64{}
			key := xT{p.HeldOut, p.N, p.Batch, p.Seed, p.UseEMA}
			for i, s := range p.Samplers {
				if i >= len(r.Rows) {
					return nil, fmt.Errorf("evaluation %s of %s: %d samplers but %d result rows", ev.Record.ID, a.Manifest.ID, len(p.Samplers), len(r.Rows))
				}
				row := r.Rows[i] // the sampler rows come first, in the protocol's order
				if row.Label != s.Label() {
					return nil, fmt.Errorf("evaluation %s of %s: row %d is %q, expected sampler %q", ev.Record.ID, a.Manifest.ID, i, row.Label, s.Label())
				}
				if i >= len(r.Reports) {
					return nil, fmt.Errorf("evaluation %s of %s: %d samplers but %d reports", ev.Record.ID, a.Manifest.ID, len(p.Samplers), len(r.Reports))
				}
				px := r.Reports[i].Pixels
				if !heldStats[p.HeldOut] {
					heldStats[p.HeldOut] = true
					t.Notes = append(t.Notes, fmt.Sprintf("%s (the held-out images of the pixel columns): pixel mean %.3f, pixel std %.3f (images in [-1, 1])", p.HeldOut, px.MeanB, px.StdB))
				}
				fd[s.Sampler] = row.FD
				label := fmt.Sprintf("%s, %s; %s objective, %.1fk images seen", SamplerLabel(s), p.HeldOut, rc.Experiment.Diffusion.Param, float64(seen)/1000)
				if !p.UseEMA {
					label += ", raw weights"
				}
				label += data
				// A record that repeats a sampler of an earlier record from the same x_T (the
				// figure's record of both samplers after a DDIM-only record of the chosen
				// settings) gives the same numbers; it is noted, not listed twice.
				if prev, ok := listed[label]; ok {
					if prev.fd != row.FD || prev.xT != key {
						return nil, fmt.Errorf("evaluation %s of %s: row %q also comes from record %s with another protocol or FD (%.3f vs %.3f)",
							ev.Record.ID, a.Manifest.ID, label, prev.id, row.FD, prev.fd)
					}
					t.Notes = append(t.Notes, fmt.Sprintf("%s, record %s repeats %s of record %s from the same x_T (FD %.1f)",
						a.Manifest.ID, ev.Record.ID, SamplerLabel(s), prev.id, row.FD))
					continue
				}
				listed[label] = listedRow{ev.Record.ID, row.FD, key}
				t.Rows = append(t.Rows, tables.Row{Label: label, Source: tables.SourceDMSeg,
					Dataset: p.HeldOut, Artifact: a.Manifest.ID, Eval: ev.Record.ID, Backend: ev.Record.Backend.Name, N: row.N,
					Metrics: map[string]float64{"fd": row.FD, "kid": row.KID, "speckled_fraction": row.SpeckledFraction,
						"pixel_mean": px.MeanA, "pixel_std": px.StdA, "w1_intensity": px.W1Intensity}})
			}
			if d, ok := fd["ddim"]; ok && fd["ddpm"] > 0 {
				t.Notes = append(t.Notes, fmt.Sprintf("%s, record %s on %s: FD(DDIM) / FD(DDPM) = %.1f / %.1f = %.2f",
					a.Manifest.ID, ev.Record.ID, p.HeldOut, d, fd["ddpm"], d/fd["ddpm"]))
			} else if ok {
				alone = append(alone, lone{key, d, ev.Record.ID})
			}
			if d, ok := fd["ddpm"]; ok {
				ddpmAt[key] = ref{d, ev.Record.ID}
			}
		}
		for _, l := range alone {
			if r, ok := ddpmAt[l.key]; ok && r.fd > 0 {
				t.Notes = append(t.Notes, fmt.Sprintf("%s, record %s on %s against DDPM-1000 of record %s (same x_T): FD(DDIM) / FD(DDPM) = %.1f / %.1f = %.2f",
					a.Manifest.ID, l.id, l.key.held, r.id, l.fd, r.fd, l.fd/r.fd))
			}
		}
	}
	return t, nil
}

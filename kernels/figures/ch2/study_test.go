package ch2

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/dmseg/dmseg/kernels/artifacts"
	"github.com/dmseg/dmseg/kernels/metrics/quality"
	"github.com/dmseg/dmseg/kernels/runners/ddpmuncond"
)

func TestSamplerLabelDistinguishesSettings(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range []ddpmuncond.SamplerSpec{
		{Sampler: "ddim", Steps: 50, Spacing: "compvis"}, {Sampler: "ddim", Steps: 50, Spacing: "trailing"},
		{Sampler: "ddim", Steps: 50, Spacing: "trailing", ClipX0: 1}, {Sampler: "ddim", Steps: 50, Eta: 1, Spacing: "trailing"},
		{Sampler: "ddim", Steps: 20, Spacing: "trailing"}, {Sampler: "ddpm", Steps: 1000, Eta: 1, ClipX0: 1},
	} {
		l := SamplerLabel(s)
		if seen[l] {
			t.Errorf("label %q names two different samplers", l)
		}
		seen[l] = true
	}
	if got := SamplerLabel(ddpmuncond.SamplerSpec{Sampler: "ddim", Steps: 50, Spacing: "trailing", ClipX0: 1}); got != "DDIM-50 trailing clip 1" {
		t.Errorf("label %q", got)
	}
}

// On the committed chapter-2 artifacts: one row per sampler of every quality
// record, the numbers of that record, and the DDIM/DDPM ratio note computed from them.
func TestSamplerStudyOnCommittedArtifacts(t *testing.T) {
	arts, err := Artifacts(artifacts.Root())
	if err != nil {
		t.Fatal(err)
	}
	if len(arts) == 0 {
		t.Skip("no committed " + Experiment + " artifact")
	}
	tab, err := SamplerStudy(arts)
	if err != nil {
		t.Fatal(err)
	}
	want, ratios := 0, 0
	for _, a := range arts {
		evs, err := a.Evals()
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			p, r, err := ddpmuncond.Quality(ev)
			if err != nil {
				t.Fatal(err)
			}
			kinds := map[string]float64{}
			for i, s := range p.Samplers {
				want++
				kinds[s.Sampler] = r.Rows[i].FD
				found := false
				for _, row := range tab.Rows {
					if row.Eval == ev.Record.ID && row.Artifact == a.Manifest.ID && strings.HasPrefix(row.Label, SamplerLabel(s)+",") {
						found = row.Metrics["fd"] == r.Rows[i].FD && row.N == r.Rows[i].N
					}
				}
				if !found {
					t.Errorf("record %s sampler %s: no row with its FD %.3f", ev.Record.ID, SamplerLabel(s), r.Rows[i].FD)
				}
			}
			if d, ok := kinds["ddim"]; ok && kinds["ddpm"] > 0 {
				ratios++
				note := fmt.Sprintf("= %.2f", d/kinds["ddpm"])
				if !strings.Contains(strings.Join(tab.Notes, "\n"), note) {
					t.Errorf("record %s: no note with the ratio %s", ev.Record.ID, note)
				}
			}
		}
	}
	if len(tab.Rows) != want {
		t.Errorf("%d rows for %d sampler results", len(tab.Rows), want)
	}
	if ratios == 0 {
		t.Errorf("no record with both samplers: the table's main comparison is missing")
	}
	// Rows sampled with the raw weights (the EMA ablation) say so; the others do not.
	raw := map[string]bool{}
	for _, a := range arts {
		raw[a.Manifest.ID] = a.Manifest.Experiment == NoEMAExperiment
	}
	for _, row := range tab.Rows {
		if strings.HasSuffix(row.Label, ", raw weights") != raw[row.Artifact] {
			t.Errorf("row %q of %s: raw-weights label %v, want %v", row.Label, row.Artifact, !raw[row.Artifact], raw[row.Artifact])
		}
	}
	// Rows of runs with another EMA than the definition's name it (the two trial definitions).
	wantEMA := map[string]string{"ch2-ddpm-uncond-cpu-20261203-4124051f": ", EMA 0.999,", "ch2-ddpm-uncond-cpu-20261203-1f205d1b": ", EMA 0.998 with warmup,",
		"ch2-ddpm-uncond-cpu-20261202-a1bd0365": ""}
	seenEMA := map[string]int{}
	for _, row := range tab.Rows {
		w, ok := wantEMA[row.Artifact]
		if !ok {
			continue
		}
		seenEMA[row.Artifact]++
		if has := strings.Contains(row.Label, ", EMA "); has != (w != "") || w != "" && !strings.Contains(row.Label+",", w) {
			t.Errorf("row %q of %s: want the EMA label %q", row.Label, row.Artifact, w)
		}
	}
	for _, a := range arts {
		if _, ok := wantEMA[a.Manifest.ID]; ok && seenEMA[a.Manifest.ID] == 0 {
			t.Errorf("no row of %s", a.Manifest.ID)
		}
	}
	// Rows of the capacity ablation name its network; the others (unet-cpu) do not.
	model := map[string]string{}
	for _, a := range arts {
		model[a.Manifest.ID] = a.Manifest.Experiment
	}
	for _, row := range tab.Rows {
		if wide := model[row.Artifact] == WideExperiment; strings.Contains(row.Label, ", unet-cpu-w24") != wide {
			t.Errorf("row %q of %s: network label %v, want %v", row.Label, row.Artifact, !wide, wide)
		}
	}
	// Rows of the data ablation name its training set; the others (2,000 phantoms) do not.
	more := map[string]bool{}
	for _, a := range arts {
		more[a.Manifest.ID] = a.Manifest.Experiment == DataExperiment
	}
	for _, row := range tab.Rows {
		if strings.HasSuffix(row.Label, ", 20000 training phantoms") != more[row.Artifact] {
			t.Errorf("row %q of %s: training-phantoms label %v, want %v", row.Label, row.Artifact, !more[row.Artifact], more[row.Artifact])
		}
	}
	if md := tab.Markdown(); !strings.Contains(md, "DDPM-1000") {
		t.Errorf("markdown lacks the DDPM-1000 rows:\n%s", md)
	}
	// A DDIM-only record is set against the DDPM-1000 row of a record with the same
	// x_T (split, n, seed, batch): the committed eta-0.5 test record and Figure 10's.
	for _, a := range arts {
		evs, _ := a.Evals()
		type key struct {
			held     string
			n, batch int
			seed     int64
		}
		ddpm := map[key]string{}
		fds := map[string]float64{}
		for _, ev := range evs {
			p, r, _ := ddpmuncond.Quality(ev)
			for i, s := range p.Samplers {
				if s.Sampler == "ddpm" {
					ddpm[key{p.HeldOut, p.N, p.Batch, p.Seed}] = ev.Record.ID
					fds[ev.Record.ID] = r.Rows[i].FD
				}
			}
		}
		for _, ev := range evs {
			p, r, _ := ddpmuncond.Quality(ev)
			if len(p.Samplers) != 1 || p.Samplers[0].Sampler != "ddim" {
				continue
			}
			if id, ok := ddpm[key{p.HeldOut, p.N, p.Batch, p.Seed}]; ok {
				want := fmt.Sprintf("record %s on %s against DDPM-1000 of record %s (same x_T): FD(DDIM) / FD(DDPM) = %.1f / %.1f = %.2f",
					ev.Record.ID, p.HeldOut, id, r.Rows[0].FD, fds[id], r.Rows[0].FD/fds[id])
				if !strings.Contains(strings.Join(tab.Notes, "\n"), want) {
					t.Errorf("no note %q", want)
				}
			}
		}
	}
}

// The issue-10 finding on the committed test-split record of the current
// v-objective artifact: DDIM-50's samples carry more power than the held-out
// images in the finest (diagonal, beyond-Nyquist-circle) bands, ancestral
// DDPM-1000's from the same x_T do not, and the spectrum group is where DDIM's
// FD exceeds DDPM's most.
func TestRecordSpectraLocateTheDDIMGap(t *testing.T) {
	a, err := artifacts.Open(artifacts.Root(), "ch2-ddpm-uncond-cpu-20261202-a1bd0365")
	if err != nil {
		t.Skip("artifact not committed: ", err)
	}
	ev, err := QualityEval(a)
	if err != nil {
		t.Fatal(err)
	}
	real, rows, err := RecordSpectra(a, ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || !strings.HasPrefix(rows[0].Label, "DDIM-50") || rows[1].Label != "DDPM-1000" || len(real) != quality.SpectrumBands {
		t.Fatalf("rows %+v, real %v", rows, real)
	}
	excess := func(r SamplerSpectrum) float64 {
		e := 0.0
		for b := 12; b < quality.SpectrumBands; b++ {
			e += (r.Spectrum[b] - real[b]) / 4
		}
		return e
	}
	if e := excess(rows[0]); e < 0.15 {
		t.Errorf("DDIM-50 mean log10 power excess in bands 12-15: %.3f, the finding says > 0.15", e)
	}
	if e := excess(rows[1]); math.Abs(e) > 0.1 {
		t.Errorf("DDPM-1000 excess in bands 12-15: %.3f, the finding says within 0.1", e)
	}
	gap, worst := 0.0, ""
	for i, g := range rows[0].Groups {
		if d := g.FD - rows[1].Groups[i].FD; d > gap {
			gap, worst = d, g.Group
		}
	}
	if worst != "spectrum" {
		t.Errorf("largest DDIM-minus-DDPM group FD is %q (+%.1f), the finding says spectrum", worst, gap)
	}
}

package ch2

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dmseg/dmseg/kernels/artifacts"
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
	if md := tab.Markdown(); !strings.Contains(md, "DDPM-1000") {
		t.Errorf("markdown lacks the DDPM-1000 rows:\n%s", md)
	}
}

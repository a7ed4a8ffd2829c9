package ch2

import (
	"strings"
	"testing"

	"github.com/dmseg/dmseg/kernels/artifacts"
	"github.com/dmseg/dmseg/kernels/runners/ddpmuncond"
)

func TestSamplerSettings(t *testing.T) {
	for _, c := range []struct {
		s    ddpmuncond.SamplerSpec
		want string
	}{
		{ddpmuncond.SamplerSpec{Sampler: "ddim", Steps: 50, Spacing: "trailing", ClipX0: 1}, "50 steps, trailing spacing, eta 0, x0_hat clipped to [-1, 1]"},
		{ddpmuncond.SamplerSpec{Sampler: "ddim", Steps: 50, Spacing: "compvis", Eta: 0.5}, "50 steps, compvis spacing, eta 0.5, x0_hat not clipped"},
		{ddpmuncond.SamplerSpec{Sampler: "ddpm", Steps: 1000, Eta: 1, ClipX0: 1}, "ancestral, 1000 steps, x0_hat clipped to [-1, 1]"},
	} {
		if got := samplerSettings(c.s); got != c.want {
			t.Errorf("%+v: %q, want %q", c.s, got, c.want)
		}
	}
}

// The committed fig10-quality table names what each of its sampler rows ran,
// from the record's protocol.
func TestQualityTableNamesSamplers(t *testing.T) {
	a, err := artifacts.Open(artifacts.Root(), "ch2-ddpm-uncond-cpu-20261203-46708091")
	if err != nil {
		t.Skip("artifact not committed: ", err)
	}
	ev, err := QualityEval(a)
	if err != nil {
		t.Fatal(err)
	}
	tab, err := QualityTable(a, ev)
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := ddpmuncond.Quality(ev)
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(tab.Notes, "\n")
	for _, s := range p.Samplers {
		if want := "Sampler " + s.Label() + ": " + samplerSettings(s); !strings.Contains(notes, want) {
			t.Errorf("no note %q in\n%s", want, notes)
		}
	}
}

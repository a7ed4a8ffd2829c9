package ch5

import (
	"bytes"
	"image/png"
	"strings"
	"testing"

	"github.com/dmseg/dmseg/kernels/experiments"
	"github.com/dmseg/dmseg/kernels/tables"
)

// Every row model of Tables 4-5 is a defined latent experiment of its family.
func TestModelsAreExperiments(t *testing.T) {
	for family, kind := range map[string]string{"ldm": experiments.KindLDMSeg, "lbbdm": experiments.KindLBBDMSeg} {
		ms := Models(family)
		if len(ms) != 4 {
			t.Fatalf("%s: %d models", family, len(ms))
		}
		for _, m := range ms {
			e, err := experiments.Get(m.Experiment)
			if err != nil || e.Kind != kind || e.Data.Phantom.Task != m.Task {
				t.Errorf("%s: %v %+v", m.Experiment, err, e.Kind)
			}
		}
	}
}

// Figure 17's published points: per task the pixel DDPM and BBDM and the four
// latent models, with the thesis's values (e.g. LDM-f8 infection Dice 0.4696,
// LBBDM-f4 lung MCC 0.9400 as printed); the figure renders them.
func TestFigure17Published(t *testing.T) {
	pts, err := PublishedPoints()
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 12 {
		t.Fatalf("%d points, want 12", len(pts))
	}
	found := 0
	for _, q := range pts {
		if q.Task == tables.TaskInfection && q.Family == "DDPM" && q.Rate == 8 && q.Dice == 0.4696 {
			found++
		}
		if q.Task == tables.TaskLung && q.Family == "BBDM" && q.Rate == 4 && q.MCC == 0.9400 {
			found++
		}
		if q.Task == tables.TaskLung && q.Family == "DDPM" && q.Rate == 1 && q.Dice != 0.9541 {
			t.Errorf("pixel DDPM lung must be concatenation (0.9541), got %v", q.Dice)
		}
	}
	if found != 2 {
		t.Fatalf("published values not found: %+v", pts)
	}
	b, err := Figure17(pts, "stamp")
	if err != nil {
		t.Fatal(err)
	}
	if img, err := png.Decode(bytes.NewReader(b)); err != nil || img.Bounds().Dx() < 600 {
		t.Fatalf("png: %v", err)
	}
	if _, err := Figure17(nil, ""); err == nil {
		t.Error("no points accepted")
	}
}

// Without VQ-GAN artifacts the table names all six as not trained and
// Figure 16 refuses.
func TestVQTableEmpty(t *testing.T) {
	tab, vqs, err := VQTable(t.TempDir())
	if err != nil || len(vqs) != 0 || len(tab.Rows) != 0 || len(tab.Notes) != 1 || strings.Count(tab.Notes[0], "ch5-vqgan-") != 7 {
		t.Fatalf("%v %+v", err, tab)
	}
	if _, err := Figure16(nil, 2); err == nil {
		t.Error("Figure 16 without records accepted")
	}
}

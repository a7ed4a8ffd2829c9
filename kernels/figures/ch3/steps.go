package ch3

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/dmseg/dmseg/kernels/artifacts"
	"github.com/dmseg/dmseg/kernels/experiments"
	"github.com/dmseg/dmseg/kernels/figures/synthesis"
	"github.com/dmseg/dmseg/kernels/runners/segeval"
	"github.com/dmseg/dmseg/kernels/tables"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// StepPoint is one sampler setting of a model: its pooled Dice and the
// seconds per image the evaluation took.
type StepPoint struct {
	Sampler         string // "ddim", "ddpm" or "bbdm"
	Steps           int
	Eta             float64
	Seed            int64 // the record's sampling seed
	Dice            float64
	SecondsPerImage float64
	Eval            string
	N               int // images evaluated
}

// StepsStudy is the model of the Dice-vs-steps study (the best chapter-3
// lung DDPM at the CPU size) and StepsN the images it is evaluated on: the
// first 50 of the validation split, so that DDPM-1000 fits a CPU budget.
const (
	StepsStudy = "ch3-ddpm-concat-lung-cpu"
	StepsN     = 50
)

// StepPoints collects, from every single-sample segmentation record of an
// artifact on one split and n images (n = 0: any), the sampler's steps and
// eta, the pooled Dice re-derived from the stored masks and the time per image
// (records made with `dmseg evaluate --ddim-steps S --n N`, and `--samplers
// ddpm` for DDPM-1000; for a bridge `--steps S`), sorted by sampler, steps and
// seed, with every number that differs from its record.
func StepPoints(a *artifacts.Artifact, split string, n int) ([]StepPoint, []string, error) {
	evs, err := a.Evals()
	if err != nil {
		return nil, nil, err
	}
	var pts []StepPoint
	var diffs []string
	for _, ev := range evs {
		if ev.Record.Name != segeval.EvalName {
			continue
		}
		p, _, err := segeval.Open(ev)
		if err != nil {
			return nil, nil, err
		}
		if p.Samples != 1 || p.Split != split || (n > 0 && p.N != n) {
			continue
		}
		var m segeval.Method
		if err := p.DecodeMethod(&m); err != nil || m.NumSteps() == 0 {
			continue // not a sampler (e.g. a forward pass)
		}
		eta := 0.0
		if m.Eta != nil {
			eta = *m.Eta
		}
		res, err := Recompute(Model{Label: fmt.Sprintf("%s-%d", m.Sampler, m.NumSteps()), Experiment: a.Manifest.ID}, a, ev)
		if err != nil {
			return nil, nil, err
		}
		diffs = append(diffs, res.Diffs...)
		pts = append(pts, StepPoint{Sampler: m.Sampler, Steps: m.NumSteps(), Eta: eta, Seed: p.Seed, Dice: res.Summary.Pooled.Dice,
			SecondsPerImage: ev.Record.Timings["seconds_per_image_sample"], Eval: ev.Record.ID, N: p.N})
	}
	sort.Slice(pts, func(i, j int) bool {
		if pts[i].Sampler != pts[j].Sampler {
			return pts[i].Sampler > pts[j].Sampler // ddim first
		}
		if pts[i].Steps != pts[j].Steps {
			return pts[i].Steps < pts[j].Steps
		}
		if pts[i].Eta != pts[j].Eta {
			return pts[i].Eta < pts[j].Eta
		}
		return pts[i].Seed < pts[j].Seed
	})
	return pts, diffs, nil
}

// StepsTable is the table of chapter 3's steps study: pooled Dice and
// seconds per image for each sampler setting of one artifact.
func StepsTable(a *artifacts.Artifact, pts []StepPoint) *tables.Table {
	t := NewStepsTable("ch3-steps", a, pts, "(beyond the thesis, which uses DDIM-50 only)")
	t.Notes = []string{"Made with `dmseg evaluate --artifact " + a.Manifest.ID + " --n " + fmt.Sprint(StepsN) + " --ddim-steps S` for each S and `--samplers ddpm` for DDPM-1000 (scripts/ch3-steps.sh)."}
	return t
}

// NewStepsTable is a Dice-vs-steps table with id: one row per point (sampler
// and steps), pooled Dice and seconds per image; why says what it adds to
// the thesis.
func NewStepsTable(id string, a *artifacts.Artifact, pts []StepPoint, why string) *tables.Table {
	t := &tables.Table{ID: id, Title: "Dice vs sampling steps (" + a.Manifest.Experiment + ")",
		Caption: "Pooled Dice and seconds per image of one sample per image, by sampler and number of network calls, on the first images of the phantom validation split " +
			why + ". Seconds are wall-clock on the record's backend and machine.",
		Columns:   []tables.Column{{Key: "dice", Header: "Dice", Digits: 4}, {Key: "seconds_per_image", Header: "s / image", Digits: 3}},
		Tolerance: map[string]float64{"dice": 0.01}}
	var rc experiments.RunConfig
	task := tables.TaskLung
	if a.DecodeConfig(&rc) == nil && rc.Experiment.Data.Phantom.Task != "" {
		task = rc.Experiment.Data.Phantom.Task
	}
	for _, q := range pts {
		t.Rows = append(t.Rows, tables.Row{Label: fmt.Sprintf("%s-%d", strings.ToUpper(q.Sampler), q.Steps), Task: task, Source: tables.SourceDMSeg,
			Dataset: "phantom", Artifact: a.Manifest.ID, Eval: q.Eval, Metrics: map[string]float64{"dice": q.Dice, "seconds_per_image": q.SecondsPerImage}, N: q.N})
	}
	return t
}

// samplerLegend names a sampler in the steps figure.
func samplerLegend(q StepPoint) string {
	switch q.Sampler {
	case "ddpm":
		return "DDPM (ancestral)"
	case "bbdm":
		return fmt.Sprintf("BBDM skip-step (eta %g)", q.Eta)
	}
	return fmt.Sprintf("DDIM (eta %g)", q.Eta)
}

// StepsFigure plots pooled Dice and seconds per image against the number of
// sampling steps (log axis), DDIM (or the bridge's sampler) as a line, DDPM
// as a separate marker; pts hold one sampler besides DDPM.
func StepsFigure(title string, pts []StepPoint, stamp string) ([]byte, error) {
	if len(pts) == 0 {
		return nil, fmt.Errorf("steps figure: no points")
	}
	mk := func(ylabel string, y func(StepPoint) float64) (*plot.Plot, error) {
		p := plot.New()
		p.X.Label.Text = "sampling steps (network calls)"
		p.Y.Label.Text = ylabel
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
		var line, ddpm plotter.XYs
		lineName := ""
		for _, q := range pts {
			if q.Sampler == "ddpm" {
				ddpm = append(ddpm, plotter.XY{X: float64(q.Steps), Y: y(q)})
			} else {
				line = append(line, plotter.XY{X: float64(q.Steps), Y: y(q)})
				lineName = samplerLegend(q)
			}
		}
		if len(line) > 0 {
			l, s, err := plotter.NewLinePoints(line)
			if err != nil {
				return nil, err
			}
			p.Add(l, s)
			p.Legend.Add(lineName, l, s)
		}
		if len(ddpm) > 0 {
			s, err := plotter.NewScatter(ddpm)
			if err != nil {
				return nil, err
			}
			s.Shape = draw.CrossGlyph{}
			s.Radius = vg.Points(5)
			p.Add(s)
			p.Legend.Add("DDPM (ancestral)", s)
		}
		p.Legend.Top, p.Legend.Left = false, false
		return p, nil
	}
	dice, err := mk("pooled Dice", func(q StepPoint) float64 { return q.Dice })
	if err != nil {
		return nil, err
	}
	dice.Title.Text = title
	sec, err := mk("seconds per image", func(q StepPoint) float64 { return q.SecondsPerImage })
	if err != nil {
		return nil, err
	}
	sec.Y.Scale = plot.LogScale{}
	sec.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	sec.X.Label.Text = stamp
	sec.X.Label.TextStyle.Font.Size = vg.Points(7)
	w := vg.Length(6) * vg.Inch
	c := vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, w), vgimg.UseDPI(96))}
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadY: vg.Points(6)}
	plots := [][]*plot.Plot{{dice}, {sec}}
	canvases := plot.Align(plots, tiles, draw.New(c))
	dice.Draw(canvases[0][0])
	sec.Draw(canvases[1][0])
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return nil, err
	}
	return synthesis.WithText(b.Bytes(), map[string]string{"dmseg-stamp": stamp, "Title": title})
}

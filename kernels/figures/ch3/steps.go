package ch3

import (
	"bytes"
	"fmt"
	"sort"

	"github.com/dmseg/dmseg/kernels/artifacts"
	"github.com/dmseg/dmseg/kernels/figures/synthesis"
	"github.com/dmseg/dmseg/kernels/runners/segeval"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// StepPoint is one sampler setting of a model: its pooled Dice and the
// seconds per image the evaluation took.
type StepPoint struct {
	Sampler         string // "ddim" or "ddpm"
	Steps           int
	Dice            float64
	SecondsPerImage float64
	Eval            string
}

// StepPoints collects, from every single-sample segmentation record of an
// artifact on one split, the sampler's steps, the pooled Dice and the time
// per image (records made with `dmseg evaluate --ddim-steps S`, and
// `--samplers ddpm` for DDPM-1000), sorted by steps.
func StepPoints(a *artifacts.Artifact, split string) ([]StepPoint, error) {
	evs, err := a.Evals()
	if err != nil {
		return nil, err
	}
	var pts []StepPoint
	for _, ev := range evs {
		if ev.Record.Name != segeval.EvalName {
			continue
		}
		p, r, err := segeval.Open(ev)
		if err != nil {
			return nil, err
		}
		if p.Samples != 1 || p.Split != split {
			continue
		}
		var m struct {
			Sampler string `json:"sampler"`
			Steps   int    `json:"steps"`
		}
		if err := p.DecodeMethod(&m); err != nil || m.Steps == 0 {
			continue // not a DDPM sampler (e.g. a forward pass)
		}
		pts = append(pts, StepPoint{Sampler: m.Sampler, Steps: m.Steps, Dice: r.Pooled.Dice,
			SecondsPerImage: ev.Record.Timings["seconds_per_image_sample"], Eval: ev.Record.ID})
	}
	sort.Slice(pts, func(i, j int) bool { return pts[i].Steps < pts[j].Steps })
	return pts, nil
}

// StepsFigure plots pooled Dice and seconds per image against the number of
// sampling steps (log axis), DDIM as a line, DDPM as a separate marker.
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
		var ddim, ddpm plotter.XYs
		for _, q := range pts {
			if q.Sampler == "ddpm" {
				ddpm = append(ddpm, plotter.XY{X: float64(q.Steps), Y: y(q)})
			} else {
				ddim = append(ddim, plotter.XY{X: float64(q.Steps), Y: y(q)})
			}
		}
		if len(ddim) > 0 {
			l, s, err := plotter.NewLinePoints(ddim)
			if err != nil {
				return nil, err
			}
			p.Add(l, s)
			p.Legend.Add("DDIM (eta 0)", l, s)
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

package train

import (
	"bytes"
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/dmseg/dmseg/kernels/atomicfile"
)

// PlotLossCSV renders loss.csv as a PNG: the per-step loss (light) and its
// moving average over 1% of the run (dark), log-scaled loss axis.
func PlotLossCSV(csvPath, pngPath, title string) error {
	rows, err := ReadLossCSV(csvPath)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return fmt.Errorf("%s: no rows to plot", csvPath)
	}
	p := plot.New()
	if title == "" {
		title = "training loss"
	}
	p.Title.Text = title
	p.X.Label.Text = "step"
	p.Y.Label.Text = "loss"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.X.Tick.Marker = intTicks{}
	raw := make(plotter.XYs, 0, len(rows))
	for _, r := range rows {
		if r.Loss > 0 && !math.IsInf(r.Loss, 0) {
			raw = append(raw, plotter.XY{X: float64(r.Step), Y: r.Loss})
		}
	}
	if len(raw) == 0 {
		return fmt.Errorf("%s: no positive finite losses to plot", csvPath)
	}
	win := max(1, len(raw)/100)
	smooth := make(plotter.XYs, 0, len(raw))
	sum := 0.0
	for i := range raw {
		sum += raw[i].Y
		if i >= win {
			sum -= raw[i-win].Y
		}
		n := min(i+1, win)
		smooth = append(smooth, plotter.XY{X: raw[i].X, Y: sum / float64(n)})
	}
	l1, err := plotter.NewLine(raw)
	if err != nil {
		return err
	}
	l1.Color = color.RGBA{R: 150, G: 180, B: 230, A: 255}
	l2, err := plotter.NewLine(smooth)
	if err != nil {
		return err
	}
	l2.Color = color.RGBA{R: 20, G: 40, B: 140, A: 255}
	l2.Width = vg.Points(1.5)
	p.Add(l1, l2)
	p.Legend.Add("loss", l1)
	p.Legend.Add(fmt.Sprintf("moving mean (%d rows)", win), l2)
	p.Legend.Top = true
	w, err := p.WriterTo(6*vg.Inch, 3.5*vg.Inch, "png")
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		return err
	}
	return atomicfile.Write(pngPath, buf.Bytes())
}

// intTicks are gonum's default ticks labelled as integers (steps).
type intTicks struct{}

func (intTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = fmt.Sprintf("%.0f", ts[i].Value)
		}
	}
	return ts
}

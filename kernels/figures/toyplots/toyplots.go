// Package toyplots draws the figures of the Chapter 1 notebook with gonum/plot and
// returns them as PNG bytes (for gonbui.DisplayPNG or a file): line plots of
// schedules, scatter plots of 2-D point clouds, rows of panels, and trajectories.
package toyplots

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	imgdraw "image/draw"
	"image/png"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Palette is the colour cycle of every figure.
var Palette = []color.NRGBA{
	{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255},
	{148, 103, 189, 255}, {140, 86, 75, 255}, {227, 119, 194, 255}, {127, 127, 127, 255},
}

// Series is one line of a line plot.
type Series struct {
	Name string
	X, Y []float64
}

// Lines draws series against a shared x axis; logY uses a logarithmic y axis (non-positive values dropped).
func Lines(title, xlabel, ylabel string, logY bool, series ...Series) ([]byte, error) {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, xlabel, ylabel
	if logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	for i, s := range series {
		if len(s.X) != len(s.Y) {
			return nil, fmt.Errorf("toyplots: series %q has %d x and %d y values", s.Name, len(s.X), len(s.Y))
		}
		xy := make(plotter.XYs, 0, len(s.X))
		for k := range s.X {
			if logY && !(s.Y[k] > 0) || math.IsNaN(s.Y[k]) || math.IsInf(s.Y[k], 0) {
				continue
			}
			xy = append(xy, plotter.XY{X: s.X[k], Y: s.Y[k]})
		}
		l, err := plotter.NewLine(xy)
		if err != nil {
			return nil, err
		}
		l.Color = Palette[i%len(Palette)]
		l.Width = vg.Points(1.5)
		p.Add(l)
		if s.Name != "" {
			p.Legend.Add(s.Name, l)
		}
	}
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return render(p, 6*vg.Inch, 3.6*vg.Inch)
}

// Cloud is a set of 2-D points, flat [x0, y0, x1, y1, ...].
type Cloud struct {
	Name   string
	Points []float32
}

// scatterPlot builds the plot of a few clouds with equal axes over [-lim, lim].
func scatterPlot(title string, lim float64, clouds ...Cloud) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = -lim, lim, -lim, lim
	for i, c := range clouds {
		xy := make(plotter.XYs, 0, len(c.Points)/2)
		for k := 0; k+1 < len(c.Points); k += 2 {
			x, y := float64(c.Points[k]), float64(c.Points[k+1])
			if math.Abs(x) <= lim && math.Abs(y) <= lim {
				xy = append(xy, plotter.XY{X: x, Y: y})
			}
		}
		s, err := plotter.NewScatter(xy)
		if err != nil {
			return nil, err
		}
		col := Palette[i%len(Palette)]
		col.A = 120
		s.GlyphStyle.Color = col
		s.GlyphStyle.Radius = vg.Points(1.1)
		p.Add(s)
		if c.Name != "" {
			p.Legend.Add(c.Name, s)
		}
	}
	p.Legend.Top = true
	return p, nil
}

// Scatter draws one or more point clouds on equal axes [-lim, lim]^2.
func Scatter(title string, lim float64, clouds ...Cloud) ([]byte, error) {
	p, err := scatterPlot(title, lim, clouds...)
	if err != nil {
		return nil, err
	}
	return render(p, 4.5*vg.Inch, 4.5*vg.Inch)
}

// Panel is one scatter panel of a Row.
type Panel struct {
	Title  string
	Clouds []Cloud
}

// Row draws scatter panels side by side (e.g. the forward process at several t).
func Row(lim float64, panels ...Panel) ([]byte, error) {
	const side = 2.6 * vg.Inch
	var imgs []image.Image
	for _, pn := range panels {
		p, err := scatterPlot(pn.Title, lim, pn.Clouds...)
		if err != nil {
			return nil, err
		}
		b, err := render(p, side, side)
		if err != nil {
			return nil, err
		}
		im, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		imgs = append(imgs, im)
	}
	return hstack(imgs)
}

// Trajectories draws the paths of a few points through a sampler (paths[k] is the flat
// [x0, y0, ...] state after step k, all of the same length), over start and end clouds.
// Long paths are thinned to at most 200 evenly spaced states (first and last kept).
func Trajectories(title string, lim float64, paths [][]float32, maxPaths int, start, end Cloud) ([]byte, error) {
	p, err := scatterPlot(title, lim, start, end)
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return render(p, 4.5*vg.Inch, 4.5*vg.Inch)
	}
	if len(paths) > 200 {
		stride := (len(paths) + 198) / 199
		var thin [][]float32
		for k := 0; k < len(paths)-1; k += stride {
			thin = append(thin, paths[k])
		}
		paths = append(thin, paths[len(paths)-1])
	}
	n := len(paths[0]) / 2
	for j := 0; j < n && j < maxPaths; j++ {
		xy := make(plotter.XYs, 0, len(paths))
		for _, st := range paths {
			xy = append(xy, plotter.XY{X: float64(st[2*j]), Y: float64(st[2*j+1])})
		}
		l, err := plotter.NewLine(xy)
		if err != nil {
			return nil, err
		}
		l.Color = color.NRGBA{60, 60, 60, 110}
		l.Width = vg.Points(0.6)
		p.Add(l)
	}
	return render(p, 4.5*vg.Inch, 4.5*vg.Inch)
}

func render(p *plot.Plot, w, h vg.Length) ([]byte, error) {
	c := vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(96))}
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func hstack(imgs []image.Image) ([]byte, error) {
	w, h := 0, 0
	for _, im := range imgs {
		w += im.Bounds().Dx()
		h = max(h, im.Bounds().Dy())
	}
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	x := 0
	for _, im := range imgs {
		r := im.Bounds()
		imgdraw.Draw(out, image.Rect(x, 0, x+r.Dx(), r.Dy()), im, r.Min, imgdraw.Src)
		x += r.Dx()
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, out); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

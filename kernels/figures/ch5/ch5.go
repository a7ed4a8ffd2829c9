// Package ch5 makes chapter 5's outputs from evaluation records: Tables 4
// (LDM) and 5 (LBBDM) with the published rows beside ours, the VQ-GAN
// reconstruction table (the ceiling of any latent segmentation, which the
// thesis never measured), Figure 16 (originals beside their f4 and f8
// reconstructions) and Figure 17 (Dice and MCC against the downsampling
// rate 1, 4, 8 for the DDPM/LDM and BBDM/LBBDM families, published and ours).
package ch5

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"sort"
	"strings"

	"github.com/dmseg/dmseg/kernels/artifacts"
	"github.com/dmseg/dmseg/kernels/data/dataset"
	"github.com/dmseg/dmseg/kernels/experiments"
	"github.com/dmseg/dmseg/kernels/figures/ch3"
	"github.com/dmseg/dmseg/kernels/figures/synthesis"
	"github.com/dmseg/dmseg/kernels/imageio"
	"github.com/dmseg/dmseg/kernels/metrics/quality"
	"github.com/dmseg/dmseg/kernels/runners"
	_ "github.com/dmseg/dmseg/kernels/runners/latentseg" // registers the latent predictors and runners
	vqrun "github.com/dmseg/dmseg/kernels/runners/vqgan"
	"github.com/dmseg/dmseg/kernels/tables"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Factors are the downsampling rates of chapter 5.
var Factors = []string{"f4", "f8"}

// Models are our rows of Table 4 (family "ldm") or Table 5 ("lbbdm") at the
// CPU size, in the thesis's order: f4 then f8, lung then infection.
func Models(family string) []ch3.Model {
	label := map[string]string{"ldm": "LDM", "lbbdm": "LBBDM"}[family]
	var ms []ch3.Model
	for _, task := range []string{tables.TaskLung, tables.TaskInfection} {
		for _, f := range Factors {
			ms = append(ms, ch3.Model{Label: label + "-" + f, Experiment: "ch5-" + family + "-" + task + "-" + f + "-cpu", Task: task})
		}
	}
	return ms
}

// Table4 is Table 4 (the latent DDPMs) with our rows.
//
// thesis: table4
func Table4(root string, verify bool) (*tables.Table, []*ch3.Result, []string, error) {
	return ch3.SegTable(root, "table4", "Thesis Table 4 and dmseg's latent DDPMs (f4, f8; lung and infection)", Models("ldm"),
		"one DDIM-50 sample per image in the latent space, decoded by the mask VQ-GAN", verify)
}

// Table5 is Table 5 (the latent bridges) with our rows.
//
// thesis: table5
func Table5(root string, verify bool) (*tables.Table, []*ch3.Result, []string, error) {
	return ch3.SegTable(root, "table5", "Thesis Table 5 and dmseg's latent BBDMs (f4, f8; lung and infection)", Models("lbbdm"),
		"one bridge sample per image in the latent space (200 skip steps, eta 1), decoded by the mask VQ-GAN", verify)
}

// VQTargets are the three VQ-GAN subjects, as in the experiment names.
var VQTargets = []string{"xray", "lung", "infection"}

// VQ is a VQ-GAN's reconstruction record.
type VQ struct {
	Experiment string
	Artifact   *artifacts.Artifact
	Eval       *artifacts.Eval
	Protocol   vqrun.Protocol
	Results    vqrun.Results
}

// OpenVQ finds the current artifact of a VQ-GAN experiment and its newest
// reconstruction record of the whole held-out split (ch3.ErrNotTrained when
// the experiment has no artifact).
func OpenVQ(root, experiment string) (*VQ, error) {
	a, err := runners.CurrentArtifact(root, experiment)
	if err != nil {
		if errors.Is(err, artifacts.ErrNotFound) || errors.Is(err, runners.ErrOutdated) {
			return nil, fmt.Errorf("%w: %v", ch3.ErrNotTrained, err)
		}
		return nil, err
	}
	var rc experiments.RunConfig
	if err := a.DecodeConfig(&rc); err != nil {
		return nil, err
	}
	evs, err := a.ReadEvals()
	if err != nil {
		return nil, err
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].Record.CreatedAt > evs[j].Record.CreatedAt })
	want := rc.Experiment.Data.Phantom.NVal
	for _, ev := range evs {
		if ev.Record.Name != vqrun.EvalName {
			continue
		}
		v := &VQ{Experiment: experiment, Artifact: a, Eval: ev}
		if err := ev.Decode(vqrun.EvalName, &v.Protocol, &v.Results); err != nil {
			return nil, err
		}
		if v.Protocol.Split == rc.Experiment.Data.HeldOut && (want == 0 || v.Protocol.N == want) {
			return v, nil
		}
	}
	return nil, fmt.Errorf("artifact %s has no reconstruction record of its whole %s split; make one with `dmseg evaluate --artifact %s`",
		a.Manifest.ID, rc.Experiment.Data.HeldOut, a.Manifest.ID)
}

// VQTable is the reconstruction table (ch5-vqgan) of the six CPU VQ-GANs:
// PSNR and L1 for all, the pooled Dice and MCC of the thresholded mask
// reconstruction against the mask for the mask VQ-GANs, codebook usage and
// perplexity. It returns the records found.
func VQTable(root string) (*tables.Table, []*VQ, error) {
	t := &tables.Table{ID: "ch5-vqgan", Title: "VQ-GAN reconstructions of the held-out phantoms (CPU size)",
		Caption: "Per VQ-GAN: mean PSNR (data range 2) and L1 of the reconstruction; for X-ray VQ-GANs the mean SSIM (Gaussian 11x11, sigma 1.5, 8-bit), " +
			"re-derived from the stored reconstructions; for mask VQ-GANs the pooled Dice and MCC of the reconstruction thresholded at 0.5 " +
			"against the mask, the ceiling of every latent segmentation decoded by it (the thesis does not measure it); codes used of the codebook and the perplexity of their histogram.",
		Columns: []tables.Column{{Key: "psnr", Header: "PSNR dB", Digits: 2}, {Key: "l1", Header: "L1", Digits: 4},
			{Key: "ssim", Header: "SSIM", Digits: 4},
			{Key: tables.Dice, Header: "Dice", Digits: 4}, {Key: tables.MCC, Header: "MCC", Digits: 4},
			{Key: "used_codes", Header: "codes used", Digits: 0}, {Key: "codebook", Header: "codebook", Digits: 0},
			{Key: "perplexity", Header: "perplexity", Digits: 1}}}
	var found []*VQ
	var missing []string
	for _, f := range Factors {
		for _, target := range VQTargets {
			name := "ch5-vqgan-" + target + "-" + f + "-cpu"
			v, err := OpenVQ(root, name)
			if errors.Is(err, ch3.ErrNotTrained) {
				missing = append(missing, name)
				continue
			}
			if err != nil {
				return nil, nil, err
			}
			found = append(found, v)
			r := v.Results
			m := map[string]float64{"psnr": r.PSNR, "l1": r.L1, "used_codes": float64(r.UsedCodes), "codebook": float64(r.CodebookSize), "perplexity": r.Perplexity}
			task := target
			if r.Seg != nil {
				m[tables.Dice], m[tables.MCC] = r.Seg.Pooled.Dice, r.Seg.Pooled.MCC
			} else {
				task = "X-ray"
				if m["ssim"], err = ReconSSIM(v); err != nil {
					return nil, nil, err
				}
			}
			t.Rows = append(t.Rows, tables.Row{Label: "VQ-GAN " + f + " " + target, Task: task, Source: tables.SourceDMSeg, Dataset: "phantom",
				Artifact: v.Artifact.Manifest.ID, Eval: v.Eval.Record.ID, Backend: v.Eval.Record.Backend.Name, N: r.N, Metrics: m})
		}
	}
	// The codebook-collapse ablation: the f8 lung VQ-GAN trained again with dead-code restarts.
	const ablation = "ch5-vqgan-lung-f8-restart-cpu"
	switch v, err := OpenVQ(root, ablation); {
	case errors.Is(err, ch3.ErrNotTrained):
		missing = append(missing, ablation)
	case err != nil:
		return nil, nil, err
	default:
		r := v.Results
		t.Rows = append(t.Rows, tables.Row{Label: "VQ-GAN f8 lung + dead-code restarts (ablation)", Task: "lung", Source: tables.SourceDMSeg, Dataset: "phantom",
			Artifact: v.Artifact.Manifest.ID, Eval: v.Eval.Record.ID, Backend: v.Eval.Record.Backend.Name, N: r.N,
			Metrics: map[string]float64{"psnr": r.PSNR, "l1": r.L1, tables.Dice: r.Seg.Pooled.Dice, tables.MCC: r.Seg.Pooled.MCC,
				"used_codes": float64(r.UsedCodes), "codebook": float64(r.CodebookSize), "perplexity": r.Perplexity}})
	}
	if len(missing) > 0 {
		t.Notes = append(t.Notes, "Not trained yet: "+strings.Join(missing, ", ")+" (scripts/train-all.sh).")
	}
	return t, found, nil
}

// Figure16 is Figure 16 extended to the masks: for n held-out images, rows
// X-ray, lung mask, infection mask; columns the original, then its f4 and f8
// reconstruction, from the stored reconstruction strips.
//
// thesis: fig16
func Figure16(vqs []*VQ, n int) ([]byte, error) {
	byName := map[string]*VQ{}
	for _, v := range vqs {
		byName[v.Experiment] = v
	}
	var cells []*image.Gray
	var rowLabels, stamps []string
	for _, target := range VQTargets {
		var row [3][]*image.Gray
		ok := true
		for k, f := range Factors {
			v := byName["ch5-vqgan-"+target+"-"+f+"-cpu"]
			if v == nil {
				ok = false
				break
			}
			set, rec, err := v.Reconstructions()
			if err != nil {
				return nil, err
			}
			hw := set.H * set.W
			if len(rec) < n*hw || set.N < n {
				return nil, fmt.Errorf("Figure 16: %s holds fewer than %d images", v.Eval.Record.ID, n)
			}
			for i := 0; i < n; i++ {
				if k == 0 {
					src := set.Images
					if v.Protocol.Target == "mask" {
						src = set.Masks
					}
					row[0] = append(row[0], gray(src[i*hw:(i+1)*hw], set.W))
				}
				row[k+1] = append(row[k+1], gray(rec[i*hw:(i+1)*hw], set.W))
			}
			stamps = append(stamps, v.Artifact.Manifest.ID+"/"+v.Eval.Record.ID)
		}
		if !ok {
			continue
		}
		for i := 0; i < n; i++ {
			cells = append(cells, row[0][i], row[1][i], row[2][i])
		}
		rowLabels = append(rowLabels, target)
	}
	if len(cells) == 0 {
		return nil, fmt.Errorf("Figure 16: no subject has both an f4 and an f8 reconstruction record")
	}
	grid, err := synthesis.Grid(cells, 3*n, 4, 3)
	if err != nil {
		return nil, err
	}
	var cols []string
	for i := 0; i < n; i++ {
		cols = append(cols, "original", "f4", "f8")
	}
	// The caption names each VQ-GAN by subject, rate and artifact uuid prefix; the full
	// artifact/record ids go into the PNG's text.
	var short []string
	for _, st := range stamps {
		id, _, _ := strings.Cut(st, "/")
		exp := strings.TrimSuffix(strings.TrimPrefix(id[:strings.LastIndex(id, "-20")], "ch5-vqgan-"), "-cpu")
		short = append(short, exp+" "+id[strings.LastIndex(id, "-")+1:])
	}
	png, err := synthesis.Labeled(grid, "Figure 16: VQ-GAN reconstructions of held-out phantoms", cols, rowLabels, strings.Join(short, ", "), 1.5*float64(3*n)+0.8)
	if err != nil {
		return nil, err
	}
	return synthesis.WithText(png, map[string]string{"dmseg-sources": strings.Join(stamps, " ")})
}

func gray(pix []uint8, w int) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, w, len(pix)/w))
	copy(g.Pix, pix)
	return g
}

// Point is one model of Figure 17: its family ("DDPM" or "BBDM"), the
// downsampling rate (1 = pixel space), the task and its pooled Dice and MCC,
// published or ours.
type Point struct {
	Family    string
	Rate      int
	Task      string
	Dice, MCC float64
	Published bool
	Source    string // artifact/eval, or the thesis table
}

// PublishedPoints are Figure 17's published values: the pixel DDPM
// (concatenation, as the LDM's concat_mode) and BBDM of Tables 1-3 and the
// latent models of Tables 4-5.
func PublishedPoints() ([]Point, error) {
	var pts []Point
	add := func(table, label, family string, rate int) error {
		rows, err := tables.Published(table)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if r.Label == label {
				pts = append(pts, Point{Family: family, Rate: rate, Task: r.Task, Dice: r.Metrics[tables.Dice], MCC: r.Metrics[tables.MCC], Published: true, Source: "thesis " + table})
			}
		}
		return nil
	}
	for _, s := range []struct {
		table, label, family string
		rate                 int
	}{
		{"table1", "DDPM concatenation", "DDPM", 1}, {"table2", "DDPM concatenation", "DDPM", 1}, {"table3", "BBDM", "BBDM", 1},
		{"table4", "LDM-f4", "DDPM", 4}, {"table4", "LDM-f8", "DDPM", 8}, {"table5", "LBBDM-f4", "BBDM", 4}, {"table5", "LBBDM-f8", "BBDM", 8},
	} {
		if err := add(s.table, s.label, s.family, s.rate); err != nil {
			return nil, err
		}
	}
	return pts, nil
}

// OurPoints are Figure 17's points from our CPU records: the pixel DDPM
// (concatenation) and BBDM, and the four latent models per task, for every
// model trained.
func OurPoints(root string) ([]Point, []string, error) {
	var pts []Point
	var diffs []string
	for _, task := range []string{tables.TaskLung, tables.TaskInfection} {
		ms := []struct {
			exp, family string
			rate        int
		}{
			{"ch3-ddpm-concat-" + task + "-cpu", "DDPM", 1}, {"ch4-bbdm-" + task + "-cpu", "BBDM", 1},
			{"ch5-ldm-" + task + "-f4-cpu", "DDPM", 4}, {"ch5-ldm-" + task + "-f8-cpu", "DDPM", 8},
			{"ch5-lbbdm-" + task + "-f4-cpu", "BBDM", 4}, {"ch5-lbbdm-" + task + "-f8-cpu", "BBDM", 8},
		}
		for _, m := range ms {
			r, err := ch3.Open(root, ch3.Model{Label: m.exp, Experiment: m.exp, Task: task}, false)
			if errors.Is(err, ch3.ErrNotTrained) {
				continue
			}
			if err != nil {
				return nil, nil, err
			}
			diffs = append(diffs, r.Diffs...)
			pts = append(pts, Point{Family: m.family, Rate: m.rate, Task: task, Dice: r.Summary.Pooled.Dice, MCC: r.Summary.Pooled.MCC,
				Source: r.Artifact.Manifest.ID + "/" + r.Eval.Record.ID})
		}
	}
	return pts, diffs, nil
}

// Figure17 plots Dice and MCC against the downsampling rate (1, 4, 8) for
// each family and task: the thesis's values dashed, ours solid.
//
// thesis: fig17
func Figure17(pts []Point, stamp string) ([]byte, error) {
	if len(pts) == 0 {
		return nil, fmt.Errorf("Figure 17: no points")
	}
	colors := map[string]color.Color{"DDPM": color.RGBA{R: 31, G: 119, B: 180, A: 255}, "BBDM": color.RGBA{R: 214, G: 39, B: 40, A: 255}}
	var grid [][]*plot.Plot
	for _, task := range []string{tables.TaskLung, tables.TaskInfection} {
		var row []*plot.Plot
		for _, metric := range []string{"Dice", "MCC"} {
			p := plot.New()
			p.Title.Text = task + ": " + metric
			p.X.Label.Text = "downsampling rate (1 = pixel space)"
			p.X.Tick.Marker = plot.ConstantTicks([]plot.Tick{{Value: 1, Label: "1"}, {Value: 4, Label: "4"}, {Value: 8, Label: "8"}})
			p.X.Min, p.X.Max = 0, 9
			for _, family := range []string{"DDPM", "BBDM"} {
				for _, published := range []bool{true, false} {
					var xy plotter.XYs
					for _, q := range pts {
						if q.Task == task && q.Family == family && q.Published == published {
							y := q.Dice
							if metric == "MCC" {
								y = q.MCC
							}
							xy = append(xy, plotter.XY{X: float64(q.Rate), Y: y})
						}
					}
					if len(xy) == 0 {
						continue
					}
					sort.Slice(xy, func(i, j int) bool { return xy[i].X < xy[j].X })
					l, s, err := plotter.NewLinePoints(xy)
					if err != nil {
						return nil, err
					}
					l.Color, s.Color = colors[family], colors[family]
					name := family + " family, ours (phantom)"
					if published {
						l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
						s.Shape = draw.CrossGlyph{}
						name = family + " family, thesis (COVID-QU-Ex)"
					}
					p.Add(l, s)
					p.Legend.Add(name, l, s)
				}
			}
			p.Legend.Top, p.Legend.Left = false, true
			p.Legend.TextStyle.Font.Size = vg.Points(7)
			row = append(row, p)
		}
		grid = append(grid, row)
	}
	grid[1][0].X.Label.Text = stamp
	grid[1][0].X.Label.TextStyle.Font.Size = vg.Points(6)
	w := vg.Length(9) * vg.Inch
	c := vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, vg.Length(7)*vg.Inch), vgimg.UseDPI(96))}
	canvases := plot.Align(grid, draw.Tiles{Rows: 2, Cols: 2, PadX: vg.Points(10), PadY: vg.Points(10)}, draw.New(c))
	for i := range grid {
		for j := range grid[i] {
			grid[i][j].Draw(canvases[i][j])
		}
	}
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return nil, err
	}
	return synthesis.WithText(b.Bytes(), map[string]string{"dmseg-stamp": stamp, "Title": "Figure 17: Dice and MCC vs downsampling rate"})
}

// ReconSSIM is the mean SSIM (quality.SSIM, 8-bit, data range 255) of a
// reconstruction record's stored reconstructions against the originals of
// its split, re-derived from the stored strip.
func ReconSSIM(v *VQ) (float64, error) {
	set, rec, err := v.Reconstructions()
	if err != nil {
		return 0, err
	}
	src := set.Images
	if v.Protocol.Target == "mask" {
		src = set.Masks
	}
	hw := set.H * set.W
	n := v.Protocol.N
	if len(rec) < n*hw || set.N < n {
		return 0, fmt.Errorf("evaluation %s: %d reconstructed pixels for %d images", v.Eval.Record.ID, len(rec), n)
	}
	a, b := make([]float64, hw), make([]float64, hw)
	sum := 0.0
	for i := 0; i < n; i++ {
		for k := 0; k < hw; k++ {
			a[k], b[k] = float64(src[i*hw+k]), float64(rec[i*hw+k])
		}
		s, err := quality.SSIM(a, b, set.W, set.H, 255)
		if err != nil {
			return 0, err
		}
		sum += s
	}
	return sum / float64(n), nil
}

// Reconstructions loads the record's split (as its artifact's config
// defines it) and decodes the stored reconstruction strip (8-bit pixels).
func (v *VQ) Reconstructions() (*dataset.Set, []uint8, error) {
	var rc experiments.RunConfig
	if err := v.Artifact.DecodeConfig(&rc); err != nil {
		return nil, nil, err
	}
	set, err := rc.Experiment.LoadSplit(v.Protocol.Split)
	if err != nil {
		return nil, nil, err
	}
	raw, err := v.Eval.ReadFile(vqrun.ReconFile)
	if err != nil {
		return nil, nil, err
	}
	rec, err := imageio.DecodeStrip(raw, set.W)
	if err != nil {
		return nil, nil, fmt.Errorf("evaluation %s: %w", v.Eval.Record.ID, err)
	}
	return set, rec, nil
}

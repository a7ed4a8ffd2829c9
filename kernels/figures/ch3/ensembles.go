package ch3

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"math"
	"strings"

	"github.com/dmseg/dmseg/kernels/artifacts"
	"github.com/dmseg/dmseg/kernels/data/dataset"
	"github.com/dmseg/dmseg/kernels/figures/synthesis"
	"github.com/dmseg/dmseg/kernels/imageio"
	"github.com/dmseg/dmseg/kernels/metrics/seg"
	"github.com/dmseg/dmseg/kernels/runners"
	"github.com/dmseg/dmseg/kernels/runners/segeval"
	"github.com/dmseg/dmseg/kernels/tables"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// EnsembleModels are the models of the ensemble study (beyond the thesis,
// which draws one sample per image): the best -cpu lung DDPM of Table 1 and
// the better -cpu infection DDPM of Table 2. Their records come from
// `dmseg evaluate --artifact <experiment> --samples 9`.
func EnsembleModels() []Model {
	return []Model{
		{"DDPM concatenation", "ch3-ddpm-concat-lung-cpu", tables.TaskLung},
		{"DDPM addition", "ch3-ddpm-add-infection-cpu", tables.TaskInfection},
	}
}

// Ensemble is one model's ensemble record: k = 1, 3, 5, 9 samples per image
// fused by SegDiff's rule (the mean of the binarised samples, then the 0.5
// threshold). Rows holds the record's metrics for every k; the embedded
// Result is the largest k re-derived from the stored masks (the only ensemble
// the record's files hold), and Diffs lists where it and the record's own
// k = K row differ.
type Ensemble struct {
	*Result
	Rows []segeval.EnsembleRow
	// Prob is the stored fused probability of the K samples, round(255 p), per pixel.
	Prob []uint8
	// MeanSampleStd is the record's mean per-pixel standard deviation of the K samples.
	MeanSampleStd float64
	// Single is the model's table record (one sample per image) when it exists, else nil.
	Single *Result
}

// EnsembleEval returns the newest record of a with more than one sample per
// image, made with the experiment's own protocol (held-out split, sampler)
// over the most images.
func EnsembleEval(a *artifacts.Artifact) (*artifacts.Eval, error) {
	q, _, _, err := ownProtocolRecords(a, true, func(samples int) bool { return samples > 1 })
	if err != nil {
		return nil, err
	}
	if len(q) == 0 {
		return nil, fmt.Errorf("%w: artifact %s has no ensemble record; make one with `dmseg evaluate --artifact %s --samples 9`",
			ErrNoEnsemble, a.Manifest.ID, a.Manifest.ID)
	}
	return q[0], nil
}

// ErrNoEnsemble says an artifact has no ensemble record yet.
var ErrNoEnsemble = errors.New("no ensemble record")

// OpenEnsemble opens m's newest artifact and its newest ensemble record and
// re-derives the fused masks' metrics (ErrNotTrained / ErrNoEnsemble when
// either is missing).
func OpenEnsemble(root string, m Model) (*Ensemble, error) {
	a, err := runners.CurrentArtifact(root, m.Experiment)
	if err != nil {
		if errors.Is(err, artifacts.ErrNotFound) || errors.Is(err, runners.ErrOutdated) {
			return nil, fmt.Errorf("%w: %v", ErrNotTrained, err)
		}
		return nil, err
	}
	ev, err := EnsembleEval(a)
	if err != nil {
		return nil, err
	}
	r, err := Recompute(m, a, ev)
	if err != nil {
		return nil, err
	}
	_, stored, err := segeval.Open(ev)
	if err != nil {
		return nil, err
	}
	e := &Ensemble{Result: r, Rows: stored.Ensemble, MeanSampleStd: stored.MeanSampleStd}
	if len(e.Rows) == 0 || e.Rows[len(e.Rows)-1].K != r.Protocol.Samples {
		return nil, fmt.Errorf("evaluation %s: %d samples per image but no ensemble row for k = %d", ev.Record.ID, r.Protocol.Samples, r.Protocol.Samples)
	}
	e.Diffs = append(e.Diffs, summaryDiffs(ev.Record.ID, fmt.Sprintf("ensemble row k=%d ", r.Protocol.Samples), r.Summary, e.Rows[len(e.Rows)-1].Summary)...)
	data, err := ev.ReadFile(segeval.ProbFile)
	if err != nil {
		return nil, err
	}
	if e.Prob, err = imageio.DecodeStrip(data, r.Set.W); err != nil {
		return nil, fmt.Errorf("evaluation %s: %s: %w", ev.Record.ID, segeval.ProbFile, err)
	}
	if len(e.Prob) != len(r.Masks) {
		return nil, fmt.Errorf("evaluation %s: %s holds %d pixels, %s %d", ev.Record.ID, segeval.ProbFile, len(e.Prob), segeval.MasksFile, len(r.Masks))
	}
	// The fused mask is the thresholded probability: the two stored files must agree.
	for j, v := range e.Prob {
		if (float64(v)/255 >= r.Protocol.Threshold) != (r.Masks[j] == 1) && math.Abs(float64(v)/255-r.Protocol.Threshold) > 1.0/255 {
			return nil, fmt.Errorf("evaluation %s: pixel %d: %s says %d/255 but %s says %d", ev.Record.ID, j, segeval.ProbFile, v, segeval.MasksFile, r.Masks[j])
		}
	}
	if single, err := Open(root, m, false); err == nil {
		e.Single = single
	}
	return e, nil
}

// EnsembleTable is the ensemble study (beyond the thesis; SegDiff fuses 9
// samples, MedSegDiff 5): per model, the pooled Dice, Jaccard, sensitivity
// and precision and the per-image mean Dice of k = 1, 3, 5, 9 fused samples
// per image on the validation split. Models without an artifact or an
// ensemble record are named in the notes.
func EnsembleTable(root string) (*tables.Table, []*Ensemble, []string, error) {
	t := &tables.Table{ID: "ch3-ensembles", Title: "Sample ensembles: Dice vs samples fused per image (chapter 3 DDPMs)",
		Caption: "k DDIM-50 samples per image of the phantom validation split fused by SegDiff's rule (mean of the binarised samples, threshold 0.5); " +
			"pooled metrics unless named per-image. One record per model with K = 9 samples: the rows k < K are the record's own (its files hold the K-fused " +
			"masks only), the row k = K is re-derived from the stored masks. Beyond the thesis, which draws one sample per image.",
		Columns: []tables.Column{{Key: "dice", Header: "Dice", Digits: 4}, {Key: "dice_per_image", Header: "Dice (per-image mean)", Digits: 4},
			{Key: tables.Jaccard, Header: "Jaccard", Digits: 4}, {Key: "sensitivity", Header: "Sensitivity", Digits: 4},
			{Key: "precision", Header: "Precision", Digits: 4}}}
	var out []*Ensemble
	var diffs, missing []string
	for _, m := range EnsembleModels() {
		e, err := OpenEnsemble(root, m)
		if errors.Is(err, ErrNotTrained) || errors.Is(err, ErrNoEnsemble) {
			missing = append(missing, m.Experiment)
			continue
		}
		if err != nil {
			return nil, nil, nil, err
		}
		out = append(out, e)
		diffs = append(diffs, e.Diffs...)
		for _, row := range e.Rows {
			s := row.Summary
			if row.K == e.Protocol.Samples {
				s = e.Summary // re-derived
			}
			t.Rows = append(t.Rows, tables.Row{Label: fmt.Sprintf("%s, k=%d", m.Label, row.K), Task: m.Task, Source: tables.SourceDMSeg,
				Dataset: DatasetName(e.Set.Source), Artifact: e.Artifact.Manifest.ID, Eval: e.Eval.Record.ID, Backend: e.Eval.Record.Backend.Name,
				Metrics: map[string]float64{"dice": s.Pooled.Dice, "dice_per_image": s.PerImageMean.Dice, tables.Jaccard: s.Pooled.Jaccard,
					"sensitivity": s.Pooled.Sensitivity, "precision": s.Pooled.Precision}, N: s.Pooled.N})
		}
		p1, pk := e.Rows[0].Summary.Pooled, e.Summary.Pooled
		note := fmt.Sprintf("%s (%s): k=%d vs k=1 pooled Dice %+.4f (%.4f -> %.4f), sensitivity %.4f -> %.4f, precision %.4f -> %.4f, per-image mean Dice %.4f -> %.4f; "+
			"the %d samples disagree on %.4f per pixel on average (mean of sqrt(p(1-p)))",
			m.Label, m.Task, e.Protocol.Samples, pk.Dice-p1.Dice, p1.Dice, pk.Dice, p1.Sensitivity, pk.Sensitivity, p1.Precision, pk.Precision,
			e.Rows[0].Summary.PerImageMean.Dice, e.Summary.PerImageMean.Dice, e.Protocol.Samples, e.MeanSampleStd)
		if e.Single != nil {
			a, b := ImageCases(e.Single.Counts), ImageCases(e.Counts)
			if a.EmptyTruth > 0 {
				note += fmt.Sprintf("; images without foreground predicted empty: %d -> %d of %d; images with foreground and at least one true positive: %d -> %d of %d; "+
					"false-positive pixels %d -> %d (one sample vs the fused K)", a.PredictedEmpty, b.PredictedEmpty, a.EmptyTruth, a.Hit, b.Hit, a.WithTruth, a.FP, b.FP)
			}
		}
		if e.Single != nil && e.Single.Protocol.Seed == e.Protocol.Seed && e.Single.Protocol.Batch == e.Protocol.Batch {
			note += fmt.Sprintf("; its k=1 row uses the table record's seeds (sample 1 of batch b: seed + 2b), so it equals Table %s's %.4f",
				map[string]string{tables.TaskLung: "1", tables.TaskInfection: "2"}[m.Task], e.Single.Summary.Pooled.Dice)
		}
		t.Notes = append(t.Notes, note+".")
	}
	if len(missing) > 0 {
		t.Notes = append(t.Notes, "No ensemble record yet: "+strings.Join(missing, ", ")+" (`dmseg evaluate --artifact NAME --samples 9`).")
	}
	return t, out, diffs, nil
}

// Cases counts, over the images of a record (their confusion counts), the
// images whose truth is empty and how many of them the prediction leaves
// empty, the images with foreground and how many of them get at least one
// true positive, and the false-positive pixels: what the per-image mean of the
// 8 metrics rewards (an empty truth predicted empty scores Dice 1) and pooled
// metrics do not see.
type Cases struct {
	EmptyTruth, PredictedEmpty, WithTruth, Hit int
	FP                                         int64
}

// ImageCases computes Cases from per-image confusion counts.
func ImageCases(cs []seg.Counts) Cases {
	var c Cases
	for _, x := range cs {
		c.FP += x.FP
		if x.TP+x.FN == 0 {
			c.EmptyTruth++
			if x.FP == 0 {
				c.PredictedEmpty++
			}
			continue
		}
		c.WithTruth++
		if x.TP > 0 {
			c.Hit++
		}
	}
	return c
}

// EnsembleFigure plots pooled and per-image mean Dice against the number of
// fused samples, one panel per model (the tasks' Dice scales differ).
func EnsembleFigure(es []*Ensemble) ([]byte, error) {
	if len(es) == 0 {
		return nil, fmt.Errorf("ensemble figure: no records")
	}
	var plots [][]*plot.Plot
	var stamps []string
	for _, e := range es {
		p := plot.New()
		p.Title.Text = fmt.Sprintf("%s, %s: Dice vs samples fused (n=%d)", e.Model.Label, e.Model.Task, e.Protocol.N)
		p.X.Label.Text = "samples fused per image (k)"
		p.Y.Label.Text = "Dice"
		var pooled, per plotter.XYs
		for _, row := range e.Rows {
			pooled = append(pooled, plotter.XY{X: float64(row.K), Y: row.Summary.Pooled.Dice})
			per = append(per, plotter.XY{X: float64(row.K), Y: row.Summary.PerImageMean.Dice})
		}
		for i, s := range []struct {
			name string
			xy   plotter.XYs
		}{{"pooled", pooled}, {"per-image mean", per}} {
			l, pts, err := plotter.NewLinePoints(s.xy)
			if err != nil {
				return nil, err
			}
			if i == 1 {
				l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
				pts.Shape = draw.TriangleGlyph{}
			}
			p.Add(l, pts)
			p.Legend.Add(s.name, l, pts)
		}
		p.Legend.Top, p.Legend.Left = false, false
		p.X.Tick.Marker = plot.ConstantTicks([]plot.Tick{{Value: 1, Label: "1"}, {Value: 3, Label: "3"}, {Value: 5, Label: "5"}, {Value: 9, Label: "9"}})
		plots = append(plots, []*plot.Plot{p})
		stamps = append(stamps, e.Artifact.Manifest.ID+"/"+e.Eval.Record.ID)
	}
	w := vg.Length(6) * vg.Inch
	c := vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, vg.Length(3*len(es))*vg.Inch), vgimg.UseDPI(96))}
	tiles := draw.Tiles{Rows: len(es), Cols: 1, PadY: vg.Points(8)}
	canvases := plot.Align(plots, tiles, draw.New(c))
	for i := range plots {
		plots[i][0].Draw(canvases[i][0])
	}
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return nil, err
	}
	return synthesis.WithText(b.Bytes(), map[string]string{"dmseg-stamp": strings.Join(stamps, " "), "Title": "Chapter 3 sample ensembles"})
}

// UncertaintyGrid shows, for the first n images of set, the X-ray, the
// ground truth, the fused probability p of K samples (prob: round(255 p) per
// pixel, as segeval stores it) and the per-pixel disagreement
// 2 sqrt(p(1-p)) (0: the samples agree, 1: half of them say foreground).
func UncertaintyGrid(set *dataset.Set, prob []uint8, n int, title, stamp string) ([]byte, error) {
	sz := set.W
	n = min(n, set.N, len(prob)/(sz*sz))
	var cells []*image.Gray
	for i := 0; i < n; i++ {
		img := image.NewGray(image.Rect(0, 0, sz, sz))
		copy(img.Pix, set.Images[i*sz*sz:(i+1)*sz*sz])
		truth := image.NewGray(image.Rect(0, 0, sz, sz))
		copy(truth.Pix, set.Masks[i*sz*sz:(i+1)*sz*sz])
		pg := image.NewGray(image.Rect(0, 0, sz, sz))
		unc := image.NewGray(image.Rect(0, 0, sz, sz))
		for j, v := range prob[i*sz*sz : (i+1)*sz*sz] {
			q := float64(v) / 255
			pg.Pix[j] = v
			unc.Pix[j] = uint8(math.Round(255 * Disagreement(q)))
		}
		cells = append(cells, img, truth, pg, unc)
	}
	grid, err := synthesis.Grid(cells, 4, 4, 3)
	if err != nil {
		return nil, err
	}
	return synthesis.Labeled(grid, title, []string{"X-ray", "ground truth", "P(foreground)", "2 sqrt(p(1-p))"}, nil, stamp, 7)
}

// Disagreement is 2 sqrt(p(1-p)) for a fused foreground probability p:
// twice the standard deviation of binarised samples of which the fraction p
// say foreground, so 0 where they agree and 1 where they split evenly.
func Disagreement(p float64) float64 { return 2 * math.Sqrt(p*(1-p)) }

// UncertaintyFigure is UncertaintyGrid of an ensemble record's stored
// probabilities for its first n images.
func UncertaintyFigure(e *Ensemble, n int) ([]byte, error) {
	return UncertaintyGrid(e.Set, e.Prob, n,
		fmt.Sprintf("%s (%s), %d DDIM samples per image: fused probability and disagreement", e.Model.Label, e.Model.Task, e.Protocol.Samples),
		e.Artifact.Manifest.ID+"/"+e.Eval.Record.ID)
}

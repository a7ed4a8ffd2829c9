// Package ch3 makes chapter 3's outputs from evaluation records: Tables 1
// (lung) and 2 (infection) with the thesis's published rows beside ours, and
// Figures 13 and 14 (generated mask beside the ground truth). Its table and
// figure builders (SegTable, PairFigure, FigureLarge) serve chapters 4-5 too. Every number
// is re-derived from the masks a record stores and the regenerated data, so
// `make reproduce` checks them without the weights. The command, make
// reproduce and notebook 03 share these functions.
package ch3

import (
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"maps"
	"math"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/dmseg/dmseg/kernels/artifacts"
	"github.com/dmseg/dmseg/kernels/data/dataset"
	"github.com/dmseg/dmseg/kernels/experiments"
	"github.com/dmseg/dmseg/kernels/figures/synthesis"
	"github.com/dmseg/dmseg/kernels/metrics/seg"
	"github.com/dmseg/dmseg/kernels/runners"
	_ "github.com/dmseg/dmseg/kernels/runners/ddpmseg" // registers the ddpm-seg predictor and runner
	"github.com/dmseg/dmseg/kernels/runners/segeval"
	_ "github.com/dmseg/dmseg/kernels/runners/unetseg" // registers the unet-seg predictor and runner
	"github.com/dmseg/dmseg/kernels/tables"
	"github.com/gomlx/gomlx/backends"
)

// Model is one of our rows of Tables 1-2: a label and the experiment whose
// newest artifact supplies it (or one artifact's id).
type Model struct {
	Label      string
	Experiment string
	Task       string // "lung" or "infection"
}

// Models are our chapter-3 models of a task ("lung" or "infection") at the CPU
// size, in the thesis's row order, then the baseline; for infection also the
// objective ablation (InfectionAuxDice).
func Models(task string) []Model {
	ms := []Model{
		{"DDPM addition", "ch3-ddpm-add-" + task + "-cpu", task},
		{"DDPM concatenation", "ch3-ddpm-concat-" + task + "-cpu", task},
		{"U-Net baseline (BCE + Dice)", "ch3-unet-" + task + "-cpu", task},
	}
	if task == tables.TaskInfection {
		ms = append(ms, Model{"DDPM addition + soft Dice on x0_hat (ablation)", InfectionAuxDice, task})
	}
	return ms
}

// InfectionAuxDice is the objective ablation row of Table 2: the addition
// DDPM trained with a soft-Dice term on x0_hat added to the x0 objective
// (diffusion.aux_dice 1) at the same 1,800 steps, made while
// ch3-ddpm-add-infection-cpu carried that term (experiment
// ch3-ddpm-add-infection-auxdice-cpu defines it now).
const InfectionAuxDice = "ch3-ddpm-add-infection-cpu-20261202-5f5339a8"

// TableID is table1 for lung and table2 for infection.
func TableID(task string) string {
	if task == tables.TaskInfection {
		return "table2"
	}
	return "table1"
}

// Result is a model's record, opened and re-derived.
type Result struct {
	Model    Model
	Artifact *artifacts.Artifact
	Eval     *artifacts.Eval
	Protocol segeval.Protocol
	Summary  seg.Summary // re-derived from the stored masks
	Set      *dataset.Set
	Masks    []uint8      // stored predicted masks, 0/1
	Counts   []seg.Counts // per image, re-derived from Masks
	Diffs    []string
}

// SegEval returns the table record of an artifact: the newest segmentation
// record made with the experiment's own protocol (the thesis's: one sample
// per image of the whole held-out split with the experiment's sampler, e.g.
// DDIM-50), not the records of studies beside it (other step counts, subsets,
// ensembles); verify re-hashes the records.
func SegEval(a *artifacts.Artifact, verify bool) (*artifacts.Eval, error) {
	full, rc, want, err := ownProtocolRecords(a, verify, func(samples int) bool { return samples == 1 })
	if err != nil {
		return nil, err
	}
	if len(full) == 0 {
		return nil, fmt.Errorf("artifact %s has no %q record with the experiment's protocol (one sample per image of the %s split, method %s); make one with `dmseg evaluate --artifact %s`",
			a.Manifest.ID, segeval.EvalName, rc.Experiment.Data.HeldOut, want, a.Manifest.ID)
	}
	return full[0], nil
}

// ownProtocolRecords returns a's segmentation records made with the
// experiment's own protocol (its held-out split and sampler, DefaultMethod)
// whose samples per image satisfy keep, restricted to those over the most
// images and sorted newest first; want is the method as the records write it.
// verify re-hashes the records.
func ownProtocolRecords(a *artifacts.Artifact, verify bool, keep func(samples int) bool) ([]*artifacts.Eval, experiments.RunConfig, []byte, error) {
	var rc experiments.RunConfig
	var evs []*artifacts.Eval
	var err error
	if verify {
		evs, err = a.Evals()
	} else {
		evs, err = a.ReadEvals()
	}
	if err != nil {
		return nil, rc, nil, err
	}
	if err := a.DecodeConfig(&rc); err != nil {
		return nil, rc, nil, err
	}
	want, err := json.Marshal(DefaultMethod(rc.Experiment))
	if err != nil {
		return nil, rc, nil, err
	}
	var q []*artifacts.Eval
	var ns []int
	maxN := 0
	for _, e := range evs {
		if e.Record.Name != segeval.EvalName {
			continue
		}
		p, _, err := segeval.Open(e)
		if err != nil || !keep(p.Samples) || p.Split != rc.Experiment.Data.HeldOut || !sameJSON(p.Method, want) {
			continue
		}
		q, ns = append(q, e), append(ns, p.N)
		maxN = max(maxN, p.N)
	}
	var full []*artifacts.Eval
	for i, e := range q {
		if ns[i] == maxN {
			full = append(full, e)
		}
	}
	sort.SliceStable(full, func(i, j int) bool { return full[i].Record.CreatedAt > full[j].Record.CreatedAt })
	return full, rc, want, nil
}

// DefaultMethod is the sampler an experiment's evaluation uses unless told
// otherwise, as its records write it: DDIM with the experiment's steps, eta,
// spacing and clipping (ddpm-seg, ldm-seg), the bridge's skip-step sampler
// (bbdm-seg, lbbdm-seg),
// or "forward" (unet-seg).
func DefaultMethod(e experiments.Experiment) any {
	s := e.Resolved().Sampling
	switch e.Kind {
	case experiments.KindDDPMSeg, experiments.KindLDMSeg:
		return map[string]any{"sampler": "ddim", "steps": s.DDIMSteps, "eta": s.DDIMEta, "spacing": s.DDIMSpacing, "clip_x0": s.DDIMClipX0}
	case experiments.KindBBDMSeg, experiments.KindLBBDMSeg:
		if b := e.Bridge; b != nil {
			return map[string]any{"sampler": "bbdm", "sample_step": b.SampleSteps, "eta": b.Eta, "clip_x0": b.ClipX0}
		}
	}
	return "forward"
}

// sameJSON compares two JSON values by meaning (key order and number
// spelling aside).
func sameJSON(a any, b []byte) bool {
	ra, err := json.Marshal(a)
	if err != nil {
		return false
	}
	var x, y any
	if json.Unmarshal(ra, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// Open finds the newest artifact of m's experiment under root and its newest
// single-sample record, and re-derives the metrics from the stored masks.
// A missing artifact is reported as ErrNotTrained.
func Open(root string, m Model, verify bool) (*Result, error) {
	a, err := runners.CurrentArtifact(root, m.Experiment)
	if err != nil {
		if errors.Is(err, artifacts.ErrNotFound) || errors.Is(err, runners.ErrOutdated) {
			return nil, fmt.Errorf("%w: %v", ErrNotTrained, err)
		}
		return nil, err
	}
	ev, err := SegEval(a, verify)
	if err != nil {
		return nil, err
	}
	return Recompute(m, a, ev)
}

// ErrNotTrained says an experiment has no artifact yet.
var ErrNotTrained = errors.New("not trained yet")

// Recompute re-derives a record's results from its stored masks and the
// regenerated evaluation split, and lists every number that differs from the
// record.
func Recompute(m Model, a *artifacts.Artifact, ev *artifacts.Eval) (*Result, error) {
	p, stored, err := segeval.Open(ev)
	if err != nil {
		return nil, err
	}
	var rc experiments.RunConfig
	if err := a.DecodeConfig(&rc); err != nil {
		return nil, err
	}
	set, err := rc.Experiment.LoadSplit(p.Split)
	if err != nil {
		return nil, err
	}
	masks, err := segeval.StoredMasks(ev, set.W)
	if err != nil {
		return nil, err
	}
	if len(masks) != p.N*set.H*set.W {
		return nil, fmt.Errorf("evaluation %s: %s holds %d masks, the protocol says %d", ev.Record.ID, segeval.MasksFile, len(masks)/(set.H*set.W), p.N)
	}
	res, err := segeval.ResultsFrom(set, p, masks, nil)
	if err != nil {
		return nil, err
	}
	r := &Result{Model: m, Artifact: a, Eval: ev, Protocol: p, Summary: res.Summary, Set: set, Masks: masks, Counts: res.Counts}
	r.Diffs = summaryDiffs(ev.Record.ID, "", res.Summary, stored.Summary)
	return r, nil
}

// summaryDiffs lists every metric, pooled and per-image mean, that was
// re-derived from a record's stored masks (got) and differs from what the
// record says (want); what names the record's part ("" for its main result).
func summaryDiffs(id, what string, got, want seg.Summary) []string {
	var out []string
	for _, agg := range []struct {
		name string
		g, w seg.Metrics
	}{{"pooled", got.Pooled, want.Pooled}, {"per_image_mean", got.PerImageMean, want.PerImageMean}} {
		g, w := agg.g.Values(), agg.w.Values()
		for i := range g {
			if g[i] != w[i] {
				out = append(out, fmt.Sprintf("evaluation %s: %s%s %s re-derived from %s is %.6f, the record says %.6f",
					id, what, agg.name, seg.Names[i], segeval.MasksFile, g[i], w[i]))
			}
		}
	}
	return out
}

func metricsMap(m seg.Metrics) map[string]float64 {
	out := map[string]float64{}
	for i, k := range seg.Names {
		out[k] = m.Values()[i]
	}
	return out
}

// Rows are the table rows of a result: pooled and per-image mean.
func (r *Result) Rows(task string) []tables.Row {
	var out []tables.Row
	for _, agg := range []struct {
		suffix string
		m      seg.Metrics
	}{{"pooled", r.Summary.Pooled}, {"per-image mean", r.Summary.PerImageMean}} {
		out = append(out, tables.Row{Label: r.Model.Label + ", " + agg.suffix, Task: task, Source: tables.SourceDMSeg,
			Dataset: DatasetName(r.Set.Source), Artifact: r.Artifact.Manifest.ID, Eval: r.Eval.Record.ID, Backend: r.Eval.Record.Backend.Name,
			Metrics: metricsMap(agg.m), N: agg.m.N})
	}
	return out
}

// Table is Table 1 (lung) or 2 (infection): the published rows, then ours
// for every model that has a record, pooled and per-image mean. Models not
// trained yet are named in the notes. It also returns every re-derivation
// difference found.
//
// thesis: table1 table2
func Table(root, task string, verify bool) (*tables.Table, []*Result, []string, error) {
	id := TableID(task)
	return SegTable(root, id, "Thesis Table "+strings.TrimPrefix(id, "table")+" and dmseg's chapter-3 models ("+task+")", Models(task),
		"one DDIM sample per image (the U-Net baseline: one forward pass)", verify)
}

// SegTable is a segmentation table of chapters 3-5: the thesis's published
// table id, then our rows (pooled and per-image mean) for every model with
// a record; how names the sampling for the notes.
func SegTable(root, id, title string, models []Model, how string, verify bool) (*tables.Table, []*Result, []string, error) {
	t, err := tables.PublishedTable(id)
	if err != nil {
		return nil, nil, nil, err
	}
	t.Title = title
	return fillSegTable(t, root, models, how, verify)
}

// OursTable is a segmentation table with our rows only (no thesis table to
// stand beside), for experiments beyond the thesis.
func OursTable(root, id, title, caption string, models []Model, how string, verify bool) (*tables.Table, []*Result, []string, error) {
	t := &tables.Table{ID: id, Title: title, Caption: caption, Columns: tables.SegColumns()}
	return fillSegTable(t, root, models, how, verify)
}

// DatasetName is the table name of a data source ("phantom:lung" ->
// "phantom", "covidqu:lung" -> "COVID-QU-Ex", "brainmri:brain" -> "brain MRI").
func DatasetName(source string) string {
	switch strings.SplitN(source, ":", 2)[0] {
	case "covidqu":
		return tables.DatasetCOVIDQUEx
	case "brainmri":
		return "brain MRI"
	}
	return "phantom"
}

// fillSegTable appends our rows (pooled and per-image mean) for every model
// with a record to t, and its notes.
func fillSegTable(t *tables.Table, root string, models []Model, how string, verify bool) (*tables.Table, []*Result, []string, error) {
	var results []*Result
	var diffs, missing []string
	for _, m := range models {
		r, err := Open(root, m, verify)
		if err != nil {
			if errors.Is(err, ErrNotTrained) {
				missing = append(missing, m.Experiment)
				continue
			}
			return nil, nil, nil, err
		}
		results = append(results, r)
		diffs = append(diffs, r.Diffs...)
		t.Rows = append(t.Rows, r.Rows(m.Task)...)
	}
	data := map[string]bool{}
	for _, r := range results {
		data[DatasetName(r.Set.Source)] = true
	}
	names := slices.Sorted(maps.Keys(data))
	if len(names) == 0 {
		names = []string{"phantom"}
	}
	note := "dmseg rows: " + strings.Join(names, " and ") + " validation split, " + how + ", fixed seed, threshold 0.5 (thesis 3.3); " +
		"`pooled` sums the confusion counts over the split, `per-image mean` averages per-image metrics (0/0 cases as in kernels/metrics/seg)."
	if data["phantom"] || len(results) == 0 {
		note += " Synthetic phantoms and CPU budgets: not comparable with the thesis's COVID-QU-Ex numbers."
	}
	t.Notes = append(t.Notes, note)
	if len(missing) > 0 {
		t.Notes = append(t.Notes, "Not trained yet (no artifact): "+strings.Join(missing, ", ")+"; `make train-all` trains them.")
	}
	return t, results, diffs, nil
}

func find(results []*Result, label string) *Result {
	for _, r := range results {
		if r.Model.Label == label {
			return r
		}
	}
	return nil
}

func maskGray(m []uint8, i, size int) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, size, size))
	for j, v := range m[i*size*size : (i+1)*size*size] {
		g.Pix[j] = v * 255
	}
	return g
}

// Figure is Figure 13 (lung: rows concatenation then addition) or Figure 14
// (infection: addition then concatenation) in the thesis's 2x2 layout: the
// generated mask on the left, the ground truth on the right, for validation
// image `index`.
//
// thesis: fig13 fig14
func Figure(results []*Result, task string, index int) ([]byte, error) {
	order := []string{"DDPM concatenation", "DDPM addition"}
	fig := "Figure 13"
	if task == tables.TaskInfection {
		order, fig = []string{"DDPM addition", "DDPM concatenation"}, "Figure 14"
	}
	var rows []*Result
	var labels []string
	for _, label := range order {
		r := find(results, label)
		if r == nil {
			return nil, fmt.Errorf("%s: no record for %s (%s)", fig, label, task)
		}
		rows, labels = append(rows, r), append(labels, strings.TrimPrefix(label, "DDPM "))
	}
	return PairFigure(fmt.Sprintf("%s: %s, generated (left) vs ground truth (right), phantom val #%d", fig, task, index), rows, labels, index)
}

// PairFigure is the thesis's mask figure layout: one row per result, the
// generated mask of validation image index on the left, its ground truth on
// the right.
func PairFigure(title string, rows []*Result, rowLabels []string, index int) ([]byte, error) {
	var cells []*image.Gray
	var stamps []string
	for _, r := range rows {
		sz := r.Set.W
		if index >= r.Protocol.N {
			return nil, fmt.Errorf("%s: image %d outside the %d evaluated", r.Model.Label, index, r.Protocol.N)
		}
		truth := make([]uint8, sz*sz)
		for j, v := range r.Set.Masks[index*sz*sz : (index+1)*sz*sz] {
			if v >= 128 {
				truth[j] = 1
			}
		}
		cells = append(cells, maskGray(r.Masks, index, sz), maskGray(truth, 0, sz))
		stamps = append(stamps, r.Artifact.Manifest.ID+"/"+r.Eval.Record.ID)
	}
	grid, err := synthesis.Grid(cells, 2, 4, 4)
	if err != nil {
		return nil, err
	}
	return synthesis.Labeled(grid, title, []string{"generated", "ground truth"}, rowLabels, strings.Join(stamps, " "), 5)
}

// ErrorOverlay is the X-ray (h x w, 8-bit) with the prediction compared to
// the truth (0/1 each): agreement on foreground green, prediction only (false
// positive) blue, truth only (false negative) red.
func ErrorOverlay(img, pred, truth []uint8, w, h, zoom int) *image.RGBA {
	out := image.NewRGBA(image.Rect(0, 0, w*zoom, h*zoom))
	for y := 0; y < h*zoom; y++ {
		for x := 0; x < w*zoom; x++ {
			j := (y/zoom)*w + x/zoom
			v := float64(img[j])
			c := color.RGBA{uint8(v), uint8(v), uint8(v), 255}
			switch p, t := pred[j] != 0, truth[j] != 0; {
			case p && t:
				c = color.RGBA{uint8(0.5 * v), uint8(0.5*v + 0.5*200), uint8(0.5 * v), 255}
			case p:
				c = color.RGBA{0, 90, 255, 255}
			case t:
				c = color.RGBA{255, 0, 0, 255}
			}
			out.Set(x, y, c)
		}
	}
	return out
}

// FigureLarge shows the first n validation images for every model: the
// prediction over the X-ray, agreement with the truth green, false positives
// blue, false negatives red.
//
// thesis: fig13 fig14
func FigureLarge(results []*Result, task string, n int) ([]byte, error) {
	if len(results) == 0 {
		return nil, fmt.Errorf("no %s results", task)
	}
	const zoom, gap = 3, 4
	sz := results[0].Set.W
	n = min(n, results[0].Protocol.N)
	cell := sz*zoom + gap
	pic := image.NewRGBA(image.Rect(0, 0, n*cell+gap, len(results)*cell+gap))
	draw.Draw(pic, pic.Bounds(), image.White, image.Point{}, draw.Src)
	var rowLabels, stamps []string
	for r, res := range results {
		if res.Set.W != sz || res.Protocol.N < n {
			return nil, fmt.Errorf("%s: %d images of %dx%d, want %d of %dx%d", res.Model.Label, res.Protocol.N, res.Set.W, res.Set.W, n, sz, sz)
		}
		truth := make([]uint8, sz*sz)
		for i := 0; i < n; i++ {
			for j, v := range res.Set.Masks[i*sz*sz : (i+1)*sz*sz] {
				truth[j] = 0
				if v >= 128 {
					truth[j] = 1
				}
			}
			ov := ErrorOverlay(res.Set.Images[i*sz*sz:(i+1)*sz*sz], res.Masks[i*sz*sz:(i+1)*sz*sz], truth, sz, sz, zoom)
			at := image.Pt(gap+i*cell, gap+r*cell)
			draw.Draw(pic, ov.Bounds().Add(at), ov, image.Point{}, draw.Src)
		}
		rowLabels = append(rowLabels, fmt.Sprintf("%s\nDice %.4f", res.Model.Label, res.Summary.Pooled.Dice))
		stamps = append(stamps, res.Artifact.Manifest.ID+"/"+res.Eval.Record.ID)
	}
	title := fmt.Sprintf("Chapter 3, %s: first %d validation phantoms; green: agreement, blue: false positive, red: false negative", task, n)
	return synthesis.Labeled(pic, title, nil, rowLabels, strings.Join(stamps, " "), 10)
}

// Uncertainty draws k samples for the first n images of a result's split with
// the artifact's weights and shows, per image, the X-ray, the ground truth,
// the fused probability (mean of the k binarised samples) and the per-pixel
// disagreement 2 sqrt(p(1-p)); it returns the figure and the segmentation
// results of the k-sample ensembles (k = 1, 3, 5, 9 up to k).
func Uncertainty(backend backends.Backend, r *Result, n, k int, seed int64) ([]byte, *segeval.Results, error) {
	predict, _, release, err := segeval.PredictorFor(r.Artifact, backend)
	if err != nil {
		return nil, nil, err
	}
	defer release()
	n = min(n, r.Set.N)
	p := segeval.Protocol{N: n, Samples: k, Seed: seed, Batch: n, Threshold: 0.5}
	pr, err := segeval.Run(r.Set, p, predict, nil)
	if err != nil {
		return nil, nil, err
	}
	res, err := segeval.ResultsFrom(r.Set, p, pr.Masks(k, 0.5), pr)
	if err != nil {
		return nil, nil, err
	}
	q := make([]uint8, len(pr.Prob))
	for j, v := range pr.Prob {
		q[j] = uint8(math.Round(255 * float64(v)))
	}
	fig, err := UncertaintyGrid(r.Set, q, n, fmt.Sprintf("%s, %d DDIM samples per image: fused probability and disagreement", r.Model.Label, k),
		r.Artifact.Manifest.ID)
	return fig, res, err
}

// BrainModels are chapter 3's DDPM (its better conditioning on our phantom
// lungs, concatenation) and the U-Net baseline on the second dataset, the
// embedded real brain MRI (experiments brain-*).
func BrainModels() []Model {
	return []Model{
		{"DDPM concatenation", "brain-ddpm-concat-cpu", "brain"},
		{"U-Net baseline (BCE + Dice)", "brain-unet-cpu", "brain"},
	}
}

// BrainTable is the table of BrainModels (thesis/tables/brain): no thesis
// numbers exist for this dataset (the thesis's future work asks for a second one).
func BrainTable(root string, verify bool) (*tables.Table, []*Result, []string, error) {
	return OursTable(root, "brain", "dmseg's chapter-3 models on a second dataset: brain masks of a real T1 MRI",
		"Brain mask (label > 0) of the real T1 MRI embedded in dmseg (ITK's KmeansTest volume: one subject, coronal slices at 64x64, "+
			"train/val/test in blocks of neighbouring slices). One subject and a few dozen slices: an end-to-end check on real anatomy, not a benchmark.",
		BrainModels(), "one DDIM sample per image (the U-Net baseline: one forward pass)", verify)
}

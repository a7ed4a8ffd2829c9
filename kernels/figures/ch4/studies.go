package ch4

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/dmseg/dmseg/kernels/artifacts"
	"github.com/dmseg/dmseg/kernels/experiments"
	"github.com/dmseg/dmseg/kernels/figures/ch3"
	"github.com/dmseg/dmseg/kernels/figures/synthesis"
	"github.com/dmseg/dmseg/kernels/runners/segeval"
	"github.com/dmseg/dmseg/kernels/tables"
	"github.com/dmseg/dmseg/kernels/train"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// The sampling studies of issue 12 (what the thesis leaves open) run on the
// lung bridge at the CPU size and on the first StudyN validation images (one
// sampler batch), so that 1,000-step sampling and ten eta runs fit a CPU
// budget; scripts/ch4-studies.sh makes their records.
const (
	StudyExperiment = "ch4-bbdm-lung-cpu"
	StudyN          = 25
)

// StudySteps are the skip-step counts of the steps study; EtaSeeds the
// sampling seeds of the eta study (the first is the experiment's).
var (
	StudySteps = []int{10, 20, 50, 100, 200, 1000}
	EtaSeeds   = []int64{1234, 1235, 1236, 1237, 1238}
)

// bridgeOf is the experiment's bridge and evaluation seed.
func bridgeOf(a *artifacts.Artifact) (experiments.BridgeSpec, int64, error) {
	var rc experiments.RunConfig
	if err := a.DecodeConfig(&rc); err != nil {
		return experiments.BridgeSpec{}, 0, err
	}
	if rc.Experiment.Bridge == nil {
		return experiments.BridgeSpec{}, 0, fmt.Errorf("artifact %s is not a bridge", a.Manifest.ID)
	}
	return *rc.Experiment.Bridge, rc.Experiment.Sampling.EvalSeed, nil
}

// StepPoints are the steps study's records of a bridge artifact: the
// experiment's eta and sampling seed, n images (StudyN), any number of steps.
func StepPoints(a *artifacts.Artifact, n int) ([]ch3.StepPoint, []string, error) {
	b, seed, err := bridgeOf(a)
	if err != nil {
		return nil, nil, err
	}
	all, diffs, err := ch3.StepPoints(a, "val", n)
	if err != nil {
		return nil, nil, err
	}
	var pts []ch3.StepPoint
	for _, q := range all {
		if q.Sampler == "bbdm" && q.Eta == b.Eta && q.Seed == seed {
			pts = append(pts, q)
		}
	}
	return pts, diffs, nil
}

// StepsTable is the table of the bridge's steps study (ch4-steps).
func StepsTable(a *artifacts.Artifact, pts []ch3.StepPoint) *tables.Table {
	t := ch3.NewStepsTable("ch4-steps", a, pts, "(the thesis samples 200 skip steps only, Table 7)")
	t.Notes = []string{fmt.Sprintf("Made with `dmseg evaluate --artifact %s --n %d --steps S` for each S (scripts/ch4-studies.sh); eta as the experiment (1).", a.Manifest.ID, StudyN)}
	return t
}

// EtaRow is one eta of the eta study: the pooled Dice of each sampling seed
// and how many mask pixels differ between two seeds.
type EtaRow struct {
	Eta   float64
	Seeds []int64
	Dice  []float64
	Evals []string
	// DiffPixels is the mean, over pairs of seeds, of the fraction of mask
	// pixels on which the two samples disagree: 0 exactly when sampling is
	// deterministic.
	DiffPixels float64
}

// EtaStudy groups the records of a bridge artifact at the experiment's
// number of steps on n images (StudyN) by eta, one Dice per sampling seed,
// and compares the stored masks of the seeds pixel by pixel.
func EtaStudy(a *artifacts.Artifact, n int) ([]EtaRow, []string, error) {
	b, _, err := bridgeOf(a)
	if err != nil {
		return nil, nil, err
	}
	all, diffs, err := ch3.StepPoints(a, "val", n)
	if err != nil {
		return nil, nil, err
	}
	evs, err := a.ReadEvals()
	if err != nil {
		return nil, nil, err
	}
	byID := map[string]*artifacts.Eval{}
	for _, ev := range evs {
		byID[ev.Record.ID] = ev
	}
	var rc experiments.RunConfig
	if err := a.DecodeConfig(&rc); err != nil {
		return nil, nil, err
	}
	w := rc.Experiment.Data.Phantom.Size
	rows := map[float64]*EtaRow{}
	masks := map[float64][][]uint8{}
	for _, q := range all {
		if q.Sampler != "bbdm" || q.Steps != b.SampleSteps || slices.Contains(rowsSeeds(rows[q.Eta]), q.Seed) {
			continue
		}
		m, err := segeval.StoredMasks(byID[q.Eval], w)
		if err != nil {
			return nil, nil, err
		}
		r := rows[q.Eta]
		if r == nil {
			r = &EtaRow{Eta: q.Eta}
			rows[q.Eta] = r
		}
		r.Seeds, r.Dice, r.Evals = append(r.Seeds, q.Seed), append(r.Dice, q.Dice), append(r.Evals, q.Eval)
		masks[q.Eta] = append(masks[q.Eta], m)
	}
	var out []EtaRow
	for eta, r := range rows {
		r.DiffPixels = meanPairDisagreement(masks[eta])
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Eta < out[j].Eta })
	return out, diffs, nil
}

func rowsSeeds(r *EtaRow) []int64 {
	if r == nil {
		return nil
	}
	return r.Seeds
}

// meanPairDisagreement is the mean over pairs of masks of the fraction of
// pixels on which they differ (NaN for fewer than two masks).
func meanPairDisagreement(ms [][]uint8) float64 {
	if len(ms) < 2 {
		return math.NaN()
	}
	sum, pairs := 0.0, 0
	for i := range ms {
		for j := i + 1; j < len(ms); j++ {
			d := 0
			for k := range ms[i] {
				if ms[i][k] != ms[j][k] {
					d++
				}
			}
			sum += float64(d) / float64(len(ms[i]))
			pairs++
		}
	}
	return sum / float64(pairs)
}

// EtaTable is the eta study (ch4-eta): is the thesis's BBDM sampling
// deterministic? Table 7 sets eta 1, which draws fresh noise at every step.
func EtaTable(a *artifacts.Artifact, rows []EtaRow) *tables.Table {
	t := &tables.Table{ID: "ch4-eta", Title: "BBDM sampling: eta 0 vs eta 1 over sampling seeds (" + a.Manifest.Experiment + ")",
		Caption: fmt.Sprintf("Pooled Dice of one bridge sample per image on the first %d phantom validation images, 200 skip steps, for each sampling seed; "+
			"the mean, sample standard deviation (n-1), range, and the percentage of mask pixels on which two seeds disagree (mean over pairs). "+
			"The thesis calls BBDM sampling deterministic while its Table 7 sets eta 1.", StudyN),
		Columns: []tables.Column{{Key: "dice", Header: "Dice mean", Digits: 4}, {Key: "dice_std", Header: "Dice std", Digits: 4},
			{Key: "dice_min", Header: "min", Digits: 4}, {Key: "dice_max", Header: "max", Digits: 4},
			{Key: "seeds", Header: "seeds", Digits: 0}, {Key: "pixels_differ_pct", Header: "% pixels differ", Digits: 3}},
		Tolerance: map[string]float64{"dice": 0.01, "dice_min": 0.01, "dice_max": 0.01, "dice_std": 0.01, "pixels_differ_pct": 0.5}}
	for _, r := range rows {
		mean, std := ch3.MeanStd(r.Dice)
		t.Rows = append(t.Rows, tables.Row{Label: fmt.Sprintf("eta %g", r.Eta), Task: tables.TaskLung, Source: tables.SourceDMSeg, Dataset: "phantom",
			Artifact: a.Manifest.ID, Eval: r.Evals[0], N: StudyN,
			Metrics: map[string]float64{"dice": mean, "dice_std": std, "dice_min": slices.Min(r.Dice), "dice_max": slices.Max(r.Dice),
				"seeds": float64(len(r.Dice)), "pixels_differ_pct": 100 * r.DiffPixels}})
	}
	t.Notes = []string{fmt.Sprintf("Made with `dmseg evaluate --artifact %s --n %d --eta E --seed S` (scripts/ch4-studies.sh); seeds %v.", a.Manifest.ID, StudyN, EtaSeeds)}
	return t
}

// CLAHEModels are the CLAHE ablation's two lung bridges (same budget).
func CLAHEModels() []ch3.Model {
	return []ch3.Model{
		{Label: "BBDM, CLAHE (clip 2, 8x8 tiles)", Experiment: "ch4-bbdm-lung-cpu", Task: tables.TaskLung},
		{Label: "BBDM, no CLAHE", Experiment: "ch4-bbdm-lung-noclahe-cpu", Task: tables.TaskLung},
	}
}

// CLAHETable is CLAHE on vs off (ch4-clahe), the 8 metrics on the whole
// validation split.
func CLAHETable(root string, verify bool) (*tables.Table, []*ch3.Result, []string, error) {
	return ch3.OursTable(root, "ch4-clahe", "BBDM lungs: CLAHE on vs off",
		"The thesis applies CLAHE from chapter 4 on without giving its settings or measuring its effect; both bridges train with the same budget and seed on the phantom.",
		CLAHEModels(), "one bridge sample per image (200 skip steps, eta 1)", verify)
}

// CompareModels are, per task, chapter 3's models and the U-Net and DiT
// bridges: the rows of the equal-training-time comparisons.
func CompareModels(task string) []ch3.Model {
	var ms []ch3.Model
	for _, m := range ch3.Models(task) {
		if m.Experiment == ch3.InfectionAuxDice {
			continue
		}
		ms = append(ms, m)
	}
	return append(ms, ch3.Model{Label: "BBDM (U-Net)", Experiment: "ch4-bbdm-" + task + "-cpu", Task: task},
		ch3.Model{Label: "BBDM (DiT)", Experiment: "ch4-bbdm-" + task + "-dit-cpu", Task: task})
}

// CompareTable sets every model of CompareModels beside its training budget
// (ch4-compare): pooled Dice and MCC, parameters, steps, training minutes and
// sampling seconds per image, all from the records and manifests. It answers
// both "BBDM vs the chapter-3 DDPMs and the U-Net baseline at equal training
// time" and the DiT-vs-U-Net bridge question of the thesis's future work.
func CompareTable(root string, verify bool) (*tables.Table, []*ch3.Result, []string, error) {
	t := &tables.Table{ID: "ch4-compare", Title: "BBDM vs chapter 3, and the DiT bridge vs the U-Net bridge, with their training budgets",
		Caption: "Pooled Dice and MCC on the whole phantom validation split beside each model's parameters, steps (batch 16), training minutes and sampling seconds per image on the record's machine. " +
			"The -cpu budgets were set so that the diffusion models train for about the same time on 2 cores; the DiT bridge gets more steps than the U-Net bridge for equal wall-clock time (1.7x for lung from a registry benchmark; 2.3x for infection, the step-time ratio the lung runs then measured): compare the train-minutes column.",
		Columns: []tables.Column{{Key: tables.Dice, Header: "Dice", Digits: 4}, {Key: tables.MCC, Header: "MCC", Digits: 4},
			{Key: "params", Header: "params", Digits: 0}, {Key: "steps", Header: "steps", Digits: 0},
			{Key: "train_minutes", Header: "train min", Digits: 1}, {Key: "seconds_per_image", Header: "s / image", Digits: 3}}}
	var all []*ch3.Result
	var diffs, missing []string
	for _, task := range []string{tables.TaskLung, tables.TaskInfection} {
		for _, m := range CompareModels(task) {
			r, err := ch3.Open(root, m, verify)
			if errors.Is(err, ch3.ErrNotTrained) {
				missing = append(missing, m.Experiment)
				continue
			}
			if err != nil {
				return nil, nil, nil, err
			}
			all, diffs = append(all, r), append(diffs, r.Diffs...)
			man := r.Artifact.Manifest
			t.Rows = append(t.Rows, tables.Row{Label: m.Label, Task: task, Source: tables.SourceDMSeg, Dataset: ch3.DatasetName(r.Set.Source),
				Artifact: man.ID, Eval: r.Eval.Record.ID, Backend: r.Eval.Record.Backend.Name, N: r.Summary.Pooled.N,
				Metrics: map[string]float64{tables.Dice: r.Summary.Pooled.Dice, tables.MCC: r.Summary.Pooled.MCC,
					"params": man.Metrics["model_params"], "steps": man.Metrics["steps"], "train_minutes": man.Timings["train"] / 60,
					"seconds_per_image": r.Eval.Record.Timings["seconds_per_image_sample"]}})
		}
	}
	if len(missing) > 0 {
		t.Notes = append(t.Notes, "Not trained yet: "+fmt.Sprint(missing)+" (scripts/train-all.sh).")
	}
	t.Notes = append(t.Notes, "Training minutes and seconds per image are wall-clock as the manifest and the record hold them (2 CPU cores, one job at a time); they vary with the machine and its load.")
	return t, all, diffs, nil
}

// BackboneFigure plots the training loss (moving average) of the U-Net and
// DiT bridges against wall-clock training minutes, one panel per task, with
// each model's pooled Dice in the legend.
func BackboneFigure(results []*ch3.Result, stamp string) ([]byte, error) {
	var plots []*plot.Plot
	for _, task := range []string{tables.TaskLung, tables.TaskInfection} {
		p := plot.New()
		p.Title.Text = "bridge backbones, " + task + ": training loss vs time"
		p.X.Label.Text = "training minutes"
		p.Y.Label.Text = "L1 loss (moving average)"
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		i := 0
		for _, r := range results {
			if r.Model.Task != task || r.Artifact.Manifest.Config == nil || !isBridge(r) {
				continue
			}
			rows, err := train.ReadLossCSV(r.Artifact.Path(train.LossCSVFile))
			if err != nil {
				return nil, err
			}
			xy := smoothed(rows)
			if len(xy) == 0 {
				continue
			}
			l, err := plotter.NewLine(xy)
			if err != nil {
				return nil, err
			}
			l.Color = plotutil.Color(i)
			l.Width = vg.Points(1.5)
			p.Add(l)
			p.Legend.Add(fmt.Sprintf("%s, Dice %.3f", r.Model.Label, r.Summary.Pooled.Dice), l)
			i++
		}
		if i == 0 {
			continue
		}
		p.Legend.Top = true
		p.Legend.TextStyle.Font.Size = vg.Points(8)
		plots = append(plots, p)
	}
	if len(plots) == 0 {
		return nil, fmt.Errorf("backbone figure: no bridge with a loss curve")
	}
	// The stamp (the source artifacts) goes into the PNG's text chunk: as an
	// axis label it is wider than the plot and squeezes the data area.
	w := vg.Length(6) * vg.Inch
	c := vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, vg.Length(3*len(plots))*vg.Inch), vgimg.UseDPI(96))}
	tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadY: vg.Points(8)}
	grid := make([][]*plot.Plot, len(plots))
	for i, p := range plots {
		grid[i] = []*plot.Plot{p}
	}
	canvases := plot.Align(grid, tiles, draw.New(c))
	for i, p := range plots {
		p.Draw(canvases[i][0])
	}
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return nil, err
	}
	return synthesis.WithText(b.Bytes(), map[string]string{"dmseg-stamp": stamp, "Title": "BBDM backbones: U-Net vs DiT"})
}

func isBridge(r *ch3.Result) bool {
	var rc experiments.RunConfig
	return r.Artifact.DecodeConfig(&rc) == nil && rc.Experiment.Kind == experiments.KindBBDMSeg
}

// smoothed is the loss's moving average over 2% of the run against training
// minutes.
func smoothed(rows []train.LossRow) plotter.XYs {
	win := max(1, len(rows)/50)
	var out plotter.XYs
	sum := 0.0
	for i, r := range rows {
		sum += r.Loss
		if i >= win {
			sum -= rows[i-win].Loss
		}
		if i+1 >= win {
			if v := sum / float64(win); v > 0 && !math.IsInf(v, 0) && !math.IsNaN(v) {
				out = append(out, plotter.XY{X: r.TrainSeconds / 60, Y: v})
			}
		}
	}
	return out
}

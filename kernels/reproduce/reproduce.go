// Package reproduce is `make reproduce`: it checks every committed artifact
// and evaluation record, regenerates every table and figure from them, and
// compares each regenerated number with the committed one.
//
// Tiers:
//   - verify: re-hash every artifact and evaluation record (seconds);
//   - default: verify, then regenerate every table and figure from the committed artifacts and
//     evaluation records, compare each number with the committed table (equal on the backend that
//     made it, within the table's declared tolerance on another), and re-sample a fixed subset of
//     each evaluation to confirm the stored samples come from the stored weights;
//   - retrain is `make train-all` (not run from here).
//
// A mismatch fails with the table, row, column, both values and the tolerance,
// and leaves the committed file untouched (the regenerated one goes to
// .cache/reproduce/); Update accepts the regenerated outputs instead. Timings
// are written to thesis/reproduce-timings.md, which nothing compares.
package reproduce

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dmseg/dmseg/kernels/artifacts"
	"github.com/dmseg/dmseg/kernels/atomicfile"
	"github.com/dmseg/dmseg/kernels/engine"
	"github.com/dmseg/dmseg/kernels/figures/ch2"
	"github.com/dmseg/dmseg/kernels/figures/ch3"
	"github.com/dmseg/dmseg/kernels/figures/ch4"
	"github.com/dmseg/dmseg/kernels/figures/ch5"
	"github.com/dmseg/dmseg/kernels/report"
	"github.com/dmseg/dmseg/kernels/runners"
	_ "github.com/dmseg/dmseg/kernels/runners/bbdmseg" // chapter 4 records are re-sampled
	_ "github.com/dmseg/dmseg/kernels/runners/ddpmseg" // chapter 3 records are re-sampled
	"github.com/dmseg/dmseg/kernels/runners/ddpmuncond"
	_ "github.com/dmseg/dmseg/kernels/runners/unetseg"
	"github.com/dmseg/dmseg/kernels/tables"
	"github.com/dmseg/dmseg/kernels/thesismap"
	"github.com/gomlx/gomlx/backends"
)

// Tiers.
const (
	TierVerify  = "verify"
	TierDefault = "default"
)

// Options configure a run.
type Options struct {
	Tier      string
	Root      string // the checkout (thesis/, plots/, artifacts/ under it)
	Artifacts string // default Root/artifacts
	Backend   backends.Backend
	Info      engine.Info
	Update    bool // write regenerated outputs even where they differ from the committed ones
	ResampleK int  // images per sampler re-drawn per evaluation record (0: 8; < 0: none)
	// Chapter2 is the experiment whose newest artifact of its current definition makes the
	// chapter-2 outputs (default ch2.Experiment; runners.CurrentArtifact), or an artifact id.
	Chapter2 string
	Log      io.Writer
}

// Report is what a run found.
type Report struct {
	Mismatches []string
	Written    []string
	Timings    []Timing
}

// Timing is one timed step (reported, never compared).
type Timing struct {
	Step    string
	Seconds float64
}

type run struct {
	o      Options
	rep    *Report
	same   func(backend string) bool
	tables []*tables.Table // every table written, for the report
	plots  []report.Figure // every figure written, for the report
}

// Run runs a tier. It returns an error listing every mismatch.
func Run(o Options) (*Report, error) {
	if o.Log == nil {
		o.Log = os.Stderr
	}
	if o.Artifacts == "" {
		o.Artifacts = filepath.Join(o.Root, "artifacts")
	}
	if o.ResampleK == 0 {
		o.ResampleK = 8
	}
	if o.Tier == "" {
		o.Tier = TierDefault
	}
	if o.Chapter2 == "" {
		o.Chapter2 = ch2.Experiment
	}
	if o.Tier != TierVerify && o.Tier != TierDefault {
		return nil, fmt.Errorf("reproduce: unknown tier %q (want %s or %s; retraining is `make train-all`)", o.Tier, TierVerify, TierDefault)
	}
	r := &run{o: o, rep: &Report{}, same: func(b string) bool { return b == "" || b == o.Info.Name }}
	start := time.Now()
	if err := r.timed("verify artifacts and evaluation records", r.verify); err != nil {
		if o.Tier == TierVerify {
			return r.rep, err
		}
		// Keep going: the numbers of a modified record are re-derived and compared below,
		// so the failure names the changed value, not only the file.
		r.rep.Mismatches = append(r.rep.Mismatches, err.Error())
	}
	if o.Tier == TierVerify {
		return r.rep, nil
	}
	if o.Backend == nil {
		return r.rep, errors.New("reproduce: the default tier needs a backend")
	}
	for _, id := range tables.PublishedIDs() {
		if id == ch3.TableID(tables.TaskLung) || id == ch3.TableID(tables.TaskInfection) || id == "table3" || id == "table4" || id == "table5" {
			continue // written by chapters 3-5 with our rows beside the published ones
		}
		if err := r.timed("published "+id, func() error {
			t, err := tables.PublishedTable(id)
			if err != nil {
				return err
			}
			return r.table(t)
		}); err != nil {
			return r.rep, err
		}
	}
	if err := r.timed("thesis-to-code map", func() error {
		if _, err := os.Stat(filepath.Join(r.o.Root, "kernels")); err != nil {
			r.logf("no source tree under %s: thesis map skipped\n", r.o.Root)
			return nil
		}
		cites, err := thesismap.Scan(r.o.Root)
		if err != nil {
			return err
		}
		for _, it := range thesismap.Missing(cites) {
			r.rep.Mismatches = append(r.rep.Mismatches, fmt.Sprintf("thesis map: %s (%s) has no implementation", it.Label, it.What))
		}
		return r.figure("thesis/MAP.md", []byte(thesismap.Markdown(cites)), "")
	}); err != nil {
		return r.rep, err
	}
	if err := r.chapter2(); err != nil {
		return r.rep, err
	}
	if err := r.chapter3(); err != nil {
		return r.rep, err
	}
	if err := r.chapter4(); err != nil {
		return r.rep, err
	}
	if err := r.chapter5(); err != nil {
		return r.rep, err
	}
	if err := r.timed("reproduction report", r.report); err != nil {
		return r.rep, err
	}
	r.rep.Timings = append(r.rep.Timings, Timing{"total", time.Since(start).Seconds()})
	if err := r.writeTimings(); err != nil {
		return r.rep, err
	}
	if len(r.rep.Mismatches) > 0 && o.Update {
		r.logf("accepted %d changed value(s) (--update):\n  %s\n", len(r.rep.Mismatches), strings.Join(r.rep.Mismatches, "\n  "))
		return r.rep, nil
	}
	if len(r.rep.Mismatches) > 0 {
		return r.rep, fmt.Errorf("reproduce: %d regenerated value(s) differ from the committed ones (committed files kept; regenerated ones in %s):\n  %s",
			len(r.rep.Mismatches), filepath.Join(o.Root, ".cache", "reproduce"), strings.Join(r.rep.Mismatches, "\n  "))
	}
	return r.rep, nil
}

func (r *run) logf(format string, a ...any) { fmt.Fprintf(r.o.Log, format, a...) }

func (r *run) timed(step string, f func() error) error {
	r.logf("== %s\n", step)
	t0 := time.Now()
	err := f()
	r.rep.Timings = append(r.rep.Timings, Timing{step, time.Since(t0).Seconds()})
	return err
}

func (r *run) verify() error {
	ms, errs := artifacts.List(r.o.Artifacts)
	bad := errs // reported, but the others are still verified
	for _, m := range ms {
		a, err := artifacts.Open(r.o.Artifacts, m.ID)
		if err != nil {
			bad = append(bad, err)
			continue
		}
		evs, err := a.Evals()
		if err != nil {
			bad = append(bad, err)
		}
		r.logf("ok   %s (%d files, %d evaluation records)\n", m.ID, len(m.Files), len(evs))
	}
	if len(bad) > 0 {
		return fmt.Errorf("reproduce: verification failed:\n%w", errors.Join(bad...))
	}
	return nil
}

// table compares a regenerated table with the committed thesis/tables/<id>.json and writes it.
func (r *run) table(t *tables.Table) error {
	r.tables = append(r.tables, t)
	dir := filepath.Join(r.o.Root, "thesis", "tables")
	path := filepath.Join(dir, t.ID+".json")
	if _, err := os.Stat(path); err == nil {
		old, err := tables.Read(path)
		if err != nil {
			return err
		}
		same := true
		for _, row := range old.Rows {
			same = same && r.same(row.Backend)
		}
		if ms := tables.Compare(old, t, same); len(ms) > 0 {
			for _, m := range ms {
				r.rep.Mismatches = append(r.rep.Mismatches, m.Error())
			}
			if !r.o.Update {
				return tables.Write(filepath.Join(r.o.Root, ".cache", "reproduce", "tables"), t)
			}
		}
	}
	r.rep.Written = append(r.rep.Written, path)
	return tables.Write(dir, t)
}

// plot writes a figure (see figure) and lists it, with its sources, for the report.
func (r *run) plot(f report.Figure, data []byte, backend string) error {
	r.plots = append(r.plots, f)
	return r.figure(f.Path, data, backend)
}

// sources names each result's artifact and evaluation record.
func sources(results []*ch3.Result) []string {
	var out []string
	for _, res := range results {
		out = append(out, res.Artifact.Manifest.ID+"/"+res.Eval.Record.ID)
	}
	return out
}

// figure compares regenerated figure bytes with the committed file (same backend only) and writes it.
func (r *run) figure(rel string, data []byte, backend string) error {
	path := filepath.Join(r.o.Root, rel)
	if old, err := os.ReadFile(path); err == nil && !bytes.Equal(old, data) && r.same(backend) {
		r.rep.Mismatches = append(r.rep.Mismatches, fmt.Sprintf("figure %s: regenerated bytes differ from the committed file (same backend %s)", rel, backend))
		if !r.o.Update {
			return atomicfile.Write(filepath.Join(r.o.Root, ".cache", "reproduce", rel), data)
		}
	}
	r.rep.Written = append(r.rep.Written, path)
	return atomicfile.Write(path, data)
}

func (r *run) chapter2() error {
	a, err := runners.CurrentArtifact(r.o.Artifacts, r.o.Chapter2)
	if err != nil {
		return fmt.Errorf("chapter 2: %w (train it with `make train-all`)", err)
	}
	ev, err := ch2.QualityEvalUnverified(a)
	if err != nil {
		return fmt.Errorf("chapter 2: %w", err)
	}
	evBackend := ev.Record.Backend.Name
	if err := r.timed("chapter 2: quality table re-derived from the stored samples of "+ev.Record.ID, func() error {
		t, diffs, err := ch2.RecomputeQuality(a, ev)
		if err != nil {
			return err
		}
		r.rep.Mismatches = append(r.rep.Mismatches, diffs...)
		return r.table(t)
	}); err != nil {
		return err
	}
	if err := r.timed("chapter 2: the DDIM-settings and training-budget study over every chapter-2 artifact's quality records", func() error {
		arts, err := ch2.Artifacts(r.o.Artifacts)
		if err != nil {
			return err
		}
		t, err := ch2.SamplerStudy(arts)
		if err != nil {
			return err
		}
		return r.table(t)
	}); err != nil {
		return err
	}
	if err := r.timed("chapter 2: Figure 10 and the DDPM-vs-DDIM figure from the stored samples", func() error {
		f10, err := ch2.Figure10(a, ev, 36)
		if err != nil {
			return err
		}
		ch2src := []string{a.Manifest.ID + "/" + ev.Record.ID}
		if err := r.plot(report.Figure{Thesis: "Figure 10", Path: "plots/fig10-ddpm-samples.png", What: "DDPM-1000 samples of the unconditional DDPM", Sources: ch2src}, f10, evBackend); err != nil {
			return err
		}
		fs, err := ch2.FigureSamplers(a, ev, 8)
		if err != nil {
			return err
		}
		return r.plot(report.Figure{Path: "plots/fig10-ddpm-vs-ddim.png", What: "DDPM-1000 vs DDIM-50 from the same x_T", Sources: ch2src}, fs, evBackend)
	}); err != nil {
		return err
	}
	l, err := ddpmuncond.Load(a)
	if err != nil {
		return err
	}
	if err := l.CheckData(); err != nil {
		return err
	}
	if err := r.timed("chapter 2: Figure 12 (one U-Net pass)", func() error {
		f12, err := ch2.Figure12(r.o.Backend, r.o.Info.Name, l)
		if err != nil {
			return err
		}
		return r.plot(report.Figure{Thesis: "Figure 12", Path: "plots/fig12-denoising-pass.png", What: "an image, noised, and one U-Net pass", Sources: []string{l.Artifact.Manifest.ID}}, f12, r.o.Info.Name)
	}); err != nil {
		return err
	}
	if r.o.ResampleK < 0 {
		return nil
	}
	return r.resample(a, ev, r.o.ResampleK)
}

// report writes thesis/REPORT.md from the tables and figures of this run; it
// is compared byte for byte when every dmseg row was made on this run's backend.
func (r *run) report() error {
	md, err := report.Markdown(report.Input{Tables: r.tables, Figures: r.plots, Artifacts: r.o.Artifacts})
	if err != nil {
		return err
	}
	backend := ""
	for _, t := range r.tables {
		for _, row := range t.Rows {
			if row.Backend != "" && !r.same(row.Backend) {
				backend = row.Backend // made elsewhere: numbers may differ within tolerance, bytes are not compared
			}
		}
	}
	return r.figure(report.File, md, backend)
}

func (r *run) writeTimings() error {
	var b strings.Builder
	fmt.Fprintf(&b, "# make reproduce: timings of the last run\n\nNot compared (timings vary); written by kernels/reproduce. Backend %s, %d cores, %s.\n\n| step | seconds |\n|---|---|\n",
		r.o.Info.Name, engine.Cores(), time.Now().UTC().Format(time.RFC3339))
	steps := r.rep.Timings
	for _, t := range steps {
		fmt.Fprintf(&b, "| %s | %.1f |\n", t.Step, t.Seconds)
	}
	return atomicfile.Write(filepath.Join(r.o.Root, "thesis", "reproduce-timings.md"), []byte(b.String()))
}

// chapter3 writes Tables 1-2 (published rows and ours, re-derived from the
// stored masks), Figures 13-14 and their larger versions, and re-predicts the
// first masks of every record from the weights.
func (r *run) chapter3() error {
	for _, task := range []string{tables.TaskLung, tables.TaskInfection} {
		results, err := r.segTable("chapter 3: "+ch3.TableID(task), func() (*tables.Table, []*ch3.Result, []string, error) {
			return ch3.Table(r.o.Artifacts, task, false)
		})
		if err != nil {
			return err
		}
		if len(results) == 0 {
			continue
		}
		fig := map[string]string{tables.TaskLung: "fig13", tables.TaskInfection: "fig14"}[task]
		if err := r.timed("chapter 3: "+fig+" from the stored masks", func() error {
			be := results[0].Eval.Record.Backend.Name
			if f, err := ch3.Figure(results, task, 0); err == nil {
				thesisFig := map[string]string{"fig13": "Figure 13", "fig14": "Figure 14"}[fig]
				if err := r.plot(report.Figure{Thesis: thesisFig, Path: "plots/" + fig + "-" + task + "-masks.png", What: task + ": generated vs true masks, the thesis's layout", Sources: sources(results)}, f, be); err != nil {
					return err
				}
			} else {
				r.logf("chapter 3: %v (skipped)\n", err)
			}
			f, err := ch3.FigureLarge(results, task, 8)
			if err != nil {
				return err
			}
			return r.plot(report.Figure{Path: "plots/" + fig + "-" + task + "-overlays.png", What: task + ": more cases, errors overlaid on the X-ray, every model", Sources: sources(results)}, f, be)
		}); err != nil {
			return err
		}
		if err := r.resampleAll(results); err != nil {
			return err
		}
	}
	if err := r.timed("chapter 3: Dice vs sampling steps from the stored masks", r.steps); err != nil {
		return err
	}
	if err := r.timed("chapter 3: sample ensembles from the stored masks", r.ensembles); err != nil {
		return err
	}
	seeds, err := r.segTable("chapter 3: seed study", func() (*tables.Table, []*ch3.Result, []string, error) {
		return ch3.SeedTable(r.o.Artifacts)
	})
	if err != nil {
		return err
	}
	var extra []*ch3.Result // seed 1 is re-sampled with Table 1
	for _, res := range seeds {
		if strings.Contains(res.Artifact.Manifest.Experiment, "-seed") {
			extra = append(extra, res)
		}
	}
	if err := r.resampleAll(extra); err != nil {
		return err
	}
	return r.brain()
}

// brain writes the second dataset's table and figure (experiments brain-*).
func (r *run) brain() error {
	results, err := r.segTable("brain MRI: table", func() (*tables.Table, []*ch3.Result, []string, error) {
		return ch3.BrainTable(r.o.Artifacts, false)
	})
	if err != nil || len(results) == 0 {
		return err
	}
	if err := r.timed("brain MRI: figure from the stored masks", func() error {
		f, err := ch3.FigureLarge(results, "brain", 8)
		if err != nil {
			return err
		}
		return r.plot(report.Figure{Path: "plots/brain-overlays.png", What: "brain MRI (second dataset): validation slices, errors overlaid, every model", Sources: sources(results)},
			f, results[0].Eval.Record.Backend.Name)
	}); err != nil {
		return err
	}
	return r.resampleAll(results)
}

// steps writes the steps study's table and plot when its records exist
// (scripts/ch3-steps.sh makes them).
func (r *run) steps() error {
	a, err := runners.CurrentArtifact(r.o.Artifacts, ch3.StepsStudy)
	if err != nil {
		r.logf("chapter 3: steps study skipped: %v\n", err)
		return nil
	}
	pts, diffs, err := ch3.StepPoints(a, "val", ch3.StepsN)
	if err != nil {
		return err
	}
	if len(pts) < 2 {
		r.logf("chapter 3: steps study skipped: %d record(s) of %d images on %s (run scripts/ch3-steps.sh)\n", len(pts), ch3.StepsN, a.Manifest.ID)
		return nil
	}
	r.rep.Mismatches = append(r.rep.Mismatches, diffs...)
	if err := r.table(ch3.StepsTable(a, pts)); err != nil {
		return err
	}
	evs, err := a.Evals()
	if err != nil {
		return err
	}
	backend := ""
	for _, ev := range evs {
		if ev.Record.ID == pts[0].Eval {
			backend = ev.Record.Backend.Name
		}
	}
	f, err := ch3.StepsFigure(fmt.Sprintf("%s: Dice vs sampling steps (first %d validation images)", a.Manifest.Experiment, ch3.StepsN), pts,
		a.Manifest.ID+" | "+backend)
	if err != nil {
		return err
	}
	var srcs []string
	for _, q := range pts {
		srcs = append(srcs, a.Manifest.ID+"/"+q.Eval)
	}
	return r.plot(report.Figure{Path: "plots/ch3-dice-vs-steps.png", What: "pooled Dice and seconds per image vs DDIM steps, and DDPM-1000", Sources: srcs}, f, backend)
}

// ensembles writes the ensemble study's table, its Dice-vs-k plot and the
// uncertainty maps when its records exist (`dmseg evaluate --samples 9`). The
// records hold K-fused masks, which a re-draw of one sample cannot confirm,
// so they are checked by re-deriving their metrics only.
func (r *run) ensembles() error {
	t, es, diffs, err := ch3.EnsembleTable(r.o.Artifacts)
	if err != nil {
		return err
	}
	if len(es) == 0 {
		r.logf("chapter 3: ensemble study skipped: no ensemble record (dmseg evaluate --artifact NAME --samples 9)\n")
		return nil
	}
	r.rep.Mismatches = append(r.rep.Mismatches, diffs...)
	if err := r.table(t); err != nil {
		return err
	}
	var srcs []string
	for _, e := range es {
		srcs = append(srcs, e.Artifact.Manifest.ID+"/"+e.Eval.Record.ID)
	}
	backend := es[0].Eval.Record.Backend.Name
	f, err := ch3.EnsembleFigure(es)
	if err != nil {
		return err
	}
	if err := r.plot(report.Figure{Path: "plots/ch3-ensembles.png", What: "pooled and per-image Dice vs samples fused per image (k = 1, 3, 5, 9)", Sources: srcs}, f, backend); err != nil {
		return err
	}
	for _, e := range es {
		f, err := ch3.UncertaintyFigure(e, 6)
		if err != nil {
			return err
		}
		if err := r.plot(report.Figure{Path: "plots/ch3-uncertainty-" + e.Model.Task + ".png",
			What:    fmt.Sprintf("%s: fused probability of %d samples per image and per-pixel disagreement, first validation phantoms", e.Model.Task, e.Protocol.Samples),
			Sources: []string{e.Artifact.Manifest.ID + "/" + e.Eval.Record.ID}}, f, e.Eval.Record.Backend.Name); err != nil {
			return err
		}
	}
	return nil
}

// resampleAll re-draws the first ResampleK predictions of each result's record.
func (r *run) resampleAll(results []*ch3.Result) error {
	if r.o.ResampleK < 0 {
		return nil
	}
	for _, res := range results {
		if err := r.resample(res.Artifact, res.Eval, min(r.o.ResampleK, res.Protocol.Batch, res.Protocol.N)); err != nil {
			return err
		}
	}
	return nil
}

// resample re-draws the first k predictions of a record from the artifact's
// weights; on the record's backend they must be equal, on another within a
// tolerance.
func (r *run) resample(a *artifacts.Artifact, ev *artifacts.Eval, k int) error {
	evBackend := ev.Record.Backend.Name
	return r.timed(fmt.Sprintf("re-sample %d predictions of %s/%s", k, a.Manifest.ID, ev.Record.ID), func() error {
		run, _, err := runners.ForArtifact(a)
		if err != nil {
			return err
		}
		tol := 0
		if !r.same(evBackend) {
			tol = 8 // 8-bit levels (ddpm-uncond) or mask pixels (segmentation): another backend's float rounding
		}
		rep, err := run.Resample(a, ev, k, runners.EvalOptions{Backend: r.o.Backend, Info: r.o.Info, Log: r.o.Log, Progress: true}, tol)
		if err != nil {
			r.rep.Mismatches = append(r.rep.Mismatches, err.Error())
			return nil
		}
		r.logf("re-sampled %d: max difference %d levels, %d pixels differ (tolerance %d)\n", rep.Compared, rep.MaxAbsLevels, rep.Differing, tol)
		return nil
	})
}

// chapter4 writes Table 3 (published rows and ours), Figure 15 and the
// larger overlay figure, and re-samples the first masks of every record.
func (r *run) chapter4() error {
	results, err := r.segTable("chapter 4: table3", func() (*tables.Table, []*ch3.Result, []string, error) {
		return ch4.Table3(r.o.Artifacts, false)
	})
	if err != nil {
		return err
	}
	if len(results) == 0 {
		return nil
	}
	if err := r.timed("chapter 4: fig15 from the stored masks", func() error {
		be := results[0].Eval.Record.Backend.Name
		if f, err := ch4.Figure15(results, 0); err == nil {
			if err := r.plot(report.Figure{Thesis: "Figure 15", Path: "plots/fig15-bbdm-masks.png", What: "BBDM: generated vs true masks", Sources: sources(results)}, f, be); err != nil {
				return err
			}
		} else {
			r.logf("chapter 4: %v (skipped)\n", err)
		}
		for _, res := range results {
			f, err := ch3.FigureLarge([]*ch3.Result{res}, res.Model.Task, 8)
			if err != nil {
				return err
			}
			if err := r.plot(report.Figure{Path: "plots/fig15-bbdm-" + res.Model.Task + "-overlays.png", What: "BBDM " + res.Model.Task + ": more cases, errors overlaid", Sources: sources([]*ch3.Result{res})}, f, be); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := r.resampleAll(results); err != nil {
		return err
	}
	return r.chapter4Studies()
}

// chapter4Studies writes what chapter 4 leaves open: CLAHE on vs off, BBDM
// beside chapter 3 and the DiT bridge beside the U-Net bridge with their
// budgets (table and loss-vs-time plot), and the sampling studies (Dice vs
// steps, eta 0 vs 1 over seeds) when their records exist.
func (r *run) chapter4Studies() error {
	clahe, err := r.segTable("chapter 4: CLAHE on vs off", func() (*tables.Table, []*ch3.Result, []string, error) {
		return ch4.CLAHETable(r.o.Artifacts, false)
	})
	if err != nil {
		return err
	}
	if err := r.resampleAll(onlyExperiment(clahe, "ch4-bbdm-lung-noclahe-cpu")); err != nil {
		return err
	}
	cmp, err := r.segTable("chapter 4: BBDM vs chapter 3, DiT vs U-Net bridge", func() (*tables.Table, []*ch3.Result, []string, error) {
		return ch4.CompareTable(r.o.Artifacts, false)
	})
	if err != nil {
		return err
	}
	var dits []*ch3.Result
	for _, res := range cmp {
		if strings.HasSuffix(res.Artifact.Manifest.Experiment, "-dit-cpu") {
			dits = append(dits, res)
		}
	}
	if len(dits) > 0 {
		if err := r.timed("chapter 4: DiT vs U-Net bridge loss curves", func() error {
			be := dits[0].Eval.Record.Backend.Name
			f, err := ch4.BackboneFigure(cmp, "loss.csv of "+strings.Join(idsOf(cmp, "bbdm"), ", "))
			if err != nil {
				return err
			}
			return r.plot(report.Figure{Path: "plots/ch4-dit-vs-unet.png", What: "BBDM backbones: training loss vs wall-clock minutes, U-Net vs DiT, with Dice", Sources: sources(cmp)}, f, be)
		}); err != nil {
			return err
		}
		if err := r.resampleAll(dits); err != nil {
			return err
		}
	}
	return r.timed("chapter 4: sampling studies from the stored masks", r.ch4Sampling)
}

func onlyExperiment(rs []*ch3.Result, exp string) []*ch3.Result {
	var out []*ch3.Result
	for _, res := range rs {
		if res.Artifact.Manifest.Experiment == exp {
			out = append(out, res)
		}
	}
	return out
}

func idsOf(rs []*ch3.Result, contains string) []string {
	var out []string
	for _, res := range rs {
		if strings.Contains(res.Artifact.Manifest.Experiment, contains) {
			out = append(out, res.Artifact.Manifest.ID)
		}
	}
	return out
}

// ch4Sampling writes the bridge's steps and eta studies when their records
// exist (scripts/ch4-studies.sh makes them).
func (r *run) ch4Sampling() error {
	a, err := runners.CurrentArtifact(r.o.Artifacts, ch4.StudyExperiment)
	if err != nil {
		r.logf("chapter 4: sampling studies skipped: %v\n", err)
		return nil
	}
	evs, err := a.ReadEvals()
	if err != nil {
		return err
	}
	backendOf := func(id string) string {
		for _, ev := range evs {
			if ev.Record.ID == id {
				return ev.Record.Backend.Name
			}
		}
		return ""
	}
	pts, diffs, err := ch4.StepPoints(a, ch4.StudyN)
	if err != nil {
		return err
	}
	r.rep.Mismatches = append(r.rep.Mismatches, diffs...)
	if len(pts) >= 2 {
		if err := r.table(ch4.StepsTable(a, pts)); err != nil {
			return err
		}
		be := backendOf(pts[0].Eval)
		f, err := ch3.StepsFigure(fmt.Sprintf("%s: Dice vs skip steps (first %d validation images)", a.Manifest.Experiment, ch4.StudyN), pts, a.Manifest.ID+" | "+be)
		if err != nil {
			return err
		}
		var srcs []string
		for _, q := range pts {
			srcs = append(srcs, a.Manifest.ID+"/"+q.Eval)
		}
		if err := r.plot(report.Figure{Path: "plots/ch4-dice-vs-steps.png", What: "BBDM: pooled Dice and seconds per image vs skip steps", Sources: srcs}, f, be); err != nil {
			return err
		}
	} else {
		r.logf("chapter 4: steps study skipped: %d record(s) of %d images on %s (run scripts/ch4-studies.sh)\n", len(pts), ch4.StudyN, a.Manifest.ID)
	}
	rows, _, err := ch4.EtaStudy(a, ch4.StudyN)
	if err != nil {
		return err
	}
	if len(rows) < 2 {
		r.logf("chapter 4: eta study skipped: %d eta value(s) on %s (run scripts/ch4-studies.sh)\n", len(rows), a.Manifest.ID)
		return nil
	}
	return r.table(ch4.EtaTable(a, rows))
}

// chapter5 writes Tables 4-5 (published rows and ours), the VQ-GAN
// reconstruction table, Figure 16 from the reconstruction records and
// Figure 17 (published values, and ours where trained), and re-samples the
// first masks of every latent record.
func (r *run) chapter5() error {
	var latent []*ch3.Result
	for _, tb := range []struct {
		id    string
		build func(string, bool) (*tables.Table, []*ch3.Result, []string, error)
	}{{"table4", ch5.Table4}, {"table5", ch5.Table5}} {
		res, err := r.segTable("chapter 5: "+tb.id, func() (*tables.Table, []*ch3.Result, []string, error) { return tb.build(r.o.Artifacts, false) })
		if err != nil {
			return err
		}
		latent = append(latent, res...)
	}
	var vqs []*ch5.VQ
	if err := r.timed("chapter 5: VQ-GAN reconstructions", func() error {
		t, found, err := ch5.VQTable(r.o.Artifacts)
		if err != nil {
			return err
		}
		vqs = found
		if err := r.table(t); err != nil {
			return err
		}
		if len(found) == 0 {
			return nil
		}
		f, err := ch5.Figure16(found, 2)
		if err != nil {
			r.logf("chapter 5: %v (skipped)\n", err)
			return nil
		}
		var srcs []string
		for _, v := range found {
			srcs = append(srcs, v.Artifact.Manifest.ID+"/"+v.Eval.Record.ID)
		}
		return r.plot(report.Figure{Thesis: "Figure 16", Path: "plots/fig16-vqgan-reconstructions.png", What: "VQ-GAN f4 and f8 reconstructions of X-rays and masks", Sources: srcs},
			f, found[0].Eval.Record.Backend.Name)
	}); err != nil {
		return err
	}
	for _, v := range vqs {
		if r.o.ResampleK < 0 {
			break
		}
		if err := r.resample(v.Artifact, v.Eval, min(r.o.ResampleK, v.Protocol.Batch, v.Protocol.N)); err != nil {
			return err
		}
	}
	if err := r.timed("chapter 5: fig17 from the tables", func() error {
		pub, err := ch5.PublishedPoints()
		if err != nil {
			return err
		}
		ours, diffs, err := ch5.OurPoints(r.o.Artifacts)
		if err != nil {
			return err
		}
		r.rep.Mismatches = append(r.rep.Mismatches, diffs...)
		var srcs []string
		for _, q := range ours {
			srcs = append(srcs, q.Source)
		}
		f, err := ch5.Figure17(append(pub, ours...), fmt.Sprintf("thesis Tables 1-5 and %d record(s) of ours", len(ours)))
		if err != nil {
			return err
		}
		return r.plot(report.Figure{Thesis: "Figure 17", Path: "plots/fig17-dice-vs-downsampling.png", What: "Dice and MCC vs downsampling rate (1, 4, 8): DDPM/LDM and BBDM/LBBDM, thesis and ours", Sources: srcs}, f, "") // from stored masks: the same on every backend
	}); err != nil {
		return err
	}
	return r.resampleAll(latent)
}

// segTable writes a segmentation table whose numbers build re-derives from
// stored masks, records every re-derivation difference, and returns the
// results for the figures.
func (r *run) segTable(step string, build func() (*tables.Table, []*ch3.Result, []string, error)) ([]*ch3.Result, error) {
	var results []*ch3.Result
	err := r.timed(step+" re-derived from the stored masks", func() error {
		t, res, diffs, err := build()
		if err != nil {
			return err
		}
		results = res
		r.rep.Mismatches = append(r.rep.Mismatches, diffs...)
		return r.table(t)
	})
	return results, err
}

package ddpmseg_test

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmseg/dmseg/kernels/data/covidqu"
	"github.com/dmseg/dmseg/kernels/engine"
	"github.com/dmseg/dmseg/kernels/engine/enginetest"
	"github.com/dmseg/dmseg/kernels/experiments"
	"github.com/dmseg/dmseg/kernels/figures/ch3"
	"github.com/dmseg/dmseg/kernels/runners"
	_ "github.com/dmseg/dmseg/kernels/runners/ddpmseg"
	"github.com/dmseg/dmseg/kernels/runners/segeval"
	_ "github.com/dmseg/dmseg/kernels/runners/unetseg"
)

// Both segmentation kinds end to end on their tiny experiments: train ->
// artifact -> segmentation record whose counts re-derive from its stored
// masks -> re-predicting batch 0 gives the same masks -> evaluating again with
// the same protocol is refused as a duplicate record.
func TestTinySegmentationEndToEnd(t *testing.T) {
	b := enginetest.XLA(t)
	info := engine.Info{Name: "xla:cpu"}
	covid := t.TempDir()
	if err := covidqu.WriteMiniTree(covid, 3, 20); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ch3-ddpm-concat-tiny", "ch3-unet-tiny-covidqu"} { // the baseline runs on the COVID-QU-Ex tree
		t.Run(name, func(t *testing.T) {
			e, err := experiments.Get(strings.TrimSuffix(name, "-covidqu"))
			if err != nil {
				t.Fatal(err)
			}
			nval := 8
			if strings.HasSuffix(name, "-covidqu") {
				// The same pipeline on a COVID-QU-Ex tree in the Kaggle layout: 3 val images per class.
				if e, err = e.WithCOVIDQU(covid); err != nil {
					t.Fatal(err)
				}
				nval = 9
			}
			r, err := runners.Get(e.Kind)
			if err != nil {
				t.Fatal(err)
			}
			root := t.TempDir()
			res, err := r.Train(e, runners.TrainOptions{Backend: b, Info: info, WorkDir: filepath.Join(root, "run"),
				ArtifactsRoot: filepath.Join(root, "art"), Log: io.Discard})
			if err != nil || res.Artifact == nil {
				t.Fatalf("train: %v %+v", err, res)
			}
			// Resuming the finished run publishes nothing new.
			again, err := r.Train(e, runners.TrainOptions{Backend: b, Info: info, WorkDir: filepath.Join(root, "run"),
				ArtifactsRoot: filepath.Join(root, "art"), Log: io.Discard, Resume: true})
			if err != nil || again.Artifact == nil || again.Artifact.Manifest.ID != res.Artifact.Manifest.ID {
				t.Fatalf("resume of a finished run: %v %+v", err, again)
			}
			if ents, _ := os.ReadDir(filepath.Join(root, "art")); len(ents) != 1 {
				t.Fatalf("artifacts after resuming a finished run: %v", ents)
			}
			o := runners.EvalOptions{Backend: b, Info: info, Batch: 3, Log: io.Discard}
			ev, err := r.Evaluate(res.Artifact, o)
			if err != nil {
				t.Fatal(err)
			}
			p, rs, err := segeval.Open(ev)
			if err != nil {
				t.Fatal(err)
			}
			if p.N != nval || p.Split != "val" || p.Threshold != 0.5 || rs.Pooled.N != nval || len(rs.Counts) != nval || (nval == 9) != strings.HasPrefix(p.Data, "covidqu:") {
				t.Fatalf("protocol %+v results %+v", p, rs.Summary)
			}
			set, err := e.LoadSplit("val")
			if err != nil {
				t.Fatal(err)
			}
			masks, err := segeval.StoredMasks(ev, set.W)
			if err != nil {
				t.Fatal(err)
			}
			cs, _ := segeval.Score(set, masks, p.N)
			for i := range cs {
				if cs[i] != rs.Counts[i] {
					t.Fatalf("image %d: stored masks %+v, recorded counts %+v", i, cs[i], rs.Counts[i])
				}
			}
			// Chapter 3's tables and figures re-derive the same numbers from the record.
			cr, err := ch3.Recompute(ch3.Model{Label: name, Experiment: e.Name}, res.Artifact, ev)
			if err != nil || len(cr.Diffs) > 0 || cr.Summary != rs.Summary {
				t.Fatalf("recompute: %v %v", err, cr)
			}
			if png, err := ch3.FigureLarge([]*ch3.Result{cr}, "lung", 4); err != nil || len(png) < 100 {
				t.Fatalf("figure: %v", err)
			}
			rep, err := r.Resample(res.Artifact, ev, 3, o, 0)
			if err != nil || rep.Compared != 3 || rep.Differing != 0 {
				t.Fatalf("resample: %v %+v", err, rep)
			}
			if _, err := r.Evaluate(res.Artifact, o); err == nil || !strings.Contains(err.Error(), ev.Record.ID) {
				t.Errorf("second identical evaluation: %v", err)
			}
			if e.Kind != experiments.KindDDPMSeg {
				return
			}
			// The steps study: a DDIM-2 record beside the DDIM-5 one gives two points, sorted,
			// each with the Dice its record holds.
			o2 := o
			o2.DDIM.Steps = 2
			ev2, err := r.Evaluate(res.Artifact, o2)
			if err != nil {
				t.Fatal(err)
			}
			_, rs2, _ := segeval.Open(ev2)
			pts, diffs, err := ch3.StepPoints(res.Artifact, "val", nval)
			if err != nil || len(diffs) > 0 || len(pts) != 2 {
				t.Fatalf("step points: %v %v %+v", err, diffs, pts)
			}
			if pts[0].Steps != 2 || pts[1].Steps != 5 || pts[0].Dice != rs2.Pooled.Dice || pts[1].Dice != rs.Pooled.Dice || pts[0].Eval != ev2.Record.ID {
				t.Errorf("step points %+v, records: DDIM-2 Dice %g, DDIM-5 Dice %g", pts, rs2.Pooled.Dice, rs.Pooled.Dice)
			}
			if pts, _, _ := ch3.StepPoints(res.Artifact, "val", nval+1); len(pts) != 0 {
				t.Errorf("points of another n: %+v", pts)
			}
			if tab := ch3.StepsTable(res.Artifact, pts); len(tab.Rows) != 2 || tab.Rows[0].Label != "DDIM-2" || tab.Validate() != nil {
				t.Errorf("steps table: %+v (%v)", tab.Rows, tab.Validate())
			}
		})
	}
}

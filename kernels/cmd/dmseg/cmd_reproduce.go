package main

import (
	"fmt"
	"os"
	"time"

	"github.com/dmseg/dmseg/kernels/engine"
	"github.com/dmseg/dmseg/kernels/reproduce"
)

func init() {
	register("reproduce", "check every artifact and regenerate+compare every table and figure (make reproduce)", runReproduce)
}

func runReproduce(args []string) error {
	fs := newFlags("reproduce", "[--tier verify|default] [--update] [--resample K]", `
The main job. Tier "verify" re-hashes every artifact and evaluation record (seconds). Tier "default"
also regenerates every table (thesis/tables/*.md + .json) and figure (plots/) from the committed
artifacts and evaluation records, compares every number with the committed one (equal on the backend
that produced it, within the table's declared tolerance on another), and re-samples the first K images
of each evaluation record to confirm the stored samples come from the stored weights. A mismatch
fails naming the table, row, column, both values and the tolerance; the committed file is kept and the
regenerated one goes to .cache/reproduce/. --update accepts the regenerated outputs instead (after an
intended change). Timings go to thesis/reproduce-timings.md and are never compared. Retraining is
`+"`make train-all`"+`.`)
	tier := fs.String("tier", reproduce.TierDefault, "verify or default")
	update := fs.Bool("update", false, "write regenerated outputs even where they differ from the committed ones")
	k := fs.Int("resample", 8, "images per sampler re-drawn from the weights per evaluation record (0 = none)")
	be := backendFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *k < 0 {
		return fmt.Errorf("--resample must be >= 0, got %d", *k)
	}
	if *k == 0 {
		*k = -1
	}
	root := engine.ProjectRoot()
	if root == "" {
		return fmt.Errorf("reproduce: run inside the dmseg checkout (no go.mod of the dmseg module found above %s)", mustWd())
	}
	resample := *k
	if resample == 0 {
		resample = -1 // Options: 0 is the default (8), < 0 none
	}
	o := reproduce.Options{Tier: *tier, Root: root, Update: *update, ResampleK: resample, Log: os.Stderr}
	if *tier != reproduce.TierVerify {
		backend, info, err := openBackend(*be)
		if err != nil {
			return err
		}
		o.Backend, o.Info = backend, info
	}
	t0 := time.Now()
	rep, err := reproduce.Run(o)
	if err != nil {
		return err
	}
	if *tier == reproduce.TierVerify {
		fmt.Printf("reproduce (verify tier): every artifact and evaluation record verified; %.0f s\n", time.Since(t0).Seconds())
		return nil
	}
	fmt.Printf("reproduce (%s tier): every regenerated number equals the committed one; %d files written; %.0f s\n", *tier, len(rep.Written), time.Since(t0).Seconds())
	return nil
}

func mustWd() string {
	wd, _ := os.Getwd()
	return wd
}

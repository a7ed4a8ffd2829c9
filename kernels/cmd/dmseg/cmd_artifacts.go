package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/dmseg/dmseg/kernels/artifacts"
	"github.com/dmseg/dmseg/kernels/experiments"
)

func init() {
	register("artifacts", "list, show or verify versioned training artifacts", runArtifacts)
}

const artifactsHelp = `
Training runs are stored as artifacts/<id>/ with a manifest.json (uuid, creation time, canonical config and
its sha256, dataset fingerprint, git commit, backend and plugin version, seeds, metrics, timings,
weights_sha256 and every file's sha256).

  dmseg artifacts list               one line per artifact, newest first
  dmseg artifacts show ID            the manifest (ID: full id, unique prefix, or experiment name = newest)
  dmseg artifacts verify [ID...]     re-hash every file, evaluation records (evals/<eval-id>/) included;
                                     no ID = all artifacts. Exit status 1 on any mismatch.

show also says whether the recorded config is the resolved one (every default filled in, as manifests
of format dmseg-artifact/2 record it) and lists what differs for older manifests.

The folder is $DMSEG_ARTIFACTS, else <checkout>/artifacts (or --artifacts; --root is its older name).`

func runArtifacts(args []string) error {
	fs := newFlags("artifacts", "list|show|verify [ID...]", artifactsHelp)
	root := fs.String("artifacts", artifacts.Root(), "artifacts folder (as in train, sample, evaluate)")
	fs.StringVar(root, "root", artifacts.Root(), "artifacts folder (older name of --artifacts)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return errors.New("missing subcommand: list, show or verify")
	}
	// Allow flags after the subcommand too.
	if err := fs.Parse(rest[1:]); err != nil {
		return err
	}
	sub, ids := rest[0], fs.Args()
	if st, err := os.Stat(*root); err != nil || !st.IsDir() {
		return fmt.Errorf("artifacts folder %s does not exist or is not a folder (set --artifacts or $DMSEG_ARTIFACTS)", *root)
	}
	switch sub {
	case "list":
		ms, errs := artifacts.List(*root)
		tw := tabwriter.NewWriter(os.Stdout, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tEXPERIMENT\tCREATED\tBACKEND\tSTEPS\tFILES\tMB")
		for _, m := range ms {
			var bytes int64
			for _, f := range m.Files {
				bytes += f.Bytes
			}
			steps := ""
			if v, ok := m.Metrics["steps"]; ok {
				steps = fmt.Sprint(int64(v))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%.2f\n", m.ID, m.Experiment, m.CreatedAt, m.Backend.Name, steps, len(m.Files), float64(bytes)/1e6)
		}
		tw.Flush()
		for _, e := range errs {
			fmt.Fprintln(os.Stderr, "warning:", e)
		}
		if len(ms) == 0 {
			fmt.Fprintf(os.Stderr, "no artifacts in %s\n", *root)
		}
		return nil
	case "show":
		if len(ids) != 1 {
			return errors.New("show needs exactly one artifact ID")
		}
		dir, err := artifacts.Resolve(*root, ids[0])
		if err != nil {
			return err
		}
		m, err := artifacts.ReadManifest(dir)
		if err != nil {
			return err
		}
		b, _ := json.MarshalIndent(m, "", "  ")
		fmt.Println(string(b))
		diffs, err := experiments.CheckRecorded(m.Config)
		switch {
		case err != nil:
			fmt.Fprintf(os.Stderr, "warning: the recorded config cannot be resolved by this code: %v\n", err)
		case len(diffs) > 0:
			fmt.Fprintf(os.Stderr, "NOTE: the recorded config is not the resolved one (format %s); what ran differs from what is recorded in:\n", m.Format)
			for _, d := range diffs {
				fmt.Fprintln(os.Stderr, "  "+d)
			}
		default:
			fmt.Fprintln(os.Stderr, "config: the recorded config is the resolved one (every default filled in)")
		}
		a := &artifacts.Artifact{Dir: dir, Manifest: m}
		if err := a.Verify(); err != nil {
			fmt.Fprintln(os.Stderr, "VERIFY FAILED:", err)
			return err
		}
		fmt.Fprintf(os.Stderr, "verified: %d files, weights_sha256 %s\n", len(m.Files), m.WeightsSHA256)
		evs, err := a.Evals()
		for _, ev := range evs {
			fmt.Fprintf(os.Stderr, "evaluation %s (%s, %s, %s): %d files verified\n", ev.Record.ID, ev.Record.Name, ev.Record.Backend.Name, ev.Record.CreatedAt, len(ev.Record.Files))
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "VERIFY FAILED:", err)
		}
		return err
	case "verify":
		var failed []string
		if len(ids) == 0 {
			ms, errs := artifacts.List(*root)
			for _, err := range errs {
				fmt.Printf("FAIL %v\n", err)
				failed = append(failed, "(a folder that is not an artifact)")
			}
			for _, m := range ms {
				ids = append(ids, m.ID)
			}
			if len(ids) == 0 && len(failed) == 0 {
				fmt.Fprintf(os.Stderr, "no artifacts in %s\n", *root)
				return nil
			}
		}
		sort.Strings(ids)
		for _, id := range ids {
			a, err := artifacts.Open(*root, id)
			if err != nil {
				fmt.Printf("FAIL %s: %v\n", id, err)
				failed = append(failed, id)
				continue
			}
			fmt.Printf("ok   %s (%d files, weights_sha256 %s)\n", a.Manifest.ID, len(a.Manifest.Files), short(a.Manifest.WeightsSHA256))
			evs, err := a.Evals()
			for _, ev := range evs {
				fmt.Printf("ok     evals/%s (%d files)\n", ev.Record.ID, len(ev.Record.Files))
			}
			if err != nil {
				fmt.Printf("FAIL %s evaluations: %v\n", id, err)
				failed = append(failed, id+" (evaluations)")
			}
		}
		if len(failed) > 0 {
			return fmt.Errorf("%d artifact(s) failed verification: %s", len(failed), strings.Join(failed, ", "))
		}
		return nil
	}
	return fmt.Errorf("unknown subcommand %q (want list, show or verify)", sub)
}

func short(h string) string {
	if len(h) > 16 {
		return h[:16] + "…"
	}
	return h
}

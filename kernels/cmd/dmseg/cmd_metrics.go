package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/dmseg/dmseg/kernels/metrics/seg"
)

func init() {
	register("metrics", "the thesis's 8 segmentation metrics between two folders of binary PNG masks", runMetrics)
}

func runMetrics(args []string) error {
	fs := newFlags("metrics", "--pred DIR --truth DIR [--json]", `
Compares every predicted mask in --pred with the same-named ground-truth mask in --truth and prints
the eight metrics of the thesis's Tables 1-5 (section 3.3), in its column order: Dice, Jaccard,
Accuracy, Sensitivity, Specificity, Balanced Accuracy, Precision, MCC.

Two aggregations, because the thesis does not say which it used:
  pooled          confusion counts summed over all images, then the formulas once
  per_image_mean  the formulas per image, then the mean over images
0/0 cases (empty truth, empty prediction) are defined in kernels/metrics/seg: a ratio whose
denominator counts nothing is 1 when the prediction makes no error of that kind, else 0; MCC of a
constant mask is 1 for an exact match, else 0.

Masks must be binary PNGs (0 and 255, or 0 and 1) of equal size in both folders; a missing partner,
a size mismatch or another value is an error naming the file.`)
	pred := fs.String("pred", "", "folder of predicted masks (required)")
	truth := fs.String("truth", "", "folder of ground-truth masks (required)")
	asJSON := fs.Bool("json", false, "print JSON {pooled, per_image_mean} instead of a table")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	if *pred == "" || *truth == "" {
		fs.Usage()
		return errors.New("--pred and --truth are required")
	}
	pc, err := seg.CompareDirs(*pred, *truth)
	if err != nil {
		return err
	}
	s := seg.Summarize(pc.Counts)
	if *asJSON {
		b, err := json.MarshalIndent(s, "", "  ")
		if err != nil {
			return err
		}
		fmt.Println(string(b))
		return nil
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "aggregation\t")
	for _, n := range seg.Names {
		fmt.Fprintf(tw, "%s\t", n)
	}
	fmt.Fprintln(tw, "n\t")
	for _, r := range []struct {
		name string
		m    seg.Metrics
	}{{"pooled", s.Pooled}, {"per_image_mean", s.PerImageMean}} {
		fmt.Fprintf(tw, "%s\t", r.name)
		for _, v := range r.m.Values() {
			fmt.Fprintf(tw, "%.4f\t", v)
		}
		fmt.Fprintf(tw, "%d\t\n", r.m.N)
	}
	return tw.Flush()
}

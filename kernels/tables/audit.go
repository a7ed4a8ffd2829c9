package tables

import (
	"fmt"
	"math"
	"strings"
)

// Audit assumes every value was printed with 4 decimals, so each carries a rounding error of up to
// half a unit in the last place.
const auditHalfUnit = 0.5e-4

// Verdicts of Audit findings.
const (
	// VerdictInconsistent: no confusion matrix and no averaging of per-image (or per-batch) values
	// over one set of images gives these numbers.
	VerdictInconsistent = "inconsistent with the metric definitions"
	// VerdictNotPooled: the numbers cannot come from one confusion matrix pooled over all pixels of
	// all images, but can come from averaging per-image or per-batch values (the thesis does not say
	// how it aggregated).
	VerdictNotPooled = "not consistent with pooled aggregation"
	// VerdictSuspicious: two rows print the same value in several columns, which suggests copied
	// cells.
	VerdictSuspicious = "suspicious"
)

// Audit checks the segmentation metrics of each row against what their definitions imply, allowing
// for 4-decimal rounding (each printed value within 0.5e-4 of the true one, so 1e-4 for a difference
// of two printed numbers), and returns one sentence per finding, each ending in one of the verdicts
// VerdictInconsistent, VerdictNotPooled or VerdictSuspicious, possibly followed by hints. A check is
// skipped when a row lacks a metric it needs.
//
// Definitions, whatever the aggregation (every average of per-image values over the same images
// keeps them): values in [0,1] (MCC in [-1,1]); balanced_accuracy = (sensitivity+specificity)/2;
// jaccard <= dice; jaccard >= dice/(2-dice) (per image J = D/(2-D), a convex function, so by
// Jensen's inequality the mean Jaccard is at least that of the mean Dice).
//
// Pooled aggregation (one confusion matrix over all pixels): jaccard = dice/(2-dice); accuracy lies
// between sensitivity and specificity (it is their prevalence-weighted mean); dice = 2PS/(P+S) for
// precision P and sensitivity S; sensitivity, specificity and precision fix the normalised confusion
// matrix, which then predicts accuracy and MCC.
//
// Across rows of the same source: two rows printing identical values in two or more columns.
func Audit(rows []Row) []string {
	fs := audit(rows)
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.text
	}
	return out
}

// finding is one Audit result: the rows it concerns, its verdict and its sentence.
type finding struct {
	rows    []rowKey
	verdict string
	text    string
}

func audit(rows []Row) []finding {
	var out []finding
	for i := range rows {
		out = append(out, auditRow(rows, i)...)
	}
	return append(out, auditCopies(rows)...)
}

// interval is the range of a derived quantity over the rounding box of its inputs.
type interval struct{ lo, hi float64 }

func (iv interval) mid() float64 { return (iv.lo + iv.hi) / 2 }

// contains reports whether a printed value (itself rounded) is compatible with the interval.
func (iv interval) contains(printed float64) bool {
	const eps = 1e-12
	return printed >= iv.lo-auditHalfUnit-eps && printed <= iv.hi+auditHalfUnit+eps
}

// derive evaluates f at every corner of the box [x-h, x+h]^n and returns the range of the results
// (enough for the smooth, locally monotone functions used here). ok is false when some corner gives
// a non-finite value (the box touches a singularity) so that no conclusion can be drawn.
func derive(f func(x []float64) float64, x ...float64) (iv interval, ok bool) {
	n := len(x)
	y := make([]float64, n)
	iv = interval{math.Inf(1), math.Inf(-1)}
	for corner := 0; corner < 1<<n; corner++ {
		for j := range x {
			if corner&(1<<j) != 0 {
				y[j] = x[j] + auditHalfUnit
			} else {
				y[j] = x[j] - auditHalfUnit
			}
		}
		v := f(y)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return interval{}, false
		}
		iv.lo, iv.hi = math.Min(iv.lo, v), math.Max(iv.hi, v)
	}
	return iv, true
}

func f4(v float64) string { return FormatValue(v, 4) }
func f5(v float64) string { return FormatValue(v, 5) }

// pooledCounts returns the normalised confusion matrix (fractions of all pixels) that has the
// given sensitivity, specificity and precision.
func pooledCounts(s, sp, p float64) (tp, fn, tn, fp float64) {
	// precision = prev*s / (prev*s + (1-prev)*(1-sp)) solved for the prevalence prev.
	odds := p * (1 - sp) / (s * (1 - p))
	prev := odds / (1 + odds)
	return prev * s, prev * (1 - s), (1 - prev) * sp, (1 - prev) * (1 - sp)
}

func mccOf(tp, fn, tn, fp float64) float64 {
	return (tp*tn - fp*fn) / math.Sqrt((tp+fp)*(tp+fn)*(tn+fp)*(tn+fn))
}

func auditRow(rows []Row, i int) []finding {
	r := &rows[i]
	who := r.key().describe()
	var out []finding
	add := func(statement, verdict string, hints []string) {
		s := who + ": " + statement + ": " + verdict
		if len(hints) > 0 {
			s += "; " + strings.Join(hints, "; ")
		}
		out = append(out, finding{rows: []rowKey{r.key()}, verdict: verdict, text: s})
	}
	get := func(keys ...string) ([]float64, bool) {
		v := make([]float64, len(keys))
		for j, k := range keys {
			x, ok := r.Metrics[k]
			if !ok || math.IsNaN(x) || math.IsInf(x, 0) {
				return nil, false
			}
			v[j] = x
		}
		return v, true
	}

	for _, k := range SegMetrics {
		v, ok := r.Metrics[k]
		if !ok {
			continue
		}
		lo := 0.0
		if k == MCC {
			lo = -1
		}
		if !(v >= lo-auditHalfUnit && v <= 1+auditHalfUnit) {
			add(fmt.Sprintf("%s %s outside [%g, 1]", k, FormatValue(v, -1), lo), VerdictInconsistent, nil)
		}
	}

	if v, ok := get(Sensitivity, Specificity, BalancedAccuracy); ok {
		s, sp, ba := v[0], v[1], v[2]
		iv, _ := derive(func(x []float64) float64 { return (x[0] + x[1]) / 2 }, s, sp)
		if !iv.contains(ba) {
			want := (s + sp) / 2
			add(fmt.Sprintf("balanced_accuracy %s is not (sensitivity %s + specificity %s)/2 = %s (difference %s > 0.0001 allowed for 4-decimal rounding)",
				f4(ba), f4(s), f4(sp), f5(want), f4(math.Abs(ba-want))),
				VerdictInconsistent, hints(rows, i, BalancedAccuracy, ba, want))
		}
	}

	if v, ok := get(Dice, Jaccard); ok {
		d, j := v[0], v[1]
		iv, okD := derive(func(x []float64) float64 { return x[0] / (2 - x[0]) }, d)
		switch {
		case j > d+2*auditHalfUnit+1e-12:
			add(fmt.Sprintf("jaccard %s exceeds dice %s (per image J = D/(2-D) <= D, so no average has J > D)", f4(j), f4(d)),
				VerdictInconsistent, hints(rows, i, Jaccard, j, d/(2-d)))
		case okD && j < iv.lo-auditHalfUnit-1e-12:
			add(fmt.Sprintf("jaccard %s is below dice/(2-dice) = %s (pooled counts give equality, averages of per-image values give more)",
				f4(j), f5(d/(2-d))), VerdictInconsistent, hints(rows, i, Jaccard, j, d/(2-d)))
		case okD && !iv.contains(j):
			add(fmt.Sprintf("jaccard %s is not dice/(2-dice) = %s (it is above, as averaging per-image values gives)",
				f4(j), f5(d/(2-d))), VerdictNotPooled, nil)
		}
	}

	accBetween := true
	if v, ok := get(Sensitivity, Specificity, Accuracy); ok {
		s, sp, acc := v[0], v[1], v[2]
		lo, hi := math.Min(s, sp), math.Max(s, sp)
		if acc < lo-2*auditHalfUnit-1e-12 || acc > hi+2*auditHalfUnit+1e-12 {
			accBetween = false
			add(fmt.Sprintf("accuracy %s is not between sensitivity %s and specificity %s (pooled accuracy is their prevalence-weighted mean)",
				f4(acc), f4(s), f4(sp)), VerdictNotPooled, nil)
		}
	}

	if v, ok := get(Precision, Sensitivity, Dice); ok {
		p, s, d := v[0], v[1], v[2]
		hm := func(x []float64) float64 { return 2 * x[0] * x[1] / (x[0] + x[1]) }
		if iv, ok := derive(hm, p, s); ok && !iv.contains(d) {
			add(fmt.Sprintf("dice %s is not 2PS/(P+S) = %s for precision %s and sensitivity %s",
				f4(d), f5(hm([]float64{p, s})), f4(p), f4(s)), VerdictNotPooled, nil)
		}
	}

	if v, ok := get(Sensitivity, Specificity, Precision); ok && accBetween {
		s, sp, p := v[0], v[1], v[2]
		accOf := func(x []float64) float64 {
			tp, _, tn, _ := pooledCounts(x[0], x[1], x[2])
			return tp + tn
		}
		mcc := func(x []float64) float64 { return mccOf(pooledCounts(x[0], x[1], x[2])) }
		if a, ok := get(Accuracy); ok {
			if iv, ok := derive(accOf, s, sp, p); ok && !iv.contains(a[0]) {
				add(fmt.Sprintf("accuracy %s is not %s, the accuracy of the confusion matrix with sensitivity %s, specificity %s and precision %s",
					f4(a[0]), rangeText(iv), f4(s), f4(sp), f4(p)), VerdictNotPooled, nil)
			}
		}
		if m, ok := get(MCC); ok {
			if iv, ok := derive(mcc, s, sp, p); ok && !iv.contains(m[0]) {
				add(fmt.Sprintf("mcc %s is not %s, the MCC of the confusion matrix with sensitivity %s, specificity %s and precision %s",
					f4(m[0]), rangeText(iv), f4(s), f4(sp), f4(p)), VerdictNotPooled, hints(rows, i, MCC, m[0], iv.mid()))
			}
		}
	}
	return out
}

// rangeText prints a derived interval as "0.97900" or, when the rounding box makes it wide,
// "0.97880-0.97920".
func rangeText(iv interval) string {
	if f5(iv.lo) == f5(iv.hi) {
		return f5(iv.lo)
	}
	return f5(iv.lo) + "-" + f5(iv.hi)
}

// hints looks for where a bad cell may have come from: another cell of the same row holding the
// same printed value or the expected one, or another row (same source) printing the expected value
// or the same value in this column.
func hints(rows []Row, i int, key string, printed, expected float64) []string {
	r := &rows[i]
	var out []string
	near := func(a, b float64) bool { return math.Abs(a-b) <= auditHalfUnit+1e-12 }
	for _, k := range SegMetrics {
		v, ok := r.Metrics[k]
		if k == key || !ok {
			continue
		}
		if v == printed {
			out = append(out, fmt.Sprintf("the printed %s equals this row's %s", key, k))
		} else if near(v, expected) {
			out = append(out, fmt.Sprintf("the expected %s is this row's printed %s %s", f5(expected), k, f4(v)))
		}
	}
	for j := range rows {
		o := &rows[j]
		v, ok := o.Metrics[key]
		if j == i || !ok || o.Source != r.Source {
			continue
		}
		if v == printed {
			out = append(out, fmt.Sprintf("row %s prints the same %s", o.key().describe(), key))
		} else if near(v, expected) {
			out = append(out, fmt.Sprintf("the expected %s is what row %s prints for %s", f5(expected), o.key().describe(), key))
		}
	}
	return out
}

// auditCopies reports pairs of rows of the same source that print identical values in two or more
// metric columns.
func auditCopies(rows []Row) []finding {
	var out []finding
	for i := range rows {
		for j := i + 1; j < len(rows); j++ {
			a, b := &rows[i], &rows[j]
			if a.Source != b.Source {
				continue
			}
			var same []string
			for _, k := range SegMetrics {
				va, oka := a.Metrics[k]
				vb, okb := b.Metrics[k]
				if oka && okb && va == vb {
					same = append(same, k+" "+f4(va))
				}
			}
			if len(same) >= 2 {
				text := fmt.Sprintf("rows %s and %s print identical values in %d columns (%s), which suggests copied cells: %s",
					a.key().describe(), b.key().describe(), len(same), strings.Join(same, ", "), VerdictSuspicious)
				out = append(out, finding{rows: []rowKey{a.key(), b.key()}, verdict: VerdictSuspicious, text: text})
			}
		}
	}
	return out
}

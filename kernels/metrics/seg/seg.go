// Package seg computes the eight segmentation metrics of the thesis (section 3.3,
// Tables 1-5) from binary confusion counts, in the thesis's column order: Dice,
// Jaccard, Accuracy, Sensitivity, Specificity, Balanced Accuracy, Precision, MCC.
//
// The thesis does not say how images are aggregated, so both aggregations are
// computed: Pooled sums the confusion counts over a split and applies the
// formulas once; PerImageMean applies them per image and averages.
//
// Every 0/0 case is defined, by one rule: a ratio whose denominator counts
// nothing scores 1 when the prediction makes no error of the kind the ratio
// measures, and 0 otherwise. Concretely, with empty truth (TP+FN = 0):
// Sensitivity = 1; with no predicted positives (TP+FP = 0): Precision = 1; with
// empty truth and empty prediction: Dice = Jaccard = 1; with no negatives
// (TN+FP = 0): Specificity = 1. MCC, whose denominator vanishes whenever the
// prediction or the truth is constant, is 1 when the prediction is exactly the
// truth (FP = FN = 0) and 0 otherwise (a constant prediction carries no
// correlation). Balanced Accuracy is the mean of Sensitivity and Specificity
// as defined here. These choices make a correct empty prediction on an image
// without infection a perfect score, which matters for per-image means on
// infection data where many masks are empty.
package seg

import (
	"fmt"
	"math"
)

// Counts is a binary confusion matrix (pixels).
type Counts struct {
	TP, FP, FN, TN int64
}

// Add returns the element-wise sum.
func (c Counts) Add(d Counts) Counts {
	return Counts{c.TP + d.TP, c.FP + d.FP, c.FN + d.FN, c.TN + d.TN}
}

// Total is the number of pixels counted.
func (c Counts) Total() int64 { return c.TP + c.FP + c.FN + c.TN }

// Count compares a prediction with the truth, pixel by pixel: a pixel is
// positive when its value is >= threshold (the thesis thresholds at 0.5 on
// [0, 1] masks).
func Count(pred, truth []float32, threshold float32) (Counts, error) {
	if len(pred) != len(truth) {
		return Counts{}, fmt.Errorf("seg: prediction has %d pixels, truth %d", len(pred), len(truth))
	}
	return count(len(pred), func(i int) (bool, bool) { return pred[i] >= threshold, truth[i] >= threshold }), nil
}

// CountBinary compares two 0/1 (or 0/non-zero) byte masks.
func CountBinary(pred, truth []uint8) (Counts, error) {
	if len(pred) != len(truth) {
		return Counts{}, fmt.Errorf("seg: prediction has %d pixels, truth %d", len(pred), len(truth))
	}
	return count(len(pred), func(i int) (bool, bool) { return pred[i] != 0, truth[i] != 0 }), nil
}

// count tallies n pixels whose (predicted, true) classes are given by at.
func count(n int, at func(i int) (bool, bool)) Counts {
	var c Counts
	for i := 0; i < n; i++ {
		pp, tt := at(i)
		switch {
		case pp && tt:
			c.TP++
		case pp:
			c.FP++
		case tt:
			c.FN++
		default:
			c.TN++
		}
	}
	return c
}

// Metrics are the eight metrics of the thesis's tables, plus the number of
// images N they summarise.
type Metrics struct {
	Dice             float64 `json:"dice"`
	Jaccard          float64 `json:"jaccard"`
	Accuracy         float64 `json:"accuracy"`
	Sensitivity      float64 `json:"sensitivity"`
	Specificity      float64 `json:"specificity"`
	BalancedAccuracy float64 `json:"balanced_accuracy"`
	Precision        float64 `json:"precision"`
	MCC              float64 `json:"mcc"`
	N                int     `json:"n"`
}

// Names are the JSON keys of the eight metrics in the thesis's column order.
var Names = []string{"dice", "jaccard", "accuracy", "sensitivity", "specificity", "balanced_accuracy", "precision", "mcc"}

// Values returns the eight metrics in the thesis's column order (Names).
func (m Metrics) Values() []float64 {
	return []float64{m.Dice, m.Jaccard, m.Accuracy, m.Sensitivity, m.Specificity, m.BalancedAccuracy, m.Precision, m.MCC}
}

// ratio is num/den, with 0/0 scored 1 when the errors the ratio measures
// (errs) are absent and 0 otherwise.
func ratio(num, den, errs int64) float64 {
	if den == 0 {
		if errs == 0 {
			return 1
		}
		return 0
	}
	return float64(num) / float64(den)
}

// FromCounts computes the eight metrics of one confusion matrix (thesis 3.3):
// Dice 2TP/(2TP+FN+FP), Jaccard TP/(TP+FN+FP), Accuracy (TP+TN)/all,
// Sensitivity TP/(TP+FN), Specificity TN/(TN+FP), Balanced Accuracy their
// mean, Precision TP/(TP+FP), MCC (TP TN - FP FN)/sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)),
// with the 0/0 cases of the package comment. N is 1.
func FromCounts(c Counts) Metrics {
	errs := c.FP + c.FN
	m := Metrics{N: 1}
	m.Dice = ratio(2*c.TP, 2*c.TP+c.FP+c.FN, errs)
	m.Jaccard = ratio(c.TP, c.TP+c.FP+c.FN, errs)
	m.Accuracy = ratio(c.TP+c.TN, c.Total(), errs)
	m.Sensitivity = ratio(c.TP, c.TP+c.FN, c.FN)
	m.Specificity = ratio(c.TN, c.TN+c.FP, c.FP)
	m.BalancedAccuracy = (m.Sensitivity + m.Specificity) / 2
	m.Precision = ratio(c.TP, c.TP+c.FP, c.FP)
	tp, fp, fn, tn := float64(c.TP), float64(c.FP), float64(c.FN), float64(c.TN)
	den := (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
	if den == 0 {
		m.MCC = ratio(0, 0, errs)
	} else {
		m.MCC = (tp*tn - fp*fn) / math.Sqrt(den)
	}
	return m
}

// Pooled sums the counts of every image and computes the metrics once; N is
// the number of images.
func Pooled(cs []Counts) Metrics {
	var s Counts
	for _, c := range cs {
		s = s.Add(c)
	}
	m := FromCounts(s)
	m.N = len(cs)
	return m
}

// PerImageMean computes the metrics of every image and averages them; N is
// the number of images. With no images every metric is NaN.
func PerImageMean(cs []Counts) Metrics {
	var sum [8]float64
	for _, c := range cs {
		for j, v := range FromCounts(c).Values() {
			sum[j] += v
		}
	}
	n := float64(len(cs))
	if len(cs) == 0 {
		n = math.NaN()
	}
	return Metrics{Dice: sum[0] / n, Jaccard: sum[1] / n, Accuracy: sum[2] / n, Sensitivity: sum[3] / n,
		Specificity: sum[4] / n, BalancedAccuracy: sum[5] / n, Precision: sum[6] / n, MCC: sum[7] / n, N: len(cs)}
}

// Summary is both aggregations of a split, as stored in evaluation records and
// printed by `dmseg metrics --json`.
type Summary struct {
	Pooled       Metrics `json:"pooled"`
	PerImageMean Metrics `json:"per_image_mean"`
}

// Summarize computes both aggregations.
func Summarize(cs []Counts) Summary {
	return Summary{Pooled: Pooled(cs), PerImageMean: PerImageMean(cs)}
}

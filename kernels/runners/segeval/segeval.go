// Package segeval is the evaluation every segmentation kind shares (thesis
// section 3.3): predict a mask for each image of a split (K samples per image,
// each binarised at the threshold, fused by their mean and thresholded again:
// SegDiff's mean-then-threshold rule on binarised samples, i.e. a majority
// vote with ties counted as foreground; K = 1 is the thesis's protocol), count the confusion matrix of every image against its
// ground truth, and store the eight metrics pooled and as per-image means,
// with the predicted masks and the fused probabilities as lossless PNG strips
// in an evaluation record beside the artifact.
//
// A kind supplies only its Predict function; everything stored is a function
// of the record's PNGs and the data, so tables can be re-derived without the
// weights and Resample can check the PNGs against the weights.
package segeval

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/dmseg/dmseg/kernels/artifacts"
	"github.com/dmseg/dmseg/kernels/data/dataset"
	"github.com/dmseg/dmseg/kernels/diffusion"
	"github.com/dmseg/dmseg/kernels/engine"
	"github.com/dmseg/dmseg/kernels/imageio"
	"github.com/dmseg/dmseg/kernels/metrics/seg"
	"github.com/dmseg/dmseg/kernels/runners"
)

// EvalName is the name of segmentation evaluation records.
const EvalName = "seg"

// Files of a segmentation record: vertical strips of N tiles, in split order.
const (
	MasksFile = "masks.png" // the predicted masks, 0/255
	ProbFile  = "prob.png"  // the fused foreground probability, round(255 p)
)

// Protocol is how a segmentation artifact was evaluated.
type Protocol struct {
	Method    any     `json:"method"` // the kind's sampler settings (e.g. a DDIM spec) or "forward"
	Data      string  `json:"data"`   // e.g. "phantom:lung/val"
	Split     string  `json:"split"`  // the split of the experiment's data ("val")
	N         int     `json:"n"`      // images evaluated (the first N of the split)
	Samples   int     `json:"samples"`
	Seed      int64   `json:"seed"`
	Batch     int     `json:"batch"`
	Threshold float64 `json:"threshold"` // on the fused probability in [0, 1]
	UseEMA    bool    `json:"use_ema"`
	Backend   string  `json:"backend"`
}

// NewProtocol is the protocol of evaluating set with method under the
// options o: the whole split unless o.N, one sample unless o.Samples, the
// given seed unless o.Seed, batches of 25 unless o.Batch, threshold 0.5.
func NewProtocol(method any, set *dataset.Set, o runners.EvalOptions, seed int64, useEMA bool) Protocol {
	p := Protocol{Method: method, Data: set.Source + "/" + set.Split, Split: set.Split, N: o.N, Samples: max(o.Samples, 1),
		Seed: o.Seed, Batch: o.Batch, Threshold: 0.5, UseEMA: useEMA, Backend: o.Info.Name}
	if p.N == 0 {
		p.N = set.N
	}
	if p.Seed == 0 {
		p.Seed = seed
	}
	if p.Batch == 0 {
		p.Batch = 25
	}
	return p
}

// Method is what every sampler's recorded settings share (ddpm-seg's DDIM or
// DDPM spec, the bridge's spec): a reader that needs only these decodes into
// it with DecodeMethod instead of knowing each kind's type.
type Method struct {
	Sampler    string   `json:"sampler"` // "ddim", "ddpm" or "bbdm"
	Steps      int      `json:"steps"`
	SampleStep int      `json:"sample_step"` // the bridge's name for its steps
	Eta        *float64 `json:"eta"`
	Spacing    string   `json:"spacing"`
	ClipX0     *float64 `json:"clip_x0"`
}

// NumSteps is the number of network calls, whichever name the kind records.
func (m Method) NumSteps() int { return max(m.Steps, m.SampleStep) }

// DecodeMethod decodes the protocol's method (as read back from a record,
// a generic JSON value) into v.
func (p Protocol) DecodeMethod(v any) error {
	b, err := json.Marshal(p.Method)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// EnsembleRow is the metrics of the first K samples fused.
type EnsembleRow struct {
	K       int         `json:"k"`
	Summary seg.Summary `json:"summary"`
}

// Results of a segmentation record.
type Results struct {
	seg.Summary
	Counts   []seg.Counts  `json:"counts"`             // per image, in split order
	Ensemble []EnsembleRow `json:"ensemble,omitempty"` // K = 1, 3, 5, 9 up to Samples, when Samples > 1
	// MeanSampleStd is the mean over pixels and images of the per-pixel standard
	// deviation of the K binarised samples (0 for K = 1): how much the samples disagree.
	MeanSampleStd float64 `json:"mean_sample_std"`
}

// Predict returns one sample of the masks of a batch, as values whose sign
// decides the class (masks are in {-1, 1}: a DDPM's sampled x_0, or a
// U-Net's logit). seed is distinct for every (batch, sample).
type Predict func(b *dataset.Batch, seed int64) ([]float32, error)

// SampleSeed is the seed of sample s of batch k: Seed + 2k for the first
// sample (as the chapter-2 quality records), + 2*100003*s for the others.
func SampleSeed(seed int64, k, s int) int64 { return seed + 2*int64(k) + 2*100003*int64(s) }

// Prediction is the fused output of a split.
type Prediction struct {
	N, H, W int
	Prob    []float32 // fused foreground probability in [0, 1], N*H*W
	// Votes[k] counts, per pixel, the foreground votes among the first k+1 samples.
	Votes [][]uint8
}

// Run predicts the first p.N images of set (p.Samples samples each, in
// batches of p.Batch) with predict.
func Run(set *dataset.Set, p Protocol, predict Predict, progress diffusion.Progress) (*Prediction, error) {
	if p.N < 1 || p.N > set.N {
		return nil, fmt.Errorf("segeval: n must be in 1..%d (%s %s), got %d", set.N, set.Source, set.Split, p.N)
	}
	if p.Samples < 1 || p.Samples > 255 || p.Batch < 1 {
		return nil, fmt.Errorf("segeval: samples must be in 1..255 and batch >= 1, got %d, %d", p.Samples, p.Batch)
	}
	hw := set.H * set.W
	pr := &Prediction{N: p.N, H: set.H, W: set.W, Prob: make([]float32, p.N*hw)}
	votes := make([]uint8, p.N*hw)
	for s := 0; s < p.Samples; s++ {
		for k, i := 0, 0; i < p.N; k, i = k+1, i+p.Batch {
			idx := make([]int, 0, p.Batch)
			for j := i; j < min(i+p.Batch, p.N); j++ {
				idx = append(idx, j)
			}
			out, err := predict(set.Gather(idx, true), SampleSeed(p.Seed, k, s))
			if err != nil {
				return nil, err
			}
			if len(out) != len(idx)*hw {
				return nil, fmt.Errorf("segeval: prediction has %d values for %d images of %dx%d", len(out), len(idx), set.H, set.W)
			}
			for j, v := range out {
				if v >= 0 {
					votes[i*hw+j]++
				}
			}
			if progress != nil {
				progress(s*p.N+i+len(idx), p.Samples*p.N)
			}
		}
		pr.Votes = append(pr.Votes, append([]uint8(nil), votes...))
	}
	for j, v := range votes {
		pr.Prob[j] = float32(v) / float32(p.Samples)
	}
	return pr, nil
}

// Masks thresholds the fused probability of the first k samples: foreground
// where votes/k >= threshold.
func (pr *Prediction) Masks(k int, threshold float64) []uint8 {
	v := pr.Votes[k-1]
	out := make([]uint8, len(v))
	for j, c := range v {
		if float64(c) >= threshold*float64(k)-1e-9 {
			out[j] = 1
		}
	}
	return out
}

// Score counts every image of masks (0/1, N*H*W) against the set's truth.
func Score(set *dataset.Set, masks []uint8, n int) ([]seg.Counts, error) {
	hw := set.H * set.W
	cs := make([]seg.Counts, n)
	truth := make([]uint8, hw)
	for i := 0; i < n; i++ {
		for j, v := range set.Masks[i*hw : (i+1)*hw] {
			truth[j] = 0
			if v >= 128 {
				truth[j] = 1
			}
		}
		c, err := seg.CountBinary(masks[i*hw:(i+1)*hw], truth)
		if err != nil {
			return nil, err
		}
		cs[i] = c
	}
	return cs, nil
}

// Evaluate runs the protocol and computes the results and the record's files.
func Evaluate(set *dataset.Set, p Protocol, predict Predict, progress diffusion.Progress) (*Results, map[string][]byte, error) {
	pr, err := Run(set, p, predict, progress)
	if err != nil {
		return nil, nil, err
	}
	masks := pr.Masks(p.Samples, p.Threshold)
	res, err := ResultsFrom(set, p, masks, pr)
	if err != nil {
		return nil, nil, err
	}
	m255 := make([]uint8, len(masks))
	for j, v := range masks {
		m255[j] = 255 * v
	}
	mf, err := imageio.EncodeStrip(m255, pr.N, pr.H, pr.W)
	if err != nil {
		return nil, nil, err
	}
	q := make([]uint8, len(pr.Prob))
	for j, v := range pr.Prob {
		q[j] = uint8(math.Round(float64(v) * 255))
	}
	pf, err := imageio.EncodeStrip(q, pr.N, pr.H, pr.W)
	if err != nil {
		return nil, nil, err
	}
	return res, map[string][]byte{MasksFile: mf, ProbFile: pf}, nil
}

// ResultsFrom scores the final masks (and, with pr, the ensembles of its votes).
func ResultsFrom(set *dataset.Set, p Protocol, masks []uint8, pr *Prediction) (*Results, error) {
	cs, err := Score(set, masks, p.N)
	if err != nil {
		return nil, err
	}
	res := &Results{Summary: seg.Summarize(cs), Counts: cs}
	if pr == nil || p.Samples < 2 {
		return res, nil
	}
	for _, k := range []int{1, 3, 5, 9} {
		if k > p.Samples {
			break
		}
		c, err := Score(set, pr.Masks(k, p.Threshold), p.N)
		if err != nil {
			return nil, err
		}
		res.Ensemble = append(res.Ensemble, EnsembleRow{K: k, Summary: seg.Summarize(c)})
	}
	K := float64(p.Samples)
	sum := 0.0
	for _, v := range pr.Votes[p.Samples-1] {
		q := float64(v) / K
		sum += math.Sqrt(q * (1 - q))
	}
	res.MeanSampleStd = sum / float64(len(pr.Votes[p.Samples-1]))
	return res, nil
}

// StoredMasks reads a record's predicted masks as 0/1 bytes.
func StoredMasks(ev *artifacts.Eval, w int) ([]uint8, error) {
	data, err := ev.ReadFile(MasksFile)
	if err != nil {
		return nil, err
	}
	m, err := imageio.DecodeStrip(data, w)
	if err != nil {
		return nil, fmt.Errorf("evaluation %s: %s: %w", ev.Record.ID, MasksFile, err)
	}
	for j, v := range m {
		switch v {
		case 0:
		case 255:
			m[j] = 1
		default:
			return nil, fmt.Errorf("evaluation %s: %s holds level %d; masks are 0/255", ev.Record.ID, MasksFile, v)
		}
	}
	return m, nil
}

// Open reads a segmentation record's protocol and results.
func Open(ev *artifacts.Eval) (Protocol, Results, error) {
	var p Protocol
	var r Results
	err := ev.Decode(EvalName, &p, &r)
	return p, r, err
}

// Create runs the protocol on set and writes the record beside artifact a;
// a record of the same protocol that exists already is refused first.
func Create(a *artifacts.Artifact, o runners.EvalOptions, set *dataset.Set, p Protocol, predict Predict) (*artifacts.Eval, error) {
	if err := a.CheckNewEval(EvalName, p); err != nil {
		return nil, err // refused before minutes of sampling
	}
	log := o.Log
	if log == nil {
		log = os.Stderr
	}
	var prog diffusion.Progress
	if o.Progress {
		prog = diffusion.ProgressBar(log, fmt.Sprintf("segment %s (%d x %d samples)", p.Data, p.N, p.Samples))
	}
	t0 := time.Now()
	res, files, err := Evaluate(set, p, predict, prog)
	if err != nil {
		return nil, err
	}
	sec := time.Since(t0).Seconds()
	fmt.Fprintf(log, "%s: %d images x %d samples in %.1f s: pooled Dice %.4f, per-image Dice %.4f\n",
		p.Data, p.N, p.Samples, sec, res.Pooled.Dice, res.PerImageMean.Dice)
	git := artifacts.GitState(engine.ProjectRoot())
	return a.CreateEval(EvalName, p, res, files, artifacts.BackendFrom(o.Info), git,
		map[string]float64{"predict_seconds": sec, "seconds_per_image_sample": sec / float64(p.N*p.Samples)})
}

// Resample re-predicts the first k images (first sample, as Evaluate drew
// them in batch 0) and compares the binary masks with the stored ones; for
// K > 1 records the stored masks are fused, so only K = 1 records compare
// exactly. Differences are counted in pixels (a mask flip is 255 levels).
func Resample(ev *artifacts.Eval, set *dataset.Set, k int, predict Predict, tolPixels int, log io.Writer) (runners.ResampleReport, error) {
	var rep runners.ResampleReport
	p, _, err := Open(ev)
	if err != nil {
		return rep, err
	}
	if k < 1 || k > p.Batch || k > p.N {
		return rep, fmt.Errorf("resample: k must be in 1..%d (the record's batch), got %d", min(p.Batch, p.N), k)
	}
	if p.Samples != 1 {
		return rep, fmt.Errorf("resample: evaluation %s fuses %d samples per image; only single-sample records are re-sampled", ev.Record.ID, p.Samples)
	}
	stored, err := StoredMasks(ev, set.W)
	if err != nil {
		return rep, err
	}
	t0 := time.Now()
	q := p
	q.N = min(p.Batch, p.N) // batch 0 exactly as Evaluate drew it
	pr, err := Run(set, q, predict, nil)
	if err != nil {
		return rep, err
	}
	got := pr.Masks(1, p.Threshold)
	hw := set.H * set.W
	for j := 0; j < k*hw; j++ {
		if got[j] != stored[j] {
			rep.Differing++
			rep.MaxAbsLevels = 255
		}
	}
	rep.Compared = k
	rep.Seconds = time.Since(t0).Seconds()
	if rep.Differing > tolPixels {
		return rep, fmt.Errorf("evaluation %s: %d re-predicted mask pixels differ from the stored ones (tolerance %d): "+
			"the stored masks do not come from these weights with this code and backend", ev.Record.ID, rep.Differing, tolPixels)
	}
	return rep, nil
}

package segeval

import (
	"github.com/dmseg/dmseg/kernels/data/clahe"
	"math"
	"testing"

	"github.com/dmseg/dmseg/kernels/data/dataset"
	"github.com/dmseg/dmseg/kernels/imageio"
	"github.com/dmseg/dmseg/kernels/metrics/seg"
)

func phantomSet(t *testing.T) *dataset.Set {
	t.Helper()
	src, err := dataset.NewPhantom(dataset.PhantomConfig{Task: "lung", Seed: 1, Size: 16, NTrain: 4, NVal: 10, NTest: 4})
	if err != nil {
		t.Fatal(err)
	}
	set, err := dataset.Load(src, "val", nil)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// truthPredict returns the ground truth of a batch, flipping the pixels whose
// index is a multiple of flip (0: none) in the samples with an odd seed offset.
func truthPredict(set *dataset.Set, flipEvery int) Predict {
	return func(b *dataset.Batch, seed int64) ([]float32, error) {
		hw := b.H * b.W
		out := make([]float32, b.B*hw)
		for k, i := range b.Index {
			for j := 0; j < hw; j++ {
				v := float32(-1)
				if set.Masks[i*hw+j] >= 128 {
					v = 1
				}
				if flipEvery > 0 && (seed/2)%2 == 1 && j%flipEvery == 0 {
					v = -v
				}
				out[k*hw+j] = v
			}
		}
		return out, nil
	}
}

// A perfect predictor scores 1 everywhere; the stored masks decode back to the
// counts in the results; batching does not change anything.
func TestPerfectPredictorAndStrips(t *testing.T) {
	set := phantomSet(t)
	p := Protocol{Method: "test", N: 10, Samples: 1, Seed: 0, Batch: 3, Threshold: 0.5}
	res, files, err := Evaluate(set, p, truthPredict(set, 0), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range res.Pooled.Values() {
		if v != 1 {
			t.Errorf("pooled %s = %g", seg.Names[i], v)
		}
	}
	masks, err := imageio.DecodeStrip(files[MasksFile], set.W)
	if err != nil {
		t.Fatal(err)
	}
	for j := range masks {
		masks[j] /= 255
	}
	cs, err := Score(set, masks, p.N)
	if err != nil {
		t.Fatal(err)
	}
	for i := range cs {
		if cs[i] != res.Counts[i] {
			t.Fatalf("image %d: stored masks give %+v, results %+v", i, cs[i], res.Counts[i])
		}
	}
}

// Ensembles: of 3 samples the second flips every 7th pixel; the first sample
// alone (k=1) and the majority of 3 are exact, the samples' disagreement shows
// in the mean per-pixel std, and a tie of 2 counts as foreground.
func TestEnsembleVotes(t *testing.T) {
	set := phantomSet(t)
	p := Protocol{Method: "test", N: 10, Samples: 3, Seed: 0, Batch: 10, Threshold: 0.5}
	// Sample s of batch 0 has seed 2*100003*s: s=1 gives (seed/2)%2 == 1 -> flipped.
	res, _, err := Evaluate(set, p, truthPredict(set, 7), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Ensemble) != 2 || res.Ensemble[0].K != 1 || res.Ensemble[1].K != 3 {
		t.Fatalf("ensemble rows %+v", res.Ensemble)
	}
	if res.Ensemble[0].Summary.Pooled.Dice != 1 || res.Ensemble[1].Summary.Pooled.Dice != 1 || res.Pooled.Dice != 1 {
		t.Errorf("majority of 2 exact + 1 flipped should be exact: %+v", res.Ensemble)
	}
	// 1 of 3 samples disagrees on every 7th pixel: per-pixel std sqrt(1/3*2/3) there.
	if res.MeanSampleStd <= 0 || res.MeanSampleStd > 0.1 {
		t.Errorf("mean sample std %g", res.MeanSampleStd)
	}
	// With 2 samples (one flipped) ties count as foreground: flipped background pixels become false positives.
	p.Samples = 2
	res, _, _ = Evaluate(set, p, truthPredict(set, 7), nil)
	if res.Pooled.Precision >= 1 || res.Pooled.Sensitivity != 1 {
		t.Errorf("ties: precision %g sensitivity %g", res.Pooled.Precision, res.Pooled.Sensitivity)
	}
}

func TestBadProtocol(t *testing.T) {
	set := phantomSet(t)
	for _, p := range []Protocol{{N: 0, Samples: 1, Batch: 1}, {N: 11, Samples: 1, Batch: 1}, {N: 2, Samples: 0, Batch: 1}, {N: 2, Samples: 1, Batch: 0}} {
		if _, _, err := Evaluate(set, p, truthPredict(set, 0), nil); err == nil {
			t.Errorf("protocol %+v accepted", p)
		}
	}
}

// Segment on a user image of another size: a predictor that marks bright
// pixels finds the bright left half at the input's size; K samples of which
// some disagree give an uncertainty map that is non-zero only where they do.
func TestSegmentUserImage(t *testing.T) {
	img := imageio.NewGray(100, 80)
	for y := 0; y < 80; y++ {
		for x := 0; x < 50; x++ {
			img.Pix[y*100+x] = 220
		}
	}
	bright := func(b *dataset.Batch, seed int64) ([]float32, error) {
		out := make([]float32, len(b.Images))
		for j, v := range b.Images {
			out[j] = -1
			if v > 0 {
				out[j] = 1
			}
		}
		return out, nil
	}
	s, err := Segment(bright, 16, img, nil, 1, 7, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Mask.W != 100 || s.Mask.H != 80 {
		t.Fatalf("mask %dx%d", s.Mask.W, s.Mask.H)
	}
	for y := 0; y < 80; y++ {
		for x := 0; x < 100; x++ {
			want := uint8(0)
			if x < 50 {
				want = 255
			}
			if s.Mask.Pix[y*100+x] != want {
				t.Fatalf("mask(%d,%d) = %d, want %d", x, y, s.Mask.Pix[y*100+x], want)
			}
		}
	}
	// Odd samples also mark the top rows: p = 1/3 there with 3 samples.
	noisy := func(b *dataset.Batch, seed int64) ([]float32, error) {
		out, _ := bright(b, seed)
		if SampleSeed(7, 0, 1) == seed {
			for j := 0; j < 2*b.W; j++ {
				out[j] = 1
			}
		}
		return out, nil
	}
	s, err = Segment(noisy, 16, img, nil, 3, 7, nil)
	if err != nil {
		t.Fatal(err)
	}
	u := s.Uncertainty()
	if u.Pix[0] != 0 || u.Pix[99] == 0 || u.Pix[79*100+99] != 0 {
		t.Errorf("uncertainty: top-left %d (agree), top-right %d (disagree), bottom-right %d (agree)", u.Pix[0], u.Pix[99], u.Pix[79*100+99])
	}
	if s.Mask.Pix[99] != 0 {
		t.Error("a 1-of-3 minority marked the mask")
	}
	if got := ResizeBilinear([]float32{0.25, 0.25, 0.25, 0.25}, 2, 2, 7, 3); got[10] != 0.25 {
		t.Errorf("bilinear of a constant: %v", got)
	}
}

// With a preprocessing (a BBDM artifact's CLAHE), the model sees the resized
// image equalised exactly as clahe.Apply does it; without, the resized image.
func TestSegmentAppliesCLAHE(t *testing.T) {
	img := imageio.NewGray(40, 40)
	for j := range img.Pix {
		img.Pix[j] = uint8(60 + (j*7)%50)
	}
	var seen []float32
	record := func(b *dataset.Batch, seed int64) ([]float32, error) {
		seen = append([]float32(nil), b.Images...)
		return make([]float32, len(b.Images)), nil
	}
	p := clahe.Params{Clip: 2, TilesX: 2, TilesY: 2}
	small := imageio.ResizeArea(img, 16, 16)
	want, err := clahe.Apply(small, p)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		pre  *clahe.Params
		want *imageio.Gray
	}{{&p, want}, {nil, small}} {
		if _, err := Segment(record, 16, img, c.pre, 1, 1, nil); err != nil {
			t.Fatal(err)
		}
		for j, v := range c.want.Pix {
			if got := float32(v)/127.5 - 1; math.Abs(float64(seen[j]-got)) > 1e-6 {
				t.Fatalf("pre %v: pixel %d seen as %g, want %g", c.pre, j, seen[j], got)
			}
		}
	}
	if want.Pix[0] == small.Pix[0] && want.Pix[5] == small.Pix[5] && want.Pix[100] == small.Pix[100] {
		t.Fatal("test premise: CLAHE should change this image")
	}
}

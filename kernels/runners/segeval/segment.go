package segeval

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"sync"

	"github.com/dmseg/dmseg/kernels/artifacts"
	"github.com/dmseg/dmseg/kernels/data/clahe"
	"github.com/dmseg/dmseg/kernels/data/dataset"
	"github.com/dmseg/dmseg/kernels/diffusion"
	"github.com/dmseg/dmseg/kernels/experiments"
	"github.com/dmseg/dmseg/kernels/imageio"
	"github.com/gomlx/gomlx/backends"
)

// PredictorFactory opens an artifact's weights and returns its prediction
// function, the image side it was trained on, and a function releasing the
// compiled programs.
type PredictorFactory func(a *artifacts.Artifact, backend backends.Backend) (p Predict, size int, release func(), err error)

var (
	mu        sync.Mutex
	factories = map[string]PredictorFactory{}
)

// RegisterPredictor is called by each segmentation runner's init.
func RegisterPredictor(kind string, f PredictorFactory) {
	mu.Lock()
	defer mu.Unlock()
	factories[kind] = f
}

// PredictorFor returns the prediction function of a segmentation artifact.
func PredictorFor(a *artifacts.Artifact, backend backends.Backend) (Predict, int, func(), error) {
	var rc experiments.RunConfig
	if err := a.DecodeConfig(&rc); err != nil {
		return nil, 0, nil, err
	}
	mu.Lock()
	f, ok := factories[rc.Experiment.Kind]
	mu.Unlock()
	if !ok {
		if rc.Experiment.Kind == experiments.KindDDPMSeg || rc.Experiment.Kind == experiments.KindUNetSeg {
			return nil, 0, nil, fmt.Errorf("artifact %s: no predictor registered for kind %q: import its runner package (kernels/runners/ddpmseg or unetseg), or kernels/figures/ch3 which imports both",
				a.Manifest.ID, rc.Experiment.Kind)
		}
		return nil, 0, nil, fmt.Errorf("artifact %s is of kind %q, which does not segment images (segmentation kinds: %s, %s, %s, %s, %s)",
			a.Manifest.ID, rc.Experiment.Kind, experiments.KindDDPMSeg, experiments.KindUNetSeg, experiments.KindBBDMSeg, experiments.KindLDMSeg, experiments.KindLBBDMSeg)
	}
	return f(a, backend)
}

// Segmentation is a user image segmented by a trained model.
type Segmentation struct {
	Size    int       // the model's side
	Prob    []float32 // fused foreground probability at the model's size (Size*Size)
	Mask    *imageio.Gray
	ProbIn  []float32 // the probability resized (bilinear) to the input size
	Samples int
}

// Preprocess is the image preprocessing an artifact's model was trained
// with, after resizing to its size: CLAHE with the parameters its config
// records (chapter 4 on), or nil.
func Preprocess(a *artifacts.Artifact) (*clahe.Params, error) {
	var rc experiments.RunConfig
	if err := a.DecodeConfig(&rc); err != nil {
		return nil, err
	}
	return rc.Experiment.Data.CLAHE, nil
}

// Segment resizes img to the model's size (area averaging), applies the
// model's preprocessing pre (CLAHE as the artifact records it, see
// Preprocess; nil: none), draws k samples (seeds as SampleSeed(seed, 0, s)),
// fuses them (mean of the binarised samples), resizes the probability back to
// the input size (bilinear) and thresholds it at 0.5: a mask at the input's size.
func Segment(predict Predict, size int, img *imageio.Gray, pre *clahe.Params, k int, seed int64, progress diffusion.Progress) (*Segmentation, error) {
	if k < 1 || k > 255 {
		return nil, fmt.Errorf("segment: samples must be in 1..255, got %d", k)
	}
	if img.W < 1 || img.H < 1 {
		return nil, fmt.Errorf("segment: empty image")
	}
	small := imageio.ResizeArea(img, size, size)
	if pre != nil {
		eq, err := clahe.Apply(small, *pre)
		if err != nil {
			return nil, fmt.Errorf("segment: %w", err)
		}
		small = eq
	}
	set := &dataset.Set{Source: "user", Split: "image", N: 1, H: size, W: size, Images: small.Pix, Masks: make([]uint8, size*size)}
	pr, err := Run(set, Protocol{N: 1, Samples: k, Seed: seed, Batch: 1, Threshold: 0.5}, predict, progress)
	if err != nil {
		return nil, err
	}
	s := &Segmentation{Size: size, Prob: pr.Prob, Samples: k}
	s.ProbIn = ResizeBilinear(pr.Prob, size, size, img.W, img.H)
	s.Mask = imageio.NewGray(img.W, img.H)
	for j, v := range s.ProbIn {
		if v >= 0.5 {
			s.Mask.Pix[j] = 255
		}
	}
	return s, nil
}

// ResizeBilinear resizes a w x h float image to dw x dh with bilinear
// interpolation at pixel centres (edges clamped).
func ResizeBilinear(src []float32, w, h, dw, dh int) []float32 {
	out := make([]float32, dw*dh)
	for y := 0; y < dh; y++ {
		fy := (float64(y)+0.5)*float64(h)/float64(dh) - 0.5
		y0 := int(math.Floor(fy))
		ty := float32(fy - float64(y0))
		y1 := min(max(y0+1, 0), h-1)
		y0 = min(max(y0, 0), h-1)
		for x := 0; x < dw; x++ {
			fx := (float64(x)+0.5)*float64(w)/float64(dw) - 0.5
			x0 := int(math.Floor(fx))
			tx := float32(fx - float64(x0))
			x1 := min(max(x0+1, 0), w-1)
			x0 = min(max(x0, 0), w-1)
			a := src[y0*w+x0]*(1-tx) + src[y0*w+x1]*tx
			b := src[y1*w+x0]*(1-tx) + src[y1*w+x1]*tx
			out[y*dw+x] = a*(1-ty) + b*ty
		}
	}
	return out
}

// Overlay is the input image with the mask tinted green.
func (s *Segmentation) Overlay(img *imageio.Gray) *image.RGBA {
	out := image.NewRGBA(image.Rect(0, 0, img.W, img.H))
	for j, v := range img.Pix {
		r, g, b := float64(v), float64(v), float64(v)
		if s.Mask.Pix[j] != 0 {
			r, g, b = 0.6*r, 0.6*g+0.4*255, 0.6*b
		}
		out.Set(j%img.W, j/img.W, color.RGBA{uint8(r), uint8(g), uint8(b), 255})
	}
	return out
}

// Uncertainty is the per-pixel disagreement of the samples at the input size,
// 2 sqrt(p (1-p)) (0 where all samples agree, 1 where they split evenly), as
// an 8-bit gray image.
func (s *Segmentation) Uncertainty() *imageio.Gray {
	out := imageio.NewGray(s.Mask.W, s.Mask.H)
	for j, p := range s.ProbIn {
		q := float64(min(max(p, 0), 1))
		out.Pix[j] = uint8(math.Round(255 * 2 * math.Sqrt(q*(1-q))))
	}
	return out
}

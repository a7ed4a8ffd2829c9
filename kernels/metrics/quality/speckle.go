package quality

import (
	"fmt"
	"math"
)

// HighFrequencyEnergy is the mean over interior pixels of the squared
// 4-neighbour Laplacian (4 x[y,x] minus its four neighbours) of one w x h
// image with values in [-1, 1]. Smooth X-rays have little of it; isolated
// saturated pixels ("salt and pepper" speckle) have a lot: one pixel of
// amplitude a on a flat background adds 20 a^2 / ((w-2)(h-2)).
func HighFrequencyEnergy(img []float32, w, h int) float64 {
	if w < 3 || h < 3 || len(img) != w*h {
		return math.NaN()
	}
	s := 0.0
	for y := 1; y < h-1; y++ {
		for x := 1; x < w-1; x++ {
			i := y*w + x
			l := 4*float64(img[i]) - float64(img[i-w]) - float64(img[i+w]) - float64(img[i-1]) - float64(img[i+1])
			s += l * l
		}
	}
	return s / float64((w-2)*(h-2))
}

// SpeckleRule classifies an image as speckled when its HighFrequencyEnergy
// exceeds the largest one seen in a set of real images (Threshold).
type SpeckleRule struct {
	Threshold float64 `json:"threshold"` // max high-frequency energy of the reference images
	Reference int     `json:"reference"` // number of reference images
	Rule      string  `json:"rule"`      // the rule in words
}

// NewSpeckleRule sets the threshold from n reference images (n*w*h values in [-1, 1]).
func NewSpeckleRule(ref []float32, n, w, h int) (SpeckleRule, error) {
	if n < 1 || len(ref) != n*w*h {
		return SpeckleRule{}, fmt.Errorf("quality: speckle reference: %d values for %d images of %dx%d", len(ref), n, w, h)
	}
	m := 0.0
	for k := 0; k < n; k++ {
		m = math.Max(m, HighFrequencyEnergy(ref[k*w*h:(k+1)*w*h], w, h))
	}
	return SpeckleRule{Threshold: m, Reference: n,
		Rule: "speckled: mean squared 4-neighbour Laplacian above the largest of the held-out real images"}, nil
}

// Speckled reports, per image, whether it is speckled, and the fraction speckled.
func (r SpeckleRule) Speckled(pix []float32, n, w, h int) ([]bool, float64, error) {
	if n < 1 || len(pix) != n*w*h {
		return nil, 0, fmt.Errorf("quality: speckle: %d values for %d images of %dx%d", len(pix), n, w, h)
	}
	out := make([]bool, n)
	c := 0
	for k := range out {
		out[k] = HighFrequencyEnergy(pix[k*w*h:(k+1)*w*h], w, h) > r.Threshold
		if out[k] {
			c++
		}
	}
	return out, float64(c) / float64(n), nil
}

// MeanHighFrequencyEnergy is the mean of HighFrequencyEnergy over n images
// stored contiguously (n*w*h values).
func MeanHighFrequencyEnergy(pix []float32, n, w, h int) float64 {
	s := 0.0
	for i := 0; i < n; i++ {
		s += HighFrequencyEnergy(pix[i*w*h:(i+1)*w*h], w, h)
	}
	return s / float64(n)
}

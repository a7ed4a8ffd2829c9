package quality

import "fmt"

// FeatureGroupNames name the groups of the feature vector in order (see the
// package doc): the 8x8 layout, the intensity histogram, the edge histogram,
// the radial power spectrum and the random-convolution texture statistics.
var FeatureGroupNames = []string{"layout", "intensity", "edges", "spectrum", "texture"}

// GroupDistance is the Fréchet distance restricted to one feature group.
type GroupDistance struct {
	Group string  `json:"group"`
	FD    float64 `json:"fd"`
}

// GroupFD measures n generated images against the reference one feature
// group at a time (the same standardisation as Compare, the Fréchet distance
// of the group's features alone). It says where an FD comes from: a sampler
// that leaves fine-grained noise raises spectrum and texture, a wrong
// brightness raises layout and intensity.
func (r *Reference) GroupFD(pix []float32, n int) ([]GroupDistance, error) {
	f, err := FeatureSet(pix, n, r.W, r.H)
	if err != nil {
		return nil, err
	}
	z := r.std.Apply(f)
	out := make([]GroupDistance, len(featureGroups))
	for i, g := range featureGroups {
		d, err := Frechet(columns(z, g), columns(r.zfeats, g))
		if err != nil {
			return nil, err
		}
		out[i] = GroupDistance{Group: FeatureGroupNames[i], FD: d}
	}
	return out, nil
}

func columns(zs [][]float64, g [2]int) [][]float64 {
	out := make([][]float64, len(zs))
	for i, z := range zs {
		out[i] = z[g[0]:g[1]]
	}
	return out
}

// SpectrumBands is the number of radial bands of the spectrum features; band
// b holds the frequencies with |f| / |f_corner| in [b/16, (b+1)/16), f_corner
// = (Nyquist, Nyquist), so bands 12-15 lie beyond the Nyquist circle: the
// diagonal, pixel-scale detail ("grain").
const SpectrumBands = 16

// MeanSpectrum is the mean over n images (n*w*h values in [-1, 1]) of the
// log10 power per radial band of the mean-removed image (the spectrum
// features). Unit-variance white noise gives 0 in every band but the first,
// which holds the removed mean.
func MeanSpectrum(pix []float32, n, w, h int) ([]float64, error) {
	if n < 1 || len(pix) != n*w*h || w < 2 || h < 2 {
		return nil, fmt.Errorf("quality: spectrum of %d values as %d images of %dx%d", len(pix), n, w, h)
	}
	out := make([]float64, SpectrumBands)
	x := make([]float64, w*h)
	for i := 0; i < n; i++ {
		for j := range x {
			x[j] = float64(pix[i*w*h+j])
		}
		for b, v := range radialSpectrum(x, w, h, SpectrumBands) {
			out[b] += v / float64(n)
		}
	}
	return out, nil
}

// WhiteNoiseHF is the expected HighFrequencyEnergy of unit-variance white
// noise: the squared 4-neighbour Laplacian has variance 4^2 + 4 = 20.
const WhiteNoiseHF = 20

// MarginalHF is the expected HighFrequencyEnergy of x_t = sqrt(abar) x_0 +
// sqrt(1-abar) eps (eps white, independent of x_0) when the clean images have
// mean high-frequency energy dataHF: abar dataHF + (1-abar) WhiteNoiseHF (the
// cross term has mean zero). A sampler's state x_t should match it at every
// t; the ratio of the state's energy to it measures how far a trajectory has
// left the forward process's marginal in the finest detail.
func MarginalHF(abar, dataHF float64) float64 { return abar*dataHF + (1-abar)*WhiteNoiseHF }

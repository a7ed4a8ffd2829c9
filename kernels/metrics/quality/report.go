package quality

import "fmt"

// Report is the comparison of a generated set against a reference set.
type Report struct {
	Name       string     `json:"name"`
	N          int        `json:"n"`
	FD         float64    `json:"fd"`
	KID        float64    `json:"kid"`
	KIDStd     float64    `json:"kid_std"`
	Pixels     PixelStats `json:"pixels"`
	FeatureVer string     `json:"features"`
}

// Reference holds a reference image set's features, standardizer and pixels.
type Reference struct {
	W, H   int
	N      int
	pix    []float32
	std    Standardizer
	zfeats [][]float64
}

// NewReference prepares a reference set (n images of w*h pixels in [-1, 1]).
func NewReference(pix []float32, n, w, h int) (*Reference, error) {
	f, err := FeatureSet(pix, n, w, h)
	if err != nil {
		return nil, err
	}
	if n < 10 {
		return nil, fmt.Errorf("quality: reference set needs at least 10 images, got %d", n)
	}
	s := NewStandardizer(f)
	return &Reference{W: w, H: h, N: n, pix: pix, std: s, zfeats: s.Apply(f)}, nil
}

// KID subset choices used by Compare.
const (
	KIDSubsets = 20
	KIDSize    = 100
)

// Compare measures a set of n generated images against the reference.
func (r *Reference) Compare(name string, pix []float32, n int) (Report, error) {
	f, err := FeatureSet(pix, n, r.W, r.H)
	if err != nil {
		return Report{}, err
	}
	z := r.std.Apply(f)
	fd, err := Frechet(z, r.zfeats)
	if err != nil {
		return Report{}, err
	}
	kid, kidStd, err := KID(z, r.zfeats, KIDSubsets, KIDSize, 1)
	if err != nil {
		return Report{}, err
	}
	ps, err := ComparePixels(pix, n, r.pix, r.N, r.W*r.H)
	if err != nil {
		return Report{}, err
	}
	return Report{Name: name, N: n, FD: fd, KID: kid, KIDStd: kidStd, Pixels: ps, FeatureVer: FeatureVersion}, nil
}

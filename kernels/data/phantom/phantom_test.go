package phantom

import (
	"bytes"
	"runtime"
	"sync"
	"testing"

	"github.com/dmseg/dmseg/kernels/data/otsu"
	"github.com/dmseg/dmseg/kernels/imageio"
)

func generateMany(seed uint64, split Split, n, size int) []*Sample {
	out := make([]*Sample, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i] = Generate(seed, split, i, size)
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

func bools(g *imageio.Gray) []bool {
	b := make([]bool, len(g.Pix))
	for i, v := range g.Pix {
		b[i] = v >= 128
	}
	return b
}

func TestDeterministic(t *testing.T) {
	a := Generate(3, Train, 17, 64)
	b := Generate(3, Train, 17, 64)
	c := Generate(3, Val, 17, 64)
	d := Generate(4, Train, 17, 64)
	if !bytes.Equal(a.Image.Pix, b.Image.Pix) || !bytes.Equal(a.Lung.Pix, b.Lung.Pix) || !bytes.Equal(a.Infection.Pix, b.Infection.Pix) {
		t.Fatal("same (seed, split, index) gave different samples")
	}
	if bytes.Equal(a.Image.Pix, c.Image.Pix) || bytes.Equal(a.Image.Pix, d.Image.Pix) {
		t.Fatal("different split or seed gave the same image")
	}
	if a.Image.W != 64 || a.Lung.H != 64 {
		t.Fatalf("size %dx%d", a.Image.W, a.Image.H)
	}
	// the 64x64 sample is the area/majority downsampling of the 256x256 one
	full := Generate(3, Train, 17, Render)
	if !bytes.Equal(imageio.ResizeArea(full.Image, 64, 64).Pix, a.Image.Pix) ||
		!bytes.Equal(imageio.ResizeMajority(full.Lung, 64, 64).Pix, a.Lung.Pix) {
		t.Fatal("64x64 sample is not the downsampled 256x256 render")
	}
}

// TestMaskStatistics checks anatomy-level facts over a batch: masks are binary, lungs cover a
// plausible fraction, infection lies inside the lungs, about a third of cases are normal,
// and the lungs are darker on average than the soft tissue under the diaphragm (the pixels
// below the lowest lung row, within the lungs' horizontal extent) whenever there is some.
// The whole trunk is not a fair reference: where the window saturates, its thin lateral
// edges can be as dark as the lungs.
func TestMaskStatistics(t *testing.T) {
	ss := generateMany(11, Val, 120, 64)
	normal := 0
	for i, s := range ss {
		lungN, infN := 0, 0
		var lungSum, otherSum, otherN float64
		for p := range s.Lung.Pix {
			l, f := s.Lung.Pix[p], s.Infection.Pix[p]
			if (l != 0 && l != 255) || (f != 0 && f != 255) {
				t.Fatalf("sample %d: non-binary mask value", i)
			}
			if f == 255 && l != 255 {
				t.Fatalf("sample %d: infection pixel %d outside the lung mask", i, p)
			}
			if l == 255 {
				lungN++
				lungSum += float64(s.Image.Pix[p])
			}
			if f == 255 {
				infN++
			}
		}
		w, h := s.Lung.W, s.Lung.H
		xMin, xMax, yMax := w, -1, -1
		for p, l := range s.Lung.Pix {
			if l == 255 {
				xMin, xMax, yMax = min(xMin, p%w), max(xMax, p%w), max(yMax, p/w)
			}
		}
		for y := yMax + 3; y < h; y++ {
			for x := xMin; x <= xMax; x++ {
				if v := s.Image.Pix[y*w+x]; v > 60 {
					otherSum += float64(v)
					otherN++
				}
			}
		}
		frac := float64(lungN) / float64(len(s.Lung.Pix))
		if frac < 0.12 || frac > 0.5 {
			t.Errorf("sample %d: lung fraction %.3f outside [0.12, 0.5]", i, frac)
		}
		if otherN > 0 && lungSum/float64(lungN) >= otherSum/otherN {
			t.Errorf("sample %d: lungs (mean %.1f) not darker than the tissue under the diaphragm (mean %.1f)", i, lungSum/float64(lungN), otherSum/otherN)
		}
		if s.Normal {
			normal++
			if infN != 0 {
				t.Errorf("sample %d: normal case has %d infection pixels", i, infN)
			}
		}
	}
	if normal < 25 || normal > 55 { // 120/3 = 40, binomial sd ~5.2
		t.Errorf("%d normal cases out of 120, want about a third", normal)
	}
}

// TestNotTrivial runs the Otsu + largest-connected-component baseline on 500 validation pairs.
func TestNotTrivial(t *testing.T) {
	n := 500
	if testing.Short() {
		n = 100
	}
	ss := generateMany(1, Val, n, 64)
	var lung1, lung2, infWhole, infOracle float64
	for _, s := range ss {
		w, h := s.Image.W, s.Image.H
		lt, it := bools(s.Lung), bools(s.Infection)
		// lung: dark Otsu class, components not touching the border; 1 (the stated baseline) or 2 largest
		lung1 += otsu.Dice(otsu.Segment(s.Image.Pix, w, h, nil, true, 1, true), lt)
		lung2 += otsu.Dice(otsu.Segment(s.Image.Pix, w, h, nil, true, 2, true), lt)
		// infection: bright Otsu class over the whole image; and inside the TRUE lung mask (oracle)
		infWhole += otsu.Dice(otsu.Segment(s.Image.Pix, w, h, nil, false, 1, true), it)
		infOracle += otsu.Dice(otsu.Segment(s.Image.Pix, w, h, lt, false, 1, false), it)
	}
	N := float64(n)
	lung1, lung2, infWhole, infOracle = lung1/N, lung2/N, infWhole/N, infOracle/N
	t.Logf("Otsu baseline on %d val pairs (64x64, seed 1): lung DICE %.3f (largest component), %.3f (two largest)", n, lung1, lung2)
	t.Logf("Otsu baseline: infection DICE %.3f (whole image, largest bright component), %.3f (inside the true lung mask)", infWhole, infOracle)
	if lung1 >= 0.9 || lung2 >= 0.9 {
		t.Errorf("lung task is trivially separable: Otsu DICE %.3f / %.3f >= 0.9", lung1, lung2)
	}
	if infWhole >= 0.5 || infOracle >= 0.5 {
		t.Errorf("infection task is trivially separable: Otsu DICE %.3f / %.3f >= 0.5", infWhole, infOracle)
	}
	if lung2 < 0.3 {
		t.Errorf("lung Otsu DICE %.3f: the lungs should still be visible as the dark fields", lung2)
	}
}

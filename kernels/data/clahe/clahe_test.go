package clahe

import (
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmseg/dmseg/kernels/data/brainmri"
	"github.com/dmseg/dmseg/kernels/data/phantom"
	"github.com/dmseg/dmseg/kernels/imageio"
)

// One tile, no clipping: plain histogram equalisation, lut[v] = round((v+1)*255/64) for an
// 8x8 image holding 0..63 once each.
func TestPlainEqualisation(t *testing.T) {
	g := imageio.NewGray(8, 8)
	for i := range g.Pix {
		g.Pix[i] = uint8(i)
	}
	out, err := Apply(g, Params{Clip: 0, TilesX: 1, TilesY: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range out.Pix {
		want := uint8(math.RoundToEven(float64(float32(i+1) * (255 / float32(64)))))
		if v != want {
			t.Fatalf("pixel %d: got %d want %d", i, v, want)
		}
	}
}

// Constant 4x4 image, clip 2: limit max(int(2*16/256),1) = 1, so 15 counts are clipped from
// bin 0; 15/256 = 0 per bin and the remainder 15 goes one each to bins 0, 17, ..., 238
// (step 256/15 = 17), so cdf(0) = 2 and every pixel maps to round(2*255/16) = 32.
func TestClipRedistribution(t *testing.T) {
	g := imageio.NewGray(4, 4)
	out, err := Apply(g, Params{Clip: 2, TilesX: 1, TilesY: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range out.Pix {
		if v != 32 {
			t.Fatalf("got %d, want 32", v)
		}
	}
	if _, err := Apply(g, Params{Clip: 2, TilesX: 0, TilesY: 1}); err == nil {
		t.Fatal("want error for a 0-tile grid")
	}
}

func TestReflect101(t *testing.T) {
	// abcd -> ...|abcd|cba
	for i, want := range map[int]int{4: 2, 5: 1, 6: 0, -1: 1, 3: 3} {
		if got := reflect101(i, 4); got != want {
			t.Errorf("reflect101(%d,4) = %d want %d", i, got, want)
		}
	}
}

const cvScript = `
import sys, cv2, numpy as np
for line in sys.stdin:
    src, dst, clip, tx, ty = line.split()
    im = cv2.imread(src, cv2.IMREAD_UNCHANGED)
    out = cv2.createCLAHE(clipLimit=float(clip), tileGridSize=(int(tx), int(ty))).apply(im)
    cv2.imwrite(dst, out)
`

// TestAgainstOpenCV compares with OpenCV (Debian python3-opencv) on real brain MRI slices and
// on phantoms, including sizes not divisible by the grid; skipped when cv2 is not installed.
func TestAgainstOpenCV(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import cv2").Run(); err != nil {
		t.Skip("python3-opencv not installed (apt-get install -y python3-opencv)")
	}
	dir := t.TempDir()
	type tc struct {
		name string
		g    *imageio.Gray
		p    Params
	}
	var cases []tc
	for _, z := range []int{12, 25, 31, 40, 50} {
		im, _, err := brainmri.RawSlice(z)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, tc{fmt.Sprintf("mri-z%d-128", z), im, Default},
			tc{fmt.Sprintf("mri-z%d-64", z), imageio.ResizeArea(im, 64, 64), Default})
	}
	for i := 0; i < 4; i++ {
		s := phantom.Generate(5, phantom.Val, i, 256)
		cases = append(cases, tc{fmt.Sprintf("phantom%d-256", i), s.Image, Default},
			tc{fmt.Sprintf("phantom%d-64-clip40", i), imageio.ResizeArea(s.Image, 64, 64), Params{40, 8, 8}})
	}
	// sizes not divisible by the grid, a non-square grid, and no clipping
	s := phantom.Generate(6, phantom.Test, 0, 256)
	crop := imageio.NewGray(101, 75)
	for y := 0; y < 75; y++ {
		copy(crop.Pix[y*101:(y+1)*101], s.Image.Pix[(y+90)*256+60:])
	}
	mri, _, _ := brainmri.RawSlice(30)
	cases = append(cases, tc{"crop101x75", crop, Default}, tc{"crop101x75-3x5", crop, Params{3, 3, 5}},
		tc{"mri-7x7-clip0", mri, Params{0, 7, 7}}, tc{"mri-64-tiles8x3", imageio.ResizeArea(mri, 64, 64), Params{2, 8, 3}})
	var jobs strings.Builder
	for _, c := range cases {
		src := filepath.Join(dir, c.name+".png")
		if err := imageio.WriteGray(src, c.g); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&jobs, "%s %s %g %d %d\n", src, filepath.Join(dir, c.name+"-cv.png"), c.p.Clip, c.p.TilesX, c.p.TilesY)
	}
	cmd := exec.Command(py, "-c", cvScript)
	cmd.Stdin = strings.NewReader(jobs.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("opencv: %v\n%s", err, out)
	}
	worst := 0.0
	for _, c := range cases {
		ref, err := imageio.ReadGray(filepath.Join(dir, c.name+"-cv.png"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := Apply(c.g, c.p)
		if err != nil {
			t.Fatal(err)
		}
		sum, mx, diffN := 0.0, 0, 0
		for i := range got.Pix {
			d := int(got.Pix[i]) - int(ref.Pix[i])
			if d < 0 {
				d = -d
			}
			sum += float64(d)
			mx = max(mx, d)
			if d != 0 {
				diffN++
			}
		}
		mean := sum / float64(len(got.Pix))
		worst = math.Max(worst, mean)
		t.Logf("%-20s %v: mean |diff| %.4f grey levels, max %d, %d of %d pixels differ", c.name, c.p, mean, mx, diffN, len(got.Pix))
		if mean > 1 {
			t.Errorf("%s: mean abs difference %.3f > 1 grey level", c.name, mean)
		}
	}
	t.Logf("worst mean |diff| vs OpenCV: %.4f grey levels", worst)
}

package covidqu

import (
	"image"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmseg/dmseg/kernels/imageio"
)

func writeMask(t *testing.T, path string, n int) {
	g := imageio.NewGray(n, n)
	for y := n / 4; y < 3*n/4; y++ {
		for x := n / 4; x < 3*n/4; x++ {
			g.Pix[y*n+x] = 255
		}
	}
	if err := imageio.WriteGray(path, g); err != nil {
		t.Fatal(err)
	}
}

// miniTree builds the Kaggle layout for both tasks with 2 images per split/class (names with
// spaces), 16x16 pixels; returns the root.
func miniTree(t *testing.T) string {
	root := t.TempDir()
	if err := WriteMiniTree(root, 2, 16); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestScanAndLoad(t *testing.T) {
	root := miniTree(t)
	for _, task := range []string{"lung", "infection"} {
		idx, err := Scan(root, task, false)
		if err != nil {
			t.Fatal(err)
		}
		c := idx.Count()
		if c.Pairs != 18 || c.PerSplitClass["Val"]["Non-COVID"] != 2 || c.Orphans != 0 {
			t.Fatalf("%s: counts %+v", task, c)
		}
		if len(idx.Select("train")) != 6 {
			t.Fatalf("Select(train) = %d pairs", len(idx.Select("train")))
		}
		p := idx.Pairs[0]
		if !strings.Contains(p.Name, " ") || (task == "infection" && p.LungMask == "") {
			t.Fatalf("pair %+v", p)
		}
		img, mask, err := LoadPair(p, 8)
		if err != nil {
			t.Fatal(err)
		}
		// 16 -> 8: 2x2 block means; left half 10, right half 245; mask square 4..11 -> 2..5
		if img.W != 8 || img.Pix[0] != 10 || img.Pix[7] != 245 || mask.Pix[2*8+2] != 255 || mask.Pix[1*8+1] != 0 || mask.Pix[5*8+5] != 255 || mask.Pix[6*8+6] != 0 {
			t.Fatalf("loaded image %v mask %v", img.Pix, mask.Pix)
		}
	}
	// the task folder itself, and the un-repeated level, are accepted as roots
	tf := TaskFolder["lung"]
	for _, r := range []string{filepath.Join(root, tf), filepath.Join(root, tf, tf)} {
		if _, err := Scan(r, "lung", false); err != nil {
			t.Errorf("root %s: %v", r, err)
		}
	}
}

func TestConversions(t *testing.T) {
	dir := t.TempDir()
	// 16-bit gray: v16 = 257*k maps to k; 65535 -> 255; 128 -> round(0.498) = 0
	g16 := image.NewGray16(image.Rect(0, 0, 3, 1))
	g16.SetGray16(0, 0, color.Gray16{257 * 77})
	g16.SetGray16(1, 0, color.Gray16{65535})
	g16.SetGray16(2, 0, color.Gray16{128})
	// RGB: pure red -> BT.601 0.299*255 = 76.2 -> 76; white -> 255; (10,200,30) -> 2.99+117.4+3.42 = 123.8 -> 124
	rgb := image.NewRGBA(image.Rect(0, 0, 3, 1))
	rgb.Set(0, 0, color.RGBA{255, 0, 0, 255})
	rgb.Set(1, 0, color.RGBA{255, 255, 255, 255})
	rgb.Set(2, 0, color.RGBA{10, 200, 30, 255})
	for name, tc := range map[string]struct {
		img  image.Image
		want []uint8
	}{"g16.png": {g16, []uint8{77, 255, 0}}, "rgb.png": {rgb, []uint8{76, 255, 124}}} {
		p := filepath.Join(dir, name)
		if err := imageio.WritePNG(p, tc.img); err != nil {
			t.Fatal(err)
		}
		g, err := imageio.ReadGray(p)
		if err != nil {
			t.Fatal(err)
		}
		if string(g.Pix) != string(tc.want) {
			t.Errorf("%s: got %v want %v", name, g.Pix, tc.want)
		}
	}
}

func TestBadInputs(t *testing.T) {
	lungDir := func(root, split, class, sub string) string {
		tf := TaskFolder["lung"]
		return filepath.Join(root, tf, tf, split, class, sub)
	}
	cases := []struct {
		name   string
		breakf func(t *testing.T, root string) string // returns the file the error must name
		want   string
		atLoad bool
	}{
		{"missing mask", func(t *testing.T, root string) string {
			os.Remove(filepath.Join(lungDir(root, "Val", "Normal", "lung masks"), "Normal (2).png"))
			return filepath.Join(lungDir(root, "Val", "Normal", "images"), "Normal (2).png")
		}, "has no mask", false},
		{"empty folder", func(t *testing.T, root string) string {
			d := lungDir(root, "Test", "COVID-19", "images")
			os.RemoveAll(d)
			os.MkdirAll(d, 0o755)
			return d
		}, "empty folder", false},
		{"missing folder", func(t *testing.T, root string) string {
			d := lungDir(root, "Test", "Normal", "lung masks")
			os.RemoveAll(d)
			return d
		}, "missing mask folder", false},
		{"size mismatch", func(t *testing.T, root string) string {
			p := filepath.Join(lungDir(root, "Train", "COVID-19", "lung masks"), "COVID-19 (1).png")
			writeMask(t, p, 12)
			return p
		}, "size mismatch", true},
		{"truncated", func(t *testing.T, root string) string {
			p := filepath.Join(lungDir(root, "Train", "Normal", "images"), "Normal (1).png")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)/2], 0o644)
			return p
		}, "truncated PNG", true},
		{"truncated after header", func(t *testing.T, root string) string {
			p := filepath.Join(lungDir(root, "Val", "COVID-19", "lung masks"), "COVID-19 (2).png")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:60], 0o644)
			return p
		}, "truncated PNG", true},
		{"not png", func(t *testing.T, root string) string {
			p := filepath.Join(lungDir(root, "Train", "Non-COVID", "lung masks"), "Non-COVID (2).png")
			os.WriteFile(p, []byte("\xff\xd8\xff\xe0 this is a JPEG really"), 0o644)
			return p
		}, "not a PNG", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := miniTree(t)
			file := c.breakf(t, root)
			idx, err := Scan(root, "lung", false)
			if c.atLoad {
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range idx.Pairs {
					if _, _, e := LoadPair(p, 8); e != nil {
						err = e
						break
					}
				}
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), file) {
				t.Fatalf("want error with %q naming %s, got: %v", c.want, file, err)
			}
			t.Logf("%s: %v", c.name, err)
			if !c.atLoad { // --skip-bad: reported and scanning continues
				idx, err := Scan(root, "lung", true)
				if err != nil || len(idx.Problems) != 1 || !strings.Contains(idx.Problems[0].Error(), c.want) || len(idx.Pairs) < 15 {
					t.Fatalf("skipBad: err %v, problems %v, %d pairs", err, idx.Problems, len(idx.Pairs))
				}
			}
		})
	}
	t.Run("wrong root", func(t *testing.T) {
		root := t.TempDir()
		os.MkdirAll(filepath.Join(root, "Lung Segmentation"), 0o755)
		_, err := Scan(root, "lung", true)
		if err == nil || !strings.Contains(err.Error(), "wrong data root "+root) || !strings.Contains(err.Error(), "Lung Segmentation Data") {
			t.Fatalf("got %v", err)
		}
		if _, err := Scan(filepath.Join(root, "nope"), "lung", false); err == nil || !strings.Contains(err.Error(), "nope") {
			t.Fatalf("got %v", err)
		}
	})
}

// A mask folder that is a symbolic link loop or a dangling link is named as
// such, not reported as a missing mask.
func TestSymlinkedMaskFolders(t *testing.T) {
	root := t.TempDir()
	if err := WriteMiniTree(root, 1, 8); err != nil {
		t.Fatal(err)
	}
	dir, err := FindTaskDir(root, "lung")
	if err != nil {
		t.Fatal(err)
	}
	masks := filepath.Join(dir, "Val", "Normal", MaskFolder["lung"])
	if err := os.RemoveAll(masks); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ target, want string }{
		{masks, "is a symbolic link loop"},
		{filepath.Join(root, "nowhere"), "is a symbolic link to " + filepath.Join(root, "nowhere") + ", which does not exist"},
	} {
		os.Remove(masks)
		if err := os.Symlink(c.target, masks); err != nil {
			t.Skipf("symlinks: %v", err)
		}
		_, err := Scan(root, "lung", false)
		if err == nil || !strings.Contains(err.Error(), masks+" "+c.want) {
			t.Errorf("link to %s: %v, want %q", c.target, err, c.want)
		}
	}
}

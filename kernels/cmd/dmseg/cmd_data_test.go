package main

import (
	"bytes"
	"fmt"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/dmseg/dmseg/kernels/data/clahe"
	"github.com/dmseg/dmseg/kernels/data/covidqu"
	"github.com/dmseg/dmseg/kernels/data/phantom"
	"github.com/dmseg/dmseg/kernels/imageio"
)

// capture runs f with os.Stdout redirected and returns what it printed and its error.
func capture(t *testing.T, f func() error) (string, error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	ferr := f()
	os.Stdout = old
	w.Close()
	return <-done, ferr
}

func readGray(t *testing.T, path string) *imageio.Gray {
	t.Helper()
	g, err := imageio.ReadGray(path)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one mentioning %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not mention %q", err, p)
		}
	}
}

func TestDataPhantomWritesPairs(t *testing.T) {
	dir, dir2 := t.TempDir(), t.TempDir()
	args := func(out string, seed int) []string {
		return []string{"phantom", "--task", "infection", "--n", "6", "--seed", fmt.Sprint(seed), "--size", "32", "--split", "val", "--out", out}
	}
	out, err := capture(t, func() error { return runData(args(dir, 3)) })
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "wrote 6 infection phantom pairs") {
		t.Fatalf("output %q", out)
	}
	for _, sub := range []string{"images", "masks"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) != 6 {
			t.Fatalf("%s: %d files, want 6", sub, len(ents))
		}
	}
	normal := 0
	for i := 0; i < 6; i++ {
		name := fmt.Sprintf("val-%06d.png", i)
		img := readGray(t, filepath.Join(dir, "images", name))
		mask := readGray(t, filepath.Join(dir, "masks", name))
		want := phantom.Generate(3, phantom.Val, i, 32)
		if img.W != 32 || img.H != 32 || mask.W != 32 {
			t.Fatalf("%s: size %dx%d", name, img.W, img.H)
		}
		if !bytes.Equal(img.Pix, want.Image.Pix) || !bytes.Equal(mask.Pix, want.Infection.Pix) {
			t.Fatalf("%s: files differ from phantom.Generate(3, val, %d, 32)", name, i)
		}
		for _, v := range mask.Pix {
			if v != 0 && v != 255 {
				t.Fatalf("%s: mask value %d", name, v)
			}
		}
		if want.Normal {
			normal++
		}
	}
	if normal == 6 {
		t.Fatal("all six infection masks are empty")
	}
	// same seed: byte-identical files; another seed: different images
	if _, err := capture(t, func() error { return runData(args(dir2, 3)) }); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"images", "masks"} {
		for i := 0; i < 6; i++ {
			p := filepath.Join(sub, fmt.Sprintf("val-%06d.png", i))
			a, _ := os.ReadFile(filepath.Join(dir, p))
			b, _ := os.ReadFile(filepath.Join(dir2, p))
			if len(a) == 0 || !bytes.Equal(a, b) {
				t.Fatalf("%s differs between two runs with the same seed", p)
			}
		}
	}
	dir3 := t.TempDir()
	if _, err := capture(t, func() error { return runData(args(dir3, 4)) }); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(filepath.Join(dir, "images", "val-000000.png"))
	b, _ := os.ReadFile(filepath.Join(dir3, "images", "val-000000.png"))
	if bytes.Equal(a, b) {
		t.Fatal("seeds 3 and 4 wrote the same image")
	}
	// the lung task writes the lung mask of the same sample
	dir4 := t.TempDir()
	if _, err := capture(t, func() error {
		return runData([]string{"phantom", "--task", "lung", "--n", "1", "--seed", "3", "--size", "32", "--split", "val", "--out", dir4})
	}); err != nil {
		t.Fatal(err)
	}
	if m := readGray(t, filepath.Join(dir4, "masks", "val-000000.png")); !bytes.Equal(m.Pix, phantom.Generate(3, phantom.Val, 0, 32).Lung.Pix) {
		t.Fatal("lung task did not write the lung mask")
	}
}

func TestDataPhantomBadArguments(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--task", "bone", "--out", dir}, `unknown task "bone"`},
		{[]string{"--split", "holdout", "--out", dir}, `unknown split "holdout"`},
		{[]string{"--n", "3"}, "--out is required"},
		{[]string{"--n", "0", "--out", dir}, "--n must be in 1..1000000, got 0"},
		{[]string{"--size", "0", "--out", dir}, "--size"},
		{[]string{"--n", "many", "--out", dir}, "invalid value"},
	} {
		_, err := capture(t, func() error { return runData(append([]string{"phantom"}, c.args...)) })
		wantErr(t, err, c.want)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("bad arguments still wrote %d entries", len(ents))
	}
	_, err := capture(t, func() error { return runData([]string{"phantoms"}) })
	wantErr(t, err, `unknown subcommand "phantoms"`)
	_, err = capture(t, func() error { return runData(nil) })
	wantErr(t, err, "missing subcommand")
}

// miniCovid writes a lung-task COVID-QU-Ex tree whose split/class cell k (0..8, splits major)
// holds 1 + k%4 pairs of 16x16 images (file names with spaces and brackets); it returns the
// root and the expected counts.
func miniCovid(t *testing.T) (string, map[string][]int) {
	root := t.TempDir()
	tf := covidqu.TaskFolder["lung"]
	want := map[string][]int{}
	k := 0
	for _, s := range covidqu.Splits {
		for _, c := range covidqu.Classes {
			n := 1 + k%4
			k++
			want[s] = append(want[s], n)
			dir := filepath.Join(root, tf, tf, s, c)
			for i := 0; i < n; i++ {
				name := fmt.Sprintf("%s (%d).png", c, i+1)
				g := imageio.NewGray(16, 16)
				m := imageio.NewGray(16, 16)
				for p := range g.Pix {
					g.Pix[p] = uint8(p*7 + i)
					if p%16 >= 4 && p%16 < 12 {
						m.Pix[p] = 255
					}
				}
				if err := imageio.WriteGray(filepath.Join(dir, "images", name), g); err != nil {
					t.Fatal(err)
				}
				if err := imageio.WriteGray(filepath.Join(dir, covidqu.MaskFolder["lung"], name), m); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return root, want
}

func TestDataInspectCounts(t *testing.T) {
	root, want := miniCovid(t)
	out, err := capture(t, func() error { return runData([]string{"inspect", root}) })
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	total := 0
	for _, s := range covidqu.Splits {
		c := want[s]
		row := c[0] + c[1] + c[2]
		total += row
		re := regexp.MustCompile(fmt.Sprintf(`(?m)^\s+%s\s+%d\s+%d\s+%d\s+%d$`, s, c[0], c[1], c[2], row))
		if !re.MatchString(out) {
			t.Fatalf("no row %s %v %d in\n%s", s, c, row, out)
		}
	}
	for _, w := range []string{
		fmt.Sprintf("pairs %d; masks without image 0; bad inputs 0", total),
		"every image has its lung masks and every pair decodes with matching sizes",
		"infection: not present",
	} {
		if !strings.Contains(out, w) {
			t.Fatalf("output lacks %q:\n%s", w, out)
		}
	}
	// an orphan mask is counted and named
	tf := covidqu.TaskFolder["lung"]
	orphan := filepath.Join(root, tf, tf, "Val", "Normal", "lung masks", "Normal (99).png")
	if err := imageio.WriteGray(orphan, imageio.NewGray(16, 16)); err != nil {
		t.Fatal(err)
	}
	out, err = capture(t, func() error { return runData([]string{"inspect", "--task", "lung", root}) })
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "masks without image 1") || !strings.Contains(out, "ORPHAN mask without image: "+orphan) {
		t.Fatalf("orphan not reported:\n%s", out)
	}
}

func TestDataInspectBroken(t *testing.T) {
	root, _ := miniCovid(t)
	tf := covidqu.TaskFolder["lung"]
	dir := filepath.Join(root, tf, tf, "Train", "Normal") // holds 3 pairs
	bad := filepath.Join(dir, "images", "Normal (1).png")
	data, err := os.ReadFile(bad)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, data[:len(data)/2], 0o644); err != nil { // truncated PNG
		t.Fatal(err)
	}
	_, err = capture(t, func() error { return runData([]string{"inspect", root}) })
	wantErr(t, err, bad, "truncated")

	out, err := capture(t, func() error { return runData([]string{"inspect", "--skip-bad", root}) })
	if err != nil {
		t.Fatalf("--skip-bad: %v", err)
	}
	if !strings.Contains(out, "BAD ") || !strings.Contains(out, bad) || !strings.Contains(out, "1 bad inputs skipped") {
		t.Fatalf("--skip-bad output does not name the bad file:\n%s", out)
	}
	// --quick only checks names, so the truncated file passes
	if _, err := capture(t, func() error { return runData([]string{"inspect", "--quick", root}) }); err != nil {
		t.Fatalf("--quick: %v", err)
	}

	// a missing mask names the image; a size mismatch names both files
	if err := os.WriteFile(bad, data, 0o644); err != nil {
		t.Fatal(err)
	}
	img2 := filepath.Join(dir, "images", "Normal (2).png")
	mask2 := filepath.Join(dir, "lung masks", "Normal (2).png")
	if err := os.Remove(mask2); err != nil {
		t.Fatal(err)
	}
	_, err = capture(t, func() error { return runData([]string{"inspect", root}) })
	wantErr(t, err, img2, "has no mask")
	if err := imageio.WriteGray(mask2, imageio.NewGray(8, 8)); err != nil {
		t.Fatal(err)
	}
	_, err = capture(t, func() error { return runData([]string{"inspect", root}) })
	wantErr(t, err, "size mismatch", img2, mask2)

	// wrong root, empty class folder, bad arguments
	_, err = capture(t, func() error { return runData([]string{"inspect", t.TempDir()}) })
	wantErr(t, err, "wrong data root")
	_, err = capture(t, func() error { return runData([]string{"inspect", filepath.Join(root, "nope")}) })
	wantErr(t, err, filepath.Join(root, "nope"))
	empty := filepath.Join(root, tf, tf, "Test", "Normal", "images")
	ents, _ := os.ReadDir(empty)
	for _, e := range ents {
		os.Remove(filepath.Join(empty, e.Name()))
	}
	if err := imageio.WriteGray(mask2, imageio.NewGray(16, 16)); err != nil {
		t.Fatal(err)
	}
	_, err = capture(t, func() error { return runData([]string{"inspect", root}) })
	wantErr(t, err, "empty folder", empty)
	_, err = capture(t, func() error { return runData([]string{"inspect"}) })
	wantErr(t, err, "want exactly one folder")
	_, err = capture(t, func() error { return runData([]string{"inspect", "--task", "heart", root}) })
	wantErr(t, err, `unknown task "heart"`)
}

func TestDataGrid(t *testing.T) {
	out := filepath.Join(t.TempDir(), "sub", "grid.png")
	if _, err := capture(t, func() error {
		return runData([]string{"grid", "--n", "5", "--cols", "2", "--size", "16", "--zoom", "2", "--out", out})
	}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	// 5 cells in 2 columns -> 3 rows; a cell is image + overlay, 16*2 px each, 4 px gaps
	if b := img.Bounds(); b.Dx() != 2*(2*32+4)+4 || b.Dy() != 3*(32+4)+4 {
		t.Fatalf("grid is %dx%d", b.Dx(), b.Dy())
	}
	// the first cell's left half is the zoomed phantom image
	s := phantom.Generate(1, phantom.Val, 0, 16)
	for y := 0; y < 32; y++ {
		for x := 0; x < 32; x++ {
			r, g, b, _ := img.At(4+x, 4+y).RGBA()
			v := uint32(s.Image.Pix[(y/2)*16+x/2])
			if r>>8 != v || g>>8 != v || b>>8 != v {
				t.Fatalf("grid pixel (%d,%d) = %d,%d,%d, want gray %d", x, y, r>>8, g>>8, b>>8, v)
			}
		}
	}
	_, err = capture(t, func() error { return runData([]string{"grid", "--split", "dev", "--out", out}) })
	wantErr(t, err, `unknown split "dev"`)
}

func TestCLAHECommand(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.png")
	// a low-contrast phantom: CLAHE must visibly change it
	src := phantom.Generate(2, phantom.Test, 0, 64).Image
	for i, v := range src.Pix {
		src.Pix[i] = 100 + v/4
	}
	if err := imageio.WriteGray(in, src); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args   []string
		params clahe.Params
	}{
		{nil, clahe.Params{Clip: 2, TilesX: 8, TilesY: 8}},
		{[]string{"--clip", "3.5", "--tiles", "4"}, clahe.Params{Clip: 3.5, TilesX: 4, TilesY: 4}},
		{[]string{"--clip", "0", "--tiles", "3", "--tiles-y", "5"}, clahe.Params{Clip: 0, TilesX: 3, TilesY: 5}},
	} {
		out := filepath.Join(dir, "out.png")
		if err := runCLAHE(append(c.args, in, out)); err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		got := readGray(t, out)
		want, err := clahe.Apply(src, c.params)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Pix, want.Pix) {
			t.Fatalf("%v: output differs from clahe.Apply(%+v)", c.args, c.params)
		}
		if bytes.Equal(got.Pix, src.Pix) {
			t.Fatalf("%v: output equals the input", c.args)
		}
	}
	notPNG := filepath.Join(dir, "notes.png")
	if err := os.WriteFile(notPNG, []byte("this is text"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.png")
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{in}, []string{"want IN.png OUT.png, got 1 arguments"}},
		{[]string{missing, filepath.Join(dir, "o.png")}, []string{missing}},
		{[]string{notPNG, filepath.Join(dir, "o.png")}, []string{notPNG, "not a PNG"}},
		{[]string{"--tiles", "0", in, filepath.Join(dir, "o.png")}, []string{"--tiles must be in 1..256, got 0"}},
		{[]string{"--clip", "x", in, filepath.Join(dir, "o.png")}, []string{"invalid value"}},
	} {
		wantErr(t, runCLAHE(c.args), c.want...)
	}
	if _, err := os.Stat(filepath.Join(dir, "o.png")); !os.IsNotExist(err) {
		t.Fatal("a failed clahe run left an output file")
	}
}
